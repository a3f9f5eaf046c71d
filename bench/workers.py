"""Workers: payment checks per second through the local runner, the provider answering after a
fixed latency, against the ideal bound (concurrency / latency)."""

from __future__ import annotations

import time

from ecommerce_tasks.payments.scan import scan_due_payments
from ecommerce_tasks.runner import HostConfig, LocalHost

from .common import bench_environment, seed_orders


def _rate(orders: int, latency: float) -> float:
    with bench_environment() as sandbox:
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        seed_orders(sandbox, orders, "w", "paid")
        scan_due_payments()
        sandbox.latency(latency)
        started = time.perf_counter()
        host.drain(next(f for f in host.functions if f.name == "payments_check"))
        return orders / (time.perf_counter() - started)


def measure(orders: int, latency: float = 0.05) -> dict:
    """Also measured with an instant provider: what storage and CPU alone allow on this machine."""
    config = HostConfig.load()
    rate, instant = _rate(orders, latency), _rate(orders, 0.0)
    ideal = config.batch_size / latency
    return {"orders": orders, "latency_ms": latency * 1000, "concurrency": config.batch_size,
            "checks_per_s": round(rate, 1), "ideal_per_s": round(ideal, 1), "vs_ideal": round(rate / ideal, 2),
            "instant_provider_per_s": round(instant, 1), "vs_machine_bound": round(rate / min(ideal, instant), 2)}
