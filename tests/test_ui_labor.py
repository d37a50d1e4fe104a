"""The staff UI's labor pages: labor rates, standard hours with inclusions, special channels and
their rate cards — lists (search, filters, sorting, pages, CSV export), history, and the create,
supersede and end forms (reason required, ETag carried, Chinese errors, reviewers read only)."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from api.ui import labor as ui_labor
from pricebook.db import make_engine, transaction
from pricebook.io import import_rows
from pricebook.models import (
    OPERATIONS,
    SHOP_TIERS,
    VEHICLE_CLASSES,
    AuditEntry,
    LaborRate,
    RateCard,
    StandardHours,
)
from tests.ui_client import ENGLISH, Ui, read_export

TODAY = date.today()
KINDS = ("sheet_metal", "paint", "mechanical", "electrical", "remove_refit")


def _etag(page: str, section: str = "edit") -> str:
    """The ETag the form in section `section` carries."""
    match = re.search(rf'<section id="{section}">.*?name="etag" value="([^"]*)"', page, re.S)
    assert match, "the form carries the key's ETag"
    return html.unescape(match.group(1))


def _load(ui: Ui, kind: str, rows: list[dict[str, str]]) -> None:
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            import_rows(session, kind, rows, actor="test", reason="test rows")
    finally:
        engine.dispose()


def _rates(n: int) -> list[dict[str, str]]:
    """`n` more labor rates (GD01 and SZ01 in turn, every kind, tier and class), rate 100.01,
    100.02 …"""
    keys = [
        (b, k, t, c)
        for k in KINDS
        for t in SHOP_TIERS
        for c in VEHICLE_CLASSES
        for b in ("GD01", "SZ01")
        if (b, k, t, c) != ("SZ01", "paint", "4s", "B")
    ]
    return [
        {
            "branch_code": b,
            "labor_kind": k,
            "shop_tier": t,
            "vehicle_class": c,
            "rate_yuan": f"{100 + (i + 1) / 100:.2f}",
            "valid_from": "2025-01-01",
            "valid_to": "",
        }
        for i, (b, k, t, c) in enumerate(keys[:n])
    ]


def _rows(page: str, table: str) -> list[str]:
    body = re.search(rf'<table class="grid" id="{table}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, page[-1500:]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)


def _shown_error(page: str, which: str) -> str:
    match = re.search(rf'id="{which}-error"[^>]*>([^<]*)<', page)
    assert match, page[-2500:]
    return match.group(1)


def test_names_cover_every_code_the_schema_allows() -> None:
    assert tuple(ui_labor.TIER_NAMES) == SHOP_TIERS
    assert tuple(ui_labor.OPERATION_NAMES) == OPERATIONS
    assert tuple(ui_labor.CLASS_NAMES) == VEHICLE_CLASSES


@pytest.mark.parametrize(
    "path",
    [
        "/labor-rates",
        "/labor-rates/export.csv",
        "/standard-hours",
        "/channels",
        "/channels/CH-SHOP1",
        "/labor-rates/new",
    ],
)
async def test_pages_need_a_login(ui: Ui, path: str) -> None:
    r = await ui.client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


# --- labor rates --------------------------------------------------------------------------------


async def test_labor_rate_list_filters_sorts_pages_and_exports(ui: Ui) -> None:
    _load(ui, "labor_rates", _rates(60))  # 61 in all with the test catalogue's SZ01 paint rate
    await ui.login("reviewer")
    page = (await ui.client.get("/labor-rates")).text
    assert "共 61 条工时单价，第 1 / 2 页" in page
    assert len(_rows(page, "labor-rates")) == 50
    assert 'href="/labor-rates?sort=-branch"' in page  # the sorted column flips on a click
    second = (await ui.client.get("/labor-rates?page=2")).text
    assert len(_rows(second, "labor-rates")) == 11 and 'rel="prev"' in second

    by_rate = (await ui.client.get("/labor-rates?sort=-rate")).text
    rates = [
        re.search(r'<td class="num">([\d.]+)</td>', r).group(1)
        for r in _rows(by_rate, "labor-rates")
    ]
    assert (
        rates[0] == "110.00"
        and rates[1] == "100.60"
        and rates == sorted(rates, key=float, reverse=True)
    )
    assert 'aria-sort="descending"' in by_rate
    # the pager keeps the filters and the sort
    assert 'href="/labor-rates?sort=-rate&amp;page=2"' in by_rate

    # filters: branch, region (a province covers its cities), kind, tier, class, text
    sz = (await ui.client.get("/labor-rates?branch=SZ01")).text
    sz_count = int(re.search(r"共 (\d+) 条", sz).group(1))
    assert 0 < sz_count < 61 and "广东分公司" not in "".join(_rows(sz, "labor-rates"))
    city = (await ui.client.get("/labor-rates?region=440300")).text
    assert f"共 {sz_count} 条" in city
    province = (await ui.client.get("/labor-rates?region=440000")).text
    assert "共 61 条" in province
    paint = (await ui.client.get("/labor-rates?kind=paint&shop_tier=4s&vehicle_class=B")).text
    assert "共 2 条" in paint  # GD01's and SZ01's
    text = (await ui.client.get("/labor-rates", params={"q": "深圳"})).text
    assert f"共 {sz_count} 条" in text
    # a channel: its branch's rates, each with what the channel's card makes of it
    shop = (await ui.client.get("/labor-rates?channel=CH-SHOP1&kind=paint")).text
    rows = _rows(shop, "labor-rates")
    paint_4s_b = next(r for r in rows if "110.00" in r)
    assert "99.00" in paint_4s_b and "标准的 90.00%" in paint_4s_b
    assert all("深圳中心支公司" in r for r in rows) and len(rows) > 1
    other = (await ui.client.get("/labor-rates?channel=CH-SHOP1&kind=sheet_metal")).text
    assert "费率卡未约定，按标准" in other
    nope = (await ui.client.get("/labor-rates?channel=NOPE")).text
    assert "没有渠道 NOPE" in nope
    card = read_export(
        (await ui.client.get("/labor-rates/export.csv?channel=CH-SHOP1&kind=paint")).content
    )
    assert card[0][-1] == "渠道适用单价（元）"
    assert [row[-1] for row in card[1:] if row[6] == "110.00"] == ["99.00"]
    # an unknown sort key is refused in Chinese, naming the columns that sort
    refused = await ui.client.get("/labor-rates?sort=drop")
    assert refused.status_code == 422 and "可排序的列为 机构" in refused.text

    # the export is exactly the filtered list, in its order, amounts as yuan text
    r = await ui.client.get("/labor-rates/export.csv?branch=SZ01&sort=-rate")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = read_export(r.content)
    assert table[0][:7] == [
        "机构代码",
        "机构",
        "地区",
        "工种",
        "修理厂级别",
        "车辆级别",
        "工时单价（元）",
    ]
    assert len(table) == 1 + sz_count and {row[0] for row in table[1:]} == {"SZ01"}
    assert table[1][6] == "110.00" and table[1][3] == "喷漆" and table[1][4] == "4S店"
    assert [row[6] for row in table[1:]] == sorted(
        (row[6] for row in table[1:]), key=float, reverse=True
    )
    everything = read_export((await ui.client.get("/labor-rates/export.csv")).content)
    assert len(everything) == 62  # not only the first page


async def test_labor_rate_list_costs_the_same_statements_for_any_page_size(ui: Ui) -> None:
    """A page of 50 rows reads no more statements than a page of 1 (no query per row)."""
    await ui.login("reviewer")
    engine = ui.client.app.state.engine.sync_engine
    counted: list[str] = []

    def count(*args: object) -> None:
        counted.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        await ui.client.get("/labor-rates")
        one = len(counted)
        _load(ui, "labor_rates", _rates(60))
        counted.clear()
        await ui.client.get("/labor-rates")
        assert len(counted) == one
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_staff_create_a_labor_rate_then_see_it_in_the_list_and_its_history(ui: Ui) -> None:
    await ui.login("pricing_staff")
    assert (await ui.client.get("/labor-rates/new")).status_code == 200
    form = {
        "branch": "GD01",
        "kind": "sheet_metal",
        "shop_tier": "class1",
        "vehicle_class": "C",
        "rate": "88.50",
        "valid_from": TODAY.isoformat(),
        "valid_to": "",
        "reason": "2027 年度工时费标准",
    }
    r = await ui.post("/labor-rates", form, page="/labor-rates/new")
    assert r.status_code == 303, r.text
    assert re.match(r"/labor-rates/\d+\?done=created#history", r.headers["location"])
    page = (await ui.client.get(r.headers["location"])).text
    assert "已新增" in page and 'href="/labor-rates"' in page  # the confirmation, with a link
    history = _rows(page, "versions")
    assert len(history) == 1
    assert "88.50" in history[0] and "2027 年度工时费标准" in history[0]
    assert "test pricing_staff" in history[0] and "api-key:" not in page
    link = re.search(r'<a class="audit-link" href="([^"]+)">这组工时单价的全部修改记录', page)
    log = (await ui.client.get(html.unescape(link.group(1)))).text
    entries = re.findall(r'<tr data-audit="\d+">(.*?)</tr>', log, re.S)
    assert len(entries) == 1 and "2027 年度工时费标准" in entries[0] and "88.50" in entries[0]
    listed = (await ui.client.get("/labor-rates?branch=GD01&kind=sheet_metal")).text
    assert "88.50" in listed and "一类修理厂" in listed
    # the same key again is not a second "create": the form points to the key's page
    again = await ui.post("/labor-rates", form, page="/labor-rates/new")
    assert again.status_code == 409
    assert "已有工时单价" in _shown_error(again.text, "create") and "打开已有记录" in again.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            entry = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "labor_rates")
                .order_by(AuditEntry.id.desc())
            ).first()
            assert entry is not None and entry.action == "create"
            assert entry.reason == "2027 年度工时费标准" and entry.actor.endswith(
                "test pricing_staff"
            )
    finally:
        engine.dispose()


async def test_two_staff_creating_the_same_rate_at_once_make_one_version(ui: Ui) -> None:
    await ui.login("pricing_staff")
    token = await ui.token("/labor-rates/new")
    form = {
        "branch": "SZ01",
        "kind": "mechanical",
        "shop_tier": "class2",
        "vehicle_class": "D",
        "valid_from": TODAY.isoformat(),
        "_csrf_token": token,
    }
    answers = await asyncio.gather(
        *(
            ui.client.post(
                "/labor-rates", data={**form, "rate": rate, "reason": f"同时新增 {rate}"}
            )
            for rate in ("70.00", "71.00")
        )
    )
    assert sorted(r.status_code for r in answers) == [303, 409]
    refused = next(r for r in answers if r.status_code == 409)
    assert "已有工时单价" in _shown_error(refused.text, "create")
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            made = session.scalars(
                select(LaborRate).where(LaborRate.reason.like("同时新增%"))
            ).all()
            assert len(made) == 1
    finally:
        engine.dispose()


async def _rate_page(ui: Ui) -> tuple[str, str]:
    """The SZ01 paint rate's page (from the list) and its address."""
    listed = (await ui.client.get("/labor-rates?branch=SZ01&kind=paint")).text
    link = re.search(r'href="(/labor-rates/\d+)"', listed)
    assert link
    return (await ui.client.get(link.group(1))).text, link.group(1)


