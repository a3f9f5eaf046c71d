"""Inventory against Azurite: exactly once per event id, ETag concurrency, recounts, availability."""

import json
import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
from azure.data.tables import TableTransactionError

from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.inventory import worker as worker_module
from ecommerce_tasks.inventory.model import load_product, ledger
from ecommerce_tasks.inventory.scan import scan_stock_work
from ecommerce_tasks.inventory.worker import ApplyMessage, apply_stock
from ecommerce_tasks.work import failure_for
from tests.conftest import drain_outcomes, function, payment_ref, place, send_raw

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def product(sku="MUG", **settings):
    return {"type": "product.upserted", "event_id": f"p-{sku}", "sku": sku, "name": "Blue mug", **settings}


def stock(event_id, kind, sku="MUG", minutes=0, **fields):
    return {"type": "stock.changed", "event_id": event_id, "sku": sku, "kind": kind,
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(), **fields}


def run_inventory(host):
    return host.run_once({"inventory"})


def assert_ledger_adds_up(sku):
    current, inbox = load_product(sku)
    rows = ledger(sku)
    assert inbox == []
    assert current.on_hand == sum(r["delta_on_hand"] for r in rows)
    assert current.reserved == sum(r["delta_reserved"] for r in rows)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    return current, rows


def test_every_kind_moves_stock_and_the_ledger_explains_it(host, env):
    intake = ShopIntake()
    intake.apply(product())
    for event in [
        stock("e1", "delivery_received", quantity=20),
        stock("e2", "reserved", minutes=1, quantity=3, order_id="o1"),
        stock("e3", "shipped", minutes=2, quantity=3, order_id="o1"),
        stock("e4", "return_received", minutes=3, quantity=1, resellable=True),
        stock("e5", "return_received", minutes=4, quantity=1, resellable=False),
        stock("e6", "damaged", minutes=5, quantity=2),
        stock("e7", "lost", minutes=6, quantity=1),
        stock("e8", "reserved", minutes=7, quantity=4, order_id="o2"),
        stock("e9", "released", minutes=8, quantity=4, order_id="o2"),
    ]:
        intake.apply(event)
    run_inventory(host)
    current, rows = assert_ledger_adds_up("MUG")
    assert (current.on_hand, current.reserved) == (20 - 3 + 1 - 2 - 1, 0)
    assert [r["kind"] for r in rows] == ["delivery_received", "reserved", "shipped", "return_received", "return_received",
                                         "damaged", "lost", "reserved", "released"]
    assert rows[4]["note"] == "not resellable: recorded, not stocked"
    assert (rows[0]["on_hand_before"], rows[0]["on_hand_after"]) == (0, 20)


def test_recount_is_ordered_against_the_events_around_it(host, env):
    intake = ShopIntake()
    intake.apply(product())
    intake.apply(stock("d1", "delivery_received", minutes=0, quantity=10))
    intake.apply(stock("r1", "recount", minutes=10, counted=7))
    run_inventory(host)
    # arriving late: a loss from before the count (the count saw it) and a delivery after it
    intake.apply(stock("l1", "lost", minutes=5, quantity=2))
    intake.apply(stock("d2", "delivery_received", minutes=15, quantity=5))
    intake.apply(stock("r0", "recount", minutes=8, counted=100))  # an older count, superseded
    run_inventory(host)
    current, rows = assert_ledger_adds_up("MUG")
    assert current.on_hand == 7 + 5
    notes = {r["event_id"]: r["note"] for r in rows}
    assert "before the recount" in notes["l1"] and "ignored" in notes["r0"]


def test_a_product_at_zero_stops_selling_and_sells_again_when_restocked(host, env):
    intake = ShopIntake()
    intake.apply(product(low_stock_threshold=2))
    intake.apply(stock("in", "delivery_received", quantity=3))
    run_inventory(host)
    intake.apply(stock("res", "reserved", minutes=1, quantity=3, order_id="o1"))
    run_inventory(host)
    assert load_product("MUG")[0].available is False
    intake.apply(stock("back", "delivery_received", minutes=2, quantity=10))
    run_inventory(host)
    assert load_product("MUG")[0].available is True
    types = [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)]
    assert types == ["product.available", "product.unavailable", "product.low_stock", "product.available"]


