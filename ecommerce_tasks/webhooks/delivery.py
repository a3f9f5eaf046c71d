"""Delivers outbound events to the shop as Standard Webhooks (standardwebhooks.com).

Each event is one work item on WEBHOOK_QUEUE and one POST to SHOP_WEBHOOK_URL with `webhook-id`
(the event id: the shop drops repeats), `webhook-timestamp` and `webhook-signature` (`v1,<base64
HMAC-SHA256 of id.timestamp.body>`, one per secret while a secret rolls), signed by the
`standardwebhooks` library. 2xx is delivered. A timeout, a connection error, 429 or 5xx is tried
again on WEBHOOK_RETRY_SECONDS (about a day in all) by sending the item again with an initial
visibility delay, so nothing sleeps. Any other answer (3xx: redirects are not followed, 4xx) and
the end of the schedule record the delivery as failed; `autopilot webhooks replay` sends it again.

The `webhookdeliveries` table has, per event (PartitionKey = event id), one row per attempt
(status code, outcome, duration, next try; never the body) and the event itself (RowKey "event",
kept as the outcomes queue keeps it) for a replay.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient
from pydantic import BaseModel, ConfigDict, Field
from standardwebhooks import Webhook

from .. import clock
from ..http import TRANSIENT_STATUS, http_client
from ..logs import mask_text
from ..settings import get_settings
from ..storage import enqueue, table_client

log = logging.getLogger("ecommerce_tasks.webhooks")

EVENT_ROW = "event"
RETRYABLE = TRANSIENT_STATUS | {408, 425}  # a shop's request timeout and "too early" are worth another try too


class DeliveryMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    attempt: Annotated[int, Field(ge=1, le=100)] = 1


def deliveries_table() -> TableClient:
    return table_client(get_settings().table("webhookdeliveries"))


def on_published(event: dict[str, Any]) -> None:
    """A published shop event: kept for its deliveries, and its first delivery queued."""
    if not get_settings().shop_webhook_url:
        return
    deliveries_table().upsert_entity({"PartitionKey": event["event_id"], "RowKey": EVENT_ROW, "type": event.get("type", ""),
                                      "event": json.dumps(event, separators=(",", ":")), "state": "pending"})
    enqueue(get_settings().webhook_queue, {"event_id": event["event_id"]})


def sign(event_id: str, at: datetime, body: str, secrets: list[str]) -> dict[str, str]:
    """The Standard Webhooks headers, one signature per secret (a rotation sends both)."""
    signatures = " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signatures,
            "content-type": "application/json"}


def deliver(message: DeliveryMessage, now: datetime | None = None) -> str:
    settings = get_settings()
    now = now or clock.utcnow()
    try:
        stored = deliveries_table().get_entity(message.event_id, EVENT_ROW)
    except ResourceNotFoundError:
        return "unknown event (nothing to deliver)"
    if stored.get("state") == "delivered" and message.attempt > 1:
        return "already delivered"
    body = stored["event"]
    started = time.perf_counter()
    status: int | None = None
    error = ""
    try:
        response = http_client().post(settings.shop_webhook_url, content=body.encode(), follow_redirects=False,
                                      headers=sign(message.event_id, now, body, settings.webhook_secrets),
                                      timeout=settings.webhook_timeout_seconds)
        status = response.status_code
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.TransportError as exc:
        error = f"connection error: {type(exc).__name__}"
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    schedule = settings.webhook_retry_schedule
    if status is not None and 200 <= status < 300:
        outcome, next_try = "delivered", None
    elif (status is None or status in RETRYABLE) and message.attempt <= len(schedule):
        outcome, next_try = "retrying", now + timedelta(seconds=schedule[message.attempt - 1])
    else:
        outcome, next_try = "failed", None
    deliveries_table().upsert_entity({
        "PartitionKey": message.event_id, "RowKey": f"attempt|{message.attempt:03d}", "attempt": message.attempt,
        "status_code": status, "error": mask_text(error)[:300], "outcome": outcome, "duration_ms": duration_ms,
        "at": now.isoformat(), "next_try_at": next_try.isoformat() if next_try else None,
    })
    final = {"delivered": "delivered", "failed": "failed"}.get(outcome)
    if final:
        deliveries_table().update_entity({"PartitionKey": message.event_id, "RowKey": EVENT_ROW, "state": final,
                                          "attempts": message.attempt, "last_status": status})
    else:
        enqueue(settings.webhook_queue, {"event_id": message.event_id, "attempt": message.attempt + 1},
                delay_seconds=schedule[message.attempt - 1])
    log.info("webhook %s try %d: %s (%s, %.0f ms)", message.event_id, message.attempt, outcome, status or error, duration_ms)
    return outcome


def deliveries(failed_only: bool = False) -> list[dict[str, Any]]:
    """Every event with its delivery state and attempts (newest attempt last), for operators."""
    events: dict[str, dict[str, Any]] = {}
    for row in deliveries_table().list_entities():
        entry = events.setdefault(row["PartitionKey"], {"event_id": row["PartitionKey"], "attempts": []})
        if row["RowKey"] == EVENT_ROW:
            entry.update(type=row.get("type"), state=row.get("state"))
        else:
            entry["attempts"].append({k: row.get(k) for k in ("attempt", "status_code", "error", "outcome", "duration_ms", "at", "next_try_at")})
    found = [e for e in events.values() if not failed_only or e.get("state") == "failed"]
    return sorted(found, key=lambda e: e["event_id"])


def replay(event_id: str | None = None, failed: bool = False) -> int:
    """Sends events again from their first try: one, or every failed one."""
    chosen = [e["event_id"] for e in deliveries(failed_only=failed) if event_id is None or e["event_id"] == event_id]
    for chosen_id in chosen:
        deliveries_table().update_entity({"PartitionKey": chosen_id, "RowKey": EVENT_ROW, "state": "pending"})
        enqueue(get_settings().webhook_queue, {"event_id": chosen_id, "attempt": 1})
    return len(chosen)
