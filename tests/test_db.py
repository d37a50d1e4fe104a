"""The engines' connection settings."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import JSON, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from pricebook.db import make_async_engine, make_engine
from pricebook.settings import Settings


@pytest.mark.postgres
async def test_api_connections_plan_prepared_statements_once(empty_postgres_url: str):
    """The API's statements are prepared per connection; PostgreSQL must not re-plan them on
    every execution (see `make_async_engine`)."""
    engine = make_async_engine(Settings(database_url=empty_postgres_url))
    try:
        async with engine.connect() as connection:
            mode = await connection.scalar(text("SHOW plan_cache_mode"))
    finally:
        await engine.dispose()
    assert mode == "force_generic_plan"


def _terminate(url: str, pid: int) -> None:
    """End a backend from outside, as a database restart or a proxy's idle timeout would."""
    admin = make_engine(Settings(database_url=url))
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # pg_terminate_backend only signals the backend
                gone = not connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
                # pg_stat_activity is read once per transaction: end it, or every later read
                # sees the backend still there if the first one did
                connection.rollback()
                if gone:
                    return
                time.sleep(0.02)
    finally:
        admin.dispose()
    raise AssertionError(f"backend {pid} did not end")


async def _backend(engine: Any) -> int:
    """The backend serving the connection the pool hands out next."""
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


@pytest.mark.postgres
async def test_a_connection_lost_while_idle_is_pinged_and_replaced_unseen(empty_postgres_url: str):
    engine = make_async_engine(
        Settings(database_url=empty_postgres_url, pool_ping_idle_seconds=0.05)
    )
    try:
        first = await _backend(engine)
        _terminate(empty_postgres_url, first)
        time.sleep(0.1)  # idle past the limit
        second = await _backend(engine)  # no error: the ping found it gone
    finally:
        await engine.dispose()
    assert second != first


@pytest.mark.postgres
async def test_a_connection_reused_within_the_idle_limit_is_not_pinged(empty_postgres_url: str):
    """No ping under the limit: a connection cut between two uses fails its request once (the
    API answers 503 for an invalidated connection), and the pool then starts afresh."""
    engine = make_async_engine(
        Settings(database_url=empty_postgres_url, pool_ping_idle_seconds=3600)
    )
    try:
        first = await _backend(engine)
        _terminate(empty_postgres_url, first)
        with pytest.raises(DBAPIError) as lost:
            await _backend(engine)
        assert lost.value.connection_invalidated
        second = await _backend(engine)
    finally:
        await engine.dispose()
    assert second != first


@pytest.mark.postgres
def test_the_cli_engine_pings_idle_connections_too(empty_postgres_url: str):
    engine = make_engine(Settings(database_url=empty_postgres_url, pool_ping_idle_seconds=0.05))
    try:
        with engine.connect() as connection:
            first = connection.scalar(text("SELECT pg_backend_pid()"))
        _terminate(empty_postgres_url, first)
        time.sleep(0.1)
        with engine.connect() as connection:
            second = connection.scalar(text("SELECT pg_backend_pid()"))
    finally:
        engine.dispose()
    assert second != first


@pytest.mark.postgres
async def test_json_goes_through_asyncpg_as_bytes_both_ways(empty_postgres_url: str):
    """The API's engine hands asyncpg JSON as msgspec's bytes and reads it back decoded; text
    SQL with a json parameter (a str) still works."""
    value = {"name": "左前翼子板", "amount": "1280.00", "ids": [1, 2]}
    engine = make_async_engine(Settings(database_url=empty_postgres_url))
    try:
        async with engine.connect() as connection:
            typed = await connection.scalar(select(bindparam("v", value, type_=JSON)))
            raw = await connection.scalar(
                text("SELECT CAST(:v AS json)"), {"v": '{"名": "翼子板"}'}
            )
            as_text = await connection.scalar(
                text("SELECT CAST(:v AS json)::text").bindparams(bindparam("v", type_=JSON)),
                {"v": value},
            )
    finally:
        await engine.dispose()
    assert typed == value and raw == {"名": "翼子板"}
    assert json.loads(as_text) == value


