from __future__ import annotations

from litestar.testing import AsyncTestClient

from api.app import create_app
from pricebook.settings import Settings


async def test_health_reports_the_database(settings):
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_health_says_when_the_database_is_unreachable():
    unreachable = Settings(database_url="postgresql://nobody@127.0.0.1:9/none", pool_timeout=1)
    async with AsyncTestClient(create_app(unreachable)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "unreachable"


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