async def test_a_stale_supersede_is_refused_in_chinese_and_loses_nothing(ui: Ui) -> None:
    await ui.login("pricing_staff")
    page, url = await _rate_page(ui)
    assert "110.00 元/工时" in page
    seen = _etag(page)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    first = await ui.post(
        f"{url}/versions",
        {"rate": "120.00", "valid_from": tomorrow, "reason": "第一个标签页", "etag": seen},
        page=url,
    )
    assert first.status_code == 303, first.text
    assert "done=superseded" in first.headers["location"]
    second = await ui.post(
        f"{url}/versions",
        {"rate": "130.00", "valid_from": tomorrow, "reason": "第二个标签页", "etag": seen},
        page=url,
    )
    assert second.status_code == 412
    shown = _shown_error(second.text, "edit")
    assert "已被他人修改" in shown and not ENGLISH.search(shown)
    assert "130.00" in second.text  # what the user typed stays in the form
    # nothing lost: the first save stands, the second wrote nothing
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            rows = session.scalars(
                select(LaborRate)
                .where(
                    LaborRate.shop_tier == "4s",
                    LaborRate.vehicle_class == "B",
                    LaborRate.rate_fen.in_([11000, 12000, 13000]),
                )
                .order_by(LaborRate.valid_from)
            ).all()
            assert [(r.rate_fen, r.reason) for r in rows] == [(11000, "test catalogue"),
                                                             (12000, "第一个标签页")]  # fmt: skip
    finally:
        engine.dispose()
    # the refusal shows the key as it is now: saving from it works
    fresh = _etag(second.text)
    assert fresh != seen
    third = await ui.post(
        f"{url}/versions",
        {"rate": "130.00", "valid_from": tomorrow, "reason": "核对后重新保存", "etag": fresh},
        page=url,
    )
    assert third.status_code == 303, third.text


