"""Concurrent edits never lose an update: of two edits sent at once with the same ETag, exactly
one wins (201) and the other gets 412; the history keeps the original and the winner. On both
backends (SQLite: the write lock; PostgreSQL: an advisory lock per key).

The requests go to a live uvicorn server running the app in a thread of this process (the
in-process test client handles one request at a time), so they really run at once; a hook
makes each writer hold its lock a moment, so the second always arrives while the first holds it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.util import await_only

from api.app import create_app
from pricebook import versioned
from pricebook.models import FeedbackItem, Price
from pricebook.settings import Settings
from tests.api_client import db_scalars, part_id_of, seed
from tests.net import free_port

TODAY = date.today()
STAFF = "pricing_staff"


@dataclass
class Live:
    client: httpx.AsyncClient
    keys: dict[str, str]
    settings: Settings

    def h(self, role: str = "estimate_tool", **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role], **extra}


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    made = seed(settings)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        http="h11",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", made
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(name="api")
async def live_api(server, settings: Settings) -> AsyncIterator[Live]:
    base, made = server
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield Live(client, made, settings)


def hold_the_lock(monkeypatch, seconds: float = 0.3) -> list[tuple[str, int, float]]:
    """Make every writer hold its key's lock a while (an async sleep: the server's event loop
    serves the other request meanwhile); record when each asks for, gets and lets go of it
    (lets go: at the latest, the lock is held until the transaction ends)."""
    original = versioned.lock_key
    events: list[tuple[str, int, float]] = []
    counter = iter(range(1000))

    def slow(session, *key):
        n = next(counter)
        events.append(("try", n, time.monotonic()))
        original(session, *key)
        events.append(("got", n, time.monotonic()))
        await_only(asyncio.sleep(seconds))
        events.append(("held", n, time.monotonic()))

    monkeypatch.setattr(versioned, "lock_key", slow)
    return events


def assert_overlapped(events: list[tuple[str, int, float]]) -> None:
    """The second writer asked for the lock while the first held it, and got it only after.

    The first is whichever writer got the lock first, not whichever asked first (two requests
    sent together may reach the lock in either order); the second, the other that asked first."""
    at = {(kind, n): t for kind, n, t in events}
    first = min((t, n) for kind, n, t in events if kind == "got")[1]
    second = min((t, n) for kind, n, t in events if kind == "try" and n != first)[1]
    assert at[("try", second)] < at[("held", first)] < at[("got", second)], events


async def test_two_concurrent_edits_one_wins_the_other_gets_412(api: Live, monkeypatch):
    pid = part_id_of(api)
    key = {"part_id": pid, "scope": "branch", "branch": "SZ01", "price_type": "4s"}
    r = await api.client.get("/api/v1/prices/versions", params=key, headers=api.h(STAFF))
    etag = r.json()["etag"]
    original = r.json()["versions"]
    events = hold_the_lock(monkeypatch)

    def edit(amount: str):
        body = {
            **key,
            "amount": amount,
            "valid_from": str(TODAY),
            "valid_to": "2027-01-01",
            "reason": f"询价 {amount}",
        }
        return api.client.post(
            "/api/v1/prices/versions", json=body, headers=api.h(STAFF, **{"If-Match": etag})
        )

    first, second = await asyncio.gather(edit("1001.00"), edit("1002.00"))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [201, 412], (first.text, second.text)
    assert_overlapped(events)
    winner = first if first.status_code == 201 else second
    loser = second if winner is first else first
    assert loser.json()["status"] == 412 and loser.json()["field"] == "etag"
    amount = winner.json()["version"]["amount"]

    r = await api.client.get("/api/v1/prices/versions", params=key, headers=api.h(STAFF))
    history = [(v["id"], v["amount"], v["valid_from"], v["valid_to"]) for v in r.json()["versions"]]
    assert history == [
        (original[0]["id"], "990.00", original[0]["valid_from"], str(TODAY)),
        (winner.json()["version"]["id"], amount, str(TODAY), "2027-01-01"),
        (original[1]["id"], "1010.00", "2027-01-01", None),
    ]
    # the loser can retry with the new ETag
    body = {
        **key,
        "amount": "1003.00",
        "valid_from": str(TODAY),
        "valid_to": "2027-01-01",
        "reason": "重试",
    }
    monkeypatch.undo()
    r = await api.client.post(
        "/api/v1/prices/versions",
        json=body,
        headers=api.h(STAFF, **{"If-Match": winner.json()["etag"]}),
    )
    assert r.status_code == 201 and r.json()["action"] == "superseded"


async def test_many_concurrent_first_versions_of_a_new_key(api: Live):
    pid = part_id_of(api)
    key = {"part_id": pid, "scope": "branch", "branch": "GD01", "price_type": "brand"}
    r = await api.client.get("/api/v1/prices/versions", params=key, headers=api.h(STAFF))
    etag = r.json()["etag"]

    def edit(n: int):
        body = {**key, "amount": f"{500 + n}.00", "valid_from": str(TODAY), "reason": f"#{n}"}
        return api.client.post(
            "/api/v1/prices/versions", json=body, headers=api.h(STAFF, **{"If-Match": etag})
        )

    answers = await asyncio.gather(*(edit(n) for n in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 412, 412, 412, 412]
    rows = db_scalars(
        api,
        select(Price).where(
            Price.part_id == pid, Price.branch_id.is_not(None), Price.source == "staff"
        ),
    )
    assert len(rows) == 1


async def test_concurrent_labor_rate_edits(api: Live, monkeypatch):
    params = {"branch": "SZ01", "labor_kind": "paint", "shop_tier": "4s", "vehicle_class": "B"}
    r = await api.client.get("/api/v1/labor-rates/versions", params=params, headers=api.h(STAFF))
    etag = r.json()["etag"]
    events = hold_the_lock(monkeypatch, 0.2)

    def edit(rate: str):
        body = {**params, "rate": rate, "valid_from": str(TODAY), "reason": "调整"}
        return api.client.post(
            "/api/v1/labor-rates/versions", json=body, headers=api.h(STAFF, **{"If-Match": etag})
        )

    answers = await asyncio.gather(edit("121.00"), edit("122.00"))
    assert sorted(a.status_code for a in answers) == [201, 412], [a.text for a in answers]
    assert_overlapped(events)
    r = await api.client.get("/api/v1/labor-rates/versions", params=params, headers=api.h(STAFF))
    assert r.json()["versions"][0]["rate"] == "110.00"
    assert len(r.json()["versions"]) == 2


async def test_concurrent_rate_card_edits(api: Live, monkeypatch):
    url = "/api/v1/channels/CH-SHOP1/rate-cards"
    r = await api.client.get(url, headers=api.h(STAFF))
    etag = r.json()["etag"]
    (v1,) = r.json()["versions"]
    events = hold_the_lock(monkeypatch, 0.2)

    def supersede(rate: str, etag: str = etag):
        body = {
            "valid_from": "2031-01-01",
            "labor": [{"labor_kind": "paint", "rate": rate}],
            "reason": f"协议 {rate}",
        }
        return api.client.post(url, json=body, headers=api.h(STAFF, **{"If-Match": etag}))

    answers = await asyncio.gather(supersede("95.00"), supersede("96.00"))
    assert sorted(a.status_code for a in answers) == [201, 412], [a.text for a in answers]
    assert_overlapped(events)
    winner = next(a for a in answers if a.status_code == 201).json()
    loser = next(a for a in answers if a.status_code == 412).json()
    assert loser["field"] == "etag"
    r = await api.client.get(url, headers=api.h(STAFF))
    assert [
        (v["valid_from"], v["valid_to"], v["labor"][0]["rate"]) for v in r.json()["versions"]
    ] == [
        ("2025-01-01", "2031-01-01", None),  # v1: 90% of the standard, closed
        ("2031-01-01", None, winner["version"]["labor"][0]["rate"]),
    ]

    # a supersede and an end from the same ETag: one lands, the other is 412
    etag = r.json()["etag"]
    v2 = winner["version"]["id"]
    end = api.client.post(
        f"{url}/{v2}/end",
        json={"valid_to": "2031-07-01", "reason": "协议终止"},
        headers=api.h(STAFF, **{"If-Match": etag}),
    )
    answers = await asyncio.gather(end, supersede("97.00", etag))
    statuses = [a.status_code for a in answers]
    assert statuses in ([200, 412], [412, 201]), [a.text for a in answers]
    r = await api.client.get(url, headers=api.h(STAFF))
    periods = [(v["id"], v["valid_to"]) for v in r.json()["versions"]]
    if statuses[0] == 200:
        assert periods == [(v1["id"], "2031-01-01"), (v2, "2031-07-01")]
    else:
        assert periods[:2] == [(v1["id"], "2031-01-01"), (v2, "2031-01-01")]  # withdrawn
        assert len(periods) == 3 and periods[2][1] is None


async def test_two_staff_accepting_one_feedback_at_once(api: Live, monkeypatch):
    pid = part_id_of(api)
    body = {
        "part_id": pid,
        "branch": "SZ01",
        "price_type": "4s",
        "reference": "990.00",
        "observed": "900.00",
        "note": "三家报价",
    }
    r = await api.client.post("/api/v1/feedback", json=body, headers=api.h("reviewer"))
    item = r.json()["id"]
    events = hold_the_lock(monkeypatch, 0.2)

    def accept():
        return api.client.post(
            f"/api/v1/feedback/{item}/accept",
            json={"valid_to": "2027-01-01"},
            headers=api.h(STAFF),
        )

    answers = await asyncio.gather(accept(), accept())
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert_overlapped(events)
    rows = db_scalars(api, select(Price).where(Price.source == "feedback"))
    assert [(p.amount_fen, p.source_ref) for p in rows] == [(90000, str(item))]


async def test_two_reviewers_reporting_one_price_at_once(api: Live):
    pid = part_id_of(api)
    body = {"part_id": pid, "branch": "GD01", "price_type": "4s", "observed": "900.00"}
    answers = await asyncio.gather(
        api.client.post("/api/v1/feedback", json=body, headers=api.h("reviewer")),
        api.client.post("/api/v1/feedback", json=body, headers=api.h("pricing_staff")),
    )
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    rows = db_scalars(api, select(FeedbackItem).order_by(FeedbackItem.id))
    assert [r.linked_to_id for r in rows] == [None, rows[0].id]
