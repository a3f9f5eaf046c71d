"""A hostile world: provider answers, shop input and local HTTP calls that try to hurt the shop,
over real HTTP and Azurite. Each test names the attack it stands up to."""

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import httpx
import pypdfium2
import pytest

from autopilot_local import runner as runner_module
from ecommerce_tasks.http import close_http_client, request_json
from ecommerce_tasks.logs import mask_text
from ecommerce_tasks.notifications.render import render
from ecommerce_tasks.orders import load_order
from ecommerce_tasks.providers.email import Email, LocalMailbox
from ecommerce_tasks.settings import reload_settings
from ecommerce_tasks.providers.label_pdf import render_label
from ecommerce_tasks.shipping.model import load_shipment
from ecommerce_tasks.storage import container_client, read_blob
from ecommerce_tasks.work import failures_table
from tests import documented_providers as docs
from tests.conftest import drain_outcomes, function, order_event, payment_ref, place, send_raw

ADDRESS = {"name": "Jane Doe", "street": "Damrak", "house_number": "12", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}


@pytest.fixture
def sendcloud(env, monkeypatch):
    fake = docs.DocumentedProvider()
    monkeypatch.setenv("CARRIER", "sendcloud")
    monkeypatch.setenv("SENDCLOUD_API_BASE_URL", f"{fake.url}/api/v2")
    close_http_client()
    reload_settings()
    fake.answer("/api/v2/parcels", 200, {"parcels": []})  # the look-up before a create finds nothing
    yield fake
    fake.close()


@pytest.fixture
def elsewhere():
    """Another host (another port on loopback: another origin) that must never see our keys."""
    fake = docs.DocumentedProvider()
    fake.answer("/label.pdf", 200, docs.PDF, {"Content-Type": "application/pdf"})
    yield fake
    fake.close()


def paid_order(host, env, sandbox, order_id):
    payment_id = "tr_" + order_id.replace("-", "") + "pay"
    sandbox.payment("mollie", payment_id, ["paid"])
    place(host, env, order_id, payments=[payment_ref("mollie", payment_id)], shipping_address=ADDRESS)
    host.run_timer(function(host, "payments_scan"))
    host.drain(function(host, "payments_check"))
    assert load_order(order_id).order.status == "paid"


def make_labels(host):
    host.run_timer(function(host, "shipping_labels_scan"))
    host.drain(function(host, "shipping_label"))


def parcel_posts(fake):
    return sum(1 for path, _, headers in fake.calls if path == "/api/v2/parcels" and headers.get("Content-Length", "0") != "0")


def rejections(queue):
    return list(failures_table().query_entities("PartitionKey eq @q", parameters={"q": queue}))


# -- 1. provider URLs: credentials only to the configured host, capped, a PDF ----------------------

def test_a_label_url_on_another_host_gets_no_credentials_and_the_parcel_stays_recorded(host, env, sandbox, sendcloud, elsewhere):
    sendcloud.answer("/api/v2/parcels", 200, docs.sendcloud_parcel(501, "ev-1", f"{elsewhere.url}/label.pdf"), method="POST")
    paid_order(host, env, sandbox, "ev-1")
    make_labels(host)
    shipment = load_shipment("ev-1")
    assert shipment.state == "failed" and shipment.parcel_id == "501"
    assert "outside the configured API host" in shipment.failure_reason and "print its label there" in shipment.failure_reason
    assert elsewhere.calls == []  # never asked, so never given the Basic credentials
    make_labels(host)
    assert parcel_posts(sendcloud) == 1  # no second parcel bought
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue) if e["type"].startswith("shipment")] == ["shipment.label_failed"]


