"""How long the server took: `Server-Timing: app;dur=<ms>, db;dur=<ms>` on every routed
answer, and a warning in the log for a request slower than `PRICEBOOK_SLOW_REQUEST_MS`.

An estimate tool that finds a call slow can tell the server's time from the network's and the
queue's in front of the server (a browser's developer tools show the header beside the request's
own timing). `app` runs from the request reaching the app to its answer's headers leaving it,
which is what a client waits for before the first byte; `db` is the part of it the request's
own statements took, each from being sent to its rows read (`time_statements`; under load
that includes the wait for the event loop to resume the request), so a slow answer says
whether the database was the slow part. A validation's stored row is written by
the process's group-commit task, not by the request: waiting for it is in `app`, not in `db`.

The log line is for the operator: the method, the path (never the query string: the access log
has it, redacted), the status and the milliseconds to the answer's last byte, so slow requests
can be found without a tracing system. Each complete answer is also counted for
`GET /api/v1/metrics` (`api.metrics`).

Like `api.rebalance`, Litestar middleware: the router's own 404/405 answers pass it by.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.metrics import RequestStats

HEADER = b"server-timing"
log = logging.getLogger("pricebook.api.timing")

#: the seconds the request being served spent in its statements: the middleware gives each
#: request its own holder, `time_statements`' events add to it (SQLAlchemy runs a connection's
#: sync code in a greenlet that shares the request's context)
_db_seconds: ContextVar[list[float] | None] = ContextVar("pricebook_db_seconds", default=None)
_STARTED = "pricebook_statement_started"


def time_statements(engine: AsyncEngine) -> None:
    """Add each statement's time on `engine` to the database time of the request it serves."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def started(conn: Any, *_: Any) -> None:
        conn.info[_STARTED] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def finished(conn: Any, *_: Any) -> None:
        began = conn.info.pop(_STARTED, None)
        spent = _db_seconds.get()
        if spent is not None and began is not None:
            spent[0] += time.perf_counter() - began


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
            db = [0.0]
            token = _db_seconds.set(db)

            async def send_timed(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    spent = (time.perf_counter() - started) * 1000
                    header = (HEADER, f"app;dur={spent:.1f}, db;dur={db[0] * 1000:.1f}".encode())
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

            try:
                await app(scope, receive, send_timed)
            finally:
                _db_seconds.reset(token)

        return timed

    return factory
