"""Starts Azurite for the demo and the tests (installed by scripts/setup.sh into node_modules)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTS = (10000, 10001, 10002)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def local_environment(tag: str, mollie_url: str, stripe_url: str) -> dict[str, str]:
    """App settings for a local run against Azurite and the sandbox, with names unique to `tag`."""
    return {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "TABLE_PREFIX": tag,
        "SHOP_EVENTS_QUEUE": f"{tag}-shop-events",
        "SHOP_OUTCOMES_QUEUE": f"{tag}-shop-outcomes",
        "PAYMENT_CHECKS_QUEUE": f"{tag}-payment-checks",
        "STOCK_UPDATES_QUEUE": f"{tag}-stock-updates",
        "CLEANUP_QUEUE": f"{tag}-cleanup-work",
        "CLEANUP_SCAN_SCHEDULE": "0 0 * * * *",
        "PAYMENTS_SCAN_SCHEDULE": "0 */2 * * * *",
        "INVENTORY_SCAN_SCHEDULE": "0 * * * * *",
        "MOLLIE_API_BASE_URL": mollie_url,
        "MOLLIE_API_KEY": "test_sandbox",
        "STRIPE_API_BASE_URL": stripe_url,
        "STRIPE_API_KEY": "sk_test_sandbox",
    }


class Azurite:
    """Uses a running Azurite, or starts one (in memory) and stops it again on close()."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self._workdir: str | None = None
        self._log = None

    def start(self, timeout: float = 60.0) -> "Azurite":
        if all(_port_open(port) for port in PORTS):
            return self
        binary = ROOT / "node_modules" / ".bin" / "azurite"
        if not binary.exists():
            found = shutil.which("azurite")
            if not found:
                raise RuntimeError("Azurite is not installed: run `bash scripts/setup.sh` first")
            binary = Path(found)
        self._workdir = tempfile.mkdtemp(prefix="azurite-")
        self._log = open(Path(self._workdir) / "azurite.log", "wb")  # a file, not a pipe nobody drains
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, the project's own Azurite
            [str(binary), "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose",
             "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=self._log, cwd=self._workdir,
        )
        deadline = time.monotonic() + timeout
        while not all(_port_open(port) for port in PORTS):
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited: {(Path(self._workdir) / 'azurite.log').read_text(errors='replace')[:2000]}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Azurite did not open its ports in time")
            time.sleep(0.1)
        return self

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._log:
            self._log.close()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "Azurite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
