"""CPU per payment check against the SDK floor: a minimal loop that makes exactly the same storage
requests with the same SDK clients and nothing else (no parsing, no decision, no telemetry, no
provider call), in the same run, through the same latency proxy. The ratio is our overhead.

Both sides run one message at a time on one thread, with the messages received beforehand, and
CPU is that thread's (`time.thread_time`): what is measured is the function's own CPU, not the
host's polling nor the sandbox provider answering in another thread of this process. The provider call is measured
on its own too (a raw GET with the same httpx client), so the floor with it is reported as well.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from ecommerce_tasks import duework
from ecommerce_tasks.http import http_client
from ecommerce_tasks.orders import orders_table
from ecommerce_tasks.payments.capture import run_payment_work
from ecommerce_tasks.payments.check import PAYMENTS, CheckMessage
from ecommerce_tasks.payments.scan import scan_due_payments
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.shipping.labels import LABELS
from ecommerce_tasks.storage import REQUEST_COUNTER, queue_client, take_all
from ecommerce_tasks.work import parse, process

from .common import bench_environment, seed_orders


class ThreadCpu:
    def __enter__(self) -> "ThreadCpu":
        self._start = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.thread_time() - self._start


WARM_UP = 5


def _received(queue: str) -> list:
    client = queue_client(queue)
    messages = []
    while batch := list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=600)):
        messages += batch
    return messages


def payment_check(orders: int) -> dict:
    with bench_environment() as sandbox:
        settings = get_settings()
        checks = settings.payment_checks_queue
        seed_orders(sandbox, orders + WARM_UP, "c", "paid")
        scan_due_payments()
        messages = _received(checks)
        for message in messages[:WARM_UP]:  # first calls fill caches and create queues, once per process
            process(checks, message.id, message.content, 1, lambda body: run_payment_work(parse(CheckMessage, body)))
        messages = messages[WARM_UP:]
        REQUEST_COUNTER.reset()
        with ThreadCpu() as ours:
            for message in messages:
                process(checks, message.id, message.content, 1, lambda body: run_payment_work(parse(CheckMessage, body)))
        our_requests = REQUEST_COUNTER.total()
        event = take_all(settings.shop_outcomes_queue)[0]  # a real order.paid, for bodies of the real size
        notification = take_all(settings.notifications_queue)[0]

        seed_orders(sandbox, orders + WARM_UP, "f", "paid")
        scan_due_payments()
        due = [json.loads(m.content) for m in _received(checks)]
        for item in due[:WARM_UP]:
            _same_requests(item["order_id"], item["due_key"], event, notification)
        due = due[WARM_UP:]
        REQUEST_COUNTER.reset()
        with ThreadCpu() as floor:
            for item in due:
                _same_requests(item["order_id"], item["due_key"], event, notification)
        floor_requests = REQUEST_COUNTER.total()

        url = f"{settings.mollie_api_base_url.rstrip('/')}/payments/tr_c0000000"
        headers = {"Authorization": f"Bearer {settings.mollie_api_key}"}
        with ThreadCpu() as provider:
            for _ in range(orders):
                http_client().get(url, headers=headers).raise_for_status()

    assert our_requests == floor_requests, (our_requests, floor_requests)  # the same storage requests, or the floor is wrong
    ours_ms, floor_ms, provider_ms = (m.seconds * 1000 / orders for m in (ours, floor, provider))
    return {"orders": orders, "storage_requests_per_check": round(our_requests / orders, 2),
            "payment_check_ms": round(ours_ms, 2), "sdk_floor_ms": round(floor_ms, 2), "provider_get_ms": round(provider_ms, 2),
            "payment_check_vs_floor": round(ours_ms / floor_ms, 2),
            "payment_check_vs_floor_with_provider_call": round(ours_ms / (floor_ms + provider_ms), 2)}


def _same_requests(order_id: str, due_key: str, event: str, notification: str) -> None:
    """What one check of a paid order sends to storage, made directly."""
    settings = get_settings()
    orders = orders_table()
    rows = list(orders.query_entities("PartitionKey eq @pk", parameters={"pk": order_id}))
    order = next(r for r in rows if r["RowKey"] == "order")
    attempt = next(r for r in rows if r["RowKey"] != "order")
    etag = order.metadata["etag"]
    order["status"], order["outbox"] = "paid", f"[{event}]"
    results = orders.submit_transaction([
        ("update", order, {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}),
        ("upsert", attempt, {"mode": UpdateMode.MERGE}),
    ])
    queue_client(settings.shop_outcomes_queue).send_message(event)
    duework.duework_table().upsert_entity(duework.due_row(LABELS, order_id, datetime.now(timezone.utc)))
    queue_client(settings.notifications_queue).send_message(notification)
    order["outbox"] = "[]"
    orders.update_entity(order, mode=UpdateMode.REPLACE, etag=results[0]["etag"], match_condition=MatchConditions.IfNotModified)
    duework.duework_table().delete_entity(duework.partition(PAYMENTS, duework.entity_of(due_key)), due_key)
