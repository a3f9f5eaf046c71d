"""Operator commands and the local runner: `autopilot --help`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from ecommerce_tasks.settings import reload_settings


def _host(args: argparse.Namespace):
    from .runner import HostConfig, LocalHost, load_local_settings

    load_local_settings()
    reload_settings()
    config = HostConfig.load()
    overrides = {k: v for k, v in (("visibility_timeout", getattr(args, "visibility_timeout", None)),
                                   ("message_lease", getattr(args, "message_lease", None))) if v is not None}
    return LocalHost(config=config.with_overrides(**overrides))


def cmd_run(args: argparse.Namespace) -> int:
    host = _host(args)
    families = set(args.task) if args.task else None
    unknown = (families or set()) - set(host.families())
    if unknown:
        print(f"unknown task(s): {', '.join(sorted(unknown))}; known: {', '.join(host.families())}", file=sys.stderr)
        return 2
    if args.dry_run:
        from ecommerce_tasks.cleanup.scan import scan_cleanup
        from ecommerce_tasks.inventory.scan import scan_stock_work
        from ecommerce_tasks.payments.scan import scan_due_payments

        def payments() -> None:
            report = scan_due_payments(dry_run=True)
            print(f"payments: {report.found} due; would do:")
            for entity_id, outcome in report.previews.items():
                print(f"  {entity_id}: {outcome}")

        def inventory() -> None:
            report = scan_stock_work(dry_run=True)
            products = report["products"]
            print(f"inventory: {report['found']} due; would apply the pending events of: {', '.join(products if isinstance(products, list) else [])}")

        def cleanup() -> None:
            for kind, report in scan_cleanup(dry_run=True).items():
                print(f"cleanup {kind}: {report['due']} due")
                for action, ids in report.items():
                    if action.startswith("would"):
                        print(f"  {action}: {', '.join(ids)}")

        def shipping() -> None:
            from ecommerce_tasks.shipping.scan import scan_labels, scan_tracking

            labels = scan_labels(dry_run=True)
            print(f"shipping labels: {labels['found']} due; would do:")
            for order_id, outcome in labels["previews"].items():
                print(f"  {order_id}: {outcome}")
            print(f"shipping tracking: {scan_tracking(dry_run=True)['found']} shipments due for a carrier check")

        dry_runs = {"payments": payments, "shipping": shipping, "inventory": inventory, "cleanup": cleanup}
        for family in sorted(families or dry_runs):
            if family in dry_runs:
                dry_runs[family]()
        print("dry run: nothing was changed")
        return 0
    report = host.run_once(families)
    for name in report.timers:
        print(f"timer {name}: ran")
    for name, stats in report.queues.items():
        print(f"queue {name}: {stats.processed} processed, {stats.succeeded} ok, {stats.rejected} rejected, {stats.failed} failed,"
              f" {stats.poisoned} poisoned")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .runner import StartupError, check_settings

    host = _host(args)
    try:
        check_settings(host.functions)
    except StartupError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"serving {len(host.functions)} functions; HTTP on http://127.0.0.1:{args.port}/api (function key in LOCAL_FUNCTION_KEY)")
    host.serve(stop, http_port=args.port, families=set(args.task) if args.task else None)
    return 0


def cmd_poison(args: argparse.Namespace) -> int:
    from ecommerce_tasks.logs import mask_text
    from .poison import list_poisoned, purge, replay

    host = _host(args)
    queues = [host.queue_name(f) for f in host.select("queue")]
    if args.queue:
        queues = [args.queue]
    for queue in queues:
        if args.action == "list":
            for message in list_poisoned(queue):
                print(f"{queue}-poison {message.message_id} (tries {message.dequeue_count}): {mask_text(message.reason)}\n"
                      f"    {mask_text(message.body)[:300]}")
        elif args.action == "replay":
            print(f"{queue}: replayed {replay(queue, args.message_id, progress=True)} message(s)")
        elif not args.yes:
            print("purge deletes poisoned messages for good: add --yes (and --message-id to purge one)", file=sys.stderr)
            return 2
        else:
            print(f"{queue}: purged {purge(queue, args.message_id, progress=True)} message(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .status import print_status, status_report

    host = _host(args)
    timers = [f.name for f in host.select("timer")]
    queues = [host.queue_name(f) for f in host.select("queue")]
    report = status_report(timers, queues, progress=not args.no_progress)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_status(report)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from autopilot_sandbox import SandboxServer

    server = SandboxServer(port=args.port).start()
    from .devtools import local_environment

    urls = {k: v for k, v in local_environment("sandbox", server.url).items() if k.endswith("_API_BASE_URL") or k == "ACS_CONNECTION_STRING"}
    print(f"sandbox providers on {server.url}:")
    for name, value in urls.items():
        print(f"  {name}={value}")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Creates every queue, table and container the app uses (each is also made on first use)."""
    from .runner import load_local_settings
    from ecommerce_tasks.settings import TABLES
    from ecommerce_tasks.storage import container_client, queue_client, table_client

    load_local_settings()
    settings = reload_settings()
    for queue in settings.queues():
        queue_client(queue)
        print(f"queue {queue}")
    for table in TABLES:
        table_client(settings.table(table))
        print(f"table {settings.table(table)}")
    container_client(settings.labels_container)
    print(f"container {settings.labels_container}")
    return 0


