"""Due scan: entities read and time per due order as the history grows (1% due).

The history (finished orders) is written straight into the orders table with the async client,
the way the payment path leaves it: an order row and no due-index row. The due orders get their
order rows and the due-index rows that intake writes. One scan (find due + lease) is measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

from azure.data.tables.aio import TableClient as AsyncTableClient

from ecommerce_tasks import duework
from ecommerce_tasks.orders import orders_table
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.storage import REQUEST_COUNTER

from .common import CpuMeter, bench_environment, upsert_by_partition


def _order(order_id: str, status: str) -> dict:
    return {"PartitionKey": order_id, "RowKey": "order", "order_id": order_id, "status": status, "amount": "10.00", "currency": "EUR",
            "placed_at": "2026-01-01T00:00:00+00:00", "customer_email": "x@example.com", "customer_name": "X",
            "lines": json.dumps([{"sku": "S", "quantity": 1}]), "window_ends_at": "2026-01-04T00:00:00+00:00", "outbox": "[]"}


async def _seed(history: int, due: int, now: datetime, concurrency: int = 64) -> None:
    settings = get_settings()
    orders_table(), duework.duework_table()  # exist
    async with AsyncTableClient.from_connection_string(settings.storage_connection, settings.table("orders")) as orders, \
            AsyncTableClient.from_connection_string(settings.storage_connection, settings.table("duework")) as index:
        ids = iter(range(history + due))

        async def writer() -> None:
            for i in ids:
                await orders.upsert_entity(_order(f"o{i:08d}", "paid" if i < history else "awaiting_payment"))

        await asyncio.gather(*(writer() for _ in range(concurrency)))
        due_at = now - timedelta(minutes=1)
        await upsert_by_partition(index, [duework.due_row("payments", f"o{i:08d}", due_at) for i in range(history, history + due)])


def measure(history: int, due_fraction: float = 0.01) -> dict:
    due = max(1, int(history * due_fraction))
    with bench_environment():
        now = datetime.now(timezone.utc)
        asyncio.run(_seed(history, due, now))
        REQUEST_COUNTER.reset()
        with CpuMeter() as cpu:
            started = time.perf_counter()
            rows = duework.find_due("payments", now, 10_000_000)
            leased = duework.lease(rows, now)
            seconds = time.perf_counter() - started
        return {
            "history": history, "due": due, "entities_read": len(rows), "leased": len(leased),
            "entities_read_per_due_order": round(len(rows) / due, 3), "table_requests": REQUEST_COUNTER.total(),
            "ms_per_due_order": round(seconds * 1000 / due, 3),
            # Which side's cost moves with the history: this process's, or Azurite's.
            "python_cpu_ms_per_due_order": round(cpu.python * 1000 / due, 3), "azurite_cpu_ms_per_due_order": round(cpu.azurite * 1000 / due, 3),
        }
