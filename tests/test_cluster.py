"""Several API nodes across hosts: the processes keep nothing a peer needs.

One topology (`bench/cluster.py`) for the module: network namespaces on a bridge holding a
PostgreSQL primary, its `pg_basebackup -R` replica, two `pricebook serve` nodes (api1, api2) and
HAProxy balancing round-robin over them. A request goes to a chosen node by that node's own
address; every answer names its node (`X-Pricebook-Node`), so each check below also asserts
which node gave it. Then faults: a node killed, the replica stopped, both brought back, under a
steady stream of resolves through HAProxy.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from bench.cluster import BRANCH, PART, PRICE_TYPE, Topology, missing, running, validation_body
from tests.ci import cannot_run
from tests.ui_client import CSRF_FIELD

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)

NODE = "x-pricebook-node"
STAFF, TOOL, ADMIN, REVIEWER = "pricing_staff", "estimate_tool", "admin", "reviewer"
CSRF_HX = re.compile(r'"x-csrftoken": "([^"]+)"')


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    reason = missing()
    if reason:
        cannot_run(f"the cluster test cannot run on this machine: {reason}")
    with running(nodes=2, replica=True, max_lag=2.0) as t:
        yield t


def call(t: Topology, where: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """One request to a node ("api1", "api2") or to the balancer ("lb"), on a new connection."""
    url = t.lb_url if where == "lb" else t.node_url(where)
    role = kw.pop("role", None)
    headers = {**({"X-API-Key": t.keys[role]} if role else {}), **kw.pop("headers", {})}
    return httpx.request(method, url + path, headers=headers, timeout=10, **kw)


def resolve(t: Topology, where: str) -> tuple[Decimal, str]:
    r = call(
        t,
        where,
        "GET",
        "/api/v1/prices/resolve",
        role=TOOL,
        params={"part_id": PART, "branch": BRANCH, "price_type": PRICE_TYPE},
    )
    assert r.status_code == 200, r.text
    return Decimal(r.json()["amount"]), r.headers[NODE]


def validated_reference(t: Topology, where: str, estimate_id: str) -> tuple[Decimal, str]:
    """The reference price the part line of a fresh validation was checked against."""
    r = call(
        t,
        where,
        "POST",
        "/api/v1/estimates/validate",
        role=TOOL,
        json=validation_body(estimate_id, claimed="99999.00"),
    )
    assert r.status_code == 201, r.text
    [flag] = [f for f in r.json()["lines"][0]["flags"] if f["code"] == "PART_PRICE_ABOVE_REFERENCE"]
    return Decimal(flag["reference"]["value"]), r.headers[NODE]


def wait_for_replay(t: Topology, within: float) -> None:
    """Until the replica has replayed all the primary has written (at most `within` seconds)."""
    engines = {
        h: create_engine(t.db_url(h).replace("postgresql:", "postgresql+psycopg:"))
        for h in ("primary", "replica")
    }
    try:
        with engines["primary"].connect() as primary:
            lsn = primary.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        deadline = time.monotonic() + within
        with engines["replica"].connect() as replica:
            while True:
                done = replica.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}
                ).scalar_one()
                replica.commit()
                if done:
                    return
                assert time.monotonic() < deadline, f"the replica has not replayed {lsn}"
                time.sleep(0.05)
    finally:
        for engine in engines.values():
            engine.dispose()


def test_the_balancer_spreads_requests_over_both_nodes(topology: Topology) -> None:
    seen = [call(topology, "lb", "GET", "/health").headers[NODE] for _ in range(4)]
    assert sorted(seen) == ["api1", "api1", "api2", "api2"]
    for node in ("api1", "api2"):
        health = call(topology, node, "GET", "/health").json()
        assert health["node"] == node and health["replicas"][0]["state"] == "in_use", health


def test_a_price_edit_on_one_node_is_seen_by_the_other_on_its_next_request(
    topology: Topology,
) -> None:
    t = topology
    # node B has read the price, and validated against it, before the edit: whatever it keeps
    # from those requests must not outlive the edit
    before, node = resolve(t, "api2")
    assert node == "api2"
    assert validated_reference(t, "api2", "CL-before") == (before, "api2")

    key = {"part_id": PART, "scope": "branch", "branch": BRANCH, "price_type": PRICE_TYPE}
    versions = call(t, "api1", "GET", "/api/v1/prices/versions", role=STAFF, params=key)
    assert versions.status_code == 200, versions.text
    after = before + Decimal("111.00")
    edit = call(
        t,
        "api1",
        "POST",
        "/api/v1/prices/versions",
        role=STAFF,
        headers={"If-Match": versions.json()["etag"]},
        json={**key, "amount": str(after), "valid_from": str(date.today()), "reason": "询价调整"},
    )
    assert edit.status_code == 201, edit.text
    assert edit.headers[NODE] == "api1"

    # node B reads from the replica: once the replica holds the edit (within the lag bound,
    # 2 s here), B's very next resolve and validation answer with it
    wait_for_replay(t, within=t.max_lag)
    assert resolve(t, "api2") == (after, "api2")
    assert validated_reference(t, "api2", "CL-after") == (after, "api2")
    assert resolve(t, "api1") == (after, "api1")


def test_a_key_revoked_on_one_node_is_refused_by_the_other_at_once(topology: Topology) -> None:
    t = topology
    made = call(
        t,
        "api1",
        "POST",
        "/api/v1/keys/",
        role=ADMIN,
        json={"name": "cluster test tool", "role": TOOL},
    )
    assert made.status_code == 201, made.text
    key_id, secret = made.json()["key"]["id"], made.json()["secret"]
    me = call(t, "api2", "GET", "/api/v1/me/", headers={"X-API-Key": secret})
    assert me.status_code == 200 and me.headers[NODE] == "api2", me.text

    revoked = call(t, "api1", "DELETE", f"/api/v1/keys/{key_id}", role=ADMIN)
    assert revoked.status_code == 200 and revoked.headers[NODE] == "api1", revoked.text
    me = call(t, "api2", "GET", "/api/v1/me/", headers={"X-API-Key": secret})
    assert (me.status_code, me.headers[NODE]) == (401, "api2")
    # and through the balancer, whichever node answers
    for _ in range(2):
        assert call(t, "lb", "GET", "/api/v1/me/", headers={"X-API-Key": secret}).status_code == 401


def test_a_ui_session_made_on_one_node_works_on_the_other(topology: Topology) -> None:
    t = topology
    page = call(t, "api1", "GET", "/login")
    token = CSRF_FIELD.search(page.text)
    assert token, page.text[:300]
    cookies = dict(page.cookies)
    login = call(
        t,
        "api1",
        "POST",
        "/login",
        headers={"Cookie": _cookie_header(cookies)},
        data={"api_key": t.keys[REVIEWER], "next": "/parts", "_csrf_token": token.group(1)},
    )
    assert login.status_code == 303 and login.headers["location"] == "/parts", login.text
    cookies.update(login.cookies)
    assert "pricebook_session" in cookies

    parts = call(t, "api2", "GET", "/parts", headers={"Cookie": _cookie_header(cookies)})
    assert parts.status_code == 200 and parts.headers[NODE] == "api2"
    assert "核损人员" in parts.text  # the page names the logged-in role
    anonymous = call(t, "api2", "GET", "/parts")
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["location"]

    # a logout on node B (its CSRF token made on node B) ends the session on node A too
    hx = CSRF_HX.search(parts.text)
    assert hx, "the page carries the CSRF token for htmx"
    out = call(
        t,
        "api2",
        "POST",
        "/logout",
        headers={"Cookie": _cookie_header(cookies), "x-csrftoken": hx.group(1)},
    )
    assert out.status_code in (200, 303), out.text
    again = call(t, "api1", "GET", "/parts", headers={"Cookie": _cookie_header(cookies)})
    assert again.status_code in (302, 303) and again.headers[NODE] == "api1"


def _cookie_header(cookies: dict[str, str]) -> str:
    """Cookies of one node sent to another by hand: a cookie jar keeps them per host."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


