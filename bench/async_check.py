"""The payment check as an `async def` function, the way the Python worker would run it (on its
event loop, outside the thread pool), with the async storage clients (aiohttp) and an async httpx
client; measured beside the sync check in the same run, at the same provider latencies.

It shares every decision with the app (`decide`, the provider's parser, the transaction the
decision becomes, the outbox events) and makes the same requests as the sync check for the orders
the bench seeds (Mollie, paid): one query of the order's partition, the provider call, one
transaction, the shop's copy of each event, the label's due row and the e-mail that `order.paid`
causes, the outbox cleared, the due row removed. `measure()` checks both paths end with every
order paid and count the same storage requests per check, so the comparison is of execution
models, not of work done. Only that path is built: it is a measurement, not a second worker.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
from azure.core import MatchConditions
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from autopilot_local.runner import HostConfig
from ecommerce_tasks import clock, duework
from ecommerce_tasks.notifications.worker import notification_for, queue_notification
from ecommerce_tasks.orders import order_record
from ecommerce_tasks.payments.check import PAYMENTS, CheckMessage, decision_operations
from ecommerce_tasks.payments.decide import attempts_to_fetch, decide
from ecommerce_tasks.providers.payments import MolliePayments
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.outcomes import reactions_for
from ecommerce_tasks.shipping.labels import LABELS, on_order_paid
from ecommerce_tasks.storage import REQUEST_COUNTER, queue_client
from ecommerce_tasks.work import parse

# What the queue extension hands one instance at once: host.json batchSize + newBatchThreshold.
HOST = HostConfig.load()
HOST_CONCURRENCY = HOST.batch_size + HOST.new_batch_threshold


class AsyncPaymentCheck:
    def __init__(self) -> None:
        settings = get_settings()
        connection = settings.storage.connection_string
        # A stalled connection fails in 30 s (the SDK's default waits 300) and its message is tried
        # again, as the sync runner's would be.
        table = {"raw_request_hook": REQUEST_COUNTER.hook("table"), "read_timeout": 30}
        queue = {"raw_request_hook": REQUEST_COUNTER.hook("queue"), "read_timeout": 30, "message_encode_policy": TextBase64EncodePolicy(),
                 "message_decode_policy": TextBase64DecodePolicy()}
        self.settings = settings
        self.orders = TableClient.from_connection_string(connection, settings.table("orders"), **table)
        self.duework = TableClient.from_connection_string(connection, settings.table("duework"), **table)
        self.outcomes = QueueClient.from_connection_string(connection, settings.shop_outcomes_queue, **queue)
        self.notifications = QueueClient.from_connection_string(connection, settings.notifications_queue, **queue)
        self.checks = QueueClient.from_connection_string(connection, settings.payment_checks_queue, **queue)
        self.http = httpx.AsyncClient(timeout=settings.http_timeout_seconds, limits=httpx.Limits(max_connections=100))
        self.mollie = MolliePayments(settings.mollie_api_base_url, settings.mollie_api_key)
        self._mollie_headers = {"Authorization": f"Bearer {settings.mollie_api_key}", "Accept": "application/json"}
        self.failed_tries = 0  # tried again, as the runner tries a failed sync check again

    async def close(self) -> None:
        for client in (self.orders, self.duework, self.outcomes, self.notifications, self.checks):
            await client.close()
        await self.http.aclose()

    async def check(self, body: str) -> str:
        message = parse(CheckMessage, body)
        assert message.order_id, "the bench checks orders named by the due scan"
        now = clock.utcnow()
        owner = uuid.uuid4().hex
        partition = self.orders.query_entities("PartitionKey eq @pk", parameters={"pk": message.order_id})
        record = order_record([entity async for entity in partition])
        fetched = {}
        for attempt in attempts_to_fetch(record, None):
            response = await self.http.get(f"{self.settings.mollie_api_base_url.rstrip('/')}/payments/{attempt.payment_id}",
                                           headers=self._mollie_headers)
            response.raise_for_status()
            fetched[attempt.payment_id] = self.mollie.parse(response.json())
        decision = decide(record, fetched, now, message.checks, self.settings)
        operations = decision_operations(decision, owner, now)
        if operations:
            results = await self.orders.submit_transaction(operations)
            if operations[0][0] == "update":
                decision.order.etag = results[0].get("etag")
        order = decision.order
        for event in order.outbox:
            if event.get("route") is None:  # internal events do not go to the shop
                await self.outcomes.send_message(json.dumps(event, separators=(",", ":")))
            reactions = reactions_for(event)  # the wiring of function_app.py, done here with async clients
            if on_order_paid in reactions:
                paid_at = datetime.fromisoformat(event["occurred_at"])
                await self.duework.upsert_entity(duework.due_row(LABELS, order.order_id, paid_at))
            if queue_notification in reactions and (item := notification_for(event)) is not None:
                await self.notifications.send_message(json.dumps(item, separators=(",", ":")))
        if order.outbox:
            order.outbox, order.outbox_owner, order.outbox_until = [], None, None
            await self.orders.update_entity(order.to_entity(), mode=UpdateMode.REPLACE, etag=order.etag,
                                            match_condition=MatchConditions.IfNotModified)
        if decision.next_check_at is None and message.due_key:
            await self.duework.delete_entity(duework.partition(PAYMENTS, duework.entity_of(message.due_key)), message.due_key)
        elif decision.next_check_at is not None:
            row = duework.due_row(PAYMENTS, order.order_id, decision.next_check_at, message.checks + 1)
            await self.duework.upsert_entity(row)
        return decision.outcome


async def drain(checker: AsyncPaymentCheck, concurrency: int) -> int:
    """Receives and completes every payment check as the host feeds a function, sync or async:
    a batch of batchSize, the next one as soon as no more than newBatchThreshold are running;
    and at most `concurrency` checks at once (the pool size the sync check is compared at)."""
    done = 0
    failures: list[BaseException] = []
    running: set[asyncio.Task] = set()
    limit = asyncio.Semaphore(concurrency)

    async def one(message: Any) -> None:
        nonlocal done
        async with limit:
            try:
                await checker.check(message.content)
                await checker.checks.delete_message(message)
                done += 1
            except Exception as exc:  # noqa: BLE001 - as the host: the message is tried again, up to maxDequeueCount
                checker.failed_tries += 1
                if message.dequeue_count >= HOST.max_dequeue_count:
                    failures.append(exc)
                else:
                    await checker.checks.update_message(message, visibility_timeout=0)

    while True:
        if failures:
            raise failures[0]
        batch = [m async for m in checker.checks.receive_messages(messages_per_page=HOST.batch_size, max_messages=HOST.batch_size,
                                                                 visibility_timeout=300)]
        if not batch:
            if not running:
                return done
            await asyncio.wait(running)  # as the runner: ask again once what is running has finished
            continue
        for message in batch:
            task = asyncio.create_task(one(message))
            running.add(task)
            task.add_done_callback(running.discard)
        while len(running) > HOST.new_batch_threshold:
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)


def run(concurrency: int) -> tuple[int, float, int]:
    """Checks every queued payment check with the async function; (checked, seconds, tries that
    failed and were made again)."""
    async def main() -> tuple[int, float, int]:
        settings = get_settings()
        for name in (settings.shop_outcomes_queue, settings.notifications_queue):
            queue_client(name)  # created once, as the sync path does on first use
        checker = AsyncPaymentCheck()
        try:
            started = time.perf_counter()
            count = await drain(checker, concurrency)
            return count, time.perf_counter() - started, checker.failed_tries
        finally:
            await checker.close()

    return asyncio.run(main())
