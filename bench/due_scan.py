"""Due scan cost: entities read and requests per due order, as the history grows.

    .venv/bin/python -m bench.due_scan --old 10000 --due 100

The history is built through the real path (intake, scan, checks: every old order ends paid),
then `due` new orders wait for their first check and one scan is measured.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from ecommerce_tasks import duework
from ecommerce_tasks.runner import HostConfig, LocalHost
from ecommerce_tasks.storage import REQUEST_COUNTER

from .common import bench_environment, seed_orders


def measure(old: int, due: int) -> dict:
    with bench_environment() as sandbox:
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        started = time.perf_counter()
        seed_orders(sandbox, old, "old", "paid")
        host.run_once({"payments"})
        history_seconds = time.perf_counter() - started
        seed_orders(sandbox, due, "due", "open")

        REQUEST_COUNTER.reset()
        started = time.perf_counter()
        rows = duework.find_due("payments", datetime.now(timezone.utc), 1_000_000)
        seconds = time.perf_counter() - started
        requests = REQUEST_COUNTER.total()
        return {
            "old_orders": old,
            "due_orders": due,
            "entities_read": len(rows),
            "entities_read_per_due_order": len(rows) / due,
            "table_requests": requests,
            "scan_ms": round(seconds * 1000, 1),
            "scan_ms_per_due_order": round(seconds * 1000 / due, 3),
            "history_build_seconds": round(history_seconds, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(measure(args.old, args.due), indent=2))


if __name__ == "__main__":
    main()
