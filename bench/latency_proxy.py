"""A TCP proxy that puts a network round trip between the app and Azurite: each direction of each
connection is delayed by half the RTT, without limiting throughput (data is timestamped when read
and written when due, so a connection keeps streaming while its bytes are in flight). `tc netem`
is not available here; this is the stand-in.

The default RTT, 5 ms, is a round trip inside one Azure region between a Function App and its
storage account (Microsoft's published intra-region latencies between availability zones are
under 2 ms one way; storage adds its front-end hop), a figure to set with `--storage-rtt-ms`.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess  # nosec B404
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class LatencyProxy:
    def __init__(self, routes: dict[int, int], rtt_ms: float, host: str = "127.0.0.1"):
        self.routes = routes  # listen port -> target port
        self.delay = rtt_ms / 2000  # seconds, each way
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="latency-proxy")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        for listen, target in self.routes.items():
            server = self._loop.run_until_complete(
                asyncio.start_server(lambda r, w, t=target: self._connect(r, w, t), self.host, listen))
            self._servers.append(server)
        self._ready.set()
        self._loop.run_forever()

    async def _connect(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, target: int) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay, chunk))
            queue.put_nowait((time.monotonic() + self.delay, b""))

        async def write() -> None:
            while True:
                due, chunk = await queue.get()
                pause = due - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
            writer.close()

        await asyncio.gather(read(), write(), return_exceptions=True)

    def start(self) -> "LatencyProxy":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def close() -> None:
            for server in self._servers:
                server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(5)


@contextmanager
def storage_behind(rtt_ms: float, ports: tuple[int, int, int]) -> Iterator[tuple[int, int, int]]:
    """Azurite's blob, queue and table ports behind the proxy, in a process of its own (so its CPU
    is not counted as the app's), on free ports (a proxy left over by a killed run cannot be
    mistaken for this one); yields the ports to connect to."""
    if rtt_ms <= 0:
        yield ports
        return
    proxy_ports = _free_ports(len(ports))
    routes = [f"{listen}:{target}" for listen, target in zip(proxy_ports, ports, strict=True)]
    # stdin is a pipe the proxy reads until it closes: when this process dies, however, so does it.
    process = subprocess.Popen([sys.executable, "-m", "bench.latency_proxy", str(rtt_ms), *routes], stdin=subprocess.PIPE)  # nosec B603
    try:
        deadline = time.monotonic() + 20
        while not all(_open(port) for port in proxy_ports):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the latency proxy did not start")
            time.sleep(0.05)
        yield proxy_ports
    finally:
        process.terminate()
        process.wait(10)


def _free_ports(count: int) -> tuple[int, ...]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return tuple(sock.getsockname()[1] for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def _open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":  # python -m bench.latency_proxy RTT_MS LISTEN:TARGET ...
    rtt, *pairs = sys.argv[1:]
    proxy = LatencyProxy({int(a): int(b) for a, b in (pair.split(":") for pair in pairs)}, float(rtt)).start()
    sys.stdin.read()  # until the parent closes the pipe, or dies
