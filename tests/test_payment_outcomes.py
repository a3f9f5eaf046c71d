"""Every payment status path, through the runner: intake -> scan -> base64 work item -> check."""

from datetime import datetime, timedelta, timezone

import pytest

from ecommerce_tasks.orders import load_order, orders_table
from tests.conftest import drain_outcomes, due_rows, payment_ref, place


def run(host):
    return host.run_once({"payments"})


@pytest.mark.parametrize("status", ["paid"])
def test_mollie_paid_marks_order_paid_with_time_method_amount(host, env, sandbox, status):
    sandbox.payment("mollie", "tr_ok000001", [status], amount="24.95", method="ideal")
    place(host, env, "o-paid", payments=[payment_ref("mollie", "tr_ok000001")], amount="24.95")
    run(host)
    order = load_order("o-paid").order
    assert (order.status, order.paid_method, order.paid_amount, order.needs_review) == ("paid", "ideal", "24.95", False)
    assert order.paid_at is not None
    assert due_rows("o-paid") == []  # nothing left to watch
    [event] = drain_outcomes(env.shop_outcomes_queue)
    assert event["type"] == "order.paid" and event["event_id"] == "o-paid:order.paid"
    assert event["data"]["amount"] == {"value": "24.95", "currency": "EUR"}


@pytest.mark.parametrize(("status", "order_status"), [("open", "awaiting_payment"), ("pending", "awaiting_payment"), ("authorized", "authorized")])
def test_unfinished_mollie_payment_is_checked_again_later(host, env, sandbox, status, order_status):
    sandbox.payment("mollie", "tr_wait0001", [status], expires_in_seconds=3600)
    place(host, env, "o-wait", payments=[payment_ref("mollie", "tr_wait0001")])
    run(host)
    assert load_order("o-wait").order.status == order_status  # authorized: reserved, it ships (see test_pay_later)
    [row] = due_rows("o-wait")
    if status == "authorized":
        return  # its next check is set by its authorization's end (test_pay_later covers it)
    due_at = datetime.fromisoformat(row["RowKey"].split("|")[0].replace("Z", "+00:00"))
    # backed off: first retry 5 minutes out, not on the next 2-minute timer run
    assert timedelta(minutes=4) < due_at - datetime.now(timezone.utc) <= timedelta(minutes=5)
    assert row["checks"] == 1
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == (["order.authorized"] if status == "authorized" else [])


def test_next_check_respects_the_providers_expiry_time(host, env, sandbox):
    # expires in 2 minutes: the next check is right after expiry, not after the 5-minute backoff
    sandbox.payment("mollie", "tr_soon0001", ["open"], expires_in_seconds=120)
    place(host, env, "o-soon", payments=[payment_ref("mollie", "tr_soon0001")])
    run(host)
    [row] = due_rows("o-soon")
    due_at = datetime.fromisoformat(row["RowKey"].split("|")[0].replace("Z", "+00:00"))
    assert due_at - datetime.now(timezone.utc) <= timedelta(minutes=3, seconds=5)


def test_wait_is_sparing_a_second_run_does_not_ask_the_provider_again(host, env, sandbox):
    sandbox.payment("mollie", "tr_wait0002", ["open"], expires_in_seconds=3600)
    place(host, env, "o-wait2", payments=[payment_ref("mollie", "tr_wait0002")])
    run(host)
    run(host)
    assert sandbox.requests()["/mollie/v2/payments/tr_wait0002"] == 1


@pytest.mark.parametrize("status", ["canceled", "expired", "failed"])
def test_unpaid_end_cancels_order_and_records_stock_release(host, env, sandbox, status):
    sandbox.payment("mollie", "tr_end00001", [status])
    place(host, env, "o-end", payments=[payment_ref("mollie", "tr_end00001")])
    run(host)
    order = load_order("o-end").order
    assert (order.status, order.cancel_reason) == ("cancelled", f"payment_{status}")
    release = orders_table().get_entity("o-end", "stockrelease")
    assert release["reason"] == f"payment_{status}" and '"sku": "SKU-1"' in release["lines"]
    events = drain_outcomes(env.shop_outcomes_queue)
    assert [e["type"] for e in events] == ["payment.failed", "order.cancelled"]
    assert events[1]["data"]["release_stock"] == [{"sku": "SKU-1", "quantity": 2, "name": "Mug"}]
    assert due_rows("o-end") == []


@pytest.mark.parametrize(
    ("stripe_status", "order_status"),
    [
        ("succeeded", "paid"),
        ("canceled", "cancelled"),
        ("requires_payment_method", "awaiting_payment"),  # declined card: the customer may retry
        ("processing", "awaiting_payment"),
        ("requires_capture", "authorized"),  # held for a manual capture: it ships, then is captured
        ("requires_action", "awaiting_payment"),
    ],
)
def test_stripe_statuses(host, env, sandbox, stripe_status, order_status):
    sandbox.payment("stripe", "pi_test00001", [stripe_status], amount="10.00", method="card")
    place(host, env, "o-stripe", payments=[payment_ref("stripe", "pi_test00001")])
    run(host)
    order = load_order("o-stripe").order
    assert order.status == order_status
    if order_status == "paid":
        assert (order.paid_method, order.paid_amount) == ("card", "10.00")


