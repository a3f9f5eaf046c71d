"""The soak: `python -m soak [--seconds 90] [--orders-per-second 2] ...`.

Runs the whole app through the local runner (a `serve` subprocess) against Azurite with disk
persistence while a generator plays a shop, and injects faults the whole time: provider 429s, 5xx,
timeouts and failures after the provider did the work (sandbox chaos), the runner killed in the
middle of a batch and restarted, Azurite restarted, every k-th event delivered twice, and a stream
of malformed and hostile messages. Then it lets the app settle without faults and checks the
invariants, prints them as a table and exits non-zero if any is broken.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from azure.storage.queue import QueueClient

from autopilot_local.devtools import Azurite, connection_string, local_environment, stop_process
from ecommerce_tasks.http import close_http_client
from ecommerce_tasks.orders import load_order
from autopilot_sandbox import SandboxClient, SandboxServer
from ecommerce_tasks.settings import get_settings, reload_settings
from ecommerce_tasks.storage import queue_client

from .invariants import check_all, quiet
from .shop import Shop

PORTS = (20100, 20101, 20102)  # its own Azurite, so restarting it disturbs nothing else
HTTP_PORT = 20171
FUNCTION_KEY = "soak-function-key"
WEBHOOK_SECRET = "whsec_c29hay1zaG9wLXdlYmhvb2stc2VjcmV0LW5vdC1hLXNlY3JldA=="  # noqa: S105 - the soak receiver's own


def soak_environment(tag: str, sandbox: SandboxServer) -> dict[str, str]:
    return {
        **local_environment(tag, sandbox.url),
        "AzureWebJobsStorage": connection_string(PORTS),
        "LOCAL_FUNCTION_KEY": FUNCTION_KEY,
        # Everything happens in seconds instead of hours.
        "PAYMENTS_SCAN_SCHEDULE": "*/2 * * * * *",
        "SHIPPING_LABELS_SCHEDULE": "*/2 * * * * *",
        "TRACKING_SCAN_SCHEDULE": "*/3 * * * * *",
        "TRACKING_INTERVAL_MINUTES": "0.05",
        "CARRIER": "sendcloud",  # no idempotency key: the label path that must survive the chaos
        "EMAIL_PROVIDER": "acs",  # its Operation-Id makes even a lost "accepted" answer safe to repeat
        "SIDE_EFFECT_LEASE_SECONDS": "20",
        "INVENTORY_SCAN_SCHEDULE": "*/2 * * * * *",
        "CLEANUP_SCAN_SCHEDULE": "*/3 * * * * *",
        "PAYMENT_FIRST_CHECK_MINUTES": "0",
        "PAYMENT_BACKOFF_BASE_MINUTES": "0.03",
        "PAYMENT_BACKOFF_MAX_MINUTES": "0.1",
        "PAYMENT_WINDOW_HOURS": "0.006",  # about 20 seconds
        "LEASE_MINUTES": "0.25",
        "ABANDONED_AFTER_HOURS": "0.005",
        "EMPTY_CART_AFTER_HOURS": "0.005",
        "HTTP_TIMEOUT_SECONDS": "1",
        "HTTP_MAX_ATTEMPTS": "3",
        "HTTP_BACKOFF_BASE_SECONDS": "0.05",
        "HTTP_BACKOFF_MAX_SECONDS": "0.5",
        # Every event also as a signed webhook, to a receiver that fails often (set up below).
        "SHOP_WEBHOOK_URL": f"{sandbox.url}/shop/webhooks",
        "SHOP_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBHOOK_RETRY_SECONDS": "1,1,2,2,3,3,5,5",
        "WEBHOOK_TIMEOUT_SECONDS": "1",
    }


class Runner:
    """The local runner as a subprocess that can be killed mid-batch and started again."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log = open(log_path, "ab")  # noqa: SIM115 - open for the whole soak
        self.process: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "autopilot_local", "--log-level", "INFO", "serve", "--port", str(HTTP_PORT),
             "--visibility-timeout", "1", "--message-lease", "15"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def stop(self) -> None:
        stop_process(self.process, timeout=15)
        self.log.close()


