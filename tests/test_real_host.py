"""What the real Functions host and Python worker do, and the local runner now does too: one
thread pool, the app's own log levels, timers that overrun, required settings, a read-only
package, a locked deploy set, and the operator commands around them."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import azure.functions as func
import pytest

from autopilot_local.runner import LocalHost, index_functions, load_app, next_run_delay, worker_pool_size
from ecommerce_tasks.storage import queue_client, table_client
from tests.conftest import order_event, payment_ref, send_raw

ROOT = Path(__file__).parent.parent


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autopilot_local", *args], capture_output=True, text=True, timeout=300,
                          env=env or dict(os.environ), cwd=cwd)


# -- 1. one pool for every function ---------------------------------------------------------------

def test_the_pool_size_is_the_workers_setting_and_default(monkeypatch):
    monkeypatch.delenv("PYTHON_THREADPOOL_THREAD_COUNT", raising=False)
    assert worker_pool_size() == min(32, (os.cpu_count() or 1) + 4)
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "3")
    assert worker_pool_size() == 3
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "0")
    with pytest.raises(ValueError):
        worker_pool_size()


def test_every_function_runs_in_the_one_shared_pool(env, monkeypatch):
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "2")
    seen: list[str] = []
    active = {"now": 0, "max": 0}
    lock = threading.Lock()
    app = func.FunctionApp()

    def work(kind: str) -> None:
        with lock:
            seen.append(f"{kind}:{threading.current_thread().name}")
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        threading.Event().wait(0.05)
        with lock:
            active["now"] -= 1

    @app.function_name("pooled_a")
    @app.queue_trigger(arg_name="msg", queue_name=env.payment_checks_queue, connection="AzureWebJobsStorage")
    def pooled_a(msg: func.QueueMessage) -> None:
        work("queue")

    @app.function_name("pooled_timer")
    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
    def pooled_timer(timer: func.TimerRequest) -> None:
        work("timer")

    host = LocalHost(app=app)
    for i in range(8):
        send_raw(env.payment_checks_queue, {"n": i})
    drainer = threading.Thread(target=host.drain, args=(host.functions[0],))
    drainer.start()
    host.run_timer(host.functions[1])
    drainer.join()
    assert host.pool_size == 2 and len(seen) == 9
    assert all(name.split(":")[1].startswith("worker") for name in seen)  # timers and queues alike
    assert active["max"] <= 2  # however many messages are in flight


# -- 2. the app quiets chatty libraries itself -------------------------------------------------

def test_loaded_as_the_worker_loads_it_no_library_logs_each_request(env):
    probe = subprocess.run([sys.executable, "-m", "tests.probes.worker_logging_probe"], capture_output=True, text=True,
                           timeout=120, cwd=ROOT, env=dict(os.environ))
    assert probe.returncode == 0, probe.stderr[-2000:]
    records = json.loads(probe.stdout.strip().splitlines()[-1])
    chatty = [r for r in records if r["name"].split(".")[0] in {"azure", "httpx", "httpcore", "urllib3"} and r["level"] == "INFO"]
    assert chatty == []


# -- 3. timers that overrun ----------------------------------------------------------------------

def test_a_timer_that_overran_runs_again_at_once_and_otherwise_on_its_schedule():
    every_5 = "0 */5 * * * *"
    start = datetime(2026, 12, 1, 10, 0, 0)
    assert next_run_delay(every_5, start, datetime(2026, 12, 1, 10, 7, 0)) == 0.0  # the run took 7 minutes
    assert next_run_delay(every_5, start, datetime(2026, 12, 1, 10, 2, 0)) == 180.0  # from the start, not the end
    assert next_run_delay(every_5, None, datetime(2026, 12, 1, 10, 2, 30)) == 150.0


def test_back_to_back_payment_scans_send_each_order_once(host, env, sandbox):
    sandbox.payment("mollie", "tr_twice0001", ["open"], expires_in_seconds=3600)
    send_raw(env.shop_events_queue, order_event("o-twice", payments=[payment_ref("mollie", "tr_twice0001")]))
    host.drain(next(f for f in host.functions if f.name == "intake_shop_events"))
    scan = next(f for f in host.functions if f.name == "payments_scan")
    host.run_timer(scan)
    host.run_timer(scan, past_due=True)  # the next run comes at once after an overrun
    stats = host.drain(next(f for f in host.functions if f.name == "payments_check"))
    assert stats.processed == 1  # the lease kept the second scan from sending it again


# -- 4. required settings ------------------------------------------------------------------------

def test_under_the_host_the_app_refuses_to_start_naming_every_missing_setting(env):
    environment = {**os.environ, "FUNCTIONS_WORKER_RUNTIME": "python"}
    environment.pop("PAYMENT_CHECKS_QUEUE")
    environment.pop("CLEANUP_SCAN_SCHEDULE")
    loaded = subprocess.run([sys.executable, "-c", "import function_app"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=environment)
    assert loaded.returncode != 0
    assert "PAYMENT_CHECKS_QUEUE (for payments_check)" in loaded.stderr and "CLEANUP_SCAN_SCHEDULE (for cleanup_scan)" in loaded.stderr


# -- 5. a read-only package ----------------------------------------------------------------------

def package_files() -> list[str]:
    """What `func azure functionapp publish` uploads: the top-level entries .funcignore lets through."""
    patterns = [line.strip() for line in (ROOT / ".funcignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    kept = []
    for entry in sorted(p.name for p in ROOT.iterdir()):
        is_dir = (ROOT / entry).is_dir()
        if not any(fnmatch.fnmatch(entry + ("/" if is_dir else ""), p) or fnmatch.fnmatch(entry, p.rstrip("/")) for p in patterns):
            kept.append(entry)
    return kept


def test_the_package_is_only_the_app():
    assert package_files() == ["ecommerce_tasks", "function_app.py", "host.json", "requirements.txt"]


READ_ONLY_PROBE = """
import os, sys
from datetime import datetime, timedelta, timezone
sys.path.insert(0, os.getcwd())
import function_app  # the app from the read-only package; the tooling below from the checkout
sys.path.append(os.environ["REPO_ROOT"])
from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.orders import load_order
from autopilot_local.runner import HostConfig, LocalHost
from autopilot_sandbox import SandboxClient
now = datetime.now(timezone.utc)
SandboxClient(os.environ["SANDBOX_URL"]).payment("mollie", "tr_readonly01", ["paid"])
ShopIntake().send({"type": "order.placed", "event_id": "e-ro", "order_id": "o-ro", "placed_at": (now - timedelta(minutes=30)).isoformat(),
    "amount": "10.00", "currency": "EUR", "customer": {"email": "ro@example.com", "name": "Read Only"},
    "lines": [{"sku": "SKU-1", "quantity": 1}], "payments": [{"provider": "mollie", "payment_id": "tr_readonly01",
    "created_at": (now - timedelta(minutes=20)).isoformat()}],
    "shipping_address": {"name": "Read Only", "street": "Damrak", "house_number": "1", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}})
LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0)).run_once()
record = load_order("o-ro")
print(record.order.status, record.shipment["state"])
"""


def read_only_copy(tmp_path: Path) -> Path:
    source = tmp_path / "package"
    source.mkdir()
    for entry in package_files():
        (shutil.copytree if (ROOT / entry).is_dir() else shutil.copy2)(ROOT / entry, source / entry)
    return source


def run_read_only(source: Path, mount: Path, code: str, environment: dict) -> subprocess.CompletedProcess:
    """Runs Python in a read-only bind mount of the package, in a mount namespace of its own."""
    mount.mkdir()
    script = f"mount --bind {source} {mount} && mount -o remount,bind,ro {mount} && cd {mount} && exec {sys.executable} -c \"$PROBE\""
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=300, env={**environment, "PROBE": code})


def test_on_azure_the_local_mailbox_is_refused_and_the_app_runs_from_a_read_only_package(env, sandbox_server, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) for a read-only mount")
    source = read_only_copy(tmp_path)
    azure = {**os.environ, "WEBSITE_SITE_NAME": "shop-prod", "FUNCTIONS_WORKER_RUNTIME": "python", "EMAIL_PROVIDER": "local",
             "EMAIL_OUTBOX_DIR": ".local/emails", "SANDBOX_URL": sandbox_server.url, "PYTHONDONTWRITEBYTECODE": "1",
             "REPO_ROOT": str(ROOT)}
    refused = run_read_only(source, tmp_path / "mnt1", "import function_app", azure)
    if "Operation not permitted" in refused.stderr or "permission denied" in refused.stderr.lower():
        pytest.skip("mounts are not permitted here")
    assert refused.returncode != 0 and "EMAIL_PROVIDER is 'local'" in refused.stderr

    ran = run_read_only(source, tmp_path / "mnt2", READ_ONLY_PROBE, {**azure, "EMAIL_PROVIDER": "sendgrid", "CARRIER": "local"})
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip().splitlines()[-1] == "paid created"
    assert "Read-only file system" not in ran.stderr


# -- 6. a locked deploy set ------------------------------------------------------------------------

def test_the_deploy_requirements_are_pinned_and_generated_from_the_short_input():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert pins and all("==" in line for line in pins), [line for line in pins if "==" not in line]
    direct = {line.split(">=")[0].split("==")[0].strip().lower() for line in (ROOT / "requirements.in").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    pinned = {line.split("==")[0].lower() for line in pins}
    assert direct <= pinned and {"opentelemetry-api", "azure-core"} <= direct


def test_a_fresh_venv_from_the_deploy_requirements_alone_imports_and_indexes_the_app(tmp_path):
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv, "uv comes with requirements-dev.txt"
    venv = tmp_path / "deploy"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=300)
    installed = subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-r", str(ROOT / "requirements.txt")],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    indexed = subprocess.run([str(venv / "bin" / "python"), "-c", "import function_app; print(len(function_app.app.get_functions()))"],
                             capture_output=True, text=True, timeout=300, cwd=read_only_copy(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert indexed.returncode == 0, indexed.stderr[-3000:]
    assert int(indexed.stdout.strip()) == len(index_functions(load_app()))  # every function, as the runner indexes them


# -- 8-11. operators ------------------------------------------------------------------------------

def test_run_once_counts_rejections_apart_and_failures_lists_them_masked(env):
    send_raw(env.shop_events_queue, {"type": "order.placed", "order_id": "o-reject", "customer": {"email": "sam.secret@example.com"}})
    ran = run_cli("run", "--once", "--task", "payments", "--visibility-timeout", "0")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "queue intake_shop_events: 1 processed, 0 ok, 1 rejected" in ran.stdout
    listed = run_cli("failures", "--queue", env.shop_events_queue, "--since", "1h")
    assert listed.returncode == 0 and "rejected" in listed.stdout and "invalid shop event" in listed.stdout
    assert "sam.secret@example.com" not in listed.stdout and "1 failure record(s)" in listed.stdout
    assert "0 failure record(s)" in run_cli("failures", "--since", "2999-01-01T00:00:00+00:00").stdout


def test_init_creates_every_queue_table_and_container(env):
    from ecommerce_tasks.settings import TABLES

    created = run_cli("init")
    assert created.returncode == 0, created.stderr[-2000:]
    for queue in env.queues():
        assert queue_client(queue).get_queue_properties() is not None
    for table in TABLES:
        assert f"table {env.table(table)}" in created.stdout
        list(table_client(env.table(table)).list_entities(results_per_page=1))
    assert f"container {env.labels_container}" in created.stdout