async def test_a_missing_reason_is_a_chinese_error_beside_the_field(ui: Ui) -> None:
    await ui.login("pricing_staff")
    page, url = await _rate_page(ui)
    r = await ui.post(
        f"{url}/versions",
        {"rate": "99.00", "valid_from": TODAY.isoformat(), "reason": "  ", "etag": _etag(page)},
        page=url,
    )
    assert r.status_code == 422
    assert "请填写原因" in _shown_error(r.text, "edit")
    beside = re.search(r'id="err-reason"[^>]*>([^<]*)<', r.text)
    assert beside and "请填写原因" in beside.group(1)
    assert 'action="/labor-rates/' in r.text and "/versions#edit" in r.text  # lands on the form
    create = await ui.post(
        "/labor-rates",
        {
            "branch": "GD01",
            "kind": "paint",
            "shop_tier": "4s",
            "vehicle_class": "A",
            "rate": "90",
            "valid_from": TODAY.isoformat(),
            "reason": "",
        },
        page="/labor-rates/new",
    )
    assert create.status_code == 422 and 'id="err-reason"' in create.text


async def test_end_a_labor_rate_version(ui: Ui) -> None:
    await ui.login("pricing_staff")
    page, url = await _rate_page(ui)
    version = re.search(r'<select name="version"[^>]*><option value="(\d+)"', page).group(1)
    end = TODAY + timedelta(days=10)
    r = await ui.post(
        f"{url}/end",
        {
            "version": version,
            "valid_to": end.isoformat(),
            "reason": "协议到期",
            "etag": _etag(page),
        },
        page=url,
    )
    assert r.status_code == 303, r.text
    after = (await ui.client.get(r.headers["location"])).text
    assert "已提前结束版本" in after and str(end) in "".join(_rows(after, "versions"))
    # the same form again (its ETag is now stale) is refused
    again = await ui.post(
        f"{url}/end",
        {
            "version": version,
            "valid_to": TODAY.isoformat(),
            "reason": "再次结束",
            "etag": _etag(page),
        },
        page=url,
    )
    assert again.status_code == 412 and "已被他人修改" in _shown_error(again.text, "end")
    # a version is never extended
    longer = await ui.post(
        f"{url}/end",
        {"version": version, "valid_to": "2099-01-01", "reason": "延长", "etag": _etag(after)},
        page=url,
    )
    assert longer.status_code == 409
    assert not ENGLISH.search(_shown_error(longer.text, "end"))


