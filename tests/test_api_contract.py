"""The API contract's edges (issue 18): every 4xx names its field with a hint, unknown query
parameters are refused on /api/v1 (the staff UI stays lenient), validate says what it assumed
and flags what it could not check, estimate tools can list channels — on both backends."""

from __future__ import annotations

import pytest

from pricebook import review_config
from pricebook.db import make_engine, transaction
from tests.api_client import Api
from tests.estimate_data import CONFIG

PROBLEM = "application/problem+json"
URL = "/api/v1/estimates/validate"


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


@pytest.mark.parametrize(
    ("url", "role", "body", "field"),
    [
        ("/api/v1/match", "estimate_tool", {"names": ["左前叶子板"], "top_k": "3"}, "top_k"),
        ("/api/v1/match", "estimate_tool", {"names": ["左前叶子板"], "model_id": "1"}, "model_id"),
        ("/api/v1/prices/resolve", "estimate_tool", {"items": [{"part_id": "1"}]}, "items[0].part_id"),
        ("/api/v1/prices/resolve", "estimate_tool", {"items": [{"part_id": 1.5}]}, "items[0].part_id"),
        ("/api/v1/prices/resolve", "estimate_tool", {"items": [{"part_id": 1}], "candidates": 0}, "candidates"),
        ("/api/v1/feedback/999999/accept", "pricing_staff", {"model_specific": 0}, "model_specific"),
        ("/api/v1/feedback/999999/accept", "pricing_staff", {"model_specific": "true"}, "model_specific"),
        ("/api/v1/prices/versions/999999/end", "pricing_staff", {"valid_to": 20250101, "reason": "x"}, "valid_to"),
    ],
)  # fmt: skip
async def test_body_fields_of_the_wrong_json_type_are_400_naming_them(
    api: Api, url, role, body, field
):
    """A body is decoded as strictly as the OpenAPI document types it: digits in a string
    for an integer, 0 or "true" for a boolean, a number for a date are refused by name
    (Litestar's own conversion took them), before the handler looks at anything."""
    problem = is_problem(await api.client.post(url, json=body, headers=api.h(role)), 400)
    assert problem["field"] == field, problem
    assert problem["errors"][0]["field"] == field and problem["detail"].startswith(field)


@pytest.mark.parametrize("top_k", [1, 1.0])
async def test_a_body_of_the_right_types_still_passes_the_strict_check(api: Api, top_k) -> None:
    """`1.0` is an integer to JSON Schema (a whole number), so to the API too."""
    body = {"names": ["左前叶子板"], "top_k": top_k}
    r = await api.client.post("/api/v1/match", json=body, headers=api.h())
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    assert [c["part_code"] for c in result["candidates"]] == ["VW1-0001"]


@pytest.mark.parametrize(
    ("url", "field", "times"),
    [
        ("/api/v1/feedback?max_age_days=5&max_age_days=x&max_age_days=0", "max_age_days", 3),
        ("/api/v1/parts?q=翼子板&limit=5&limit=500", "limit", 2),
    ],
)
async def test_a_single_valued_query_parameter_given_twice_is_400_naming_it(
    api: Api, url, field, times
):
    """Litestar reads the last of a repeated parameter: `max_age_days=x&max_age_days=0` was
    answered as 0, the invalid values unread (schemathesis found it)."""
    body = is_problem(await api.get(url, "reviewer"), 400)
    assert body["field"] == field and f"given {times} times" in body["detail"], body
    ok = await api.get(url.split("&")[0], "reviewer")
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("url", "field", "accepts"),
    [
        ("/api/v1/models?bogus=1", "bogus", "brand, limit, offset, q, sort, year"),
        ("/api/v1/parts?q=翼子板&limt=5", "limt", "limit"),
        ("/api/v1/prices/resolve?part_id=1&chanel=CH-SHOP1", "chanel", "channel, date"),
        ("/api/v1/parts/1?verbose=1", "verbose", "this route accepts: none"),
        ("/api/v1/channels?page=2", "page", "date, limit, offset"),
        ("/api/v1/estimates/E-1/validations?limit=5&sort=new", "sort", "limit, offset"),
    ],
)
async def test_unknown_query_parameters_are_400_naming_them(api: Api, url, field, accepts):
    """A misspelt parameter (`chanel=`, `limt=`) used to be ignored silently, changing the
    answer without a word; now it is a 400 naming it and listing what the route accepts."""
    body = is_problem(await api.get(url), 400)
    assert body["field"] == field and body["errors"][0]["field"] == field
    assert "unknown query parameter" in body["detail"] and accepts in body["detail"]


