"""Run reports: every timer run leaves one row (when, how long, found, enqueued, outcome).

Table `runs`: PartitionKey = timer function, RowKey = inverted start time, so the newest runs of a
timer come first in one small range query (`autopilot status`). One write per run,
not per order: the cost is nothing next to the work it describes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from typing import Any

from opentelemetry.trace import SpanKind

from . import context, telemetry
from .settings import get_settings
from .storage import table_client

log = logging.getLogger("ecommerce_tasks.runs")

MAX_MS = 10**13


def runs_table():
    return table_client(get_settings().table("runs"))


def summarize(report: Any) -> dict[str, Any]:
    """found / enqueued from any scan's report (a dataclass, a flat dict, or one dict per kind)."""
    data = asdict(report) if is_dataclass(report) and not isinstance(report, type) else dict(report or {})
    data.pop("previews", None)
    if "found" in data or "enqueued" in data:
        return {"found": int(data.get("found", 0)), "enqueued": int(data.get("enqueued", 0)), "details": {}}
    kinds = {k: v for k, v in data.items() if isinstance(v, dict)}
    return {
        "found": sum(int(v.get("due", v.get("found")) or 0) for v in kinds.values()),
        "enqueued": sum(int(v.get("work_items", v.get("enqueued")) or 0) for v in kinds.values()),
        "details": kinds,
    }


def recorded_run(timer: str, scan: Callable[[], Any], past_due: bool = False) -> Any:
    """Runs a timer's scan under a run id (logs and messages carry it) and records the outcome."""
    run_id = uuid.uuid4().hex[:16]
    token = context.run_id.set(run_id)
    started = datetime.now(timezone.utc)
    clock_start = time.perf_counter()
    status, error = "ok", None
    summary: dict[str, Any] = {"found": 0, "enqueued": 0, "details": {}}
    try:
        # A SERVER span: the run's one row in Application Insights `requests`, as a queue message's is.
        with telemetry.tracer.start_as_current_span(f"timer {timer}", kind=SpanKind.SERVER, attributes={
                "autopilot.timer": timer, "autopilot.run_id": run_id, "autopilot.past_due": past_due}) as span:
            report = scan()
            summary = summarize(report)
            span.set_attributes({"autopilot.found": summary["found"], "autopilot.enqueued": summary["enqueued"]})
            telemetry.count("found", telemetry.family_of(timer), summary["found"])
            telemetry.count("enqueued", telemetry.family_of(timer), summary["enqueued"])
        return report
    except Exception as exc:
        status, error = "failed", repr(exc)[:1000]
        raise
    finally:
        row = {
            "PartitionKey": timer,
            "RowKey": f"{MAX_MS - int(started.timestamp() * 1000):013d}-{run_id[:6]}",
            "run_id": run_id,
            "started_at": started.isoformat(),
            "seconds": round(time.perf_counter() - clock_start, 3),
            "status": status,
            "error": error,
            "past_due": past_due,
            "found": summary["found"],
            "enqueued": summary["enqueued"],
            "details": json.dumps(summary["details"])[:30000],
        }
        try:
            runs_table().create_entity(row)
        except Exception as exc:  # noqa: BLE001 - a lost report must never fail the run it reports
            log.warning("%s: run report not recorded: %r", timer, exc)
        log.info("%s run %s: %s, found %d, enqueued %d", timer, run_id, status, summary["found"], summary["enqueued"],
                 extra={"autopilot.timer": timer, "autopilot.run_status": status, "autopilot.found": summary["found"],
                        "autopilot.enqueued": summary["enqueued"], "autopilot.seconds": row["seconds"]})
        context.run_id.reset(token)


def last_runs(timer: str, count: int = 5) -> list[dict[str, Any]]:
    rows = runs_table().query_entities("PartitionKey eq @t", parameters={"t": timer}, results_per_page=count)
    found = []
    for row in rows:
        found.append(dict(row))
        if len(found) >= count:
            break
    return found