async def test_reviewers_see_the_labor_pages_but_cannot_change_anything(ui: Ui) -> None:
    await ui.login("reviewer")
    page, url = await _rate_page(ui)
    assert "版本历史" in page and "新增版本" not in page and 'name="etag"' not in page
    for path in ("/labor-rates/new", "/standard-hours/new", "/channels/new"):
        assert (await ui.client.get(path)).status_code == 403, path
    hours = (await ui.client.get("/standard-hours")).text
    hours_url = re.search(r'href="(/standard-hours/\d+)"', hours).group(1)
    for path, data in (
        (
            "/labor-rates",
            {
                "branch": "GD01",
                "kind": "paint",
                "shop_tier": "4s",
                "vehicle_class": "A",
                "rate": "1",
                "valid_from": "2026-01-01",
                "reason": "x",
            },
        ),
        (
            f"{url}/versions",
            {"rate": "1", "valid_from": "2026-01-01", "reason": "x", "etag": '"x"'},
        ),
        (f"{url}/end", {"version": "1", "valid_to": "2026-01-01", "reason": "x", "etag": '"x"'}),
        ("/standard-hours", {"part": "VW1-0002", "reason": "x"}),
        (f"{hours_url}/versions", {"hours": "1", "reason": "x", "etag": '"x"'}),
        (f"{hours_url}/end", {"version": "1", "reason": "x", "etag": '"x"'}),
        (f"{hours_url}/includes", {"keep": "paint@VW1-0001", "reason": "x", "etag": '"x"'}),
        ("/channels", {"code": "CH-X", "name": "x", "kind": "repair_shop", "reason": "x"}),
        ("/channels/CH-SHOP1/cards", {"labor_rate_paint": "1", "reason": "x", "etag": '"x"'}),
        ("/channels/CH-SHOP1/cards/end", {"version": "1", "reason": "x", "etag": '"x"'}),
    ):
        r = await ui.post(path, data, page="/labor-rates")
        assert r.status_code == 403 and "没有权限" in r.text, path
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            assert (
                session.scalars(
                    select(AuditEntry).where(AuditEntry.actor.like("%reviewer%"))
                ).first()
                is None
            )
    finally:
        engine.dispose()


# --- standard hours -----------------------------------------------------------------------------


