"""Any shop over HTTP, through the runner's `serve` and Azurite: events in (mixed batches, limits),
signed webhooks out (verified with the Standard Webhooks library, outages, refusals, rotation),
and an order's status."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from standardwebhooks import Webhook

from ecommerce_tasks.orders import load_order
from ecommerce_tasks.settings import reload_settings
from ecommerce_tasks.shop_events import SHOP_EVENT
from ecommerce_tasks.webhooks.delivery import deliveries, replay, sign
from tests.conftest import function, order_event, payment_ref, place

ROOT = Path(__file__).parent.parent
SECRET = "whsec_" + base64.b64encode(b"the shop's webhook secret, 32 b.").decode()
NEXT_SECRET = "whsec_" + base64.b64encode(b"the rotated-in secret, 32 bytes!").decode()
ADDRESS = {"name": "Sam Shop", "street": "Damrak", "house_number": "12", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}


@pytest.fixture
def receiver(env, sandbox, sandbox_server, monkeypatch):
    monkeypatch.setenv("SHOP_WEBHOOK_URL", f"{sandbox_server.url}/shop/webhooks")
    monkeypatch.setenv("SHOP_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_RETRY_SECONDS", "0,0,0")  # a day's schedule, squeezed: what matters is the order of tries
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "1")
    reload_settings()
    sandbox.webhook_receiver(SECRET)
    return sandbox


def deliver_all(host):
    return host.drain(function(host, "webhooks_deliver"))


def paid(host, env, sandbox, order_id):
    sandbox.payment("mollie", f"tr_{order_id.replace('-', '')}x", ["paid"])
    place(host, env, order_id, payments=[payment_ref("mollie", f"tr_{order_id.replace('-', '')}x")], shipping_address=ADDRESS)
    host.run_timer(function(host, "payments_scan"))
    host.drain(function(host, "payments_check"))


# -- events in ---------------------------------------------------------------------------------

def test_a_mixed_batch_accepts_the_valid_events_in_order_and_rejects_the_others(host, env, api):
    events = [order_event("http-1"), {**order_event("http-2"), "amount": "lots"}, order_event("http-3")]
    answer = api.post("/events", json=events)
    assert answer.status_code == 202
    results = answer.json()["results"]
    assert [(r["event_id"], r["status"]) for r in results] == [("evt-http-1", "accepted"), ("evt-http-2", "rejected"), ("evt-http-3", "accepted")]
    assert "amount" in results[1]["reason"] and results[0]["reason"] is None
    host.drain(function(host, "intake_shop_events"))
    assert load_order("http-1").order and load_order("http-3").order and load_order("http-2").order is None
    again = api.post("/events", json=order_event("http-1"))  # the same event again: harmless
    assert again.status_code == 202 and again.json()["results"][0]["status"] == "accepted"
    assert host.drain(function(host, "intake_shop_events")).succeeded == 1 and load_order("http-1").order.status == "awaiting_payment"


def test_the_limits_a_client_can_rely_on(api):
    assert api.post("/events", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    malformed = api.post("/events", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    assert api.post("/events", json=[order_event(f"many-{i}") for i in range(101)]).status_code == 413
    big = json.dumps([{**order_event("big"), "pad": "x" * (1024 * 1024)}]).encode()
    assert api.post("/events", content=big, headers={"content-type": "application/json"}).status_code == 413
    assert api.post("/events", json=[]).status_code == 400
    assert httpx.post(str(api.base_url).rstrip("/") + "/events", json=order_event("nokey")).status_code == 401


# -- webhooks out --------------------------------------------------------------------------------

def test_every_shop_event_is_delivered_signed_and_verifies_with_the_library(host, env, receiver):
    paid(host, env, receiver, "hook-1")
    stats = deliver_all(host)
    received = receiver.webhooks_received()
    assert stats.succeeded >= 1 and received and all(r["verified"] for r in received)
    event = json.loads(received[0]["body"])
    assert event["type"] == "order.paid" and received[0]["id"] == event["event_id"] == "hook-1:order.paid"
    # The shop's own check, as the library's users write it:
    headers = sign(event["event_id"], datetime.now(timezone.utc), received[0]["body"], [SECRET])
    assert Webhook(SECRET).verify(received[0]["body"], headers)["event_id"] == "hook-1:order.paid"
    [delivered] = [d for d in deliveries() if d["event_id"] == "hook-1:order.paid"]
    assert delivered["state"] == "delivered" and delivered["attempts"][0]["status_code"] == 200
    assert "hook-1" not in json.dumps(delivered["attempts"])  # attempts hold no body


def test_a_receiver_down_for_a_while_gets_the_event_once_it_is_back(host, env, receiver):
    receiver.webhook_receiver(SECRET, answers=[503, "timeout", 500], delay=2.0)
    paid(host, env, receiver, "hook-down")
    for _ in range(4):  # each try re-sends the work item with the schedule's delay (0 here)
        deliver_all(host)
    answers = [r["answer"] for r in receiver.webhooks_received() if r["id"] == "hook-down:order.paid"]
    assert answers == [503, "timeout", 500, 200]  # late, but delivered, and then no more
    [entry] = [d for d in deliveries() if d["event_id"] == "hook-down:order.paid"]
    assert entry["state"] == "delivered" and [a["outcome"] for a in entry["attempts"]] == ["retrying", "retrying", "retrying", "delivered"]
    assert entry["attempts"][1]["error"] == "timeout"


@pytest.mark.parametrize("refusal", [410, 400])
def test_a_receiver_that_refuses_is_recorded_as_failed_not_retried_for_ever(host, env, receiver, refusal):
    receiver.webhook_receiver(SECRET, answers=[refusal])
    paid(host, env, receiver, f"hook-{refusal}")
    deliver_all(host)
    deliver_all(host)
    tries = [r for r in receiver.webhooks_received() if r["id"] == f"hook-{refusal}:order.paid"]
    assert len(tries) == 1
    [entry] = deliveries(failed_only=True)
    assert entry["event_id"] == f"hook-{refusal}:order.paid" and entry["attempts"][0]["status_code"] == refusal
    assert replay(failed=True) == 1  # the operator fixed the shop: send it again
    deliver_all(host)
    assert [r["answer"] for r in receiver.webhooks_received() if r["id"] == f"hook-{refusal}:order.paid"] == [refusal, 200]


def test_the_schedule_ends_in_a_recorded_failure(host, env, receiver):
    receiver.webhook_receiver(SECRET, answers=[500, 500, 500, 500, 500])
    paid(host, env, receiver, "hook-gone")
    for _ in range(6):
        deliver_all(host)
    [entry] = deliveries(failed_only=True)
    assert len(entry["attempts"]) == 4 and entry["attempts"][-1]["outcome"] == "failed"  # three waits, then it stops


def test_during_a_rotation_both_signatures_are_sent_and_each_secret_verifies(host, env, receiver, monkeypatch):
    monkeypatch.setenv("SHOP_WEBHOOK_SECRET", f"{SECRET} {NEXT_SECRET}")
    reload_settings()
    receiver.webhook_receiver(NEXT_SECRET)  # the shop already switched
    paid(host, env, receiver, "hook-rotate")
    deliver_all(host)
    [call] = [r for r in receiver.webhooks_received() if r["id"] == "hook-rotate:order.paid"]
    assert call["verified"] and call["signatures"] == 2
    headers = sign("hook-rotate:order.paid", datetime.now(timezone.utc), call["body"], [SECRET, NEXT_SECRET])
    for secret in (SECRET, NEXT_SECRET):
        assert Webhook(secret).verify(call["body"], headers)


def test_operators_list_and_replay_webhooks(host, env, receiver):
    receiver.webhook_receiver(SECRET, answers=[404])
    paid(host, env, receiver, "hook-cli")
    deliver_all(host)
    listed = subprocess.run([sys.executable, "-m", "autopilot_local", "webhooks", "list", "--failed"], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ))
    assert "hook-cli:order.paid" in listed.stdout and "failed" in listed.stdout and "1 event(s)" in listed.stdout
    replayed = subprocess.run([sys.executable, "-m", "autopilot_local", "webhooks", "replay", "--event-id", "hook-cli:order.paid"],
                              capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert "queued 1 event(s)" in replayed.stdout


# -- order status ------------------------------------------------------------------------------

def test_an_orders_status_payments_and_shipment_on_request(host, env, sandbox, api):
    paid(host, env, sandbox, "status-1")
    host.run_timer(function(host, "shipping_labels_scan"))
    host.drain(function(host, "shipping_label"))
    status = api.get("/orders/status-1").json()
    assert status["status"] == "paid" and status["payments"][0]["payment_id"] == "tr_status1x"
    assert status["payments"][0]["status"] == "paid" and status["paid"]["method"] == "ideal"
    assert status["shipment"]["state"] == "created" and status["shipment"]["tracking_number"]
    label = api.get(status["shipment"]["label"].removeprefix("/api"))
    assert label.status_code == 200 and label.content.startswith(b"%PDF-")
    assert "test_sandbox" not in json.dumps(status)  # never a provider key
    assert api.get("/orders/no-such-order").status_code == 404
    assert api.get("/orders/no-such-order/label").status_code == 404


# -- the docs -----------------------------------------------------------------------------------

def test_the_openapi_document_matches_the_routes_and_its_examples_validate(host):
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert spec["openapi"].startswith("3.1")
    documented = {path for path in spec["paths"]}
    routes = {"/api/" + f.trigger.route for f in host.functions if f.kind == "http"}
    assert documented == routes
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert operation["security"] and operation["responses"]
            examples = (operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples") or {})
            for example in examples.values():
                for event in example["value"] if isinstance(example["value"], list) else [example["value"]]:
                    SHOP_EVENT.validate_json(json.dumps(event))


def test_the_integration_guides_examples_verify_a_signature_made_by_the_app(tmp_path):
    body = json.dumps({"event_id": "1001:order.paid", "type": "order.paid", "order_id": "1001"})
    headers = sign("1001:order.paid", datetime.now(timezone.utc), body, [SECRET])
    guide = (ROOT / "docs" / "integrating.md").read_text()

    def example(language: str) -> str:
        start = guide.index(f"```{language}\n") + len(language) + 4
        return guide[start:guide.index("```", start)]

    python_file = tmp_path / "verify.py"
    python_file.write_text(example("python"))
    node_file = tmp_path / "verify.js"
    node_file.write_text(example("javascript"))
    environment = {**os.environ, "WEBHOOK_SECRET": SECRET, "BODY": body, **{h.upper().replace("-", "_"): v for h, v in headers.items()}}
    ran = subprocess.run([sys.executable, str(python_file)], capture_output=True, text=True, env=environment, timeout=60)
    assert ran.returncode == 0 and "verified 1001:order.paid" in ran.stdout, ran.stderr
    ran = subprocess.run(["node", str(node_file)], capture_output=True, text=True, env=environment, timeout=60)
    assert ran.returncode == 0 and "verified 1001:order.paid" in ran.stdout, ran.stderr
    forged = subprocess.run(["node", str(node_file)], capture_output=True, text=True, env={**environment, "BODY": body + " "}, timeout=60)
    assert forged.returncode != 0
    php_file = tmp_path / "verify.php"
    php_file.write_text(example("php"))
    ran = subprocess.run(["php", str(php_file)], capture_output=True, text=True, env=environment, timeout=60)
    assert ran.returncode == 0 and "verified 1001:order.paid" in ran.stdout, ran.stdout + ran.stderr
    forged = subprocess.run(["php", str(php_file)], capture_output=True, text=True, env={**environment, "BODY": body + " "}, timeout=60)
    assert forged.returncode != 0
    assert "```bash\n" in guide
