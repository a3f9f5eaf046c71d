"""Storage clients, created once per process and name, and the fan-out helper.

Every client carries the same request-counting pipeline hook, so the cost of a path (storage
transactions are the bill on Azure) is measured rather than estimated.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import requests
from azure.core.exceptions import ResourceExistsError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient as AsyncQueueClient


class RequestCounter:
    """Counts storage requests by service ('table', 'queue', 'blob') and HTTP method.

    Hooked into every client's azure-core pipeline through CustomHookPolicy (`raw_request_hook`),
    which sees each request actually sent, retries included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._operations = 0

    def hook(self, service: str):
        return lambda request: self.on_request(request, service)

    def on_request(self, request: Any, service: str) -> None:
        http = request.http_request
        with self._lock:
            self._counts[(service, http.method)] += 1
            self._operations += _operations_in(http)

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def operations(self) -> int:
        """Requests, counting each operation inside an entity-group transaction separately."""
        with self._lock:
            return self._operations

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._operations = 0


def _operations_in(http: Any) -> int:
    """1, or the number of operations of a $batch (a changeset nested in the batch body)."""
    batch = getattr(http, "multipart_mixed_info", None)
    if not batch:
        return 1
    return sum(len(part.multipart_mixed_info[0]) if getattr(part, "multipart_mixed_info", None) else 1 for part in batch[0])


REQUEST_COUNTER = RequestCounter()


@lru_cache(maxsize=None)
def _transport(verify: str | bool) -> RequestsTransport:
    """One HTTP connection pool for every storage client, sized for a full batch of workers."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not urllib.request.getproxies():
        # With trust_env on, requests scans os.environ (proxies, netrc, CA bundle) on every request:
        # about a tenth of a payment worker's CPU here, and a Function App's environment holds every
        # app setting. With no proxy to honour, the CA bundle is read once, when a client is made.
        session.trust_env = False
    return RequestsTransport(session=session, session_owner=False, connection_verify=verify)


def client_options(service: str) -> dict[str, Any]:
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return {"raw_request_hook": REQUEST_COUNTER.hook(service), "transport": _transport(verify)}


def _access():
    from ..settings import get_settings

    return get_settings().storage


@lru_cache(maxsize=4)
def _credential(access):
    return new_credential(access)


def new_credential(access, asynchronous: bool = False):
    """The identity storage is reached with (only without a connection string): the managed
    identity on Azure, or whatever DefaultAzureCredential finds on a developer's machine."""
    from azure import identity
    from azure.identity import aio

    kind = aio if asynchronous else identity
    if access.managed_identity:
        return kind.ManagedIdentityCredential(client_id=access.client_id or None)
    return kind.DefaultAzureCredential(managed_identity_client_id=access.client_id or None)


def _client(cls, service: str, access, *args: Any, credential: Any = None, **kwargs: Any):
    """cls from the connection string, or from the service endpoint and the identity."""
    if access.connection_string:
        return cls.from_connection_string(access.connection_string, *args, **kwargs)
    return cls(access.endpoint(service), *args, credential=credential or _credential(access), **kwargs)


@lru_cache(maxsize=None)
def _table_service(access) -> TableServiceClient:
    return _client(TableServiceClient, "table", access, **client_options("table"))


def create_if_missing(create: Any) -> None:
    try:
        create()
    except ResourceExistsError:
        pass


@lru_cache(maxsize=None)
def _table(access, name: str) -> TableClient:
    client = _table_service(access).get_table_client(name)
    create_if_missing(client.create_table)
    return client


def table_client(name: str) -> TableClient:
    """The named table (created on first use in this process)."""
    return _table(_access(), name)


_QUEUE_POLICIES = {
    # The Functions host reads queue messages as base64 (host.json messageEncoding): match it.
    "message_encode_policy": TextBase64EncodePolicy(),
    "message_decode_policy": TextBase64DecodePolicy(),
}


@lru_cache(maxsize=None)
def _queue(access, name: str) -> QueueClient:
    client = _client(QueueClient, "queue", access, name, **client_options("queue"), **_QUEUE_POLICIES)
    create_if_missing(client.create_queue)
    return client


def queue_client(name: str) -> QueueClient:
    """The named queue (created on first use in this process), base64-encoded like the host."""
    return _queue(_access(), name)


@lru_cache(maxsize=None)
def _raw_queue(access, name: str) -> QueueClient:
    return _client(QueueClient, "queue", access, name, **client_options("queue"))


