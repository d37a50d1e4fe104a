"""GET /api/v1/market/runs: recorded crawls with their reports."""

from __future__ import annotations

from sqlalchemy import insert

from pricebook.db import make_engine, transaction
from pricebook.models import MarketRun
from tests.test_api_base import api_fixture  # noqa: F401


def _record_runs(settings) -> None:
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            session.execute(insert(MarketRun), [
                {"source": "fixture_a", "spider": "listing", "status": "finished",
                 "stats": {"pages": 3, "items": 9, "matched": 6, "unmatched": 3}},
                {"source": "fixture_b", "spider": "listing", "status": "failed",
                 "stats": {"pages": 1, "items": 0}},
                {"source": "fixture_a", "spider": "listing", "status": "finished",
                 "stats": {"pages": 3, "items": 9, "matched": 6, "unmatched": 3}},
            ])  # fmt: skip
    finally:
        engine.dispose()


async def test_runs_are_listed_newest_first_with_their_reports(api):
    _record_runs(api.settings)
    response = await api.get("/api/v1/market/runs", role="reviewer")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [r["source"] for r in body["items"]] == ["fixture_a", "fixture_b", "fixture_a"]
    assert body["items"][0]["stats"]["matched"] == 6
    assert body["items"][0]["started_at"].endswith(("Z", "+00:00"))

    filtered = await api.get("/api/v1/market/runs?source=fixture_a&limit=1", role="reviewer")
    assert filtered.json()["total"] == 2 and len(filtered.json()["items"]) == 1
    failed = await api.get("/api/v1/market/runs?status=failed", role="admin")
    assert [r["source"] for r in failed.json()["items"]] == ["fixture_b"]


async def test_runs_need_a_reviewer_key(api):
    assert (await api.client.get("/api/v1/market/runs")).status_code == 401
    forbidden = await api.get("/api/v1/market/runs", role="estimate_tool")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("application/problem+json")