def cmd_failures(args: argparse.Namespace) -> int:
    """Rejected and failed messages with their reasons (customer data masked when recorded)."""
    from datetime import datetime, timezone

    from ecommerce_tasks.logs import mask_text
    from .runner import load_local_settings
    from ecommerce_tasks.work import failures_table

    load_local_settings()
    settings = reload_settings()
    since = _since(args.since) if args.since else datetime.min.replace(tzinfo=timezone.utc)
    queues = [args.queue] if args.queue else settings.queues()
    shown = 0
    for queue in queues:
        for row in failures_table().query_entities("PartitionKey eq @q", parameters={"q": queue}):
            if datetime.fromisoformat(row["at"]) < since or (args.kind and row["kind"] != args.kind):
                continue
            shown += 1
            print(f"{row['at']}  {queue}  {row['kind']:<8}  message {row['message_id']} (tries {row['dequeue_count']}): {mask_text(row['reason'])}")
    print(f"{shown} failure record(s)" + (f" since {since.isoformat()}" if args.since else ""))
    return 0


def _since(text: str):
    """'2026-12-01T08:00:00+00:00', or a span back from now: '30m', '6h', '2d'."""
    from datetime import datetime, timedelta, timezone

    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(timezone.utc) - timedelta(**{units[text[-1]]: float(text[:-1])})
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_webhooks(args: argparse.Namespace) -> int:
    from ecommerce_tasks.webhooks.delivery import deliveries, replay

    from .runner import load_local_settings

    load_local_settings()
    reload_settings()
    if args.action == "replay":
        if not (args.event_id or args.failed):
            print("webhooks replay: name --event-id ID, or --failed", file=sys.stderr)
            return 2
        print(f"queued {replay(args.event_id, failed=args.failed)} event(s) for delivery again")
        return 0
    shown = deliveries(failed_only=args.failed)
    for entry in shown:
        last = entry["attempts"][-1] if entry["attempts"] else {}
        print(f"{entry['event_id']}  {entry.get('type') or '?':<28} {entry.get('state') or '?':<9} tries {len(entry['attempts'])}"
              f"  last {last.get('status_code') or last.get('error') or '-'} at {last.get('at') or '-'}"
              + (f", next try {last['next_try_at']}" if last.get("next_try_at") else ""))
    print(f"{len(shown)} event(s)")
    return 0


def cmd_settings_doc(args: argparse.Namespace) -> int:
    from ecommerce_tasks.settings import settings_reference

    print(settings_reference(), end="")
    return 0


def cmd_workbook(args: argparse.Namespace) -> int:
    from autopilot_local.workbook import render

    print(render(), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ecommerce_tasks.shop_events import SHOP_EVENT

    print(json.dumps(SHOP_EVENT.json_schema(), indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from autopilot_demo.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autopilot", description=__doc__)
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run timers now and drain the queues (the local runner)")
    run.add_argument("--once", action="store_true", required=True, help="one pass: timers now, queues until empty")
    run.add_argument("--task", action="append", help="only this family (repeatable), e.g. payments")
    run.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    run.add_argument("--visibility-timeout", type=float, help="seconds a failed message stays invisible (default: host.json)")
    run.set_defaults(handler=cmd_run)

    serve = sub.add_parser("serve", help="run continuously: timers on schedule, queues polled, HTTP on --port")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--task", action="append")
    serve.add_argument("--visibility-timeout", type=float, help="seconds a failed message stays invisible (default: host.json)")
    serve.add_argument("--message-lease", type=float, help="seconds a received message stays invisible while it runs (default 600)")
    serve.set_defaults(handler=cmd_serve)

    poison = sub.add_parser("poison", help="list, replay or purge poisoned messages")
    poison.add_argument("action", choices=["list", "replay", "purge"])
    poison.add_argument("--queue", help="the work queue (default: every queue of the app)")
    poison.add_argument("--message-id", help="replay or purge only this poisoned message")
    poison.add_argument("--yes", action="store_true", help="purge: yes, delete them")
    poison.set_defaults(handler=cmd_poison)

    status = sub.add_parser("status", help="last runs of every timer, counts per state, due work, queues and poison")
    status.add_argument("--json", action="store_true")
    status.add_argument("--no-progress", action="store_true")
    status.set_defaults(handler=cmd_status)

    sandbox = sub.add_parser("sandbox", help="run the sandbox payment providers")
    sandbox.add_argument("--port", type=int, default=12111)
    sandbox.set_defaults(handler=cmd_sandbox)

    failures = sub.add_parser("failures", help="rejected and failed messages with their reasons (masked)")
    failures.add_argument("--queue", help="one queue (default: every queue of the app)")
    failures.add_argument("--since", help="an ISO time, or a span back from now: 30m, 6h, 2d")
    failures.add_argument("--kind", choices=["rejected", "failed"])
    failures.set_defaults(handler=cmd_failures)

    webhooks = sub.add_parser("webhooks", help="webhook deliveries to the shop: list them, or send them again")
    webhooks.add_argument("action", choices=["list", "replay"])
    webhooks.add_argument("--failed", action="store_true", help="only the failed ones")
    webhooks.add_argument("--event-id", help="replay this event")
    webhooks.set_defaults(handler=cmd_webhooks)

    sub.add_parser("init", help="create every queue, table and container the app uses").set_defaults(handler=cmd_init)
    sub.add_parser("schema", help="print the JSON Schema of shop events").set_defaults(handler=cmd_schema)
    sub.add_parser("settings-doc", help="print docs/settings.md, generated from the settings models").set_defaults(handler=cmd_settings_doc)
    sub.add_parser("workbook", help="print infra/workbook.json, generated from the queries in docs/operations.md").set_defaults(handler=cmd_workbook)
    sub.add_parser("demo", help="the demo: Azurite, sandbox, sample shop, every task, report").set_defaults(handler=cmd_demo)

    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # request-level chatter
    return args.handler(args)
