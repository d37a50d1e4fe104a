"""The write API: versioned edits with ETag/If-Match (428, 412), history never overwritten,
reasons required, every change audited; channels, rate cards, aliases, synonyms; the audit log;
imports over HTTP; who may call what."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from pricebook.models import AuditEntry, CatalogVersion, Price, VehicleModel
from pricebook.versioned import EMPTY_ETAG
from tests.api_client import Api, db_scalars, part_id_of
from tests.api_writes import PRICES_CSV, STAFF, gd01_key, post, upload

TODAY = date.today()
PROBLEM = "application/problem+json"


async def versions(api: Api, **params):
    r = await api.client.get("/api/v1/prices/versions", params=params, headers=api.h(STAFF))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == r.json()["etag"]
    return r.json()


async def test_create_then_supersede_a_localized_price(api: Api):
    pid = part_id_of(api)
    key = gd01_key(pid)
    empty = await versions(api, **key)
    assert empty["versions"] == [] and empty["etag"] == EMPTY_ETAG
    assert empty["key"] == {
        "part_id": pid,
        "model_id": None,
        "scope": "branch",
        "region": None,
        "branch": "GD01",
        "price_type": "4s",
    }
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
    pid = part_id_of(api)
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
    pid = part_id_of(api)
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
    pid = part_id_of(api)
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
    r = await post(
        api, "/api/v1/prices/versions/999999/end", {"valid_to": "2027-01-01", "reason": "x"}, etag
    )
    assert r.status_code == 404
    entries = db_scalars(
        api,
        select(AuditEntry)
        .where(AuditEntry.entity == "prices", AuditEntry.entity_id == str(last["id"]))
        .order_by(AuditEntry.id),
    )
    # each end records the validity it replaced, not the new one twice
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("close", {"valid_to": last["valid_to"]}, {"valid_to": "2027-06-01"}),
        ("withdraw", {"valid_to": "2027-06-01"}, {"valid_to": "2027-01-01"}),
    ]


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

    pid = part_id_of(api)
    hp = {"part_id": pid, "operation": "replace", "vehicle_class": "B"}
    r = await api.client.get("/api/v1/standard-hours/versions", params=hp, headers=api.h(STAFF))
    hours = r.json()
    assert [v["hours"] for v in hours["versions"]] == ["2.50"]
    body = {
        **hp,
        "labor_kind": "sheet_metal",
        "hours": "2.2",
        "valid_from": str(TODAY),
        "reason": "工时标准修订",
    }
    r = await post(api, "/api/v1/standard-hours/versions", body, hours["etag"])
    assert r.status_code == 201 and r.json()["version"]["hours"] == "2.20", r.text
    version_id = r.json()["version"]["id"]
    r = await post(
        api,
        f"/api/v1/standard-hours/versions/{version_id}/end",
        {"valid_to": str(TODAY + timedelta(days=30)), "reason": "临时标准"},
        r.json()["etag"],
    )
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
    assert {c["code"] for c in r.json()["items"]} == {"CH-SHOP1", "CH-PLAT"}

    r = await api.client.get("/api/v1/channels/CH-SHOP1/rate-cards", headers=api.h(STAFF))
    cards = r.json()
    assert r.headers["etag"] == cards["etag"]
    (card,) = cards["versions"]
    assert card["labor"] == [{"labor_kind": "paint", "rate": None, "pct_of_standard": "90.00"}]
    assert card["parts"] == [{"category": "body", "price_type": "brand", "discount_pct": "12.50"}]
    new = {
        "valid_from": str(TODAY),
        "reason": "2027年协议",
        "labor": [{"labor_kind": "paint", "rate": "95.00"}],
        "parts": [{"category": "body", "price_type": "brand", "discount_pct": "15"}],
    }
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
    r = await post(
        api,
        f"/api/v1/channels/CH-PLAT/rate-cards/{first_id}/end",
        {"valid_to": str(TODAY), "reason": "x"},
        after.json()["etag"],
    )
    assert r.status_code == 404  # that card is not CH-PLAT's


# --- superseding and ending a channel's rate card -------------------------------------------

CARDS = "/api/v1/channels/CH-SHOP1/rate-cards"
CARD_V2 = {
    "valid_from": "2031-01-01",
    "reason": "2031年合作协议",
    "labor": [{"labor_kind": "paint", "rate": "95.00"}],
    "parts": [
        {"category": "body", "price_type": "brand", "discount_pct": "15"},
        {"category": "lamp", "price_type": "brand", "discount_pct": "20"},
    ],
}


async def card_versions(api: Api, url: str = CARDS) -> dict:
    r = await api.client.get(url, headers=api.h(STAFF))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == r.json()["etag"]
    return r.json()


async def add_body_brand_price(api: Api) -> None:
    """A system brand price for VW1-0001 (body), the reference the card's body line discounts."""
    body = {
        "part_id": part_id_of(api),
        "scope": "system",
        "price_type": "brand",
        "amount": "800.00",
        "valid_from": "2025-01-01",
        "reason": "品牌件基准价",
    }
    r = await post(api, "/api/v1/prices/versions", body, EMPTY_ETAG)
    assert r.status_code == 201, r.text


