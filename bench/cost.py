"""Cost: storage requests per order / event / cart for each family, counted by the request hook."""

from __future__ import annotations

from ecommerce_tasks.payments.scan import scan_due_payments
from autopilot_local.runner import HostConfig, LocalHost
from ecommerce_tasks.storage import REQUEST_COUNTER

from .cleanup import seed_carts
from .common import CpuMeter, bench_environment, seed_orders
from .inventory import measure as inventory_measure


def _counted(action) -> tuple[int, int, float]:
    """Storage requests, operations, and CPU seconds of this process (Azurite's apart) of an action."""
    REQUEST_COUNTER.reset()
    with CpuMeter() as cpu:
        action()
    return REQUEST_COUNTER.total(), REQUEST_COUNTER.operations(), cpu.python


def payments(orders: int) -> dict:
    with bench_environment() as sandbox:
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        intake = _counted(lambda: seed_orders(sandbox, orders, "cost", "paid"))
        check = _counted(lambda: (scan_due_payments(), host.drain(_function(host, "payments_check"))))
    return {"family": "payments", "unit": "order", "intake_requests": round(intake[0] / orders, 2),
            "work_requests": round(check[0] / orders, 2), "work_operations": round(check[1] / orders, 2),
            "work_cpu_ms": round(check[2] * 1000 / orders, 2)}


def shipping(orders: int) -> list[dict]:
    """Label, tracking check (status unchanged / changed) and customer e-mail, per unit."""
    with bench_environment(CARRIER="sendcloud", TRACKING_INTERVAL_MINUTES="0", EMAIL_PROVIDER="sendgrid") as sandbox:
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        sandbox.tracking_script("sendcloud", [[1000, "Ready to send"], [3, "En route"]])  # unchanged, then changed
        seed_orders(sandbox, orders, "ship", "paid")
        scan_due_payments()
        host.drain(_function(host, "payments_check"))
        labels = _counted(lambda: host.run_timer(_function(host, "shipping_labels_scan")) or host.drain(_function(host, "shipping_label")))
        emails = _counted(lambda: host.drain(_function(host, "notifications_send")))  # order.paid + order.shipped
        track = lambda: host.run_timer(_function(host, "shipping_tracking_scan")) or host.drain(_function(host, "shipping_track"))  # noqa: E731
        unchanged = _counted(track)
        changed = _counted(track)
    return [
        {"family": "labels", "unit": "order", "work_requests": round(labels[0] / orders, 2), "work_operations": round(labels[1] / orders, 2),
         "work_cpu_ms": round(labels[2] * 1000 / orders, 2)},
        {"family": "tracking", "unit": "check", "work_requests": round(unchanged[0] / orders, 2), "work_requests_on_change": round(changed[0] / orders, 2),
         "work_cpu_ms": round((unchanged[2] + changed[2]) * 1000 / (2 * orders), 2)},
        {"family": "e-mail", "unit": "e-mail", "work_requests": round(emails[0] / (2 * orders), 2), "work_cpu_ms": round(emails[2] * 1000 / (2 * orders), 2)},
    ]


def _function(host: LocalHost, name: str):
    return next(f for f in host.functions if f.name == name)


def inventory(events: int) -> dict:
    hot = inventory_measure(events, 1, "hot")
    many = inventory_measure(events, max(1, events // 10), "many")
    return {"family": "inventory", "unit": "event", "intake_requests": hot["intake_requests_per_event"],
            "work_requests": many["apply_requests_per_event"], "work_requests_hot_product": hot["apply_requests_per_event"],
            "work_cpu_ms": many["apply_cpu_ms_per_event"]}


def cleanup(carts: int) -> dict:
    with bench_environment():
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
        seed_carts(carts)
        work = _counted(lambda: host.run_once({"cleanup"}))
    return {"family": "cleanup", "unit": "cart", "work_requests": round(work[0] / carts, 2), "work_operations": round(work[1] / carts, 2),
            "work_cpu_ms": round(work[2] * 1000 / carts, 2)}
