"""Workers: payment checks per second through the local runner, which runs every function in one
pool of PYTHON_THREADPOOL_THREAD_COUNT threads as the Python worker does, for several pool sizes
and provider latencies, each against its bound:

    bound = min(pool / (provider latency + storage time per check), what the CPU allows)

where the storage time per check is measured with an instant provider and one thread, and what
the CPU allows with an instant provider and the largest pool (both in the same run)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from ecommerce_tasks.orders import orders_table
from ecommerce_tasks.payments.scan import scan_due_payments
from autopilot_local.runner import HostConfig, LocalHost
from ecommerce_tasks.storage import REQUEST_COUNTER

from . import async_check
from .common import CpuMeter, bench_environment, seed_orders

POOLS = (6, 16, 32)
MAX_POOL = 32  # the Python worker accepts PYTHON_THREADPOOL_THREAD_COUNT up to 32
LATENCIES_MS = (50, 300)


@contextmanager
def _pool(size: int):
    before = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT")
    os.environ["PYTHON_THREADPOOL_THREAD_COUNT"] = str(size)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHON_THREADPOOL_THREAD_COUNT", None)
        else:
            os.environ["PYTHON_THREADPOOL_THREAD_COUNT"] = before


def _run(orders: int, latency: float, pool: int, asynchronous: bool = False) -> tuple[float, CpuMeter, dict]:
    """Checks `orders` paid orders at a provider latency: through the runner's shared pool of
    `pool` threads, or (asynchronous) with the async check, `pool` at once on one event loop."""
    with bench_environment() as sandbox, _pool(min(pool, MAX_POOL)):  # an async check takes no thread of the pool
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        seed_orders(sandbox, orders, "w", "paid")
        scan_due_payments()
        sandbox.latency(latency)
        REQUEST_COUNTER.reset()
        with CpuMeter() as cpu:
            started = time.perf_counter()
            if asynchronous:
                checked, _, failed_tries = async_check.run(pool)
                assert checked == orders, f"the async check completed {checked} of {orders}"
            else:
                failed_tries = host.drain(next(f for f in host.functions if f.name == "payments_check")).failed
            rate = orders / (time.perf_counter() - started)
        # Neither the host's polling (queue GETs, more or fewer as timing has it) nor the creation of
        # queues on first use (PUTs, once per process) is the check's work.
        counts = REQUEST_COUNTER.snapshot()
        requests = REQUEST_COUNTER.total() - counts[("queue", "GET")] - counts[("queue", "PUT")]
        host.pool.shutdown()
        paid = sum(1 for row in orders_table().query_entities("RowKey eq 'order'", select=["status"]) if row["status"] == "paid")
        return rate, cpu, {"requests_per_check": round(requests / orders, 2), "paid": paid, "failed_tries": failed_tries}


def measure(orders: int, pools: tuple[int, ...] = POOLS, latencies_ms: tuple[int, ...] = LATENCIES_MS) -> dict:
    single, _, _ = _run(max(8, orders // 8), 0.0, 1)
    storage_s = 1 / single  # one check's storage round trips and CPU, nothing overlapping
    cpu_rate, cpu, _ = _run(orders, 0.0, max(pools))
    python_ms, azurite_ms = cpu.python * 1000 / orders, cpu.azurite * 1000 / orders
    runs = []
    for pool in pools:
        for latency_ms in latencies_ms:
            rate, _, _ = _run(orders, latency_ms / 1000, pool)
            bound = min(pool / (latency_ms / 1000 + storage_s), cpu_rate)
            runs.append({"pool": pool, "provider_ms": latency_ms, "per_second": round(rate, 1), "bound": round(bound, 1),
                         "vs_bound": round(rate / bound, 2)})
    return {"orders": orders, "runs": runs, "storage_ms_per_check": round(storage_s * 1000, 1), "cpu_bound_per_s": round(cpu_rate, 1),
            "python_cpu_ms_per_check": round(python_ms, 2), "azurite_cpu_ms_per_check": round(azurite_ms, 2),
            "python_cap_per_s": round(1000 / python_ms, 1), "azurite_cap_per_s": round(1000 / azurite_ms, 1),
            "cores_cap_per_s": round(os.cpu_count() * 1000 / (python_ms + azurite_ms), 1)}


def async_vs_sync(orders: int, latencies_ms: tuple[int, ...] = LATENCIES_MS,
                  concurrency: tuple[int, ...] = (16, MAX_POOL, async_check.HOST_CONCURRENCY)) -> list[dict]:
    """The sync check in the shared pool against the async check on the event loop, fed alike
    (host.json's batches), with at most `in_flight` checks at once: 16 (the pool the Bicep sets),
    32 (the largest pool the worker allows), and all the host hands one instance (batchSize +
    newBatchThreshold), which only an async function can use; the sync check runs there with the
    largest pool. Checks per second, CPU ms per check (this process) and storage requests per check."""
    rows = []
    for latency_ms in latencies_ms:
        for in_flight in concurrency:
            pool = min(in_flight, MAX_POOL)
            sync_rate, sync_cpu, sync_facts = _run(orders, latency_ms / 1000, pool)
            async_rate, async_cpu, async_facts = _run(orders, latency_ms / 1000, in_flight, asynchronous=True)
            assert sync_facts["paid"] == async_facts["paid"] == orders, (sync_facts, async_facts)  # both did the whole job
            rows.append({"provider_ms": latency_ms, "in_flight": in_flight, "sync_pool": pool, "sync_per_s": round(sync_rate, 1),
                         "async_per_s": round(async_rate, 1), "async_vs_sync": round(async_rate / sync_rate, 2),
                         "sync_cpu_ms": round(sync_cpu.python * 1000 / orders, 2), "async_cpu_ms": round(async_cpu.python * 1000 / orders, 2),
                         "sync_requests_per_check": sync_facts["requests_per_check"],
                         "async_requests_per_check": async_facts["requests_per_check"],
                         "failed_tries": {"sync": sync_facts["failed_tries"], "async": async_facts["failed_tries"]}})
    return rows