def retrying(action, tries: int = 40, pause: float = 0.5):
    """The generator keeps going through Azurite or runner restarts, as a shop's outbox would."""
    for attempt in range(tries):
        try:
            return action()
        except Exception:  # noqa: BLE001 - storage or runner briefly down
            if attempt == tries - 1:
                raise
            time.sleep(pause)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m soak")
    parser.add_argument("--seconds", type=float, default=90, help="how long the shop plays (then it settles)")
    parser.add_argument("--orders-per-second", type=float, default=2)
    parser.add_argument("--products", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=20, help="seconds between killing the runner")
    parser.add_argument("--duplicate-every", type=int, default=7, help="every k-th event is sent twice")
    parser.add_argument("--rate-429", type=float, default=0.05)
    parser.add_argument("--rate-5xx", type=float, default=0.05)
    parser.add_argument("--rate-timeout", type=float, default=0.02)
    parser.add_argument("--rate-after-effect", type=float, default=0.03)
    parser.add_argument("--settle-seconds", type=float, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    tag = "soak" + uuid.uuid4().hex[:6]
    azurite = Azurite(location=workdir / "azurite", ports=PORTS).start()
    with SandboxServer() as sandbox_server:
        env = {**os.environ, **soak_environment(tag, sandbox_server)}
        os.environ.update(env)
        reload_settings()
        close_http_client()
        sandbox = SandboxClient(sandbox_server.url)
        sandbox.chaos(rate_429=args.rate_429, rate_500=args.rate_5xx, rate_timeout=args.rate_timeout,
                      rate_after_effect=args.rate_after_effect, timeout_seconds=2, seed=args.seed)
        # A flaky shop: about a third of its first 150 answers are 500, 503 or a timeout.
        flaky = random.Random(args.seed)  # nosec B311 - reproducible faults, not security
        sandbox.webhook_receiver(WEBHOOK_SECRET, answers=[flaky.choice([500, 503, "timeout"]) if flaky.random() < 0.33 else 200
                                                          for _ in range(150)], delay=1.5)
        settings = get_settings()
        queues = {"events": settings.shop_events_queue, "checks": settings.payment_checks_queue}

        def send(kind: str, text: str) -> None:
            if kind == "undecodable":
                plain = QueueClient.from_connection_string(settings.storage_connection, settings.payment_checks_queue)
                retrying(lambda: plain.send_message(text))
            else:
                retrying(lambda: queue_client(queues[kind]).send_message(text))

        def webhook(provider: str, payment_id: str) -> None:
            url = f"http://127.0.0.1:{HTTP_PORT}/api/payments/webhook/{provider}"
            retrying(lambda: httpx.post(url, data={"id": payment_id}, headers={"x-functions-key": FUNCTION_KEY}, timeout=5).raise_for_status())

        runner = Runner(env, workdir / "runner.log")
        runner.start()
        shop = Shop(sandbox, send, seed=args.seed, duplicate_every=args.duplicate_every)
        print(f"soak: {args.seconds:.0f} s of shop traffic with faults, then up to {args.settle_seconds:.0f} s to settle; logs in {workdir}")
        started = time.monotonic()
        shop.open_shop(args.products)
        shop.hostile()
        last_kill, restarted_azurite = started, False

        def status_of(order_id: str) -> str | None:
            try:
                order = load_order(order_id).order
            except Exception:  # noqa: BLE001 - storage restarting
                return None
            return order.status if order else None

        while (elapsed := time.monotonic() - started) < args.seconds:
            shop.order()
            if shop.random.random() < 0.5:
                shop.stock_noise()
            if shop.random.random() < 0.3:
                shop.checkout()
            if time.monotonic() - last_kill >= args.kill_every:
                runner.kill()
                runner.start()
                last_kill = time.monotonic()
            if not restarted_azurite and elapsed >= args.seconds / 2:
                azurite.restart()
                restarted_azurite = True
            shop.pay_late(webhook, status_of)
            time.sleep(1 / args.orders_per_second)

        print(f"soak: generated {len(shop.record.orders)} orders, {len(shop.record.stock_event_ids)} stock events, "
              f"{len(shop.record.checkouts)} checkouts, {shop.record.duplicates} duplicate deliveries, "
              f"{len(shop.record.hostile_events) + len(shop.record.hostile_checks) + 1} hostile messages; "
              f"{runner.kills} runner kills, Azurite restarted {int(restarted_azurite)}x. Settling without faults ...")
        sandbox.chaos()  # faults off: let everything converge
        deadline = time.monotonic() + args.settle_seconds
        while time.monotonic() < deadline and not quiet(shop.record):
            shop.pay_late(webhook, status_of)  # the last late-payment orders get cancelled while settling
            time.sleep(3)
        runner.stop()
        results = check_all(shop.record, sandbox, workdir / "runner.log", runner.kills)
    azurite.close()

    width = max(len(name) for name, _, _ in results)
    print(f"\n{'invariant':<{width}}  ok   detail")
    for name, ok, detail in results:
        print(f"{name:<{width}}  {'yes' if ok else 'NO '}  {detail}")
    broken = [name for name, ok, _ in results if not ok]
    print(f"\n{len(results) - len(broken)} passed, {len(broken)} failed")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
