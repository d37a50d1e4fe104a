"""Labor rates (branch → parent branch, channel card) and standard hours with inclusions."""

from __future__ import annotations

import copy

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests.api_client import seed
from tests.catalog_rows import BASE


def labor_rows():
    rows = copy.deepcopy(BASE)
    rate = {"shop_tier": "4s", "vehicle_class": "B", "valid_to": ""}
    rows["labor_rates"] += [
        {**rate, "branch_code": "GD01", "labor_kind": "sheet_metal", "rate_yuan": "95.00",
         "valid_from": "2025-01-01"},
        {**rate, "branch_code": "GD01", "labor_kind": "paint", "rate_yuan": "100.00",
         "valid_from": "2025-01-01"},
        {**rate, "branch_code": "SZ01", "labor_kind": "mechanical", "rate_yuan": "130.00",
         "valid_from": "2027-01-01"},  # future-dated
    ]  # fmt: skip
    rows["rate_cards"].append(
        {"channel_code": "CH-SHOP1", "valid_from": "2025-01-01", "valid_to": "", "line": "labor",
         "labor_kind": "sheet_metal", "rate_yuan": "80.00", "pct_of_standard": "",
         "category": "", "price_type": "", "discount_pct": ""}
    )  # fmt: skip
    return rows


@pytest.fixture
async def client(settings):
    made = seed(settings, labor_rows())
    async with AsyncTestClient(create_app(settings)) as c:
        c.headers["X-API-Key"] = made["reviewer"]
        yield c


async def test_branch_rates_fall_back_to_the_parent_branch(client):
    page = (
        await client.get("/api/v1/labor-rates", params={"branch": "SZ01", "date": "2026-01-01"})
    ).json()
    rows = {r["labor_kind"]["code"]: r for r in page["items"]}
    assert set(rows) == {"paint", "sheet_metal"} and page["total"] == 2
    assert rows["paint"]["rate"] == "110.00" and rows["paint"]["rate_branch"] == "SZ01"
    assert rows["sheet_metal"]["rate"] == "95.00" and rows["sheet_metal"]["rate_branch"] == "GD01"
    assert "parent branch GD01" in rows["sheet_metal"]["why"]
    later = (
        await client.get("/api/v1/labor-rates", params={"branch": "SZ01", "date": "2027-02-01"})
    ).json()
    assert {r["labor_kind"]["code"] for r in later["items"]} == {
        "paint",
        "sheet_metal",
        "mechanical",
    }
    before = (
        await client.get("/api/v1/labor-rates", params={"branch": "SZ01", "date": "2024-06-01"})
    ).json()
    assert before["total"] == 0


async def test_channel_card_rates(client):
    page = (
        await client.get(
            "/api/v1/labor-rates",
            params={"channel": "CH-SHOP1", "date": "2026-01-01", "sort": "-rate"},
        )
    ).json()
    rows = {r["labor_kind"]["code"]: r for r in page["items"]}
    assert rows["paint"]["channel"]["pct_of_standard"] == "90.00"
    assert rows["paint"]["rate"] == "99.00" and rows["paint"]["standard_rate"] == "110.00"
    assert (
        rows["sheet_metal"]["rate"] == "80.00" and rows["sheet_metal"]["channel"]["rate"] == "80.00"
    )
    assert [r["rate"] for r in page["items"]] == ["99.00", "80.00"]


async def test_labor_rate_filters_and_errors(client):
    all_rates = (await client.get("/api/v1/labor-rates", params={"date": "2026-01-01"})).json()
    assert all_rates["total"] == 3  # every branch's own rates
    paint = (
        await client.get(
            "/api/v1/labor-rates", params={"kind": "paint", "date": "2026-01-01", "limit": 1}
        )
    ).json()
    assert paint["total"] == 2 and len(paint["items"]) == 1
    for params, field in [({"branch": "XX"}, "branch"), ({"channel": "XX"}, "channel"),
                          ({"kind": "welding"}, "kind")]:  # fmt: skip
        response = await client.get("/api/v1/labor-rates", params=params)
        assert response.status_code == 422 and response.json()["field"] == field
    response = await client.get("/api/v1/labor-rates", params={"shop_tier": "5s"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "shop_tier"


async def test_standard_hours_show_what_they_include(client):
    page = (await client.get("/api/v1/standard-hours", params={"part_id": 1})).json()
    rows = {r["operation"]: r for r in page["items"]}
    assert (
        rows["replace"]["hours"] == "2.50"
        and rows["replace"]["labor_kind"]["code"] == "sheet_metal"
    )
    assert [(i["part_code"], i["operation"]) for i in rows["replace"]["includes"]] == [
        ("VW1-0001", "remove_refit")
    ]
    assert rows["remove_refit"]["includes"] == []
    only = (
        await client.get(
            "/api/v1/standard-hours", params={"operation": "replace", "vehicle_class": "B"}
        )
    ).json()
    assert only["total"] == 1
    by_hours = (await client.get("/api/v1/standard-hours", params={"sort": "-hours"})).json()
    assert [r["hours"] for r in by_hours["items"]] == ["2.50", "1.00"]
    response = await client.get("/api/v1/standard-hours", params={"part_id": 404})
    assert response.status_code == 422 and response.json()["field"] == "part_id"
    response = await client.get("/api/v1/standard-hours", params={"operation": "weld"})
    assert response.status_code == 400


async def test_price_history(client):
    page = (await client.get("/api/v1/parts/1/price-history")).json()
    assert page["total"] == 4
    items = page["items"]
    assert [r["version"]["valid_from"] for r in items] == sorted(
        r["version"]["valid_from"] for r in items
    )  # oldest first
    by_amount = {r["version"]["amount"]: r for r in items}
    assert set(by_amount) == {"980.00", "1050.00", "990.00", "1010.00"}
    assert by_amount["990.00"]["layer"] == "branch" and by_amount["990.00"]["scope_code"] == "SZ01"
    assert by_amount["980.00"]["version"]["valid_to"] == "2025-07-01"
    gz = (await client.get("/api/v1/parts/1/price-history", params={"branch": "GD01"})).json()
    assert [r["scope_code"] for r in gz["items"]] == ["system", "system"]  # SZ01 is not GD01's
    sz = (
        await client.get(
            "/api/v1/parts/1/price-history", params={"branch": "SZ01", "price_type": "4s"}
        )
    ).json()
    assert sz["total"] == 4
    none = (
        await client.get(
            "/api/v1/parts/1/price-history", params={"price_type": "4s", "limit": 1, "offset": 3}
        )
    ).json()
    assert len(none["items"]) == 1 and none["total"] == 4
    assert (await client.get("/api/v1/parts/404/price-history")).status_code == 404
    response = await client.get("/api/v1/parts/1/price-history", params={"branch": "XX"})
    assert response.status_code == 422 and response.json()["field"] == "branch"
