"""The staff web UI over HTTP: login, CSRF, role checks, escaping, part pages, price edits,
imports. Browser tests are in test_browser.py."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pricebook import estimates, feedback, keys, review_config
from pricebook.db import make_engine, transaction
from pricebook.models import (
    AuditEntry,
    Branch,
    MarketObservation,
    Part,
    Price,
    PriceType,
    VehicleModel,
)
from tests.api_client import part_id_of
from tests.indicator_rows import add_validation, catalog_ids
from tests.market_data import add_unmatched_listings
from tests.ui_client import ENGLISH, SEEN_FIELD, Ui

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


# --- login, sessions, CSRF ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/parts", "/parts/1", "/feedback", "/feedback/new", "/indicators", "/import"]
)
async def test_pages_redirect_to_login_without_a_session(ui: Ui, path: str) -> None:
    r = await ui.client.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


async def test_htmx_requests_without_a_session_get_hx_redirect(ui: Ui) -> None:
    r = await ui.client.get("/parts/search?q=翼子板", headers={"HX-Request": "true"})
    assert r.status_code == 401
    assert r.headers["hx-redirect"].startswith("/login")


async def test_login_page_is_chinese_and_sets_csrf_cookie(ui: Ui) -> None:
    r = await ui.client.get("/login")
    assert r.status_code == 200
    assert "API 密钥" in r.text and "登录" in r.text
    assert "pricebook_csrf" in r.cookies


async def test_login_sets_an_httponly_lax_session_cookie_without_the_key(ui: Ui) -> None:
    token = await ui.token()
    r = await ui.client.post(
        "/login", data={"api_key": ui.keys["reviewer"], "next": "/parts", "_csrf_token": token}
    )
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("pricebook_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie or "samesite=lax" in cookie.lower()
    assert ui.keys["reviewer"] not in cookie
    page = await ui.client.get("/parts")
    assert page.status_code == 200
    assert "配件查询" in page.text and "核损人员" in page.text


async def test_bad_key_and_estimate_tool_key_cannot_log_in(ui: Ui) -> None:
    token = await ui.token()
    r = await ui.client.post("/login", data={"api_key": "pbk_nope", "_csrf_token": token})
    assert r.status_code == 401
    assert "无效" in r.text
    r = await ui.client.post(
        "/login", data={"api_key": ui.keys["estimate_tool"], "_csrf_token": token}
    )
    assert r.status_code == 401
    assert (await ui.client.get("/parts")).status_code == 303


async def test_login_never_redirects_off_site(ui: Ui) -> None:
    token = await ui.token()
    r = await ui.client.post(
        "/login",
        data={"api_key": ui.keys["reviewer"], "next": "//evil.example/x", "_csrf_token": token},
    )
    assert r.headers["location"] == "/"


async def test_form_post_without_csrf_token_is_refused(ui: Ui) -> None:
    await ui.client.get("/login")  # has the CSRF cookie, but sends no token
    r = await ui.client.post("/login", data={"api_key": ui.keys["admin"]})
    assert r.status_code == 403
    assert "CSRF" in r.text
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    r = await ui.client.post(
        f"/parts/{part_id}/prices",
        data={
            "target": "branch:SZ01",
            "price_type": "4s",
            "amount": "1.00",
            "valid_from": date.today().isoformat(),
            "reason": "csrf",
        },
    )
    assert r.status_code == 403
    r = await ui.client.post("/logout")
    assert r.status_code == 403


async def test_form_post_with_a_forged_token_is_refused(ui: Ui) -> None:
    await ui.client.get("/login")
    r = await ui.client.post("/login", data={"api_key": ui.keys["admin"], "_csrf_token": "a" * 128})
    assert r.status_code == 403


async def test_htmx_header_token_is_accepted(ui: Ui) -> None:
    await ui.login("reviewer")
    page = await ui.client.get("/parts")
    token = re.search(r'hx-headers=\'\{"x-csrftoken": "([^"]+)"\}\'', page.text)
    assert token
    r = await ui.client.post("/logout", headers={"x-csrftoken": token.group(1)})
    assert r.status_code == 303
    assert (await ui.client.get("/parts")).status_code == 303


async def test_logout_ends_the_session(ui: Ui) -> None:
    await ui.login("reviewer")
    r = await ui.post("/logout", {})
    assert r.status_code == 303
    assert (await ui.client.get("/parts")).status_code == 303


async def test_revoked_key_ends_its_session(ui: Ui) -> None:
    await ui.login("reviewer")
    assert (await ui.client.get("/parts")).status_code == 200
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            info = keys.authenticate(session, ui.keys["reviewer"])
            assert info is not None
            keys.revoke_key(session, info.id, actor="test")
    finally:
        engine.dispose()
    assert (await ui.client.get("/parts")).status_code == 303


async def test_json_api_keeps_its_key_auth_and_needs_no_csrf(ui: Ui) -> None:
    assert (await ui.client.get("/api/v1/parts")).status_code == 401
    r = await ui.client.post(
        "/api/v1/prices/resolve",
        json={"items": [{"oe": "5G0 821 105 A"}]},
        headers={"X-API-Key": ui.keys["estimate_tool"]},
    )
    assert r.status_code == 200
    assert (await ui.client.get("/schema/openapi.json")).status_code == 200


# --- pages ----------------------------------------------------------------------------------


async def test_search_page_and_htmx_fragment(ui: Ui) -> None:
    await ui.login("reviewer")
    r = await ui.client.get("/parts", params={"q": "叶子板"})
    assert r.status_code == 200
    assert "左前翼子板" in r.text and "<html" in r.text
    fragment = await ui.client.get(
        "/parts/search", params={"q": "5G0821105A"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "左前翼子板" in fragment.text and "<html" not in fragment.text
    assert "原厂编号" in fragment.text
    partial = await ui.client.get("/parts", params={"q": "5G0 805"})  # of 5G0 805 071
    assert "大灯支架（左）" in partial.text


async def test_search_results_tell_parts_apart_and_filter(ui: Ui) -> None:
    await ui.login("reviewer")
    page = (await ui.client.get("/parts", params={"q": "翼子板"})).text
    row = re.search(r'<tr data-part="VW1-0001">(.*?)</tr>', page, re.S)
    assert row, page[-2000:]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    # code, name, category, position, OE, vehicles, national reference price (4S, today)
    assert cells[4] == "5G0 821 105 A" and cells[5] == "大众 朗逸" and cells[6] == "1050.00"
    assert "参考价（全国 · 4S店价）" in page
    # filters alone search: a category, a brand (universal parts stay)
    lamps = (await ui.client.get("/parts", params={"category": "lamp"})).text
    assert "共 3 个配件" in lamps and 'data-part="VW1-0001"' not in lamps
    other = (await ui.client.get("/parts", params={"q": "大灯", "brand": "NOPE"})).text
    assert "没有找到匹配的配件" in other
    fragment = await ui.client.get(
        "/parts/search",
        params={"q": "大灯", "brand": "VW", "category": "lamp"},
        headers={"HX-Request": "true"},
    )
    # only the assembly is fitted to a VW model in the test catalogue (its components are not)
    assert "共 1 个配件" in fragment.text and "<html" not in fragment.text
    assert 'data-part="VW1-0002"' in fragment.text


async def test_part_page_shows_catalogue_prices_and_chart(ui: Ui) -> None:
    await ui.login("reviewer")
    part_id = part_id_of(ui.settings, "VW1-0002")
    r = await ui.client.get(f"/parts/{part_id}")
    assert r.status_code == 200
    page = r.text
    for text in (
        "前大灯总成（左）",
        "左大灯",
        "大灯灯泡",
        "大灯支架（左）",
        "朗逸",
        "5G1 941 005 A",
        "现行价格",
        "本地化价格",
        "价格历史",
        'id="history-chart"',
    ):
        assert text in page, text
    assert "修改本地化价格" not in page  # reviewers do not edit prices


async def test_part_page_chart_overlays_the_parts_market_observations(ui: Ui) -> None:
    part_id = part_id_of(ui.settings, "VW1-0002")
    seen = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            t4s = session.scalar(select(PriceType.id).where(PriceType.code == "4s"))
            for status, amount_fen, part in (
                ("matched", 123450, part_id),
                ("unmatched", 99900, None),
            ):
                session.add(
                    MarketObservation(
                        source="shop-a",
                        item_key=f"k{amount_fen}",
                        url="http://127.0.0.1/x",
                        fetched_at=seen,
                        first_seen=seen,
                        last_seen=seen + timedelta(days=3),
                        raw_name="前大灯总成 左",
                        raw_price="1234.50",
                        part_id=part,
                        suggested_part_id=part_id if part is None else None,
                        price_type_id=t4s,
                        amount_fen=amount_fen,
                        status=status,
                    )
                )
    finally:
        engine.dispose()
    await ui.login("reviewer")
    page = (await ui.client.get(f"/parts/{part_id}")).text
    assert "市场观测 shop-a：1234.50 元（2026-03-02 至 2026-03-05）" in page
    assert "999.00" not in page  # an unmatched listing is not this part's evidence
    assert "等待" not in page
    # filtered to another price type, the dot goes
    other = await ui.client.get(f"/parts/{part_id}?price_type=brand")
    assert other.status_code == 200 and 'id="history-chart"' in other.text
    assert "市场观测 shop-a" not in other.text


async def test_a_browser_never_gets_raw_json_from_a_ui_address(ui: Ui) -> None:
    """Reloading the address a failed form post left (GET on a POST-only path) and unknown
    pages answer the UI's Chinese error page; the API's paths keep problem+json."""
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    await ui.login("pricing_staff")
    for path, status, text in (
        ("/parts/1/prices", 405, "只接受表单提交"),
        ("/feedback/1/accept", 405, "只接受表单提交"),
        ("/no-such-page", 404, "页面或记录不存在"),
    ):
        r = await ui.client.get(path, headers=html)
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), path
        assert text in r.text and '"status"' not in r.text, path
    assert "POST" in (await ui.client.get("/parts/1/prices", headers=html)).headers["allow"]
    api = await ui.client.get("/api/v1/no-such-thing", headers=html)
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    plain = await ui.client.get("/no-such-page")  # no HTML asked for: problem+json
    assert plain.headers["content-type"] == "application/problem+json"


async def test_part_page_of_an_unknown_part_is_404_html(ui: Ui) -> None:
    await ui.login("reviewer")
    r = await ui.client.get("/parts/999999")
    assert r.status_code == 404
    assert "未找到" in r.text


async def test_script_in_a_part_name_is_escaped(ui: Ui) -> None:
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            from pricebook.io import import_rows

            import_rows(
                session,
                "parts",
                [
                    {
                        "part_code": "XSS-1",
                        "name": "<script>alert('x')</script>保险杠",
                        "aliases": "<img src=x onerror=alert(1)>",
                        "category": "body",
                        "oe_number": "",
                    }
                ],
                actor="test",
                reason="test import",
            )
            part_id = session.scalars(select(Part.id).where(Part.code == "XSS-1")).one()
    finally:
        engine.dispose()
    await ui.login("reviewer")
    for r in (
        await ui.client.get("/parts", params={"q": "保险杠"}),
        await ui.client.get("/parts/search", params={"q": "保险杠"}, headers={"HX-Request": "1"}),
        await ui.client.get(f"/parts/{part_id}"),
    ):
        assert r.status_code == 200
        assert "<script>alert" not in r.text
        assert "&lt;script&gt;alert(" in r.text
        assert "<img src=x" not in r.text


# --- price edits ----------------------------------------------------------------------------


async def test_reviewer_cannot_edit_prices(ui: Ui) -> None:
    await ui.login("reviewer")
    part_id = part_id_of(ui.settings, "VW1-0001")
    r = await ui.post(
        f"/parts/{part_id}/prices",
        {
            "target": "branch:SZ01",
            "price_type": "4s",
            "amount": "1.00",
            "valid_from": date.today().isoformat(),
            "reason": "x",
        },
    )
    assert r.status_code == 403
    assert "没有权限" in r.text


async def test_staff_edit_supersedes_and_audits(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    today = date.today()
    r = await ui.post(
        f"/parts/{part_id}/prices",
        {
            "target": "branch:GD01",
            "price_type": "4s",
            "amount": "1234.50",
            "valid_from": today.isoformat(),
            "reason": "三家4S店询价",
            "seen": await ui.seen(part_id),
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/parts/{part_id}?saved=")
    page = (await ui.client.get(r.headers["location"])).text
    assert "新价格已保存" in page
    assert "1234.50" in page and "三家4S店询价" in page
    assert "<td>test pricing_staff</td>" in page and "api-key:" not in page  # the key's name
    # a second edit supersedes it from tomorrow
    r = await ui.post(
        f"/parts/{part_id}/prices",
        {
            "target": "branch:GD01",
            "price_type": "4s",
            "amount": "1200",
            "valid_from": (today + timedelta(days=1)).isoformat(),
            "reason": "下调",
            "seen": await ui.seen(part_id),
        },
    )
    assert r.status_code == 303, r.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            rows = session.scalars(
                select(Price)
                .where(Price.part_id == part_id, Price.scope == "branch", Price.source == "staff")
                .order_by(Price.valid_from)
            ).all()
            assert [(r.amount_fen, r.valid_to) for r in rows] == [
                (123450, today + timedelta(days=1)),
                (120000, None),
            ]
            assert rows[0].created_by.startswith("api-key:")
            actions = session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == "prices")
                .order_by(AuditEntry.id)
            ).all()
            assert actions[-3:] == ["create", "close", "supersede"]
    finally:
        engine.dispose()


async def test_staff_edit_errors_are_shown(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    base = {
        "target": "branch:GD01",
        "price_type": "4s",
        "valid_from": date.today().isoformat(),
        "seen": await ui.seen(part_id),
    }
    r = await ui.post(f"/parts/{part_id}/prices", {**base, "amount": "12.345", "reason": "x"})
    assert r.status_code == 422 and "未保存" in r.text
    r = await ui.post(f"/parts/{part_id}/prices", {**base, "amount": "12", "reason": " "})
    assert r.status_code == 422
    r = await ui.post(
        f"/parts/{part_id}/prices", {**base, "amount": "12", "reason": "x", "etag": '"stale"'}
    )
    assert r.status_code == 412
    assert "已被他人修改" in r.text


EDIT_ERROR = re.compile(r'id="edit-error">([^<]*)<')


async def test_price_edit_errors_are_in_chinese(ui: Ui) -> None:
    """Each error a staff member can get from the price form reads in Chinese (the core's
    messages are English, for API clients)."""
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    today = date.today()
    base = {
        "target": "branch:SZ01",
        "price_type": "4s",
        "amount": "12",
        "reason": "核价",
        "valid_from": today.isoformat(),
    }
    tries = {
        "reason": {"reason": " "},
        "stale": {"etag": '"stale"'},
        "valid_to before valid_from": {"valid_to": (today - timedelta(days=1)).isoformat()},
        "overlaps the next version": {"valid_from": "2026-12-01", "valid_to": "2027-06-01"},
        "amount": {"amount": "1e3"},
    }
    for what, change in tries.items():
        r = await ui.post(
            f"/parts/{part_id}/prices", {**base, "seen": await ui.seen(part_id), **change}
        )
        assert r.status_code in {412, 409, 422}, (what, r.status_code)
        shown = EDIT_ERROR.search(r.text)
        assert shown, what
        assert not ENGLISH.search(shown.group(1)), (what, shown.group(1))


async def test_two_tabs_on_the_bottom_form_cannot_lose_an_update(ui: Ui) -> None:
    """Two tabs open the part page; each saves the same key from the form at the bottom (no
    edit link, so no per-key ETag). The second save is refused (412), whether the key had
    versions (SZ01 4S) or not (GD01 品牌件, whose first version the first tab creates)."""
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    tab1, tab2 = await ui.seen(part_id), await ui.seen(part_id)
    day = (date.today() + timedelta(days=2)).isoformat()
    for target, price_type, until in (
        ("branch:GD01", "brand", ""),
        ("branch:SZ01", "4s", "2027-01-01"),
    ):
        form = {
            "target": target,
            "price_type": price_type,
            "valid_from": day,
            "valid_to": until,
            "reason": "两个标签页",
        }
        first = await ui.post(f"/parts/{part_id}/prices", {**form, "amount": "501", "seen": tab1})
        assert first.status_code == 303, first.text
        second = await ui.post(f"/parts/{part_id}/prices", {**form, "amount": "502", "seen": tab2})
        assert second.status_code == 412, (target, second.status_code)
        assert "未保存" in second.text
        # the refusal shows the page as it is now: saving again from it works
        fresh = SEEN_FIELD.search(second.text).group(1)
        again = await ui.post(f"/parts/{part_id}/prices", {**form, "amount": "503", "seen": fresh})
        assert again.status_code == 303, again.text
        tab1 = tab2 = await ui.seen(part_id)
    # a post that carries no record of what it saw saves nothing
    blind = await ui.post(f"/parts/{part_id}/prices", {**form, "amount": "504"})
    assert blind.status_code == 422 and "刷新页面" in blind.text


async def test_stale_edit_from_the_edit_link_gets_412(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    page = (await ui.client.get(f"/parts/{part_id}")).text
    link = re.search(r'href="(/parts/\d+\?target=branch%3ASZ01[^"]*)#edit"', page)
    assert link, "an edit link for the SZ01 price"
    edit = (await ui.client.get(link.group(1).replace("&amp;", "&"))).text
    etag = re.search(r'name="etag" value="([^"]*)"', edit).group(1)
    assert etag
    etag = etag.replace("&#34;", '"').replace("&quot;", '"')
    day = date.today() + timedelta(days=3)
    # the SZ01 price has a next version from 2027-01-01: end the new one there
    until = "2027-01-01" if day < date(2027, 1, 1) else ""
    form = {
        "target": "branch:SZ01",
        "price_type": "4s",
        "valid_from": day.isoformat(),
        "valid_to": until,
        "reason": "第一次",
    }
    first = await ui.post(f"/parts/{part_id}/prices", {**form, "amount": "999", "etag": etag})
    assert first.status_code == 303, first.text
    second = await ui.post(f"/parts/{part_id}/prices", {**form, "amount": "998", "etag": etag})
    assert second.status_code == 412


# --- import ---------------------------------------------------------------------------------


async def test_import_preview_then_apply(ui: Ui) -> None:
    await ui.login("pricing_staff")
    day = (date.today() + timedelta(days=10)).isoformat()
    csv = (
        "part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
        f"VW1-0001,,GD01,brand,555.00,{day},\n"
    ).encode()
    token = await ui.token("/import")
    r = await ui.client.post(
        "/import/preview",
        data={"kind": "prices", "reason": "季度调价", "_csrf_token": token},
        files={"file": ("prices.csv", csv, "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert "预览" in r.text and "确认导入" in r.text
    apply_token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            assert not session.scalars(select(Price).where(Price.amount_fen == 55500)).all()
    finally:
        engine.dispose()
    r = await ui.post("/import/apply", {"token": apply_token}, page="/import")
    assert r.status_code == 200, r.text
    assert "已导入" in r.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            assert len(session.scalars(select(Price).where(Price.amount_fen == 55500)).all()) == 1
    finally:
        engine.dispose()


async def test_import_with_nul_in_the_file_name_is_refused_in_chinese(ui: Ui) -> None:
    """The UI's forms are read for NUL before any page reads them, the file's name (kept with
    the preview and shown on the page) included. Written by hand: httpx escapes it as %00."""
    await ui.login("pricing_staff")
    token = await ui.token("/import")
    fields = {"kind": "prices", "reason": "季度调价", "_csrf_token": token}
    body = b"".join(
        f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ) + (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p\x00.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        b"part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\r\n--b--\r\n"
    )
    r = await ui.client.post(
        "/import/preview",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 422, r.text
    shown = re.search(r'<p class="flash error">([^<]*)</p>', r.text).group(1)
    assert "空字符（NUL）" in shown, shown
    assert "确认导入" not in r.text


async def test_import_preview_lists_each_change_with_its_row_old_and_new(ui: Ui) -> None:
    """Row 2 supersedes the system 4S price in force (1,050.00 → 1,100.00 from 2026-01-01),
    row 3 repeats a stored price (unchanged), row 4 is a new GD01 brand price."""
    await ui.login("pricing_staff")
    csv = (
        b"part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
        b"VW1-0001,,system,4s,1100.00,2026-01-01,\n"
        b"VW1-0002,VW-LAVIDA-2023,440000,brand,1500.50,2025-01-01,\n"
        b"VW1-0001,,GD01,brand,555.00,2026-02-01,\n"
    )
    token = await ui.token("/import")
    r = await ui.client.post(
        "/import/preview",
        data={"kind": "prices", "reason": "季度调价", "_csrf_token": token},
        files={"file": ("prices.csv", csv, "text/csv")},
    )
    assert r.status_code == 200, r.text
    body = re.search(
        r'<table class="grid" id="import-changes">.*?<tbody>(.*?)</tbody>', r.text, re.S
    )
    cells = [
        re.findall(r"<td[^>]*>([^<]*)</td>", row)
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))
    ]
    assert cells == [
        ["2", "VW1-0001 · — · system · 4s", "替代旧版本", "1,050.00 元", "1,100.00 元",
         "2026-01-01"],
        ["4", "VW1-0001 · — · GD01 · brand", "新增", "—", "555.00 元", "2026-02-01"],
    ]  # fmt: skip
    assert "另有 1 行与现有数据相同，不会变更。" in r.text
    assert "确认导入（将变更 2 条）" in r.text


async def test_import_shows_row_errors_and_reviewers_cannot_import(ui: Ui) -> None:
    await ui.login("pricing_staff")
    csv = (
        b"part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
        b"NOPE,,GD01,brand,abc,2026-01-01,\n"
    )
    token = await ui.token("/import")
    r = await ui.client.post(
        "/import/preview",
        data={"kind": "prices", "_csrf_token": token},
        files={"file": ("bad.csv", csv, "text/csv")},
    )
    assert r.status_code == 422
    assert 'id="import-errors"' in r.text and "NOPE" in r.text
    assert "没有这个配件：&#39;NOPE&#39;" in r.text and "配件价格文件有 2 处错误" in r.text

    # another kind's file is said to be one, once; a binary file is said not to be text
    async def preview(name: str, content: bytes) -> str:
        token = await ui.token("/import")
        r = await ui.client.post(
            "/import/preview",
            data={"kind": "prices", "_csrf_token": token},
            files={"file": (name, content, "text/csv")},
        )
        assert r.status_code == 422, name
        return r.text

    page = await preview("parts.csv", (EXAMPLES / "parts.csv").read_bytes())
    shown = re.findall(r"<tr><td>1</td><td>[^<]*</td><td>([^<]*)</td></tr>", page)
    assert len(shown) == 1 and shown[0].startswith("这不是配件价格文件"), shown
    assert "这不是配件价格文件：看起来是配件文件，请选择正确的导入类型" in page
    page = await preview("photo.csv", b"\x89PNG\r\n\x1a\n\xff\xd8" + bytes(range(128, 250)))
    assert "这不是配件价格文件：上传的文件不是 CSV 文本，看起来是PNG 图片。" in page
    page = await preview("prices.xlsx", b"part_code,model_code\n")
    assert "这不是配件价格文件：上传的文件不是 XLSX 表格" in page
    page = await preview("latin.csv", "part_code,名称\n".encode("gb18030"))
    assert "latin.csv 不是 UTF-8 编码的文本" in page
    await ui.post("/logout", {})
    await ui.login("reviewer")
    assert (await ui.client.get("/import")).status_code == 403


#: Latin words an error may hold: file formats and what the user typed (codes, file names)
LATIN_ALLOWED = {
    "CSV",
    "XLSX",
    "UTF",
    "PNG",
    "ZIP",
    "PDF",
    "JPEG",
    "Office",
    "Excel",
    "Word",
    "NOPE",
    "csv",
    "xlsx",
    "photo",
    "latin",
    "prices",
    "empty",
    "brand",
    "system",
    "http",
    "https",
    "xyz",
    "abc",
    "xls",
    # the codes a file writes, listed where a cell holds another
    "class",
    "staff",
    "import",
    "feedback",
    "market",
    "crawler",
    "scope",
}
SHOWN_ERRORS = (
    re.compile(r'class="flash error"[^>]*>([^<]*)<'),
    re.compile(r'class="field-error"[^>]*>([^<]*)<'),
    re.compile(r"<tr><td>\d+</td><td>[^<]*</td><td>([^<]*)</td></tr>"),  # import row errors
)


def _english(page: str) -> list[str]:
    """The error texts the page shows, each with a Latin word that is neither a format nor
    something the user typed: English that reached a person."""
    shown = [html.unescape(m) for pattern in SHOWN_ERRORS for m in pattern.findall(page)]
    assert shown, "the page shows an error"
    columns = re.compile(r"\w*_\w*")  # a file's column names (part_code) are the format's
    return [t for t in shown if set(ENGLISH.findall(columns.sub("", t))) - LATIN_ALLOWED]


async def test_no_error_the_ui_can_give_reads_in_english(ui: Ui) -> None:
    """Every error tried here (import rows and files, feedback decisions, indicator and list
    filters, unknown pages) shows Chinese; a new English message fails this test."""
    await ui.login("pricing_staff")

    async def imported(name: str, content: bytes, kind: str = "prices") -> str:
        token = await ui.token("/import")
        r = await ui.client.post(
            "/import/preview",
            data={"kind": kind, "_csrf_token": token, "reason": "测试"},
            files={"file": (name, content, "text/csv")},
        )
        assert r.status_code in (413, 422), (name, r.status_code)
        return r.text

    rows = (
        b"part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to,source\n"
        b"NOPE,,GD01,brand,abc,2026-01-01,,\n"
        b"VW1-0001,NOPE,xyz,NOPE,-5,2026-13-01,,\n"
        b"VW1-0001,,GD01,brand,1.005,2026-02-01,2026-01-01,\n"
        b"VW1-0001,,GD01,brand,10.00,2026-02-01,,crawler\n"
        b",,,,,,,\n"
        b"VW1-0001,,GD01,brand,99999999999.00,2026-02-01,,\n"
    )
    pages = {
        "rows": await imported("prices.csv", rows),
        "parts as prices": await imported("parts.csv", (EXAMPLES / "parts.csv").read_bytes()),
        "missing column": await imported("prices.csv", b"part_code,model_code,scope\nA,B,C\n"),
        "binary": await imported("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(200))),
        "not xlsx": await imported("prices.xlsx", b"part_code\n"),
        "empty": await imported("empty.csv", b""),
        "not utf-8": await imported("latin.csv", "part_code,名称\n".encode("gb18030")),
        "labor rows": await imported(
            "labor.csv",
            b"branch_code,labor_kind,shop_tier,vehicle_class,rate_yuan,valid_from,"
            b"valid_to\nNOPE,NOPE,NOPE,Z,abc,x,\n",
            "labor_rates",
        ),
    }
    item = await ui.post(
        "/feedback", {"part": "VW1-0001", "branch": "GD01", "price_type": "4s",
                      "observed": "800.00", "reason": ""}, page="/feedback/new",
    )  # fmt: skip
    assert item.status_code == 303, item.text[-500:]
    item_id = re.search(r"submitted=(\d+)", item.headers["location"]).group(1)
    for action, data in (
        ("accept", {"amount": "2.888"}),
        ("accept", {"amount": "abc"}),
        ("reject", {"reason": " "}),
        ("need-info", {"reason": ""}),
        ("accept", {"amount": "800", "valid_from": "2026-02-30"}),
    ):
        r = await ui.post(f"/feedback/{item_id}/{action}", data, page="/feedback")
        assert r.status_code >= 400, (action, data)
        pages[f"{action} {data}"] = r.text
    for path in (
        "/indicators?from=2026-02-01&to=2026-01-01",
        "/indicators?branch=NOPE",
        "/indicators?from=x",
        "/validations?from=2026-13-01",
        "/no-such-page",
        "/feedback/999999/accept",
        "/parts/999999",
        "/labor-rates?sort=abc",
    ):
        pages[path] = (await ui.client.get(path, headers={"accept": "text/html"})).text
    english = {what: found for what, page in pages.items() if (found := _english(page))}
    assert not english, json.dumps(english, ensure_ascii=False, indent=1)


# --- the reviewer's estimate view -------------------------------------------------------------


async def test_reviewer_finds_a_validation_and_sends_feedback_from_a_flagged_line(ui: Ui) -> None:
    """claimed 1,280.00 for 左前翼子板 at SZ01, reference 990.00 (SZ01's 4S price), tolerance
    5% → allowed 1,039.50, cut 240.50; the flagged line links to the feedback form filled in."""
    from tests.estimate_data import CONFIG

    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            review_config.import_review_config(session, CONFIG, actor="test", reason="test config")
            fender = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
            model = session.scalar(
                select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023")
            )
            lamp = session.scalar(select(Part.id).where(Part.code == "VW1-0002"))
            # E-UI-2: the headlamp at its reference (no flag); E-UI-1: the fender, over it
            for estimate_id, part, unit, price_type in (
                ("E-UI-2", lamp, "1500.50", "brand"),
                ("E-UI-1", fender, "1280.00", "4s"),
            ):
                body = {
                    "estimate_id": estimate_id,
                    "version": 1,
                    "date": "2025-09-10",
                    "branch": "SZ01",
                    "submitted_at": "2025-09-12T10:00:00+08:00",
                    "vehicle": {"model_id": model, "vin": "LSVAB4BR5PN000001"},
                    "shop": {"tier": "4s"},
                    "lines": [
                        {
                            "type": "part",
                            "part_id": part,
                            "claimed_unit_price": unit,
                            "price_type": price_type,
                        }
                    ],
                }
                estimates.validate(
                    session, estimates.decode_request(json.dumps(body)), actor="api-key:7:理赔系统"
                )
    finally:
        engine.dispose()
    await ui.login("reviewer")
    listed = (await ui.client.get("/validations", params={"vin": "lsvab4", "flagged": "yes"})).text
    count = re.search(r"id=\"result-count\">([^<]*)<", listed).group(1)
    assert count == "共 1 条核损记录", count
    assert "E-UI-1" in listed and "E-UI-2" not in listed
    assert "<td>理赔系统</td>" in listed
    link = re.search(r'<a href="(/validations/\d+)">E-UI-1</a>', listed).group(1)
    page = (await ui.client.get(link)).text
    for text in ("1280.00", "1039.50", "240.50", "左前翼子板", "核损时限", "本级权限内"):
        assert text in page, text
    feedback = re.search(r'<a href="(/feedback/new\?[^"]+)" class="feedback">', page)
    assert feedback, "a price-feedback link on the flagged line"
    form = (await ui.client.get(feedback.group(1).replace("&amp;", "&"))).text
    assert "左前翼子板" in form and 'value="990.00"' in form
    assert re.search(r'<option value="SZ01"\s+selected', form)
    assert (await ui.client.get("/validations/999999")).status_code == 404


# --- feedback and indicators ----------------------------------------------------------------


async def test_indicators_show_a_zero_turnaround_as_zero(ui: Ui) -> None:
    """A feedback item decided within the hour has a turnaround of 0.0 hours: the page shows
    it (it showed "— / —", reading 0.0 as missing)."""
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            item = feedback.submit_feedback(
                session,
                part_id=part_id_of(ui.settings, "VW1-0001"),
                model_id=None,
                branch_id=session.scalar(select(Branch.id).where(Branch.code == "GD01")),
                price_type_id=session.scalar(select(PriceType.id).where(PriceType.code == "4s")),
                reference=None,
                observed="800.00",
                actor="api-key:9:ui",
            )
            feedback.reject_feedback(session, item.id, actor="api-key:1:staff", reason="证据不足")
    finally:
        engine.dispose()
    await ui.login("reviewer")
    page = (await ui.client.get("/indicators")).text
    card = re.search(r'data-indicator="turnaround"><div class="value">([^<]*)<', page)
    assert card and card.group(1) == "0.0 / 0.0", card and card.group(1)
    # no estimate was validated in the period: the page says so, and shows the counts
    assert 'id="no-estimates"' in page and "没有核损的定损单" in page
    assert re.search(r'data-indicator="custom_part_rate">.*?<div class="counts">0 / 0<', page)


async def test_indicators_show_counts_trends_and_branches_side_by_side(ui: Ui) -> None:
    """SZ01: E1 (11-02, 5 part lines, 1 custom, model picked) and E3 (11-06, 3 lines, all
    custom, model typed); GD01: E5 (10-20, 1 line, model picked), before the period."""
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            ids = catalog_ids(session)
            sz, gd, m1, p1 = ids["SZ01"], ids["GD01"], ids["m1"], ids["P1"]
            add_validation(session, "E1", 1, date(2026, 11, 2), sz, m1, [p1], 5, 1)
            add_validation(session, "E3", 1, date(2026, 11, 6), sz, None, [None], 3, 3)
            add_validation(session, "E5", 1, date(2026, 10, 20), gd, m1, [p1], 1, 0)
    finally:
        engine.dispose()
    await ui.login("reviewer")
    page = (await ui.client.get("/indicators?from=2026-11-01&to=2026-11-30")).text

    def rows(table: str) -> dict[str, list[str]]:
        body = re.search(rf'id="{table}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
        found = re.findall(r'<tr data-key="([^"]+)"[^>]*>(.*?)</tr>', body, re.S)
        return {
            k: [
                re.sub(r"<[^>]+>|\s+", "", c)
                for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
            ]
            for k, r in found
        }

    card = re.search(r'data-indicator="custom_part_rate">(.*?)</div></div>', page, re.S).group(1)
    assert ">50.0%<" in card and ">4 / 8<" in card and "定损单 2 张" in card
    weeks = rows("indicator-weeks")
    assert list(weeks)[::11] == ["2026-09-14", "2026-11-30"] and len(weeks) == 12
    assert weeks["2026-11-02"][1:] == ["2", "50.0%（4/8）", "50.0%（1/2）"]
    assert weeks["2026-10-19"][1:] == ["1", "0.0%（0/1）", "100.0%（1/1）"]
    assert weeks["2026-11-09"][1:] == ["0", "本期无核损记录"]
    months = rows("indicator-months")
    assert list(months)[::11] == ["2025-12-01", "2026-11-01"] and len(months) == 12
    assert months["2026-10-01"][1] == "1" and months["2026-11-01"][1] == "2"
    branches = rows("indicator-branches")
    assert branches["SZ01"][1:] == ["2", "50.0%（4/8）", "50.0%（1/2）"]
    assert branches["GD01"][1:] == ["0", "本期无核损记录"]  # its estimate is before the period
    # one branch: its own trends, the branches still side by side, the branch marked
    page = (await ui.client.get("/indicators?branch=GD01&from=2026-11-01&to=2026-11-30")).text
    assert 'id="no-estimates"' in page and "本期无核损记录" in page
    assert rows("indicator-weeks")["2026-10-19"][1] == "1"
    assert rows("indicator-branches")["SZ01"][1] == "2"
    assert '<tr data-key="GD01" class="selected" aria-current="true">' in page


async def test_feedback_form_takes_a_part_code_or_oe_number_not_a_database_id(ui: Ui) -> None:
    await ui.login("reviewer")
    form = (await ui.client.get("/feedback/new")).text
    assert 'name="part"' in form and "配件编号（ID）" not in form
    base = {"part_id": "", "branch": "GD01", "price_type": "4s", "model_id": "", "reference": "",
            "observed": "800.00", "note": "", "url": "", "estimate_ref": ""}  # fmt: skip
    # a part code; an OE number as typed (another branch: not linked to the first)
    for named, branch in (("VW1-0001", "GD01"), ("5g0-821-105a", "SZ01")):
        r = await ui.post(
            "/feedback", {**base, "part": named, "branch": branch}, page="/feedback/new"
        )
        assert r.status_code == 303, (named, r.text[-800:])
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            items = feedback.list_feedback(session, status="open", limit=10)
    finally:
        engine.dispose()
    assert [i.part_code for i in items] == ["VW1-0001", "VW1-0001"]
    # each queue entry links to its own entries in the audit log
    queue = (await ui.client.get("/feedback")).text
    first = items[-1].id
    link = (
        f'<a class="audit-link" href="/audit?entity=feedback_items&amp;entity_id={first}">记录</a>'
    )
    assert link in queue
    log = (await ui.client.get(f"/audit?entity=feedback_items&entity_id={first}")).text
    assert re.findall(
        r'<tr data-audit="\d+">\s*<td[^>]*>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>', log
    ) == [("test reviewer", "提交")]
    r = await ui.post("/feedback", {**base, "part": "NOPE-1"}, page="/feedback/new")
    assert r.status_code == 422 and "没有配件代码或原厂编号为“NOPE-1”的配件" in r.text


@pytest.mark.parametrize("action", ["accept", "reject", "need-info"])
async def test_reviewer_cannot_act_on_feedback(ui: Ui, action: str) -> None:
    await ui.login("reviewer")
    r = await ui.post(f"/feedback/1/{action}", {"amount": "1.00", "reason": "x"}, page="/feedback")
    assert r.status_code == 403
    assert "没有权限" in r.text and "报价人员" in r.text


async def test_feedback_and_indicator_pages_render(ui: Ui) -> None:
    await ui.login("reviewer")
    part_id = part_id_of(ui.settings, "VW1-0001")
    for path, text in (
        ("/feedback", "反馈队列"),
        (
            f"/feedback/new?part_id={part_id}&branch=SZ01&price_type=4s&reference=990.00",
            "左前翼子板",
        ),
        ("/indicators", "配件自定义率"),
    ):
        r = await ui.client.get(path)
        assert r.status_code == 200, path
        assert text in r.text
    assert 'class="accept"' not in (await ui.client.get("/feedback")).text


# --- the unmatched market listings queue ---------------------------------------------------------


async def test_unmatched_market_listings_confirm_and_reject_in_chinese(ui: Ui) -> None:
    ids = add_unmatched_listings(ui.settings)
    await ui.login("pricing_staff")
    page = await ui.client.get("/market/unmatched")
    assert page.status_code == 200
    assert "市场待匹配" in page.text and "共 2 条" in page.text
    assert "VW1-0002 前大灯总成（左）" in page.text and "置信度 71%" in page.text
    assert "华强汽配" in page.text and 'href="http://127.0.0.1/item/0"' in page.text
    assert "无建议" in page.text  # the listing without a suggestion asks for a part code

    # Chinese errors: no reason, a part on the other side, no part at all
    lamp, sill = ids["大灯总成 左 原厂"], ids["门槛 右"]
    no_reason = await ui.post(f"/market/unmatched/{lamp}/reject", {}, page="/market/unmatched")
    assert no_reason.status_code == 422 and "请填写否定原因" in no_reason.text
    wrong_side = await ui.post(
        f"/market/unmatched/{sill}/confirm", {"part_code": "VW1-0001"}, page="/market/unmatched"
    )
    assert wrong_side.status_code == 422
    assert "另一侧的配件不能作为匹配" in wrong_side.text and "VW1-0001" in wrong_side.text
    no_part = await ui.post(f"/market/unmatched/{sill}/confirm", {}, page="/market/unmatched")
    assert no_part.status_code == 422 and "没有建议配件：请填写配件编码" in no_part.text

    # confirm the suggestion: matched, learned, gone from the queue
    done = await ui.post(
        f"/market/unmatched/{lamp}/confirm", {"reason": "同一件"}, page="/market/unmatched"
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/market/unmatched?done={lamp}&verdict=confirmed"
    after = await ui.client.get(done.headers["location"])
    assert "已确认配件" in after.text and "共 1 条" in after.text
    again = await ui.post(f"/market/unmatched/{lamp}/confirm", {}, page="/market/unmatched")
    assert again.status_code == 409 and f"市场观测 #{lamp} 已匹配到配件" in again.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            obs = session.get(MarketObservation, lamp)
            assert (obs.status, obs.part_id) == ("matched", part_id_of(ui.settings, "VW1-0002"))
            assert obs.match_reason == "learned"
    finally:
        engine.dispose()


async def test_reviewers_do_not_work_the_unmatched_queue(ui: Ui) -> None:
    ids = add_unmatched_listings(ui.settings)
    await ui.login("reviewer")
    assert (await ui.client.get("/market/unmatched")).status_code == 403
    r = await ui.post(f"/market/unmatched/{ids['门槛 右']}/reject", {"reason": "x"})
    assert r.status_code == 403 and "没有权限" in r.text
    assert "市场待匹配" not in (await ui.client.get("/parts")).text  # not in their menu
