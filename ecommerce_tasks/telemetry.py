"""Telemetry through OpenTelemetry: traces that follow an order from timer to queue to worker to
provider, metrics per family, and log records that carry the ids an operator searches by.

- `configure()` (called by function_app.py) sends everything to Application Insights when
  APPLICATIONINSIGHTS_CONNECTION_STRING is set, through azure-monitor-opentelemetry. It exports the
  `ecommerce_tasks` loggers, and stops their records from reaching the root logger, whose worker
  handler would send each line to Application Insights a second time through the host. Without
  the setting, the API calls below are no-ops: tests and local runs pay nothing.
- Trace context travels inside each queue message we send (`_trace`, W3C traceparent), and is
  taken out before the message is validated, so the models never see it.
- Every log record of this app carries run_id, message_id and the entity id of the work it belongs
  to, with e-mail addresses and customer names masked (the record factory below).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context

from . import context

TRACE_KEY = "_trace"
RUN_KEY = "run_id"
ENTITY_KEYS = ("order_id", "sku", "checkout_id", "payment_id")

tracer = trace.get_tracer("ecommerce_tasks")
meter = metrics.get_meter("ecommerce_tasks")
ITEMS = meter.create_counter(
    "autopilot.items", unit="1", description="work items by family and stage: found, enqueued, processed, failed, rejected, poisoned"
)
PROVIDER_LATENCY = meter.create_histogram("autopilot.provider.latency", unit="ms", description="provider HTTP calls, by provider and status")

_configured = False


# Libraries that log every request at INFO (the Azure SDK with all headers, httpx): under the
# worker the root logger is at INFO and forwards each record to the host as the function's own
# log, and host.json's logLevel does not filter them. So the app sets their levels itself.
CHATTY_LIBRARIES = ("azure", "httpx", "httpcore", "urllib3", "msal")


def quiet_libraries() -> None:
    for name in CHATTY_LIBRARIES:
        logger = logging.getLogger(name)
        if logger.level in (logging.NOTSET, logging.DEBUG, logging.INFO):
            logger.setLevel(logging.WARNING)


def configure() -> bool:
    """Application Insights when its connection string is set; True if it was configured now.
    Library loggers are quieted in any case."""
    global _configured
    quiet_libraries()
    if _configured or not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    from .settings import get_settings

    # A fixed percentage, whole traces kept or dropped together, rather than the distro's default
    # rate limit (about 5 traces a second), which under a fan-out drops most rows unevenly. Logs are
    # not sampled with the traces, so failure counts from `traces` stay exact. Live metrics on: on
    # Flex Consumption that is the portal's log stream, and our records reach it only this way.
    options: dict[str, Any] = {"logger_name": "ecommerce_tasks", "enable_live_metrics": True,
                               "sampling_ratio": get_settings().telemetry_sampling_percentage / 100,
                               "enable_trace_based_sampling_for_logs": False,
                               # The storage SDK's own spans add two InProc rows to the HTTP row of
                               # every storage call: a third of the volume, nothing an operator reads.
                               "instrumentation_options": {"azure_sdk": {"enabled": False}}}
    if "AAD" in os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""):
        from azure.identity import ManagedIdentityCredential

        options["credential"] = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID") or None)
    configure_azure_monitor(**options)
    # The Functions worker forwards every record that reaches the root logger to the host, which
    # sends it to Application Insights as well: our records stop at our own (OpenTelemetry) handler.
    logging.getLogger("ecommerce_tasks").propagate = False
    _configured = True
    return True


def family_of(queue_or_function: str) -> str:
    """payment-checks -> payments, shipping_label -> shipping: the family for metric attributes."""
    name = queue_or_function.lower()
    for family in ("payment", "label", "tracking", "notification", "stock", "cleanup", "shop-events", "inventory", "shipping"):
        if family in name:
            return {"payment": "payments", "label": "shipping", "tracking": "shipping", "notification": "notifications",
                    "stock": "inventory", "shop-events": "intake"}.get(family, family)
    return name.split("_", 1)[0]


def count(stage: str, family: str, amount: int = 1) -> None:
    if amount:
        ITEMS.add(amount, {"family": family, "stage": stage})


def with_trace(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload plus the current trace context and timer run id (nothing when there are none)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if run_id := context.run_id.get():
        carrier[RUN_KEY] = run_id
    return {**payload, TRACE_KEY: carrier} if carrier else payload


@dataclass(frozen=True)
class Received:
    body: str  # without the trace context: what the message's model validates
    sender: Context | None = None
    entity: str | None = None  # the order, product or checkout the message names
    run_id: str | None = None  # the timer run that sent it


def split_message(body: str) -> Received:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting: the worker's parse rejects it with a reason
        return Received(body)
    if not isinstance(data, dict):
        return Received(body)
    entity = next((str(data[key])[:100] for key in ENTITY_KEYS if isinstance(data.get(key), str)), None)
    carrier = data.pop(TRACE_KEY, None)
    if not isinstance(carrier, dict):
        return Received(body, entity=entity)
    run_id = carrier.get(RUN_KEY) if isinstance(carrier.get(RUN_KEY), str) else None
    return Received(json.dumps(data, separators=(",", ":")), propagate.extract(carrier), entity, run_id)


def _max_dequeue_count() -> int:
    try:
        host = json.loads((Path(__file__).parent.parent / "host.json").read_text())
        return int(host["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, ValueError, KeyError):
        return 5


MAX_DEQUEUE_COUNT = _max_dequeue_count()


def _install_record_factory() -> None:
    """Every record of this app's loggers gets the ids of its context, and its text masked."""
    from .logs import mask_text

    previous = logging.getLogRecordFactory()
    if getattr(previous, "_autopilot", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name.startswith("ecommerce_tasks"):
            record.run_id = context.run_id.get()
            record.message_id = context.message_id.get()
            record.entity_id = context.entity.get()
            try:
                record.msg, record.args = mask_text(record.getMessage()), ()
            except (TypeError, ValueError):
                pass  # a malformed format string: leave the record as it came
        return record

    factory._autopilot = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()