@lru_cache(maxsize=None)
def _created_raw_queue(access, name: str) -> QueueClient:
    client = _raw_queue(access, name)
    create_if_missing(client.create_queue)
    return client


def raw_queue_client(name: str, create: bool = True) -> QueueClient:
    """The named queue without the base64 policies: messages exactly as they are on the wire
    (created on first use in this process, unless create is False)."""
    return _created_raw_queue(_access(), name) if create else _raw_queue(_access(), name)


@lru_cache(maxsize=None)
def _container(access, name: str) -> ContainerClient:
    client = _client(BlobServiceClient, "blob", access, **client_options("blob")).get_container_client(name)
    create_if_missing(client.create_container)
    return client


def container_client(name: str) -> ContainerClient:
    """The named blob container (created on first use in this process)."""
    return _container(_access(), name)


def name_segment(text: str) -> str:
    """Any text as one safe segment of a blob or file name, readable and collision-free: ASCII
    letters, digits, '.' and '-' stay, ':' becomes '_', and everything else ('_', '/', '%', other
    letters) is percent-encoded. No segment holds a '/', so none can leave its folder. Bounded:
    a long text keeps a hash of the whole."""
    encoded = "".join(
        c if c.isascii() and (c.isalnum() or c in ".-") else "_" if c == ":" else "".join(f"%{b:02X}" for b in c.encode())
        for c in text
    )
    if not encoded.strip("."):
        encoded = "%2E" * len(text) or "%00"  # never '', '.' or '..'
    if len(encoded) > 120:
        encoded = encoded[:80] + "~" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return encoded


def put_blob(container: str, name: str, data: bytes, content_type: str) -> str:
    """Writes a blob (overwriting: the same name always gets the same document); returns its URL."""
    blob = container_client(container).get_blob_client(name)
    blob.upload_blob(data, overwrite=True, content_settings=ContentSettings(content_type=content_type))
    return blob.url


def read_blob(container: str, name: str) -> bytes:
    return container_client(container).get_blob_client(name).download_blob().readall()


def take_all(queue: str) -> list[str]:
    """Receives and deletes every visible message of a queue (for tests, the soak and operators)."""
    client = queue_client(queue)
    bodies = []
    while batch := list(client.receive_messages(messages_per_page=32, max_messages=32)):
        for message in batch:
            bodies.append(message.content)
            client.delete_message(message)
    return bodies


def enqueue(queue: str, payload: dict[str, Any], delay_seconds: int = 0) -> None:
    """One base64 JSON message; with a delay, it becomes visible only then (a schedule of retries
    that sleeps nowhere)."""
    from ..telemetry import with_trace

    queue_client(queue).send_message(json.dumps(with_trace(payload), separators=(",", ":")), visibility_timeout=delay_seconds or None)


async def _enqueue_many_async(queue: str, bodies: list[str], concurrency: int) -> None:
    queue_client(queue)  # make sure the queue exists before the concurrent sends
    access = _access()
    # An async credential belongs to this event loop: made here, closed here.
    credential = None if access.connection_string else new_credential(access, asynchronous=True)
    try:
        await _send_all(queue, bodies, concurrency, access, credential)
    finally:
        if credential is not None:
            await credential.close()


async def _send_all(queue: str, bodies: list[str], concurrency: int, access: Any, credential: Any) -> None:
    async with _client(
        AsyncQueueClient, "queue", access, queue, credential=credential, raw_request_hook=REQUEST_COUNTER.hook("queue"), **_QUEUE_POLICIES
    ) as client:
        pending = iter(bodies)

        async def sender() -> None:
            # A fixed pool of senders pulling from one iterator: no task per message, bounded memory.
            for body in pending:
                await client.send_message(body)

        await asyncio.gather(*(sender() for _ in range(max(1, min(concurrency, len(bodies))))))


def enqueue_many(queue: str, payloads: Iterable[dict[str, Any]], concurrency: int | None = None) -> int:
    """Sends one base64 message per payload, concurrently. Returns how many were sent.

    Safe to call from synchronous code only (timer functions here are synchronous).
    """
    from ..settings import get_settings

    from ..telemetry import with_trace

    bodies = [json.dumps(with_trace(p), separators=(",", ":")) for p in payloads]
    if bodies:
        asyncio.run(_enqueue_many_async(queue, bodies, concurrency or get_settings().fanout_concurrency))
    return len(bodies)