@pytest.mark.parametrize("headers", [{}, {"X-Test-No-Length": "1"}])
def test_an_oversized_label_is_refused_without_reading_it_all(host, env, sandbox, sendcloud, headers):
    sendcloud.answer("/api/v2/parcels", 200, docs.sendcloud_parcel(502, "big-1", f"{sendcloud.url}/api/v2/labels/label_printer/502"), method="POST")
    sendcloud.answer("/api/v2/labels/label_printer/502", 200, docs.PDF + b"0" * (3 * 1024 * 1024), {"Content-Type": "application/pdf", **headers})
    paid_order(host, env, sandbox, "big-1")
    make_labels(host)
    shipment = load_shipment("big-1")
    assert shipment.state == "failed" and shipment.parcel_id == "502" and "bytes" in shipment.failure_reason
    assert list(container_client(env.labels_container).list_blobs()) == []


def test_a_label_that_is_not_a_pdf_is_refused(host, env, sandbox, sendcloud):
    sendcloud.answer("/api/v2/parcels", 200, docs.sendcloud_parcel(503, "html-1", f"{sendcloud.url}/api/v2/labels/label_printer/503"), method="POST")
    sendcloud.answer("/api/v2/labels/label_printer/503", 200, b"<html>login</html>", {"Content-Type": "text/html"})
    paid_order(host, env, sandbox, "html-1")
    make_labels(host)
    assert "not of the expected kind" in load_shipment("html-1").failure_reason


def test_http_label_url_under_an_https_api_base_is_refused():
    from ecommerce_tasks.http import PermanentProviderError, require_origin

    with pytest.raises(PermanentProviderError):
        require_origin("sendcloud", "http://panel.sendcloud.sc/api/v2/labels/1", "https://panel.sendcloud.sc/api/v2")
    with pytest.raises(PermanentProviderError):
        require_origin("sendcloud", "https://panel.sendcloud.sc.evil.example/x", "https://panel.sendcloud.sc/api/v2")
    assert require_origin("sendcloud", "https://panel.sendcloud.sc/api/v2/labels/1", "https://panel.sendcloud.sc/api/v2").host == "panel.sendcloud.sc"


# -- 2. carrier ids never leave their folder -----------------------------------------------------

def test_a_tracking_number_cannot_climb_out_of_the_orders_folder(host, env, sandbox, sendcloud):
    label = f"{sendcloud.url}/api/v2/labels/label_printer/504"
    sendcloud.answer("/api/v2/parcels", 200, docs.sendcloud_parcel(504, "climb-1", label, tracking_number="../../victim/pwned"), method="POST")
    sendcloud.answer("/api/v2/labels/label_printer/504", 200, docs.PDF, {"Content-Type": "application/pdf"})
    paid_order(host, env, sandbox, "climb-1")
    make_labels(host)
    shipment = load_shipment("climb-1")
    assert shipment.state == "created" and shipment.label_blob == "climb-1/..%2F..%2Fvictim%2Fpwned.pdf"
    assert [b.name for b in container_client(env.labels_container).list_blobs()] == [shipment.label_blob]
    assert read_blob(env.labels_container, shipment.label_blob) == docs.PDF


# -- 3. redirects --------------------------------------------------------------------------------

def test_a_redirect_within_the_api_host_is_followed(host, env, sandbox, sendcloud):
    sendcloud.answer("/api/v2/parcels", 200, docs.sendcloud_parcel(505, "hop-1", f"{sendcloud.url}/api/v2/labels/label_printer/505"), method="POST")
    sendcloud.answer("/api/v2/labels/label_printer/505", 302, b"", {"Location": "/api/v2/labels/stored/505.pdf"})
    sendcloud.answer("/api/v2/labels/stored/505.pdf", 200, docs.PDF, {"Content-Type": "application/pdf"})
    paid_order(host, env, sandbox, "hop-1")
    make_labels(host)
    assert load_shipment("hop-1").state == "created"
    assert parcel_posts(sendcloud) == 1


