"""The benchmark suite at tiny sizes, so its code cannot rot (numbers are not judged here)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(1200)  # every measurement at tiny sizes, through the latency proxy: minutes on a busy machine
def test_benchmark_suite_runs_and_writes_its_results(azurite, tmp_path):
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=1100)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "latest.json").read_text())
    assert {"fanout", "due_scan", "cost", "workers", "cpu", "on_paper"} <= data.keys()
    assert all(d["entities_read_per_due_order"] == 1.0 for d in data["due_scan"])
    # CPU is accounted on both sides (this process and Azurite), so the printed caps mean something.
    assert data["fanout"]["rtt_ms"] == 5.0 and len(data["fanout"]["app_vs_naive"]) == len(data["fanout"]["sizes"])
    assert all(f["python_cpu_ms_per_msg"] > 0 and f["azurite_cpu_ms_per_msg"] > 0 for f in data["fanout"]["sizes"])
    assert data["workers"]["python_cpu_ms_per_check"] > 0 and data["workers"]["azurite_cpu_ms_per_check"] > 0
    runs = data["workers"]["runs"]
    assert {(r["pool"], r["provider_ms"]) for r in runs} == {(p, ms) for p in (6, 16, 32) for ms in (50, 300)}
    assert all(r["per_second"] > 0 and r["bound"] > 0 for r in runs)
    assert all(f["cores_cap_msgs_per_s"] > 0 for f in data["fanout"]["sizes"]) and data["workers"]["cores_cap_per_s"] > 0
    assert all(d["python_cpu_ms_per_due_order"] > 0 for d in data["due_scan"])
    # Async against sync: both checked every order and made the same storage requests per check.
    pairs = data["workers"]["async_vs_sync"]
    assert {(r["provider_ms"], r["in_flight"]) for r in pairs} == {(ms, n) for ms in (50, 300) for n in (16, 32, 48)}
    # (To within a retry: Azurite drops idle keep-alive connections on a busy machine, and the SDK
    # sends that request again, which the hook counts.)
    assert all(abs(r["sync_requests_per_check"] - r["async_requests_per_check"]) < 0.5 and r["async_vs_sync"] > 0 for r in pairs)
    cpu = data["cpu"]
    assert cpu["payment_check_ms"] > 0 and cpu["sdk_floor_ms"] > 0 and cpu["payment_check_vs_floor"] > 0
    assert {"payments", "labels", "tracking", "e-mail", "inventory", "cleanup"} == cpu["per_family_ms"].keys()
    assert all(ms > 0 for ms in cpu["per_family_ms"].values())
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
    assert "Fan-out" in result.stdout and "bites first" in result.stdout and "SDK floor" in result.stdout
