"""The runner's continuous mode: timers on their NCRONTAB schedule, queues polled, like the host."""

import threading
import time

from ecommerce_tasks.orders import load_order
from autopilot_local.runner import HostConfig, LocalHost
from tests.conftest import order_event, payment_ref, send_raw


def test_serve_runs_timers_on_schedule_and_polls_queues(env, sandbox, monkeypatch):
    monkeypatch.setenv("PAYMENTS_SCAN_SCHEDULE", "*/1 * * * * *")  # every second
    host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0, max_polling_interval=0.2))
    sandbox.payment("mollie", "tr_serve0001", ["paid"])
    stop = threading.Event()
    runner = threading.Thread(target=host.serve, args=(stop,), kwargs={"http_port": None}, daemon=True)
    runner.start()
    try:
        send_raw(env.shop_events_queue, order_event("o-serve", payments=[payment_ref("mollie", "tr_serve0001")]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            order = load_order("o-serve").order
            if order and order.status == "paid":
                break
            time.sleep(0.1)
        assert load_order("o-serve").order.status == "paid"
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()
