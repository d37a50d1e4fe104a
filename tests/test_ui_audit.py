"""The staff web UI's lists and maintenance pages: column sorting and CSV export (part search,
validations, audit log, synonyms), the audit log with its diffs, part aliases and the synonym
dictionary. Over HTTP on SQLite and PostgreSQL; the browser walk is in test_browser.py."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest
from sqlalchemy import select

from pricebook import estimates
from pricebook.db import make_engine, transaction
from pricebook.models import Part, VehicleModel
from tests.test_ui import ENGLISH, Ui, _part_id, ui_fixture  # noqa: F401  (the `ui` fixture)

ROW_CODES = re.compile(r'<tr data-part="([^"]+)">')


def _csv(body: bytes) -> list[list[str]]:
    """An export read back as Excel would: a BOM first, then UTF-8 CSV."""
    assert body.startswith("\ufeff".encode()), "a BOM, so Excel reads UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _href(page: str, pattern: str) -> str:
    match = re.search(pattern, page)
    assert match, pattern
    return match.group(1).replace("&amp;", "&")


# --- part search: sorting and export ----------------------------------------------------------


async def test_part_search_sorts_by_a_clicked_column(ui: Ui) -> None:
    await ui.login("reviewer")
    by_code = (await ui.client.get("/parts", params={"category": "lamp", "sort": "code"})).text
    assert ROW_CODES.findall(by_code) == ["VW1-0002", "VW1-0003", "VW1-0004"]
    # the sorted column says so (arrow, aria-sort); its link turns the order round
    assert re.search(r'<th aria-sort="ascending"><a class="sort" href="[^"]*">编码 ', by_code)
    descending = _href(by_code, r'<th aria-sort="ascending"><a class="sort" href="([^"]+)"')
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
    export = _href(page, r'<a class="export" href="([^"]+)"')
    r = await ui.client.get(export)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _csv(r.content)
    assert rows[0][:5] == ["编码", "标准名称", "分类", "方位", "原厂编号"]
    assert [row[0] for row in rows[1:]] == ROW_CODES.findall(page)  # the same rows, same order
    lamp = next(row for row in rows[1:] if row[0] == "VW1-0002")
    assert lamp[1] == "前大灯总成（左）" and lamp[2] == "灯具" and lamp[5] == "是"
    assert lamp[6] == "大众 朗逸"
    # the reference price column: yuan with two decimals as on the page, or empty
    assert all(re.fullmatch(r"|\d+\.\d{2}", row[7]) for row in rows[1:])
    # the body category holds the fender only; its system 4S price in force is 1050.00
    rows = _csv((await ui.client.get("/parts/export.csv", params={"category": "body"})).content)
    assert [(row[0], row[7]) for row in rows[1:]] == [("VW1-0001", "1050.00")]


# --- validations: sorting and export ----------------------------------------------------------


def _store_validations(ui: Ui) -> None:
    """Three estimates at SZ01: claimed 1280.00 (flagged), 1500.50 and 300.00."""
    from tests.test_estimates import CONFIG

    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            estimates.import_review_config(session, CONFIG, actor="test", reason="test config")
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
                    "estimate_id": estimate_id, "version": 1, "date": day, "branch": "SZ01",
                    "submitted_at": f"{day}T10:00:00+08:00",
                    "vehicle": {"model_id": model, "vin": "LSVAB4BR5PN000001"},
                    "shop": {"tier": "4s"},
                    "lines": [{"type": "part", "part_id": part, "claimed_unit_price": unit,
                               "price_type": price_type}],
                }  # fmt: skip
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
    flip = _href(flagged, r'<th class="num" aria-sort="descending"><a class="sort" href="([^"]+)"')
    assert ESTIMATE_IDS.findall((await ui.client.get(flip)).text) == ["E-S-C", "E-S-B"]
    # export: exactly the filtered rows, in the list's order, money as yuan text
    rows = _csv((await ui.client.get(_href(flagged, r'<a class="export" href="([^"]+)"'))).content)
    assert rows[0][0] == "定损单号" and rows[0][7] == "报价合计（元）"
    assert [(r[0], r[4], r[6], r[7]) for r in rows[1:]] == [
        ("E-S-B", "SZ01", "理赔系统", "1500.50"),
        ("E-S-C", "SZ01", "理赔系统", "300.00"),
    ]
    everything = _csv((await ui.client.get("/validations/export.csv")).content)
    assert [r[0] for r in everything[1:]] == ["E-S-C", "E-S-A", "E-S-B"]
    assert (await ui.client.get("/validations", params={"sort": "request"})).status_code == 422


def test_csv_cells_never_take_a_float_and_neutralise_formulas() -> None:
    from decimal import Decimal

    from api.ui.listing import cell

    assert cell(Decimal("1050.00")) == "1050.00" and cell(Decimal("-3.50")) == "-3.50"
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and cell("前杠") == "前杠"
    assert cell(None) == "" and cell(date(2026, 1, 2)) == "2026-01-02"
    with pytest.raises(TypeError):
        cell(1.5)
