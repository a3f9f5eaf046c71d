"""At-least-once delivery: duplicates, concurrency, retries into poison, bad input, base64."""

import base64
import json

from ecommerce_tasks.orders import load_order
from autopilot_local.poison import list_poisoned, replay
from ecommerce_tasks.work import failure_for
from tests.conftest import drain_outcomes, function, payment_ref, place, send_raw


def checks(host):
    return function(host, "payments_check")


def test_same_message_twice_in_a_row_gives_one_transition_and_one_event(host, env, sandbox):
    sandbox.payment("mollie", "tr_dup00001", ["paid"])
    place(host, env, "o-dup", payments=[payment_ref("mollie", "tr_dup00001")])
    message = {"provider": "mollie", "payment_id": "tr_dup00001"}
    send_raw(env.payment_checks_queue, message)
    host.drain(checks(host))
    send_raw(env.payment_checks_queue, message)
    stats = host.drain(checks(host))
    assert stats.succeeded == 1
    assert load_order("o-dup").order.status == "paid"
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["order.paid"]


def test_same_message_delivered_concurrently_gives_one_transition_and_one_event(host, env, sandbox):
    sandbox.payment("mollie", "tr_conc0001", ["paid"])
    place(host, env, "o-conc", payments=[payment_ref("mollie", "tr_conc0001")])
    sandbox.latency(0.2)  # every copy is in flight at once, so they race on the write
    for _ in range(8):
        send_raw(env.payment_checks_queue, {"order_id": "o-conc"})
    stats = host.drain(checks(host))
    sandbox.latency(0)
    assert stats.succeeded == 8
    assert load_order("o-conc").order.status == "paid"
    assert sandbox.requests()["/mollie/v2/payments/tr_conc0001"] >= 2  # they really overlapped
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["order.paid"]


def test_concurrent_cancellations_give_one_cancel_and_one_stock_release_event(host, env, sandbox):
    sandbox.payment("mollie", "tr_conc0002", ["expired"])
    place(host, env, "o-conc2", payments=[payment_ref("mollie", "tr_conc0002")])
    sandbox.latency(0.2)
    for _ in range(6):
        send_raw(env.payment_checks_queue, {"order_id": "o-conc2"})
    host.drain(checks(host))
    sandbox.latency(0)
    types = [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)]
    assert types == ["payment.failed", "order.cancelled"]


def test_provider_500s_are_retried_then_the_message_returns_and_finally_lands_in_poison(host, env, sandbox, caplog):
    place(host, env, "o-down", payments=[payment_ref("mollie", "tr_down0001")])
    sandbox.payment("mollie", "tr_down0001", ["paid"])
    sandbox.faults("tr_down0001", *[{"status": 500}] * 15)  # 5 deliveries x 3 HTTP tries
    send_raw(env.payment_checks_queue, {"order_id": "o-down"})
    stats = host.drain(checks(host))
    assert (stats.failed, stats.poisoned) == (4, 1)
    # The host's own words, which the poisoning query of docs/operations.md searches for.
    assert f"Message has reached MaxDequeueCount of 5. Moving message to queue '{env.payment_checks_queue}-poison'." in caplog.messages
    assert sandbox.requests()["/mollie/v2/payments/tr_down0001"] == 15
    [poisoned] = list_poisoned(env.payment_checks_queue)
    assert "HTTP 500" in poisoned.reason and json.loads(poisoned.body) == {"order_id": "o-down"}
    # after the outage, an operator replays it and it completes
    assert replay(env.payment_checks_queue) == 1
    assert host.drain(checks(host)).succeeded == 1
    assert load_order("o-down").order.status == "paid"


def test_transient_failure_then_success_within_one_delivery(host, env, sandbox):
    sandbox.payment("mollie", "tr_flaky001", ["paid"])
    place(host, env, "o-flaky", payments=[payment_ref("mollie", "tr_flaky001")])
    sandbox.faults("tr_flaky001", {"status": 429}, {"status": 503})  # 429 without Retry-After, as Mollie does
    send_raw(env.payment_checks_queue, {"order_id": "o-flaky"})
    stats = host.drain(checks(host))
    assert (stats.succeeded, stats.failed) == (1, 0)
    assert load_order("o-flaky").order.status == "paid"


