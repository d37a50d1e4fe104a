"""Settings come from the environment, in this one place, and are passed explicitly.

Nothing reads the environment at import time: `Settings.from_env()` is called by the CLI, the app
factory and the tests, so a test can build its own `Settings` without patching `os.environ`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

DEFAULT_DATABASE_URL = "sqlite:///./var/pricebook.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    #: SQL echo for debugging.
    echo_sql: bool = False
    #: Size of the async engine's pool per server process.
    pool_size: int = 10
    #: Seconds a request waits for a free connection before answering 503.
    pool_timeout: float = 5.0
    #: A pooled connection idle for longer than this is pinged before use (`db._ping_when_idle`).
    pool_ping_idle_seconds: float = 1.0
    #: A pooled connection is replaced at its first checkout after this many seconds (±10%), so
    #: the statements it plans once are planned again against the tables as they are now
    #: (`db._renew_when_old`). 0: connections live as long as the pool keeps them.
    pool_recycle_seconds: float = 300.0
    #: Where the staff UI session cookie secret comes from (random per process when empty).
    session_secret: str = ""
    #: Contact URL named in the scrapers' User-Agent.
    scraper_contact_url: str = "https://pricebook.invalid/contact"
    #: Seconds between checks of the catalogue version (matching index rebuild).
    catalog_poll_seconds: float = 2.0
    #: Reference entries a server process keeps per database for validation (a part's prices
    #: in one context, its fitment on one model, …; `pricebook.estimates.memo._References`): ~1 KB
    #: each at most. 0 keeps none: every validation reads every reference.
    reference_cache_entries: int = 100_000
    #: PostgreSQL: a validation's INSERT waits for its WAL flush (the default). False: it does
    #: not, which raises throughput and risks the last ~0.6 s of stored validations on a
    #: crash of PostgreSQL or its machine (`pricebook.db.make_async_engine`, `api.app`).
    validation_synchronous_commit: bool = True
    #: An uploaded import file larger than this many bytes is refused (413).
    import_max_bytes: int = 20 * 1024 * 1024
    #: An import file with more rows than this (after the header) is refused (422).
    import_max_rows: int = 200_000
    #: An import cell longer than this many characters is refused (422).
    import_max_cell_chars: int = 1000
    #: A JSON request body nested deeper than this ([ and { levels) is refused (400) before
    #: it is decoded: the decoders recurse, and ~1,000 levels exhaust Python's stack.
    json_max_depth: int = 32
    #: Seconds to open a database connection (asyncpg `timeout`) before the request gets 503.
    db_connect_timeout: float = 3.0
    #: Seconds one statement may take (asyncpg `command_timeout`, client-side: it also ends the
    #: wait on a frozen server; and PostgreSQL's `statement_timeout`) before the request gets 503.
    #: 0: no limit.
    db_statement_timeout: float = 5.0
    #: Seconds /health waits for the database before it answers 503 "unreachable"; also the
    #: read replicas' lag check's wait for each database (`pricebook.replicas`).
    health_timeout: float = 0.8
    #: A keep-alive connection is closed (`Connection: close`) after this many requests or this
    #: many seconds, so clients spread again over the workers after one restarts
    #: (`api.rebalance`). 0: no limit.
    connection_max_requests: int = 1000
    connection_max_seconds: float = 30.0
    #: The staff UI's cookies carry `Secure` (browsers then send them over HTTPS only). Off by
    #: default for the local demo over plain http; turn it on behind HTTPS.
    cookie_secure: bool = False
    #: Seconds a thread may hold the GIL while another waits (`sys.setswitchinterval`, applied
    #: by the API at start). Imports and the match-index rebuild run Python in worker threads;
    #: at CPython's 5 ms the event loop, which gives the GIL up at every system call, waited
    #: ~5 ms each time to get it back: /health took 1–1.6 s during a 300,000-row import parse.
    #: At 1 ms it took ≤ 50 ms and the import took as long.
    gil_switch_interval: float = 0.001
    #: A directory of market source files searched before the built-in `scrapers/sources/`
    #: (`pricebook crawl --sources-dir` overrides it for one run).
    sources_dir: str | None = None
    #: Seconds a client has to send a request's complete headers, from the connection or from
    #: the first byte of a request on a kept-alive one; then the server closes it (`api.serve`).
    header_timeout: float = 10.0
    #: Requests per API key (`N/second|minute|hour`) in each server process: a burst of N, then
    #: N per period. "0" or "" turns the limit off (`api.ratelimit`).
    rate_limit: str = "600/minute"
    #: Read-only PostgreSQL URLs (streaming replicas of `database_url`): price resolves,
    #: catalogue reads and validation's reference reads may go to one (`pricebook.replicas`).
    database_replica_urls: tuple[str, ...] = ()
    #: A replica serves only while what it holds is at most this many seconds behind the
    #: primary (measured by `pricebook.replicas.ReplicaSet`, every fifth of it).
    replica_max_lag_seconds: float = 5.0
    #: After a write, the same API key reads from the primary for this many seconds. At least
    #: `replica_max_lag_seconds`: past that bound every replica in use holds the write.
    read_your_writes_seconds: float = 5.0
    #: This API node's name, sent back as `X-Pricebook-Node` on every answer and in /health,
    #: so an operator (and the cluster test) can tell which node behind a load balancer
    #: answered. Empty: no header.
    node_name: str = ""
    #: A request slower than this many milliseconds is logged as a warning (method, path,
    #: status, time; `api.timing`). 0: none is.
    slow_request_ms: float = 1000.0
    #: Set by `pricebook serve --workers N` for each worker: its index (kept across restarts)
    #: and the directory where the node's workers leave their metrics for each other
    #: (`api.metrics`). Empty: this process answers its own metrics alone.
    worker: int = 0
    worker_stats_dir: str = ""

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("PRICEBOOK_DATABASE_URL", DEFAULT_DATABASE_URL),
            echo_sql=env.get("PRICEBOOK_ECHO_SQL", "") in {"1", "true", "yes"},
            pool_size=int(env.get("PRICEBOOK_POOL_SIZE", "10")),
            pool_timeout=float(env.get("PRICEBOOK_POOL_TIMEOUT", "5")),
            pool_ping_idle_seconds=float(env.get("PRICEBOOK_POOL_PING_IDLE_SECONDS", "1")),
            pool_recycle_seconds=float(env.get("PRICEBOOK_POOL_RECYCLE_SECONDS", "300")),
            session_secret=env.get("PRICEBOOK_SESSION_SECRET", ""),
            scraper_contact_url=env.get(
                "PRICEBOOK_SCRAPER_CONTACT_URL", "https://pricebook.invalid/contact"
            ),
            catalog_poll_seconds=float(env.get("PRICEBOOK_CATALOG_POLL_SECONDS", "2")),
            reference_cache_entries=int(env.get("PRICEBOOK_REFERENCE_CACHE_ENTRIES", "100000")),
            validation_synchronous_commit=_flag(
                env, "PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT", default=True
            ),
            import_max_bytes=int(env.get("PRICEBOOK_IMPORT_MAX_BYTES", str(20 * 1024 * 1024))),
            import_max_rows=int(env.get("PRICEBOOK_IMPORT_MAX_ROWS", "200000")),
            import_max_cell_chars=int(env.get("PRICEBOOK_IMPORT_MAX_CELL_CHARS", "1000")),
            json_max_depth=int(env.get("PRICEBOOK_JSON_MAX_DEPTH", "32")),
            db_connect_timeout=float(env.get("PRICEBOOK_DB_CONNECT_TIMEOUT", "3")),
            db_statement_timeout=float(env.get("PRICEBOOK_DB_STATEMENT_TIMEOUT", "5")),
            health_timeout=float(env.get("PRICEBOOK_HEALTH_TIMEOUT", "0.8")),
            connection_max_requests=int(env.get("PRICEBOOK_CONNECTION_MAX_REQUESTS", "1000")),
            connection_max_seconds=float(env.get("PRICEBOOK_CONNECTION_MAX_SECONDS", "30")),
            cookie_secure=_flag(env, "PRICEBOOK_COOKIE_SECURE", default=False),
            gil_switch_interval=_positive(env, "PRICEBOOK_GIL_SWITCH_INTERVAL", "0.001"),
            sources_dir=env.get("PRICEBOOK_SOURCES_DIR") or None,
            header_timeout=_positive(env, "PRICEBOOK_HEADER_TIMEOUT", "10"),
            rate_limit=_rate(env, "PRICEBOOK_RATE_LIMIT", "600/minute"),
            node_name=env.get("PRICEBOOK_NODE_NAME", "").strip(),
            slow_request_ms=_milliseconds(env, "PRICEBOOK_SLOW_REQUEST_MS", "1000"),
            worker=int(env.get("PRICEBOOK_WORKER", "0")),
            worker_stats_dir=env.get("PRICEBOOK_WORKER_STATS_DIR", ""),
            **_replicas(env),
        )

    @property
    def rate(self) -> tuple[int, float] | None:
        """`rate_limit` as (requests, period in seconds), or None when off."""
        return parse_rate(self.rate_limit)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL (None for in-memory or another backend)."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[-1]
        return None if path in {"", ":memory:"} else Path(path)


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _flag(env: os._Environ[str] | dict[str, str], name: str, *, default: bool) -> bool:
    """A yes/no setting; a value that is neither is an error, not silently the default (a
    typo must not turn durability off or on)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise ValueError(f"{name}={env[name]!r}: expected one of on/off, true/false, yes/no, 1/0")


