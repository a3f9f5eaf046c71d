"""Operator tools: run reports, status, poison purge."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autopilot_local.poison import list_poisoned, purge, replay
from ecommerce_tasks.runs import last_runs
from tests.conftest import function, payment_ref, place, send_raw
from tests.test_shipping import ADDRESS, make_labels, paid_order


def test_every_timer_run_is_recorded_with_what_it_found_and_enqueued(host, env, sandbox):
    sandbox.payment("mollie", "tr_runs0001", ["paid"])
    place(host, env, "o-runs", payments=[payment_ref("mollie", "tr_runs0001")], shipping_address=ADDRESS)
    host.run_timer(function(host, "payments_scan"))
    host.run_timer(function(host, "payments_scan"))  # nothing left: leased by the first
    [second, first] = last_runs("payments_scan")
    assert (first["found"], first["enqueued"], first["status"]) == (1, 1, "ok")
    assert (second["found"], second["enqueued"]) == (0, 0)
    assert first["run_id"] != second["run_id"] and first["seconds"] >= 0


def test_a_failing_scan_is_recorded_as_failed(host, env, sandbox, monkeypatch):
    import ecommerce_tasks.payments.functions as payments_functions

    def broken():
        raise ConnectionError("storage unreachable")

    monkeypatch.setattr(payments_functions, "scan_due_payments", broken)
    with pytest.raises(ConnectionError):
        host.run_timer(function(host, "payments_scan"))
    [run] = last_runs("payments_scan")
    assert run["status"] == "failed" and "storage unreachable" in run["error"]


def test_status_shows_runs_states_due_work_and_queues(host, env, sandbox):
    paid_order(host, env, sandbox, "o-status")
    make_labels(host)
    send_raw(env.payment_checks_queue, "{broken")
    host.drain(function(host, "payments_check"))
    result = subprocess.run([sys.executable, "-m", "autopilot_local", "status", "--json", "--no-progress"],
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    assert report["runs"]["shipping_labels_scan"][0]["enqueued"] == 1
    assert report["states"]["orders"] == {"paid": 1}
    assert report["states"]["shipments"] == {"label_created": 1}
    assert report["queues"][env.payment_checks_queue]["failure records"] == 1
    text = subprocess.run([sys.executable, "-m", "autopilot_local", "status", "--no-progress"], capture_output=True, text=True, check=True)
    assert "payments_scan" in text.stdout and "Orders: 1 paid" in text.stdout


def test_poison_purge_deletes_only_what_is_named_and_needs_yes(host, env, sandbox):
    for n in (1, 2):  # one payment pays one order: each order its own
        sandbox.payment("mollie", f"tr_purge000{n}", ["paid"])
        place(host, env, f"o-purge-{n}", payments=[payment_ref("mollie", f"tr_purge000{n}")])
    sandbox.faults("tr_purge000", *[{"status": 500}] * 60)
    for order_id in ("o-purge-1", "o-purge-2"):
        send_raw(env.payment_checks_queue, {"order_id": order_id})
    host.drain(function(host, "payments_check"))
    poisoned = list_poisoned(env.payment_checks_queue)
    assert len(poisoned) == 2
    refused = subprocess.run([sys.executable, "-m", "autopilot_local", "poison", "purge", "--queue", env.payment_checks_queue],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and len(list_poisoned(env.payment_checks_queue)) == 2
    assert purge(env.payment_checks_queue, poisoned[0].message_id) == 1
    [left] = list_poisoned(env.payment_checks_queue)
    assert left.message_id == poisoned[1].message_id
    assert replay(env.payment_checks_queue) == 1 and purge(env.payment_checks_queue) == 0