@pytest.mark.postgres
@pytest.mark.serial  # a time bound: alone (Makefile)
async def test_api_connections_end_a_statement_at_the_statement_timeout(empty_postgres_url: str):
    """`PRICEBOOK_DB_STATEMENT_TIMEOUT`: PostgreSQL's `statement_timeout` and asyncpg's own
    `command_timeout` (which also ends the wait on a server that stopped answering)."""
    engine = make_async_engine(Settings(database_url=empty_postgres_url, db_statement_timeout=0.5))
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SHOW statement_timeout")) == "500ms"
        started = time.monotonic()
        with pytest.raises((TimeoutError, DBAPIError)):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3  # well before the 5 s sleep ends
        async with engine.connect() as connection:  # and the pool serves on
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


_COUNTS = text(
    "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'grown'"
)


async def _scans(engine: Any, k: int) -> tuple[int, int, int]:
    """Run the lookup of `k` on the connection the pool hands out next: (its backend, the
    sequential and the index scans of `grown` that lookup made)."""
    async with engine.connect() as connection:
        # the backend's counters not yet flushed: exact, and nothing flushes them within a
        # transaction, so the difference around the lookup is the lookup's
        seq0, idx0 = (await connection.execute(_COUNTS)).one()
        await connection.scalar(text("SELECT id FROM grown WHERE k = :k"), {"k": k})
        seq1, idx1 = (await connection.execute(_COUNTS)).one()
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    return int(pid), int(seq1 - seq0), int(idx1 - idx0)


@pytest.mark.postgres
async def test_an_old_connection_is_replaced_and_plans_against_the_grown_table(
    empty_postgres_url: str,
):
    """A connection plans a statement once (generic plans) and keeps the plan until the table's
    statistics change. A table analyzed while empty and filled since, with no ANALYZE, keeps
    its sequential scan on that connection however large it grows; a connection replaced at
    its age limit plans against the table as it is and uses the index."""
    with psycopg.connect(empty_postgres_url, autocommit=True) as admin:
        # no autovacuum on it: an ANALYZE would renew the plan and hide what is tested
        admin.execute(
            "CREATE TABLE grown (id serial PRIMARY KEY, k int NOT NULL UNIQUE) "
            "WITH (autovacuum_enabled = false)"
        )
        admin.execute("ANALYZE grown")  # a new installation's database-wide ANALYZE
    age = 3.0  # long enough for the fill to end well within the first connection's age
    engine = make_async_engine(
        Settings(database_url=empty_postgres_url, pool_size=1, pool_recycle_seconds=age)
    )
    try:
        first, seq, _ = await _scans(engine, 1)
        made_by = time.monotonic()  # the first connection was made before this
        assert seq == 1  # planned on an empty table
        with psycopg.connect(empty_postgres_url, autocommit=True) as admin:
            admin.execute("INSERT INTO grown (k) SELECT g FROM generate_series(1, 100000) AS g")
        same, seq, idx = await _scans(engine, 2)
        assert (same, seq, idx) == (first, 1, 0)  # the same connection, the stale plan
        await asyncio.sleep(max(0.0, made_by + age * 1.1 - time.monotonic()) + 0.05)
        renewed, seq, idx = await _scans(engine, 3)
    finally:
        await engine.dispose()
    assert renewed != first
    assert (seq, idx) == (0, 1)


def test_connections_are_kept_for_their_age_only_on_postgresql(tmp_path: Path):
    """SQLite keeps no plans per connection, and a pool of one file needs no renewal."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", pool_recycle_seconds=0.01)
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            first = connection.connection.dbapi_connection
        time.sleep(0.05)
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection is first
    finally:
        engine.dispose()
