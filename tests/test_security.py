"""Security checks that can fail: keys on every HTTP route, no secret in the repo, every input validated."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ecommerce_tasks.work import failure_for
from tests.conftest import send_raw

ROOT = Path(__file__).parent.parent
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SECRET_SHAPES = {
    "Stripe live key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{10,}"),
    "Mollie live key": re.compile(r"\blive_[0-9A-Za-z]{25,}"),
    "SendGrid key": re.compile(r"\bSG\.[0-9A-Za-z_-]{16,}\.[0-9A-Za-z_-]{16,}"),
    "storage account key": re.compile(r"AccountKey=([0-9A-Za-z+/=]{40,})"),
    "ACS access key": re.compile(r"accesskey=([0-9A-Za-z+/=]{40,})", re.IGNORECASE),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Application Insights key": re.compile(r"InstrumentationKey=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}


def test_every_http_route_requires_a_function_key(host):
    routes = [f for f in host.functions if f.kind == "http"]
    assert routes, "the app has HTTP routes (the payment webhooks)"
    for function in routes:
        level = str(getattr(function.trigger.auth_level, "value", function.trigger.auth_level)).lower()
        assert level == "function", f"{function.name} is {level}"


def test_no_secret_is_committed():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".pdf"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for what, shape in SECRET_SHAPES.items():
            for match in shape.finditer(text):
                if AZURITE_KEY in match.group(0) or set(match.group(0).split("=", 1)[1]) <= {"0", "-"}:
                    continue  # Azurite's published development key; an all-zero placeholder
                found.append(f"{name}: {what}")
    assert found == []


def test_the_secret_scan_catches_a_planted_key():
    planted = "STRIPE_API_KEY=sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    assert SECRET_SHAPES["Stripe live key"].search(planted)


def test_every_queue_function_rejects_malformed_input_with_a_reason(host, env):
    queues = [host.queue_name(f) for f in host.functions if f.kind == "queue"]
    assert len(queues) >= 7
    for queue in queues:
        send_raw(queue, "not json at all")
        send_raw(queue, {"unexpected": "shape"})
    for function in (f for f in host.functions if f.kind == "queue"):
        stats = host.drain(function)
        assert stats.poisoned == 0, function.name
    for queue in queues:
        for body in ("not json at all", '{"unexpected": "shape"}'):
            record = failure_for(queue, body)
            assert record and record["kind"] == "rejected" and record["reason"], (queue, body)
