"""The staff web UI's lists and maintenance pages: column sorting and CSV export (part search,
validations, audit log, synonyms), the audit log with its diffs, part aliases and the synonym
dictionary. Over HTTP on SQLite and PostgreSQL; the browser walk is in test_browser.py."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from pricebook import audit, estimates, keys, review_config
from pricebook.db import make_engine, transaction
from pricebook.models import Part, VehicleModel
from pricebook.settings import Settings
from tests.api_client import part_id_of, seed
from tests.ui_client import ENGLISH, Ui, link_in, read_export

ROW_CODES = re.compile(r'<tr data-part="([^"]+)">')


# --- part search: sorting and export ----------------------------------------------------------


async def test_part_search_sorts_by_a_clicked_column(ui: Ui) -> None:
    await ui.login("reviewer")
    by_code = (await ui.client.get("/parts", params={"category": "lamp", "sort": "code"})).text
    assert ROW_CODES.findall(by_code) == ["VW1-0002", "VW1-0003", "VW1-0004"]
    # the sorted column says so (arrow, aria-sort); its link turns the order round
    assert re.search(r'<th aria-sort="ascending"><a class="sort" href="[^"]*">编码 ', by_code)
    descending = link_in(by_code, r'<th aria-sort="ascending"><a class="sort" href="([^"]+)"')
    assert "category=lamp" in descending and "sort=-code" in descending
    page = (await ui.client.get(descending)).text
    assert ROW_CODES.findall(page) == ["VW1-0004", "VW1-0003", "VW1-0002"]
    assert 'aria-sort="descending"' in page
    by_name = (await ui.client.get("/parts", params={"category": "lamp", "sort": "-name"})).text
    names = re.findall(r'<a href="/parts/\d+">([^<]+)</a>', by_name)
    assert names == sorted(names, reverse=True) and len(names) == 3
    # the htmx fragment sorts the same way
    fragment = await ui.client.get("/parts/search", params={"category": "lamp", "sort": "-code"})
    assert ROW_CODES.findall(fragment.text) == ["VW1-0004", "VW1-0003", "VW1-0002"]


async def test_part_search_refuses_a_sort_outside_the_whitelist(ui: Ui) -> None:
    await ui.login("reviewer")
    for bad in ("amount_fen", "-relevance;drop", "oe_normalized"):
        r = await ui.client.get(
            "/parts", params={"q": "灯", "sort": bad}, headers={"accept": "text/html"}
        )
        assert r.status_code == 422, (bad, r.status_code)
        assert "排序" in r.text
        r = await ui.client.get("/parts/export.csv", params={"q": "灯", "sort": bad})
        assert r.status_code == 422


async def test_part_search_export_is_the_filtered_list(ui: Ui) -> None:
    await ui.login("reviewer")
    page = (await ui.client.get("/parts", params={"category": "lamp", "sort": "-code"})).text
    export = link_in(page, r'<a class="export" href="([^"]+)"')
    r = await ui.client.get(export)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = read_export(r.content)
    assert rows[0][:5] == ["编码", "标准名称", "分类", "方位", "原厂编号"]
    assert [row[0] for row in rows[1:]] == ROW_CODES.findall(page)  # the same rows, same order
    lamp = next(row for row in rows[1:] if row[0] == "VW1-0002")
    assert lamp[1] == "前大灯总成（左）" and lamp[2] == "灯具" and lamp[5] == "是"
    assert lamp[6] == "大众 朗逸"
    # the reference price column: yuan with two decimals as on the page, or empty
    assert all(re.fullmatch(r"|\d+\.\d{2}", row[7]) for row in rows[1:])
    # the body category holds the fender only; its system 4S price in force is 1050.00
    rows = read_export(
        (await ui.client.get("/parts/export.csv", params={"category": "body"})).content
    )
    assert [(row[0], row[7]) for row in rows[1:]] == [("VW1-0001", "1050.00")]


# --- validations: sorting and export ----------------------------------------------------------


def _store_validations(ui: Ui) -> None:
    """Three estimates at SZ01: claimed 1280.00 (flagged), 1500.50 and 300.00."""
    from tests.estimate_data import CONFIG

    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            review_config.import_review_config(session, CONFIG, actor="test", reason="test config")
            fender = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
            lamp = session.scalar(select(Part.id).where(Part.code == "VW1-0002"))
            bulb = session.scalar(select(Part.id).where(Part.code == "VW1-0003"))
            model = session.scalar(
                select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023")
            )
            for estimate_id, part, unit, price_type, day in (
                ("E-S-B", lamp, "1500.50", "brand", "2025-09-11"),
                ("E-S-A", fender, "1280.00", "4s", "2025-09-10"),
                ("E-S-C", bulb, "300.00", "4s", "2025-09-12"),
            ):
                body = {
                    "estimate_id": estimate_id,
                    "version": 1,
                    "date": day,
                    "branch": "SZ01",
                    "submitted_at": f"{day}T10:00:00+08:00",
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


ESTIMATE_IDS = re.compile(r'<a href="/validations/\d+">([^<]+)</a>')


async def test_validations_sort_and_export_the_filtered_list(ui: Ui) -> None:
    _store_validations(ui)
    await ui.login("reviewer")
    newest = (await ui.client.get("/validations")).text
    assert ESTIMATE_IDS.findall(newest) == ["E-S-C", "E-S-A", "E-S-B"]  # newest first
    claimed = (await ui.client.get("/validations", params={"sort": "claimed"})).text
    assert ESTIMATE_IDS.findall(claimed) == ["E-S-C", "E-S-A", "E-S-B"]
    assert 'aria-sort="ascending"' in claimed
    by_date = (await ui.client.get("/validations", params={"sort": "-estimate_date"})).text
    assert ESTIMATE_IDS.findall(by_date) == ["E-S-C", "E-S-B", "E-S-A"]
    by_id = (await ui.client.get("/validations", params={"sort": "estimate_id"})).text
    assert ESTIMATE_IDS.findall(by_id) == ["E-S-A", "E-S-B", "E-S-C"]
    # the header of the sorted column flips it, keeping the filters
    flagged = (
        await ui.client.get("/validations", params={"from": "2025-09-11", "sort": "-claimed"})
    ).text
    assert ESTIMATE_IDS.findall(flagged) == ["E-S-B", "E-S-C"]
    flip = link_in(
        flagged, r'<th class="num" aria-sort="descending"><a class="sort" href="([^"]+)"'
    )
    assert ESTIMATE_IDS.findall((await ui.client.get(flip)).text) == ["E-S-C", "E-S-B"]
    # export: exactly the filtered rows, in the list's order, money as yuan text
    rows = read_export(
        (await ui.client.get(link_in(flagged, r'<a class="export" href="([^"]+)"'))).content
    )
    assert rows[0][0] == "定损单号" and rows[0][7] == "报价合计（元）"
    assert [(r[0], r[4], r[6], r[7]) for r in rows[1:]] == [
        ("E-S-B", "SZ01", "理赔系统", "1500.50"),
        ("E-S-C", "SZ01", "理赔系统", "300.00"),
    ]
    everything = read_export((await ui.client.get("/validations/export.csv")).content)
    assert [r[0] for r in everything[1:]] == ["E-S-C", "E-S-A", "E-S-B"]
    assert (await ui.client.get("/validations", params={"sort": "request"})).status_code == 422


def _sheet(body: bytes) -> list[tuple[object, ...]]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(body))
    return [tuple(c.value for c in row) for row in workbook.active.iter_rows()]


async def test_validations_export_as_xlsx_with_typed_cells(ui: Ui) -> None:
    _store_validations(ui)
    await ui.login("reviewer")
    page = await ui.client.get("/validations", params={"from": "2025-09-11", "sort": "-claimed"})
    href = link_in(page.text, r'<a class="export" href="(/validations/export\.xlsx[^"]+)"')
    r = await ui.client.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert (
        "filename*=UTF-8''%E6%A0%B8%E6%8D%9F%E8%AE%B0%E5%BD%95.xlsx"
        in r.headers["content-disposition"]
    )  # 核损记录.xlsx
    rows = _sheet(r.content)
    csv_rows = read_export((await ui.client.get(href.replace(".xlsx", ".csv"))).content)
    assert list(rows[0]) == csv_rows[0]  # the same Chinese headers
    assert [r[0] for r in rows[1:]] == ["E-S-B", "E-S-C"]  # the same rows, in the same order
    first = rows[1]
    assert first[2] == datetime(2025, 9, 11) and first[4] == "SZ01" and first[6] == "理赔系统"
    assert first[7] == 1500.5 and rows[2][7] == 300  # numbers a spreadsheet can add up
    assert isinstance(first[5], datetime)  # the validation time, as a time
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet["H2"].number_format == "#,##0.00" and sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["F2"].number_format == "yyyy-mm-dd hh:mm:ss" and sheet["A1"].font.bold
    assert sheet.freeze_panes == "A2" and sheet.column_dimensions["H"].width == 16  # 报价合计（元）


@pytest.mark.parametrize(
    "path",
    ["/parts?category=body", "/audit", "/synonyms", "/labor-rates", "/standard-hours", "/channels"],
)
async def test_every_csv_export_has_an_xlsx_beside_it_with_the_same_table(
    ui: Ui, path: str
) -> None:
    await ui.login("pricing_staff")
    if path == "/audit":
        await _edit_fender(ui, "1111.00", "导出核对")
    page = (await ui.client.get(path)).text
    csv_href = link_in(page, r'href="([^"]*/export\.csv[^"]*)"')
    xlsx_href = link_in(page, r'href="([^"]*/export\.xlsx[^"]*)"')
    assert xlsx_href == csv_href.replace("/export.csv", "/export.xlsx")
    table = read_export((await ui.client.get(csv_href)).content)
    sheet = _sheet((await ui.client.get(xlsx_href)).content)
    assert len(sheet) == len(table) > 1 and list(sheet[0]) == table[0]
    for typed, written in zip(sheet[1:], table[1:], strict=True):
        assert [_as_csv(v, w) for v, w in zip(typed, written, strict=True)] == written


def _as_csv(value: object, written: str) -> str:
    """An XLSX cell as the CSV writes the same value: a number as the CSV's amount when they
    are equal, a day as ISO, a time (UTC) as the CSV's ISO time in UTC."""
    from decimal import Decimal

    if value is None:
        return ""
    if isinstance(value, int | float) and Decimal(str(value)) == Decimal(written):
        return written
    if isinstance(value, datetime):
        if written == value.date().isoformat():
            return written
        return value.isoformat(sep=" ", timespec="seconds") + written[19:]
    return str(value)