def test_a_redirect_to_another_host_keeps_the_parcel_and_buys_no_second(host, env, sandbox, sendcloud, elsewhere):
    sendcloud.answer("/api/v2/parcels", 200, docs.sendcloud_parcel(506, "hop-2", f"{sendcloud.url}/api/v2/labels/label_printer/506"), method="POST")
    sendcloud.answer("/api/v2/labels/label_printer/506", 302, b"", {"Location": f"{elsewhere.url}/label.pdf"})
    paid_order(host, env, sandbox, "hop-2")
    make_labels(host)
    make_labels(host)
    shipment = load_shipment("hop-2")
    assert (shipment.state, shipment.parcel_id) == ("failed", "506") and elsewhere.calls == []
    assert parcel_posts(sendcloud) == 1


def test_a_label_fetch_that_fails_for_now_is_retried_and_finds_the_same_parcel(host, env, sandbox, sendcloud):
    label = f"{sendcloud.url}/api/v2/labels/label_printer/507"
    parcel = docs.sendcloud_parcel(507, "flaky-1", label)
    sendcloud.answer("/api/v2/parcels", 200, parcel, method="POST")
    sendcloud.routes[("GET", "/api/v2/parcels")] = [(200, {"parcels": []}, {}), (200, {"parcels": [parcel["parcel"]]}, {})]
    sendcloud.answer("/api/v2/labels/label_printer/507", 503, {"error": {"code": 503, "message": "busy"}})
    sendcloud.answer("/api/v2/labels/label_printer/507", 200, docs.PDF, {"Content-Type": "application/pdf"})
    paid_order(host, env, sandbox, "flaky-1")
    for _ in range(4):
        make_labels(host)
    assert load_shipment("flaky-1").state == "created" and parcel_posts(sendcloud) == 1


# -- 4. Retry-After that is not a number or a date ----------------------------------------------

@pytest.mark.parametrize("value", ["garbage", "Wed, 99 Foo 2026 25:61:00", "inf", "nan", ""])
def test_unreadable_retry_after_falls_back_to_the_backoff(env, value):
    fake = docs.DocumentedProvider()
    try:
        fake.answer("/v2/payments/tr_retry0001", 503, {"status": 503, "title": "Service Unavailable"}, {"Retry-After": value})
        fake.answer("/v2/payments/tr_retry0001", 200, {"ok": True})
        assert request_json("mollie", "GET", f"{fake.url}/v2/payments/tr_retry0001") == {"ok": True}
        assert fake.asked("/v2/payments/tr_retry0001") == 2
    finally:
        fake.close()


# -- 5-8. shop input ----------------------------------------------------------------------------

def intake(host):
    host.drain(function(host, "intake_shop_events"))


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:30:00+01:00", "1999-12-31T23:59:59+00:00"])
def test_implausible_times_are_rejected_once_with_a_reason(host, env, when):
    send_raw(env.shop_events_queue, order_event("o-time", placed_at=when))
    send_raw(env.shop_events_queue, {"type": "stock.changed", "event_id": "rc-9999", "sku": "MUG", "kind": "recount", "counted": 5, "occurred_at": when})
    stats = host.drain(function(host, "intake_shop_events"))
    assert (stats.processed, stats.failed) == (2, 0)  # each rejected on its first delivery
    found = rejections(env.shop_events_queue)
    assert len(found) == 2 and all("time must lie between 2000-01-01" in f["reason"] for f in found)
    assert load_order("o-time").order is None


@pytest.mark.parametrize(
    ("customer", "problem"),
    [({"email": "jösé@exämple.com", "name": "José"}, "Internationalized"),
     ({"email": "x>,<victim@evil.example", "name": "Xander"}, "e-mail address"),
     ({"email": "jane@example.com", "name": "Jane\u202eeoD"}, "bidirectional"),
     ({"email": "jane@example.com", "name": "Jane\u0000Doe"}, "control")],
)
def test_addresses_and_names_that_would_break_or_disguise_an_email_are_rejected(host, env, customer, problem):
    send_raw(env.shop_events_queue, order_event("o-mail", customer=customer))
    intake(host)
    [found] = rejections(env.shop_events_queue)
    assert problem in found["reason"]
    for value in customer.values():
        assert value not in found["body"] and value not in found["reason"]


