"""What the current piece of work is about, for logs, spans and claims: the bottom of the app,
importing nothing of it. Set by the queue worker (message, entity, the run that sent it) and by
a timer run (its run id); read by telemetry, claims and run reports."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
# The queue message being processed. It stays the same across redeliveries of that message (a
# duplicate copy has another), so a worker can tell its own earlier, crashed try from a duplicate.
message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id", default=None)
entity: contextvars.ContextVar[str | None] = contextvars.ContextVar("entity", default=None)


@contextmanager
def working_on(*, message: str | None = None, about: str | None = None, run: str | None = None) -> Iterator[None]:
    tokens = (message_id.set(message), entity.set(about), run_id.set(run))
    try:
        yield
    finally:
        message_id.reset(tokens[0])
        entity.reset(tokens[1])
        run_id.reset(tokens[2])
