"""Read replicas against a real streaming replica: this module makes its own PostgreSQL primary
and a `pg_basebackup -R` replica of it on free 127.0.0.1 ports (the shared server does not
allow replication connections, and tests do not change its configuration), and checks what
goes where, read-your-writes, the lag bound, and a replica that stops, comes back or pauses.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine, event, select, text

from api.app import create_app
from bench.pgservers import PgServers, missing
from pricebook import migrate, review_config
from pricebook.db import make_engine, transaction
from pricebook.models import Part, VehicleModel
from pricebook.settings import Settings
from tests.api_client import seed
from tests.ci import cannot_run
from tests.estimate_data import CONFIG
from tests.net import free_port

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)

MAX_LAG = 2.0  # seconds: checks every 0.4 s
STAFF, TOOL = "pricing_staff", "estimate_tool"


@dataclass
class Cluster:
    servers: PgServers
    primary_port: int
    replica_port: int
    #: an API key per role; the test part (VW1-0001) and model (VW-LAVIDA-2023)
    keys: dict[str, str] = field(default_factory=dict)
    part: int = 0
    model: int = 0

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/pricebook"

    @property
    def primary(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica(self) -> str:
        return self.url(self.replica_port)

    def pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.servers.pg(*args, check=check)

    def start(self, name: str, port: int) -> None:
        self.servers.start(name, port)

    def stop(self, name: str, mode: str = "fast") -> None:
        self.servers.stop(name, mode)

    def sql(self, port: int, statement: str) -> Any:
        engine = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/pricebook",
            isolation_level="AUTOCOMMIT",
        )
        try:
            with engine.connect() as connection:
                return connection.execute(text(statement)).first()
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A primary with the schema and the test catalogue, and its streaming replica."""
    reason = missing()
    if reason:
        cannot_run(f"the read-replica tests cannot run: {reason}")
    servers = PgServers.make("pricebook-replicas-")
    c = Cluster(servers, free_port(), free_port())
    try:
        servers.init_primary("primary")
        c.start("primary", c.primary_port)
        c.pg(
            "createdb", "-h", "127.0.0.1", "-p", str(c.primary_port), "-U", "postgres", "pricebook"
        )
        settings = Settings(database_url=c.primary)
        engine = make_engine(settings)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        c.keys = seed(settings)
        engine = make_engine(settings)
        try:
            with transaction(engine) as session:
                review_config.import_review_config(session, CONFIG, actor="test", reason="test")
            with transaction(engine) as session:
                c.part = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
                c.model = session.scalar(
                    select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023")
                )
        finally:
            engine.dispose()
        servers.base_backup("replica", "127.0.0.1", c.primary_port)
        c.start("replica", c.replica_port)
        yield c
    finally:
        c.stop("replica", "immediate")
        c.stop("primary", "immediate")
        servers.remove()


