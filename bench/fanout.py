"""Fan-out: the app's enqueue_many against the naive loop and the raw async SDK ceiling."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from contextlib import contextmanager

from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient as AsyncQueueClient

from autopilot_local.devtools import PORTS, port_open
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.storage import enqueue_many

from .common import CpuMeter, bench_environment

NAIVE_SAMPLE = 10_000  # the naive loop is timed on at most this many messages (its rate is flat)
WARM_UP = 2_000


def _bodies(n: int) -> list[dict]:
    return [{"order_id": f"o-{i}", "due_key": f"2026-11-26T10:00:00.000000Z|o-{i}", "checks": 0} for i in range(n)]


_QUEUES: list[str] = []


def _queue() -> str:
    _QUEUES.append("bench-" + uuid.uuid4().hex[:12])
    return _QUEUES[-1]


def naive(n: int) -> float:
    """One synchronous send_message after another, as most samples do. Messages per second."""
    client = QueueClient.from_connection_string(get_settings().storage_connection, _queue(), message_encode_policy=TextBase64EncodePolicy())
    client.create_queue()
    sample = _bodies(min(n, NAIVE_SAMPLE))
    started = time.perf_counter()
    for body in sample:
        client.send_message(json.dumps(body))
    return len(sample) / (time.perf_counter() - started)


async def _raw(n: int, concurrency: int) -> float:
    name = _queue()
    async with AsyncQueueClient.from_connection_string(get_settings().storage_connection, name, message_encode_policy=TextBase64EncodePolicy()) as client:
        await client.create_queue()
        bodies = iter(json.dumps(b) for b in _bodies(n))

        async def sender() -> None:
            for body in bodies:
                await client.send_message(body)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


def best_concurrency(n: int, concurrencies: tuple[int, ...] = (16, 64, 256)) -> int:
    """The raw async SDK's best concurrency, searched on a sample."""
    sample = min(n, 5_000)
    return max(concurrencies, key=lambda c: asyncio.run(_raw(sample, c)))


def app(n: int) -> tuple[float, CpuMeter]:
    bodies = _bodies(n)
    with CpuMeter() as cpu:
        started = time.perf_counter()
        enqueue_many(_queue(), bodies)
        return n / (time.perf_counter() - started), cpu


@contextmanager
def _fresh_azurite():
    """A new Azurite, warmed up: a new Node process is slow until its code is compiled, which
    would favour whatever runs later. When one was running already (as in the tests), it is
    shared: the queues made here are deleted again, as every message slows Azurite's queues down."""
    shared = all(port_open(port) for port in PORTS)
    with bench_environment():
        made = len(_QUEUES)
        asyncio.run(_raw(WARM_UP, 16))
        yield
        if shared:
            for name in _QUEUES[made:]:
                QueueClient.from_connection_string(get_settings().storage_connection, name).delete_queue()


def measure(n: int) -> dict:
    """With the CPU each message costs here, in this process and in Azurite: on one machine each
    caps any sender at 1 / its CPU per message, however the sender is written."""
    # Each in an Azurite of its own: Azurite keeps every message in one in-memory collection, and
    # deleting 100,000 of them stalls it long enough to time out whatever is measured next.
    with _fresh_azurite():
        concurrency = best_concurrency(n)
    with _fresh_azurite():
        ceiling = asyncio.run(_raw(n, concurrency))
    with _fresh_azurite():
        app_rate, cpu = app(n)
    with _fresh_azurite():
        naive_rate = naive(n)
    return {
        "n": n, "app_msgs_per_s": round(app_rate), "naive_msgs_per_s": round(naive_rate), "ceiling_msgs_per_s": round(ceiling),
        "ceiling_concurrency": concurrency, "app_vs_ceiling": round(app_rate / ceiling, 2), "app_vs_naive": round(app_rate / naive_rate, 2),
        "python_cpu_ms_per_msg": round(cpu.python * 1000 / n, 3), "azurite_cpu_ms_per_msg": round(cpu.azurite * 1000 / n, 3),
        # The most any sender could do here: the machine's cores over the CPU a message costs on both sides.
        "cores_cap_msgs_per_s": round(os.cpu_count() * n / (cpu.python + cpu.azurite)),
    }
