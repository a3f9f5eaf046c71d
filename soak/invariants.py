"""The invariants a soak must leave intact, checked against what the generator did."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from ecommerce_tasks.cleanup.model import load_checkout
from ecommerce_tasks.leads import leads_table
from ecommerce_tasks.inventory.model import ledger, load_product
from ecommerce_tasks.orders import load_order
from autopilot_local.poison import list_poisoned
from autopilot_sandbox import SandboxClient
from ecommerce_tasks.settings import get_settings
from ecommerce_tasks.storage import queue_client, take_all
from ecommerce_tasks.work import failure_for

from .shop import SCENARIOS, ShopRecord

LEGIT = {"awaiting_payment", "authorized", "paid", "cancelled"}
# What a function may raise and be retried for: provider outages, storage outages (Azurite restart).
EXPECTED_FAILURES = {"TransientProviderError", "ServiceRequestError", "ServiceResponseError", "UndecodableMessage",
                     "RetryLater", "IncompleteRead", "HttpResponseError", "ResourceNotFoundError"}
SECRETS = ["test_sandbox", "sk_test_sandbox", "soak-function-key"]
CUSTOMER_DATA = re.compile(r"soak\.(customer|shopper)\d+@example\.com|Soak (Customer|Shopper)")


def _work_queues() -> list[str]:
    s = get_settings()
    return [s.shop_events_queue, s.payment_checks_queue, s.stock_updates_queue, s.cleanup_queue,
            s.label_requests_queue, s.tracking_queue, s.notifications_queue, s.webhook_queue]


def _expected(order_id: str, record: ShopRecord) -> str:
    return SCENARIOS[record.orders[order_id]][2]


def quiet(record: ShopRecord) -> bool:
    """Settled: no work queued, every order where its payments lead, no abandoned checkout left."""
    try:
        if any(queue_client(q).get_queue_properties().approximate_message_count for q in _work_queues()):
            return False
        for order_id in record.orders:
            stored = load_order(order_id)
            if stored.order is None or stored.order.status != _expected(order_id, record):
                return False
            if stored.order.status == "paid" and (stored.shipment or {}).get("state") not in {"created", "failed"}:
                return False
        return all(not load_checkout(c) for c, fate in record.checkouts.items() if fate != "live")
    except Exception:  # noqa: BLE001 - storage still coming back
        return False


def check_all(record: ShopRecord, sandbox: SandboxClient, log_path: Path, kills: int) -> list[tuple[str, bool, str]]:
    results = []
    orders = {order_id: load_order(order_id) for order_id in record.orders}
    missing = [o for o, r in orders.items() if r.order is None]
    odd = [o for o, r in orders.items() if r.order and r.order.status not in LEGIT]
    results.append(("every order exists, in one legitimate state", not missing and not odd,
                    f"{len(orders)} orders; missing {missing[:5]}; odd {odd[:5]}"))

    wrong = {o: (r.order.status if r.order else None, _expected(o, record)) for o, r in orders.items()
             if r.order and r.order.status != _expected(o, record)}
    results.append(("every order ended where its payments lead", not wrong, f"{len(wrong)} differ: {list(wrong.items())[:5]}"))

    paid_truth = {o for o in record.orders if any(sandbox.status_of(p) in {"paid", "succeeded"} for p in record.payments[o])}
    cancelled_paid = [o for o, r in orders.items() if r.order and r.order.status == "cancelled" and o in paid_truth]
    results.append(("no order cancelled while paid", not cancelled_paid, f"{len(paid_truth)} paid at the provider; {cancelled_paid[:5]}"))

    late_ok = [o for o in record.late if orders[o].order and orders[o].order.status == "paid" and orders[o].order.needs_review]
    results.append(("late payments reopened as paid, flagged for review", len(late_ok) == len(record.late),
                    f"{len(late_ok)} of {len(record.late)}"))

    events = _drain(get_settings().shop_outcomes_queue)
    counts = Counter(e.get("event_id") for e in events)
    repeats = sum(n - 1 for n in counts.values() if n > 1)
    paid_events = {e["order_id"] for e in events if e.get("type") in {"order.paid", "order.late_payment"}}
    unannounced = [o for o, r in orders.items() if r.order and r.order.status == "paid" and o not in paid_events]
    results.append(("outbound events: none missing, repeats only after crashes", not unannounced and repeats <= kills * 16,
                    f"{len(events)} events, {repeats} repeated ids after {kills} runner kills; paid without event: {unannounced[:5]}"))

    results += _shipping(record, orders, sandbox, events)

    calls = sandbox.webhooks_received()
    delivered = {c["id"] for c in calls if c["verified"] and c["answer"] == 200}
    unsigned = [c["id"] for c in calls if not c["verified"]]
    missing_hooks = sorted({e["event_id"] for e in events} - delivered)
    results.append(("every shop event reached the flaky shop as a webhook, at least once, validly signed",
                    bool(events) and not missing_hooks and not unsigned,
                    f"{len(delivered)} events in {len(calls)} calls ({sum(c['answer'] != 200 for c in calls)} failed); "
                    f"missing {missing_hooks[:3]}; bad signatures {unsigned[:3]}"))

    authorized = [o for o, scenario in record.orders.items() if scenario == "authorized"]
    captures = {o: sum(sandbox.captures_of(p) for p in record.payments[o]) for o in authorized}
    shipped = {o for o in authorized if (orders[o].shipment or {}).get("state") == "created"}
    twice = [o for o in authorized if captures[o] > 1]
    uncaptured = [o for o in shipped if captures[o] != 1]
    unshipped = [o for o in authorized if o not in shipped and captures[o]]
    results.append(("every shipped authorized order captured exactly once, none captured unshipped",
                    bool(authorized) and not twice and not uncaptured and not unshipped,
                    f"{len(authorized)} authorized, {len(shipped)} shipped; twice {twice[:3]}; shipped uncaptured {uncaptured[:3]}; "
                    f"captured unshipped {unshipped[:3]}"))

    bad_stock, applied = [], Counter()
    for sku in record.products:
        product, _ = load_product(sku)
        rows = ledger(sku)
        applied.update(r["event_id"] for r in rows)
        if product is None or product.on_hand != sum(r["delta_on_hand"] for r in rows) or product.reserved != sum(r["delta_reserved"] for r in rows):
            bad_stock.append(sku)
    results.append(("every product's stock equals its ledger sum", not bad_stock, f"{len(record.products)} products; off: {bad_stock}"))
    twice = [e for e, n in applied.items() if n > 1]
    unapplied = sorted(record.stock_event_ids - set(applied))
    results.append(("each stock event applied exactly once", not twice and not unapplied,
                    f"{len(applied)} ledger rows; twice {twice[:5]}; never {unapplied[:5]}"))

    touched_live = [c for c, fate in record.checkouts.items() if fate == "live" and not load_checkout(c)]
    left = [c for c, fate in record.checkouts.items() if fate != "live" and load_checkout(c)]
    leads = [c for c, fate in record.checkouts.items() if fate == "abandoned" and not _lead(c)]
    completed_leads = [c for c, fate in record.checkouts.items() if fate == "completed" and _lead(c)]
    results.append(("checkouts: live payments untouched, abandoned archived, completed gone", not touched_live and not left and not leads
                    and not completed_leads,
                    f"{len(record.checkouts)} checkouts; live touched {touched_live[:3]}; left {left[:3]}; no lead {leads[:3]}; "
                    f"completed but archived {completed_leads[:3]}"))

    s = get_settings()
    unexplained = [t for t in record.hostile_events if not (failure_for(s.shop_events_queue, t) or {}).get("reason")]
    unexplained += [t for t in record.hostile_checks if not (failure_for(s.payment_checks_queue, t) or {}).get("reason")]
    poisoned = list_poisoned(s.payment_checks_queue)
    undecodable = [p for p in poisoned if "base64" in p.reason]
    results.append(("malformed messages rejected or poisoned, with a reason", not unexplained and len(undecodable) == 1,
                    f"{len(record.hostile_events) + len(record.hostile_checks)} rejected with reasons; unexplained {unexplained[:2]}; "
                    f"{len(undecodable)} undecodable in poison"))

    log = log_path.read_text(errors="replace")
    tracebacks = log.count("Traceback")
    raised = Counter(re.findall(r"failed \(try \d+\)(?:, will be retried)?: ([A-Za-z]+)\(", log))
    unexpected = {name: n for name, n in raised.items() if name not in EXPECTED_FAILURES}
    results.append(("no unhandled exception escaped a function", not tracebacks and not unexpected,
                    f"retried failures {dict(raised)}; unexpected {unexpected}; tracebacks {tracebacks}"))
    leaks = [s for s in SECRETS if s in log] + sorted(set(m.group(0) for m in CUSTOMER_DATA.finditer(log)))[:3]
    results.append(("no secret or unmasked customer data in the logs", not leaks, f"{len(log.splitlines())} log lines; found {leaks}"))
    return results


def _shipping(record: ShopRecord, orders: dict, sandbox: SandboxClient, events: list[dict]) -> list[tuple[str, bool, str]]:
    carrier = sandbox.shipping()
    parcels = Counter(p["order_number"] for p in carrier["parcels"])
    paid = {o for o, r in orders.items() if r.order and r.order.status == "paid"}
    state = {o: (orders[o].shipment or {}).get("state") for o in record.orders}
    twice = {o: n for o, n in parcels.items() if n > 1}
    unlabelled = sorted(o for o in paid - record.bad_address if state[o] != "created" or parcels[o] != 1)
    wrongly = sorted(o for o in record.bad_address & paid if state[o] != "failed" or parcels[o])
    unpaid = sorted(o for o in parcels if o not in paid)
    failed_events = Counter(e["order_id"] for e in events if e.get("type") == "shipment.label_failed")
    results = [("each paid order: one label; a bad address fails once, no carrier call",
                not twice and not unlabelled and not wrongly and not unpaid and all(n == 1 for n in failed_events.values()),
                f"{len(carrier['parcels'])} parcels for {len(paid)} paid orders ({len(record.bad_address & paid)} with a bad address); "
                f"twice {twice}; missing {unlabelled[:5]}; bad address labelled {wrongly[:5]}; unpaid labelled {unpaid[:5]}")]

    mails = Counter((m["subject"], m["to"]) for m in carrier["emails"])
    repeated = {k: n for k, n in mails.items() if n > 1}
    to_of = {o: f"soak.customer{o[2:]}@example.com" for o in record.orders}
    no_confirmation = sorted(o for o in paid if not any(to == to_of[o] and "Thank you" in subject for subject, to in mails))
    no_shipped = sorted(o for o in paid if state[o] == "created" and not any(to == to_of[o] and "on its way" in subject for subject, to in mails))
    results.append(("customer e-mails: exactly one per order and event", not repeated and not no_confirmation and not no_shipped,
                    f"{len(carrier['emails'])} e-mails; repeated {list(repeated.items())[:3]}; paid without confirmation "
                    f"{no_confirmation[:5]}; labelled without shipped e-mail {no_shipped[:5]}"))
    return results


def _lead(checkout_id: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        leads_table().get_entity(checkout_id, "lead")
        return True
    except ResourceNotFoundError:
        return False


def _drain(queue: str) -> list[dict]:
    events = []
    for body in take_all(queue):
        try:
            events.append(json.loads(body))
        except ValueError:
            events.append({"event_id": None})
    return events
