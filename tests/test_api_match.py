"""POST /api/v1/match, POST /api/v1/match/confirmations, GET /api/v1/match/index (demo catalogue)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from api.app import create_app
from pricebook import keys
from pricebook.db import make_engine, session_factory, transaction
from pricebook.demo import load_demo
from pricebook.io import import_rows
from pricebook.models import ROLES, AuditEntry, VehicleModel
from tests.api_client import Api

MODEL = "VW-LAVIDA-23A"


@pytest.fixture(name="api")
async def api_fixture(settings) -> AsyncIterator[Api]:
    settings = dataclasses.replace(settings, catalog_poll_seconds=0.1)
    engine = make_engine(settings)
    try:
        load_demo(engine)
        with transaction(engine) as session:
            made = {
                role: keys.create_key(session, name=f"test {role}", role=role, actor="test")[1]
                for role in ROLES
            }
    finally:
        engine.dispose()
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, made, settings)


def _model_id(api: Api, code: str = MODEL) -> int:
    engine = make_engine(api.settings)
    try:
        with session_factory(engine)() as s:
            return s.scalar(select(VehicleModel.id).where(VehicleModel.code == code))
    finally:
        engine.dispose()


async def _match(api: Api, names: list[str], role: str = "estimate_tool", **body):  # type: ignore[no-untyped-def]
    return await api.client.post(
        "/api/v1/match", json={"names": names, **body}, headers=api.h(role)
    )


async def test_match_answers_each_name_in_order_with_side_attributes_and_candidates(api):
    model_id = _model_id(api)
    names = ["前叶子板（左）原厂 x2", "机盖", "qbxg", "完全不相干的东西"]
    r = await _match(api, names, model_id=model_id, top_k=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["query"] for x in body["results"]] == names
    assert body["model_id"] == model_id and body["brand_id"] is not None
    assert body["index_version"] > 0
    fender, hood, pinyin, nothing = body["results"]
    assert fender["decision"] == "matched"
    assert fender["side"] == {
        "lateral": "左", "longitudinal": "前", "vertical": None, "depth": None,
        "ambiguous": False, "label": "左前",
    }  # fmt: skip
    assert fender["attributes"] == {
        "quality": ["原厂"], "quantity": 2, "unit": None, "assembly": False,
        "price_type": "oem",  # 原厂 in the price type vocabulary
    }  # fmt: skip
    best = fender["candidates"][0]
    assert (best["part_code"], best["name"]) == ("VW1-0018", "左前翼子板")
    assert set(best) == {"part_id", "part_code", "name", "score", "confidence", "reason"}
    assert 0 <= best["confidence"] <= 1 and len(fender["candidates"]) <= 3
    # the hard rule: nothing on the right is offered for a left-hand name
    assert all("右" not in c["name"] for c in fender["candidates"])
    assert hood["candidates"][0]["name"] == "发动机盖"
    assert pinyin["reason"] == "pinyin" and pinyin["decision"] == "suggested"
    assert nothing["decision"] == "unmatched"


async def test_match_by_brand_without_a_model(api):
    r = await _match(api, ["左前叶子板"], brand="VW")
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["candidates"][0]["part_code"].startswith("VW")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"names": []}, "names"),
        ({"names": ["机盖"] * 501}, "names"),
        ({"names": ["机盖", "  "]}, "names[1]"),
        ({"names": ["机" * 201]}, "names[0]"),
        ({"names": ["机盖"], "model_id": 999999}, "model_id"),
        ({"names": ["机盖"], "brand": "NOPE"}, "brand"),
    ],
)
async def test_bad_match_requests_are_422_naming_the_field(api, body, field):
    r = await api.client.post("/api/v1/match", json=body, headers=api.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field


async def test_500_names_are_fine(api):
    r = await _match(api, ["左前叶子板", "后杠", "大灯总成 左", "水箱"] * 125)
    assert r.status_code == 200
    assert len(r.json()["results"]) == 500


async def test_match_needs_a_key(api):
    r = await api.client.post("/api/v1/match", json={"names": ["机盖"]})
    assert r.status_code == 401


async def test_confirm_then_match_returns_the_learned_part(api):
    model_id = _model_id(api)
    before = (await _match(api, ["那个弯弯的板子"], model_id=model_id)).json()["results"][0]
    assert before["reason"] != "learned"

    body = {"name": "那个弯弯的板子", "part_code": "VW1-0018", "accepted": True,
            "model_id": model_id, "reason": "shop's word for it"}  # fmt: skip
    denied = await api.client.post(
        "/api/v1/match/confirmations", json=body, headers=api.h("estimate_tool")
    )
    assert denied.status_code == 403
    r = await api.client.post("/api/v1/match/confirmations", json=body, headers=api.h("reviewer"))
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["accepted"] is True and done["part_code"] == "VW1-0018"
    assert done["created_by"].endswith("test reviewer") and done["index_updated"] is True

    after = (await _match(api, ["那个弯弯的板子"], model_id=model_id)).json()
    assert after["index_version"] == done["catalog_version"]
    result = after["results"][0]
    assert (result["decision"], result["reason"]) == ("matched", "learned")
    assert result["candidates"][0]["part_code"] == "VW1-0018"
    # scoped to the model: another model's match does not use it
    other = _model_id(api, "BYD-HAN-23B")
    assert other is not None
    elsewhere = (await _match(api, ["那个弯弯的板子"], model_id=other)).json()["results"][0]
    assert elsewhere["reason"] != "learned"

    engine = make_engine(api.settings)
    try:
        with session_factory(engine)() as s:
            audit = s.scalars(select(AuditEntry).where(AuditEntry.entity == "match_mappings")).one()
    finally:
        engine.dispose()
    assert audit.reason == "shop's word for it" and audit.actor == done["created_by"]


async def test_a_rejection_stops_the_part_being_offered(api):
    model_id = _model_id(api)
    first = (await _match(api, ["左前叶子板"], model_id=model_id)).json()["results"][0]
    part_id = first["candidates"][0]["part_id"]
    r = await api.client.post(
        "/api/v1/match/confirmations",
        json={"name": "左前叶子板", "part_id": part_id, "accepted": False},
        headers=api.h("reviewer"),
    )
    assert r.status_code == 201, r.text
    again = (await _match(api, ["左前叶子板"], model_id=model_id)).json()["results"][0]
    assert part_id not in [c["part_id"] for c in again["candidates"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "右前叶子板", "part_code": "VW1-0018", "accepted": True}, "part_code"),
        ({"name": "叶子板", "part_code": "NOPE", "accepted": True}, "part_code"),
        ({"name": "叶子板", "accepted": True}, "part_id"),
        ({"name": "", "part_code": "VW1-0018", "accepted": True}, "name"),
    ],
)
async def test_bad_confirmations_are_422(api, body, field):
    r = await api.client.post("/api/v1/match/confirmations", json=body, headers=api.h("reviewer"))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_index_info_reports_size_and_version_and_follows_imports(api):
    r = await api.get("/api/v1/match/index")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["entries"] == 672 and info["strings"] > 3000 and info["approx_bytes"] > 0
    assert info["synonyms_source"] == "shipped" and info["kind"] == "full"

    engine = make_engine(api.settings)
    try:
        with transaction(engine) as s:
            import_rows(
                s,
                "synonyms",
                [{"canonical": "后视镜", "term": "猪耳朵"}],
                actor="p",
                reason="test import",
            )
    finally:
        engine.dispose()
    # Another process's import: this process's poll (0.1 s here) picks it up.
    import asyncio
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info2 = (await api.get("/api/v1/match/index")).json()
        if info2["version"] > info["version"]:
            break
        await asyncio.sleep(0.1)
    assert info2["version"] > info["version"] and info2["synonyms_source"] == "database"
    result = (await _match(api, ["猪耳朵（左）"])).json()["results"][0]
    assert result["candidates"][0]["name"] == "左后视镜总成"


async def test_index_info_counts_the_answers_memo_of_the_process_that_answered(api):
    """`answers`: names answered from the memo (`hits`) and matched (`misses`) by the index of
    the process that answered (`pid`), so an operator sees whether the memo's bound fits."""
    import os

    before = (await api.get("/api/v1/match/index")).json()
    assert before["pid"] == os.getpid()
    assert before["answers"]["limit"] == 10_000
    names = ["左前门饰板（测试甲）", "右后门饰板（测试乙）"]
    assert (await _match(api, names)).status_code == 200
    assert (await _match(api, names)).status_code == 200
    after = (await api.get("/api/v1/match/index")).json()
    assert after["version"] == before["version"]  # the same index: counters comparable
    grew = {k: after["answers"][k] - before["answers"][k] for k in after["answers"]}
    assert grew == {"entries": 2, "limit": 0, "hits": 2, "misses": 2, "dropped": 0}