def test_headers_are_built_with_the_email_package_one_recipient_however_odd_the_name(tmp_path, env):
    mailbox = LocalMailbox(env)
    mailbox.folder = tmp_path
    path = mailbox.send(Email("jane@example.com", 'Doe, Jane "Q" <evil@x.example>', "Hi", "text", "<p>html</p>", "k:1"))
    mail = BytesParser(policy=policy.default).parsebytes(Path(path).read_bytes())
    assert [a.addr_spec for a in mail["To"].addresses] == ["jane@example.com"]


@pytest.mark.parametrize("line", [{"sku": "MUG", "quantity": "5"}, {"sku": "MUG", "quantity": True}, {"sku": "MUG", "quantity": 5.0}])
def test_numbers_are_numbers(host, env, line):
    send_raw(env.shop_events_queue, order_event("o-types", lines=[line]))
    intake(host)
    [found] = rejections(env.shop_events_queue)
    assert "lines.0.quantity" in found["reason"]


def test_deeply_nested_json_is_rejected_once_and_the_rest_still_runs(host, env):
    send_raw(env.shop_events_queue, "[" * 20000)
    send_raw(env.shop_events_queue, order_event("o-after-deep"))
    stats = host.drain(function(host, "intake_shop_events"))
    assert (stats.processed, stats.failed) == (2, 0)
    [found] = rejections(env.shop_events_queue)
    assert found["kind"] == "rejected" and "recursion" in found["reason"].lower()
    assert load_order("o-after-deep").order is not None


# -- 9. links in e-mails --------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "http://track.example/1", "https://track.example/1\"><script>"])
def test_only_https_links_go_into_emails(url):
    context = {"shop": {"name": "S", "url": "https://shop.example"}, "customer": {"name": "C"},
               "order": {"id": "1", "amount": "1.00", "currency": "EUR", "lines": []},
               "event": {"carrier": "sendcloud", "tracking_number": "3S1", "tracking_url": url, "message": "x"}}
    for template in ("order_shipped", "delivery_problem"):
        mail = render(template, context, "c@example.com", "C", "k")
        assert url not in mail.html and url not in mail.text and "href=\"\"" not in mail.html
    safe = render("order_shipped", {**context, "event": {**context["event"], "tracking_url": "https://track.example/ok"}}, "c@example.com", "C", "k")
    assert 'href="https://track.example/ok"' in safe.html


# -- 10. customer data masked in failure records and operator output ---------------------------

PLANTED = {"email": "rené.o@example.com", "name": 'Ren\u00e9 "Q" O\'Brien', "street": "Geheimestraat", "house_number": "77b",
           "postal_code": "9999 ZZ", "phone": "+31 6 1234 5678", "city": "Verborgenstad", "company": "Secret BV"}


def planted_events():
    address = {k: PLANTED[k] for k in ("name", "street", "house_number", "postal_code", "phone", "city", "company")}
    customer = {"email": "rene.o@example.com", "name": PLANTED["name"]}
    return [
        {**order_event("o-pii", customer=customer, shipping_address=address), "unexpected": 1},
        {"type": "checkout.updated", "event_id": "c-pii", "checkout_id": "c-pii", "step": "address", "occurred_at": "2026-11-30T10:00:00+00:00",
         "email": "rene.o@example.com", "name": PLANTED["name"], "unexpected": 1},
        {"type": "customer.erasure_requested", "event_id": "e-pii", "email": "rene.o@example.com", "requested_at": "2026-11-30T10:00:00+00:00", "unexpected": 1},
    ]


