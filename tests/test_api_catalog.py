"""Catalogue endpoints, auth, HTTP manners (pagination, ETag/304, problem+json), on both backends."""

from __future__ import annotations

import pytest

from tests.api_client import Api

PROBLEM = "application/problem+json"
VIN = "LSVAB4BR3N1234567"  # check digit 3 is right for this VIN


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and "detail" in body
    return body


async def test_models_by_pinyin_initials_codes_brand_and_year(api: Api):
    for q in ("dzly", "朗逸", "langyi", "svw71512bm", "大众 2023"):
        page = (await api.get("/api/v1/models", params={"q": q})).json()
        assert [m["code"] for m in page["items"]] == ["VW-LAVIDA-2023"], q
        assert page["total"] == 1
    assert (await api.get("/api/v1/models", params={"brand": "TY"})).json()["total"] == 1
    assert (await api.get("/api/v1/models", params={"brand": "丰田"})).json()["total"] == 1
    assert (await api.get("/api/v1/models", params={"year": 2022})).json()["items"][0]["code"] == (
        "TY-COROLLA-2022"
    )
    assert (await api.get("/api/v1/models", params={"q": "100%_x"})).json()["total"] == 0


async def test_models_paginate_and_sort(api: Api):
    first = (await api.get("/api/v1/models", params={"limit": 1, "sort": "-year"})).json()
    assert first["total"] == 2 and first["limit"] == 1 and len(first["items"]) == 1
    assert first["items"][0]["model_year"] == 2023
    second = (
        await api.get("/api/v1/models", params={"limit": 1, "offset": 1, "sort": "-year"})
    ).json()
    assert second["items"][0]["model_year"] == 2022
    body = is_problem(await api.get("/api/v1/models", params={"limit": 0}), 400)
    assert "limit" in body["detail"] and body["errors"][0]["field"] == "limit"
    body = is_problem(await api.get("/api/v1/models", params={"sort": "price"}), 400)
    assert "sort" in body["detail"]


async def test_model_by_id_and_404(api: Api):
    model = (await api.get("/api/v1/models/1")).json()
    assert model["brand"]["name"] == "大众" and model["series"]["name"] == "朗逸"
    is_problem(await api.get("/api/v1/models/999"), 404)
    is_problem(await api.get("/api/v1/models/99999999999999"), 400)


async def test_models_by_vin(api: Api):
    body = (await api.get(f"/api/v1/models/by-vin/{VIN}")).json()
    assert body["wmi"] == "LSV" and body["check_digit"] == "3"
    assert [(c["prefix"], c["model"]["code"]) for c in body["candidates"]] == [
        ("LSVAB4BR", "VW-LAVIDA-2023")
    ]
    wrong = VIN[:8] + "4" + VIN[9:]
    problem = is_problem(await api.get(f"/api/v1/models/by-vin/{wrong}"), 422)
    assert problem["field"] == "vin" and "check digit" in problem["detail"]
    assert is_problem(await api.get("/api/v1/models/by-vin/LSV123"), 422)["field"] == "vin"
    unknown = (await api.get("/api/v1/models/by-vin/WDB12345678901234")).json()
    assert unknown["candidates"] == []


async def test_parts_search_oe_first_then_names_and_aliases(api: Api):
    async def search(**params):
        return (await api.get("/api/v1/parts", params=params)).json()

    page = await search(q="5g0-821-105a")
    assert [(p["code"], p["matched_by"]) for p in page["items"]] == [("VW1-0001", "oe")]
    page = await search(oe="5G1 941 005 A")  # superseded number finds its successor
    assert [(p["code"], p["matched_by"]) for p in page["items"]] == [("VW1-0002", "superseded_oe")]
    page = await search(q="左前叶")
    assert [(p["code"], p["matched_by"]) for p in page["items"]] == [("VW1-0001", "alias")]
    page = await search(q="大灯")
    assert [p["code"] for p in page["items"]] == ["VW1-0002", "VW1-0004", "VW1-0003"]
    assert {p["matched_by"] for p in page["items"]} == {"name"}
    assert (await search(q="大灯", category="body"))["total"] == 0
    assert (await search(category="lamp", model_id=1))["total"] == 1  # only the assembly fits
    assert (await search(model_id=2))["total"] == 0
    assert (await search(sort="-code", limit=2))["items"][0]["code"] == "VW1-0004"
    assert (await search(oe="5G08"))["items"][0]["code"] == "VW1-0004"  # OE prefix
    # typed in the search box, a partial OE number finds it too (from 5 characters, a digit)
    page = await search(q="5g0 80")
    assert [(p["code"], p["matched_by"]) for p in page["items"]][:1] == [("VW1-0004", "oe")]
    assert (await search(q="5G08"))["total"] == 0  # shorter: only an exact number


