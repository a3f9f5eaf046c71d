"""Shared set-up for benchmarks: Azurite, the sandbox, fresh names, a sample shop."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from ecommerce_tasks import duework
from autopilot_local.devtools import PORTS, Azurite, connection_string, local_environment
from ecommerce_tasks.http import close_http_client
from ecommerce_tasks.intake import ShopIntake
from autopilot_sandbox import SandboxClient, SandboxServer
from ecommerce_tasks.settings import reload_settings

from .latency_proxy import storage_behind


def storage_rtt_ms() -> float:
    """The round trip put between the app and Azurite (`python -m bench --storage-rtt-ms`)."""
    return float(os.environ.get("BENCH_STORAGE_RTT_MS", "0") or 0)


@contextmanager
def bench_environment(**settings: str):
    tag = "b" + uuid.uuid4().hex[:8]
    with Azurite(), storage_behind(storage_rtt_ms(), PORTS) as ports, SandboxServer() as sandbox_server, \
            tempfile.TemporaryDirectory() as emails:
        os.environ.update(local_environment(tag, sandbox_server.url, email_dir=emails))
        os.environ["AzureWebJobsStorage"] = connection_string(ports)  # through the latency proxy, if any
        os.environ.update(settings)
        reload_settings()
        close_http_client()
        yield SandboxClient(sandbox_server.url)
        close_http_client()


ADDRESS = {"name": "Bench", "street": "Damrak", "house_number": "1", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}


def seed_orders(sandbox: SandboxClient, count: int, prefix: str, status: str, workers: int = 16) -> None:
    """count orders with one Mollie payment each (scripted to `status`), through the intake."""
    now = datetime.now(timezone.utc)
    intake = ShopIntake()

    def one(i: int) -> None:
        payment_id = f"tr_{prefix}{i:07d}"
        sandbox.payment("mollie", payment_id, [status], expires_in_seconds=86400)
        intake.apply(
            {
                "type": "order.placed",
                "event_id": f"e-{prefix}-{i}",
                "order_id": f"{prefix}-{i}",
                "placed_at": (now - timedelta(minutes=30)).isoformat(),
                "amount": "10.00",
                "currency": "EUR",
                "customer": {"email": "bench@example.com", "name": "Bench"},
                "lines": [{"sku": "SKU-1", "quantity": 1}],
                "payments": [{"provider": "mollie", "payment_id": payment_id, "created_at": (now - timedelta(minutes=20)).isoformat()}],
                "shipping_address": ADDRESS,
            }
        )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(count)))


class CpuMeter:
    """CPU seconds spent by this process and by Azurite while a block runs.

    On a small machine the clients and Azurite share the cores, so a rate is capped by whichever
    spends the most CPU per item: these numbers say which, and what that cap is.
    """

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        listeners = {c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == PORTS[2]}
        self._azurite = [psutil.Process(pid) for pid in listeners if pid]  # Azurite: one Node process serves every port
        self.python = self.azurite = 0.0

    @staticmethod
    def _seconds(process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def __enter__(self) -> "CpuMeter":
        self._start = (self._seconds(self._me), sum(self._seconds(p) for p in self._azurite))
        return self

    def __exit__(self, *exc: object) -> None:
        self.python = self._seconds(self._me) - self._start[0]
        self.azurite = sum(self._seconds(p) for p in self._azurite) - self._start[1]


async def submit_with_retries(table, operations: list, tries: int = 4) -> None:
    """A seeding transaction of upserts (harmless to repeat), tried again when Azurite drops a
    pooled connection (it closes idle keep-alives, and a busy machine makes them idle)."""
    for attempt in range(tries):
        try:
            await table.submit_transaction(operations)
            return
        except (ServiceRequestError, ServiceResponseError):
            if attempt == tries - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def upsert_by_partition(table, rows: list[dict], concurrency: int = 2) -> None:
    """Writes rows with an async TableClient in transactions of 100 (a transaction holds one partition)."""
    batches = iter(duework.chunks_per_partition(rows, lambda row: row["PartitionKey"], 100))

    async def writer() -> None:
        for batch in batches:
            await submit_with_retries(table, [("upsert", row) for row in batch])

    await asyncio.gather(*(writer() for _ in range(concurrency)))  # large batches queue up in Azurite
