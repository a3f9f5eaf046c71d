"""Inventory throughput and cost: events applied per second, storage requests per event.

    .venv/bin/python -m bench.inventory --events 2000 --products 200

Hot: every event for one product. Many: the same number of events spread over many products.
Intake (events received into the inbox) and apply (the scan plus the workers) are measured apart.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.inventory.model import load_product, ledger
from autopilot_local.runner import HostConfig, LocalHost
from ecommerce_tasks.storage import REQUEST_COUNTER

from .common import CpuMeter, bench_environment

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _events(count: int, skus: list[str]) -> list[dict]:
    return [
        {"type": "stock.changed", "event_id": f"ev{i}", "sku": skus[i % len(skus)], "kind": "delivery_received",
         "quantity": 1, "occurred_at": (T0 + timedelta(seconds=i)).isoformat()}
        for i in range(count)
    ]


def measure(events: int, products: int, label: str) -> dict:
    with bench_environment():
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        intake = ShopIntake()
        skus = [f"SKU{i}" for i in range(products)]
        for sku in skus:
            intake.apply({"type": "product.upserted", "event_id": f"p-{sku}", "sku": sku})
        host.run_once({"inventory"})
        stream = _events(events, skus)

        REQUEST_COUNTER.reset()
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(intake.apply, stream))
        intake_seconds = time.perf_counter() - started
        intake_requests = REQUEST_COUNTER.total()

        REQUEST_COUNTER.reset()
        started = time.perf_counter()
        with CpuMeter() as cpu:
            host.run_once({"inventory"})
        apply_seconds = time.perf_counter() - started
        apply_requests = REQUEST_COUNTER.total()

        total = sum(load_product(sku)[0].on_hand for sku in skus)
        assert total == events and len(ledger(skus[0])) == events // products
        return {
            "case": label,
            "events": events,
            "products": products,
            "intake_events_per_s": round(events / intake_seconds),
            "apply_events_per_s": round(events / apply_seconds),
            "intake_requests_per_event": round(intake_requests / events, 2),
            "apply_requests_per_event": round(apply_requests / events, 2),
            "apply_cpu_ms_per_event": round(cpu.python * 1000 / events, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--products", type=int, default=200)
    args = parser.parse_args()
    results = [measure(args.events, 1, "one hot product"), measure(args.events, args.products, f"{args.products} products")]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