async def test_part_detail(api: Api):
    detail = (await api.get("/api/v1/parts/2")).json()
    assert detail["part"]["is_assembly"] is True
    assert [(c["part"]["code"], c["quantity"]) for c in detail["components"]] == [
        ("VW1-0003", 1),
        ("VW1-0004", 2),
    ]
    assert detail["superseded_oe"] == ["5G1 941 005 A"] and detail["aliases"] == ["左大灯"]
    assert [m["code"] for m in detail["fitment"]] == ["VW-LAVIDA-2023"]
    bulb = (await api.get("/api/v1/parts/3")).json()
    assert [a["part"]["code"] for a in bulb["assemblies"]] == ["VW1-0002"]
    is_problem(await api.get("/api/v1/parts/404"), 404)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models",
        "/api/v1/models/1",
        f"/api/v1/models/by-vin/{VIN}",
        "/api/v1/parts?q=x",
        "/api/v1/parts/1",
        "/api/v1/parts/1/price-history",
        "/api/v1/prices/resolve?part_id=1",
        "/api/v1/labor-rates",
        "/api/v1/standard-hours",
        "/api/v1/me",
        "/api/v1/keys",
    ],
)
async def test_every_route_needs_a_key(api: Api, url: str):
    body = is_problem(await api.client.get(url), 401)
    assert "X-API-Key" in body["detail"]
    is_problem(await api.client.get(url, headers={"X-API-Key": "pbk_not-a-key"}), 401)


async def test_roles_are_ordered(api: Api):
    for role in ("estimate_tool", "reviewer", "pricing_staff"):
        body = is_problem(await api.get("/api/v1/keys", role=role), 403)
        assert "admin" in body["detail"]
    assert (await api.get("/api/v1/keys", role="admin")).status_code == 200
    for role in ("estimate_tool", "reviewer", "pricing_staff", "admin"):
        me = (await api.get("/api/v1/me", role=role)).json()
        assert me["role"] == role
    is_problem(await api.client.post("/api/v1/prices/resolve", json={"items": [{}]}), 401)


async def test_open_routes(api: Api):
    assert (await api.client.get("/health")).status_code == 200
    assert (await api.client.get("/schema/openapi.json")).status_code == 200


async def test_etag_and_304(api: Api):
    first = await api.get("/api/v1/models/1")
    etag = first.headers["etag"]
    assert set(first.headers["cache-control"].split(", ")) == {"private", "max-age=300"}
    again = await api.client.get("/api/v1/models/1", headers=api.h(**{"If-None-Match": etag}))
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and "cache-control" in again.headers
    other = await api.client.get("/api/v1/models/1", headers=api.h(**{"If-None-Match": '"x"'}))
    assert other.status_code == 200
    price = await api.get("/api/v1/prices/resolve?part_id=1&date=2025-08-01")
    assert set(price.headers["cache-control"].split(", ")) == {"private", "no-cache"}
    assert price.headers["etag"]
    again = await api.client.get(
        "/api/v1/prices/resolve?part_id=1&date=2025-08-01",
        headers=api.h(**{"If-None-Match": f'W/{price.headers["etag"]}, "zzz"'}),
    )
    assert again.status_code == 304
    assert "etag" not in (await api.get("/api/v1/me")).headers  # no-store answers are not tagged
    assert "etag" not in (await api.get("/api/v1/models/999")).headers


async def test_bad_input_is_4xx_problem_naming_the_field(api: Api):
    body = is_problem(await api.get("/api/v1/parts", params={"q": "a\x00b"}), 400)
    assert body["errors"][0]["field"] == "q"
    body = is_problem(await api.get("/api/v1/parts", params={"model_id": "abc"}), 400)
    assert body["errors"][0]["field"] == "model_id"
    body = is_problem(await api.get("/api/v1/parts", params={"q": "x" * 101}), 400)
    assert "q" in body["detail"]
    is_problem(await api.get("/api/v1/nowhere"), 404)
    is_problem(await api.client.put("/api/v1/models/1", headers=api.h()), 405)


async def test_resolve_on_the_calendars_first_and_last_day_is_no_500(api: Api):
    """The market window (180 days back, one day on) reaches past 0001-01-01 and 9999-12-31."""
    for day in ("0001-01-01", "9999-12-31"):
        single = await api.get(f"/api/v1/prices/resolve?part_id=1&date={day}")
        assert single.status_code in (200, 404), single.text
        batch = await api.client.post(
            "/api/v1/prices/resolve", json={"date": day, "items": [{"part_id": 1}]},
            headers=api.h(),
        )  # fmt: skip
        assert batch.status_code == 200, batch.text
        assert batch.json()["results"][0]["status"] in (200, 404)
