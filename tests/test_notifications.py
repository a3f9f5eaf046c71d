"""Customer e-mails: exactly once per order and event, through SendGrid, ACS and the local mailbox."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path

from ecommerce_tasks.notifications.worker import NotifyMessage, ledger_table, send_notification
from ecommerce_tasks.providers.email import AcsEmail, Email
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.storage import REQUEST_COUNTER
from ecommerce_tasks.work import failure_for
from tests.conftest import function, payment_ref, place, send_raw
from tests.test_shipping import ADDRESS, paid_order, use


def notification(order_id: str, event_type: str = "order.paid", data: dict | None = None) -> dict:
    return {"order_id": order_id, "event_id": f"{order_id}:{event_type}", "type": event_type, "data": data or {}}


def emails(sandbox, order_id: str | None = None) -> list[dict]:
    return [m for m in sandbox.shipping()["emails"] if order_id is None or (m["key"] or "").startswith(order_id) or order_id in m["subject"]]


def drain(host) -> None:
    host.drain(function(host, "notifications_send"))


def test_paid_order_gets_one_confirmation_through_the_whole_path(host, env, sandbox):
    paid_order(host, env, sandbox, "mail-paid")
    drain(host)
    mail = BytesParser(policy=policy.default).parsebytes((Path(env.email_outbox_dir) / "mail-paid_order.paid.eml").read_bytes())
    assert mail["To"] == "Jane Doe <jane.doe@example.com>"
    assert mail["Subject"] == "Thank you for your order mail-paid"
    assert "10.00 EUR" in mail.get_body(("plain",)).get_content()
    assert "<strong>10.00 EUR</strong>" in mail.get_body(("html",)).get_content()


def test_duplicate_and_concurrent_messages_send_one_email(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    place(host, env, "mail-dup", shipping_address=ADDRESS)
    for _ in range(8):
        send_raw(env.notifications_queue, notification("mail-dup"))
    sandbox.latency(0.05)
    drain(host)  # one batch of 16: all 8 run concurrently
    for _ in range(3):
        send_raw(env.notifications_queue, notification("mail-dup"))  # and late repeats
    drain(host)
    sandbox.latency(0)
    assert len(emails(sandbox, "mail-dup")) == 1
    row = ledger_table().get_entity("mail-dup", "mail-dup:order.paid")
    assert row["state"] == "sent" and row["provider"] == "sendgrid" and row["to"] != "jane.doe@example.com"


def test_sendgrid_429_with_rate_limit_reset_and_5xx_are_retried_into_one_email(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    place(host, env, "mail-429")
    sandbox.faults("POST /sendgrid/v3/mail/send", {"status": 429}, {"status": 502})
    send_raw(env.notifications_queue, notification("mail-429"))
    drain(host)
    assert sandbox.requests()["POST /sendgrid/v3/mail/send"] == 3
    assert len(emails(sandbox, "mail-429")) == 1


def test_sendgrid_refusal_is_recorded_once_not_retried(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="wrong-key")
    place(host, env, "mail-401")
    body = json.dumps(notification("mail-401"))
    send_raw(env.notifications_queue, body)
    drain(host)
    assert sandbox.requests()["POST /sendgrid/v3/mail/send"] == 1
    assert "authorization grant is invalid" in failure_for(env.notifications_queue, body)["reason"]
    assert ledger_table().get_entity("mail-401", "mail-401:order.paid")["state"] == "failed"


def test_acs_requests_are_hmac_signed_and_a_repeat_is_one_operation(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="acs")
    place(host, env, "mail-acs")
    send_raw(env.notifications_queue, notification("mail-acs"))
    drain(host)
    sent = emails(sandbox, "mail-acs")
    assert len(sent) == 1 and sent[0]["provider"] == "acs" and sent[0]["to"] == "jane.doe@example.com"
    # A sender that crashed after ACS accepted: the same Operation-Id is the same operation.
    acs = AcsEmail(get_settings(), poll_interval=0)
    message = Email("jane.doe@example.com", "Jane", "Hi", "text", "<p>html</p>", "mail-acs:order.paid")
    acs.send(message)
    assert len(emails(sandbox, "mail-acs")) == 1


def test_acs_rejects_a_wrong_signature(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="acs", ACS_CONNECTION_STRING=env.acs_connection_string.split(";accesskey=")[0] + ";accesskey=d3Jvbmcta2V5")
    place(host, env, "mail-badsig")
    body = json.dumps(notification("mail-badsig"))
    send_raw(env.notifications_queue, body)
    drain(host)
    assert "signature mismatch" in failure_for(env.notifications_queue, body)["reason"]
    assert not emails(sandbox, "mail-badsig")


def test_customer_data_is_escaped_in_html_and_subjects_stay_one_line(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    place(host, env, "mail-xss", customer={"email": "x@example.com", "name": "<script>alert(1)</script>"})
    send_raw(env.notifications_queue, notification("mail-xss", "payment.failed", {"status": "failed\r\nBcc: evil@example.com"}))
    drain(host)
    [mail] = emails(sandbox, "mail-xss")
    assert "<script>" not in mail["html"] and "&lt;script&gt;alert(1)&lt;/script&gt;" in mail["html"]
    assert "\n" not in mail["subject"]


def test_the_shop_can_override_a_template(host, env, sandbox, monkeypatch, tmp_path):
    (tmp_path / "order_paid.subject.txt").write_text("Bedankt voor bestelling {{ order.id }}!")
    use(monkeypatch, EMAIL_PROVIDER="sendgrid", EMAIL_TEMPLATES_DIR=str(tmp_path))
    place(host, env, "mail-nl")
    send_raw(env.notifications_queue, notification("mail-nl"))
    drain(host)
    [mail] = emails(sandbox, "mail-nl")
    assert mail["subject"] == "Bedankt voor bestelling mail-nl!"
    assert "We received your payment" in mail["text"]  # the other files still come built in


def test_cancelled_and_failed_payments_tell_the_customer(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid", PAYMENT_WINDOW_HOURS="0.1")
    sandbox.payment("mollie", "tr_mailcancel", ["failed"])
    place(host, env, "mail-cancel", payments=[payment_ref("mollie", "tr_mailcancel")], placed_minutes_ago=60)
    host.run_timer(function(host, "payments_scan"))
    host.drain(function(host, "payments_check"))
    drain(host)
    subjects = sorted(m["subject"] for m in emails(sandbox, "mail-cancel"))
    assert subjects == ["Order mail-cancel was cancelled", "Your payment for order mail-cancel did not go through"]


def test_malformed_notification_messages_are_rejected_and_others_sent(host, env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    place(host, env, "mail-ok")
    send_raw(env.notifications_queue, "{broken")
    send_raw(env.notifications_queue, notification("mail-ok", "order.teleported"))
    send_raw(env.notifications_queue, notification("mail-ok"))
    drain(host)
    assert len(emails(sandbox, "mail-ok")) == 1
    assert "invalid NotifyMessage" in failure_for(env.notifications_queue, "{broken")["reason"]
    assert "no customer e-mail for event type" in failure_for(env.notifications_queue, json.dumps(notification("mail-ok", "order.teleported")))["reason"]


def test_storage_requests_per_notification(host, env, sandbox, monkeypatch, patient_http):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    for i in range(20):
        place(host, env, f"mail-cost-{i}")
    for i in range(20):
        send_raw(env.notifications_queue, notification(f"mail-cost-{i}"))
    REQUEST_COUNTER.reset()
    drain(host)
    per_email = REQUEST_COUNTER.total() / 20
    print(f"storage requests per notification: {per_email:.2f} {dict(REQUEST_COUNTER.snapshot())}")
    assert len(emails(sandbox)) == 20 and per_email <= 6


def test_send_notification_without_a_queue_message_still_claims(env, sandbox, monkeypatch):
    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    from ecommerce_tasks.intake import ShopIntake
    from tests.conftest import order_event

    ShopIntake().apply(order_event("mail-direct"))
    message = NotifyMessage(**notification("mail-direct"))
    assert send_notification(message) == "sent"
    assert send_notification(message) == "duplicate"
    assert len(emails(sandbox, "mail-direct")) == 1


def test_an_abandoned_cart_with_consent_gets_one_reminder_and_the_lead_says_so(host, env, sandbox, monkeypatch):
    from ecommerce_tasks.leads import leads_table
    from tests.test_cleanup import checkout

    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    checkout("c-remind", email="ann@example.com", consent=True)
    checkout("c-quiet", email="bob@example.com", consent=False)
    host.run_once({"cleanup"})
    drain(host)
    [mail] = [m for m in emails(sandbox) if m["to"] == "ann@example.com"]
    assert mail["subject"] == "You left something in your cart at Example Shop"
    assert "https://shop.example/cart/c-remind" in mail["html"] and "2 &times;</td><td>Mug" in mail["html"]
    assert not [m for m in emails(sandbox) if m["to"] == "bob@example.com"]  # no consent, no reminder
    assert leads_table().get_entity("c-remind", "lead")["reminder"] == "sent"
    assert leads_table().get_entity("c-quiet", "lead")["reminder"] == "no_consent"
    send_raw(env.notifications_queue, {"checkout_id": "c-remind", "event_id": "c-remind:lead.created", "type": "lead.created"})
    drain(host)  # a repeat of the reminder's message
    assert len([m for m in emails(sandbox) if m["to"] == "ann@example.com"]) == 1


def test_no_reminder_for_a_customer_erased_before_it_went_out(host, env, sandbox, monkeypatch):
    from ecommerce_tasks.intake import ShopIntake
    from tests.test_cleanup import checkout

    use(monkeypatch, EMAIL_PROVIDER="sendgrid")
    checkout("c-erased", email="cy@example.com", consent=True)
    host.run_once({"cleanup"})  # archived; its reminder waits on the notifications queue
    ShopIntake().apply({"type": "customer.erasure_requested", "event_id": "gdpr-cy", "email": "cy@example.com",
                        "requested_at": "2026-11-26T12:00:00+00:00"})
    drain(host)
    assert not [m for m in emails(sandbox) if m["to"] == "cy@example.com"]
    assert ledger_table().get_entity("c-erased", "c-erased:lead.created")["state"] == "skipped"
