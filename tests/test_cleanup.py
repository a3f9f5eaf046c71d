"""Clean-up against Azurite: every rule, live payments untouched, consent, retention, erasure."""

import json
import math
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from ecommerce_tasks import duework
from ecommerce_tasks.cleanup.intake import CHECKOUTS
from ecommerce_tasks.cleanup.model import customer_key, customers_table, load_checkout
from ecommerce_tasks.leads import leads_table
from ecommerce_tasks.cleanup.scan import scan_cleanup
from ecommerce_tasks.cleanup.worker import CleanupMessage, clean
from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.storage import REQUEST_COUNTER, queue_client
from tests.conftest import drain_outcomes, function

NOW = datetime.now(timezone.utc)


def step(checkout_id, step, hours_ago, n=0, **fields):
    return {"type": "checkout.updated", "event_id": f"{checkout_id}-{step}-{n}", "checkout_id": checkout_id, "step": step,
            "occurred_at": (NOW - timedelta(hours=hours_ago)).isoformat(), **fields}


def line(checkout_id, hours_ago, sku="MUG", quantity=2, price="12.50"):
    return step(checkout_id, "line", hours_ago, n=sku, line={"sku": sku, "quantity": quantity, "unit_price": price, "name": "Mug"})


def checkout(checkout_id, hours_ago=30, email="sam@example.com", consent=True, items=True, payment=None):
    intake = ShopIntake()
    intake.apply(step(checkout_id, "cart", hours_ago + 1, currency="EUR", cart_url=f"https://shop.example/cart/{checkout_id}"))
    if items:
        intake.apply(line(checkout_id, hours_ago + 0.5))
    if email:
        intake.apply(step(checkout_id, "address", hours_ago, email=email, name="Sam Example", marketing_consent=consent))
    if payment:
        intake.apply(step(checkout_id, "payment", hours_ago, payment={"provider": "mollie", "payment_id": "tr_abcdef", "status": payment}))


def run(host):
    return host.run_once({"cleanup"})


@pytest.fixture
def travel(monkeypatch):
    """Moves 'now' for the whole app (scan and workers alike)."""
    from ecommerce_tasks import clock

    def to(moment):
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return to


def lead(checkout_id):
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return dict(leads_table().get_entity(checkout_id, "lead"))
    except ResourceNotFoundError:
        return None


def test_abandoned_checkout_with_contact_becomes_a_lead_and_its_rows_go(host, env):
    checkout("c-archive")
    run(host)
    assert load_checkout("c-archive") == []
    archived = lead("c-archive")
    assert (archived["email"], archived["consent"], archived["reminder"], archived["last_step"]) == ("sam@example.com", True, "due", "address")
    assert archived["value"] == "25.00" and json.loads(archived["items"])[0]["sku"] == "MUG"
    assert archived["cart_url"] == "https://shop.example/cart/c-archive"
    [event] = drain_outcomes(env.shop_outcomes_queue)
    assert event["type"] == "lead.created" and event["data"]["reminder"] == "due"


def test_without_consent_the_lead_gets_no_reminder(host, env):
    checkout("c-noconsent", consent=False)
    run(host)
    assert lead("c-noconsent")["reminder"] == "no_consent"


def test_delete_mode_deletes_and_keeps_no_lead(host, env, monkeypatch):
    monkeypatch.setenv("CLEANUP_MODE", "delete")
    from ecommerce_tasks.settings import reload_settings

    reload_settings()
    checkout("c-delete")
    run(host)
    assert load_checkout("c-delete") == [] and lead("c-delete") is None


def test_checkout_without_contact_is_deleted_in_archive_mode(host, env):
    checkout("c-anon", email=None)
    run(host)
    assert load_checkout("c-anon") == [] and lead("c-anon") is None


