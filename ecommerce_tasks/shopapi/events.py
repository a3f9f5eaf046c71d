"""POST /api/events: one shop event or a JSON array of up to 100, validated one by one with the
same models as the queue path; the valid ones go onto the intake queue (one message each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..settings import get_settings
from ..shop_events import SHOP_EVENT
from ..storage import enqueue
from ..work import PermanentError, parse

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 100


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def accept_events(body: bytes, content_type: str) -> Answer:
    if content_type.split(";")[0].strip().lower() != "application/json":
        return Answer(415, {"error": "send application/json"})
    if len(body) > MAX_BODY_BYTES:
        return Answer(413, {"error": f"at most {MAX_BODY_BYTES} bytes per call"})
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return Answer(400, {"error": f"malformed JSON: {type(exc).__name__}"})
    events = data if isinstance(data, list) else [data]
    if not events:
        return Answer(400, {"error": "no event in the call"})
    if len(events) > MAX_EVENTS:
        return Answer(413, {"error": f"at most {MAX_EVENTS} events per call"})
    return Answer(202, {"results": [_accept_one(event) for event in events]})


def _accept_one(event: Any) -> dict[str, Any]:
    event_id = event.get("event_id") if isinstance(event, dict) else None
    reported = event_id if isinstance(event_id, str) else None
    try:
        parse(SHOP_EVENT, json.dumps(event), "shop event")
    except PermanentError as exc:
        return {"event_id": reported, "status": "rejected", "reason": str(exc)}
    # As received: the intake validates it again and applies it exactly as a queued event.
    enqueue(get_settings().shop_events_queue, event)
    return {"event_id": reported, "status": "accepted", "reason": None}
