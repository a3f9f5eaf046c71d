"""Telemetry: one trace per order journey, metrics per family, ids on every log line, masked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import pytest

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



TABLES = {"traces": "MessageData", "requests": "RequestData", "dependencies": "RemoteDependencyData",
          "customMetrics": "MetricData", "exceptions": "ExceptionData"}


@pytest.fixture(scope="module")
def exported(azurite, sandbox_server, tmp_path_factory):
    """What the exporter sent to a local ingestion endpoint while one order was paid, one message
    rejected, and two provider calls got no answer (tests/probes/appinsights_probe.py). Run once
    for the module: the queries below are all checked against the same rows."""
    from autopilot_local.devtools import local_environment
    from autopilot_sandbox import SandboxClient
    from ecommerce_tasks.settings import reload_settings

    SandboxClient(sandbox_server.url).reset()
    tag = "t" + uuid.uuid4().hex[:10]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in local_environment(tag, sandbox_server.url, email_dir=str(tmp_path_factory.mktemp("emails"))).items():
            patch.setenv(key, value)
        patch.setenv("HTTP_TIMEOUT_SECONDS", "30")  # no sandbox call may time out: the two that do are the probe's own
        env = reload_settings()
        result = subprocess.run([sys.executable, "-m", "tests.probes.appinsights_probe", sandbox_server.url],
                                capture_output=True, text=True, timeout=600, cwd=ROOT)
    reload_settings()
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads(result.stdout.strip().splitlines()[-1])
    rows: dict[str, list[dict]] = {table: [] for table in TABLES}
    for envelope in recorded["envelopes"]:
        table = next(t for t, kind in TABLES.items() if kind == envelope["data"]["baseType"]) \
            if envelope["data"]["baseType"] in TABLES.values() else None
        if table:
            data = envelope["data"]["baseData"]
            rows[table].append({**data, "itemCount": 100 / envelope.get("sampleRate", 100.0), "customDimensions": data.get("properties") or {},
                                "metric": (data.get("metrics") or [{}])[0].get("name")})
    return {"rows": rows, "live": recorded["live_posts"], "root_records": recorded["root_records"], "env": env,
            "text": json.dumps(recorded)}


def test_on_azure_every_invocation_is_one_row_carrying_its_queue_and_outcome(exported):
    env = exported["env"]
    invocations = [r for r in exported["rows"]["requests"] if r["name"].startswith("process ")]
    assert invocations and all(r["customDimensions"]["autopilot.queue"] == r["name"].removeprefix("process ") for r in invocations)
    checks = {r["customDimensions"]["autopilot.entity"]: r for r in invocations if r["customDimensions"]["autopilot.queue"] == env.payment_checks_queue}
    assert set(checks) == {"o-insight", "o-nobody-knows"}  # one row per invocation
    assert checks["o-insight"]["customDimensions"]["autopilot.outcome"] == "processed" and checks["o-insight"]["success"] is True
    # A rejection completes the message (the host sees a success), but the app's row says it failed.
    assert checks["o-nobody-knows"]["customDimensions"]["autopilot.outcome"] == "rejected" and checks["o-nobody-knows"]["success"] is False
    timers = [r for r in exported["rows"]["requests"] if r["name"].startswith("timer ")]
    assert {r["customDimensions"]["autopilot.timer"] for r in timers} >= {"payments_scan", "shipping_labels_scan"}
    # Sampled at the fixed default of 100 %: every row counts for one.
    assert all(r["itemCount"] == 1 for table in ("requests", "dependencies") for r in exported["rows"][table])


def test_provider_latency_is_recorded_for_calls_that_got_no_answer(exported):
    statuses = {r["customDimensions"].get("status") for r in exported["rows"]["customMetrics"] if r["metric"] == "autopilot.provider.latency"}
    assert {"200", "timeout", "error"} <= statuses


def test_the_apps_records_reach_application_insights_and_live_metrics_but_never_the_hosts_pipeline(exported):
    traces = exported["rows"]["traces"]
    [rejected] = [r for r in traces if r["customDimensions"].get("autopilot.outcome") == "rejected"]
    assert rejected["customDimensions"]["autopilot.error_type"] == "PermanentError" and rejected["customDimensions"]["message_id"]
    [paid] = [r for r in traces if r["customDimensions"].get("autopilot.payment_outcome") == "paid"]
    assert paid["customDimensions"]["autopilot.order_id"] == "o-insight"
    assert exported["root_records"] == []  # the worker's root handler, which forwards to the host, saw none of ours
    documents = [doc for post in exported["live"] for point in json.loads(post) for doc in point.get("Documents") or []]
    ours = {r["message"] for r in traces}
    assert any(doc["DocumentType"] == "Trace" and doc["Message"] in ours for doc in documents)  # the portal's log stream
    assert "jane.doe@example.com" not in exported["text"] and "Jane Doe" not in exported["text"]


def kusto_blocks() -> list[str]:
    from autopilot_local.workbook import queries

    return [query for _, _, query in queries()]


@pytest.mark.parametrize("query", kusto_blocks(), ids=lambda q: q.split("\n", 1)[0][:40])
def test_every_query_reads_dimensions_the_app_writes_and_counts_sampled_rows_with_item_count(exported, query):
    tables = set(re.findall(r"(?:^|\(|\s)(traces|requests|dependencies|customMetrics|exceptions)\b(?=\s*(?:\||$))", query, re.M))
    assert tables, query
    keys = set(re.findall(r'customDimensions\["([^"]+)"\]', query)) | set(re.findall(r"customDimensions\.(\w+)", query))
    for key in keys:
        assert any(key in r["customDimensions"] for t in tables for r in exported["rows"][t]), f"no {sorted(tables)} row has {key}"
    for metric in re.findall(r'name == "([^"]+)"', query):
        assert any(r["metric"] == metric for r in exported["rows"]["customMetrics"]), metric
    if tables & {"requests", "dependencies", "exceptions"} and "summarize" in query:
        assert "count()" not in query and "sum(itemCount)" in query or "sumif(itemCount" in query, "sampled rows are counted with itemCount"


def test_the_poisoning_query_searches_for_the_hosts_words_which_the_runner_writes_too():
    [query] = [q for q in kusto_blocks() if "MaxDequeueCount" in q]
    words = re.search(r'startswith "([^"]+)"', query).group(1)
    runner = (ROOT / "autopilot_local" / "runner.py").read_text()
    assert f'"{words} of %d. Moving message to queue' in runner
