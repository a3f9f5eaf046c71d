"""Runs one paid order through every family with in-memory OpenTelemetry exporters and prints
what was recorded as JSON (a subprocess: OpenTelemetry's global providers can be set only once)."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({"name": record.name, "message": record.getMessage(), "run_id": getattr(record, "run_id", None),
                             "message_id": getattr(record, "message_id", None), "entity_id": getattr(record, "entity_id", None)})


capture = Capture()
logging.getLogger("ecommerce_tasks").addHandler(capture)
logging.getLogger("ecommerce_tasks").setLevel(logging.INFO)

import function_app  # noqa: E402,F401 - after the providers are set; wires the families, as the host's import does
from autopilot_local.runner import HostConfig, LocalHost  # noqa: E402
from tests.probes.shop import place_paid_order  # noqa: E402

place_paid_order(sys.argv[1], "o-traced", "tr_traced0001")
LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0)).run_once()

points = []
for resource_metrics in reader.get_metrics_data().resource_metrics:
    for scope in resource_metrics.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                points.append({"metric": metric.name, "attributes": dict(point.attributes),
                               "value": getattr(point, "value", None), "count": getattr(point, "count", None)})
print(json.dumps({
    "spans": [{"name": s.name, "trace_id": s.context.trace_id, "span_id": s.context.span_id,
               "parent": s.parent.span_id if s.parent else None, "attributes": dict(s.attributes)} for s in spans.get_finished_spans()],
    "metrics": points,
    "logs": capture.records,
}))
