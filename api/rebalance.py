"""Keep-alive connections are closed after a while, so clients spread again over the workers.

`pricebook serve --workers N` gives each worker its own SO_REUSEPORT socket and the kernel
spreads *new* connections over them. A client's keep-alive connections never move: when a
worker dies and restarts, every client reconnects to the survivors and stays there, and the new
worker idles (seen: all load on one of two workers after a restart). uvicorn has no limit on a
connection's requests, so this ASGI middleware sets one: once a connection has served
`max_requests` requests or lived `max_seconds` seconds, its answer carries `Connection: close`;
the client opens a new connection for its next request, which the kernel places afresh.

A connection is known by its ASGI scope's client and server addresses (unique while it is
open). Entries of connections that went away are dropped once idle for longer than any
keep-alive (uvicorn closes idle connections after 5 s by default).

Every answer also carries `X-Pricebook-Worker: <pid>`: which process served it, for operators
reading logs or checking the spread (and for the tests that measure it). It is Litestar
middleware: the router's own 404/405 answers (no route matched) pass it by, uncounted and
without the header.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WORKER_HEADER = b"x-pricebook-worker"
#: seconds after its last request that a connection's entry is forgotten
FORGET_IDLE = 60.0


class _Seen:
    __slots__ = ("first", "last", "requests")

    def __init__(self, now: float) -> None:
        self.first = self.last = now
        self.requests = 0


class Connections:
    """The requests each open connection served, and when it opened; shared by every route
    (Litestar builds a middleware stack per route)."""

    def __init__(
        self, *, max_requests: int, max_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.clock = clock
        self.seen: dict[tuple[Any, Any], _Seen] = {}
        self._pruned = clock()

    def last_request(self, scope: Scope) -> bool:
        """Count a request on its connection; True when the connection should close after it."""
        client = scope.get("client")
        if client is None or scope.get("http_version") == "2":
            return False  # no connection to tell apart; HTTP/2 has no Connection header
        if not (self.max_requests > 0 or self.max_seconds > 0):
            return False
        now = self.clock()
        if now - self._pruned > FORGET_IDLE / 4:
            self._pruned = now
            idle = [k for k, seen in self.seen.items() if now - seen.last > FORGET_IDLE]
            for key in idle:
                del self.seen[key]
        key = (tuple(client), tuple(scope.get("server") or ()))
        seen = self.seen.get(key)
        if seen is None:
            seen = self.seen[key] = _Seen(now)
        seen.last = now
        seen.requests += 1
        if (0 < self.max_requests <= seen.requests) or (0 < self.max_seconds <= now - seen.first):
            del self.seen[key]
            return True
        return False


class Rebalance:
    """ASGI middleware: `Connection: close` on a connection's last answer (see the module)."""

    def __init__(self, app: ASGIApp, connections: Connections) -> None:
        self.app, self.connections = app, connections
        self._worker = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        close = self.connections.last_request(scope)
        worker = self._worker

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (WORKER_HEADER, worker)]
                if close:
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def rebalance_middleware(max_requests: int, max_seconds: float) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware factory for `Rebalance` with these limits."""

    connections = Connections(max_requests=max_requests, max_seconds=max_seconds)

    def factory(app: ASGIApp) -> ASGIApp:
        return Rebalance(app, connections)

    return factory
