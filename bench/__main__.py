"""The benchmark suite: `.venv/bin/python -m bench [--quick | --full]`.

Prints a table, writes bench/results/latest.json and draws bench/results/scaling.png.
Numbers, not pass/fail: nothing here fails on a slow machine. Ratios are against baselines
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from ecommerce_tasks import duework

from . import cost, cpu, due_scan, fanout, workers

RESULTS = Path(__file__).parent / "results"

# Azure Storage scalability targets (documented): what one shop's peak must stay under.
QUEUE_MESSAGES_PER_S = 2_000
ACCOUNT_REQUESTS_PER_S = 20_000
PARTITION_ENTITIES_PER_S = 2_000
# Due-index entity operations per order on the payment path: the intake's row, the lease (delete +
# insert) and the worker's delete, spread over the index's shards of "payments".
DUE_PARTITION_OPS_PER_ORDER = 4


def on_paper(requests_per_order: float) -> dict:
    limits = {
        "queue (2,000 msg/s; 1 work item per order)": QUEUE_MESSAGES_PER_S * 3600,
        "account (20,000 req/s)": ACCOUNT_REQUESTS_PER_S / requests_per_order * 3600,
        f"due index ({duework.SHARDS} partitions x 2,000 entities/s)": duework.SHARDS * PARTITION_ENTITIES_PER_S / DUE_PARTITION_OPS_PER_ORDER * 3600,
    }
    first = min(limits, key=limits.get)
    return {"orders_per_hour": {k: round(v) for k, v in limits.items()}, "bites_first": first}


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(prog="python -m bench")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    size.add_argument("--full", action="store_true", help="fan-out to 100,000 and history to 1,000,000")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--storage-rtt-ms", type=float, default=5.0,
                        help="round trip put between the app and Azurite by a TCP proxy (default 5: within one Azure region; 0: none)")
    args = parser.parse_args()
    os.environ["BENCH_STORAGE_RTT_MS"] = str(args.storage_rtt_ms)

    if args.quick:
        fan_ns, histories, cost_n, worker_n = [200], [1_000, 5_000], 20, 48
    elif args.full:
        fan_ns, histories, cost_n, worker_n = [1_000, 10_000, 100_000], [10_000, 100_000, 1_000_000], 500, 400
    else:
        fan_ns, histories, cost_n, worker_n = [1_000, 10_000], [10_000, 100_000], 300, 300

    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, Azurite (in memory)",
                     "storage_rtt_ms": args.storage_rtt_ms,
                     "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    sizes = [fanout.measure(n) for n in fan_ns]
    results["fanout"] = {"rtt_ms": args.storage_rtt_ms, "sizes": sizes,
                         "app_vs_naive": [f["app_vs_naive"] for f in sizes], "app_vs_ceiling": [f["app_vs_ceiling"] for f in sizes]}
    results["due_scan"] = [due_scan.measure(h) for h in histories]
    results["cost"] = [cost.payments(cost_n), *cost.shipping(cost_n), cost.inventory(cost_n * 2), cost.cleanup(cost_n * 2)]
    results["workers"] = workers.measure(worker_n)
    results["workers"]["async_vs_sync"] = workers.async_vs_sync(worker_n)
    floor = cpu.payment_check(cost_n)
    results["cpu"] = {**floor, "per_family_ms": {c["family"]: c["work_cpu_ms"] for c in results["cost"]}}
    payment_requests = results["cost"][0]["work_requests"]
    results["on_paper"] = on_paper(payment_requests)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2))
    _chart(results, args.out / "scaling.png")
    _print(results)


def _print(r: dict) -> None:
    print(f"\nBenchmarks on {r['machine']}, {r['at']}; storage {r['storage_rtt_ms']} ms round trip away (TCP proxy)\n")
    print("Fan-out (messages/s)        app     naive   ceiling  app/ceiling  app/naive   CPU ms/msg: ours  Azurite   all cores allow")
    for f in r["fanout"]["sizes"]:
        print(f"  N={f['n']:<9,}       {f['app_msgs_per_s']:>7,} {f['naive_msgs_per_s']:>9,} {f['ceiling_msgs_per_s']:>9,}"
              f"  {f['app_vs_ceiling']:>10}  {f['app_vs_naive']:>9}   {f['python_cpu_ms_per_msg']:>15}  {f['azurite_cpu_ms_per_msg']:>7}"
              f"   {f['cores_cap_msgs_per_s']:>9,}  (5x naive: {5 * f['naive_msgs_per_s']:,})")
    print("Due scan (1% due)           entities read/due order   ms/due order   table requests   CPU ms/due order: ours  Azurite")
    for d in r["due_scan"]:
        print(f"  history {d['history']:>9,}   {d['entities_read_per_due_order']:>22}   {d['ms_per_due_order']:>12}   {d['table_requests']:>14}"
              f"   {d['python_cpu_ms_per_due_order']:>22}  {d['azurite_cpu_ms_per_due_order']:>7}")
    flat = [d["ms_per_due_order"] for d in r["due_scan"]]
    print(f"  time per due order, largest vs smallest history: {flat[-1] / flat[0]:.2f}x")
    print("Cost (storage requests)     intake/unit   work/unit   Azure transactions per 10,000 units")
    for c in r["cost"]:
        total = c.get("intake_requests", 0) + c["work_requests"]
        print(f"  {c['family']:<10} per {c['unit']:<6} {c.get('intake_requests', '-'):>9}   {c['work_requests']:>9}   {round(total * 10_000):>10,}")
    w = r["workers"]
    print(f"Workers (one shared pool, as the Python worker): storage {w['storage_ms_per_check']} ms per check, CPU allows {w['cpu_bound_per_s']}/s")
    print("  pool  provider ms   checks/s   bound = min(pool / (latency + storage), CPU)   vs bound")
    for run in w["runs"]:
        print(f"  {run['pool']:>4}  {run['provider_ms']:>11}   {run['per_second']:>8}   {run['bound']:>44}   {run['vs_bound']:>8}")
    print(f"  CPU per check: {w['python_cpu_ms_per_check']} ms here (one thread at a time: caps at {w['python_cap_per_s']}/s), "
          f"{w['azurite_cpu_ms_per_check']} ms in Azurite (caps at {w['azurite_cap_per_s']}/s); all cores allow {w['cores_cap_per_s']}/s")
    print("  async (event loop) against sync (shared pool), same checks in flight, same proxy:")
    print("  provider ms  in flight  sync pool   sync/s   async/s   async/sync   CPU ms/check: sync  async   storage requests/check: sync  async")
    for row in w["async_vs_sync"]:
        print(f"  {row['provider_ms']:>11}  {row['in_flight']:>9}  {row['sync_pool']:>9}  {row['sync_per_s']:>7}  {row['async_per_s']:>8}  {row['async_vs_sync']:>11}"
              f"  {row['sync_cpu_ms']:>18}  {row['async_cpu_ms']:>5}  {row['sync_requests_per_check']:>28}  {row['async_requests_per_check']:>5}")
    c = r["cpu"]
    print(f"CPU per payment check: {c['payment_check_ms']} ms; SDK floor (the same {c['storage_requests_per_check']} storage requests, nothing else) "
          f"{c['sdk_floor_ms']} ms: {c['payment_check_vs_floor']}x; with the provider GET ({c['provider_get_ms']} ms) in the floor: "
          f"{c['payment_check_vs_floor_with_provider_call']}x")
    print("CPU ms per unit of work, by family (this process; the runner's polling included): "
          + ", ".join(f"{family} {ms}" for family, ms in c["per_family_ms"].items()))
    print("On paper, at Azure scale (orders per hour):")
    for limit, value in r["on_paper"]["orders_per_hour"].items():
        print(f"  {limit:<48} {value:>14,}")
    print(f"  bites first: {r['on_paper']['bites_first']}")


def _chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    ns = [f["n"] for f in r["fanout"]["sizes"]]
    for key, label in (("app_msgs_per_s", "app fan-out"), ("ceiling_msgs_per_s", "raw async ceiling"), ("naive_msgs_per_s", "naive loop")):
        left.plot(ns, [f[key] for f in r["fanout"]["sizes"]], marker="o", label=label)
    left.set(xscale="log", xlabel="work items", ylabel="messages/s", title="Fan-out", ylim=(0, None))
    left.legend()
    histories = [d["history"] for d in r["due_scan"]]
    right.plot(histories, [d["ms_per_due_order"] for d in r["due_scan"]], marker="o", label="ms per due order")
    right.plot(histories, [d["entities_read_per_due_order"] for d in r["due_scan"]], marker="s", label="entities read per due order")
    right.set(xscale="log", xlabel="orders in history (1% due)", title="Due scan", ylim=(0, None))
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
