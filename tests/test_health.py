from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from pricebook.settings import Settings

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)


async def test_health_reports_the_database(settings):
    # what /health reports, not how fast: a new app's first connection on a busy CI machine
    # once took longer than the production bound (0.8 s) and the check said 503
    settings = replace(settings, health_timeout=10.0)
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_a_named_node_says_its_name_on_every_answer(tmp_path):
    """Behind a load balancer the answer alone tells which node gave it."""
    named = Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", node_name="api-7")
    async with AsyncTestClient(create_app(named)) as client:
        health = await client.get("/health")
        refused = await client.get("/api/v1/parts")  # no key: 401, still named
        missing = await client.get("/no-such-page")
    assert health.json()["node"] == "api-7"
    assert [r.headers.get("x-pricebook-node") for r in (health, refused, missing)] == ["api-7"] * 3
    assert refused.status_code == 401
    assert Settings.from_env({"PRICEBOOK_NODE_NAME": " api-7 "}).node_name == "api-7"


async def test_an_unnamed_node_sends_no_node_header(tmp_path):
    unnamed = Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}")
    async with AsyncTestClient(create_app(unnamed)) as client:
        health = await client.get("/health")
    assert "x-pricebook-node" not in health.headers and "node" not in health.json()


async def test_health_says_when_the_database_is_unreachable():
    unreachable = Settings(database_url="postgresql://nobody@127.0.0.1:9/none", pool_timeout=1)
    async with AsyncTestClient(create_app(unreachable)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


@contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers: a frozen database
    (SIGSTOPped server) as its clients see it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


async def test_health_answers_within_a_second_when_the_database_is_frozen():
    with black_hole() as port:
        frozen = Settings(database_url=f"postgresql://nobody@127.0.0.1:{port}/none")
        async with AsyncTestClient(create_app(frozen)) as client:
            started = time.monotonic()
            response = await client.get("/health")
            took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert took < 1.0  # PRICEBOOK_HEALTH_TIMEOUT=0.8, not the 3 s connect timeout


async def test_a_request_on_a_frozen_database_is_a_503_within_the_connect_timeout(tmp_path):
    with black_hole() as port:
        frozen = Settings(
            database_url=f"postgresql://nobody@127.0.0.1:{port}/none", db_connect_timeout=0.5
        )
        async with AsyncTestClient(create_app(frozen)) as client:
            started = time.monotonic()
            response = await client.get("/api/v1/models", headers={"X-API-Key": "pbk_x"})
            took = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    assert took < 2.0  # the connect timeout (0.5 s) ends the wait, not the pool's 5 s


async def test_unknown_route_and_method_are_problem_json(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    async with AsyncTestClient(app) as client:
        missing = await client.get("/nope")
        wrong_method = await client.post("/health")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404
    assert wrong_method.status_code == 405
    assert wrong_method.json()["title"] == "Method not allowed"
