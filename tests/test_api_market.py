"""/api/v1/market: recorded crawls, a part's observations, the unmatched listings queue."""

from __future__ import annotations

import datetime as dt

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select

from api.app import create_app
from pricebook.db import make_engine, transaction
from pricebook.market import ingest_items
from pricebook.models import MarketObservation, MarketRun
from tests.api_client import Api, seed
from tests.market_data import NOW, market_catalog_rows, scraped_item


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


# --- observations by part, the unmatched queue, confirm / reject --------------------------------


@pytest.fixture
async def market_api(settings):
    made = seed(settings, market_catalog_rows())
    engine = make_engine(settings)
    try:
        ingest_items(engine, [
            scraped_item("机油 4L", "398", seller="华强汽配"),
            scraped_item("机油 4L", "420", seller="南方配件", listing_url="http://m.test/goods/2"),
            scraped_item("前保险杠皮", "1,100", raw_brand_text="丰田 卡罗拉 2021款"),
            scraped_item("轮眉 右后", "85"),
        ])  # fmt: skip
    finally:
        engine.dispose()
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, made, settings)


async def test_observations_by_part(market_api):
    api = market_api
    response = await api.get("/api/v1/market/parts/OIL-0001/observations", role="reviewer")
    assert response.status_code == 200
    body = response.json()
    assert (body["part_code"], len(body["items"])) == ("OIL-0001", 2)
    by_seller = {o["seller"]: o for o in body["items"]}
    assert by_seller["南方配件"]["amount"] == "420.00"
    assert by_seller["南方配件"]["url"] == "http://m.test/goods/2"  # the listing's own page
    assert by_seller["华强汽配"]["url"] == "http://m.test/list"
    narrowed = await api.get(
        "/api/v1/market/parts/OIL-0001/observations?price_type=oem&limit=1", role="reviewer"
    )
    assert narrowed.json()["items"] == []
    missing = await api.get("/api/v1/market/parts/NOPE-1/observations", role="reviewer")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad_type = await api.get(
        "/api/v1/market/parts/OIL-0001/observations?price_type=nope", role="reviewer"
    )
    assert bad_type.status_code == 422 and "price_type" in bad_type.text
    too_many = await api.get(
        "/api/v1/market/parts/OIL-0001/observations?limit=501", role="reviewer"
    )
    assert too_many.status_code == 400


async def test_unmatched_queue_confirm_and_reject(market_api):
    api = market_api
    assert (await api.get("/api/v1/market/unmatched", role="reviewer")).status_code == 403
    response = await api.get("/api/v1/market/unmatched", role="pricing_staff")
    assert response.status_code == 200
    queue = {i["raw_name"]: i for i in response.json()["items"]}
    assert set(queue) == {"前保险杠皮", "轮眉 右后"}
    bumper = queue["前保险杠皮"]
    assert bumper["suggested_part_code"] == "GF7-0001" and bumper["amount"] == "1100.00"

    staff = api.h("pricing_staff")
    url = f"/api/v1/market/unmatched/{bumper['id']}"
    refused = await api.client.post(f"{url}/reject", json={}, headers=staff)
    assert refused.status_code == 400 and "reason" in refused.text
    done = await api.client.post(f"{url}/confirm", json={"reason": "同一件"}, headers=staff)
    assert done.status_code == 200 and done.json()["mapping_id"] >= 1
    again = await api.client.post(f"{url}/confirm", json={}, headers=staff)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    left = await api.get("/api/v1/market/unmatched", role="pricing_staff")
    assert [i["raw_name"] for i in left.json()["items"]] == ["轮眉 右后"]
    matched = await api.get("/api/v1/market/parts/GF7-0001/observations", role="reviewer")
    assert [o["amount"] for o in matched.json()["items"]] == ["1100.00"]

    other = left.json()["items"][0]
    wrong_side = await api.client.post(
        f"/api/v1/market/unmatched/{other['id']}/confirm",
        json={"part_code": "GF7-0002"},
        headers=staff,
    )
    assert wrong_side.status_code == 422 and "part_code" in wrong_side.text
    unknown = await api.client.post(
        "/api/v1/market/unmatched/999999/confirm", json={}, headers=staff
    )
    assert unknown.status_code == 404