async def test_standard_hours_list_shows_inclusions_filters_sorts_and_exports(ui: Ui) -> None:
    _load(ui, "standard_hours", [
        {"part_code": "VW1-0002", "operation": "replace", "vehicle_class": "B",
         "labor_kind": "electrical", "hours": "1.8", "includes": ""},
        {"part_code": "VW1-0003", "operation": "replace", "vehicle_class": "A",
         "labor_kind": "electrical", "hours": "0.3", "includes": ""},
    ])  # fmt: skip
    await ui.login("reviewer")
    page = (await ui.client.get("/standard-hours")).text
    assert "共 4 条标准工时" in page
    rows = _rows(page, "standard-hours")
    replace = next(r for r in rows if "左前翼子板" in r and "更换" in r)
    assert '<span class="tag">左前翼子板 拆装</span>' in replace and "2.50" in replace
    by_hours = _rows((await ui.client.get("/standard-hours?sort=-hours")).text, "standard-hours")
    assert "2.50" in by_hours[0] and "0.30" in by_hours[-1]
    lamps = (await ui.client.get("/standard-hours?category=lamp&operation=replace")).text
    assert "共 2 条" in lamps
    found = (await ui.client.get("/standard-hours", params={"q": "灯泡"})).text
    assert "共 1 条" in found and "大灯灯泡" in found
    table = read_export((await ui.client.get("/standard-hours/export.csv?sort=part")).content)
    assert table[0][:7] == ["配件编码", "配件名称", "分类", "作业", "车辆级别", "工种", "标准工时"]
    assert len(table) == 5
    fender = next(row for row in table if row[0] == "VW1-0001" and row[3] == "更换")
    assert fender[6] == "2.50" and fender[7] == "左前翼子板 拆装"
    detail = re.search(r'href="(/standard-hours/\d+)">左前翼子板</a>', page)
    one = (await ui.client.get(detail.group(1))).text
    assert "已包含的作业" in one and "左前翼子板 拆装" in one


async def test_staff_create_and_supersede_standard_hours(ui: Ui) -> None:
    await ui.login("pricing_staff")
    form = {
        "part": "VW1-0004",
        "operation": "replace",
        "vehicle_class": "B",
        "kind": "electrical",
        "hours": "0.75",
        "valid_from": TODAY.isoformat(),
        "reason": "主机厂工时手册",
    }
    r = await ui.post("/standard-hours", form, page="/standard-hours/new")
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    page = (await ui.client.get(r.headers["location"])).text
    assert "已新增" in page and "0.75" in page and "主机厂工时手册" in page
    listed = (await ui.client.get("/standard-hours", params={"q": "VW1-0004"})).text
    assert "大灯支架（左）" in listed and "0.75" in listed
    unknown = await ui.post(
        "/standard-hours", {**form, "part": "NOPE-1"}, page="/standard-hours/new"
    )
    assert unknown.status_code == 422 and "没有编码为" in unknown.text
    bad = await ui.post(
        f"{url}/versions",
        {
            "hours": "0.755",
            "kind": "electrical",
            "valid_from": TODAY.isoformat(),
            "reason": "x",
            "etag": _etag(page),
        },
        page=url,
    )
    assert bad.status_code == 422 and "最多两位小数" in _shown_error(bad.text, "edit")
    later = (TODAY + timedelta(days=5)).isoformat()
    ok = await ui.post(
        f"{url}/versions",
        {
            "hours": "0.9",
            "kind": "electrical",
            "valid_from": later,
            "reason": "复核",
            "etag": _etag(page),
        },
        page=url,
    )
    assert ok.status_code == 303, ok.text
    stale = await ui.post(
        f"{url}/versions",
        {
            "hours": "1.1",
            "kind": "electrical",
            "valid_from": later,
            "reason": "旧页面",
            "etag": _etag(page),
        },
        page=url,
    )
    assert stale.status_code == 412 and "已被他人修改" in stale.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            rows = session.scalars(
                select(StandardHours.hours_centi)
                .where(StandardHours.reason.in_(["主机厂工时手册", "复核", "旧页面"]))
                .order_by(StandardHours.valid_from)
            ).all()
            assert rows == [75, 90]
    finally:
        engine.dispose()


