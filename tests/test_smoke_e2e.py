from ecommerce_tasks.orders import load_order
from tests.conftest import drain_outcomes, order_event, payment_ref, send_raw


def test_paid_mollie_order_is_marked_paid_end_to_end(host, env, sandbox):
    sandbox.payment("mollie", "tr_paid0001", ["paid"], amount="10.00")
    send_raw(env.shop_events_queue, order_event("o-1", payments=[payment_ref("mollie", "tr_paid0001")]))

    report = host.run_once({"payments"})

    order = load_order("o-1").order
    assert order.status == "paid"
    assert order.paid_payment_id == "tr_paid0001"
    assert order.paid_amount == "10.00"
    assert report.queues["payments_check"].succeeded == 1
    events = drain_outcomes(env.shop_outcomes_queue)
    assert [e["type"] for e in events] == ["order.paid"]
