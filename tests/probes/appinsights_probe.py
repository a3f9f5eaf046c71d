"""Runs a paid order, a rejected message and two provider calls that get no answer through the app
with Application Insights configured as on Azure, but with the connection string pointing at a
local ingestion endpoint; prints every envelope the exporter sent, as JSON (a subprocess:
OpenTelemetry's global providers can be set only once).

What the exporter sends is what lands in the workspace's tables, so the test reads the rows an
operator's queries will read: names, customDimensions, itemCount (sampleRate), success."""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

envelopes: list[dict] = []
live_posts: list[str] = []  # what Live Metrics (the portal's log stream on Flex Consumption) received
live_pinged = threading.Event()


class Ingestion(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.startswith("/v2.1/track"):
            items = json.loads(body)
            envelopes.extend(items)
            answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
        else:  # live metrics: "someone is watching", so the exporter posts what happens
            live_pinged.set()
            if "/post" in self.path:
                live_posts.append(body.decode("utf-8", "replace"))
            answer = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ms-qps-subscribed", "true")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
    f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={endpoint};LiveEndpoint={endpoint}")
os.environ["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
root_records: list[str] = []


class RootCapture(logging.Handler):  # stands in for the worker's handler, which forwards to the host
    def emit(self, record: logging.LogRecord) -> None:
        root_records.append(record.name)


logging.getLogger().addHandler(RootCapture(logging.INFO))
logging.getLogger().setLevel(logging.INFO)

import function_app  # noqa: E402,F401 - configures Application Insights, as the worker's import does
from opentelemetry import _logs, metrics, trace  # noqa: E402

from autopilot_local.runner import HostConfig, LocalHost  # noqa: E402
from tests.probes.shop import place_paid_order  # noqa: E402
from ecommerce_tasks import http  # noqa: E402
from ecommerce_tasks.settings import get_settings  # noqa: E402
from ecommerce_tasks.storage import enqueue  # noqa: E402

assert live_pinged.wait(60), "live metrics never called"
place_paid_order(sys.argv[1], "o-insight", "tr_insight001")
enqueue(get_settings().payment_checks_queue, {"order_id": "o-nobody-knows"})  # rejected: an unknown order
LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0)).run_once()

# Two provider calls that get no answer: one that times out, one whose connection is refused.
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen()
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()
for url in (f"http://127.0.0.1:{silent.getsockname()[1]}/v2/payments/tr_x", f"http://127.0.0.1:{closed_port}/v2/payments/tr_x"):
    try:
        http.send_once("mollie", "GET", url, timeout=0.3)
    except http.TransientProviderError:
        pass

deadline = time.monotonic() + 60
while time.monotonic() < deadline and not any('"DocumentType": "Trace"' in post for post in live_posts):
    time.sleep(0.2)
trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
_logs.get_logger_provider().force_flush()  # type: ignore[attr-defined]
metrics.get_meter_provider().force_flush()  # type: ignore[attr-defined]
print(json.dumps({"envelopes": envelopes, "live_posts": live_posts, "root_records": [n for n in root_records if n.startswith("ecommerce_tasks")]}))
