"""Workers: payment checks per second through the local runner, the provider answering after a
fixed latency, against the ideal bound (concurrency / latency)."""

from __future__ import annotations

import os
import time

from ecommerce_tasks.payments.scan import scan_due_payments
from ecommerce_tasks.runner import HostConfig, LocalHost

from .common import CpuMeter, bench_environment, seed_orders


def _run(orders: int, latency: float) -> tuple[float, CpuMeter]:
    with bench_environment() as sandbox:
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        seed_orders(sandbox, orders, "w", "paid")
        scan_due_payments()
        sandbox.latency(latency)
        with CpuMeter() as cpu:
            started = time.perf_counter()
            host.drain(next(f for f in host.functions if f.name == "payments_check"))
            rate = orders / (time.perf_counter() - started)
        return rate, cpu


def measure(orders: int, latency: float = 0.05) -> dict:
    """Also measured with an instant provider: what storage and CPU alone allow on this machine,
    and how much CPU a check costs in this process and in Azurite (each caps the rate at
    1 / its CPU per check, since Python runs one thread at a time and Azurite is one Node process)."""
    config = HostConfig.load()
    rate, _ = _run(orders, latency)
    instant, cpu = _run(orders, 0.0)
    ideal = config.batch_size / latency
    python_ms, azurite_ms = cpu.python * 1000 / orders, cpu.azurite * 1000 / orders
    return {"orders": orders, "latency_ms": latency * 1000, "concurrency": config.batch_size,
            "checks_per_s": round(rate, 1), "ideal_per_s": round(ideal, 1), "vs_ideal": round(rate / ideal, 2),
            "instant_provider_per_s": round(instant, 1), "vs_machine_bound": round(rate / min(ideal, instant), 2),
            "python_cpu_ms_per_check": round(python_ms, 2), "azurite_cpu_ms_per_check": round(azurite_ms, 2),
            "python_cap_per_s": round(1000 / python_ms, 1), "azurite_cap_per_s": round(1000 / azurite_ms, 1),
            "cores_cap_per_s": round(os.cpu_count() * 1000 / (python_ms + azurite_ms), 1)}
