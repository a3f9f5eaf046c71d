"""Starts Azurite for the demo and the tests (installed by scripts/setup.sh into node_modules)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # nosec B404
import tempfile
import time
from pathlib import Path
from typing import Any

from autopilot_sandbox import SANDBOX_ACS_KEY, SANDBOX_SENDCLOUD_KEYS

ROOT = Path(__file__).resolve().parent.parent
PORTS = (10000, 10001, 10002)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def local_environment(tag: str, sandbox_url: str, email_dir: str | None = None) -> dict[str, str]:
    """App settings for a local run against Azurite and the sandbox providers, with names unique to `tag`."""
    return {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "TABLE_PREFIX": tag,
        "SHOP_EVENTS_QUEUE": f"{tag}-shop-events",
        "SHOP_OUTCOMES_QUEUE": f"{tag}-shop-outcomes",
        "PAYMENT_CHECKS_QUEUE": f"{tag}-payment-checks",
        "STOCK_UPDATES_QUEUE": f"{tag}-stock-updates",
        "CLEANUP_QUEUE": f"{tag}-cleanup-work",
        "LABEL_REQUESTS_QUEUE": f"{tag}-label-requests",
        "TRACKING_QUEUE": f"{tag}-tracking-checks",
        "NOTIFICATIONS_QUEUE": f"{tag}-notifications",
        "WEBHOOK_QUEUE": f"{tag}-webhook-deliveries",
        "LABELS_CONTAINER": f"{tag}-labels",
        "CLEANUP_SCAN_SCHEDULE": "0 0 * * * *",
        "PAYMENTS_SCAN_SCHEDULE": "0 */2 * * * *",
        "SHIPPING_LABELS_SCHEDULE": "0 */5 * * * *",
        "TRACKING_SCAN_SCHEDULE": "0 */15 * * * *",
        "INVENTORY_SCAN_SCHEDULE": "0 * * * * *",
        "MOLLIE_API_BASE_URL": f"{sandbox_url}/mollie/v2",
        "MOLLIE_API_KEY": "test_sandbox",
        "STRIPE_API_BASE_URL": f"{sandbox_url}/stripe/v1",
        "STRIPE_API_KEY": "sk_test_sandbox",
        "SENDCLOUD_API_BASE_URL": f"{sandbox_url}/sendcloud/api/v2",
        "SENDCLOUD_PUBLIC_KEY": SANDBOX_SENDCLOUD_KEYS[0],
        "SENDCLOUD_SECRET_KEY": SANDBOX_SENDCLOUD_KEYS[1],
        "POSTNL_API_BASE_URL": f"{sandbox_url}/postnl",
        "POSTNL_API_KEY": "sandbox-postnl-key",
        "SENDGRID_API_BASE_URL": f"{sandbox_url}/sendgrid/v3",
        "SENDGRID_API_KEY": "SG.sandbox",
        # The sandbox's ACS resource key: base64 of a throwaway value, not a secret.
        "ACS_CONNECTION_STRING": f"endpoint={sandbox_url}/acs;accesskey={SANDBOX_ACS_KEY}",
        "EMAIL_OUTBOX_DIR": email_dir or f".local/{tag}/emails",
    }


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """Asks a child process to stop, and kills it if it does not within the timeout."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def connection_string(ports: tuple[int, int, int] = PORTS) -> str:
    from ecommerce_tasks.settings import AZURITE_CONNECTION_STRING

    connection = AZURITE_CONNECTION_STRING
    for default, port in zip(PORTS, ports, strict=True):
        connection = connection.replace(f":{default}/", f":{port}/")
    return connection


class Azurite:
    """Uses a running Azurite, or starts one and stops it again on close().

    In memory by default; with `location`, on disk there (kept after close), so that restart()
    brings back the same data, as the soak's fault injection needs.
    """

    def __init__(self, location: Path | None = None, ports: tuple[int, int, int] = PORTS, extra_args: tuple[str, ...] = ()) -> None:
        self.process: subprocess.Popen | None = None
        self.location = location
        self.ports = ports
        self.extra_args = extra_args  # e.g. HTTPS and OAuth: ("--oauth", "basic", "--cert", ..., "--key", ...)
        self._workdir: str | None = None
        self._log: Any = None

    def restart(self) -> None:
        self.close()
        self.start()

    def start(self, timeout: float = 60.0) -> "Azurite":
        if all(port_open(port) for port in self.ports):
            return self
        binary = ROOT / "node_modules" / ".bin" / "azurite"
        if not binary.exists():
            found = shutil.which("azurite")
            if not found:
                raise RuntimeError("Azurite is not installed: run `bash scripts/setup.sh` first")
            binary = Path(found)
        self._workdir = tempfile.mkdtemp(prefix="azurite-")
        self._log = open(Path(self._workdir) / "azurite.log", "wb")  # a file, not a pipe nobody drains
        storage = ["--location", str(self.location)] if self.location else ["--inMemoryPersistence"]
        blob, queue, table = (str(port) for port in self.ports)
        # Fixed arguments: the project's own Azurite.
        self.process = subprocess.Popen(  # noqa: S603 # nosec B603
            [str(binary), "--silent", *storage, "--skipApiVersionCheck", "--loose",
             "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
             "--blobPort", blob, "--queuePort", queue, "--tablePort", table, *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=self._log, cwd=self._workdir,
            # In-memory storage of a large benchmark (100,000s of entities) outgrows Node's default heap.
            env={**os.environ, "NODE_OPTIONS": "--max-old-space-size=8192"},
        )
        deadline = time.monotonic() + timeout
        while not all(port_open(port) for port in self.ports):
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited: {(Path(self._workdir) / 'azurite.log').read_text(errors='replace')[:2000]}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Azurite did not open its ports in time")
            time.sleep(0.1)
        return self

    def close(self) -> None:
        stop_process(self.process)
        self.process = None
        if self._log:
            self._log.close()
            self._log = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "Azurite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
