"""Shared pieces of the thin trigger adapters (the only code here that knows azure.functions)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from .work import PermanentError, process

log = logging.getLogger("ecommerce_tasks.triggers")


def handle_queue_message(msg: func.QueueMessage, queue: str, handler: Callable[[str], object]) -> None:
    """Decodes the body and runs handler under the shared failure rules (see work.process)."""
    raw = msg.get_body()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        body = None

    def run(text: str) -> object:
        if body is None:
            raise PermanentError("message body is not UTF-8 text")
        return handler(text)

    process(queue, msg.id or "?", body if body is not None else raw.hex()[:2000], msg.dequeue_count or 1, run)


def run_timer(name: str, timer: func.TimerRequest, scan: Callable[[], object]) -> None:
    """Runs a timer's scan and records the run (see runs.py)."""
    from .runs import recorded_run

    if timer.past_due:
        # A late or replayed run is normal on a scaled-out or restarted host: it is safe to run.
        log.info("%s: timer is past due; running now", name)
    recorded_run(name, scan, past_due=bool(timer.past_due))
