"""Database faults end in 503 problem+json with Retry-After, quickly; connections rebalance.

The unit tests classify driver errors by SQLSTATE and check the keep-alive limit. The fault
tests (slow) start a PostgreSQL cluster of their own on a free port and serve the app with
`pricebook serve`, then stop, crash, freeze and restart that cluster under load.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.problems import handle, sqlstate_of
from api.rebalance import Connections
from pricebook.settings import Settings

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