async def test_an_unknown_parameter_is_named_as_sent_not_as_a_declared_ones_alias(api: Api):
    """The audit log's `date_from` is spelt `from` by clients: a client sending `date_from=`
    was told `from` was unknown (the Python name translated to its alias), the one name it
    should have used."""
    response = await api.get("/api/v1/audit/?date_from=2026-11-30&to=2026-12-06", "pricing_staff")
    body = is_problem(response, 400)
    assert body["field"] == "date_from" and [e["field"] for e in body["errors"]] == ["date_from"]
    assert body["detail"].startswith("date_from: unknown query parameter")
    assert "accepts: entity, entity_id, from, limit, offset, to, who" in body["detail"]
    ok = await api.get("/api/v1/audit/?from=2026-11-30&to=2026-12-06", "pricing_staff")
    assert ok.status_code == 200, ok.text


async def test_declared_query_parameters_still_pass_and_the_ui_is_lenient(api: Api):
    assert (await api.get("/api/v1/models?sort=-year&limit=1&offset=0&q=朗逸")).status_code == 200
    assert (await api.get("/api/v1/prices/resolve?part_id=1&date=2025-08-01")).status_code == 200
    # POST with a declared query parameter: validate's `force` (the body is then the 422)
    r = await api.client.post(URL + "?force=true", json={}, headers=api.h())
    assert is_problem(r, 422)["field"] == "estimate_id"
    r = await api.client.post(URL + "?forse=true", json={}, headers=api.h())
    assert is_problem(r, 400)["field"] == "forse"
    # the staff UI ignores what it does not know (a login page with a tracking parameter)
    assert (await api.client.get("/login?utm_source=mail")).status_code == 200


async def test_enum_like_and_date_query_parameters_say_what_is_allowed(api: Api):
    body = is_problem(await api.get("/api/v1/models?sort=bogus"), 400)
    assert body["field"] == "sort"
    assert body["detail"] == "sort: 'bogus' is not one of -code, -name, -year, code, name, year"
    body = is_problem(await api.get("/api/v1/parts?sort=price"), 400)
    assert "-code, -name, code, name, relevance" in body["detail"]
    # the parameter as the client spells it (`date`, not the handler's `on`), with the format
    body = is_problem(await api.get("/api/v1/prices/resolve?part_id=1&date=2025/08/01"), 400)
    assert body["field"] == "date" and "expected a date as YYYY-MM-DD" in body["detail"]
    body = is_problem(await api.get("/api/v1/parts?limit=abc"), 400)
    assert body["field"] == "limit" and body["detail"].startswith("limit: ")


async def test_body_errors_name_the_field_even_when_missing(api: Api):
    staff = api.h("pricing_staff")
    r = await api.client.post(
        "/api/v1/channels", json={"code": "X", "kind": "repair_shop", "reason": "r"}, headers=staff
    )
    body = is_problem(r, 400)
    assert (body["field"], body["detail"]) == ("name", "name is required")
    r = await api.client.post(
        "/api/v1/channels",
        json={"code": "X", "name": "n", "kind": "repair_shop", "reason": "r", "colour": 1},
        headers=staff,
    )
    assert is_problem(r, 400)["field"] == "colour"
    # an enum-like body field lists its values; a bad date in a body gives the format
    r = await api.client.post(
        "/api/v1/channels",
        json={"code": "X", "name": "n", "kind": "shop", "reason": "r"},
        headers=staff,
    )
    body = is_problem(r, 400)
    assert body["field"] == "kind"
    assert body["detail"] == "kind: 'shop' is not one of dealer_group, parts_platform, repair_shop"
    r = await api.client.post(
        "/api/v1/channels/CH-SHOP1/rate-cards",
        json={"valid_from": "2031/01/01", "reason": "r"},
        headers=staff,
    )
    body = is_problem(r, 400)
    assert body["field"] == "valid_from" and "expected a date as YYYY-MM-DD" in body["detail"]


@pytest.fixture
def configured(api: Api) -> Api:
    engine = make_engine(api.settings)
    with transaction(engine) as s:
        review_config.import_review_config(s, CONFIG, actor="test", reason="test config")
    engine.dispose()
    return api