def test_xlsx_cells_keep_types_refuse_float_and_neutralise_formulas() -> None:
    from decimal import Decimal

    from api.ui.listing import sheet_value

    assert sheet_value(Decimal("1050.00")) == Decimal("1050.00") and sheet_value(7) == 7
    assert sheet_value("=HYPERLINK(1)") == "'=HYPERLINK(1)" and sheet_value(True) == "是"
    assert sheet_value(date(2026, 1, 2)) == date(2026, 1, 2) and sheet_value(None) is None
    aware = datetime(2026, 1, 2, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    assert sheet_value(aware) == datetime(2026, 1, 2, 0, 30)  # UTC, as the CSV's column says
    with pytest.raises(TypeError):
        sheet_value(1.5)


def test_csv_cells_never_take_a_float_and_neutralise_formulas() -> None:
    from decimal import Decimal

    from api.ui.listing import cell

    assert cell(Decimal("1050.00")) == "1050.00" and cell(Decimal("-3.50")) == "-3.50"
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and cell("前杠") == "前杠"
    assert cell(None) == "" and cell(date(2026, 1, 2)) == "2026-01-02"
    with pytest.raises(TypeError):
        cell(1.5)


# --- the audit log ------------------------------------------------------------------------------

AUDIT_IDS = re.compile(r'<tr data-audit="(\d+)">')


def _audit_row(page: str, audit_id: str) -> str:
    start = page.index(f'<tr data-audit="{audit_id}">')
    return page[start : page.index("</tr>", start)]


async def _edit_fender(ui: Ui, amount: str, reason: str) -> int:
    part_id = part_id_of(ui.settings, "VW1-0001")
    r = await ui.post(
        f"/parts/{part_id}/prices",
        {
            "target": "branch:SZ01",
            "price_type": "4s",
            "amount": amount,
            "valid_from": date.today().isoformat(),
            "valid_to": "2027-01-01" if date.today() < date(2027, 1, 1) else "",
            "reason": reason,
            "seen": await ui.seen(part_id),
        },
    )
    assert r.status_code == 303, r.text
    return part_id


async def test_audit_log_shows_a_price_edit_as_a_diff_with_who_and_why(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = await _edit_fender(ui, "1234.50", "三家4S店询价后调整")
    # the part page links to its history
    part_page = (await ui.client.get(f"/parts/{part_id}")).text
    history = link_in(part_page, r'<a href="([^"]+)" id="history-link">')
    assert history == f"/audit?part={part_id}"
    page = (await ui.client.get(history)).text
    assert "左前翼子板（VW1-0001）" in page and 'id="part-filter"' in page
    ids = AUDIT_IDS.findall(page)
    newest = _audit_row(page, ids[0])
    # the new version: who by name, why, the amount changed from the version it replaced
    assert "新版本替换" in newest and "三家4S店询价后调整" in newest
    assert "<td>test pricing_staff</td>" in newest and "api-key:" not in page
    assert re.search(r'data-field="amount">.*?<del>990\.00</del> → <ins>1234\.50</ins>', newest)
    assert re.search(
        r'data-field="branch_id">.*?<span class="muted">—</span> → <ins>深圳中心支公司</ins>',
        newest,
    )
    assert f'<a href="/parts/{part_id}">左前翼子板（VW1-0001）</a>' in newest
    # the version it closed, and unchanged fields folded away
    closed = _audit_row(page, ids[1])
    assert "结束有效期" in closed and 'data-field="valid_to"' in closed
    folded = newest[newest.index('<details class="unchanged">') :]
    assert 'data-field="valid_to"' in folded and 'data-field="amount"' not in folded
    # the catalogue's import of this part is in its history; the other parts' are not
    imported = page[page.index('<span class="muted">#VW1-0001</span>') :]
    imported = imported[: imported.index("</tr>")]
    assert re.search(r'data-field="category_id">.*?<ins>外观件</ins>', imported)  # not its id
    assert 'data-field="id"' not in imported
    assert "VW1-0002" not in page


async def test_audit_log_filters_sorts_and_exports(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = await _edit_fender(ui, "1111.00", "第一次")
    today = date.today().isoformat()

    async def listed(**params: str) -> list[str]:
        return AUDIT_IDS.findall((await ui.client.get("/audit", params=params)).text)

    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            # a key's writes are recorded as `api-key:<id>:<name>`; `who` is its name
            batch, _ = keys.create_key(session, name="批量", role="pricing_staff", actor="t")
            audit.record_many(
                session,
                [
                    {
                        "actor": f"api-key:{batch.id}:批量",
                        "action": "update",
                        "entity": "channels",
                        "entity_id": n,
                        "before": {"name": "旧"},
                        "after": {"name": "新"},
                        "reason": "批量",
                    }
                    for n in range(60)
                ],
            )
    finally:
        engine.dispose()
    first_page = (await ui.client.get("/audit", params={"who": "批量"})).text
    assert len(AUDIT_IDS.findall(first_page)) == 50 and "第 1 / 2 页" in first_page
    second = (await ui.client.get(link_in(first_page, r'<a href="([^"]+)" rel="next">'))).text
    assert "who=" in link_in(first_page, r'<a href="([^"]+)" rel="next">')
    assert len(AUDIT_IDS.findall(second)) == 10
    assert not set(AUDIT_IDS.findall(second)) & set(AUDIT_IDS.findall(first_page))
    mine = await listed(who="test pricing_staff")
    assert len(mine) == 2
    assert await listed(who="nobody") == []
    closes = await listed(action="close", who="test pricing_staff")
    assert len(closes) == 1 and closes[0] in mine
    assert await listed(action="supersede", part=str(part_id)) == [mine[0]]
    assert await listed(who="test pricing_staff", **{"from": today, "to": today}) == mine
    tomorrow = date.fromordinal(date.today().toordinal() + 1).isoformat()
    assert await listed(**{"from": tomorrow}) == []
    assert await listed(entity="prices", entity_id="999999") == []
    # oldest first / newest first
    newest_first = await listed(part=str(part_id))
    oldest_first = await listed(part=str(part_id), sort="at")
    assert oldest_first == list(reversed(newest_first)) and len(newest_first) >= 3
    page = (await ui.client.get("/audit", params={"part": str(part_id)})).text
    assert 'aria-sort="descending"' in page
    # the export is every filtered row, in order, with what changed
    rows = read_export(
        (await ui.client.get(link_in(page, r'<a class="export" href="([^"]+)"'))).content
    )
    assert rows[0][:4] == ["时间（UTC）", "操作人", "操作", "对象"]
    assert len(rows) - 1 == len(newest_first)
    first = rows[1]
    assert first[1] == "test pricing_staff" and first[2] == "新版本替换" and first[3] == "配件价格"
    assert first[5] == "左前翼子板（VW1-0001）" and "金额（元）：990.00 → 1111.00" in first[6]
    assert json.loads(first[8])["amount"] == "1111.00" and first[9] == "第一次"
    all_rows = read_export(
        (await ui.client.get("/audit/export.csv", params={"who": "批量"})).content
    )
    assert len(all_rows) - 1 == 60  # every page, not the first
    assert all_rows[1][6] == "名称：旧 → 新"
    assert (await ui.client.get("/audit", params={"sort": "actor"})).status_code == 422
    assert (await ui.client.get("/audit", params={"part": "999999"})).status_code == 404


async def test_reviewers_may_read_the_audit_log_but_not_the_api_keys_rows(ui: Ui) -> None:
    await ui.login("pricing_staff")
    keys = await ui.client.get("/audit", params={"entity": "api_key"})
    assert len(AUDIT_IDS.findall(keys.text)) == 4  # the test catalogue's key per role
    assert (await ui.post("/logout", {})).status_code == 303
    await ui.login("reviewer")
    page = await ui.client.get("/audit")
    assert page.status_code == 200 and "操作日志" in page.text
    assert '<a href="/audit" class="on">操作日志</a>' in page.text
    assert 'value="api_key"' not in page.text and "API 密钥" not in page.text
    assert AUDIT_IDS.findall((await ui.client.get("/audit?entity=api_key")).text) == []
    rows = read_export((await ui.client.get("/audit/export.csv")).content)
    assert len(rows) > 1 and all(row[3] != "API 密钥" for row in rows[1:])


# --- part aliases -------------------------------------------------------------------------------

ALIAS_ETAG = re.compile(
    r'<form method="post" action="/parts/\d+/aliases#aliases"[^>]*>.*?'
    r'name="alias_etag" value="([^"]*)"',
    re.S,
)
ALIAS_ERROR = re.compile(r'id="alias-error" role="alert">([^<]*)<')


def _unescape(value: str) -> str:
    return value.replace("&#34;", '"').replace("&quot;", '"')


async def _alias_etag(ui: Ui, part_id: int) -> str:
    match = ALIAS_ETAG.search((await ui.client.get(f"/parts/{part_id}")).text)
    assert match, "the add form carries the alias set's ETag"
    return _unescape(match.group(1))


async def test_staff_add_and_remove_an_alias_with_a_reason(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0002")
    r = await ui.post(
        f"/parts/{part_id}/aliases",
        {
            "alias": "左头灯",
            "reason": "定损单常见写法",
            "alias_etag": await _alias_etag(ui, part_id),
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("#aliases")
    page = (await ui.client.get(r.headers["location"])).text
    assert "已添加别名“左头灯”" in page and '<tr data-alias="左头灯">' in page
    assert f'href="/audit?part={part_id}&amp;entity=part_aliases"' in page
    # search finds the part by its new alias
    found = (await ui.client.get("/parts", params={"q": "左头灯"})).text
    assert ROW_CODES.findall(found) == ["VW1-0002"]
    # audited with who and why, linked to the part
    log = await ui.client.get("/audit", params={"part": str(part_id), "entity": "part_aliases"})
    row = _audit_row(log.text, AUDIT_IDS.findall(log.text)[0])
    assert "定损单常见写法" in row and re.search(r'data-field="alias">.*?<ins>左头灯</ins>', row)
    assert re.search(r'data-field="part_id">.*?<ins>前大灯总成（左）（VW1-0002）</ins>', row)
    # removed, with a reason
    r = await ui.post(
        f"/parts/{part_id}/aliases/remove",
        {"alias": "左头灯", "reason": "与右侧混淆", "alias_etag": await _alias_etag(ui, part_id)},
    )
    assert r.status_code == 303, r.text
    page = (await ui.client.get(r.headers["location"])).text
    assert "已删除别名“左头灯”" in page and 'data-alias="左头灯"' not in page
    assert ROW_CODES.findall((await ui.client.get("/parts", params={"q": "左头灯"})).text) == []


@pytest.mark.parametrize("field", ["reason", "alias"])
async def test_a_form_field_with_nul_is_refused_in_chinese_and_saves_nothing(
    ui: Ui, field: str
) -> None:
    """Found after schemathesis's NUL in the API: a reason with NUL reached PostgreSQL from the
    UI's forms (500; SQLite stored it). Every UI form is read for NUL before its page is."""
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0002")
    data = {
        "alias": "左头灯",
        "reason": "定损单常见写法",
        "alias_etag": await _alias_etag(ui, part_id),
    }
    data[field] += "\x00"
    r = await ui.post(f"/parts/{part_id}/aliases", data)
    assert r.status_code == 422, r.text
    shown = re.search(r'<p class="flash error">([^<]*)</p>', r.text).group(1)
    assert "空字符（NUL）" in shown and not ENGLISH.search(shown.replace("NUL", "")), shown
    assert 'data-alias="左头灯"' not in (await ui.client.get(f"/parts/{part_id}")).text


async def test_a_stale_alias_form_is_refused_in_chinese_and_loses_nothing(ui: Ui) -> None:
    """Two tabs on one part: the first adds an alias; the second's add (or remove) is refused
    with a Chinese conflict message, keeps what was typed, and shows the aliases as they are
    now, so saving again from there works."""
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    tab1 = tab2 = await _alias_etag(ui, part_id)
    first = await ui.post(
        f"/parts/{part_id}/aliases",
        {"alias": "左前叶板", "reason": "第一个标签页", "alias_etag": tab1},
    )
    assert first.status_code == 303
    second = await ui.post(
        f"/parts/{part_id}/aliases",
        {"alias": "左叶子板", "reason": "第二个标签页", "alias_etag": tab2},
    )
    assert second.status_code == 412
    shown = ALIAS_ERROR.search(second.text).group(1)
    assert "已被他人修改" in shown and not ENGLISH.search(shown), shown
    assert 'value="左叶子板"' in second.text and 'value="第二个标签页"' in second.text
    assert '<tr data-alias="左前叶板">' in second.text  # the first tab's alias is shown
    fresh = _unescape(ALIAS_ETAG.search(second.text).group(1))
    assert fresh != tab2
    again = await ui.post(
        f"/parts/{part_id}/aliases",
        {"alias": "左叶子板", "reason": "第二个标签页", "alias_etag": fresh},
    )
    assert again.status_code == 303
    stale_remove = await ui.post(
        f"/parts/{part_id}/aliases/remove",
        {"alias": "左前叶板", "reason": "重复", "alias_etag": tab1},
    )
    assert stale_remove.status_code == 412 and "已被他人修改" in stale_remove.text
    assert '<tr data-alias="左前叶板">' in stale_remove.text  # nothing was removed


async def test_alias_form_errors_are_in_chinese(ui: Ui) -> None:
    await ui.login("pricing_staff")
    part_id = part_id_of(ui.settings, "VW1-0001")
    tries = {
        "no reason": ("/aliases", {"alias": "左前叶板", "reason": " "}, 422),
        "no alias": ("/aliases", {"alias": " ", "reason": "x"}, 422),
        "too long": ("/aliases", {"alias": "叶" * 51, "reason": "x"}, 422),
        "no such alias": ("/aliases/remove", {"alias": "没有这个", "reason": "x"}, 404),
        "no etag": ("/aliases", {"alias": "左前叶板", "reason": "x", "alias_etag": ""}, 422),
    }
    for what, (path, form, status) in tries.items():
        data = {"alias_etag": await _alias_etag(ui, part_id), **form}
        r = await ui.post(f"/parts/{part_id}{path}", data)
        assert r.status_code == status, (what, r.status_code)
        shown = ALIAS_ERROR.search(r.text)
        assert shown, what
        assert not ENGLISH.search(shown.group(1)), (what, shown.group(1))


async def test_reviewers_see_aliases_but_cannot_change_them(ui: Ui) -> None:
    await ui.login("reviewer")
    part_id = part_id_of(ui.settings, "VW1-0001")
    page = (await ui.client.get(f"/parts/{part_id}")).text
    assert '<tr data-alias="左前叶">' in page and 'id="alias-add"' not in page
    assert "alias-remove" not in page
    for path in ("/aliases", "/aliases/remove"):
        r = await ui.post(
            f"/parts/{part_id}{path}", {"alias": "左前叶", "reason": "x", "alias_etag": '"x"'}
        )
        assert r.status_code == 403, path


# --- the synonym dictionary ---------------------------------------------------------------------

GROUPS = re.compile(r'<tr data-group="([^"]+)">')
SYNONYM_ERROR = re.compile(r'id="synonym-error" role="alert">([^<]*)<')


def _seen(page: str) -> str:
    return _unescape(re.search(r'name="seen" value="([^"]*)"', page).group(1))


def _group_etag(page: str, canonical: str) -> str:
    row = page[page.index(f'<tr data-group="{canonical}">') :]
    return _unescape(re.search(r'name="etag" value="([^"]*)"', row).group(1))


async def test_synonym_dictionary_lists_searches_sorts_pages_and_exports(ui: Ui) -> None:
    from pricebook.matching.synonyms import default_synonym_groups

    shipped = default_synonym_groups()
    await ui.login("reviewer")
    page = (await ui.client.get("/synonyms")).text
    assert f"共 {len(shipped)} 组" in page and "内置词典" in page
    assert GROUPS.findall(page) == [g[0] for g in shipped[:50]]  # dictionary order, 50 a page
    second = (await ui.client.get(link_in(page, r'<a href="([^"]+)" rel="next">'))).text
    assert GROUPS.findall(second) == [g[0] for g in shipped[50:100]]
    # search: a word anywhere in a group
    found = (await ui.client.get("/synonyms", params={"q": "叶子板"})).text
    assert GROUPS.findall(found) == [g[0] for g in shipped if any("叶子板" in t for t in g)]
    assert "翼子板" in GROUPS.findall(found)
    # by size, largest first; by canonical word and back
    by_size = GROUPS.findall((await ui.client.get("/synonyms", params={"sort": "-size"})).text)
    sizes = {g[0]: len(g) for g in shipped}
    assert [sizes[c] for c in by_size] == sorted(sizes.values(), reverse=True)[:50]
    up = (await ui.client.get("/synonyms", params={"sort": "canonical"})).text
    down = await ui.client.get(link_in(up, r'aria-sort="ascending"><a class="sort" href="([^"]+)"'))
    assert GROUPS.findall(up) != GROUPS.findall(page)
    assert 'aria-sort="descending"' in down.text
    everything_down = read_export(
        (await ui.client.get("/synonyms/export.csv", params={"sort": "-canonical"})).content
    )
    everything_up = read_export(
        (await ui.client.get("/synonyms/export.csv", params={"sort": "canonical"})).content
    )
    order_up = list(dict.fromkeys(r[0] for r in everything_up[1:]))
    assert order_up[:50] == GROUPS.findall(up)
    assert list(dict.fromkeys(r[0] for r in everything_down[1:])) == list(reversed(order_up))
    # the export of a search is its groups, one row per word, in the import's columns
    rows = read_export(
        (await ui.client.get(link_in(found, r'<a class="export" href="([^"]+)"'))).content
    )
    assert rows[0] == ["canonical", "term"]
    assert rows[1:] == [[g[0], t] for g in shipped if any("叶子板" in t for t in g) for t in g]
    # reviewers read it but cannot change it
    assert 'id="synonym-add"' not in page and "synonym-remove" not in page
    for path in ("/synonyms/terms", "/synonyms/terms/remove"):
        r = await ui.post(path, {"canonical": "翼子板", "term": "鸟板", "reason": "x"})
        assert r.status_code == 403, path
    assert (await ui.client.get("/synonyms", params={"sort": "term"})).status_code == 422


async def test_staff_add_a_synonym_the_matcher_then_uses_and_remove_it(ui: Ui) -> None:
    from pricebook.matching.loader import build_snapshot

    engine = make_engine(ui.settings)

    def best(name: str) -> str | None:
        with transaction(engine) as session:
            found = build_snapshot(session).index.match([name])[0].best
            return found.name if found else None

    try:
        assert best("左前鸟板") != "左前翼子板"
        await ui.login("pricing_staff")
        page = (await ui.client.get("/synonyms")).text
        r = await ui.post(
            "/synonyms/terms",
            {"canonical": "翼子板", "term": "鸟板", "reason": "修理厂俗称", "seen": _seen(page)},
            page="/synonyms",
        )
        assert r.status_code == 303, r.text
        page = (await ui.client.get(r.headers["location"])).text
        assert "已把“鸟板”加入“翼子板”组" in page and '<span class="tag new">鸟板</span>' in page
        assert "数据库" in page  # the first edit stored the dictionary
        assert best("左前鸟板") == "左前翼子板"
        log = link_in(page, r'id="synonym-saved">[^<]*<a href="([^"]+)"')
        row = (await ui.client.get(log)).text
        assert "修理厂俗称" in row and "同义词词典：鸟板" in row
        # a new canonical word starts a group
        r = await ui.post(
            "/synonyms/terms",
            {"canonical": "鸟笼", "term": "鸟笼子", "reason": "新词", "seen": _seen(page)},
            page="/synonyms",
        )
        assert r.status_code == 303, r.text
        page = (await ui.client.get("/synonyms", params={"q": "鸟"})).text
        assert GROUPS.findall(page) == ["翼子板", "鸟笼"]
        # removed with a reason
        r = await ui.post(
            "/synonyms/terms/remove",
            {
                "canonical": "翼子板",
                "term": "鸟板",
                "reason": "误加",
                "etag": _group_etag(page, "翼子板"),
            },
            page="/synonyms",
        )
        assert r.status_code == 303, r.text
        page = (await ui.client.get(r.headers["location"])).text
        assert "已把“鸟板”移出“翼子板”组" in page and ">鸟板<" not in page
        assert best("左前鸟板") != "左前翼子板"
    finally:
        engine.dispose()


async def test_synonym_forms_refuse_stale_and_bad_input_in_chinese(ui: Ui) -> None:
    await ui.login("pricing_staff")
    tab1 = tab2 = (await ui.client.get("/synonyms", params={"q": "翼子板"})).text
    first = await ui.post(
        "/synonyms/terms",
        {"canonical": "翼子板", "term": "翼子版", "reason": "错别字", "seen": _seen(tab1)},
        page="/synonyms",
    )
    assert first.status_code == 303
    second = await ui.post(
        "/synonyms/terms",
        {"canonical": "翼子板", "term": "叶板", "reason": "第二个标签页", "seen": _seen(tab2)},
        page="/synonyms",
    )
    assert second.status_code == 412
    shown = SYNONYM_ERROR.search(second.text).group(1)
    assert "已被他人修改" in shown and not ENGLISH.search(shown), shown
    assert 'value="叶板"' in second.text and 'value="第二个标签页"' in second.text  # kept
    again = await ui.post(
        "/synonyms/terms",
        {
            "canonical": "翼子板",
            "term": "叶板",
            "reason": "第二个标签页",
            "seen": _seen(second.text),
        },
        page="/synonyms",
    )
    assert again.status_code == 303, again.text
    stale_remove = await ui.post(
        "/synonyms/terms/remove",
        {
            "canonical": "翼子板",
            "term": "翼子版",
            "reason": "撤回",
            "etag": _group_etag(tab2, "翼子板"),
        },
        page="/synonyms",
    )
    assert stale_remove.status_code == 412
    fresh = (await ui.client.get("/synonyms", params={"q": "翼子板"})).text
    assert ">翼子版<" in fresh  # nothing removed
    tries = {
        "no reason": ("/synonyms/terms", {"canonical": "翼子板", "term": "翼版子", "reason": " "}, 422),
        "no term": ("/synonyms/terms", {"canonical": "翼子板", "term": " ", "reason": "x"}, 422),
        "another group's": ("/synonyms/terms", {"canonical": "翼子板", "term": "头盖", "reason": "x"}, 409),
        "no seen": ("/synonyms/terms", {"canonical": "翼子板", "term": "翼版子", "reason": "x", "seen": ""}, 422),
        "not in the group": ("/synonyms/terms/remove", {"canonical": "翼子板", "term": "头盖", "reason": "x"}, 404),
        "canonical with terms": ("/synonyms/terms/remove", {"canonical": "翼子板", "term": "翼子板", "reason": "x"}, 422),
    }  # fmt: skip
    for what, (path, form, status) in tries.items():
        page = (await ui.client.get("/synonyms", params={"q": "翼子板"})).text
        data = {"seen": _seen(page), "etag": _group_etag(page, "翼子板"), **form}
        r = await ui.post(path, data, page="/synonyms")
        assert r.status_code == status, (what, r.status_code)
        shown = SYNONYM_ERROR.search(r.text)
        assert shown, what
        assert not ENGLISH.search(shown.group(1)), (what, shown.group(1))


# --- cost and access ----------------------------------------------------------------------------


def _statements(engine, fn) -> int:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_audit_page_and_part_export_cost_the_same_statements_for_few_or_many_rows(
    settings: Settings,
) -> None:
    """A page of the log (with its parts, names and diffs) and the part search export are a
    fixed number of statements, whether they hold 3 rows or 60."""
    from api.ui.audit_log import _find
    from api.ui.parts import _export
    from pricebook.models import Price

    seed(settings)
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            price_ids = session.scalars(select(Price.id)).all()
            part = session.scalar(select(Part).where(Part.code == "VW1-0002"))
            assert part is not None
            batch, _ = keys.create_key(session, name="批量", role="pricing_staff", actor="t")
            actor = f"api-key:{batch.id}:批量"
            audit.record_many(
                session,
                [
                    entry
                    for n in range(20)
                    for entry in (
                        {
                            "actor": actor,
                            "action": "close",
                            "entity": "prices",
                            "entity_id": price_ids[n % len(price_ids)],
                            "before": {"valid_to": None},
                            "after": {"valid_to": "2027-01-01"},
                            "reason": "r",
                        },
                        {
                            "actor": actor,
                            "action": "create",
                            "entity": "part_aliases",
                            "entity_id": 1000 + n,
                            "after": {"part_id": part.id, "alias": f"别{n}"},
                            "reason": "r",
                        },
                        {
                            "actor": actor,
                            "action": "update",
                            "entity": "parts",
                            "entity_id": "VW1-0001",
                            "before": {"category_id": 1},
                            "after": {"category_id": 2, "model_id": 1},
                            "reason": "r",
                        },
                    )
                ],
            )
        filters = {"entity": "", "entity_id": "", "who": "批量", "action": "", "part_id": None,
                   "date_from": None, "date_to": None}  # fmt: skip

        def page(limit: int) -> None:
            with transaction(engine) as session:
                _, entries, _ = _find(session, filters, True, limit, 0)
                assert len(entries) == limit and all(e["link"] for e in entries)

        def export(category: str) -> None:
            with transaction(engine) as session:
                _export(session, "", category, "", "code")

        page(3)  # warm the reference lists' cache
        # three rows hold one of each kind (a price version, an alias, a part row)
        assert _statements(engine, lambda: page(3)) == _statements(engine, lambda: page(60))
        export("lamp")
        assert _statements(engine, lambda: export("body")) == _statements(
            engine, lambda: export("lamp")
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "path",
    [
        "/audit",
        "/audit/export.csv",
        "/synonyms",
        "/synonyms/export.csv",
        "/parts/export.csv",
        "/validations/export.csv",
        "/audit/export.xlsx",
    ],
)
async def test_new_pages_and_exports_need_a_login(ui: Ui, path: str) -> None:
    r = await ui.client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "query", ["/audit?from=2026-13-01", "/audit?page=0", "/audit?part=abc", "/validations?to=x"]
)
async def test_a_filter_the_page_cannot_read_is_explained_in_chinese(ui: Ui, query: str) -> None:
    await ui.login("reviewer")
    r = await ui.client.get(query, headers={"accept": "text/html"})
    assert r.status_code == 400
    shown = re.search(r'<p class="flash error">([^<]*)</p>', r.text).group(1)
    assert shown.startswith("查询条件有误（") and not ENGLISH.search(shown), shown


@pytest.mark.parametrize(
    "query",
    [
        "/parts?q=a%00b",
        "/parts?category=%00",
        "/validations?vin=%00",
        "/validations?estimate_id=a%00",
        "/labor-rates?branch=%00",
    ],
)
async def test_a_filter_with_nul_is_explained_in_chinese_not_a_500(ui: Ui, query: str) -> None:
    """Found with the forms' NUL: each of these filters reached PostgreSQL with NUL (500)."""
    await ui.login("admin")
    r = await ui.client.get(query, headers={"accept": "text/html"})
    assert r.status_code == 400, r.text
    shown = re.search(r'<p class="flash error">([^<]*)</p>', r.text).group(1)
    assert "空字符（NUL）" in shown and not ENGLISH.search(shown.replace("NUL", "")), shown