@dataclass
class Node:
    client: AsyncTestClient
    cluster: Cluster
    #: SQL statements each engine ran to the end, the lag checks left out
    primary: list[str]
    replica: list[str]

    def h(self, role: str, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.cluster.keys[role], **extra}

    async def health(self) -> dict[str, Any]:
        return (await self.client.get("/health")).json()["replicas"][0]

    async def wait_for(self, state: str, within: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            replica = await self.health()
            if replica["state"] == state or time.monotonic() > deadline:
                assert replica["state"] == state, replica
                return replica
            await asyncio.sleep(0.1)

    async def resolve(self, role: str = TOOL) -> tuple[str, str]:
        """The reference amount of the test part at GD01, and which database served it."""
        primary, replica = len(self.primary), len(self.replica)
        r = await self.client.get(
            "/api/v1/prices/resolve",
            params={"part_id": self.cluster.part, "branch": "GD01", "price_type": "4s"},
            headers=self.h(role),
        )
        assert r.status_code == 200, r.text
        on_replica = any(_reads_prices(s) for s in self.replica[replica:])
        on_primary = any(_reads_prices(s) for s in self.primary[primary:])
        assert on_replica != on_primary, (self.primary[primary:], self.replica[replica:])
        return r.json()["amount"], "replica" if on_replica else "primary"

    async def edit(self, amount: str) -> None:
        """A new GD01 price of the test part, by pricing staff, on the primary."""
        key = {
            "part_id": self.cluster.part,
            "scope": "branch",
            "branch": "GD01",
            "price_type": "4s",
        }
        r = await self.client.get("/api/v1/prices/versions", params=key, headers=self.h(STAFF))
        assert r.status_code == 200, r.text
        body = {**key, "amount": amount, "valid_from": str(date.today()), "reason": "询价"}
        r = await self.client.post(
            "/api/v1/prices/versions",
            json=body,
            headers=self.h(STAFF, **{"If-Match": r.json()["etag"]}),
        )
        assert r.status_code == 201, r.text


def _reads_prices(statement: str) -> bool:
    return re.search(r"\b(FROM|JOIN) prices\b", statement) is not None


def _record(engine: Any, into: list[str]) -> None:
    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "_lsn" not in statement:
            into.append(statement)


@contextlib.asynccontextmanager
async def api_node(cluster: Cluster) -> AsyncIterator[Node]:
    """An API process on the cluster (the primary and its replica), the replica in use."""
    settings = Settings(
        database_url=cluster.primary,
        database_replica_urls=(cluster.replica,),
        replica_max_lag_seconds=MAX_LAG,
        read_your_writes_seconds=MAX_LAG,
        rate_limit="0",
        db_connect_timeout=1.0,
        health_timeout=2.0,  # the lag check's timeout: a busy CI machine
    )
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        n = Node(client, cluster, [], [])
        _record(app.state.engine, n.primary)
        _record(app.state.replicas.replicas[0].engine, n.replica)
        await n.wait_for("in_use")
        yield n


@pytest.fixture
async def node(cluster: Cluster) -> AsyncIterator[Node]:
    async with api_node(cluster) as n:
        yield n


async def test_reads_go_to_the_replica_writes_to_the_primary_and_writers_read_their_own(
    node: Node,
):
    assert (await node.health())["lag_seconds"] <= MAX_LAG
    before, served = await node.resolve()
    assert served == "replica"
    # catalogue reads too; the staff's version list (what an edit's ETag is read from) does not
    replica = len(node.replica)
    r = await node.client.get("/api/v1/parts", params={"q": "翼子板"}, headers=node.h(TOOL))
    assert r.status_code == 200 and any("parts" in s for s in node.replica[replica:])

    primary, replica = len(node.primary), len(node.replica)
    await node.edit("1234.00")
    assert any(s.lstrip().upper().startswith("INSERT") for s in node.primary[primary:])
    assert not any(
        s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in node.replica[replica:]
    )

    # the writer reads its own write at once, from the primary, for the window
    assert await node.resolve(STAFF) == ("1234.00", "primary")
    # others see it through the replica once replayed (the bound: MAX_LAG)
    deadline = time.monotonic() + MAX_LAG
    while (seen := await node.resolve()) != ("1234.00", "replica"):
        assert seen in {(before, "replica"), ("1234.00", "replica")}
        assert time.monotonic() < deadline, "not replayed within the lag bound"
        await asyncio.sleep(0.05)
    # past the window the writer is back on the replica
    await asyncio.sleep(MAX_LAG)
    assert await node.resolve(STAFF) == ("1234.00", "replica")


async def test_a_key_that_wrote_through_one_node_reads_from_the_primary_on_another(
    cluster: Cluster,
):
    """Read-your-writes across processes: the write is recorded on the primary with its key
    (`api_keys.last_write_at`), and the other node's key lookup reads it."""
    async with api_node(cluster) as a, api_node(cluster) as b:
        assert (await b.resolve(STAFF))[1] == "replica"
        await a.edit("2345.00")
        assert await b.resolve(STAFF) == ("2345.00", "primary")
        assert (await b.resolve(TOOL))[1] == "replica"  # a key that did not write
        await asyncio.sleep(MAX_LAG)
        assert await b.resolve(STAFF) == ("2345.00", "replica")


async def test_a_validation_reads_references_on_the_replica_and_stores_on_the_primary(
    node: Node,
):
    c = node.cluster
    data = {
        "estimate_id": "E-REPLICA-1",
        "version": 1,
        "date": str(date.today()),
        "branch": "SZ01",
        "submitted_at": "2026-01-12T10:00:00+08:00",
        "vehicle": {"model_id": c.model, "vin": "LSVAB4BR5PN000001"},
        "shop": {"tier": "4s"},
        "lines": [
            {"type": "part", "part_id": c.part, "claimed_unit_price": "1280.00", "price_type": "4s"}
        ],
    }
    primary, replica = len(node.primary), len(node.replica)
    r = await node.client.post("/api/v1/estimates/validate", json=data, headers=node.h(TOOL))
    assert r.status_code == 201, r.text
    assert any(_reads_prices(s) for s in node.replica[replica:])
    assert not any(_reads_prices(s) for s in node.primary[primary:]), node.primary[primary:]
    assert any("INSERT INTO estimate_validations" in s for s in node.primary[primary:])
    # sent again: the stored answer is found on the primary (it may not be replayed yet)
    r = await node.client.post("/api/v1/estimates/validate", json=data, headers=node.h(TOOL))
    assert r.status_code == 200 and r.json()["reused"] is True


async def test_a_replica_that_stops_is_skipped_and_used_again_when_back(node: Node):
    c = node.cluster
    c.stop("replica", "immediate")
    try:
        started = time.monotonic()
        for _ in range(5):  # the first finds it gone, drops it and is answered by the primary
            assert (await node.resolve())[1] == "primary"
        assert time.monotonic() - started < 3.0
        down = await node.wait_for("down")
        assert down["lag_seconds"] is None
        assert (await node.client.get("/health")).status_code == 200
    finally:
        c.start("replica", c.replica_port)
    await node.wait_for("in_use")
    assert (await node.resolve())[1] == "replica"


async def test_an_idle_primary_leaves_a_healthy_replica_in_use(node: Node):
    """Nothing to replay: the replica is current however old its last replayed commit (which
    a lag taken as `now() - pg_last_xact_replay_timestamp()` alone would call stale)."""
    await asyncio.sleep(MAX_LAG + 0.5)
    c = node.cluster
    age = c.sql(
        c.replica_port, "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
    )[0]
    assert float(age) > MAX_LAG
    assert (await node.health())["state"] == "in_use"
    assert (await node.resolve())[1] == "replica"


async def test_a_paused_replica_is_used_within_the_lag_bound_then_skipped(node: Node):
    c = node.cluster
    before, _ = await node.resolve()
    c.sql(c.replica_port, "SELECT pg_wal_replay_pause()")
    try:
        await node.edit("1500.00")  # a write the replica does not replay
        # within the bound others may read the replica, which does not have it yet
        assert await node.resolve() == (before, "replica")
        await node.wait_for("lagging", within=MAX_LAG + 1.5)
        assert await node.resolve() == ("1500.00", "primary")
        assert (await node.client.get("/health")).status_code == 200
    finally:
        c.sql(c.replica_port, "SELECT pg_wal_replay_resume()")
    await node.wait_for("in_use")
    assert await node.resolve() == ("1500.00", "replica")


def test_replica_settings_come_from_the_environment():
    env = {
        "PRICEBOOK_DATABASE_URL": "postgresql://p@db1/pricebook",
        "PRICEBOOK_DATABASE_REPLICA_URLS": " postgresql://r@db2/pricebook, postgresql://r@db3/pricebook ,",
        "PRICEBOOK_REPLICA_MAX_LAG_SECONDS": "3",
    }  # fmt: skip
    s = Settings.from_env(env)
    assert s.database_replica_urls == (
        "postgresql://r@db2/pricebook",
        "postgresql://r@db3/pricebook",
    )
    assert (s.replica_max_lag_seconds, s.read_your_writes_seconds) == (3.0, 3.0)
    assert Settings.from_env({}).database_replica_urls == ()
    with pytest.raises(ValueError, match="at least"):
        Settings.from_env({**env, "PRICEBOOK_READ_YOUR_WRITES_SECONDS": "1"})
    with pytest.raises(ValueError, match="need PostgreSQL"):
        Settings.from_env({"PRICEBOOK_DATABASE_REPLICA_URLS": "postgresql://r@db2/pricebook"})
