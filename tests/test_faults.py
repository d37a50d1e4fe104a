"""Database faults end in 503 problem+json with Retry-After, quickly; connections rebalance.

The unit tests classify driver errors by SQLSTATE and check the keep-alive limit. The fault
tests (slow) start a PostgreSQL cluster of their own on a free port and serve the app with
`pricebook serve`, then stop, crash, freeze and restart that cluster under load.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.problems import handle, sqlstate_of
from api.rebalance import Connections
from pricebook.settings import Settings
from tests.net import free_port
from tests.test_cli import _listeners, _serve_two_workers, _stop, _workers_of
from tests.test_cli import db as db  # the fixture

DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)
REQUEST: Any = SimpleNamespace(method="GET", url=SimpleNamespace(path="/x"))


def wrapped(error: Exception) -> DBAPIError:
    """`error` as SQLAlchemy raises it from asyncpg: translated to the adapter's DB-API class
    (by class: CannotConnectNowError becomes a plain `Error`), then wrapped in a DBAPIError."""
    translated: Exception = DBAPI.Error(str(error), error)
    for cls in type(error).__mro__:
        if cls in DBAPI._asyncpg_error_translate:
            translated = DBAPI._asyncpg_error_translate[cls](str(error), error)
            break
    return DBAPIError.instance("SELECT 1", {}, translated, DBAPI.Error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionFailureError("connection failure"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    ],
    ids=lambda e: e.sqlstate,
)
def test_an_unavailable_database_is_503_with_retry_after(error: Exception):
    exc = wrapped(error)
    assert type(exc) is DBAPIError  # not an OperationalError: the class says nothing
    response = handle(REQUEST, exc)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.media_type == "application/problem+json"


def test_a_timeout_on_our_side_is_503():
    assert handle(REQUEST, TimeoutError()).status_code == 503  # asyncpg's command_timeout


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
    ],
    ids=lambda e: e.sqlstate,
)
def test_a_lost_race_is_a_409_to_send_again(error: Exception):
    response = handle(REQUEST, wrapped(error))
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "0"
    assert response.content["title"] == "Concurrent update"


def test_other_database_errors_stay_500():
    error = asyncpg.UndefinedTableError('relation "nope" does not exist')
    assert sqlstate_of(wrapped(error)) == "42P01"
    assert handle(REQUEST, wrapped(error)).status_code == 500


def test_psycopg_errors_are_classified_by_their_sqlstate_too():
    orig = SimpleNamespace(sqlstate="57P03")
    assert sqlstate_of(DBAPIError("SELECT 1", {}, orig)) == "57P03"  # type: ignore[arg-type]


def _scope(port: int) -> dict[str, Any]:
    return {"type": "http", "http_version": "1.1", "client": ("127.0.0.1", port),
            "server": ("127.0.0.1", 8000)}  # fmt: skip


def test_a_connection_closes_after_its_request_limit():
    connections = Connections(max_requests=3, max_seconds=0)
    closes = [connections.last_request(_scope(40000)) for _ in range(7)]
    assert closes == [False, False, True, False, False, True, False]
    assert not connections.last_request(_scope(40001))  # another connection counts apart


def test_a_connection_closes_after_its_time_limit_and_idle_entries_are_forgotten():
    now = [0.0]
    connections = Connections(max_requests=0, max_seconds=10, clock=lambda: now[0])
    assert not connections.last_request(_scope(40000))
    now[0] = 9.9
    assert not connections.last_request(_scope(40000))
    now[0] = 10.0
    assert connections.last_request(_scope(40000))
    assert not connections.last_request(_scope(40000))  # a new connection on a reused port
    for port in range(41000, 41100):
        connections.last_request(_scope(port))
    now[0] = 200.0
    connections.last_request(_scope(42000))
    assert set(connections.seen) == {(("127.0.0.1", 42000), ("127.0.0.1", 8000))}


def test_no_limits_close_nothing():
    connections = Connections(max_requests=0, max_seconds=0)
    assert not any(connections.last_request(_scope(40000)) for _ in range(100))


async def test_answers_name_their_worker_and_close_the_connection_at_the_limit(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", connection_max_requests=2)
    async with AsyncTestClient(create_app(settings)) as client:
        answers = [
            await client.get(path) for path in ("/health", "/schema/openapi.json", "/health")
        ]
    assert [a.headers["x-pricebook-worker"] for a in answers] == [str(os.getpid())] * 3
    assert [a.headers.get("connection") for a in answers] == [None, "close", None]


# ------------------------------------------------------------------------------------------------
# keep-alive clients spread again over the workers after one restarts
# ------------------------------------------------------------------------------------------------


def _busy_until(
    clients: list[httpx.Client], done: Callable[[set[int]], bool], limit: float
) -> set[int]:
    """Each client GETs /health in turn (keeping its connection busy) until `done(pids)` or
    `limit` seconds; the worker pids that answered."""
    answered_by: set[int] = set()
    deadline = time.monotonic() + limit
    while not done(answered_by) and time.monotonic() < deadline:
        for client in clients:
            answered_by.add(int(client.get("/health").headers["x-pricebook-worker"]))
        time.sleep(0.02)
    return answered_by


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("max_seconds", ["1", "0"], ids=["closed-after-1s", "no-limit"])
def test_keep_alive_clients_spread_again_over_a_restarted_worker(
    db: str, monkeypatch: pytest.MonkeyPatch, max_seconds: str
):
    """Four busy keep-alive clients on `pricebook serve --workers 2`; one worker is killed, and
    while it restarts every client connects to the survivor. With connections closed after
    PRICEBOOK_CONNECTION_MAX_SECONDS=1 the new worker answers some of them within seconds;
    without a limit (0) it answers none: the clients stay where they are."""
    monkeypatch.setenv("PRICEBOOK_CONNECTION_MAX_SECONDS", max_seconds)
    monkeypatch.setenv("PRICEBOOK_CONNECTION_MAX_REQUESTS", "0")
    port = free_port()
    server = _serve_two_workers(db, port)
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(4)]
    try:
        before = _workers_of(server.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        while _listeners(port) != 1:  # its socket closes with it
            time.sleep(0.01)
        (survivor,) = before - {victim}

        def restarted(_seen: object = None) -> bool:
            workers = _workers_of(server.pid)
            return len(workers) == 2 and victim not in workers and _listeners(port) == 2

        # (with a limit, a client may reconnect to the new worker before this loop sees it)
        meanwhile = _busy_until(clients, restarted, limit=60)
        assert restarted() and server.poll() is None
        (newcomer,) = _workers_of(server.pid) - {survivor}
        started = time.monotonic()
        window = 6.0 if max_seconds != "0" else 3.0
        answered_by = meanwhile | _busy_until(
            clients, lambda seen: newcomer in seen | meanwhile, limit=window
        )
        took = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
        errors = _stop(server)
    assert server.returncode == 0, errors
    if max_seconds == "0":
        assert answered_by == {survivor}, f"{answered_by} in {took:.1f} s; meanwhile {meanwhile}"
    else:
        assert answered_by == {survivor, newcomer}, f"only {answered_by} after {took:.1f} s"
        print(f"the restarted worker answered after {took:.2f} s")
