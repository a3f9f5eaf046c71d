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

from ecommerce_tasks.payments.scan import scan_due_payments
from autopilot_local.runner import HostConfig, LocalHost

from .common import CpuMeter, bench_environment, seed_orders

POOLS = (6, 16, 32)
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


def _run(orders: int, latency: float, pool: int) -> tuple[float, CpuMeter]:
    with bench_environment() as sandbox, _pool(pool):
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        seed_orders(sandbox, orders, "w", "paid")
        scan_due_payments()
        sandbox.latency(latency)
        with CpuMeter() as cpu:
            started = time.perf_counter()
            host.drain(next(f for f in host.functions if f.name == "payments_check"))
            rate = orders / (time.perf_counter() - started)
        host.pool.shutdown()
        return rate, cpu


def measure(orders: int, pools: tuple[int, ...] = POOLS, latencies_ms: tuple[int, ...] = LATENCIES_MS) -> dict:
    single, _ = _run(max(8, orders // 8), 0.0, 1)
    storage_s = 1 / single  # one check's storage round trips and CPU, nothing overlapping
    cpu_rate, cpu = _run(orders, 0.0, max(pools))
    python_ms, azurite_ms = cpu.python * 1000 / orders, cpu.azurite * 1000 / orders
    runs = []
    for pool in pools:
        for latency_ms in latencies_ms:
            rate, _ = _run(orders, latency_ms / 1000, pool)
            bound = min(pool / (latency_ms / 1000 + storage_s), cpu_rate)
            runs.append({"pool": pool, "provider_ms": latency_ms, "per_second": round(rate, 1), "bound": round(bound, 1),
                         "vs_bound": round(rate / bound, 2)})
    return {"orders": orders, "runs": runs, "storage_ms_per_check": round(storage_s * 1000, 1), "cpu_bound_per_s": round(cpu_rate, 1),
            "python_cpu_ms_per_check": round(python_ms, 2), "azurite_cpu_ms_per_check": round(azurite_ms, 2),
            "python_cap_per_s": round(1000 / python_ms, 1), "azurite_cap_per_s": round(1000 / azurite_ms, 1),
            "cores_cap_per_s": round(os.cpu_count() * 1000 / (python_ms + azurite_ms), 1)}