async def test_observations_keep_the_label_their_price_was_read_with(market_api):
    api = market_api
    engine = make_engine(api.settings)
    try:
        result = ingest_items(engine, [
            scraped_item("机油 4L", "约¥420", seller="甲店"),
            scraped_item("机油 4L", "会员价 ¥99", seller="乙店"),
            scraped_item("机油 4L", "约 会员价¥380", seller="丙店"),
            scraped_item("机油 4L", "原价¥500 现价¥420", seller="丁店"),
        ])  # fmt: skip
    finally:
        engine.dispose()
    assert (result.new, result.dropped) == (4, 0)
    response = await api.get("/api/v1/market/parts/OIL-0001/observations", role="reviewer")
    seen = {o["seller"]: (o["amount"], o["price_label"]) for o in response.json()["items"]}
    assert seen == {
        "甲店": ("420.00", "约"), "乙店": ("99.00", "会员价"), "丙店": ("380.00", "约 会员价"),
        "丁店": ("420.00", "现价"), "华强汽配": ("398.00", None), "南方配件": ("420.00", None),
    }  # fmt: skip


async def test_a_listing_marked_not_a_part_stays_out_of_the_queue_on_re_crawls(market_api):
    api = market_api
    staff = api.h("pricing_staff")
    queue = (await api.get("/api/v1/market/unmatched", role="pricing_staff")).json()["items"]
    trim = next(i for i in queue if i["raw_name"] == "轮眉 右后")
    url = f"/api/v1/market/unmatched/{trim['id']}/not-a-part"
    assert (
        await api.client.post(url, json={"reason": "x"}, headers=api.h("reviewer"))
    ).status_code == 403
    blank = await api.client.post(url, json={"reason": " "}, headers=staff)
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    done = await api.client.post(url, json={"reason": "装饰贴，不是配件"}, headers=staff)
    assert done.status_code == 200, done.text
    assert done.json() == {"observation_id": trim["id"], "status": "not_part"}
    again = await api.client.post(url, json={"reason": "再次"}, headers=staff)
    assert again.status_code == 409 and "not a catalogue part" in again.json()["detail"]

    engine = make_engine(api.settings)
    try:  # the same listing again, then at a new price: neither comes back
        later = (NOW + dt.timedelta(days=1)).isoformat()
        ingest_items(engine, [scraped_item("轮眉 右后", "85", fetched_at=later)])
        ingest_items(engine, [scraped_item("轮眉 右后", "90", fetched_at=later)])
        with transaction(engine) as session:
            statuses = session.execute(
                select(MarketObservation.raw_price, MarketObservation.status)
                .where(MarketObservation.raw_name == "轮眉 右后")
                .order_by(MarketObservation.id)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(s) for s in statuses] == [("85", "not_part"), ("90", "not_part")]
    left = (await api.get("/api/v1/market/unmatched", role="pricing_staff")).json()
    assert [i["raw_name"] for i in left["items"]] == ["前保险杠皮"] and left["total"] == 1


async def test_runs_show_what_the_drift_check_did(api):
    from pricebook.market import DriftReport
    from pricebook.market.crawl import record_drift

    _record_runs(api.settings)
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            drift = DriftReport(checked=5, drifting=2, opened=1, updated=1, closed=1)
            drift.tasks = [("opened", 7), ("updated", 3), ("closed", 4)]
            record_drift(session, [3], drift)
    finally:
        engine.dispose()
    runs = (await api.get("/api/v1/market/runs", role="reviewer")).json()["items"]
    assert runs[0]["stats"]["drift"] == {
        "checked": 5,
        "drifting": 2,
        "opened": 1,
        "reopened": 0,
        "updated": 1,
        "unchanged": 0,
        "closed": 1,
        "already_resolved": 0,
        "tasks": {"opened": [7], "updated": [3], "closed": [4]},
    }
    assert runs[0]["stats"]["matched"] == 6 and "drift" not in runs[1]["stats"]