def test_empty_carts_go_sooner_than_filled_ones(host, env, travel):
    checkout("c-empty", hours_ago=3, items=False, email=None)
    checkout("c-full", hours_ago=3)
    travel(NOW + timedelta(hours=1))
    run(host)
    assert load_checkout("c-empty") == []
    assert load_checkout("c-full") != []  # 4 hours idle is not abandoned yet (24 hours)
    assert scan_cleanup()["checkouts"]["due"] == 0  # rescheduled, not due again until then
    travel(NOW + timedelta(hours=22))
    run(host)
    assert lead("c-full") is not None


@pytest.mark.parametrize("status", ["authorized", "pending", "paid"])
def test_a_checkout_with_a_live_payment_is_never_touched(host, env, status):
    checkout("c-live", payment=status)
    run(host)
    assert len(load_checkout("c-live")) == 4 and lead("c-live") is None


def test_a_failed_payment_does_not_protect_a_checkout(host, env):
    checkout("c-failed", payment="failed")
    run(host)
    assert lead("c-failed") is not None


def test_a_completed_checkout_is_not_abandoned(host, env):
    checkout("c-done")
    ShopIntake().apply({"type": "checkout.completed", "event_id": "done-1", "checkout_id": "c-done", "order_id": "o-77",
                        "occurred_at": NOW.isoformat()})
    run(host)
    assert [row["RowKey"] for row in load_checkout("c-done")] == ["completed"] and lead("c-done") is None


def test_a_step_that_arrives_after_the_completion_never_makes_a_lead(host, env, travel):
    completed_at = NOW - timedelta(hours=30)
    ShopIntake().apply({"type": "checkout.completed", "event_id": "done-2", "checkout_id": "c-late", "order_id": "o-78",
                        "occurred_at": completed_at.isoformat()})
    checkout("c-late", hours_ago=31)  # its steps reach the intake after the completion
    travel(NOW)
    run(host)
    assert lead("c-late") is None
    assert [row["RowKey"] for row in load_checkout("c-late")] == []  # past the tombstone's time: all gone
    assert not list(customers_table().query_entities("PartitionKey eq @k", parameters={"k": customer_key("sam@example.com")}))


def test_late_steps_go_while_the_tombstone_stays_until_its_time(host, env, travel):
    ShopIntake().apply({"type": "checkout.completed", "event_id": "done-3", "checkout_id": "c-soon", "order_id": "o-79",
                        "occurred_at": NOW.isoformat()})
    checkout("c-soon", hours_ago=30)  # old steps arriving after the completion
    travel(NOW + timedelta(hours=2))
    run(host)
    assert lead("c-soon") is None and [row["RowKey"] for row in load_checkout("c-soon")] == ["completed"]
    travel(NOW + timedelta(hours=25))
    run(host)
    assert load_checkout("c-soon") == [] and lead("c-soon") is None


def test_leads_are_purged_after_the_retention_period(host, env, travel):
    checkout("c-old")
    run(host)
    assert lead("c-old") is not None
    travel(NOW + timedelta(days=89))
    run(host)
    assert lead("c-old") is not None
    travel(NOW + timedelta(days=91))
    run(host)
    assert lead("c-old") is None
    assert list(customers_table().query_entities("PartitionKey eq @k", parameters={"k": customer_key("sam@example.com")})) == []


def test_erasure_deletes_the_customers_leads_and_open_checkouts_only(host, env):
    checkout("c-erase-lead", email="ann@example.com")
    run(host)
    checkout("c-erase-open", hours_ago=1, email="Ann@Example.com")
    checkout("c-other", hours_ago=1, email="bob@example.com")
    ShopIntake().apply({"type": "customer.erasure_requested", "event_id": "gdpr-1", "email": "ann@example.com", "requested_at": NOW.isoformat()})
    assert lead("c-erase-lead") is None and load_checkout("c-erase-open") == []
    assert load_checkout("c-other") != []