def test_expired_old_attempt_never_cancels_an_order_another_attempt_paid(host, env, sandbox):
    sandbox.payment("mollie", "tr_first001", ["expired"])
    sandbox.payment("mollie", "tr_second01", ["paid"])
    place(host, env, "o-two", payments=[payment_ref("mollie", "tr_first001", 40), payment_ref("mollie", "tr_second01", 20)])
    run(host)
    order = load_order("o-two").order
    assert (order.status, order.paid_payment_id) == ("paid", "tr_second01")
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["order.paid"]


def test_paid_order_is_never_downgraded_by_a_later_expiry(host, env, sandbox):
    sandbox.payment("mollie", "tr_paid0002", ["paid"])
    sandbox.payment("mollie", "tr_open0002", ["open"])
    place(host, env, "o-keep", payments=[payment_ref("mollie", "tr_paid0002"), payment_ref("mollie", "tr_open0002")])
    run(host)
    sandbox.set_status("tr_open0002", "expired")
    host.drain(next(f for f in host.functions if f.name == "payments_check"))
    from tests.conftest import send_raw

    send_raw(env.payment_checks_queue, {"provider": "mollie", "payment_id": "tr_open0002"})
    run(host)
    assert load_order("o-keep").order.status == "paid"
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["order.paid"]


def test_one_failed_attempt_waits_for_the_other_open_one(host, env, sandbox):
    sandbox.payment("mollie", "tr_fail0003", ["failed"])
    sandbox.payment("mollie", "tr_open0003", ["open"], expires_in_seconds=3600)
    place(host, env, "o-retry", payments=[payment_ref("mollie", "tr_fail0003", 30), payment_ref("mollie", "tr_open0003", 10)])
    run(host)
    assert load_order("o-retry").order.status == "awaiting_payment"
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["payment.failed"]


def test_order_past_window_is_cancelled_only_after_confirming_with_provider(host, env, sandbox):
    sandbox.payment("mollie", "tr_late0001", ["open"], expires_in_seconds=30 * 86400)  # bank transfer
    place(host, env, "o-window", payments=[payment_ref("mollie", "tr_late0001", 80 * 60)], placed_minutes_ago=73 * 60)
    run(host)
    order = load_order("o-window").order
    assert (order.status, order.cancel_reason) == ("cancelled", "payment_window_elapsed")
    assert sandbox.requests()["/mollie/v2/payments/tr_late0001"] == 1  # asked before cancelling
    assert len(due_rows("o-window")) == 1  # the open transfer is still watched for a late payment


def test_window_never_cancels_while_money_is_in_flight(host, env, sandbox):
    sandbox.payment("mollie", "tr_auth0001", ["authorized"], expires_in_seconds=None)
    place(host, env, "o-auth", payments=[payment_ref("mollie", "tr_auth0001", 80 * 60)], placed_minutes_ago=73 * 60)
    run(host)
    assert load_order("o-auth").order.status == "authorized"  # reserved money: never cancelled by the window


def test_window_cancels_an_order_that_never_started_a_payment(host, env, sandbox):
    place(host, env, "o-none", placed_minutes_ago=73 * 60)
    run(host)
    assert load_order("o-none").order.cancel_reason == "payment_window_elapsed"


def test_late_payment_reopens_cancelled_order_as_paid_flagged_for_review(host, env, sandbox):
    sandbox.payment("mollie", "tr_bank0001", ["open"], expires_in_seconds=30 * 86400)
    place(host, env, "o-late", payments=[payment_ref("mollie", "tr_bank0001", 80 * 60)], placed_minutes_ago=73 * 60)
    run(host)
    assert load_order("o-late").order.status == "cancelled"
    drain_outcomes(env.shop_outcomes_queue)

    sandbox.set_status("tr_bank0001", "paid")
    from tests.conftest import send_raw

    send_raw(env.payment_checks_queue, {"provider": "mollie", "payment_id": "tr_bank0001"})
    run(host)
    order = load_order("o-late").order
    assert order.status == "paid" and order.needs_review
    assert "late payment" in order.review_reason
    [event] = drain_outcomes(env.shop_outcomes_queue)
    assert event["type"] == "order.late_payment" and event["data"]["needs_review"] is True


def test_amount_mismatch_is_paid_but_flagged(host, env, sandbox):
    sandbox.payment("mollie", "tr_less0001", ["paid"], amount="5.00")
    place(host, env, "o-less", payments=[payment_ref("mollie", "tr_less0001")], amount="10.00")
    run(host)
    order = load_order("o-less").order
    assert order.status == "paid" and order.needs_review and "differs" in order.review_reason
