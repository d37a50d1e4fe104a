"""Engines and sessions: async for the API, sync for the CLI, imports and scraper pipelines.

The core's query functions take a sync `Session`; the API calls them through
`AsyncSession.run_sync`, so each query is written once and runs on both kinds of engine.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, TypedDict, TypeVar, Unpack, cast, overload

import msgspec
from psycopg.abc import Buffer
from psycopg.types.datetime import DateDumper, DateLoader
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    exc,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection

from pricebook.settings import Settings

_SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def _with_driver(url: str | URL, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.set(drivername=drivers[backend])


def sync_url(url: str | URL) -> URL:
    return _with_driver(url, _SYNC_DRIVERS)


def async_url(url: str | URL) -> URL:
    return _with_driver(url, _ASYNC_DRIVERS)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the API read while an import writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class _DateDumper(DateDumper):
    def dump(self, obj: date) -> Buffer | None:
        if obj == date.max:
            return b"infinity"
        if obj == date.min:
            return b"-infinity"
        return super().dump(obj)


class _DateLoader(DateLoader):
    def load(self, data: Buffer) -> date:
        if data == b"infinity":
            return date.max
        if data == b"-infinity":
            return date.min
        return super().load(data)


def _calendar_ends(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """psycopg writes and reads the calendar's ends as asyncpg does: `date.max` ⇄ `infinity`,
    `date.min` ⇄ `-infinity`. A version the API stored from 9999-12-31 is `infinity` in
    PostgreSQL, which psycopg alone refuses to read ("date too large"): an export or an import
    touching it failed, and the same day written by an import would have been a second,
    different date in the key's versions (`pricebook.days`)."""
    dbapi_connection.adapters.register_dumper(date, _DateDumper)
    dbapi_connection.adapters.register_loader("date", _DateLoader)


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if database and database != ":memory:":
        from pathlib import Path

        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _json_dumps(value: object) -> str:
    # JSON columns hold Chinese text: stdlib json.dumps escapes every character as \uXXXX
    # (a stored validation grows sevenfold) and is several times slower than msgspec.
    return msgspec.json.encode(value).decode()


# for every engine: JSON columns are written and read with msgspec
_JSON = {"json_serializer": _json_dumps, "json_deserializer": msgspec.json.decode}


class EngineOptions(TypedDict, total=False):
    """What a caller of `make_engine` may set beyond the settings (SQLAlchemy's names)."""

    pool_size: int
    max_overflow: int
    poolclass: type[Pool]
    connect_args: dict[str, object]


def make_engine(settings: Settings, **kwargs: Unpack[EngineOptions]) -> Engine:
    url = sync_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url)
    if url.get_backend_name() == "postgresql":
        # libpq waits ~2 minutes for a server that accepts and never answers; whole seconds, ≥ 2
        connect_args = {"connect_timeout": max(2, math.ceil(settings.db_connect_timeout))}
        kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    engine = create_engine(url, echo=settings.echo_sql, **_JSON, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:  # PostgreSQL keeps plans per connection; SQLite's file has nothing to renew
        event.listen(engine, "connect", _calendar_ends)
        _renew_when_old(engine, settings.pool_recycle_seconds)
    _ping_when_idle(engine, settings.pool_ping_idle_seconds)
    return engine


def make_async_engine(
    settings: Settings,
    *,
    pool_size: int | None = None,
    synchronous_commit: bool = True,
    url: str | None = None,
) -> AsyncEngine:
    """The API's engine. `synchronous_commit=False` (PostgreSQL): its connections commit
    without waiting for the WAL flush (`Settings.validation_synchronous_commit`: the engine
    that stores validations). `url`: another database than `settings.database_url` with the
    same options (a read replica: `pricebook.replicas`)."""
    url_ = async_url(url or settings.database_url)
    kwargs: dict[str, Any] = {"echo": settings.echo_sql, **_JSON}
    if url_.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url_)
    else:
        kwargs.update(pool_size=pool_size or settings.pool_size, pool_timeout=settings.pool_timeout)
        # asyncpg prepares every statement once per connection; PostgreSQL then re-plans it
        # on each execution ("custom" plans) unless the generic plan looks no dearer, and for
        # `= ANY(:ids)` it never does (it guesses ten ids). Our statements are prebuilt lookups
        # by id lists whose best plan does not depend on the values, so planning was most of
        # their server time (resolve: 0.25 ms planning for 0.04 ms executing). Generic plans
        # are made once per connection and statement, and made again whenever the tables'
        # statistics change (ANALYZE, autovacuum's included): they follow the data's growth
        # (seen: the inclusion closure moves from a hash join to index lookups at 150,000 rows).
        server_settings = {"plan_cache_mode": "force_generic_plan", **_server_timeouts(settings)}
        if not synchronous_commit:
            server_settings["synchronous_commit"] = "off"
        kwargs["connect_args"] = {"server_settings": server_settings, **_timeouts(settings)}
        kwargs["json_serializer"] = msgspec.json.encode  # bytes: see _asyncpg_json_as_bytes
    engine = create_async_engine(url_, **kwargs)
    if url_.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "connect", _asyncpg_json_as_bytes)
        _renew_when_old(engine.sync_engine, settings.pool_recycle_seconds)
    _ping_when_idle(engine.sync_engine, settings.pool_ping_idle_seconds)
    return engine


