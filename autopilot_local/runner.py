"""The local runner: a small stand-in for the Functions host, for operators and end-to-end tests.

It loads the functions registered in function_app.py and runs them as the host would: timers on
their NCRONTAB schedules (or now), queues drained with host.json's semantics (base64 bodies, batch
size, visibility timeout on failure, max dequeue count, `<queue>-poison`), and HTTP routes under
/api with function-key auth. Production always runs on the Functions host.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import logging
import os
import re
import secrets
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.storage.queue import QueueClient
from cronsim import CronSim

from ecommerce_tasks.logs import mask_text
from ecommerce_tasks.startup import StartupError, problems
from ecommerce_tasks.work import last_outcome, record_failure
from ecommerce_tasks.storage.clients import raw_queue_client

log = logging.getLogger("autopilot_local.runner")

ROOT = Path(__file__).resolve().parent.parent


def _timespan(value: str) -> float:
    hours, minutes, seconds = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class HostConfig:
    """host.json's extensions.queues settings, as the host applies them."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"
    message_lease: float = 600.0  # how long a received message stays invisible while it runs (the host's 10 minutes)

    @classmethod
    def load(cls, path: Path = ROOT / "host.json") -> "HostConfig":
        queues = json.loads(path.read_text()).get("extensions", {}).get("queues", {})
        defaults = cls()
        return cls(
            batch_size=int(queues.get("batchSize", defaults.batch_size)),
            new_batch_threshold=int(queues.get("newBatchThreshold", defaults.new_batch_threshold)),
            max_dequeue_count=int(queues.get("maxDequeueCount", defaults.max_dequeue_count)),
            visibility_timeout=_timespan(queues["visibilityTimeout"]) if "visibilityTimeout" in queues else 0.0,
            max_polling_interval=_timespan(queues["maxPollingInterval"]) if "maxPollingInterval" in queues else 60.0,
            message_encoding=queues.get("messageEncoding", "base64"),
        )

    def with_overrides(self, **changes: Any) -> "HostConfig":
        return replace(self, **changes)


def load_local_settings(path: Path = ROOT / "local.settings.json") -> None:
    """Puts local.settings.json's Values into the environment, as `func start` does (env wins)."""
    if path.exists():
        for key, value in json.loads(path.read_text()).get("Values", {}).items():
            os.environ.setdefault(key, str(value))


