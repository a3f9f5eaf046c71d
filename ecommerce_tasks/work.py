"""How every queue worker treats a message: parse it, run it, and sort failures.

- PermanentError (bad input, unknown ids, a provider's definite refusal): logged with the message
  id, recorded, and the message is completed. Retrying cannot help, so no retry storm.
- Any other exception: logged and recorded, then re-raised so the host makes the message visible
  again; after maxDequeueCount tries the host moves it to `<queue>-poison`.

Failure records are keyed by queue and a hash of the body, so an operator listing a poison message
(which gets a new id there) finds why it failed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, TypeAdapter, ValidationError

from . import context, telemetry

from .logs import mask_text
from .settings import get_settings
from .storage import table_client

log = logging.getLogger("ecommerce_tasks.work")

M = TypeVar("M", bound=BaseModel)

# How the last message processed on this thread ended: "processed" or "rejected" (completed
# either way, so a host cannot tell them apart), or "failed". The local runner reports it.
_outcome = threading.local()


def last_outcome(reset: bool = False) -> str | None:
    value = getattr(_outcome, "value", None)
    if reset:
        _outcome.value = None
    return value


class PermanentError(Exception):
    """Retrying cannot help: bad input, an unknown id, or a provider's definite refusal."""


class RetryLater(PermanentError):
    """Names something not (yet) known that another message may be creating right now (events
    of one shop overtake each other on a queue). Retried a few times, spaced by the host's
    visibility timeout, then rejected like any PermanentError."""


def retry_later_tries() -> int:
    from .settings import get_settings

    return get_settings().unknown_entity_tries


def body_key(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:40]


def parse(model: type[M] | TypeAdapter, body: str, what: str | None = None) -> M:
    """Validates a JSON body; a mismatch is a PermanentError naming the fields (never their values)."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(body)
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in exc.errors()[:5])
        raise PermanentError(f"invalid {what or getattr(model, '__name__', 'message')}: {problems}") from None
    except (RecursionError, ValueError) as exc:
        raise PermanentError(f"invalid {what or getattr(model, '__name__', 'message')}: malformed JSON ({type(exc).__name__})") from None


def failures_table():
    return table_client(get_settings().table("failures"))


def record_failure(queue: str, message_id: str, body: str, kind: str, reason: str, dequeue_count: int) -> None:
    failures_table().upsert_entity(
        {
            "PartitionKey": queue,
            "RowKey": body_key(body),
            "message_id": message_id,
            "kind": kind,  # "rejected" (permanent, completed) or "failed" (retried; may reach poison)
            "reason": mask_text(reason)[:4000],
            "body": mask_text(body)[:30000],
            "dequeue_count": dequeue_count,
            "at": datetime.now(timezone.utc).isoformat(),
        }
    )


def failure_for(queue: str, body: str) -> dict | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return dict(failures_table().get_entity(queue, body_key(body)))
    except ResourceNotFoundError:
        return None


def process(queue: str, message_id: str, body: str, dequeue_count: int, handler: Callable[[str], object]) -> None:
    """Runs handler(body) with the failure rules above, in a span that continues the sender's trace.

    The span is the invocation's one row in Application Insights `requests`: `autopilot.queue`
    (the exporter drops `messaging.*` attributes), `autopilot.outcome`, and failed for a rejection
    too, which the host counts as a success because the message completes."""
    received = telemetry.split_message(body)
    family = telemetry.family_of(queue)
    attributes: dict[str, str | int] = {"messaging.destination.name": queue, "messaging.message.id": message_id,
                                        "autopilot.queue": queue, "autopilot.family": family,
                                        "autopilot.dequeue_count": dequeue_count, "autopilot.entity": received.entity or "",
                                        "autopilot.run_id": received.run_id or ""}
    with context.working_on(message=message_id, about=received.entity, run=received.run_id), \
            telemetry.tracer.start_as_current_span(f"process {queue}", context=received.sender, kind=SpanKind.CONSUMER,
                                                   attributes=attributes) as span:
        try:
            _run(queue, message_id, body, received.body, dequeue_count, handler, family)
        finally:
            outcome = last_outcome() or "failed"
            span.set_attribute("autopilot.outcome", outcome)
            if outcome == "rejected":
                span.set_status(Status(StatusCode.ERROR, "rejected"))


def _run(queue: str, message_id: str, body: str, text: str, dequeue_count: int, handler: Callable[[str], object], family: str) -> None:
    _outcome.value = "failed"
    where = {"autopilot.queue": queue, "autopilot.dequeue_count": dequeue_count}
    try:
        handler(text)
        telemetry.count("processed", family)
        _outcome.value = "processed"
    except RetryLater as exc:
        if dequeue_count < retry_later_tries():
            _outcome.value = "waiting"
            log.info("message %s on %s waits (try %d): %s", message_id, queue, dequeue_count, mask_text(str(exc)),
                     extra={**where, "autopilot.outcome": "waiting"})
            raise
        log.error("message %s on %s rejected after %d tries: %s", message_id, queue, dequeue_count, mask_text(str(exc)),
                  extra={**where, "autopilot.outcome": "rejected", "autopilot.error_type": type(exc).__name__})
        record_failure(queue, message_id, body, "rejected", str(exc), dequeue_count)
        telemetry.count("rejected", family)
        _outcome.value = "rejected"
    except PermanentError as exc:
        log.error("message %s on %s rejected: %s", message_id, queue, mask_text(str(exc)),
                  extra={**where, "autopilot.outcome": "rejected", "autopilot.error_type": type(exc).__name__})
        record_failure(queue, message_id, body, "rejected", str(exc), dequeue_count)
        telemetry.count("rejected", family)
        _outcome.value = "rejected"
    except Exception as exc:
        log.warning(
            "message %s on %s failed (try %d), will be retried: %s",
            message_id, queue, dequeue_count, mask_text(repr(exc)),
            extra={**where, "autopilot.outcome": "failed", "autopilot.error_type": type(exc).__name__},
        )
        record_failure(queue, message_id, body, "failed", repr(exc), dequeue_count)
        telemetry.count("failed", family)
        if dequeue_count >= telemetry.MAX_DEQUEUE_COUNT:
            telemetry.count("poisoned", family)  # the host moves it to <queue>-poison now
        raise
