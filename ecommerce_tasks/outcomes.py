"""Outbound events, published from the outbox of the entity whose change caused them.

A state change and the events it causes are written in one conditional write of the entity's row
(its `outbox`). The writer then publishes them and clears them. The outbox carries a lease (owner,
until): a concurrent worker that sees events it did not write leaves them to their owner, while a
crash leaves them to whoever comes after the lease ends. Each event has a stable event_id, so a
consumer can drop the rare repeat after a crash between send and clear.

Events go to the shop's outbound queue, except those with a `route` naming an internal channel
(say, stock releases for the inventory family). What this app's own families do with an event is
not known here: they subscribe (to event types, or to a route), and the composition root
(function_app.py) wires them. Reactions must be idempotent, since an outbox may publish again
after a crash.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from azure.core.exceptions import ResourceModifiedError

from .settings import get_settings
from .storage import queue_client

log = logging.getLogger("ecommerce_tasks.outcomes")

MAX_CONFLICT_RETRIES = 8

Reaction = Callable[[dict[str, Any]], None]
ALL_TYPES = "*"
_by_type: dict[str, list[Reaction]] = {}
_by_route: dict[str, list[Reaction]] = {}


def subscribe(reaction: Reaction, *, types: Iterable[str] = (ALL_TYPES,), route: str | None = None) -> None:
    """`reaction(event)` runs for every published shop event of one of `types` (after it went to
    the shop), or, with `route`, for the internal events of that route (which the shop never sees)."""
    if route is not None:
        _by_route.setdefault(route, []).append(reaction)
        return
    for event_type in types:
        _by_type.setdefault(event_type, []).append(reaction)


def reactions_for(event: dict[str, Any]) -> list[Reaction]:
    route = event.get("route")
    if route is not None:
        return list(_by_route.get(route, []))
    return [*_by_type.get(event["type"], []), *_by_type.get(ALL_TYPES, [])]


class HasOutbox(Protocol):
    outbox: list[dict[str, Any]]
    outbox_owner: str | None
    outbox_until: str | None
    etag: str | None


H = TypeVar("H", bound=HasOutbox)


@dataclass(frozen=True)
class OutboxStore(Generic[H]):
    """How to re-read and conditionally (ETag) rewrite the row that holds an outbox."""

    name: str
    reload: Callable[[], H | None]
    replace: Callable[[H], None]  # raises ResourceModifiedError on a concurrent change


def make_event(event_type: str, subject: dict[str, str], occurred_at: datetime, data: dict[str, Any], discriminator: str = "") -> dict[str, Any]:
    """subject names what the event is about, e.g. {"order_id": "1001"} or {"sku": "MUG"}."""
    key = next(iter(subject.values()))
    suffix = f":{discriminator}" if discriminator else ""
    return {"event_id": f"{key}:{event_type}{suffix}", "type": event_type, **subject, "occurred_at": occurred_at.isoformat(), "data": data}


def add_to_outbox(holder: HasOutbox, events: list[dict[str, Any]], owner: str, now: datetime) -> None:
    known = {e["event_id"] for e in holder.outbox}
    holder.outbox.extend(e for e in events if e["event_id"] not in known)
    holder.outbox_owner = owner
    holder.outbox_until = (now + timedelta(minutes=get_settings().lease_minutes)).isoformat()


def publish_outbox(holder: H, store: OutboxStore[H], owner: str, now: datetime) -> datetime | None:
    """Publishes the pending events if this worker owns them (or their lease ran out).

    Returns None when nothing is left to this caller, or, when another worker's events are still
    pending, the time to come back: if that worker crashed, they must not be stranded.
    """
    if not holder.outbox:
        return None
    until = datetime.fromisoformat(holder.outbox_until) if holder.outbox_until else now
    if holder.outbox_owner != owner:
        if until > now:
            return until  # another worker wrote them and is publishing them right now
        # Take over after a crash: claim first, so two recoverers cannot both publish.
        add_to_outbox(holder, [], owner, now)
        try:
            store.replace(holder)
        except ResourceModifiedError:
            log.info("%s: outbox claimed by another worker", store.name)
            return now + timedelta(minutes=get_settings().lease_minutes)

    sent_ids = set()
    for event in holder.outbox:
        publish(event)
        sent_ids.add(event["event_id"])
        log.info("%s: published %s", store.name, event["type"])
    _clear(holder, store, sent_ids)
    return None


def publish(event: dict[str, Any]) -> None:
    """One event out: to the shop (unless it is internal), then to its subscribers. Used by the
    outbox, and directly by a change that keeps none (whose caller makes a repeat harmless)."""
    route = event.get("route")
    if route is None:
        queue_client(get_settings().shop_outcomes_queue).send_message(json.dumps(event, separators=(",", ":")))
    reactions = reactions_for(event)
    if route is not None and not reactions:
        # An internal event nobody takes would be lost: keep it in the outbox, and say why.
        raise RuntimeError(f"no subscriber for route {route!r} (the composition root wires them)")
    for reaction in reactions:
        reaction(event)


def _clear(holder: H, store: OutboxStore[H], sent_ids: set[str]) -> None:
    for _ in range(MAX_CONFLICT_RETRIES):
        holder.outbox = [e for e in holder.outbox if e["event_id"] not in sent_ids]
        if not holder.outbox:
            holder.outbox_owner = None
            holder.outbox_until = None
        try:
            store.replace(holder)
            return
        except ResourceModifiedError:
            fresh = store.reload()
            if fresh is None:
                return
            holder = fresh
    raise RuntimeError(f"{store.name}: could not clear its outbox after {MAX_CONFLICT_RETRIES} conflicts")
