"""`autopilot status`: the last runs of every timer and the current counts.

Counting states reads the whole orders table (select: keys and state only), so it is an operator
command with a progress bar, not something a function does.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from tqdm import tqdm

from ecommerce_tasks import duework
from ecommerce_tasks.orders import ORDER_ROW, SHIPMENT_ROW, orders_table
from ecommerce_tasks.runs import last_runs
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.storage import queue_client
from ecommerce_tasks.work import failures_table

DUE_KINDS = ("payments", "labels", "tracking", "inventory", "checkouts", "leads")


def order_counts(progress: bool = True) -> dict[str, Counter]:
    rows = orders_table().query_entities(
        "RowKey eq @order or RowKey eq @shipment",
        parameters={"order": ORDER_ROW, "shipment": SHIPMENT_ROW},
        select=["RowKey", "status", "state", "needs_review", "stalled"],
    )
    counts: dict[str, Counter] = {"orders": Counter(), "shipments": Counter()}
    for row in tqdm(rows, desc="reading orders", unit=" rows", file=sys.stderr, disable=not progress, mininterval=0.5):
        if row["RowKey"] == ORDER_ROW:
            counts["orders"][row.get("status") or "?"] += 1
            if row.get("needs_review"):
                counts["orders"]["needs review"] += 1
        else:
            counts["shipments"][row.get("status") or row.get("state") or "?"] += 1
            if row.get("stalled"):
                counts["shipments"]["stalled"] += 1
    return counts


def due_counts(now: datetime | None = None) -> dict[str, dict[str, int]]:
    now = now or datetime.now(timezone.utc)
    boundary = duework.due_key(now, "~")
    result = {}
    for kind in DUE_KINDS:
        keys = [row["RowKey"] for row in duework.rows_of(kind)]
        result[kind] = {"due now": sum(key <= boundary for key in keys), "later": sum(key > boundary for key in keys)}
    return result


def queue_counts(queues: list[str]) -> dict[str, dict[str, int]]:
    result = {}
    for queue in queues:
        result[queue] = {
            "waiting": _approximate(queue),
            "poisoned": _approximate(queue + "-poison"),
            "failure records": sum(1 for _ in failures_table().query_entities("PartitionKey eq @q", parameters={"q": queue}, select=["RowKey"])),
        }
    return result


def _approximate(queue: str) -> int:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return queue_client(queue).get_queue_properties().approximate_message_count or 0
    except ResourceNotFoundError:
        return 0


def status_report(timers: list[str], queues: list[str], progress: bool = True) -> dict[str, Any]:
    return {
        "runs": {timer: last_runs(timer) for timer in timers},
        "states": order_counts(progress),
        "due": due_counts(),
        "queues": queue_counts(queues),
    }


def print_status(report: dict[str, Any]) -> None:
    print("Last runs")
    for timer, runs in report["runs"].items():
        if not runs:
            print(f"  {timer:<24} never ran")
        for run in runs:
            print(f"  {timer:<24} {run['started_at'][:19]}  {run['status']:<6} found {run['found']:>6}  enqueued {run['enqueued']:>6}"
                  f"  {run['seconds']:>7.2f} s  run {run['run_id']}{'  (past due)' if run.get('past_due') else ''}")
    for name, counts in report["states"].items():
        print(f"{name.capitalize()}: " + (", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"))
    print("Due work: " + ", ".join(f"{kind} {c['due now']} due now / {c['later']} later" for kind, c in report["due"].items()))
    print("Queues")
    for queue, c in report["queues"].items():
        print(f"  {queue:<32} {c['waiting']:>6} waiting  {c['poisoned']:>4} poisoned  {c['failure records']:>4} failure records")
    print(f"(settings: {get_settings().table_prefix} tables)")
