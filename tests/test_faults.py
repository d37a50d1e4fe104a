"""Database faults end in 503 problem+json with Retry-After, quickly; connections rebalance.

The unit tests classify driver errors by SQLSTATE and check the keep-alive limit. The fault
tests (slow) start a PostgreSQL cluster of their own on a free port and serve the app with
`pricebook serve`, then stop, crash, freeze and restart that cluster under load.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.problems import handle, sqlstate_of
from api.rebalance import Connections
from pricebook import migrate
from pricebook.db import make_engine, sync_url
from pricebook.models import Part, Price
from pricebook.settings import Settings
from tests.api_client import seed
from tests.ci import cannot_run
from tests.net import free_port
from tests.processes import (
    listeners,
    serve_command,
    serve_two_workers,
    stop_server,
    workers_of,
)

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)

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
    return {
        "type": "http",
        "http_version": "1.1",
        "client": ("127.0.0.1", port),
        "server": ("127.0.0.1", 8000),
    }


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
    cli_db: str, monkeypatch: pytest.MonkeyPatch, max_seconds: str
):
    """Four busy keep-alive clients on `pricebook serve --workers 2`; one worker is killed, and
    while it restarts every client connects to the survivor. With connections closed after
    PRICEBOOK_CONNECTION_MAX_SECONDS=1 the new worker answers some of them within seconds;
    without a limit (0) it answers none: the clients stay where they are."""
    monkeypatch.setenv("PRICEBOOK_CONNECTION_MAX_SECONDS", max_seconds)
    monkeypatch.setenv("PRICEBOOK_CONNECTION_MAX_REQUESTS", "0")
    monkeypatch.setenv("PRICEBOOK_RATE_LIMIT", "0")
    port = free_port()
    server = serve_two_workers(cli_db, port)
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(4)]
    try:
        before = workers_of(server.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        while listeners(port) != 1:  # its socket closes with it
            time.sleep(0.01)
        (survivor,) = before - {victim}

        def restarted(_seen: object = None) -> bool:
            workers = workers_of(server.pid)
            return len(workers) == 2 and victim not in workers and listeners(port) == 2

        # (with a limit, a client may reconnect to the new worker before this loop sees it)
        meanwhile = _busy_until(clients, restarted, limit=60)
        assert restarted() and server.poll() is None
        (newcomer,) = workers_of(server.pid) - {survivor}
        started = time.monotonic()
        window = 6.0 if max_seconds != "0" else 3.0
        answered_by = meanwhile | _busy_until(
            clients, lambda seen: newcomer in seen | meanwhile, limit=window
        )
        took = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
        errors = stop_server(server)
    assert server.returncode == 0, errors
    if max_seconds == "0":
        assert answered_by == {survivor}, f"{answered_by} in {took:.1f} s; meanwhile {meanwhile}"
    else:
        assert answered_by == {survivor, newcomer}, f"only {answered_by} after {took:.1f} s"
        print(f"the restarted worker answered after {took:.2f} s")


# ------------------------------------------------------------------------------------------------
# a PostgreSQL cluster of the test's own, stopped, crashed, frozen and restarted under load
# ------------------------------------------------------------------------------------------------

CONNECT_TIMEOUT, STATEMENT_TIMEOUT, POOL_TIMEOUT = 1.0, 1.5, 2.0
#: the longest a request may take while the database fails: waiting for a pooled connection,
#: then a ping, a statement and the ROLLBACK, each cut by the statement timeout; + slack
BOUND = POOL_TIMEOUT + 3 * STATEMENT_TIMEOUT + 1.5
TODAY = date.today()


class Cluster:
    """`initdb` + `pg_ctl` on a free port and a data directory in /tmp, as the `postgres` OS
    user when the tests run as root (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pricebook-faults-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off"
        )
        self.options = options

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{tool} {args}: {done.stdout}{done.stderr}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        """pg_ctl on this cluster with its log and options, waiting up to 30 s."""
        options = ("-D", str(self.data), "-l", str(self.log), "-o", self.options, "-w", "-t", "30")
        self._run("pg_ctl", *options, *args)

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def stop(self, mode: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def processes(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found or (os.geteuid() == 0 and not shutil.which("runuser")):
        cannot_run(
            "the fault tests need PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin):"
            " install the postgresql package"
        )
    return found[-1].parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    own = Cluster(_postgres_bin())
    try:
        own.start()
        admin = create_engine(sync_url(own.url()), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE pricebook"))
        admin.dispose()
        engine = make_engine(Settings(database_url=own.url("pricebook")))
        migrate.upgrade(engine)
        engine.dispose()
        yield own
    finally:
        own.remove()


@dataclass
class Answer:
    kind: str
    started: float
    took: float
    status: int | None  # None: no answer (the client's own timeout or a refused connection)
    problem: bool = False
    retry_after: bool = False
    error: str = ""


@dataclass
class Load:
    """Clients on their own threads: resolvers GET a price; each writer adds versions of its
    own price key (If-Match from the last answer; after a failure it reads the key again)."""

    base: str
    keys: dict[str, str]
    parts: list[int]
    answers: list[Answer] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # reasons of the writes answered 2xx
    stop: threading.Event = field(default_factory=threading.Event)

    def _call(self, client: httpx.Client, kind: str, method: str, url: str, **kw: Any) -> Any:
        started = time.monotonic()
        try:
            r = client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.answers.append(
                Answer(
                    kind,
                    started,
                    time.monotonic() - started,
                    None,
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            time.sleep(0.05)
            return None
        self.answers.append(
            Answer(
                kind,
                started,
                time.monotonic() - started,
                r.status_code,
                problem=r.headers.get("content-type", "").startswith("application/problem+json"),
                retry_after="retry-after" in r.headers,
                error=r.text[:300] if r.status_code >= 300 else "",
            )
        )
        if r.status_code >= 500:
            time.sleep(0.05)  # as a client honouring Retry-After would, but sooner
        return r

    def resolver(self, n: int) -> None:
        headers = {"X-API-Key": self.keys["estimate_tool"]}
        with httpx.Client(base_url=self.base, timeout=30, headers=headers) as client:
            while not self.stop.is_set():
                part = self.parts[0]  # the one with a price in force today
                self._call(client, "resolve", "GET", f"/api/v1/prices/resolve?part_id={part}")

    def writer(self, n: int) -> None:
        key = {"part_id": self.parts[n], "scope": "branch", "branch": "GD01", "price_type": "4s"}
        headers = {"X-API-Key": self.keys["pricing_staff"]}
        etag: str | None = None
        version = 0
        with httpx.Client(base_url=self.base, timeout=30, headers=headers) as client:
            while not self.stop.is_set():
                if etag is None:
                    r = self._call(client, "read", "GET", "/api/v1/prices/versions", params=key)
                    etag = r.headers["etag"] if r is not None and r.status_code == 200 else None
                    continue
                version += 1
                reason = f"fault test {n}.{version}"
                body = {
                    **key,
                    "amount": f"{1000 + version}.00",
                    "reason": reason,
                    "valid_from": str(TODAY + timedelta(days=version)),
                }
                r = self._call(
                    client,
                    "write",
                    "POST",
                    "/api/v1/prices/versions/",
                    json=body,
                    headers={"If-Match": etag},
                )
                if r is not None and r.status_code in (200, 201):
                    etag = r.headers["etag"]
                    self.written.append(reason)
                else:
                    etag = None  # stored or not: read the key's ETag again


def _serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PRICEBOOK_DATABASE_URL": url,
        "PRICEBOOK_DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "PRICEBOOK_DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
        "PRICEBOOK_POOL_TIMEOUT": str(POOL_TIMEOUT),
        "PRICEBOOK_POOL_SIZE": "4",
        "PRICEBOOK_RATE_LIMIT": "0",  # load from one key: a fault test, not a limit test
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            serve_command(port),
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def _recovered(load: Load, since: float, within: float = 15.0) -> float:
    """Seconds from `since` to the first 2xx resolve and 2xx write that started after it."""
    deadline = since + within
    while time.monotonic() < deadline:
        later = [a for a in load.answers if a.started >= since and a.status in (200, 201)]
        kinds = {a.kind for a in later}
        if {"resolve", "write"} <= kinds:
            return (
                max(
                    min(a.started + a.took for a in later if a.kind == k)
                    for k in ("resolve", "write")
                )
                - since
            )
        time.sleep(0.1)
    raise AssertionError(f"no recovery within {within} s after the fault")


@pytest.mark.slow
@pytest.mark.postgres
def test_database_faults_under_load_end_in_503_quickly_and_lose_no_acknowledged_write(
    cluster: Cluster, tmp_path: Path
):
    settings = Settings(database_url=cluster.url("pricebook"))
    made = seed(settings)
    engine = make_engine(settings)
    with engine.connect() as connection:
        parts = list(connection.scalars(select(Part.id).order_by(Part.id)))
    engine.dispose()
    port = free_port()
    server = _serve(settings.database_url, port, tmp_path / "server.log")
    load = Load(f"http://127.0.0.1:{port}", made, parts)
    threads = [threading.Thread(target=load.resolver, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=load.writer, args=(n,)) for n in range(2)]
    recovery: dict[str, float] = {}
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)

        def fault(name: str, act: Callable[[], None]) -> None:
            act()
            back = time.monotonic()
            recovery[name] = _recovered(load, back)

        def stop_then_start(mode: str) -> Callable[[], None]:
            def act() -> None:
                cluster.stop(mode)
                time.sleep(1.5)
                cluster.start()

            return act

        def freeze() -> None:
            processes = cluster.processes()
            for pid in processes:
                os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(4.0)
            finally:
                for pid in processes:
                    os.kill(pid, signal.SIGCONT)

        fault("stop -m fast", stop_then_start("fast"))
        fault("crash (stop -m immediate)", stop_then_start("immediate"))
        fault("SIGSTOP 4 s", freeze)
        fault("restart -m fast", cluster.restart)
        time.sleep(0.5)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(60)
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    answers = load.answers
    wrong = [
        a
        for a in answers
        if not (200 <= (a.status or 0) < 300 or (a.status == 503 and a.problem and a.retry_after))
    ]
    assert not wrong, wrong[:5]
    slow = [a for a in answers if a.took > BOUND]
    assert not slow, f"{len(slow)} answers slower than {BOUND} s: {slow[:5]}"
    unavailable = sum(a.status == 503 for a in answers)
    assert unavailable, "no fault was seen: the test did not test anything"

    try:
        with engine.connect() as connection:
            stored = set(
                connection.scalars(select(Price.reason).where(Price.reason.like("fault test %")))
            )
    finally:
        engine.dispose()
    lost = [reason for reason in load.written if reason not in stored]
    assert load.written and not lost, lost
    print(
        f"{len(answers)} answers, {unavailable} 503, slowest {max(a.took for a in answers):.2f}"
        f" s (bound {BOUND} s); {len(load.written)} writes acknowledged, all stored; "
        "recovered after: " + ", ".join(f"{k} {v:.2f} s" for k, v in recovery.items())
    )