def test_reservation_that_cannot_be_met_is_flagged_never_negative(host, env):
    intake = ShopIntake()
    intake.apply(product())
    intake.apply(stock("in", "delivery_received", quantity=2))
    intake.apply(stock("big", "reserved", minutes=1, quantity=5, order_id="o9"))
    run_inventory(host)
    current, rows = assert_ledger_adds_up("MUG")
    assert (current.on_hand, current.reserved) == (2, 0)
    assert "not met: only 2 sellable" in rows[-1]["note"]
    failed = [e for e in drain_outcomes(env.shop_outcomes_queue) if e["type"] == "stock.reservation_failed"]
    assert failed[0]["data"] == {"order_id": "o9", "requested": 5, "sellable": 2}


def test_backorders_allow_reserving_beyond_stock(host, env):
    intake = ShopIntake()
    intake.apply(product(allow_backorders=True))
    intake.apply(stock("big", "reserved", quantity=5, order_id="o9"))
    run_inventory(host)
    current, _ = assert_ledger_adds_up("MUG")
    assert (current.sellable, current.available) == (-5, True)


def test_many_concurrent_workers_with_duplicated_shuffled_events_apply_each_once(host, env):
    intake = ShopIntake()
    intake.apply(product())
    # Stock first, so no damage is ever clamped at zero: the expected level must not depend on
    # which thread happens to apply first (that would make the test depend on the machine's speed).
    intake.apply(stock("opening", "delivery_received", minutes=-1, quantity=100))
    apply_stock(ApplyMessage(sku="MUG"))
    events = [stock(f"d{i}", "delivery_received", minutes=i, quantity=1 + i % 3) for i in range(60)]
    events += [stock(f"x{i}", "damaged", minutes=i, quantity=1) for i in range(0, 60, 4)]
    expected = sum(e["quantity"] * (1 if e["kind"] == "delivery_received" else -1) for e in events)
    shuffled = events + random.Random(7).sample(events, 30)  # every third event delivered twice
    random.Random(8).shuffle(shuffled)
    errors = []

    def deliver_and_apply(batch):
        try:
            for event in batch:
                intake.apply(event)
                apply_stock(ApplyMessage(sku="MUG"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=deliver_and_apply, args=(shuffled[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    apply_stock(ApplyMessage(sku="MUG"))
    current, rows = assert_ledger_adds_up("MUG")
    assert len(rows) == len(events) + 1  # each event id exactly once (and the opening stock)
    assert current.on_hand == 100 + expected


def test_a_crash_after_applying_converges_on_rerun(host, env, monkeypatch):
    intake = ShopIntake()
    intake.apply(product())
    intake.apply(stock("in", "delivery_received", quantity=4))

    def crash(*args, **kwargs):
        raise RuntimeError("process killed before publishing")

    monkeypatch.setattr(worker_module, "publish_outbox", crash)
    with pytest.raises(RuntimeError):
        apply_stock(ApplyMessage(sku="MUG"))
    monkeypatch.undo()
    intake.apply(stock("in", "delivery_received", quantity=4))  # and the shop replays the event
    later = datetime.now(timezone.utc) + timedelta(minutes=env.lease_minutes + 1)
    apply_stock(ApplyMessage(sku="MUG"), now=later)  # the crashed worker's outbox lease is over
    current, rows = assert_ledger_adds_up("MUG")
    assert current.on_hand == 4 and len(rows) == 1
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["product.available", "product.low_stock"]


def test_a_failing_transaction_leaves_nothing_half_applied(host, env, monkeypatch):
    intake = ShopIntake()
    intake.apply(product())
    intake.apply(stock("a", "delivery_received", quantity=4))
    intake.apply(stock("b", "delivery_received", minutes=1, quantity=6))
    from ecommerce_tasks.inventory import model

    real = model.stock_table()

    class FailingTable:
        def __getattr__(self, name):
            return getattr(real, name)

        def submit_transaction(self, operations):
            operations = list(operations) + [("create", {"PartitionKey": "MUG", "RowKey": "product"})]  # conflicts
            return real.submit_transaction(operations)

    monkeypatch.setattr(worker_module, "stock_table", lambda: FailingTable())
    with pytest.raises(TableTransactionError):
        apply_stock(ApplyMessage(sku="MUG"))
    current, inbox = load_product("MUG")
    assert (current.on_hand, len(inbox), ledger("MUG")) == (0, 2, [])
    monkeypatch.undo()
    apply_stock(ApplyMessage(sku="MUG"))
    assert assert_ledger_adds_up("MUG")[0].on_hand == 10


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (stock("u1", "delivery_received", sku="NOPE", quantity=1), "unknown product 'NOPE'"),
        (stock("n1", "damaged", quantity=-2), "quantity"),
        (stock("n2", "recount", quantity=3), "a recount carries `counted`"),
        (stock("n3", "reserved", quantity=1), "needs the `order_id`"),
    ],
)
def test_bad_stock_events_are_rejected_with_a_reason_and_change_nothing(host, env, event, reason):
    ShopIntake().apply(product())
    send_raw(env.shop_events_queue, event)
    send_raw(env.shop_events_queue, "{broken json")
    stats = host.drain(function(host, "intake_shop_events"))
    unknown = event["sku"] == "NOPE"  # may be a race with its product.upserted: 3 tries, then rejected
    assert (stats.succeeded, stats.rejected, stats.failed, stats.poisoned) == ((0, 2, 2, 0) if unknown else (0, 2, 0, 0))
    assert reason in failure_for(env.shop_events_queue, json.dumps(event))["reason"]
    assert "invalid shop event" in failure_for(env.shop_events_queue, "{broken json")["reason"]
    run_inventory(host)
    assert ledger("MUG") == []


def test_stock_event_overtaking_its_product_waits_for_it(host, env):
    send_raw(env.shop_events_queue, stock("early", "delivery_received", sku="LATE", quantity=3))
    assert host.drain(function(host, "intake_shop_events"), max_batches=1).failed == 1  # waits
    send_raw(env.shop_events_queue, product("LATE"))
    host.run_once({"inventory"})
    assert load_product("LATE")[0].on_hand == 3


def test_fan_out_run_twice_enqueues_each_product_once(host, env):
    intake = ShopIntake()
    for sku in ("A1", "B1", "C1"):
        intake.apply(product(sku))
        for i in range(5):
            intake.apply(stock(f"{sku}-{i}", "delivery_received", sku=sku, minutes=i, quantity=1))
    assert scan_stock_work()["enqueued"] == 3
    assert scan_stock_work()["enqueued"] == 0
    assert host.drain(function(host, "inventory_apply")).succeeded == 3
    assert all(load_product(sku)[0].on_hand == 5 for sku in ("A1", "B1", "C1"))


def test_a_cancelled_order_releases_its_reservation_and_a_late_payment_takes_it_again(host, env, sandbox):
    intake = ShopIntake()
    intake.apply(product("SKU-1"))
    intake.apply(stock("in", "delivery_received", sku="SKU-1", quantity=5))
    intake.apply(stock("hold", "reserved", sku="SKU-1", minutes=1, quantity=2, order_id="o-stock"))
    sandbox.payment("mollie", "tr_stock0001", ["open"], expires_in_seconds=30 * 86400)
    place(host, env, "o-stock", payments=[payment_ref("mollie", "tr_stock0001", 80 * 60)], placed_minutes_ago=73 * 60)
    host.run_once()  # the window closes: cancelled, stock released
    assert load_product("SKU-1")[0].reserved == 0
    sandbox.set_status("tr_stock0001", "paid")
    send_raw(env.payment_checks_queue, {"provider": "mollie", "payment_id": "tr_stock0001"})
    host.run_once()  # late payment: reserved again
    current, rows = assert_ledger_adds_up("SKU-1")
    assert current.reserved == 2
    assert [r["kind"] for r in rows] == ["delivery_received", "reserved", "released", "reserved"]
