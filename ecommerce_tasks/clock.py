"""The one source of 'now' (called as clock.utcnow(), so tests can move time for the whole app)."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
