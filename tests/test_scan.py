"""The due scan and fan-out: O(due) reads, safe to run twice, nothing lost, cost per order."""

import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

from ecommerce_tasks import duework
from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.orders import load_order
from ecommerce_tasks.payments.scan import scan_due_payments
from ecommerce_tasks.storage import REQUEST_COUNTER, queue_client
from tests.conftest import function, order_event, payment_ref


def seed(sandbox, count, prefix, status="paid"):
    api = ShopIntake()
    for i in range(count):
        payment_id = f"tr_{prefix}{i:06d}"
        sandbox.payment("mollie", payment_id, [status])
        api.apply(order_event(f"{prefix}-{i}", payments=[payment_ref("mollie", payment_id)]))


def queued(queue):
    return queue_client(queue).get_queue_properties().approximate_message_count


def test_fan_out_run_twice_enqueues_each_due_order_once(env, sandbox):
    seed(sandbox, 30, "twice")
    assert scan_due_payments().enqueued == 30
    assert scan_due_payments().enqueued == 0  # leased: the second run finds nothing due
    assert queued(env.payment_checks_queue) == 30


def test_overlapping_scans_never_enqueue_an_order_twice(env, sandbox):
    seed(sandbox, 120, "overlap")
    results = []
    threads = [threading.Thread(target=lambda: results.append(scan_due_payments().enqueued)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 120
    assert queued(env.payment_checks_queue) == 120


def test_a_lost_work_item_comes_back_when_its_lease_ends(env, sandbox):
    seed(sandbox, 3, "lost")
    assert scan_due_payments().enqueued == 3
    queue_client(env.payment_checks_queue).clear_messages()  # the messages are lost
    assert scan_due_payments().enqueued == 0
    later = datetime.now(timezone.utc) + timedelta(minutes=env.lease_minutes + 1)
    assert scan_due_payments(now=later).enqueued == 3


def test_scan_reads_only_due_entities_however_long_the_history(host, env, sandbox, patient_http):
    seed(sandbox, 300, "old")
    host.run_once({"payments"})  # 300 orders now paid: history
    seed(sandbox, 20, "due", status="open")
    REQUEST_COUNTER.reset()
    from ecommerce_tasks import duework

    rows = duework.find_due("payments", datetime.now(timezone.utc), 10_000)
    counts = REQUEST_COUNTER.snapshot()
    assert len(rows) == 20  # entities read = due orders, not 320
    assert counts[("table", "GET")] == duework.SHARDS  # one range query per shard of the index
    assert [r["RowKey"] for r in rows] == sorted(r["RowKey"] for r in rows)  # oldest first across shards
    assert len({r["PartitionKey"] for r in rows}) > 1  # 20 orders do spread over the shards


def test_payment_path_costs_at_most_8_storage_requests_per_order_plus_2_hand_offs(host, env, sandbox, patient_http):
    seed(sandbox, 40, "cost")
    REQUEST_COUNTER.reset()
    scan_due_payments()
    host.drain(function(host, "payments_check"))
    per_order = REQUEST_COUNTER.total() / 40
    counts = REQUEST_COUNTER.snapshot()
    print(f"storage requests per paid order: {per_order:.2f} {dict(counts)}")
    assert all(load_order(f"cost-{i}").order.status == "paid" for i in range(40))
    # A paid order hands off twice: its label due row (a table write) and its confirmation e-mail
    # (a queue message). Those belong to shipping and notifications; the check itself stays <= 8.
    assert len(duework.find_due("labels", datetime.now(timezone.utc) + timedelta(minutes=1), 100)) == 40
    assert len(queue_client(env.notifications_queue).peek_messages(max_messages=32)) == 32
    assert per_order - 2 <= 8


def test_dry_run_reports_and_changes_nothing(host, env, sandbox):
    seed(sandbox, 2, "dry")
    result = subprocess.run(
        [sys.executable, "-m", "autopilot_local", "run", "--once", "--dry-run", "--task", "payments"],
        capture_output=True, text=True, check=True,
    )
    assert "dry-0: paid" in result.stdout and "dry-1: paid" in result.stdout
    assert "nothing was changed" in result.stdout
    assert load_order("dry-0").order.status == "awaiting_payment"
    assert queued(env.payment_checks_queue) == 0
    assert scan_due_payments().enqueued == 2  # still due


def test_cli_run_once_processes_everything(host, env, sandbox):
    seed(sandbox, 2, "cli")
    result = subprocess.run([sys.executable, "-m", "autopilot_local", "run", "--once", "--task", "payments"], capture_output=True, text=True, check=True)
    assert "queue payments_check: 2 processed, 2 ok" in result.stdout
    assert load_order("cli-1").order.status == "paid"


def test_the_due_index_is_sharded_and_a_limited_scan_takes_the_oldest_across_shards(env):
    from ecommerce_tasks import duework

    now = datetime.now(timezone.utc)
    for i in range(24):  # order i is due i minutes ago: the higher i, the older
        duework.schedule("payments", f"shard-{i}", now - timedelta(minutes=i))
    duework.schedule("payments", "shard-later", now + timedelta(minutes=5))
    shards = {duework.partition("payments", f"shard-{i}") for i in range(24)}
    assert len(shards) > 1 and shards <= set(duework.partitions("payments"))

    oldest = duework.find_due("payments", now, limit=5)
    assert [r["entity_id"] for r in oldest] == [f"shard-{i}" for i in (23, 22, 21, 20, 19)]
    leased = duework.lease(oldest, now)
    assert sorted(item.entity_id for item in leased) == sorted(r["entity_id"] for r in oldest)
    assert len(duework.find_due("payments", now, limit=100)) == 19  # the leased five moved out of reach
    duework.remove("payments", leased[0].key)
    assert leased[0].entity_id not in {duework.entity_of(r["RowKey"]) for r in duework.rows_of("payments")}
    assert "shard-later" in {duework.entity_of(r["RowKey"]) for r in duework.rows_of("payments")}
