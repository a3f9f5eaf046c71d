"""Shared fixtures: real Azurite (started if none runs), the sandbox providers over real HTTP, and a
fresh set of tables and queues per test (a unique prefix), so tests never see each other's data."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import function_app  # noqa: F401  - wires the families together, as the host's import of it does
from autopilot_local.devtools import Azurite, local_environment
from ecommerce_tasks.http import close_http_client
from autopilot_local.runner import HostConfig, LocalHost
from autopilot_sandbox import SandboxClient, SandboxServer
from ecommerce_tasks.settings import reload_settings
from ecommerce_tasks.storage import REQUEST_COUNTER, queue_client, take_all


@pytest.fixture(scope="session")
def azurite():
    with Azurite() as running:
        yield running


@pytest.fixture(scope="session")
def sandbox_server():
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    client = SandboxClient(sandbox_server.url)
    client.reset()
    return client


@pytest.fixture
def env(azurite, sandbox_server, monkeypatch, tmp_path):
    """Settings for one test: unique names, sandbox providers, fast retries."""
    tag = "t" + uuid.uuid4().hex[:10]
    values = {
        **local_environment(tag, sandbox_server.url, email_dir=str(tmp_path / "emails")),
        "HTTP_TIMEOUT_SECONDS": "0.5",
        "HTTP_MAX_ATTEMPTS": "3",
        "HTTP_BACKOFF_BASE_SECONDS": "0.01",
        "HTTP_BACKOFF_MAX_SECONDS": "0.2",
        "LOCAL_FUNCTION_KEY": "test-function-key",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    close_http_client()
    settings = reload_settings()
    REQUEST_COUNTER.reset()
    yield settings
    close_http_client()


@pytest.fixture
def patient_http(env, monkeypatch):
    """For tests that count requests: a provider timeout that cannot fire on a busy machine (a
    retried call would be counted twice). Tests of timeouts keep the short default."""
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "30")
    close_http_client()
    return reload_settings()


@pytest.fixture
def api(host):
    """The runner's HTTP server on a free port, and a client that sends the function key."""
    import threading

    import httpx

    server = host.http_server(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}/api", headers={"x-functions-key": "test-function-key"}, timeout=10)
    server.shutdown()
    server.server_close()


@pytest.fixture
def host(env):
    """The local runner over function_app.py, with retries made visible again at once."""
    return LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))


NOW = datetime.now(timezone.utc)


def order_event(order_id: str, *, placed_minutes_ago: float = 30, payments=(), amount="10.00", **extra) -> dict:
    return {
        "type": "order.placed",
        "event_id": f"evt-{order_id}",
        "order_id": order_id,
        "placed_at": (NOW - timedelta(minutes=placed_minutes_ago)).isoformat(),
        "amount": amount,
        "currency": "EUR",
        "customer": {"email": "jane.doe@example.com", "name": "Jane Doe"},
        "lines": [{"sku": "SKU-1", "quantity": 2, "name": "Mug"}],
        "payments": list(payments),
        **extra,
    }


def payment_ref(provider: str, payment_id: str, minutes_ago: float = 20) -> dict:
    return {"provider": provider, "payment_id": payment_id, "created_at": (NOW - timedelta(minutes=minutes_ago)).isoformat()}


def send_raw(queue: str, payload) -> None:
    """Puts a message on a queue exactly as a producer would: JSON, base64 (host.json encoding)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    queue_client(queue).send_message(text)


def drain_outcomes(queue: str) -> list[dict]:
    return [json.loads(body) for body in take_all(queue)]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def place(host, env, order_id: str, payments=(), **extra) -> None:
    """Sends order.placed through the inbound queue and lets the runner's intake apply it."""
    send_raw(env.shop_events_queue, order_event(order_id, payments=payments, **extra))
    host.drain(next(f for f in host.functions if f.name == "intake_shop_events"))


def function(host, name: str):
    return next(f for f in host.functions if f.name == name)


def due_rows(order_id: str | None = None) -> list[dict]:
    from ecommerce_tasks.duework import duework_table, partitions

    rows = [r for shard in partitions("payments") for r in duework_table().query_entities("PartitionKey eq @p", parameters={"p": shard})]
    return [dict(r) for r in rows if order_id is None or r["entity_id"] == order_id]
