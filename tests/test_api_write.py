"""The write API: versioned edits with ETag/If-Match (428, 412), history never overwritten,
reasons required, every change audited; channels, rate cards, aliases, synonyms; the audit log;
imports over HTTP; who may call what."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from pricebook.db import make_engine, transaction
from pricebook.models import AuditEntry, CatalogVersion, Part, Price
from pricebook.prices import EMPTY_ETAG
from tests.test_api_base import Api, api_fixture  # noqa: F401

TODAY = date.today()
STAFF = "pricing_staff"
PROBLEM = "application/problem+json"


def part_id(api: Api, code: str = "VW1-0001") -> int:
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            return session.scalar(select(Part.id).where(Part.code == code))
    finally:
        engine.dispose()


def db_scalars(api: Api, stmt):
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            return list(session.scalars(stmt))
    finally:
        engine.dispose()


async def versions(api: Api, **params):
    r = await api.client.get("/api/v1/prices/versions", params=params, headers=api.h(STAFF))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == r.json()["etag"]
    return r.json()


async def post(api: Api, url: str, body: dict, etag: str | None, role: str = STAFF):
    headers = api.h(role) if etag is None else api.h(role, **{"If-Match": etag})
    return await api.client.post(url, json=body, headers=headers)


def gd01_key(pid: int) -> dict:
    return {"part_id": pid, "scope": "branch", "branch": "GD01", "price_type": "4s"}


async def test_create_then_supersede_a_localized_price(api: Api):
    pid = part_id(api)
    key = gd01_key(pid)
    empty = await versions(api, **key)
    assert empty["versions"] == [] and empty["etag"] == EMPTY_ETAG
    assert empty["key"] == {"part_id": pid, "model_id": None, "scope": "branch",
                            "region": None, "branch": "GD01", "price_type": "4s"}  # fmt: skip
    body = {**key, "amount": "1000.00", "valid_from": str(TODAY), "reason": "三家4S店询价"}
    r = await post(api, "/api/v1/prices/versions", body, empty["etag"])
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["action"] == "created" and first["version"]["amount"] == "1000.00"
    assert first["version"]["source"] == "staff"
    assert first["version"]["created_by"].endswith(":test pricing_staff")
    assert r.headers["etag"] == first["etag"] != empty["etag"]

    # the same edit again from the old ETag: someone changed the key since → 412
    r = await post(api, "/api/v1/prices/versions", {**body, "amount": "999.00"}, empty["etag"])
    assert r.status_code == 412 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["status"] == 412 and r.json()["field"] == "etag"

    # from next week, a new amount supersedes it: the first version is closed, not overwritten
    later = TODAY + timedelta(days=7)
    body2 = {**body, "amount": "1100.00", "valid_from": str(later), "reason": "涨价"}
    r = await post(api, "/api/v1/prices/versions", body2, first["etag"])
    assert r.status_code == 201 and r.json()["action"] == "superseded"
    history = await versions(api, **key)
    assert [(v["amount"], v["valid_from"], v["valid_to"]) for v in history["versions"]] == [
        ("1000.00", str(TODAY), str(later)),
        ("1100.00", str(later), None),
    ]
    assert history["etag"] == r.json()["etag"]

    # the same amount and period again changes nothing
    r = await post(api, "/api/v1/prices/versions", body2, history["etag"])
    assert r.status_code == 200 and r.json()["action"] == "unchanged"

    entries = db_scalars(
        api, select(AuditEntry).where(AuditEntry.entity == "prices").order_by(AuditEntry.id)
    )
    last = entries[-3:]
    assert [e.action for e in last] == ["create", "close", "supersede"]
    assert all(e.actor.endswith(":test pricing_staff") for e in last)
    assert last[1].before == {"valid_to": None} and last[1].after == {"valid_to": str(later)}
    assert last[2].before["amount"] == "1000.00" and last[2].after["amount"] == "1100.00"
    assert last[2].reason == "涨价"


async def test_if_match_is_required_and_reason_too(api: Api):
    pid = part_id(api)
    body = {**gd01_key(pid), "amount": "1.00", "valid_from": str(TODAY), "reason": "x"}
    r = await post(api, "/api/v1/prices/versions", body, None)
    assert r.status_code == 428 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["title"] == "Precondition required"
    r = await post(api, "/api/v1/prices/versions", body, "*")
    assert r.status_code == 428
    for reason in (None, "", "   "):
        b = {k: v for k, v in body.items() if k != "reason"}
        if reason is not None:
            b["reason"] = reason
        r = await post(api, "/api/v1/prices/versions", b, EMPTY_ETAG)
        assert r.status_code == 422 and r.json()["field"] == "reason", r.text
    r = await post(api, "/api/v1/prices/versions", {**body, "amount": "1.234"}, EMPTY_ETAG)
    assert r.status_code == 422 and r.json()["field"] == "amount"
    r = await post(api, "/api/v1/prices/versions", {**body, "branch": "NOPE"}, EMPTY_ETAG)
    assert r.status_code == 422 and r.json()["field"] == "branch"
    assert db_scalars(api, select(Price.id).where(Price.branch_id.is_not(None))) != []


async def test_overlapping_a_later_version_is_a_conflict(api: Api):
    pid = part_id(api)
    key = {"part_id": pid, "scope": "branch", "branch": "SZ01", "price_type": "4s"}
    current = await versions(api, **key)
    assert [v["amount"] for v in current["versions"]] == ["990.00", "1010.00"]
    body = {**key, "amount": "995.00", "valid_from": str(TODAY), "reason": "x"}
    r = await post(api, "/api/v1/prices/versions", body, current["etag"])
    assert r.status_code == 409 and r.json()["field"] == "valid_to"
    # with valid_to the next version's first day it fits between
    r = await post(
        api, "/api/v1/prices/versions", {**body, "valid_to": "2027-01-01"}, current["etag"]
    )
    assert r.status_code == 201, r.text
    after = await versions(api, **key)
    assert [(v["amount"], v["valid_to"]) for v in after["versions"]] == [
        ("990.00", str(TODAY)),
        ("995.00", "2027-01-01"),
        ("1010.00", None),
    ]


async def test_end_validity_only_shortens(api: Api):
    pid = part_id(api)
    key = {"part_id": pid, "scope": "branch", "branch": "SZ01", "price_type": "4s"}
    current = await versions(api, **key)
    last = current["versions"][-1]
    url = f"/api/v1/prices/versions/{last['id']}/end"
    r = await post(api, url, {"valid_to": "2027-06-01"}, current["etag"])
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = await post(api, url, {"valid_to": "2027-06-01", "reason": "车型停产"}, None)
    assert r.status_code == 428
    r = await post(api, url, {"valid_to": "2027-06-01", "reason": "车型停产"}, current["etag"])
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "closed" and r.json()["version"]["valid_to"] == "2027-06-01"
    etag = r.json()["etag"]
    # never extended
    r = await post(api, url, {"valid_to": "2028-01-01", "reason": "x"}, etag)
    assert r.status_code == 409
    # its first day withdraws it
    r = await post(api, url, {"valid_to": "2027-01-01", "reason": "录入错误"}, etag)
    assert r.status_code == 200 and r.json()["action"] == "withdrawn"
    r = await post(api, "/api/v1/prices/versions/999999/end", {"valid_to": "2027-01-01",
                                                                "reason": "x"}, etag)  # fmt: skip
    assert r.status_code == 404
    actions = db_scalars(
        api,
        select(AuditEntry.action)
        .where(AuditEntry.entity == "prices", AuditEntry.entity_id == str(last["id"]))
        .order_by(AuditEntry.id),
    )
    assert actions == ["close", "withdraw"]


async def test_labor_rates_and_standard_hours(api: Api):
    params = {"branch": "SZ01", "labor_kind": "paint", "shop_tier": "4s", "vehicle_class": "B"}
    r = await api.client.get("/api/v1/labor-rates/versions", params=params, headers=api.h(STAFF))
    assert r.status_code == 200
    found = r.json()
    assert [v["rate"] for v in found["versions"]] == ["110.00"]
    body = {**params, "rate": "120.00", "valid_from": str(TODAY), "reason": "2026年工时费标准"}
    r = await post(api, "/api/v1/labor-rates/versions", body, found["etag"])
    assert r.status_code == 201 and r.json()["action"] == "superseded", r.text
    assert r.json()["version"]["rate"] == "120.00" and r.json()["version"]["branch"] == "SZ01"
    r = await post(api, "/api/v1/labor-rates/versions", {**body, "rate": "130"}, found["etag"])
    assert r.status_code == 412
    # what the read API says is in force now
    rates = await api.get("/api/v1/labor-rates?branch=SZ01&kind=paint&shop_tier=4s")
    assert rates.json()["items"][0]["standard_rate"] == "120.00"

    pid = part_id(api)
    hp = {"part_id": pid, "operation": "replace", "vehicle_class": "B"}
    r = await api.client.get("/api/v1/standard-hours/versions", params=hp, headers=api.h(STAFF))
    hours = r.json()
    assert [v["hours"] for v in hours["versions"]] == ["2.50"]
    body = {**hp, "labor_kind": "sheet_metal", "hours": "2.2", "valid_from": str(TODAY),
            "reason": "工时标准修订"}  # fmt: skip
    r = await post(api, "/api/v1/standard-hours/versions", body, hours["etag"])
    assert r.status_code == 201 and r.json()["version"]["hours"] == "2.20", r.text
    version_id = r.json()["version"]["id"]
    r = await post(
        api, f"/api/v1/standard-hours/versions/{version_id}/end",
        {"valid_to": str(TODAY + timedelta(days=30)), "reason": "临时标准"}, r.json()["etag"],
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["action"] == "closed"


async def test_channels_and_rate_cards(api: Api):
    body = {"code": "CH-PLAT", "name": "配件直供平台", "kind": "parts_platform",
            "branch": "SZ01", "reason": "合作协议登记"}  # fmt: skip
    r = await api.client.post("/api/v1/channels", json=body, headers=api.h(STAFF))
    assert r.status_code == 201 and r.json()["branch"] == "SZ01", r.text
    r = await api.client.post("/api/v1/channels", json=body, headers=api.h(STAFF))
    assert r.status_code == 409
    r = await api.client.post(
        "/api/v1/channels", json={**body, "code": "CH-2", "reason": ""}, headers=api.h(STAFF)
    )
    assert r.status_code == 422
    r = await api.client.get("/api/v1/channels", headers=api.h(STAFF))
    assert {c["code"] for c in r.json()} == {"CH-SHOP1", "CH-PLAT"}

    r = await api.client.get("/api/v1/channels/CH-SHOP1/rate-cards", headers=api.h(STAFF))
    cards = r.json()
    assert r.headers["etag"] == cards["etag"]
    (card,) = cards["versions"]
    assert card["labor"] == [{"labor_kind": "paint", "rate": None, "pct_of_standard": "90.00"}]
    assert card["parts"] == [{"category": "body", "price_type": "brand", "discount_pct": "12.50"}]
    new = {
        "valid_from": str(TODAY), "reason": "2027年协议",
        "labor": [{"labor_kind": "paint", "rate": "95.00"}],
        "parts": [{"category": "body", "price_type": "brand", "discount_pct": "15"}],
    }  # fmt: skip
    r = await post(api, "/api/v1/channels/CH-SHOP1/rate-cards", new, cards["etag"])
    assert r.status_code == 201 and r.json()["action"] == "superseded", r.text
    assert r.json()["version"]["labor"][0]["rate"] == "95.00"
    r = await post(api, "/api/v1/channels/CH-SHOP1/rate-cards", new, r.json()["etag"])
    assert r.status_code == 200 and r.json()["action"] == "unchanged"
    after = await api.client.get("/api/v1/channels/CH-SHOP1/rate-cards", headers=api.h(STAFF))
    assert [v["valid_to"] for v in after.json()["versions"]] == [str(TODAY), None]
    bad = {**new, "labor": [{"labor_kind": "paint", "rate": "1", "pct_of_standard": "90"}]}
    r = await post(api, "/api/v1/channels/CH-SHOP1/rate-cards", bad, after.json()["etag"])
    assert r.status_code == 422 and r.json()["field"] == "labor[0].rate"
    r = await post(api, "/api/v1/channels/NOPE/rate-cards", new, after.json()["etag"])
    assert r.status_code == 404
    first_id = after.json()["versions"][0]["id"]
    r = await post(api, f"/api/v1/channels/CH-PLAT/rate-cards/{first_id}/end",
                   {"valid_to": str(TODAY), "reason": "x"}, after.json()["etag"])  # fmt: skip
    assert r.status_code == 404  # that card is not CH-PLAT's


async def test_aliases_and_synonyms(api: Api):
    pid = part_id(api)
    url = f"/api/v1/parts/{pid}/aliases"
    r = await api.client.get(url, headers=api.h(STAFF))
    assert r.json()["aliases"] == ["左前叶", "左前叶子板"]
    etag = r.headers["etag"]
    versions_before = len(db_scalars(api, select(CatalogVersion.id)))
    r = await post(api, url, {"alias": "左前翼板", "reason": "定损员常用写法"}, etag)
    assert r.status_code == 201 and "左前翼板" in r.json()["aliases"], r.text
    assert len(db_scalars(api, select(CatalogVersion.id))) == versions_before + 1
    r = await post(api, url, {"alias": "左前翼板", "reason": "again"}, etag)
    assert r.status_code == 412
    new_etag = (await api.client.get(url, headers=api.h(STAFF))).headers["etag"]
    r = await api.client.delete(
        f"{url}/左前翼板", params={"reason": "误加"}, headers=api.h(STAFF, **{"If-Match": new_etag})
    )
    assert r.status_code == 200 and "左前翼板" not in r.json()["aliases"], r.text
    r = await api.client.delete(f"{url}/左前叶", headers=api.h(STAFF, **{"If-Match": new_etag}))
    assert r.status_code in (412, 422)

    r = await api.client.get("/api/v1/synonyms/翼子板", headers=api.h(STAFF))
    group = r.json()
    assert group["source"] == "shipped" and "叶子板" in group["terms"]
    r = await post(api, "/api/v1/synonyms/翼子板/terms", {"term": "翼子版", "reason": "错别字"},
                   group["etag"])  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "database" and r.json()["terms"][-1] == "翼子版"
    r = await post(api, "/api/v1/synonyms/翼子板/terms", {"term": "头盖", "reason": "x"},
                   r.json()["etag"])  # fmt: skip
    assert r.status_code == 409  # a term of another group
    etag = (await api.client.get("/api/v1/synonyms/翼子板", headers=api.h(STAFF))).headers["etag"]
    r = await api.client.delete(
        "/api/v1/synonyms/翼子板/terms/翼子版", params={"reason": "撤回"},
        headers=api.h(STAFF, **{"If-Match": etag}),
    )  # fmt: skip
    assert r.status_code == 200 and "翼子版" not in r.json()["terms"]
    entries = db_scalars(
        api, select(AuditEntry).where(AuditEntry.entity.in_(["part_aliases", "synonym_terms"]))
    )
    assert {
        (e.entity, e.action) for e in entries if e.reason in ("定损员常用写法", "误加", "撤回")
    } >= {("part_aliases", "create"), ("part_aliases", "delete"), ("synonym_terms", "delete")}


async def test_audit_log_filters_and_pages(api: Api):
    pid = part_id(api)
    body = {**gd01_key(pid), "amount": "1000.00", "valid_from": str(TODAY), "reason": "询价"}
    r = await post(api, "/api/v1/prices/versions", body, EMPTY_ETAG)
    assert r.status_code == 201
    r = await api.client.get("/api/v1/audit", params={"entity": "prices", "who": "test pricing_staff"},
                             headers=api.h(STAFF))  # fmt: skip
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1
    (entry,) = page["items"]
    assert entry["action"] == "create" and entry["reason"] == "询价"
    assert entry["after"]["amount"] == "1000.00" and entry["actor"].startswith("api-key:")
    # the catalogue import is audited too, by "test"
    r = await api.client.get("/api/v1/audit", params={"who": "test", "limit": 2},
                             headers=api.h(STAFF))  # fmt: skip
    assert r.json()["total"] > 2 and len(r.json()["items"]) == 2
    r2 = await api.client.get("/api/v1/audit", params={"who": "test", "limit": 2, "offset": 2},
                              headers=api.h(STAFF))  # fmt: skip
    assert {e["id"] for e in r.json()["items"]}.isdisjoint(e["id"] for e in r2.json()["items"])
    tomorrow = str(TODAY + timedelta(days=1))
    r = await api.client.get("/api/v1/audit", params={"from": tomorrow}, headers=api.h(STAFF))
    assert r.json()["total"] == 0
    r = await api.client.get("/api/v1/audit", params={"to": str(TODAY), "entity": "prices"},
                             headers=api.h(STAFF))  # fmt: skip
    assert r.json()["total"] >= 1
    r = await api.client.get("/api/v1/audit", headers=api.h("reviewer"))
    assert r.status_code == 403


# --- imports over HTTP ----------------------------------------------------------------------

PRICES_CSV = (
    "part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
    "VW1-0003,,GD01,4s,55.00,2026-01-01,\n"
    "VW1-0004,,GD01,4s,120.00,2026-01-01,\n"
)


async def upload(api: Api, kind: str, content: bytes, name: str, *, dry_run: bool,
                 reason: str = "批量更新", role: str = STAFF):  # fmt: skip
    return await api.client.post(
        f"/api/v1/imports/{kind}", params={"dry_run": str(dry_run).lower()},
        files={"file": (name, content)}, data={"reason": reason}, headers=api.h(role),
    )  # fmt: skip


async def test_import_preview_then_apply(api: Api):
    r = await upload(api, "prices", PRICES_CSV.encode(), "prices.csv", dry_run=True)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["dry_run"] is True and preview["rows"] == 2
    assert preview["created"] == 2 and preview["changed"] == 2
    assert db_scalars(api, select(Price.id).where(Price.source_ref == "prices.csv")) == []
    r = await upload(api, "prices", PRICES_CSV.encode(), "prices.csv", dry_run=False)
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    assert len(db_scalars(api, select(Price.id).where(Price.source_ref == "prices.csv"))) == 2
    # again: nothing changes
    r = await upload(api, "prices", PRICES_CSV.encode(), "prices.csv", dry_run=True)
    assert r.json()["unchanged"] == 2 and r.json()["changed"] == 0
    actors = db_scalars(
        api, select(AuditEntry.actor).where(AuditEntry.action == "import",
                                            AuditEntry.entity_id == "prices.csv")
    )  # fmt: skip
    assert len(actors) == 1 and actors[0].endswith(":test pricing_staff")


async def test_import_xlsx_and_errors(api: Api):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    rows = [line.split(",") for line in PRICES_CSV.strip().splitlines()]
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    r = await upload(api, "prices", buffer.getvalue(), "prices.xlsx", dry_run=True)
    assert r.status_code == 200 and r.json()["created"] == 2, r.text

    bad = PRICES_CSV + "NOPE,,GD01,4s,-1,2026-01-01,\n"
    r = await upload(api, "prices", bad.encode(), "bad.csv", dry_run=False)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    errors = r.json()["errors"]
    assert {(e["row"], e["field"]) for e in errors} >= {(4, "part_code"), (4, "amount_yuan")}
    assert db_scalars(api, select(Price.id).where(Price.source_ref == "bad.csv")) == []
    r = await upload(api, "prices", b"part_code,amount_yuan\nX,1\n", "cols.csv", dry_run=True)
    assert r.status_code == 422 and {e["row"] for e in r.json()["errors"]} == {1}
    r = await upload(api, "prices", PRICES_CSV.encode(), "p.csv", dry_run=False, reason="")
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = await upload(api, "nope", PRICES_CSV.encode(), "p.csv", dry_run=True)
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = await upload(api, "prices", PRICES_CSV.encode(), "p.txt", dry_run=True)
    assert r.status_code == 422 and r.json()["field"] == "file"
    r = await upload(api, "prices", PRICES_CSV.encode(), "p.csv", dry_run=True, role="reviewer")
    assert r.status_code == 403


async def test_import_larger_than_20_mb_is_413(api: Api):
    big = PRICES_CSV.encode() + b"#" * (21 * 1024 * 1024)
    r = await upload(api, "prices", big, "big.csv", dry_run=True)
    assert r.status_code == 413


# --- who may call what ----------------------------------------------------------------------

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
BELOW = {"reviewer": "estimate_tool", "pricing_staff": "reviewer", "admin": "pricing_staff"}


def write_routes() -> list[tuple[str, str, str]]:
    """(method, path, role needed) of every write endpoint under /api/v1, from the app."""
    from api.app import create_app
    from pricebook.settings import Settings

    app = create_app(Settings(database_url="sqlite:///:memory:"))
    found = []
    for route in app.routes:
        if not route.path.startswith("/api/v1"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods & WRITE_METHODS:
                guards = [g for layer in handler.ownership_layers for g in (layer.guards or [])]
                roles = [g.__name__.removeprefix("require_") for g in guards
                         if g.__name__.startswith("require_")]  # fmt: skip
                found.append((method, route.path, roles[-1] if roles else ""))
    return sorted(found)


ROUTES = write_routes()


def test_the_route_table_covers_the_write_api():
    paths = {(m, p) for m, p, _ in ROUTES}
    for expected in [
        ("POST", "/api/v1/prices/versions"),
        ("POST", "/api/v1/labor-rates/versions"),
        ("POST", "/api/v1/standard-hours/versions"),
        ("POST", "/api/v1/channels/{code:str}/rate-cards"),
        ("DELETE", "/api/v1/synonyms/{canonical:str}/terms/{term:str}"),
        ("POST", "/api/v1/feedback/{item_id:int}/accept"),
        ("POST", "/api/v1/imports/{kind:str}"),
    ]:
        assert expected in paths
    assert all(role for _, _, role in ROUTES)
    roles = {(m, p): r for m, p, r in ROUTES}
    assert roles[("POST", "/api/v1/feedback/{item_id:int}/accept")] == "pricing_staff"
    assert roles[("POST", "/api/v1/feedback")] == "reviewer"


def _concrete(path: str) -> str:
    import re

    return re.sub(r"\{(\w+):(int|str)\}", lambda m: "1" if m.group(2) == "int" else "x", path)


@pytest.mark.parametrize(("method", "path", "role"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_every_write_needs_a_key_and_the_role(api: Api, method, path, role):
    url = _concrete(path)
    r = await api.client.request(method, url, json={})
    assert r.status_code == 401, (method, url, r.text)
    assert r.headers["content-type"].startswith(PROBLEM)
    r = await api.client.request(method, url, json={}, headers={"X-API-Key": "pbk_nope"})
    assert r.status_code == 401
    if role in BELOW:
        r = await api.client.request(method, url, json={}, headers=api.h(BELOW[role]))
        assert r.status_code == 403, (method, url, r.text)


async def test_reviewer_cannot_write_prices(api: Api):
    pid = part_id(api)
    body = {**gd01_key(pid), "amount": "1.00", "valid_from": str(TODAY), "reason": "x"}
    r = await post(api, "/api/v1/prices/versions", body, EMPTY_ETAG, role="reviewer")
    assert r.status_code == 403
    r = await api.client.get(
        "/api/v1/prices/versions", params=gd01_key(pid), headers=api.h("reviewer")
    )
    assert r.status_code == 403
    count = db_scalars(
        api, select(func.count()).select_from(Price).where(Price.branch_id.is_not(None))
    )
    assert count == [2]


async def test_openapi_lists_feedback_indicators_audit_and_writes(api: Api):
    spec = (await api.client.get("/schema/openapi.json")).json()
    for path in ("/api/v1/feedback", "/api/v1/indicators", "/api/v1/audit",
                 "/api/v1/prices/versions", "/api/v1/imports/{kind}"):  # fmt: skip
        assert path in spec["paths"], path
        for operation in spec["paths"][path].values():
            assert operation["security"] == [{"ApiKey": []}]
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/feedback"])
    responses = spec["paths"]["/api/v1/prices/versions"]["post"]["responses"]
    assert {"412", "428", "422"} <= set(responses)
    assert {t["name"] for t in spec["tags"]} >= {"feedback", "indicators", "audit", "imports"}