async def test_staff_change_what_an_operation_includes(ui: Ui) -> None:
    """The fender's replacement includes its own remove & refit (test catalogue): staff drop
    that and add the bracket's; a stale form, a self-inclusion and an unknown part are refused
    in Chinese; the change is audited with the set before and after."""
    await ui.login("pricing_staff")
    listed = (await ui.client.get("/standard-hours?operation=replace&q=VW1-0001")).text
    url = re.search(r'href="(/standard-hours/\d+)"', listed).group(1)
    page = (await ui.client.get(url)).text
    seen = _etag(page, "includes-edit")
    form = {
        "add_part": "VW1-0004",
        "add_operation": "remove_refit",
        "reason": "手册更新",
        "etag": seen,
    }
    r = await ui.post(f"{url}/includes", form, page=url)  # nothing kept: the old one goes
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("?done=updated#includes-edit")
    after = (await ui.client.get(r.headers["location"])).text
    assert "已保存包含项目" in after
    shown = re.search(r'<dd id="includes">(.*?)</dd>', after, re.S).group(1)
    assert "大灯支架（左） 拆装" in shown and "左前翼子板 拆装" not in shown
    listed = (await ui.client.get("/standard-hours?operation=replace&q=VW1-0001")).text
    assert "大灯支架（左） 拆装" in listed
    stale = await ui.post(f"{url}/includes", {**form, "add_part": "VW1-0003"}, page=url)
    assert stale.status_code == 412 and "已被他人修改" in _shown_error(stale.text, "includes")
    fresh = _etag(after, "includes-edit")
    for part, operation, expected in (
        ("VW1-0001", "replace", "不能包含它自己"),
        ("NOPE-9", "paint", "没有编码为"),
        ("VW1-0003", "", "请选择要新增的作业"),
    ):
        bad = await ui.post(
            f"{url}/includes",
            {**form, "etag": fresh, "add_part": part, "add_operation": operation},
            page=url,
        )
        assert bad.status_code == 422, (part, bad.status_code)
        assert expected in _shown_error(bad.text, "includes")
        assert 'id="err-add_part"' in bad.text or 'id="err-add_operation"' in bad.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            entry = session.scalars(
                select(AuditEntry).where(AuditEntry.entity == "operation_inclusions")
            ).one()
            assert entry.before == {"includes": ["remove_refit@VW1-0001"]}
            assert entry.after == {"includes": ["remove_refit@VW1-0004"]}
            assert entry.reason == "手册更新" and entry.actor.endswith("test pricing_staff")
    finally:
        engine.dispose()


# --- channels and rate cards --------------------------------------------------------------------


async def test_channel_list_shows_cards_filters_and_exports(ui: Ui) -> None:
    _load(
        ui,
        "channels",
        [
            {
                "code": "PP-GD-01",
                "name": "粤配直供平台",
                "kind": "parts_platform",
                "branch_code": "GD01",
            },
        ],
    )
    await ui.login("reviewer")
    page = (await ui.client.get("/channels")).text
    assert "共 2 个专项渠道" in page
    shop = next(r for r in _rows(page, "channels") if "CH-SHOP1" in r)
    assert "喷漆 标准的 90.00%" in shop and "外观件 品牌件 减 12.50%" in shop
    assert "合作修理厂" in shop and "深圳中心支公司" in shop
    platform = next(r for r in _rows(page, "channels") if "PP-GD-01" in r)
    assert "该日没有生效的费率卡" in platform
    assert "共 1 个" in (await ui.client.get("/channels?price_type=brand")).text
    assert "共 0 个" in (await ui.client.get("/channels?price_type=4s")).text
    assert "共 1 个" in (await ui.client.get("/channels?kind=parts_platform")).text
    named = (await ui.client.get("/channels", params={"q": "鹏城"})).text
    assert "共 1 个" in named and "CH-SHOP1" in named
    by_name = _rows((await ui.client.get("/channels?sort=-code")).text, "channels")
    assert "PP-GD-01" in by_name[0]
    table = read_export((await ui.client.get("/channels/export.csv?sort=code")).content)
    assert [row[0] for row in table[1:]] == ["CH-SHOP1", "PP-GD-01"]
    assert table[1][4] == "2025-01-01" and table[1][6] == "喷漆 标准工时费的 90.00%"
    one = (await ui.client.get("/channels/CH-SHOP1")).text
    assert 'href="/labor-rates?channel=CH-SHOP1"' in one
    assert "现行费率卡" in one and "机构标准工时费的 90.00%" in one and "保存费率卡" not in one
    missing = await ui.client.get("/channels/NOPE")
    assert missing.status_code == 404 and "没有渠道" in missing.text


