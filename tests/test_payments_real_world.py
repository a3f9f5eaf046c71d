"""Payments against providers shaped like their public docs (not our sandbox), over real HTTP and
Azurite: unknown attempts, one payment per order, money in every currency, real paid times."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ecommerce_tasks.http import close_http_client
from ecommerce_tasks.money import from_stripe, to_stripe
from ecommerce_tasks.orders import load_order, orders_table
from ecommerce_tasks.providers.payments import MolliePayments, PaymentState, StripePayments
from ecommerce_tasks.settings import reload_settings
from ecommerce_tasks.work import failures_table
from tests import documented_providers as docs
from tests.conftest import drain_outcomes, due_rows, order_event, payment_ref, place, send_raw


@pytest.fixture
def provider(env, monkeypatch):
    fake = docs.DocumentedProvider()
    monkeypatch.setenv("MOLLIE_API_BASE_URL", f"{fake.url}/v2")
    monkeypatch.setenv("STRIPE_API_BASE_URL", f"{fake.url}/v1")
    close_http_client()
    reload_settings()
    yield fake
    fake.close()


def run(host):
    return host.run_once({"payments"})


def failures(env):
    return list(failures_table().query_entities("PartitionKey eq @q", parameters={"q": env.payment_checks_queue}))


def test_an_attempt_unknown_to_mollie_does_not_block_the_one_that_paid(host, env, provider):
    provider.answer("/v2/payments/tr_gone0001", 404, docs.mollie_not_found("tr_gone0001"), {"Content-Type": "application/hal+json"})
    provider.answer("/v2/payments/tr_paid0001", 200, docs.mollie_paid_ideal("tr_paid0001"))
    place(host, env, "o-unknown-first", payments=[payment_ref("mollie", "tr_gone0001", 40), payment_ref("mollie", "tr_paid0001", 20)])
    run(host)
    record = load_order("o-unknown-first")
    assert (record.order.status, record.order.paid_payment_id, record.order.paid_method) == ("paid", "tr_paid0001", "ideal")
    unknown = record.attempts["tr_gone0001"]
    assert unknown.state == "unknown" and "No payment exists with token tr_gone0001" in unknown.provider_status
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["order.paid"]
    assert failures(env) == []
    send_raw(env.payment_checks_queue, {"order_id": "o-unknown-first"})
    run(host)
    assert provider.asked("/v2/payments/tr_gone0001") == 1  # recorded, not asked again


def test_an_order_whose_attempts_are_all_unknown_ends_with_its_window_flagged_for_review(host, env, provider):
    provider.answer("/v1/payment_intents/pi_gone0001", 404, docs.stripe_not_found("pi_gone0001"))
    place(host, env, "o-all-unknown", payments=[payment_ref("stripe", "pi_gone0001", 30)])
    run(host)
    assert load_order("o-all-unknown").order.status == "awaiting_payment"
    [row] = due_rows("o-all-unknown")  # backs off to the window's end, not every lease period
    due_at = datetime.fromisoformat(row["RowKey"].split("|")[0].replace("Z", "+00:00"))
    assert due_at - datetime.now(timezone.utc) > timedelta(hours=70)
    assert failures(env) == []

    # the window has passed (an order placed 73 hours ago): cancelled, stock released, flagged
    provider.answer("/v1/payment_intents/pi_gone0002", 404, docs.stripe_not_found("pi_gone0002"))
    place(host, env, "o-all-unknown-late", payments=[payment_ref("stripe", "pi_gone0002", 72 * 60)], placed_minutes_ago=73 * 60)
    run(host)
    order = load_order("o-all-unknown-late").order
    assert (order.status, order.cancel_reason, order.needs_review) == ("cancelled", "payment_unknown", True)
    assert "pi_gone0002" in order.review_reason and "No such payment_intent" in order.review_reason
    assert orders_table().get_entity("o-all-unknown-late", "stockrelease")["reason"] == "payment_unknown"
    [cancelled] = [e for e in drain_outcomes(env.shop_outcomes_queue) if e["order_id"] == "o-all-unknown-late"]
    assert cancelled["type"] == "order.cancelled" and cancelled["data"]["reason"] == "payment_unknown"
    assert cancelled["data"]["needs_review"] is True
    assert due_rows("o-all-unknown-late") == [] and failures(env) == []


def test_one_payment_pays_one_order(host, env, provider):
    provider.answer("/v1/payment_intents/pi_shared001", 200,
                    docs.stripe_intent("pi_shared001", "succeeded", 1000, latest_charge=docs.stripe_charge("pi_shared001", 1000, "eur", 1764494100)))
    place(host, env, "o-first", payments=[payment_ref("stripe", "pi_shared001")])
    place(host, env, "o-second", payments=[payment_ref("stripe", "pi_shared001")])
    send_raw(env.shop_events_queue, {"type": "payment.started", "event_id": "ps-third", "order_id": "o-third", **payment_ref("stripe", "pi_shared001")})
    place(host, env, "o-third")
    run(host)
    assert load_order("o-first").order.status == "paid"
    second = load_order("o-second")
    assert second.order.status == "awaiting_payment" and second.attempts == {}
    assert second.order.needs_review and "belongs to order o-first" in second.order.review_reason
    assert load_order("o-third").attempts == {}
    [rejected] = list(failures_table().query_entities("PartitionKey eq @q", parameters={"q": env.shop_events_queue}))
    assert rejected["kind"] == "rejected" and "belongs to order o-first" in rejected["reason"]
    events = drain_outcomes(env.shop_outcomes_queue)
    assert [(e["type"], e["order_id"]) for e in events if e["type"] == "order.paid"] == [("order.paid", "o-first")]
    assert ("order.review_needed", "o-second") in [(e["type"], e["order_id"]) for e in events]


@pytest.mark.parametrize(
    ("currency", "minor", "written"),
    [("jpy", 4250, "4250"), ("kwd", 1250, "1.250"), ("eur", 4250, "42.50"), ("isk", 129900, "1299")],
)
def test_stripe_amounts_in_every_currencys_minor_units(host, env, provider, currency, minor, written):
    intent = f"pi_money{currency}01"
    provider.answer(f"/v1/payment_intents/{intent}", 200,
                    docs.stripe_intent(intent, "succeeded", minor, currency, latest_charge=docs.stripe_charge(intent, minor, currency, 1764494100)))
    place(host, env, f"o-{currency}", payments=[payment_ref("stripe", intent)], amount=written, currency=currency.upper())
    run(host)
    order = load_order(f"o-{currency}").order
    assert (order.status, order.paid_amount, order.needs_review) == ("paid", written, False)
    [paid] = drain_outcomes(env.shop_outcomes_queue)
    assert paid["data"]["amount"] == {"value": written, "currency": currency.upper()}


def test_minor_units_both_ways():
    assert from_stripe(4250, "jpy") == Decimal("4250") and to_stripe("4250", "JPY") == 4250
    assert from_stripe(1250, "KWD") == Decimal("1.250") and to_stripe("1.250", "KWD") == 1250
    assert from_stripe(100, "MGA") == Decimal("100")  # two decimals in ISO 4217, zero at Stripe
    assert to_stripe("1299", "ISK") == 129900  # zero decimals in ISO 4217, two at Stripe
    with pytest.raises(ValueError):
        to_stripe("10.005", "EUR")


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [("10.00", "XXX", "not an ISO 4217 currency"), ("10.00", "ABC", "not an ISO 4217 currency"),
     ("42.50", "JPY", "must have 0 decimals"), ("10.0", "EUR", "must have 2 decimals"), ("1.25", "KWD", "must have 3 decimals")],
)
def test_intake_checks_the_currency_and_its_decimals(host, env, amount, currency, problem):
    send_raw(env.shop_events_queue, order_event("o-money-bad", amount=amount, currency=currency))
    host.drain(next(f for f in host.functions if f.name == "intake_shop_events"))
    assert load_order("o-money-bad").order is None
    [rejected] = list(failures_table().query_entities("PartitionKey eq @q", parameters={"q": env.shop_events_queue}))
    assert problem in rejected["reason"]


def test_stripe_paid_time_is_the_charges_and_the_amount_is_what_was_received(host, env, provider):
    charge_created = 1764497000
    provider.answer("/v1/payment_intents/pi_when00001", 200,
                    docs.stripe_intent("pi_when00001", "succeeded", 1200, received=1000, created=1764490000,
                                       latest_charge=docs.stripe_charge("pi_when00001", 1000, "eur", charge_created)))
    place(host, env, "o-when", payments=[payment_ref("stripe", "pi_when00001")], amount="12.00")
    run(host)
    order = load_order("o-when").order
    assert datetime.fromisoformat(order.paid_at) == datetime.fromtimestamp(charge_created, tz=timezone.utc)
    assert order.paid_amount == "10.00" and order.needs_review  # 10.00 received of 12.00
    [(_, query, _)] = [c for c in provider.calls if c[0] == "/v1/payment_intents/pi_when00001"]
    assert "expand%5B%5D=latest_charge" in query or "expand[]=latest_charge" in query


def test_stripe_paid_time_falls_back_to_when_the_app_first_saw_it(host, env, provider):
    provider.answer("/v1/payment_intents/pi_when00002", 200,
                    docs.stripe_intent("pi_when00002", "succeeded", 1000, created=1764490000, latest_charge="ch_3MmlLrLkdIwHu7ix0snN0B15"))
    place(host, env, "o-when2", payments=[payment_ref("stripe", "pi_when00002")])
    before = datetime.now(timezone.utc)
    run(host)
    assert datetime.fromisoformat(load_order("o-when2").order.paid_at) >= before - timedelta(seconds=1)


def test_documented_shapes_parse_whatever_extra_fields_they_carry():
    mollie = MolliePayments("https://api.mollie.com/v2", "test_x")
    open_one = mollie.parse(docs.mollie_open("tr_WDqYK6vllg"))
    assert (open_one.state, open_one.method, open_one.expires_at.year) == (PaymentState.OPEN, None, 2026)
    transfer = mollie.parse({**docs.mollie_open_bank_transfer("tr_WDqYK6vllh"), "someFieldMollieAddsLater": {"x": [1]}})
    assert (transfer.state, transfer.method) == (PaymentState.OPEN, "banktransfer")
    paid = mollie.parse(docs.mollie_paid_ideal("tr_WDqYK6vlli", "1.250", "KWD"))
    assert (paid.state, paid.amount, paid.currency, paid.paid_at.minute) == (PaymentState.PAID, Decimal("1.250"), "KWD", 16)
    assert mollie.parse({**docs.mollie_open("tr_WDqYK6vllj"), "status": "a-status-mollie-adds"}).state == PaymentState.OPEN

    stripe = StripePayments("https://api.stripe.com/v1", "sk_test_x")
    declined = {**docs.stripe_intent("pi_3MtwBwLkdIwHu7ix28a3tqPa", "requires_payment_method", 2000),
                "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds", "type": "card_error"}}
    assert stripe.parse(declined).state == PaymentState.OPEN
    held = stripe.parse(docs.stripe_intent("pi_3MtwBwLkdIwHu7ix28a3tqPb", "requires_capture", 2000, latest_charge="ch_3MtwBw"))
    assert (held.state, held.amount) == (PaymentState.AUTHORIZED, Decimal("20.00"))
    cancelled = stripe.parse({**docs.stripe_intent("pi_3MtwBwLkdIwHu7ix28a3tqPc", "canceled", 2000), "cancellation_reason": "abandoned"})
    assert cancelled.state == PaymentState.CANCELED


def test_a_provider_answer_about_another_payment_or_out_of_shape_is_refused(host, env, provider):
    provider.answer("/v2/payments/tr_swap00001", 200, docs.mollie_paid_ideal("tr_other0001"))
    provider.answer("/v1/payment_intents/pi_shape0001", 200, {**docs.stripe_intent("pi_shape0001", "succeeded", 1000), "amount": "1000"})
    place(host, env, "o-swap", payments=[payment_ref("mollie", "tr_swap00001")])
    place(host, env, "o-shape", payments=[payment_ref("stripe", "pi_shape0001")])
    run(host)
    assert load_order("o-swap").order.status == load_order("o-shape").order.status == "awaiting_payment"
    reasons = {f["reason"].split(":")[0]: f["reason"] for f in failures(env)}
    assert "the answer is about another payment" in reasons["order o-swap"]
    assert "amount: Input should be a valid integer" in reasons["order o-shape"]