@dataclass
class Stream:
    """Resolves through the balancer from a few clients at once, each answer recorded as
    (seconds since start, status or the error's name, the node that answered)."""

    t: Topology
    clients: int = 4
    #: seconds a client waits for an answer
    timeout: float = 6.0
    started: float = field(default_factory=time.monotonic)
    answers: list[tuple[float, int | str, str]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    async def __aenter__(self) -> Stream:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self) -> None:
        params: dict[str, str | int] = {"part_id": PART, "branch": BRANCH, "price_type": PRICE_TYPE}
        async with httpx.AsyncClient(
            base_url=self.t.lb_url, headers={"X-API-Key": self.t.keys[TOOL]}, timeout=self.timeout
        ) as http:
            while not self._stop.is_set():
                try:
                    r = await http.get("/api/v1/prices/resolve", params=params)
                    self.answers.append((self.now(), r.status_code, r.headers.get(NODE, "")))
                except httpx.HTTPError as exc:
                    self.answers.append((self.now(), type(exc).__name__, ""))
                await asyncio.sleep(0.01)

    def between(self, start: float, end: float = float("inf")) -> list[tuple[int | str, str]]:
        return [(status, node) for at, status, node in self.answers if start <= at < end]

    async def until(self, condition: Any, within: float) -> float:
        """Wait until `condition()` holds (at most `within` seconds); the stream's time then."""
        deadline = time.monotonic() + within
        while not condition():
            assert time.monotonic() < deadline, f"not within {within} s: {self.answers[-5:]}"
            await asyncio.sleep(0.1)
        return self.now()