def _timeouts(settings: Settings) -> dict[str, float]:
    """asyncpg's limits on waiting for the database, so that a request ends (503) instead of
    hanging. `timeout`: opening a connection. `command_timeout`: each statement, measured by
    the client — it also ends the wait on a server that accepts bytes but never answers
    (SIGSTOPped, a dead peer without a reset), where PostgreSQL's own `statement_timeout`
    (set too: it frees the server of a runaway statement) never fires. asyncpg raises
    `TimeoutError` and cancels the statement; `api.problems` answers 503."""
    out = {"timeout": settings.db_connect_timeout}
    if settings.db_statement_timeout > 0:
        out["command_timeout"] = settings.db_statement_timeout
    return out


def _server_timeouts(settings: Settings) -> dict[str, str]:
    if settings.db_statement_timeout <= 0:
        return {}
    return {"statement_timeout": str(max(1, round(settings.db_statement_timeout * 1000)))}


def _json_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _asyncpg_json_as_bytes(dbapi_connection: Any, _record: Any) -> None:
    """JSON goes to and from asyncpg as bytes. SQLAlchemy's codec takes text: a stored
    validation (~75 KB of mostly Chinese text, encoded once by msgspec) went bytes → str → bytes
    on the way in and bytes → str on the way out, ~0.1 ms of a validation's CPU. Runs after the
    dialect's own codec setup, which it replaces; a str (SQL text with a json parameter) is
    still accepted."""
    dbapi_connection.run_async(
        lambda connection: connection.set_type_codec(
            "json",
            encoder=_json_bytes,
            decoder=msgspec.json.decode,
            schema="pg_catalog",
            format="binary",
        )
    )


