"""Cost: storage requests per order / event / cart for each family, counted by the request hook."""

from __future__ import annotations

from ecommerce_tasks.payments.scan import scan_due_payments
from ecommerce_tasks.runner import HostConfig, LocalHost
from ecommerce_tasks.storage import REQUEST_COUNTER

from .cleanup import seed_carts
from .common import bench_environment, seed_orders
from .inventory import measure as inventory_measure


def _counted(action) -> tuple[int, int]:
    REQUEST_COUNTER.reset()
    action()
    return REQUEST_COUNTER.total(), REQUEST_COUNTER.operations()


def payments(orders: int) -> dict:
    with bench_environment() as sandbox:
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        intake = _counted(lambda: seed_orders(sandbox, orders, "cost", "paid"))
        check = _counted(lambda: (scan_due_payments(), host.drain(next(f for f in host.functions if f.name == "payments_check"))))
    return {"family": "payments", "unit": "order", "intake_requests": round(intake[0] / orders, 2),
            "work_requests": round(check[0] / orders, 2), "work_operations": round(check[1] / orders, 2)}


def inventory(events: int) -> dict:
    hot = inventory_measure(events, 1, "hot")
    many = inventory_measure(events, max(1, events // 10), "many")
    return {"family": "inventory", "unit": "event", "intake_requests": hot["intake_requests_per_event"],
            "work_requests": many["apply_requests_per_event"], "work_requests_hot_product": hot["apply_requests_per_event"]}


def cleanup(carts: int) -> dict:
    with bench_environment():
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        seed_carts(carts)
        work = _counted(lambda: host.run_once({"cleanup"}))
    return {"family": "cleanup", "unit": "cart", "work_requests": round(work[0] / carts, 2), "work_operations": round(work[1] / carts, 2)}