def test_every_personal_field_of_every_event_is_masked_in_failure_records(host, env):
    for event in planted_events():
        send_raw(env.shop_events_queue, json.dumps(event, ensure_ascii=True))  # names as \\u00e9 escapes
        send_raw(env.shop_events_queue, json.dumps(event, ensure_ascii=False) + " trailing garbage")  # not JSON: by pattern
    intake(host)
    found = rejections(env.shop_events_queue)
    assert len(found) == 6
    secrets_ = [*PLANTED.values(), "rene.o@example.com", "Ren\\u00e9", "Geheime", "Verborgen", "1234 5678", "9999 ZZ", "77b"]
    for record in found:
        for secret in secrets_:
            assert secret not in record["body"] and secret not in record["reason"], (secret, record["body"][:300])


def test_poison_list_masks_bodies_and_shows_the_real_tries(host, env):
    body = {"order_id": "o-poison", "customer": {"email": "rene.o@example.com", "name": "René Secret"}}
    from ecommerce_tasks.work import record_failure

    record_failure(env.payment_checks_queue, "m1", json.dumps(body), "failed", "boom", 5)
    from ecommerce_tasks.storage import queue_client

    queue_client(env.payment_checks_queue + "-poison").send_message(json.dumps(body))
    printed = subprocess.run([sys.executable, "-m", "autopilot_local", "poison", "list", "--queue", env.payment_checks_queue],
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert "(tries 5)" in printed.stdout and "rene.o@example.com" not in printed.stdout and "Secret" not in printed.stdout


# -- 11. labels in every script --------------------------------------------------------------------

def test_local_labels_print_latin_extended_greek_and_cyrillic():
    names = ["Łukasz Żółć", "Jiří Dvořák", "Αθηνά Παπαδοπούλου", "Дмитрий Иванов"]
    recipient = {"name": names[0], "company": names[1], "street": names[2], "house_number": "1", "postal_code": "00-950", "city": names[3], "country": "PL"}
    pdf = render_label("LOC123", "https://track.example/LOC123", {"name": "Shop", "city": "Amsterdam"}, recipient, "o-1")
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    for name in names:
        assert name in text
    assert "\u25a0" not in text and "\ufffd" not in text


# -- 12. local mailbox file names --------------------------------------------------------------

def test_mailbox_names_never_collide(tmp_path, env):
    mailbox = LocalMailbox(env)
    mailbox.folder = tmp_path
    first = mailbox.send(Email("a@example.com", "A", "one", "1", "<p>1</p>", "p-col:a"))
    second = mailbox.send(Email("a@example.com", "A", "two", "2", "<p>2</p>", "p-col_a"))
    assert first != second and len(list(tmp_path.glob("*.eml"))) == 2


# -- 13. Stripe signatures ---------------------------------------------------------------------

def stripe_signature(body: bytes, secret: str, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


def test_stripe_webhooks_must_be_signed_when_a_secret_is_set(host, env, sandbox, api, monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_test_secret")
    reload_settings()
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_sig00001", "object": "payment_intent"}}}).encode()
    assert api.post("/payments/webhook/stripe", content=body, headers={"Stripe-Signature": stripe_signature(body, "whsec_test_secret")}).status_code == 200
    for bad in ("", "t=1,v1=00", stripe_signature(body, "whsec_other"), stripe_signature(body, "whsec_test_secret", int(time.time()) - 600)):
        assert api.post("/payments/webhook/stripe", content=body, headers={"Stripe-Signature": bad}).status_code == 400
    assert len(drain_outcomes(env.payment_checks_queue)) == 1  # only the signed call made a check
    assert sandbox.requests().get("/stripe/v1/payment_intents/pi_sig00001") is None  # no provider call at all


@pytest.mark.parametrize("body", ['{"data":{"object":{"id":123}}}', '{"data":{"object":{"id":["pi_a1234"]}}}', "[" * 20000, '{"data": []}'])
def test_malformed_stripe_bodies_get_400_not_500(api, body):
    assert api.post("/payments/webhook/stripe", content=body).status_code == 400


# -- 14-15. the local HTTP server -----------------------------------------------------------------

def raw_request(port: int, data: bytes, timeout: float = 20) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def server(host, monkeypatch):
    import threading

    monkeypatch.setattr(runner_module, "HTTP_SOCKET_TIMEOUT_SECONDS", 1)
    http = host.http_server(0)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield http.server_address[1]
    http.shutdown()
    http.server_close()


def test_serve_answers_bad_requests_clearly(server):
    route = "POST /api/payments/webhook/mollie HTTP/1.1\r\nHost: x\r\nx-functions-key: test-function-key\r\n"
    assert raw_request(server, f"{route}Content-Length: abc\r\n\r\n".encode()).startswith(b"HTTP/1.0 400")
    assert raw_request(server, f"{route}Content-Length: -1\r\n\r\n".encode()).startswith(b"HTTP/1.0 400")
    assert raw_request(server, f"{route}Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode()).startswith(b"HTTP/1.0 413")
    non_ascii = "POST /api/payments/webhook/mollie HTTP/1.1\r\nHost: x\r\nx-functions-key: kéy\r\nContent-Length: 0\r\n\r\n"
    assert raw_request(server, non_ascii.encode("latin-1")).startswith(b"HTTP/1.0 401")


def test_serve_drops_idle_connections(server):
    started = time.monotonic()
    assert raw_request(server, b"") == b""  # the server hangs up on a client that says nothing
    assert time.monotonic() - started < 15


def test_a_blank_function_key_is_never_the_key(env, monkeypatch):
    monkeypatch.setenv("LOCAL_FUNCTION_KEY", " ")
    key = runner_module.LocalHost().function_key()
    assert key.strip() and len(key) >= 16


def test_the_function_key_is_never_logged(host, api, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="autopilot_local.runner")
    httpx.post(str(api.base_url).rstrip("/") + "/payments/webhook/mollie?code=test-function-key", data={"id": "tr_nokey0001"})
    assert "test-function-key" not in caplog.text and "code=***" in caplog.text


def test_serve_refuses_to_start_without_its_queue_settings(env, monkeypatch, tmp_path):
    environment = {k: v for k, v in __import__("os").environ.items() if k not in {"PAYMENT_CHECKS_QUEUE", "TRACKING_SCAN_SCHEDULE"}}
    done = subprocess.run([sys.executable, "-m", "autopilot_local", "serve", "--port", "0"], env=environment, cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "PAYMENT_CHECKS_QUEUE" in done.stderr and "TRACKING_SCAN_SCHEDULE" in done.stderr and "KeyError" not in done.stderr
    with pytest.raises(runner_module.StartupError):
        monkeypatch.delenv("PAYMENT_CHECKS_QUEUE")
        runner_module.LocalHost().serve(__import__("threading").Event(), http_port=None)


def test_masking_by_pattern_handles_escapes():
    assert "Ren" not in mask_text('broken {"name": "Ren\\u00e9 \\"Q\\"", "street": "Damrak 1" ...')


def test_an_acs_operation_location_on_another_host_is_not_polled_with_our_signature(env, elsewhere):
    from ecommerce_tasks.http import PermanentProviderError
    from ecommerce_tasks.providers.email import AcsEmail

    acs = docs.DocumentedProvider()
    try:
        acs.answer("/emails:send", 202, {"id": "op-1", "status": "Running"}, {"Operation-Location": f"{elsewhere.url}/label.pdf"}, method="POST")
        sender = AcsEmail(env, poll_interval=0)
        sender.endpoint = acs.url
        with pytest.raises(PermanentProviderError, match="outside the configured API host"):
            sender.send(Email("a@example.com", "A", "s", "t", "<p>h</p>", "k:acs"))
        assert elsewhere.calls == []
    finally:
        acs.close()