def _renew_when_old(engine: Engine, max_age: float) -> None:
    """Replace a pooled connection at its first checkout after `max_age` seconds (each one's
    age drawn within ±10%, so a pool's connections, opened together, do not all reconnect in
    the same second: SQLAlchemy's own `pool_recycle` gives every connection the same age, and
    under load a worker's whole pool would reconnect at once). 0: never.

    A connection plans each prepared statement once (`make_async_engine`) and keeps the plan
    until the tables' statistics change. A table that grows with no ANALYZE in between keeps
    the plan chosen while it was small: `estimate_validations`, analyzed while empty (a
    database-wide ANALYZE of a new installation) and filled by every validation, kept the
    opening statement's sequential scan on the API's pooled connections while autovacuum was
    off — each validation read every stored one (docs/benchmarks.md, 2026-12-07 09:10). A new
    connection plans against the table as it is; the age bounds how long a stale plan lasts
    whatever autovacuum does."""
    if max_age <= 0:
        return

    @event.listens_for(engine, "connect")
    def _born(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["retire_at"] = time.monotonic() + max_age * random.uniform(0.9, 1.1)

    @event.listens_for(engine, "checkout")
    def _retire(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        retire_at = record.info.get("retire_at")
        if retire_at is not None and time.monotonic() >= retire_at:
            # the pool closes this one and checks out a new one in its place
            raise exc.DisconnectionError("the connection reached its age limit")


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before handing it out only when it sat idle for more than
    `idle_seconds` (SQLAlchemy's `pool_pre_ping` pings on every checkout).

    A connection lost while idle (a database restart or failover, a proxy's idle timeout) is
    found by the ping and replaced, and the pool drops every connection older than it, so no
    request sees it. A connection handed back moments ago is used without a ping: under load
    that is nearly every checkout, and the ping was a round trip per request (~7% of a
    validation's CPU, client and server). What that leaves is a connection cut in the moment
    between two uses: its request fails (503) and the pool is invalidated as on any disconnect
    error, so the next request gets a new connection. 0 pings every reused connection."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("idle_since")  # None: a new connection (info goes with it)
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # the pool replaces this connection and retires every one opened before it
            raise exc.InvalidatePoolError("the connection was lost while idle in the pool")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def analyze(bind: Engine | Connection, tables: Iterable[Table | type[DeclarativeBase]]) -> None:
    """ANALYZE `tables` (models or their `__table__`) on PostgreSQL, after a bulk load.

    After a bulk load the planner has the columns' statistics of the tables before it (none at
    all in a new database) until autovacuum analyzes them, up to a minute later and only once a
    tenth of a table changed: the first queries after a big import were planned on default
    selectivities. ANALYZE reads a sample (30,000 rows at the default target), ~0.1 s per table
    of a million rows. Run it after the load's commit: statistics taken in a transaction that
    rolls back vanish with it (a dry run has nothing to analyze). An `Engine` runs it on a
    connection of its own; a `Connection` must have no transaction open (that would be the
    caller's uncommitted work) and is committed after it. New statistics make every connection
    re-plan its prepared statements once (see `make_async_engine`): callers keep it for big
    loads (imports: `pricebook.io.importers.ANALYZE_MIN_ROWS`).

    SQLite: nothing. It has no statistics until ANALYZE first runs, and its planner's fixed
    guesses are what our queries were written against; a first ANALYZE (which reads whole
    indexes, not a sample) would switch it to statistics that go stale between imports."""
    if isinstance(bind, Connection) and bind.in_transaction():
        raise RuntimeError("analyze() runs after the load's commit, not inside a transaction")
    # a declarative model's `__table__` is its Table (typed as the wider FromClause)
    resolved = [t if isinstance(t, Table) else cast(Table, t.__table__) for t in tables]
    by_name = {table.fullname: table for table in resolved}
    if bind.dialect.name != "postgresql" or not by_name:
        return
    preparer = bind.dialect.identifier_preparer  # names come from the models, quoted anyway
    names = ", ".join(preparer.format_table(by_name[name]) for name in sorted(by_name))
    statement = text(f"ANALYZE {names}")
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            connection.execute(statement)
            connection.commit()
    else:
        bind.execute(statement)
        bind.commit()


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp as an aware UTC datetime (None stays None).

    SQLite has no time-zone type: a ``DateTime(timezone=True)`` column comes back naive there,
    and it is UTC by construction (``CURRENT_TIMESTAMP``, and every value written is UTC), so a
    naive value is labelled UTC. PostgreSQL hands back aware values, possibly in the session's
    time zone; they are converted to UTC, so both backends give the same thing."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def dialect_of(db: Session | Connection) -> str:
    """The database's dialect name ("postgresql", "sqlite") of a session or a connection."""
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


T = TypeVar("T")
#: a select's column type: a nullable column is compared with a select of its values
K = TypeVar("K")

#: a column as a condition takes it: a Core column or a mapped attribute
Column = ColumnElement[T] | QueryableAttribute[T]


def in_list(column: Column[T], name: str, *, postgresql: bool) -> ColumnElement[bool]:
    """`column IN (…)` of a list parameter `name`. On PostgreSQL `column = ANY(:name)`, one
    array parameter: the SQL does not change with the list's length, so it is compiled once and
    the server-side prepared statement is reused; elsewhere an expanding IN."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def in_select(column: Column[T], ids: Select[K], *, postgresql: bool) -> ColumnElement[bool]:
    """`column IN (SELECT …)` of a one-column select `ids`. On PostgreSQL `column =
    ANY(ARRAY(SELECT …))`: the select runs first (an InitPlan) and `column` is looked up in its
    index like a list parameter. A generic plan cannot tell how many rows `IN (SELECT …)` gives
    and, on a large table without fresh statistics, joins it to a sequential scan of the whole
    table (resolve: 1,000,000 prices read for 6)."""
    if postgresql:
        return column == any_(func.array(ids.scalar_subquery()))
    return column.in_(ids)