async def test_staff_register_a_channel_add_supersede_and_end_its_card(ui: Ui) -> None:
    await ui.login("pricing_staff")
    created = await ui.post("/channels", {"code": "CH-NEW", "name": "南山合作修理厂",
                                          "kind": "repair_shop", "branch": "SZ01",
                                          "reason": "核损组审核通过"}, page="/channels/new")  # fmt: skip
    assert created.status_code == 303, created.text
    listed = (await ui.client.get(created.headers["location"])).text
    assert "已登记专项渠道 CH-NEW" in listed and 'href="/channels/CH-NEW"' in listed
    twice = await ui.post("/channels", {"code": "CH-NEW", "name": "重复", "kind": "repair_shop",
                                        "reason": "x"}, page="/channels/new")  # fmt: skip
    assert twice.status_code == 409 and "已存在" in _shown_error(twice.text, "create")

    page = (await ui.client.get("/channels/CH-NEW")).text
    assert "还没有费率卡" in page and "添加费率卡" in page
    blank = await ui.post(
        "/channels/CH-NEW/cards",
        {"valid_from": "2026-01-01", "reason": "协议", "etag": _etag(page)},
        page="/channels/CH-NEW",
    )
    assert blank.status_code == 422 and "至少要有一项" in _shown_error(blank.text, "edit")
    both = await ui.post(
        "/channels/CH-NEW/cards",
        {
            "labor_rate_paint": "80",
            "labor_pct_paint": "90",
            "valid_from": "2026-01-01",
            "reason": "协议",
            "etag": _etag(page),
        },
        page="/channels/CH-NEW",
    )
    assert both.status_code == 422 and 'id="err-labor_rate_paint"' in both.text
    card = {"labor_rate_paint": "85.00", "labor_pct_sheet_metal": "95", "parts_type_body": "brand",
            "parts_discount_body": "10", "valid_from": "2026-01-01", "reason": "2026 合作协议"}  # fmt: skip
    first = await ui.post(
        "/channels/CH-NEW/cards", {**card, "etag": _etag(page)}, page="/channels/CH-NEW"
    )
    assert first.status_code == 303, first.text
    after = (await ui.client.get(first.headers["location"])).text
    assert "已新增" in after and "85.00 元/工时" in after and "2026 合作协议" in after
    assert (
        'name="labor_rate_paint" inputmode="decimal" aria-label="喷漆协议单价" value="85.00"'
        in after
    )
    # a second tab still holding the empty card's ETag cannot replace the first card
    stale = await ui.post(
        "/channels/CH-NEW/cards",
        {**card, "labor_rate_paint": "70", "etag": _etag(page)},
        page="/channels/CH-NEW",
    )
    assert stale.status_code == 412 and "已被他人修改" in _shown_error(stale.text, "edit")
    newer = {**card, "labor_rate_paint": "88.00", "valid_from": TODAY.isoformat(), "reason": "续签"}
    second = await ui.post(
        "/channels/CH-NEW/cards", {**newer, "etag": _etag(after)}, page="/channels/CH-NEW"
    )
    assert second.status_code == 303 and "done=superseded" in second.headers["location"]
    page = (await ui.client.get("/channels/CH-NEW")).text
    assert page.count("<details") == 2 and "88.00 元/工时" in page
    version = re.search(r'<select name="version"[^>]*><option value="(\d+)"', page).group(1)
    ended = await ui.post(
        "/channels/CH-NEW/cards/end",
        {
            "version": version,
            "valid_to": TODAY.isoformat(),
            "reason": "合作终止",
            "etag": _etag(page),
        },
        page="/channels/CH-NEW",
    )
    assert ended.status_code == 303, ended.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            cards = session.scalars(select(RateCard).order_by(RateCard.id)).all()
            mine = [c for c in cards if c.reason in ("2026 合作协议", "续签")]
            assert [(c.valid_from, c.valid_to) for c in mine] == [
                (date(2026, 1, 1), TODAY), (TODAY, TODAY)]  # fmt: skip
            actions = session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity.in_(["channels", "rate_cards"]))
                .order_by(AuditEntry.id)
            ).all()
            assert actions[-5:] == ["create", "create", "close", "supersede", "withdraw"]
    finally:
        engine.dispose()
    # the card's history links to exactly its versions' entries in the audit log
    page = (await ui.client.get("/channels/CH-NEW")).text
    link = re.search(r'<a class="audit-link" href="([^"]+)">费率卡的全部修改记录', page)
    log = (await ui.client.get(html.unescape(link.group(1)))).text
    entries = re.findall(r'<tr data-audit="\d+">(.*?)</tr>', log, re.S)
    assert len(entries) == 4 and all("渠道价格表" in e for e in entries)
    assert [a for e in entries for a in ("新增", "新版本替换", "结束有效期", "撤回") if a in e] == [
        "撤回",
        "新版本替换",
        "结束有效期",
        "新增",
    ]  # newest first