def lavida_id(api: Api) -> int:
    (found,) = db_scalars(api, select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023"))
    return found


async def terms_on(api: Api, day: str) -> dict:
    """What a CH-SHOP1 shop (SZ01) gets on `day`: the paint labor rate (rate, card id or None)
    and, per part, the resolved price (layer, price type, amount)."""
    r = await api.get(
        "/api/v1/labor-rates", params={"channel": "CH-SHOP1", "kind": "paint", "date": day}
    )
    assert r.status_code == 200, r.text
    (paint,) = r.json()["items"]
    card = paint["channel"]
    out: dict = {"paint": (paint["rate"], card["rate_card_id"] if card else None)}
    lavida = lavida_id(api)
    for code in ("VW1-0001", "VW1-0002"):
        params = {
            "part_id": part_id_of(api, code),
            "model_id": lavida,
            "branch": "SZ01",
            "channel": "CH-SHOP1",
            "date": day,
        }
        r = await api.get("/api/v1/prices/resolve", params=params)
        assert r.status_code == 200, r.text
        out[code] = (r.json()["layer"], r.json()["price_type"], r.json()["amount"])
    return out


async def test_supersede_a_rate_card_from_a_future_date(api: Api):
    await add_body_brand_price(api)
    before = await card_versions(api)
    (v1,) = before["versions"]
    # the card in force: paint at 90% of SZ01's 110.00; body parts: brand 800.00 less 12.5%;
    # it has no lamp line, so VW1-0002 gets its region's brand price
    old_terms = {"paint": ("99.00", v1["id"]), "VW1-0001": ("channel", "brand", "700.00"),
                 "VW1-0002": ("region", "brand", "1500.50")}  # fmt: skip
    assert await terms_on(api, "2030-12-31") == old_terms

    r = await post(api, CARDS, CARD_V2, before["etag"])
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/json")
    written = r.json()
    assert written["action"] == "superseded" and r.headers["etag"] == written["etag"]
    v2 = written["version"]
    assert (v2["channel"], v2["valid_from"], v2["valid_to"]) == ("CH-SHOP1", "2031-01-01", None)
    assert v2["labor"] == [{"labor_kind": "paint", "rate": "95.00", "pct_of_standard": None}]
    assert v2["parts"] == [
        {"category": "body", "price_type": "brand", "discount_pct": "15.00"},
        {"category": "lamp", "price_type": "brand", "discount_pct": "20.00"},
    ]
    assert v2["created_by"].endswith(":test pricing_staff") and v2["reason"] == "2031年合作协议"
    after = await card_versions(api)
    assert after["etag"] == written["etag"] != before["etag"]
    assert [(v["id"], v["valid_from"], v["valid_to"]) for v in after["versions"]] == [
        (v1["id"], "2025-01-01", "2031-01-01"),  # closed, not rewritten: its lines are kept
        (v2["id"], "2031-01-01", None),
    ]
    assert after["versions"][0]["labor"] == v1["labor"]

    # the old card still applies the day before; the new one from its first day
    assert await terms_on(api, "2030-12-31") == old_terms
    assert await terms_on(api, "2031-01-01") == {
        "paint": ("95.00", v2["id"]),  # a fixed rate now, not 90% of the standard
        "VW1-0001": ("channel", "brand", "680.00"),  # 800.00 less 15%
        "VW1-0002": ("channel", "brand", "1200.40"),  # 1500.50 less 20%: the new lamp line
    }
    r = await api.get(
        "/api/v1/prices/resolve",
        params={
            "part_id": part_id_of(api, "VW1-0002"),
            "model_id": lavida_id(api),
            "channel": "CH-SHOP1",
            "date": "2031-03-01",
        },
    )
    assert r.status_code == 200, r.text
    winner = r.json()["winner"]
    assert (winner["base_amount"], winner["discount_pct"], winner["valid_from"]) == (
        "1500.50",
        "20.00",
        "2031-01-01",
    )

    # the same card again changes nothing
    r = await post(api, CARDS, CARD_V2, after["etag"])
    assert r.status_code == 200 and r.json()["action"] == "unchanged"
    assert r.json()["version"]["id"] == v2["id"] and r.json()["etag"] == after["etag"]

    # audited: the old card closed and the new one opened, by the key, with the reason
    r = await api.client.get(
        "/api/v1/audit",
        params={"entity": "rate_cards", "who": "test pricing_staff"},
        headers=api.h(STAFF),
    )
    assert r.status_code == 200, r.text
    entries = sorted(r.json()["items"], key=lambda e: e["id"])
    assert [(e["action"], e["entity_id"]) for e in entries] == [
        ("close", str(v1["id"])), ("supersede", str(v2["id"])),
    ]  # fmt: skip
    close, supersede = entries
    assert all(e["actor"].endswith(":test pricing_staff") for e in entries)
    assert all(e["reason"] == "2031年合作协议" for e in entries)
    assert close["before"] == {"valid_to": None} and close["after"] == {"valid_to": "2031-01-01"}
    assert supersede["before"]["labor"] == [
        {"labor_kind": "paint", "rate": None, "pct_of_standard": "90.00"}
    ]
    assert supersede["before"]["parts"] == [
        {"category": "body", "price_type": "brand", "discount_pct": "12.50"}
    ]
    assert supersede["after"]["channel"] == "CH-SHOP1"
    assert supersede["after"]["valid_from"] == "2031-01-01"
    assert supersede["after"]["labor"] == v2["labor"]
    assert supersede["after"]["parts"] == v2["parts"]


async def test_end_and_withdraw_a_rate_card(api: Api):
    await add_body_brand_price(api)
    r = await post(api, CARDS, CARD_V2, (await card_versions(api))["etag"])
    assert r.status_code == 201, r.text
    v2, etag = r.json()["version"], r.json()["etag"]
    end = f"{CARDS}/{v2['id']}/end"

    # the agreement ends early: the card stops applying on 2031-07-01
    r = await post(api, end, {"valid_to": "2031-07-01", "reason": "协议提前终止"}, etag)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "closed" and r.json()["version"]["valid_to"] == "2031-07-01"
    assert r.headers["etag"] == r.json()["etag"] != etag
    etag = r.json()["etag"]
    assert (await terms_on(api, "2031-06-30"))["paint"] == ("95.00", v2["id"])
    # from its end the shop gets what any SZ01 shop gets: the standard rate, the 4s price
    assert await terms_on(api, "2031-07-01") == {
        "paint": ("110.00", None),
        "VW1-0001": ("branch", "4s", "1010.00"),
        "VW1-0002": ("region", "brand", "1500.50"),
    }
    r = await api.get("/api/v1/labor-rates", params={"channel": "CH-SHOP1", "date": "2031-07-01"})
    assert r.json()["items"][0]["why"] == "branch SZ01 standard rate"

    # the same end again changes nothing; a card is never extended; nor ended before it starts
    r = await post(api, end, {"valid_to": "2031-07-01", "reason": "重复提交"}, etag)
    assert r.status_code == 200 and r.json()["action"] == "unchanged"
    for day in ("2031-08-01", "2030-12-31"):
        r = await post(api, end, {"valid_to": day, "reason": "x"}, etag)
        assert r.status_code == 409 and r.json()["field"] == "valid_to", r.text
        assert r.headers["content-type"].startswith(PROBLEM)

    # a card registered by mistake is withdrawn: ended on its first day, it never applied
    v3_body = {
        **CARD_V2,
        "valid_from": "2032-01-01",
        "reason": "2032年协议",
        "labor": [{"labor_kind": "paint", "pct_of_standard": "80"}],
    }
    r = await post(api, CARDS, v3_body, etag)
    assert r.status_code == 201 and r.json()["action"] == "created", r.text
    v3 = r.json()["version"]
    assert (await terms_on(api, "2032-01-01"))["paint"] == ("88.00", v3["id"])  # 80% of 110.00
    r = await post(
        api,
        f"{CARDS}/{v3['id']}/end",
        {"valid_to": "2032-01-01", "reason": "录入错误"},
        r.json()["etag"],
    )
    assert r.status_code == 200 and r.json()["action"] == "withdrawn", r.text
    assert (await terms_on(api, "2032-01-01"))["paint"] == ("110.00", None)
    history = await card_versions(api)
    assert [(v["valid_from"], v["valid_to"]) for v in history["versions"]] == [
        ("2025-01-01", "2031-01-01"), ("2031-01-01", "2031-07-01"),
        ("2032-01-01", "2032-01-01"),
    ]  # fmt: skip

    entries = db_scalars(
        api, select(AuditEntry).where(AuditEntry.entity == "rate_cards").order_by(AuditEntry.id)
    )
    ends = [
        (e.action, e.entity_id, e.after, e.reason)
        for e in entries
        if e.actor.endswith(":test pricing_staff")
        and e.action in ("close", "withdraw")
        and e.entity_id in (str(v2["id"]), str(v3["id"]))
    ]
    assert ends == [
        ("close", str(v2["id"]), {"valid_to": "2031-07-01"}, "协议提前终止"),
        ("withdraw", str(v3["id"]), {"valid_to": "2032-01-01"}, "录入错误"),
    ]


async def test_rate_card_edits_need_the_current_etag_and_the_role(api: Api):
    before = await card_versions(api)
    (v1,) = before["versions"]
    end = f"{CARDS}/{v1['id']}/end"
    r = await post(api, CARDS, CARD_V2, None)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = await post(api, end, {"valid_to": "2030-01-01", "reason": "x"}, None)
    assert r.status_code == 428

    # reviewers may not touch a card (nor read its versions)
    r = await post(api, CARDS, CARD_V2, before["etag"], role="reviewer")
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    r = await post(
        api, end, {"valid_to": "2030-01-01", "reason": "x"}, before["etag"], role="reviewer"
    )
    assert r.status_code == 403
    r = await api.client.get(CARDS, headers=api.h("reviewer"))
    assert r.status_code == 403
    assert (await card_versions(api))["etag"] == before["etag"]  # nothing written

    # someone else ends the card: an edit from the old ETag is 412, and so is an end
    r = await post(api, end, {"valid_to": "2030-01-01", "reason": "合作暂停"}, before["etag"])
    assert r.status_code == 200 and r.json()["action"] == "closed", r.text
    r = await post(api, CARDS, CARD_V2, before["etag"])
    assert r.status_code == 412 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["status"] == 412 and r.json()["field"] == "etag"
    r = await post(api, end, {"valid_to": "2029-01-01", "reason": "x"}, before["etag"])
    assert r.status_code == 412 and r.json()["field"] == "etag"
    history = await card_versions(api)
    assert [(v["valid_from"], v["valid_to"]) for v in history["versions"]] == [
        ("2025-01-01", "2030-01-01")
    ]
    # reloaded, the edit goes through: a new card from the day after the gap
    r = await post(api, CARDS, CARD_V2, history["etag"])
    assert r.status_code == 201 and r.json()["action"] == "created", r.text

    # a card of another channel, an unknown card or channel: 404 naming the field
    other = {"code": "CH-PLAT", "name": "配件直供平台", "kind": "parts_platform",
             "reason": "合作协议登记"}  # fmt: skip
    r = await api.client.post("/api/v1/channels", json=other, headers=api.h(STAFF))
    assert r.status_code == 201, r.text
    plat = await card_versions(api, "/api/v1/channels/CH-PLAT/rate-cards")
    r = await post(
        api,
        f"/api/v1/channels/CH-PLAT/rate-cards/{v1['id']}/end",
        {"valid_to": "2029-01-01", "reason": "x"},
        plat["etag"],
    )
    assert r.status_code == 404 and r.json()["field"] == "version_id"
    r = await post(
        api, f"{CARDS}/999999/end", {"valid_to": "2029-01-01", "reason": "x"}, plat["etag"]
    )
    assert r.status_code == 404 and r.json()["field"] == "version_id"
    r = await post(api, "/api/v1/channels/NOPE/rate-cards", CARD_V2, plat["etag"])
    assert r.status_code == 404 and r.json()["field"] == "code"


async def test_bad_rate_cards_are_422_naming_the_field(api: Api):
    before = await card_versions(api)
    (v1,) = before["versions"]
    labor0 = CARD_V2["labor"][0]
    parts0 = CARD_V2["parts"][0]
    cases = [
        ({"reason": "  "}, "reason"),
        ({"labor": [], "parts": []}, "labor"),
        ({"labor": [{**labor0, "labor_kind": "welding"}]}, "labor[0].labor_kind"),
        ({"labor": [{**labor0, "pct_of_standard": "90"}]}, "labor[0].rate"),
        ({"labor": [{**labor0, "rate": "0"}]}, "labor[0].rate"),
        ({"labor": [{"labor_kind": "paint", "pct_of_standard": "90.001"}]},
         "labor[0].pct_of_standard"),
        ({"labor": [labor0, {**labor0, "rate": "96.00"}]}, "labor[1]"),
        ({"parts": [{**parts0, "discount_pct": "100"}]}, "parts[0].discount_pct"),
        ({"parts": [{**parts0, "discount_pct": "-5"}]}, "parts[0].discount_pct"),
        ({"parts": [{**parts0, "category": "glass"}]}, "parts[0].category"),
        ({"parts": [parts0, {**parts0, "price_type": "oem"}]}, "parts[1].price_type"),
    ]  # fmt: skip
    for change, field in cases:
        r = await post(api, CARDS, {**CARD_V2, **change}, before["etag"])
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["field"] == field, (change, r.json())
    # a date that is no date: the schema names it
    r = await post(api, CARDS, {**CARD_V2, "valid_from": "2031-13-01"}, before["etag"])
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "valid_from", r.text
    # a new card may not start before the card in force and run over it: that is a conflict
    # with the stored history (409 naming valid_to), as for every versioned key
    r = await post(api, CARDS, {**CARD_V2, "valid_from": "2024-06-01"}, before["etag"])
    assert r.status_code == 409 and r.json()["field"] == "valid_to", r.text
    r = await post(api, CARDS, {**CARD_V2, "valid_to": "2030-01-01"}, before["etag"])
    assert r.status_code == 409 and r.json()["field"] == "valid_to", r.text
    r = await post(api, f"{CARDS}/{v1['id']}/end", {"valid_to": "2030-01-01"}, before["etag"])
    assert r.status_code == 422 and r.json()["field"] == "reason"
    after = await card_versions(api)
    assert after["etag"] == before["etag"] and after["versions"] == before["versions"]


async def test_aliases_and_synonyms(api: Api):
    pid = part_id_of(api)
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
    r = await post(
        api, "/api/v1/synonyms/翼子板/terms", {"term": "翼子版", "reason": "错别字"}, group["etag"]
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "database" and r.json()["terms"][-1] == "翼子版"
    r = await post(
        api, "/api/v1/synonyms/翼子板/terms", {"term": "头盖", "reason": "x"}, r.json()["etag"]
    )
    assert r.status_code == 409  # a term of another group
    etag = (await api.client.get("/api/v1/synonyms/翼子板", headers=api.h(STAFF))).headers["etag"]
    r = await api.client.delete(
        "/api/v1/synonyms/翼子板/terms/翼子版",
        params={"reason": "撤回"},
        headers=api.h(STAFF, **{"If-Match": etag}),
    )
    assert r.status_code == 200 and "翼子版" not in r.json()["terms"]
    entries = db_scalars(
        api, select(AuditEntry).where(AuditEntry.entity.in_(["part_aliases", "synonym_terms"]))
    )
    assert {
        (e.entity, e.action) for e in entries if e.reason in ("定损员常用写法", "误加", "撤回")
    } >= {("part_aliases", "create"), ("part_aliases", "delete"), ("synonym_terms", "delete")}


async def test_audit_log_filters_and_pages(api: Api):
    pid = part_id_of(api)
    body = {**gd01_key(pid), "amount": "1000.00", "valid_from": str(TODAY), "reason": "询价"}
    r = await post(api, "/api/v1/prices/versions", body, EMPTY_ETAG)
    assert r.status_code == 201
    r = await api.client.get(
        "/api/v1/audit",
        params={"entity": "prices", "who": "test pricing_staff"},
        headers=api.h(STAFF),
    )
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1
    (entry,) = page["items"]
    assert entry["action"] == "create" and entry["reason"] == "询价"
    assert entry["after"]["amount"] == "1000.00" and entry["actor"].startswith("api-key:")
    # the catalogue import is audited too, by "test"
    r = await api.client.get(
        "/api/v1/audit", params={"who": "test", "limit": 2}, headers=api.h(STAFF)
    )
    assert r.json()["total"] > 2 and len(r.json()["items"]) == 2
    r2 = await api.client.get(
        "/api/v1/audit", params={"who": "test", "limit": 2, "offset": 2}, headers=api.h(STAFF)
    )
    assert {e["id"] for e in r.json()["items"]}.isdisjoint(e["id"] for e in r2.json()["items"])
    tomorrow = str(TODAY + timedelta(days=1))
    r = await api.client.get("/api/v1/audit", params={"from": tomorrow}, headers=api.h(STAFF))
    assert r.json()["total"] == 0
    r = await api.client.get(
        "/api/v1/audit", params={"to": str(TODAY), "entity": "prices"}, headers=api.h(STAFF)
    )
    assert r.json()["total"] >= 1
    r = await api.client.get("/api/v1/audit", headers=api.h("reviewer"))
    assert r.status_code == 403


# --- imports over HTTP ----------------------------------------------------------------------


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
        api,
        select(AuditEntry.actor).where(
            AuditEntry.action == "import", AuditEntry.entity_id == "prices.csv"
        ),
    )
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
    # what Excel on a Chinese Windows saves as "CSV": GBK, with which format to pick instead
    r = await upload(api, "prices", (PRICES_CSV + "后视镜\n").encode("gbk"), "g.csv", dry_run=True)
    assert r.status_code == 422 and r.json()["field"] == "file"
    assert r.json()["detail"] == (
        "g.csv is not UTF-8 text: save it as CSV UTF-8 or upload the XLSX file"
    ), r.text
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
                roles = [
                    g.__name__.removeprefix("require_")
                    for g in guards
                    if g.__name__.startswith("require_")
                ]
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
        ("POST", "/api/v1/channels/{code:str}/rate-cards/{version_id:int}/end"),
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
    pid = part_id_of(api)
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
    for path in (
        "/api/v1/feedback",
        "/api/v1/indicators",
        "/api/v1/audit",
        "/api/v1/prices/versions",
        "/api/v1/imports/{kind}",
    ):
        assert path in spec["paths"], path
        for operation in spec["paths"][path].values():
            assert operation["security"] == [{"ApiKey": []}]
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/feedback"])
    responses = spec["paths"]["/api/v1/prices/versions"]["post"]["responses"]
    assert {"412", "428", "422"} <= set(responses)
    assert {t["name"] for t in spec["tags"]} >= {"feedback", "indicators", "audit", "imports"}