def _bad(answers: list[tuple[int | str, str]]) -> list[tuple[int | str, str]]:
    """Answers that are neither 2xx nor 503 (an error name: no answer within the timeout)."""
    return [a for a in answers if not (isinstance(a[0], int) and (a[0] < 300 or a[0] == 503))]


async def test_a_node_killed_under_load_costs_no_error_and_comes_back_by_itself(
    topology: Topology,
) -> None:
    t = topology
    async with Stream(t) as stream:
        # the stream's first answers can take a second on a busy machine (new connections)
        await stream.until(lambda: {n for _, n in stream.between(0)} == {"api1", "api2"}, 15)
        await asyncio.sleep(0.5)
        killed_at = stream.now()
        t.kill_node("api1")
        await asyncio.sleep(3.0)
        restarted_at = stream.now()
        await asyncio.to_thread(t.start_node, "api1")
        back_at = await stream.until(
            lambda: "api1" in (n for _, n in stream.between(restarted_at)), within=15
        )
        await asyncio.sleep(0.5)

    assert _bad(stream.between(0)) == [], t.log("haproxy").read_text()[-3000:]
    before = stream.between(0, killed_at)
    assert {n for _, n in before} == {"api1", "api2"}, "both nodes served before the kill"
    # the balancer's checks (every 0.5 s, out after 2 failures) take api1 out; then api2 alone
    alone = stream.between(killed_at + 1.5, restarted_at)
    assert len(alone) > 20 and set(alone) == {(200, "api2")}, alone[:10]
    assert back_at - restarted_at < 15
    assert {n for _, n in stream.between(back_at)} >= {"api1"}


async def test_reads_fall_back_to_the_primary_while_the_replica_is_stopped(
    topology: Topology,
) -> None:
    t = topology
    async with Stream(t) as stream:
        await asyncio.sleep(0.5)
        stopped_at = stream.now()
        await asyncio.to_thread(t.stop_postgres, "replica", "immediate")
        for node in ("api1", "api2"):
            replica = await _replica_state(t, node, ("down",), within=10)
            assert replica["state"] == "down"
        await asyncio.sleep(2.0)  # reads on the primary alone for a while
        restarted_at = stream.now()
        during = stream.between(stopped_at, restarted_at)
        await asyncio.to_thread(t.start_postgres, "replica")
        for node in ("api1", "api2"):
            await _replica_state(t, node, ("in_use",), within=15)
        await asyncio.sleep(0.5)

    assert _bad(stream.between(0)) == []
    # with the replica gone every resolve is served (by the primary), on both nodes
    assert len(during) > 10 and {s for s, _ in during} == {200}
    assert {n for _, n in during} == {"api1", "api2"}
    assert {s for s, _ in stream.between(restarted_at)} == {200}


async def test_a_partitioned_replica_is_dropped_and_taken_back_when_its_link_returns(
    topology: Topology,
) -> None:
    """The replica's link cut (its veth down: packets vanish, nothing is refused), then back."""
    t = topology
    # a read in flight on the replica when its link goes waits for the statement timeout
    # (PRICEBOOK_DB_STATEMENT_TIMEOUT, 5 s) before it is run again on the primary: ~7 s in
    # all, measured. The client waits as long as HAProxy would (`timeout server 10s`).
    async with Stream(t, timeout=10.0) as stream:
        await asyncio.sleep(0.5)
        cut_at = stream.now()
        await asyncio.to_thread(t.partition, "replica", True)
        try:
            for node in ("api1", "api2"):
                replica = await _replica_state(t, node, ("down", "lagging"), within=10)
            # past the reads that were in flight at the cut, the primary alone for a while
            await asyncio.sleep(max(0.0, cut_at + 10 - stream.now()))
            healed_at = stream.now()
        finally:
            await asyncio.to_thread(t.partition, "replica", False)
        for node in ("api1", "api2"):
            await _replica_state(t, node, ("in_use",), within=15)
        # both nodes can report the replica in use again within a second of the heal: the
        # stream runs on long enough for the check of what follows to see answers
        await asyncio.sleep(max(0.5, healed_at + 3 - stream.now()))

    assert replica["state"] in ("down", "lagging")
    # answers stay 2xx or 503 within the timeout; once the replica is out of use the primary
    # serves every read
    assert _bad(stream.between(0)) == []
    settled = stream.between(cut_at + 7, healed_at)
    assert len(settled) > 10 and {s for s, _ in settled} == {200}, settled[:10]
    after = stream.between(healed_at + 1)
    assert len(after) > 10 and {s for s, _ in after} == {200}, after[:10]


async def _replica_state(
    t: Topology, node: str, states: tuple[str, ...], within: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=3) as http:
        while True:
            health = (await http.get(f"{t.node_url(node)}/health")).json()
            replica: dict[str, Any] = health["replicas"][0]
            if replica["state"] in states:
                return replica
            assert time.monotonic() < deadline, (node, health)
            await asyncio.sleep(0.1)
