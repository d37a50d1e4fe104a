"""`Server-Timing` on every routed answer (the server's time and its statements' part) and the
slow-request warning (`api.timing`)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from api.app import create_app
from pricebook.settings import Settings
from tests.api_client import Api, part_id_of

TIMING = re.compile(r"^app;dur=(\d+\.\d), db;dur=(\d+\.\d)$")


@contextmanager
def warnings_logged() -> Iterator[list[str]]:
    """The timing logger's warnings (Litestar's logging setup replaces the root handlers,
    caplog's too: listen on the logger itself)."""
    messages: list[str] = []
    listener = logging.Handler(logging.WARNING)
    listener.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("pricebook.api.timing")
    logger.addHandler(listener)
    try:
        yield messages
    finally:
        logger.removeHandler(listener)


async def test_every_routed_answer_says_how_long_the_server_took(api: Api):
    """An answer, a refusal (problem+json), a UI page: each carries its server time."""
    pid = part_id_of(api)
    answers = [
        await api.get(f"/api/v1/prices/resolve?part_id={pid}&branch=SZ01&date=2026-01-15"),
        await api.client.get("/api/v1/parts"),  # no key: 401
        await api.client.get("/login"),
        await api.client.get("/health"),
    ]
    assert [r.status_code for r in answers] == [200, 401, 200, 200]
    for r in answers:
        found = TIMING.match(r.headers.get("server-timing", ""))
        assert found, (r.url, r.headers.get("server-timing"))
        app, db = float(found.group(1)), float(found.group(2))
        assert 0 <= db <= app + 0.1 and app < 60_000


async def test_the_database_part_is_the_requests_own_statements(api: Api):
    """Each statement made 30 ms slower: a resolve's `db` holds at least one such wait per
    statement it ran and `app` holds `db`; a request that runs none (no key: refused before
    any lookup), sent beside it, says 0.0."""
    pid = part_id_of(api)
    engine = api.client.app.state.engine.sync_engine
    statements = []

    def slow(*_: object) -> None:
        statements.append(1)
        time.sleep(0.03)

    event.listen(engine, "before_cursor_execute", slow)
    try:
        resolve, refused = await asyncio.gather(
            api.get(f"/api/v1/prices/resolve?part_id={pid}&branch=SZ01&date=2026-01-15"),
            api.client.get("/api/v1/parts"),
        )
    finally:
        event.remove(engine, "before_cursor_execute", slow)
    assert (resolve.status_code, refused.status_code) == (200, 401)
    app, db = map(float, TIMING.match(resolve.headers["server-timing"]).groups())  # type: ignore[union-attr]
    assert statements and db >= 30 * len(statements) - 0.1 and app >= db
    assert refused.headers["server-timing"].endswith(", db;dur=0.0")


async def test_a_slow_request_is_logged_without_its_query(settings: Settings):
    """Past the bound, one warning: method, path (not the query string), status, time."""
    slow = replace(settings, slow_request_ms=0.001)  # every request is "slow"
    with warnings_logged() as lines:
        async with AsyncTestClient(create_app(slow)) as client:
            r = await client.get("/api/v1/parts?q=secret-filter")  # no key: 401
    assert r.status_code == 401
    assert len(lines) == 1, lines
    assert re.fullmatch(
        r"slow request: GET /api/v1/parts 401 in \d+ ms \(over 0\.001 ms\)", lines[0]
    )
    assert "secret-filter" not in lines[0]


@pytest.mark.parametrize("bound", [0.0, 60_000.0])
async def test_no_warning_under_the_bound_or_with_it_off(tmp_path, bound: float):
    quiet = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", slow_request_ms=bound)
    with warnings_logged() as lines:
        async with AsyncTestClient(create_app(quiet)) as client:
            r = await client.get("/api/v1/parts")
    assert r.status_code == 401 and "server-timing" in r.headers
    assert lines == []


def test_the_bound_comes_from_the_environment():
    assert Settings.from_env({}).slow_request_ms == 1000.0
    assert Settings.from_env({"PRICEBOOK_SLOW_REQUEST_MS": "250"}).slow_request_ms == 250.0
    assert Settings.from_env({"PRICEBOOK_SLOW_REQUEST_MS": "0"}).slow_request_ms == 0.0
    for bad in ("-1", "soon", "inf", "nan"):
        with pytest.raises(ValueError, match="PRICEBOOK_SLOW_REQUEST_MS"):
            Settings.from_env({"PRICEBOOK_SLOW_REQUEST_MS": bad})