_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def parse_rate(value: str) -> tuple[int, float] | None:
    """ "600/minute" → (600, 60.0); "0" or "" → None; anything else is a ValueError."""
    value = value.strip().lower()
    if value in {"", "0"}:
        return None
    count, _, period = value.partition("/")
    if not count.strip().isdigit() or period.strip() not in _PERIODS:
        raise ValueError(f"{value!r}: expected N/second, N/minute or N/hour, or 0 for no limit")
    n = int(count)
    return None if n == 0 else (n, _PERIODS[period.strip()])


def _rate(env: os._Environ[str] | dict[str, str], name: str, default: str) -> str:
    raw = env.get(name, default)
    try:
        parse_rate(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={exc}") from None
    return raw


class _ReplicaSettings(TypedDict):
    database_replica_urls: tuple[str, ...]
    replica_max_lag_seconds: float
    read_your_writes_seconds: float


def _replicas(env: os._Environ[str] | dict[str, str]) -> _ReplicaSettings:
    """The read-replica settings, checked together: replicas of a SQLite database, or a
    read-your-writes window shorter than the lag bound (a writer could then read a replica
    that does not hold its write yet), are errors rather than surprises."""
    urls = tuple(u.strip() for u in env.get("PRICEBOOK_DATABASE_REPLICA_URLS", "").split(","))
    urls = tuple(u for u in urls if u)
    primary = env.get("PRICEBOOK_DATABASE_URL", DEFAULT_DATABASE_URL)
    for url in ([primary] if urls else []) + list(urls):
        if not url.startswith("postgresql"):
            raise ValueError(
                "PRICEBOOK_DATABASE_REPLICA_URLS: replicas need PostgreSQL, for the primary "
                f"and each replica (got {url.split(':', 1)[0]}:…)"
            )
    max_lag = _positive(env, "PRICEBOOK_REPLICA_MAX_LAG_SECONDS", "5")
    window = float(env.get("PRICEBOOK_READ_YOUR_WRITES_SECONDS", str(max_lag)))
    if not window >= max_lag:
        raise ValueError(
            f"PRICEBOOK_READ_YOUR_WRITES_SECONDS={window:g}: at least "
            f"PRICEBOOK_REPLICA_MAX_LAG_SECONDS ({max_lag:g}), or a writer could read a replica "
            "that does not hold its write yet"
        )
    return {
        "database_replica_urls": urls,
        "replica_max_lag_seconds": max_lag,
        "read_your_writes_seconds": window,
    }


def _milliseconds(env: os._Environ[str] | dict[str, str], name: str, default: str) -> float:
    return _number(env, name, default, "milliseconds, 0 or above", zero=True)


def _positive(env: os._Environ[str] | dict[str, str], name: str, default: str) -> float:
    return _number(env, name, default, "seconds above 0", zero=False)


def _number(
    env: os._Environ[str] | dict[str, str], name: str, default: str, expected: str, *, zero: bool
) -> float:
    """A finite number, above 0 (or 0 too, with `zero`); anything else is an error naming it."""
    raw = env.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 if zero else value > 0) or value == float("inf"):
        raise ValueError(f"{name}={raw!r}: expected a number of {expected}")
    return value