def resolve(value: str) -> str:
    """Binding expressions like %PAYMENT_CHECKS_QUEUE% come from app settings."""

    def lookup(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise KeyError(f"app setting {name} is not set (needed by a binding)")
        return os.environ[name]

    return re.sub(r"%([A-Za-z0-9_]+)%", lookup, value)


# The Functions host caps request bodies too (100 MB); ours is what the app's routes need.
MAX_HTTP_BODY_BYTES = 1024 * 1024
HTTP_SOCKET_TIMEOUT_SECONDS = 15
_KEY_IN_URL = re.compile(r"(?i)([?&]code=)[^&\s\"]*")


def redact_key(text: str) -> str:
    return _KEY_IN_URL.sub(r"\1***", text)


def check_settings(functions: list["RegisteredFunction"]) -> None:
    """What the host would refuse (a binding naming an unset setting), refused once, clearly."""
    bindings = [(f.name, getattr(f.trigger, attribute, None)) for f in functions for attribute in ("schedule", "queue_name")]
    found = problems(bindings)
    if found:
        raise StartupError(" | ".join(found) + ". Set them in local.settings.json or the environment.")


@dataclass
class RegisteredFunction:
    name: str
    kind: str  # "timer", "queue" or "http"
    arg_name: str
    call: Callable[..., Any]
    trigger: Any

    @property
    def family(self) -> str:
        return self.name.split("_", 1)[0]


@dataclass
class DrainStats:
    processed: int = 0
    succeeded: int = 0
    rejected: int = 0  # completed without retry, with the reason in the failures table
    failed: int = 0
    poisoned: int = 0


@dataclass
class RunReport:
    timers: dict[str, str] = field(default_factory=dict)
    queues: dict[str, DrainStats] = field(default_factory=dict)


def load_app(module: str = "function_app") -> func.FunctionApp:
    """The app as the host loads it: function_app.py from the app's folder (the repository root)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(module).app


class UndecodableMessage(ValueError):
    pass


_INDEXED: dict[int, list[RegisteredFunction]] = {}


def index_functions(app: func.FunctionApp) -> list[RegisteredFunction]:
    """The app's functions, indexed once per process (the library refuses a second indexing)."""
    if id(app) not in _INDEXED:
        found = []
        for function in app.get_functions():
            trigger = function.get_trigger()
            if trigger is None:
                raise ValueError(f"function {function.get_function_name()} has no trigger")
            kind = {"timerTrigger": "timer", "queueTrigger": "queue", "httpTrigger": "http"}[trigger.get_binding_name()]
            found.append(RegisteredFunction(str(function.get_function_name()), kind, trigger.name, function.get_user_function(), trigger))
        _INDEXED[id(app)] = found
    return _INDEXED[id(app)]


def worker_pool_size() -> int:
    """The Python worker runs every sync function in ONE pool of PYTHON_THREADPOOL_THREAD_COUNT
    threads, for all functions of the app together; unset, Python's default: min(32, cores + 4)."""
    raw = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= 32:
            raise ValueError(f"PYTHON_THREADPOOL_THREAD_COUNT must be a whole number from 1 to 32, not {raw!r}")
        return int(raw)
    return min(32, (os.cpu_count() or 1) + 4)


def next_run_delay(schedule: str, last_start: datetime | None, now: datetime) -> float:
    """Seconds until a timer runs again. Like the host, the next occurrence counts from the start
    of the last run: a run that took longer than the interval is followed at once by another."""
    upcoming = next(CronSim(schedule, last_start or now))
    return max(0.0, (upcoming - now).total_seconds())


class LocalHost:
    def __init__(self, app: func.FunctionApp | None = None, config: HostConfig | None = None):
        self.app = app or load_app()
        self.config = config or HostConfig.load()
        self.functions = index_functions(self.app)
        # One pool for every function, timers included, as the worker has: its size, not the
        # number of queues, decides how many invocations run at once.
        self.pool_size = worker_pool_size()
        self.pool = ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="worker")

    # -- discovery -------------------------------------------------------------------------------
    def select(self, kind: str, families: set[str] | None = None) -> list[RegisteredFunction]:
        return [f for f in self.functions if f.kind == kind and (families is None or f.family in families)]

    def families(self) -> list[str]:
        return sorted({f.family for f in self.functions})

    # -- timers ------------------------------------------------------------------------------------
    def run_timer(self, function: RegisteredFunction, past_due: bool = False) -> None:
        log.info("timer %s: running", function.name)
        self.pool.submit(function.call, **{function.arg_name: TimerRequest(past_due=past_due)}).result()

    # -- queues ------------------------------------------------------------------------------------
    def _raw_queue(self, name: str) -> QueueClient:
        # No encode/decode policy: the runner sees the wire format, as the host does.
        return raw_queue_client(name)

    def queue_name(self, function: RegisteredFunction) -> str:
        return resolve(function.trigger.queue_name)

    def drain(self, function: RegisteredFunction, max_batches: int | None = None) -> DrainStats:
        """Processes messages until the queue has no visible ones (or max_batches were fetched).

        Like the host: a batch of batchSize is handed to the worker, and a new batch is fetched as
        soon as no more than newBatchThreshold messages are still running (so up to batchSize +
        newBatchThreshold are in flight), rather than waiting for the slowest of a batch. How many
        of them run at once is the worker pool's size, shared with every other function.
        """
        queue = self._raw_queue(self.queue_name(function))
        poison = self._raw_queue(self.queue_name(function) + "-poison")
        stats = DrainStats()
        batches = 0
        running: set[Future] = set()
        pool = self.pool  # shared with every other function: the worker's single pool
        while max_batches is None or batches < max_batches:
            messages = list(
                queue.receive_messages(
                    messages_per_page=self.config.batch_size, max_messages=self.config.batch_size,
                    visibility_timeout=int(self.config.message_lease),
                )
            )
            if not messages:
                if not running:
                    break
                # The queue looks empty: the host backs off its polling rather than asking again
                # after every completion; here, ask again once what is running has finished.
                self._collect(wait(running).done, running, stats)
                continue
            batches += 1
            running |= {pool.submit(self._deliver, function, queue, poison, m) for m in messages}
            while len(running) > self.config.new_batch_threshold:
                self._collect(wait(running, return_when=FIRST_COMPLETED).done, running, stats)
        self._collect(set(running), running, stats)
        return stats

    @staticmethod
    def _collect(done: set[Future], running: set[Future], stats: DrainStats) -> None:
        for future in done:
            running.discard(future)
            outcome = future.result()
            stats.processed += 1
            setattr(stats, outcome, getattr(stats, outcome) + 1)

    def _deliver(self, function: RegisteredFunction, queue: QueueClient, poison: QueueClient, message: Any) -> str:
        if message.dequeue_count > self.config.max_dequeue_count:
            # Seen more often than allowed without completing (a crash loop): straight to poison.
            return self._to_poison(function, queue, poison, message, "exceeded max dequeue count")
        try:
            body = self._decode(message.content)
            last_outcome(reset=True)
            function.call(
                **{
                    function.arg_name: QueueMessage(
                        id=message.id,
                        body=body,
                        dequeue_count=message.dequeue_count,
                        insertion_time=message.inserted_on,
                        expiration_time=message.expires_on,
                        pop_receipt=message.pop_receipt,
                    )
                }
            )
        except Exception as exc:  # noqa: BLE001 - any failure of a function is a failed delivery
            if isinstance(exc, UndecodableMessage):
                # The function never ran, so nothing recorded why: record it for the poison tools.
                record_failure(self.queue_name(function), message.id, message.content, "failed", str(exc), message.dequeue_count)
            if message.dequeue_count >= self.config.max_dequeue_count:
                return self._to_poison(function, queue, poison, message, mask_text(repr(exc)))
            log.warning("%s: message %s failed (try %d): %s", function.name, message.id, message.dequeue_count, mask_text(repr(exc)))
            queue.update_message(message, pop_receipt=message.pop_receipt, visibility_timeout=int(self.config.visibility_timeout))
            return "failed"
        queue.delete_message(message, pop_receipt=message.pop_receipt)
        return "rejected" if last_outcome() == "rejected" else "succeeded"

    def _decode(self, content: str) -> bytes:
        if self.config.message_encoding == "base64":
            try:
                return base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise UndecodableMessage("message is not valid base64 (host.json messageEncoding is base64)") from exc
        return content.encode("utf-8")

    def _to_poison(self, function: RegisteredFunction, queue: QueueClient, poison: QueueClient, message: Any, reason: str) -> str:
        # The host's own words (its queue listener logs them as a warning): the poisoning query in
        # docs/operations.md searches for them, since they cover timeouts and crashes too.
        log.warning("Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.", self.config.max_dequeue_count, poison.queue_name)
        log.error("%s: message %s poisoned after %d tries: %s", function.name, message.id, message.dequeue_count, reason)
        poison.send_message(message.content)
        queue.delete_message(message, pop_receipt=message.pop_receipt)
        return "poisoned"

    # -- one pass of everything --------------------------------------------------------------------
    def run_once(self, families: set[str] | None = None) -> RunReport:
        """Intake first, then each selected family's timers, each followed by draining every queue."""
        report = RunReport()
        wanted = None if families is None else set(families) | {"intake"}
        queues = self.select("queue", wanted)
        self._drain_all(queues, report)
        for timer in self.select("timer", families):
            self.run_timer(timer)
            report.timers[timer.name] = "ran"
            # Drain before the next timer: what one family finishes (a paid order) is what the
            # next one's scan finds due (its label), in this same run.
            self._drain_all(queues, report)
        return report

    def _drain_all(self, queues: list[RegisteredFunction], report: RunReport) -> None:
        while True:
            moved = 0
            for function in queues:
                stats = self.drain(function)
                total = report.queues.setdefault(function.name, DrainStats())
                for name in ("processed", "succeeded", "rejected", "failed", "poisoned"):
                    setattr(total, name, getattr(total, name) + getattr(stats, name))
                moved += stats.processed
            if moved == 0:
                return

    # -- continuous ----------------------------------------------------------------------------------
    def serve(self, stop: threading.Event, http_port: int | None = 7071, families: set[str] | None = None) -> None:
        check_settings(self.functions)  # one clear message, not a KeyError per poll
        threads = [threading.Thread(target=self._timer_loop, args=(f, stop), daemon=True) for f in self.select("timer", families)]
        wanted = None if families is None else set(families) | {"intake"}
        threads += [threading.Thread(target=self._queue_loop, args=(f, stop), daemon=True) for f in self.select("queue", wanted)]
        server = None
        if http_port is not None:
            server = self.http_server(http_port)
            threads.append(threading.Thread(target=server.serve_forever, daemon=True))
        for thread in threads:
            thread.start()
        stop.wait()
        if server:
            server.shutdown()
            server.server_close()

    def _timer_loop(self, function: RegisteredFunction, stop: threading.Event) -> None:
        schedule = resolve(function.trigger.schedule)
        last_start: datetime | None = None
        while not stop.is_set():
            delay = next_run_delay(schedule, last_start, datetime.now(timezone.utc).replace(tzinfo=None))
            if stop.wait(delay):
                return
            past_due = last_start is not None and delay == 0.0  # the last run overran its interval
            last_start = datetime.now(timezone.utc).replace(tzinfo=None)
            try:
                self.run_timer(function, past_due=past_due)
            except Exception:  # noqa: BLE001 - a failed run is logged; the next one comes on schedule
                log.exception("timer %s failed", function.name)

    def _queue_loop(self, function: RegisteredFunction, stop: threading.Event) -> None:
        idle = 0.1
        while not stop.is_set():
            try:
                stats = self.drain(function, max_batches=1)
            except (ServiceRequestError, ServiceResponseError) as exc:  # storage unreachable: poll again later
                log.warning("polling %s: storage unreachable (%s)", function.name, type(exc).__name__)
                stats = DrainStats()
            except Exception:  # noqa: BLE001 - anything else is a bug worth its traceback
                log.exception("polling %s failed", function.name)
                stats = DrainStats()
            # Like the host: poll again at once while busy, back off to maxPollingInterval when idle.
            idle = 0.1 if stats.processed else min(idle * 2, self.config.max_polling_interval)
            if not stats.processed:
                stop.wait(idle)

    # -- HTTP ------------------------------------------------------------------------------------------
    def function_key(self) -> str:
        key = os.environ.get("LOCAL_FUNCTION_KEY", "").strip()
        if len(key) < 8:  # blank or trivially short: a generated one instead
            key = os.environ["LOCAL_FUNCTION_KEY"] = secrets.token_urlsafe(24)
        return key

    def http_server(self, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        routes = []
        for function in self.select("http"):
            pattern = "^/api/" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", function.trigger.route) + "$"
            methods = {str(getattr(m, "value", m)).upper() for m in (function.trigger.methods or ["GET", "POST"])}
            level = str(getattr(function.trigger.auth_level, "value", function.trigger.auth_level) or "function").lower()
            routes.append((re.compile(pattern), methods, level, function))
        key = self.function_key()
        pool = self.pool

        class Handler(BaseHTTPRequestHandler):
            timeout = HTTP_SOCKET_TIMEOUT_SECONDS  # an idle or slow client is dropped, not kept for ever

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("http: %s", redact_key(fmt % args))

            def _handle(self) -> None:
                url = urlsplit(self.path)
                params = dict(parse_qsl(url.query))
                for pattern, methods, level, function in routes:
                    match = pattern.match(url.path)
                    if not match:
                        continue
                    if self.command not in methods:
                        return self._reply(405, b"method not allowed")
                    given = (self.headers.get("x-functions-key") or params.get("code") or "").strip()
                    if level != "anonymous" and not (given and secrets.compare_digest(given.encode(), key.encode())):
                        return self._reply(401, b"")
                    declared = (self.headers.get("content-length") or "0").strip()
                    if not declared.isdigit():
                        return self._reply(400, b"invalid Content-Length")
                    length = int(declared)
                    if length > MAX_HTTP_BODY_BYTES:
                        return self._reply(413, f"body larger than {MAX_HTTP_BODY_BYTES} bytes".encode())
                    request = func.HttpRequest(
                        method=self.command,
                        url=f"http://{host}:{port}{self.path}",
                        headers=dict(self.headers.items()),
                        params=params,
                        route_params=match.groupdict(),
                        body=self.rfile.read(length) if length else b"",
                    )
                    try:
                        response = pool.submit(function.call, **{function.arg_name: request}).result()
                    except Exception:  # noqa: BLE001 - the host answers 500 too
                        log.exception("%s failed", function.name)
                        return self._reply(500, b"")
                    return self._reply(response.status_code, response.get_body(), response.mimetype)
                self._reply(404, b"")

            def _reply(self, status: int, body: bytes, mimetype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", mimetype or "text/plain")
                self.send_header("Content-Length", str(len(body)))
                if status >= 400:
                    self.send_header("Connection", "close")  # the body may be unread: do not reuse
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        return Server((host, port), Handler)
