"""Telemetry: one trace per order journey, metrics per family, ids on every log line, masked."""

from __future__ import annotations

import json
import subprocess
import sys

ROOT = __import__("pathlib").Path(__file__).parent.parent


def probe(sandbox_server) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.probes.telemetry_probe", sandbox_server.url],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_orders_journey_is_one_trace_with_metrics_and_searchable_logs(env, sandbox, sandbox_server):
    recorded = probe(sandbox_server)
    spans = {s["span_id"]: s for s in recorded["spans"]}
    by_name: dict[str, list[dict]] = {}
    for span in recorded["spans"]:
        by_name.setdefault(span["name"], []).append(span)

    def root_of(span: dict) -> dict:
        while span["parent"] in spans:
            span = spans[span["parent"]]
        return span

    [check] = [s for s in recorded["spans"] if s["name"] == f"process {env.payment_checks_queue}"]
    assert spans[check["parent"]]["name"] == "timer payments_scan"  # the worker continues the timer's trace
    assert check["attributes"]["autopilot.entity"] == "o-traced"
    confirmation = [s for s in recorded["spans"] if s["name"] == f"process {env.notifications_queue}"]
    assert confirmation and all(root_of(s)["name"].startswith("timer ") for s in confirmation)
    assert any(root_of(s) is root_of(check) for s in confirmation)  # the e-mail belongs to the payment's trace
    [label] = by_name[f"process {env.label_requests_queue}"]
    assert root_of(label)["name"] == "timer shipping_labels_scan"

    stages = {(p["attributes"].get("family"), p["attributes"].get("stage")): p["value"] for p in recorded["metrics"] if p["metric"] == "autopilot.items"}
    assert stages[("payments", "found")] == 1 and stages[("payments", "enqueued")] == 1 and stages[("payments", "processed")] == 1
    assert stages[("shipping", "processed")] >= 1 and stages[("notifications", "processed")] == 2
    latency = [p for p in recorded["metrics"] if p["metric"] == "autopilot.provider.latency"]
    assert any(p["attributes"] == {"provider": "mollie", "status": 200} and p["count"] >= 1 for p in latency)

    worker_logs = [r for r in recorded["logs"] if r["entity_id"] == "o-traced" and r["message_id"]]
    assert worker_logs, "worker log lines carry the order id and the message id"
    timer_runs = {r["run_id"] for r in recorded["logs"] if r["name"] == "ecommerce_tasks.runs"}
    assert worker_logs and all(r["run_id"] in timer_runs for r in worker_logs)  # ... and the id of the run that sent the work
    assert check["attributes"]["autopilot.run_id"] in timer_runs
    text = json.dumps(recorded["logs"])
    assert "jane.doe@example.com" not in text and "Jane Doe" not in text


def test_application_insights_is_configured_from_its_connection_string(tmp_path):
    code = (
        "import logging, os\n"
        "os.environ['APPLICATIONINSIGHTS_CONNECTION_STRING'] = 'InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=http://127.0.0.1:9/'\n"
        "from ecommerce_tasks import telemetry\n"
        "assert telemetry.configure() is True and telemetry.configure() is False\n"
        "def otel(logger): return [h for h in logger.handlers if type(h).__module__.startswith('opentelemetry')]\n"
        "ours, root = otel(logging.getLogger('ecommerce_tasks')), otel(logging.getLogger())\n"
        "print(logging.getLogger('ecommerce_tasks').propagate, len(ours), len(root))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env={k: v for k, v in __import__("os").environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"})
    assert result.returncode == 0, result.stderr[-3000:]
    # Exported from our loggers only, and not passed on to the root (the worker's handler): no duplicates.
    assert result.stdout.split()[-3:] == ["False", "1", "0"]