async def test_every_labor_form_error_reads_in_chinese(ui: Ui) -> None:
    """Each error staff can get from these forms is Chinese (the core speaks English)."""
    await ui.login("pricing_staff")
    page, url = await _rate_page(ui)
    etag = _etag(page)
    day = TODAY.isoformat()
    tries = [
        (f"{url}/versions", "edit", {"rate": "1e3", "valid_from": day, "reason": "x"}),
        (f"{url}/versions", "edit", {"rate": "200000", "valid_from": day, "reason": "x"}),
        (f"{url}/versions", "edit", {"rate": "90", "valid_from": "", "reason": "x"}),
        (f"{url}/versions", "edit", {"rate": "90", "valid_from": day, "valid_to": day,
                                     "reason": "x"}),
        (f"{url}/versions", "edit", {"rate": "90", "valid_from": day, "reason": "x",
                                     "etag": ""}),
        (f"{url}/end", "end", {"version": "999999", "valid_to": day, "reason": "x"}),
        ("/labor-rates", "create", {"branch": "", "kind": "paint", "shop_tier": "4s",
                                    "vehicle_class": "A", "rate": "1", "valid_from": day,
                                    "reason": "x"}),
        ("/labor-rates", "create", {"branch": "NOPE", "kind": "paint", "shop_tier": "4s",
                                    "vehicle_class": "A", "rate": "1", "valid_from": day,
                                    "reason": "x"}),
        ("/standard-hours", "create", {"part": "VW1-0001", "operation": "paint",
                                       "vehicle_class": "B", "kind": "paint", "hours": "0",
                                       "valid_from": day, "reason": "x"}),
        ("/channels", "create", {"code": "CH-Q", "name": "", "kind": "repair_shop",
                                 "reason": "x"}),
        ("/channels/CH-SHOP1/cards", "edit", {"labor_pct_paint": "2000", "valid_from": day,
                                              "reason": "x"}),
        ("/channels/CH-SHOP1/cards", "edit", {"parts_discount_body": "5", "valid_from": day,
                                              "reason": "x"}),
    ]  # fmt: skip
    for path, which, data in tries:
        r = await ui.post(path, {"etag": etag, **data}, page="/labor-rates")
        assert r.status_code in {409, 412, 422}, (path, data, r.status_code)
        shown = _shown_error(r.text, which).replace("NOPE", "")
        assert not ENGLISH.search(shown), (path, data, shown)


async def test_odd_addresses_and_forms_are_never_a_server_error(ui: Ui) -> None:
    """Hand-made addresses and forms get a page or a Chinese 4xx, never a 500."""
    await ui.login("pricing_staff")
    big = 2**53
    for path in (
        f"/labor-rates/{big}",
        f"/standard-hours/{big}",
        "/channels/%E4%B8%8D%E5%AD%98",
        f"/parts/{big}",
        f"/feedback/new?part_id={big}",
        "/labor-rates?page=-3&on=2026-13-45&sort=--rate&q=%25_%5C",
        "/labor-rates?region=NOPE",
        "/labor-rates/export.csv?region=NOPE",
        "/standard-hours?page=99999&sort=-hours",
        "/channels?sort=-card&on=1900-01-01",
        "/channels/export.csv?price_type=NOPE",
    ):
        r = await ui.client.get(path)
        assert r.status_code < 500, (path, r.status_code)
        assert "Internal" not in r.text
    page, url = await _rate_page(ui)
    etag = _etag(page)
    for path, data in (
        (
            f"/labor-rates/{big}/versions",
            {"rate": "1", "valid_from": "2026-01-01", "reason": "x", "etag": etag},
        ),
        (
            f"{url}/end",
            {"version": str(big), "valid_to": "2026-01-01", "reason": "x", "etag": etag},
        ),
        (
            f"{url}/versions",
            {"rate": "１２", "valid_from": "2026-02-30", "reason": "x" * 5000, "etag": etag},
        ),
        (
            "/channels/CH-SHOP1/cards/end",
            {"version": "abc", "valid_to": "x", "reason": "x", "etag": etag},
        ),
        (
            "/channels/NOPE/cards",
            {"labor_rate_paint": "1", "valid_from": "2026-01-01", "reason": "x", "etag": etag},
        ),
        ("/standard-hours/1/includes", {"keep": "bogus", "reason": "x", "etag": etag}),
        ("/channels", {"code": "x" * 300, "name": "y", "kind": "nope", "reason": "x"}),
    ):
        r = await ui.post(path, data, page="/labor-rates")
        assert 400 <= r.status_code < 500, (path, r.status_code)