def test_duplicate_and_concurrent_work_items_make_one_lead_and_one_event(host, env):
    checkout("c-dup")
    scan_cleanup()
    from ecommerce_tasks.storage import queue_client

    [message] = list(queue_client(env.cleanup_queue).receive_messages(messages_per_page=32, max_messages=32))
    body = CleanupMessage.model_validate_json(message.content)
    errors = []

    def work():
        try:
            clean(body)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clean(body)  # and once more, later
    assert errors == []
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["lead.created"]


def test_fan_out_run_twice_and_chunks(host, env, monkeypatch):
    monkeypatch.setenv("CLEANUP_CHUNK", "4")
    from ecommerce_tasks.settings import reload_settings

    reload_settings()
    for i in range(10):
        checkout(f"c-chunk-{i}", email=None)
    report = scan_cleanup()["checkouts"]
    # events in different hours leave several due rows per checkout: leased once, as one item;
    # items go in chunks of at most 4 from one due-index shard (so one transaction moves them)
    per_shard = Counter(duework.partition(CHECKOUTS, f"c-chunk-{i}") for i in range(10))
    chunks = sum(math.ceil(n / 4) for n in per_shard.values())
    assert (report["leased"], report["work_items"]) == (10, chunks) and report["due"] >= 10
    messages = queue_client(env.cleanup_queue).peek_messages(max_messages=32)
    for message in messages:
        items = json.loads(message.content)["items"]
        assert 1 <= len(items) <= 4 and len({duework.partition(CHECKOUTS, item["id"]) for item in items}) == 1
    assert sorted(item["id"] for m in messages for item in json.loads(m.content)["items"]) == sorted(f"c-chunk-{i}" for i in range(10))
    assert scan_cleanup()["checkouts"]["leased"] == 0
    assert host.drain(function(host, "cleanup_work")).succeeded == chunks


def test_dry_run_reports_counts_and_ids_and_changes_nothing(host, env):
    checkout("c-dry-lead")
    checkout("c-dry-anon", email=None)
    checkout("c-dry-live", payment="authorized")
    result = subprocess.run([sys.executable, "-m", "autopilot_local", "run", "--once", "--dry-run", "--task", "cleanup"],
                            capture_output=True, text=True, check=True)
    assert "would archive: c-dry-lead" in result.stdout
    assert "would delete: c-dry-anon" in result.stdout and "would keep: c-dry-live" in result.stdout
    assert load_checkout("c-dry-lead") != [] and lead("c-dry-lead") is None


def test_bad_checkout_events_are_rejected(host, env):
    from tests.conftest import send_raw
    from ecommerce_tasks.work import failure_for

    bad = step("c-bad", "line", 1)  # a line step without its line
    send_raw(env.shop_events_queue, bad)
    assert host.drain(function(host, "intake_shop_events")).rejected == 1
    assert "a line step carries `line`" in failure_for(env.shop_events_queue, json.dumps(bad))["reason"]


def test_many_carts_are_cleaned_in_bounded_runs(host, env, monkeypatch):
    """Scale: each run handles at most CLEANUP_MAX_PER_RUN carts and the next one continues."""
    from bench.cleanup import seed_carts

    carts, per_run = 3000, 1000
    monkeypatch.setenv("CLEANUP_MAX_PER_RUN", str(per_run))
    from ecommerce_tasks.settings import reload_settings

    reload_settings()
    seed_carts(carts, hours_ago=30)
    REQUEST_COUNTER.reset()
    runs = 0
    while True:
        report = host.run_once({"cleanup"})
        runs += 1
        if not report.queues.get("cleanup_work") or report.queues["cleanup_work"].processed == 0:
            break
        # full chunks, and at most one partial chunk per due-index shard (counted as work items
        # done: a delivery retried after a dropped connection is the same chunk again)
        assert report.queues["cleanup_work"].succeeded <= per_run // env.cleanup_chunk + duework.SHARDS
    assert runs == carts // per_run + 1  # the last run finds nothing left
    assert scan_cleanup()["checkouts"]["due"] == 0
    print(f"storage requests per cart: {REQUEST_COUNTER.total() / carts:.2f}")