def estimate(**kw) -> dict:
    base = {
        "estimate_id": "E-C-1", "version": 1, "date": "2025-09-10", "branch": "SZ01",
        "submitted_at": "2025-09-12T10:00:00+08:00", "vehicle": {"model_id": 1},
        "shop": {"tier": "4s"},
        "lines": [{"type": "part", "part_id": 1, "claimed_unit_price": "1000.00",
                   "price_type": "4s"}],
    }  # fmt: skip
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"branch": None}, "branch", "branch is required"),
        ({"lines": []}, "lines", "at least one line"),
        ({"date": "10/09/2025"}, "date", "expected a date as YYYY-MM-DD"),
        ({"shop": {"tier": "5s"}}, "shop.tier", "not one of 4s, class1, class2, class3"),
        (
            {"lines": [{"type": "part", "part_id": 1, "claimed_unit_price": "1", "action": "x"}]},
            "lines[0].action",
            "line 1: lines[0].action: 'x' is not one of repair, replace",
        ),
    ],
)
async def test_validate_422s_name_the_field_with_a_hint(configured: Api, change, field, hint):
    r = await configured.client.post(URL, json=estimate(**change), headers=configured.h())
    body = is_problem(r, 422)
    assert body["field"] == field and hint in body["detail"], body


async def test_validate_answer_says_what_it_assumed_and_what_it_could_not_check(configured: Api):
    """No `shop`: assumed class2 (a note naming the field, zh and en); part id 999999 and a
    consumable kind without a standard: allowed as claimed, each flagged UNCHECKED; every
    line carries `line_no` = index + 1."""
    lines = [
        {"type": "part", "part_id": 999999, "quantity": "2", "claimed_unit_price": "150.00"},
        {"type": "consumable", "kind": "nitrogen", "quantity": "3", "unit": "L", "unit_price": "20.00"},
    ]  # fmt: skip
    r = await configured.client.post(
        URL, json=estimate(shop=None, lines=lines), headers=configured.h()
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert [(n["code"], n["field"]) for n in out["notes"]] == [("DEFAULT_APPLIED", "shop.tier")]
    assert "二类修理厂" in out["notes"][0]["message_zh"]
    assert "assumed class2" in out["notes"][0]["message_en"]
    assert [(x["index"], x["line_no"], x["status"]) for x in out["lines"]] == [
        (0, 1, "unknown"), (1, 2, "unknown")
    ]  # fmt: skip
    assert [f["details"]["reason"] for x in out["lines"] for f in x["flags"]] == [
        "unknown_part_id", "unknown_consumable_kind"
    ]  # fmt: skip
    assert out["totals"] == {"claimed": "360.00", "allowed": "360.00", "cut": "0.00"}
    stored = await configured.get(f"/api/v1/estimates/E-C-1/validations/{out['validation_id']}")
    assert stored.json()["notes"] == out["notes"]


async def test_estimate_tools_list_channels_a_page_at_a_time(api: Api):
    """The test catalogue's CH-SHOP1 (SZ01) has a card from 2025-01-01: paint labor, body
    parts. An estimate tool may list channels (it passes `shop.channel_code`), paged like
    every other list; the cards' terms stay with pricing staff."""
    staff = api.h("pricing_staff")
    body = {"code": "CH-PLAT", "name": "配件直供平台", "kind": "parts_platform", "reason": "登记"}
    assert (await api.client.post("/api/v1/channels", json=body, headers=staff)).status_code == 201
    r = await api.get("/api/v1/channels?date=2025-09-10", role="estimate_tool")
    assert r.status_code == 200, r.text
    page = r.json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    assert [c["code"] for c in page["items"]] == ["CH-PLAT", "CH-SHOP1"]
    plat, shop = page["items"]
    assert (plat["branch"], plat["rate_card"]) == (None, None)
    assert shop["branch"] == "SZ01" and shop["name"] == "深圳鹏城汽修"
    card = shop["rate_card"]
    assert (card["valid_from"], card["valid_to"]) == ("2025-01-01", None)
    assert (card["labor_kinds"], card["part_categories"]) == (["paint"], ["body"])
    assert "created_by" not in card and "reason" not in card
    # before the card: none in force
    early = (await api.get("/api/v1/channels?date=2024-06-01")).json()
    assert [c["rate_card"] for c in early["items"]] == [None, None]
    second = (await api.get("/api/v1/channels?limit=1&offset=1")).json()
    assert [c["code"] for c in second["items"]] == ["CH-SHOP1"] and second["total"] == 2
    is_problem(await api.get("/api/v1/channels?limit=0"), 400)
    # the terms and every write: pricing staff only
    is_problem(await api.get("/api/v1/channels/CH-SHOP1/rate-cards"), 403)
    r = await api.client.post("/api/v1/channels", json={**body, "code": "X"}, headers=api.h())
    is_problem(r, 403)
