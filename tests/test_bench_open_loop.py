"""The benchmarks' open-loop generator: every request answered and timed from its scheduled
send time, the server's own time read from its answers, statuses counted, answers split across
reads reassembled."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from bench.common import _open_loop, cycle_requests, server_timing

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)


async def _server(delay: float, seen: list[bytes] | None = None) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                return
            path = head.split(b" ", 2)[1]
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            if seen is not None:
                seen.append(body)
            if path == b"/slow":
                await asyncio.sleep(delay)
            status = b"503 Service Unavailable" if path == b"/down" else b"200 OK"
            answer = b"echo:" + body if body else b"ok"
            close = path == b"/close"  # as the API does after a connection's quota of requests
            extra = b"Connection: close\r\n" if close else b""
            # as api.timing says it: the server's own time
            spent = delay * 1000 if path == b"/slow" else 0.5
            extra += b"Server-Timing: app;dur=%.1f, db;dur=%.1f\r\n" % (spent, spent / 5)
            # head and body in separate writes: the client must wait for the whole body
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(answer)
                         + extra + b"\r\n")  # fmt: skip
            await writer.drain()
            writer.write(answer)
            await writer.drain()
            if close:
                return

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_every_request_is_answered_and_errors_are_counted_by_status():
    server, base = await _server(0.0)
    async with server:
        paths = ["/fast", "/down", "/fast", "/fast"]
        result = await _open_loop(
            base, partial(cycle_requests, "GET", paths), {"X-API-Key": "k"}, 200.0, 0.5, 4
        )
    assert result["requests"] == result["completed"] == 100
    assert result["errors"] == {"503": 25}
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"] < 1000
    assert result["server_p50_ms"] == result["server_p99_ms"] == 0.5
    assert result["db_p50_ms"] == result["db_p99_ms"] == 0.1


async def test_latency_counts_the_wait_for_a_busy_connection():
    """One connection, a server taking 50 ms, a request every 10 ms: the requests queue up
    behind each other, and the generator must report that wait, not 50 ms each."""
    server, base = await _server(0.05)
    async with server:
        result = await _open_loop(
            base, partial(cycle_requests, "GET", ["/slow"]), {}, 100.0, 0.2, 1
        )
    assert result["completed"] == 20
    # the 20th request is sent at 190 ms and answered at ~20 × 50 = 1000 ms
    assert result["max_ms"] > 700
    assert result["p50_ms"] > 100
    # while the server's own time, read from each answer's Server-Timing, stays 50 ms
    assert result["server_p50_ms"] == result["server_p99_ms"] == 50.0
    assert result["db_p50_ms"] == result["db_p99_ms"] == 10.0


async def test_bodies_are_sent_with_their_length():
    seen: list[bytes] = []
    server, base = await _server(0.0, seen)
    async with server:

        def make(total: int) -> list[tuple[str, str, bytes | None]]:
            return [("POST", "/echo", b'{"n": %d}' % i) for i in range(total)]

        result = await _open_loop(base, make, {"content-type": "application/json"}, 50.0, 0.2, 2)
    assert result["completed"] == 10
    assert result["errors"] == {}
    # the pool's two /health pings first, then each body whole
    assert seen[:2] == [b"", b""]
    assert sorted(seen[2:]) == sorted(b'{"n": %d}' % i for i in range(10))


async def test_a_connection_the_server_closes_is_replaced():
    """Every answer says `Connection: close`: each request after the first on a connection
    would be lost without a new connection in its place."""
    server, base = await _server(0.0)
    async with server:
        result = await _open_loop(
            base, partial(cycle_requests, "GET", ["/close"]), {}, rate=200, seconds=0.5,
            connections=2,
        )  # fmt: skip
    assert result["completed"] == result["requests"] == 100
    assert result["errors"] == {}


def test_server_timing_entries_are_read_by_name():
    assert server_timing("app;dur=4.2, db;dur=1.3") == {"app": 4.2, "db": 1.3}
    assert server_timing('app;desc="the app";dur=7, cache') == {"app": 7.0}
    assert server_timing("") == {}
