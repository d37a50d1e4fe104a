"""How long the server took: `Server-Timing: app;dur=<ms>` on every routed answer, and a
warning in the log for a request slower than `PRICEBOOK_SLOW_REQUEST_MS`.

An estimate tool that finds a call slow can tell the server's time from the network's and the
queue's in front of the server (a browser's developer tools show the header beside the request's
own timing). `dur` runs from the request reaching the app to its answer's headers leaving it,
which is what a client waits for before the first byte. The log line is for the operator: the
method, the path (never the query string: the access log has it, redacted), the status and the
milliseconds to the answer's last byte, so slow requests can be found without a tracing system.

Like `api.rebalance`, Litestar middleware: the router's own 404/405 answers pass it by.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import RequestStats

HEADER = b"server-timing"
log = logging.getLogger("pricebook.api.timing")


def timing_middleware(slow_ms: float, stats: RequestStats) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware factory: the header always, the request counted in `stats` (the
    metrics) when its answer is complete, the log line past `slow_ms` (0: no log line)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 0

            async def send_timed(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    spent = (time.perf_counter() - started) * 1000
                    header = (HEADER, f"app;dur={spent:.1f}".encode())
                    message = {**message, "headers": [*message.get("headers", ()), header]}
                await send(message)
                if message["type"] != "http.response.body" or message.get("more_body", False):
                    return
                seconds = time.perf_counter() - started
                stats.record(scope["method"], scope.get("path_template", ""), status, seconds)
                if slow_ms > 0 and (spent := seconds * 1000) > slow_ms:
                    log.warning(
                        "slow request: %s %s %s in %.0f ms (over %g ms)",
                        scope["method"],
                        scope["path"],
                        status,
                        spent,
                        slow_ms,
                    )

            await app(scope, receive, send_timed)

        return timed

    return factory
