"""Clean-up throughput and cost: carts cleaned per second, storage requests per cart.

    .venv/bin/python -m bench.cleanup --carts 100000

Seeds abandoned carts (a cart row and a line each, no contact: deleted) with the async table
client, then runs the app's clean-up through the local runner in bounded runs until none is left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

from azure.data.tables.aio import TableClient as AsyncTableClient

from ecommerce_tasks import duework
from ecommerce_tasks.cleanup.intake import CHECKOUTS, first_look
from ecommerce_tasks.settings import get_settings

from .common import submit_with_retries, upsert_by_partition


def seed_carts(count: int, hours_ago: float = 30, concurrency: int = 64) -> None:
    """`count` idle carts with one line and no contact details, and their due rows."""
    asyncio.run(_seed(count, hours_ago, concurrency))


async def _seed(count: int, hours_ago: float, concurrency: int) -> None:
    settings = get_settings()
    occurred = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    due_at = first_look(occurred)
    duework.duework_table()  # exists
    from ecommerce_tasks.cleanup.model import checkouts_table

    checkouts_table()  # exists
    async with AsyncTableClient.from_connection_string(settings.storage_connection, settings.table("checkouts")) as carts, \
            AsyncTableClient.from_connection_string(settings.storage_connection, settings.table("duework")) as index:
        pending = iter(range(count))

        async def cart_writer() -> None:
            for i in pending:
                cid = f"cart-{i:07d}"
                cart = {"type": "checkout.updated", "event_id": f"{cid}-c", "checkout_id": cid, "step": "cart", "occurred_at": occurred.isoformat(), "currency": "EUR"}
                item = {**cart, "event_id": f"{cid}-l", "step": "line", "line": {"sku": "MUG", "quantity": 1, "unit_price": "9.99", "name": ""}}
                await submit_with_retries(carts, [
                    ("upsert", {"PartitionKey": cid, "RowKey": "cart", "step": "cart", "occurred_at": occurred.isoformat(), "event": json.dumps(cart)}),
                    ("upsert", {"PartitionKey": cid, "RowKey": "line|MUG", "step": "line", "occurred_at": occurred.isoformat(), "event": json.dumps(item)}),
                ])

        await asyncio.gather(*(cart_writer() for _ in range(concurrency)))
        await upsert_by_partition(index, [duework.due_row(CHECKOUTS, f"cart-{i:07d}", due_at) for i in range(count)])


def main() -> None:
    from autopilot_local.runner import HostConfig, LocalHost
    from ecommerce_tasks.storage import REQUEST_COUNTER

    from .common import bench_environment

    parser = argparse.ArgumentParser()
    parser.add_argument("--carts", type=int, default=100_000)
    args = parser.parse_args()
    with bench_environment():
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        started = time.perf_counter()
        seed_carts(args.carts)
        seeded = time.perf_counter() - started
        REQUEST_COUNTER.reset()
        started = time.perf_counter()
        runs = []
        while True:
            run_started = time.perf_counter()
            report = host.run_once({"cleanup"})
            stats = report.queues.get("cleanup_work")
            if not stats or stats.processed == 0:
                break
            runs.append(round(time.perf_counter() - run_started, 1))
        seconds = time.perf_counter() - started
        print(json.dumps({
            "carts": args.carts, "seed_seconds": round(seeded, 1), "runs": len(runs), "longest_run_seconds": max(runs),
            "carts_per_second": round(args.carts / seconds), "storage_requests_per_cart": round(REQUEST_COUNTER.total() / args.carts, 2),
        }, indent=2))


if __name__ == "__main__":
    main()