def test_timeouts_are_retried(host, env, sandbox):
    sandbox.payment("stripe", "pi_slow00001", ["succeeded"])
    place(host, env, "o-slow", payments=[payment_ref("stripe", "pi_slow00001")])
    sandbox.faults("pi_slow00001", {"delay": 1.0})  # longer than HTTP_TIMEOUT_SECONDS=0.5
    send_raw(env.payment_checks_queue, {"order_id": "o-slow"})
    assert host.drain(checks(host)).succeeded == 1
    assert load_order("o-slow").order.status == "paid"


def test_malformed_and_unknown_order_messages_are_rejected_once_and_others_still_processed(host, env, sandbox):
    sandbox.payment("mollie", "tr_good0001", ["paid"])
    place(host, env, "o-good", payments=[payment_ref("mollie", "tr_good0001")])
    bad = ["{not json", json.dumps({"order_id": "o-x", "checks": "many"}), json.dumps({"order_id": "no-such-order"}), json.dumps([1, 2])]
    for body in bad:
        send_raw(env.payment_checks_queue, body)
    send_raw(env.payment_checks_queue, {"order_id": "o-good"})
    stats = host.drain(checks(host))
    # every message completes on its first delivery: no retry storm, nothing poisoned
    assert (stats.processed, stats.succeeded, stats.rejected, stats.failed, stats.poisoned) == (5, 1, 4, 0, 0)
    assert load_order("o-good").order.status == "paid"
    reasons = {body: failure_for(env.payment_checks_queue, body) for body in bad}
    assert all(r and r["kind"] == "rejected" for r in reasons.values())
    assert "invalid CheckMessage" in reasons["{not json"]["reason"]
    assert "checks" in reasons[bad[1]]["reason"]
    assert "unknown order 'no-such-order'" in reasons[bad[2]]["reason"]


def test_unknown_payment_from_a_webhook_is_rejected_not_retried(host, env, sandbox):
    send_raw(env.payment_checks_queue, {"provider": "mollie", "payment_id": "tr_nobody001"})
    stats = host.drain(checks(host))
    assert (stats.succeeded, stats.rejected, stats.failed) == (0, 1, 0)
    record = failure_for(env.payment_checks_queue, json.dumps({"provider": "mollie", "payment_id": "tr_nobody001"}))
    assert "unknown mollie payment" in record["reason"]


def test_provider_404_is_an_answer_not_retried(host, env, sandbox):
    place(host, env, "o-404", payments=[payment_ref("mollie", "tr_gone00001")])  # sandbox never heard of it
    send_raw(env.payment_checks_queue, {"order_id": "o-404"})
    stats = host.drain(checks(host))
    assert (stats.succeeded, stats.failed) == (1, 0)
    assert sandbox.requests()["/mollie/v2/payments/tr_gone00001"] == 1
    assert failure_for(env.payment_checks_queue, json.dumps({"order_id": "o-404"})) is None  # not a failure: the payment is unknown
    from ecommerce_tasks.orders import load_order

    assert load_order("o-404").attempts["tr_gone00001"].state == "unknown"


def test_base64_round_trip_and_a_plain_text_producer_is_caught(host, env, sandbox):
    sandbox.payment("mollie", "tr_b64000001", ["paid"])
    place(host, env, "o-b64", payments=[payment_ref("mollie", "tr_b64000001")])
    # What goes over the wire from our producers is base64, as host.json messageEncoding says.
    send_raw(env.payment_checks_queue, {"order_id": "o-b64"})
    peeked = next(iter(_plain(env.payment_checks_queue).peek_messages()))
    assert json.loads(base64.b64decode(peeked.content)) == {"order_id": "o-b64"}
    assert host.drain(checks(host)).succeeded == 1
    # A producer that forgets base64 fails loudly and its message ends in poison, findable.
    _plain(env.payment_checks_queue).send_message('{"order_id": "o-b64"}')
    stats = host.drain(checks(host))
    assert stats.poisoned == 1
    [poisoned] = list_poisoned(env.payment_checks_queue)
    assert poisoned.body == '{"order_id": "o-b64"}'


def _plain(queue):
    from azure.storage.queue import QueueClient

    from ecommerce_tasks.settings import get_settings

    return QueueClient.from_connection_string(get_settings().storage_connection, queue)
