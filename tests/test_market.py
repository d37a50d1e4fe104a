"""Market prices in the core: price texts, change-only observations, references, drift, queue.

The catalogue, the scraped listing the tests vary and the title shop's ground truth are in
`tests/market_data.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from pricebook import feedback
from pricebook.db import as_utc, transaction
from pricebook.io.importers import import_rows
from pricebook.market import (
    detect_drift as _detect_drift,
)
from pricebook.market import (
    explain_price,
    ingest_batch,
    ingest_items,
    market_references,
    parse_price,
    pick_reference,
    region_chains,
)
from pricebook.market.crawl import report_from_stats
from pricebook.models import (
    AuditEntry,
    Branch,
    FeedbackItem,
    MarketObservation,
    Part,
    PriceType,
    Region,
    VehicleModel,
)
from tests import catalog_rows
from tests.market_data import (
    NOW,
    TITLES,
    TODAY,
    load_market_catalog,
    market_catalog_rows,
    scraped_item,
)


def detect_drift(session, on=TODAY, **kwargs):
    return _detect_drift(session, on, **kwargs)


# --- price texts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        ("1,450", "元", "1450.00"),
        ("1,260.00", "元", "1260.00"),
        ("¥1,280.00", "元", "1280.00"),
        ("¥ 960", "元", "960.00"),
        ("￥420.00", "元", "420.00"),  # full-width yen sign
        ("１，６５０元", "元", "1650.00"),  # full-width digits and comma
        ("1,650元", "元", "1650.00"),
        ("0.35万元", "元", "3500.00"),
        ("0.42万", "元", "4200.00"),
        ("1.2", "万元", "12000.00"),  # bare number in a source priced in 万元
        ("850-920元", "元", "885.00"),  # a range counts as its midpoint
        ("180-220", "元", "200.00"),
        ("0.3~0.4万元", "元", "3500.00"),
        ("399.5至400", "元", "399.75"),
        ("415.5", "元", "415.50"),
        ("12.345", "元", "12.35"),  # rounded half up to the fen
        ("380元/个", "元", "380.00"),
        ("单价：¥329", "元", "329.00"),
        ("RMB 88", "元", "88.00"),
        ("980", None, "980.00"),
    ],
)
def test_parse_price(raw, unit, expected):
    assert parse_price(raw, unit) == Decimal(expected)
    assert explain_price(raw, unit) == (Decimal(expected), "")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("面议", "price_not_given"),
        ("电询", "price_not_given"),
        ("价格面议", "price_not_given"),
        ("--", "price_not_given"),
        ("", "missing_price"),
        (None, "missing_price"),
        ("0", "non_positive"),
        ("0.00元", "non_positive"),
        ("-380", "unparseable"),
        ("12,5", "unparseable"),
        ("2个380元", "unparseable"),
        ("380元起", "price_from"),  # a floor over variants (tests/test_price_text.py)
        ("920-850元", "invalid_range"),
        ("0755-88880000", "implausible"),  # a phone number, read as a range
        ("13800138000", "implausible"),  # a phone number in the price cell
    ],
)
def test_parse_price_refuses_with_a_reason(raw, reason):
    assert parse_price(raw) is None
    assert explain_price(raw) == (None, reason)


# --- ingest: matching and change-only history -------------------------------------------------


def _ids(session):
    parts = {code: id_ for id_, code in session.execute(select(Part.id, Part.code))}
    types = {code: id_ for id_, code in session.execute(select(PriceType.id, PriceType.code))}
    regions = {code: id_ for id_, code in session.execute(select(Region.id, Region.code))}
    branches = {code: id_ for id_, code in session.execute(select(Branch.id, Branch.code))}
    return parts, types, regions, branches


def test_ingest_matches_stores_and_records_changes_only(engine):
    load_market_catalog(engine)
    items = [
        scraped_item("前杠", "1,450", raw_oe="5G0 807 221 A", price_type_hint="原厂件",
              raw_brand_text="大众 高尔夫7 2014-2019"),
        scraped_item("左前叶子板", "380", raw_oe="5G0-821-105"),  # superseded OE
        scraped_item("机油 4L", "¥398"),  # no OE: the matching engine
        scraped_item("雾灯 右", "85", price_type_hint="适用件"),  # not in the catalogue
        scraped_item("中网", "面议"),
        scraped_item("", "100"),
        scraped_item("发动机油", "329", raw_region="苏州", region_code="320500"),
    ]  # fmt: skip
    result = ingest_items(engine, items, None)
    assert (result.items, result.matched, result.unmatched, result.dropped) == (7, 4, 1, 2)
    assert result.dropped_by_reason == {"price_not_given": 1, "missing_name": 1}
    assert (result.new, result.updated_last_seen) == (5, 0)

    with transaction(engine) as session:
        parts, types, regions, _ = _ids(session)
        rows = {o.raw_name: o for o in session.scalars(select(MarketObservation))}
        bumper = rows["前杠"]
        assert (bumper.part_id, bumper.match_reason, bumper.confidence_bp) == (
            parts["GF7-0001"],
            "oe_exact",
            10000,
        )
        assert bumper.price_type_id == types["oem"]  # 原厂件 → 市场原厂件 where it exists
        assert bumper.amount_fen == 145000 and bumper.raw_price == "1,450"
        assert bumper.model_id is not None  # 高尔夫 has one model in this catalogue
        assert rows["左前叶子板"].part_id == parts["VW1-0001"]
        assert rows["左前叶子板"].match_reason == "oe_superseded"
        oil = rows["机油 4L"]
        assert oil.part_id == parts["OIL-0001"] and oil.status == "matched"
        assert oil.match_reason == "alias_exact" and oil.confidence_bp >= 7500
        assert oil.region_id == regions["440300"] and oil.price_type_id == types["brand"]
        fog = rows["雾灯 右"]
        assert (fog.status, fog.part_id) == ("unmatched", None)
        assert fog.price_type_id == types["compatible"]
        assert rows["发动机油"].region_id == regions["320500"]

    # Same prices again, a day later: no new rows, last_seen moves.
    later = [dict(i, fetched_at=(NOW + timedelta(days=1)).isoformat()) for i in items]
    again = ingest_items(engine, later, None)
    assert (again.new, again.updated_last_seen) == (0, 5)
    # A new price for one listing: one new row; the old one keeps its period.
    changed = [dict(items[2], raw_price="420", fetched_at=(NOW + timedelta(days=2)).isoformat())]
    assert ingest_items(engine, changed, None).new == 1
    with transaction(engine) as session:
        oil_rows = session.scalars(
            select(MarketObservation)
            .where(MarketObservation.raw_name == "机油 4L")
            .order_by(MarketObservation.id)
        ).all()
        assert [o.amount_fen for o in oil_rows] == [39800, 42000]
        first_seen = oil_rows[0].first_seen.replace(tzinfo=None)
        last_seen = oil_rows[0].last_seen.replace(tzinfo=None)
        assert first_seen == NOW.replace(tzinfo=None)
        assert last_seen == (NOW + timedelta(days=1)).replace(tzinfo=None)
        assert session.scalar(select(func.count()).select_from(MarketObservation)) == 6


def test_ingest_batch_costs_a_constant_number_of_statements(engine):
    load_market_catalog(engine)
    ingest_items(engine, [scraped_item()], None)  # warm the process's catalogue cache

    def count(items) -> int:
        statements = []

        def listen(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", listen)
        try:
            with transaction(engine) as session:
                ingest_batch(session, items, None)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(statements)

    def batch(n: int, offset: int):
        return [
            scraped_item(
                f"机油 {k}L" if k % 3 else "雾灯 右",
                f"{100 + k}",
                raw_oe=f"OE-{k}" if k % 2 else None,
                raw_brand_text=f"车 {k}",
            )
            for k in range(offset, offset + n)
        ]

    small, large = count(batch(5, 0)), count(batch(400, 1000))
    assert small == large == 5  # catalogue version, OE lookup, lock, listing lookup, INSERT
    # listings seen before (last_seen UPDATE) and new ones together: one more, at any size
    mixed_small = count(batch(3, 1000) + batch(3, 9000))
    mixed_large = count(batch(200, 1000) + batch(200, 5000))
    assert mixed_small == mixed_large == 6


def test_ingest_reads_regions_imported_after_its_catalogue_was_kept(engine):
    """Importing regions moves only the `value` generation, not the catalogue's: the next
    batch still reads the new region, and keeps its match index (no catalogue rebuild)."""
    from pricebook.market import _catalog

    load_market_catalog(engine)
    zhuhai = {"raw_region": "珠海", "region_code": None}
    assert ingest_items(engine, [scraped_item("机油 4L", "398", **zhuhai)], None).new == 1
    with transaction(engine) as session:
        index = _catalog(session).index
        import_rows(
            session,
            "regions",
            [{"code": "440400", "name": "珠海市", "level": "city", "parent_code": "440000"}],
            actor="pricing",
            reason="新增珠海市",
        )
    assert ingest_items(engine, [scraped_item("机油 4L", "398", **zhuhai)], None).new == 1
    with transaction(engine) as session:
        assert _catalog(session).index is index
        rows = session.execute(
            select(MarketObservation.region_id, Region.code)
            .outerjoin(Region, Region.id == MarketObservation.region_id)
            .order_by(MarketObservation.id)
        ).all()
    assert [code for _, code in rows] == [None, "440400"]


def test_ingest_matches_with_the_synonym_dictionary_in_force(engine):
    """Market matching uses the index every other caller uses (`pricebook.matching.loader`):
    once staff edit the dictionary, the stored one is the whole of it — a term moved to another
    group does not clash with its shipped group, a removed term no longer applies."""
    load_market_catalog(engine)
    names = ["水箱", "冷却水箱", "水壶"]

    def ingest(source: str) -> dict[str, tuple[str, int | None]]:
        ingest_items(engine, [scraped_item(n, "500", source=source) for n in names], None)
        with transaction(engine) as session:
            rows = session.scalars(
                select(MarketObservation).where(MarketObservation.source == source)
            )
            return {o.raw_name: (o.status, o.part_id) for o in rows}

    with transaction(engine) as session:
        radiator = _ids(session)[0]["TY1-0001"]
    assert ingest("before") == {
        "水箱": ("matched", radiator),  # an alias
        "冷却水箱": ("matched", radiator),  # shipped: 散热器 / 冷却水箱
        "水壶": ("unmatched", None),
    }
    with transaction(engine) as session:
        import_rows(
            session, "synonyms",
            [{"canonical": "冷却液箱", "term": "水箱"},  # moved out of the group of 散热器
             {"canonical": "散热器", "term": "冷却水箱", "remove": "1"},
             {"canonical": "散热器", "term": "水壶"}],
            actor="pricing", reason="test import",
        )  # fmt: skip
    assert ingest("after") == {
        "水箱": ("matched", radiator),
        "冷却水箱": ("unmatched", None),
        "水壶": ("matched", radiator),
    }


# --- sellers kept apart ------------------------------------------------------------------------


def test_the_same_title_from_several_sellers_is_several_listings(engine):
    load_market_catalog(engine)
    oil = {"raw_name": "机油 4L", "raw_oe": None, "raw_brand_text": None}

    def crawl(prices: dict[str, str], when: datetime) -> Any:
        items = [
            scraped_item(price=price, fetched_at=when.isoformat(), **oil, **listing)
            for listing, price in zip(LISTINGS, prices.values(), strict=True)
        ]
        return ingest_items(engine, items)

    LISTINGS = [
        {"seller": "华强汽配"},  # a seller named: title + seller
        {"seller": "南方配件"},
        {"item_id": "SKU-77", "seller": "南方配件"},  # the source's id: that alone
        {"listing_url": "http://m.test/goods/9.html"},  # the listing's own page
    ]
    first = crawl({"a": "398", "b": "420", "c": "380", "d": "405"}, NOW)
    assert (first.new, first.updated_last_seen) == (4, 0)
    # a re-crawl: each listing moves its own last_seen; one seller's new price adds its row
    later = NOW + timedelta(hours=6)
    again = crawl({"a": "398", "b": "420", "c": "390", "d": "405"}, later)
    assert (again.new, again.updated_last_seen) == (1, 3)
    with transaction(engine) as session:
        rows = session.scalars(select(MarketObservation).order_by(MarketObservation.id)).all()
        assert len(rows) == 5
        assert len({r.item_key for r in rows}) == 4
        assert [(r.seller, r.item_id, r.listing_url) for r in rows[:4]] == [
            ("华强汽配", "", ""), ("南方配件", "", ""), ("南方配件", "SKU-77", ""),
            ("", "", "http://m.test/goods/9.html"),
        ]  # fmt: skip
        assert [as_utc(r.last_seen) for r in rows[:2]] == [later, later]
        assert as_utc(rows[2].last_seen) == NOW and rows[4].amount_fen == 39000
        # the market counts each listing once (its latest price), and its distinct sellers
        parts, types, _, _ = _ids(session)
        refs = market_references(session, [parts["OIL-0001"]], TODAY + timedelta(days=1))
        ref = refs[(parts["OIL-0001"], None, types["brand"])]
        assert (ref.count, ref.sellers, ref.sources) == (4, 3, 1)
        assert ref.median == Decimal("401.50")  # 390, 398, 405, 420
        assert ref.as_dict()["sellers"] == 3
        # drift needs as many distinct sellers as observations: 4 listings are 3 sellers' word
        chain = [None]
        assert pick_reference(refs, parts["OIL-0001"], types["brand"], chain, 3) == ref
        assert pick_reference(refs, parts["OIL-0001"], types["brand"], chain, 4) is None
    # an item id keeps its listing when the title changes; a title-keyed one cannot
    renamed = scraped_item(
        "机油 4L 全合成",
        "390",
        fetched_at=(later + timedelta(hours=1)).isoformat(),
        item_id="SKU-77",
        seller="南方配件",
    )
    assert ingest_items(engine, [renamed]).updated_last_seen == 1


def test_listing_key_is_the_item_id_else_the_link_else_title_and_seller():
    from pricebook.market import listing_key

    plain = listing_key("机油 4L", "", "")
    assert listing_key("机油  4L", "", "") == plain  # spaces do not make a listing
    assert listing_key("机油 4L", "", "", seller="华强汽配") != plain
    by_id = listing_key("机油 4L", "", "", item_id="SKU-1", seller="华强汽配")
    assert by_id == listing_key("别的标题", "X1", "大众", item_id="SKU-1")
    assert by_id != listing_key("机油 4L", "", "", item_id="SKU-2")
    by_url = listing_key("机油 4L", "", "", listing_url="http://m.test/g/1")
    assert by_url == listing_key("新标题", "", "", listing_url="http://m.test/g/1")
    assert len({plain, by_id, by_url}) == 3


# --- market reference -------------------------------------------------------------------------


def _observe(engine, prices_by_region: dict[str, list[str]], *, type_hint="品牌件", when=NOW):
    items = []
    for region, prices in prices_by_region.items():
        for n, price in enumerate(prices):
            items.append(
                scraped_item(
                    "机油 4L",
                    price,
                    source=f"shop{n}",
                    region_code=region,
                    price_type_hint=type_hint,
                    fetched_at=when.isoformat(),
                )
            )
    result = ingest_items(engine, items, None)
    assert result.matched == len(items)


def test_market_reference_median_spread_count_and_freshness(engine):
    load_market_catalog(engine)
    _observe(engine, {"440300": ["300", "310", "320", "400"], "440100": ["500"]})
    _observe(engine, {"320500": ["200"]}, when=NOW - timedelta(days=120))  # out of the window
    with transaction(engine) as session:
        parts, types, regions, _ = _ids(session)
        oil, brand = parts["OIL-0001"], types["brand"]
        refs = market_references(session, [oil], TODAY)
        sz = refs[(oil, regions["440300"], brand)]
        assert sz.count == 4 and sz.sources == 4
        assert sz.median == Decimal("315.00")  # (310 + 320) / 2
        assert (sz.p25, sz.p75) == (Decimal("307.50"), Decimal("340.00"))
        assert (sz.low, sz.high) == (Decimal("300.00"), Decimal("400.00"))
        assert sz.latest.replace(tzinfo=None) == NOW.replace(tzinfo=None)
        gd = refs[(oil, regions["440000"], brand)]  # the province includes its cities
        assert gd.count == 5 and gd.median == Decimal("320.00")
        assert refs[(oil, None, brand)].count == 5  # national; the 120-day-old one is out
        assert (oil, regions["320500"], brand) not in refs
        # a longer window brings it back
        wide = market_references(session, [oil], TODAY, window_days=200)
        assert wide[(oil, None, brand)].count == 6
        assert wide[(oil, None, brand)].median == Decimal("315.00")
        chain = [*region_chains(session)[regions["440300"]], None]
        assert pick_reference(refs, oil, brand, chain, 5) == gd
        assert pick_reference(refs, oil, brand, chain, 6) is None
        assert market_references(session, [], TODAY) == {}


# --- drift ------------------------------------------------------------------------------------


def test_drift_opens_one_task_updates_it_and_never_duplicates(engine):
    load_market_catalog(engine)
    # SZ01's localized 品牌件 price is 300; the system one 390.
    _observe(engine, {"440300": ["398"], "440100": ["399"], "320500": ["329"]})
    with transaction(engine) as session:
        parts, types, regions, branches = _ids(session)
        report = detect_drift(session)
        assert (report.checked, report.drifting, report.opened) == (2, 1, 1)
        finding = report.findings[0]
        assert (finding.branch_id, finding.scope) == (branches["SZ01"], "branch")
        assert finding.market.median == Decimal("398.00")
        assert finding.market.region_id == regions["CN"]  # 深圳 1 and 广东 2 are too few
        assert finding.deviation_bp == -2462  # (300 − 398) / 398
    with transaction(engine) as session:
        task = session.scalars(select(FeedbackItem)).one()
        assert (task.kind, task.status, task.part_id) == ("drift", "open", parts["OIL-0001"])
        assert (task.reference_fen, task.observed_fen) == (30000, 39800)
        assert task.branch_id == branches["SZ01"] and task.price_type_id == types["brand"]
        assert task.evidence["market"]["count"] == 3
        assert task.note.startswith("价格 300.00 元比市场中位数 398.00 元低 24.6%，超过阈值 20.0%")
        # the same market again: unchanged
        assert detect_drift(session).unchanged == 1
    # the market moves: the open task is updated, not duplicated
    _observe(engine, {"440300": ["450"]}, when=NOW + timedelta(hours=1))
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.updated) == (0, 1)
        task = session.scalars(select(FeedbackItem)).one()
        assert task.observed_fen == 39900  # median of 450, 399, 329
    # staff reject it: the same price version does not reopen a task …
    with transaction(engine) as session:
        session.execute(update(FeedbackItem).values(status="rejected", resolved_by="staff"))
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.already_resolved) == (0, 1)
    # … a stricter threshold for the branch still only concerns that price version
    with transaction(engine) as session:
        assert detect_drift(session, threshold_pct=30).drifting == 0
        assert detect_drift(session, min_observations=4).checked == 0


def test_drift_tasks_follow_the_market_open_update_close_reopen(engine):
    load_market_catalog(engine)
    # SZ01's localized 品牌件 机油 is 300: the market at 398 → 24.6% below, a task opens
    _observe(engine, {"440300": ["398"], "440100": ["399"], "320500": ["329"]})
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.closed) == (1, 0)
        task_id = report.task_ids[0]
        assert report.tasks == [("opened", task_id)]
        assert f"opened: #{task_id}" in report.summary()
    # the market drops but stays beyond the threshold: the same task, new figures
    _observe(engine, {"440300": ["380"], "440100": ["385"]}, when=NOW + timedelta(hours=1))
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.updated, report.closed) == (0, 1, 0)
        task = session.get(FeedbackItem, task_id)
        assert (task.status, task.observed_fen) == ("open", 38000)  # 380, 385, 329
        assert task.evidence["market"]["median"] == "380.00"
        assert task.evidence["deviation_pct"] == "-21.05"
    # the market comes back within 20% of 300: closed by the market, with the figures that
    # show it, in Chinese for the UI; audited
    _observe(engine, {"440300": ["340"], "440100": ["345"]}, when=NOW + timedelta(hours=2))
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.updated, report.closed) == (0, 0, 1)
        assert report.tasks == [("closed", task_id)]
        assert "closed 1 (back within the threshold)" in report.summary()
        assert f"closed: #{task_id}" in report.summary()
        task = session.get(FeedbackItem, task_id)
        assert (task.status, task.resolved_by, task.observed_fen) == (
            "resolved_by_market",
            "market-drift",
            34000,
        )
        assert task.resolved_at is not None
        assert task.evidence["within_threshold"] is True
        assert task.note.startswith("价格 300.00 元与市场中位数 340.00 元相差 11.8%，已回到阈值")
        assert task.resolution_reason == task.note
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "feedback_items")
        ).all()
        assert "resolve_by_market" in actions
        # nothing left to close, nothing to open: a quiet run
        quiet = detect_drift(session)
        assert (quiet.opened, quiet.updated, quiet.closed, quiet.reopened) == (0, 0, 0, 0)
        assert quiet.tasks == []
    # the gap widens again: the same task reopens (its history stays in one place)
    _observe(engine, {"440300": ["420"], "440100": ["430"]}, when=NOW + timedelta(hours=3))
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.reopened, report.closed) == (0, 1, 0)
        assert report.tasks == [("reopened", task_id)]
        task = session.get(FeedbackItem, task_id)
        assert (task.status, task.resolved_by, task.resolved_at) == ("open", None, None)
        assert task.observed_fen == 42000
        assert session.scalar(select(func.count()).select_from(FeedbackItem)) == 1
    # staff reject it now: a decision the market does not undo, and no new task for that price
    with transaction(engine) as session:
        session.execute(update(FeedbackItem).values(status="rejected", resolved_by="staff"))
    _observe(engine, {"440300": ["340"], "440100": ["345"]}, when=NOW + timedelta(hours=4))
    _observe(engine, {"440300": ["420"], "440100": ["430"]}, when=NOW + timedelta(hours=5))
    with transaction(engine) as session:
        report = detect_drift(session)
        assert (report.opened, report.reopened, report.already_resolved) == (0, 0, 1)
        assert session.get(FeedbackItem, task_id).status == "rejected"


def test_drift_threshold_is_strict_and_overridable_per_branch(engine):
    load_market_catalog(engine)
    # median 375 → SZ01 300 is exactly 20% below: not beyond the threshold
    _observe(engine, {"440300": ["375", "375", "375"]})
    with transaction(engine) as session:
        _, _, _, branches = _ids(session)
        report = detect_drift(session)
        assert report.checked == 2 and report.drifting == 0
        report = detect_drift(session, branch_thresholds={branches["SZ01"]: "19.99"})
        assert report.opened == 1
        # the system price (390, +4%) is compared with the national median too
        report = detect_drift(session, threshold_pct="3.9", branch_thresholds={})
        assert {f.scope for f in report.findings} == {"branch", "system"}
        assert report.opened == 1 and report.updated == 1  # its evidence names the threshold


# --- the queue's uniqueness -------------------------------------------------------------------


def test_one_unresolved_item_per_part_branch_type_and_kind(engine):
    load_market_catalog(engine)
    with transaction(engine) as session:
        parts, types, _, branches = _ids(session)
    key = {"part_id": parts["OIL-0001"], "price_type_id": types["brand"]}

    def add(**values) -> None:
        with transaction(engine) as session:
            session.add(FeedbackItem(**(key | {"kind": "drift", "created_by": "t"} | values)))

    add(branch_id=branches["SZ01"])
    with pytest.raises(IntegrityError):
        add(branch_id=branches["SZ01"], status="need_info")
    add(branch_id=branches["SZ01"], kind="reviewer")  # another kind
    add(branch_id=branches["GD01"])  # another branch
    add(branch_id=branches["SZ01"], status="rejected")  # resolved ones may repeat
    add(branch_id=None)  # the system price
    with pytest.raises(IntegrityError):
        add(branch_id=None)
    with transaction(engine) as session:
        outcome, task_id = feedback.open_or_update_drift(
            session,
            part_id=key["part_id"],
            branch_id=None,
            price_type_id=key["price_type_id"],
            model_id=None,
            reference_fen=100,
            observed_fen=200,
            evidence={"price_id": 1},
        )
        assert outcome == "updated"
        assert (
            feedback.find_unresolved(
                session, "drift", key["part_id"], None, key["price_type_id"]
            ).id
            == task_id
        )


# --- the crawl report -------------------------------------------------------------------------


def test_crawl_report_from_scrapy_stats():
    stats = {
        "finish_reason": "finished", "elapsed_time_seconds": 2.345, "pricebook/pages": 3,
        "pricebook/items": 9, "pricebook/dropped/missing_price": 2,
        "pricebook/ingest/matched": 5, "pricebook/ingest/unmatched": 4,
        "pricebook/ingest/new": 9, "pricebook/ingest/dropped_by_reason/missing_price": 1,
        "pricebook/ingest/dropped_by_reason/unparseable": 1,
        "pricebook/page_errors/http_404": 1, "retry/count": 1, "robotstxt/forbidden": 1,
        "downloader/response_status_count/200": 4,
    }  # fmt: skip
    report = report_from_stats("src", 7, stats)
    assert report.dropped == {"missing_price": 3, "unparseable": 1}
    assert (report.pages, report.items, report.matched, report.unmatched) == (3, 9, 5, 4)
    assert report.page_errors == {"http_404": 1} and report.responses == {"200": 4}
    assert report.elapsed_s == 2.35
    text = "\n".join(report.lines())
    assert "dropped: 4 (missing_price 3, unparseable 1)" in text


# --- shop titles: the vehicle in the title narrows the match ----------------------------------


@pytest.fixture
def demo_engine(engine):
    from pricebook.demo import load_demo

    load_demo(engine)
    return engine


def test_shop_titles_match_within_the_vehicle_they_name(demo_engine):
    items = [
        scraped_item(
            title, "500", source="titles", url=f"http://m.test/item/{n}", price_type_hint="原厂件"
        )
        for n, title in enumerate(TITLES)
    ]
    result = ingest_items(demo_engine, items)
    assert result.dropped == 0
    with transaction(demo_engine) as session:
        codes = dict(session.execute(select(Part.id, Part.code)).all())
        stored = {
            row.raw_name: (codes.get(row.part_id), codes.get(row.suggested_part_id))
            for row in session.execute(
                select(
                    MarketObservation.raw_name,
                    MarketObservation.part_id,
                    MarketObservation.suggested_part_id,
                ).where(MarketObservation.source == "titles")
            )
        }
    assert set(stored) == set(TITLES)
    exists = {t: code for t, code in TITLES.items() if code is not None}
    right = [t for t, code in exists.items() if stored[t][0] == code]
    wrong = [t for t, (got, _) in stored.items() if got is not None and got != TITLES[t]]
    assert wrong == []
    assert len(right) / len(exists) >= 0.9, sorted(set(exists) - set(right))
    # the one left for a person is offered the right vehicle's part
    assert stored["本田雅阁 前杠"][1] in {"HD1-0001", "HD1-0002"}
    # where the vehicle has no such part, another vehicle's part is at most a suggestion
    assert stored["一汽大众速腾 右前大灯总成"] == (None, "VW1-0025")


def test_title_vehicle_words(demo_engine):
    from pricebook.market import _catalog
    from pricebook.models import Brand, Series

    with transaction(demo_engine) as session:
        words = _catalog(session).vehicle_words
        brand = {n: i for i, n in session.execute(select(Brand.id, Brand.name))}
        series = {n: i for i, n in session.execute(select(Series.id, Series.name))}
    found = words.find("一汽-大众 朗逸 2023款 左后叶子板")
    assert (found.brand_id, found.series_id, found.model_year) == (
        brand["大众"],
        series["朗逸"],
        2023,
    )
    assert found.rest == "左后叶子板"
    assert words.find("比亚迪秦plus左后视镜").series_id == series["秦PLUS"]
    assert words.find("昂克赛拉 左大灯").series_id == series["马自达3 昂克赛拉"]
    assert words.find("长安CS75 PLUS 中网").series_id == series["CS75 PLUS"]
    # a one- or two-character series word counts only beside its brand
    assert words.find("比亚迪汉 前杠").series_id == series["汉"]
    assert words.find("汉 前杠").series_id is None
    assert words.find("H6 前杠").series_id is None
    assert words.find("哈弗H6 前杠").rest == "前杠"
    # a brand and another brand's series: nothing trusted, nothing taken out of the name
    mixed = words.find("本田朗逸 前杠")
    assert (mixed.brand_id, mixed.series_id, mixed.rest) == (None, None, "本田朗逸 前杠")
    # Latin series words are whole words: no H6 inside an OE number
    assert words.find("前杠 5GH68072").series_id is None
    # an engine beside a vehicle is taken out; without one, "1.5L" may be a volume
    assert words.find("朗逸 1.5L 前杠").rest == "前杠"
    assert words.find("防冻液 1.5L").rest == "防冻液 1.5l"
    assert words.find("前杠 2019-2022款").rest == "前杠"


# --- the unmatched listings queue: confirm, reject ----------------------------------------------


def test_unmatched_queue_confirm_teaches_the_matcher_and_reject_removes_the_suggestion(
    demo_engine,
):
    from pricebook.errors import Conflict, InvalidInput
    from pricebook.market.review import confirm_listing, reject_suggestion, unmatched_listings

    def title(name: str, n: int, **kw):
        return scraped_item(
            name,
            "500",
            source="titles",
            price_type_hint="原厂件",
            url="http://m.test/list",
            listing_url=f"http://m.test/item/{n}",
            **kw,
        )

    sagitar = "一汽大众速腾 右前大灯总成"  # 速腾 has no parts of its own in the demo catalogue
    bumper = "本田雅阁 前杠"  # skin or assembly: the matcher cannot tell
    ingest_items(demo_engine, [title(sagitar, 1), title(bumper, 2), title("大众朗逸 左后叶子板 原厂", 3),
                               title("丰田卡罗拉 左后轮眉", 4)])  # fmt: skip
    # a second price of listing 2: the queue shows each listing once, its latest row
    ingest_items(
        demo_engine,
        [title(bumper, 2, raw_price="520", fetched_at=(NOW + timedelta(hours=1)).isoformat())],
    )
    with transaction(demo_engine) as session:
        codes = dict(session.execute(select(Part.id, Part.code)).all())
        queue = unmatched_listings(session, source="titles")
        assert queue.total == 3
        by_name = {i.raw_name: i for i in queue.items}
        assert set(by_name) == {sagitar, bumper, "丰田卡罗拉 左后轮眉"}
        assert by_name[bumper].amount == Decimal("520.00")  # the latest price
        assert by_name[bumper].url == "http://m.test/item/2"
        assert by_name[sagitar].suggested_part_code == "VW1-0025"
        assert by_name[sagitar].confidence_bp > 0
        assert unmatched_listings(session, source="elsewhere").total == 0

    # confirm the suggestion: matched now, and learned for the next crawl
    with transaction(demo_engine) as session:
        confirm_listing(session, by_name[sagitar].id, actor="pricing", reason="速腾与朗逸同款")
    with transaction(demo_engine) as session:
        obs = session.get(MarketObservation, by_name[sagitar].id)
        assert (obs.status, codes[obs.part_id], obs.match_reason) == (
            "matched",
            "VW1-0025",
            "learned",
        )
        with pytest.raises(Conflict):
            confirm_listing(session, obs.id, actor="pricing")
    another_seller = title(sagitar, 9, seller="南方配件")
    assert ingest_items(demo_engine, [another_seller]).matched == 1

    # reject the suggestion: gone from the listing, never offered again for that title
    rejected_code = by_name[bumper].suggested_part_code
    with transaction(demo_engine) as session:
        with pytest.raises(InvalidInput) as refused:
            reject_suggestion(session, by_name[bumper].id, actor="pricing")
        assert refused.value.field == "reason"
    with transaction(demo_engine) as session:
        reject_suggestion(session, by_name[bumper].id, actor="pricing", reason="是骨架不是皮")
    ingest_items(demo_engine, [title(bumper, 10)])
    with transaction(demo_engine) as session:
        rows = session.scalars(
            select(MarketObservation).where(MarketObservation.raw_name == bumper)
        ).all()
        offered = {
            r.listing_url: [codes.get(r.part_id), codes.get(r.suggested_part_id)] for r in rows
        }
        assert offered["http://m.test/item/2"] == [None, None]
        # the new listing: the other candidate (matched or suggested), never the rejected one
        assert rejected_code not in offered["http://m.test/item/10"]
        assert {"HD1-0001", "HD1-0002"} - {rejected_code} <= set(offered["http://m.test/item/10"])
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"confirm", "reject", "match_listing", "reject_suggestion"} <= actions

    # a part on the other side is refused; without a suggestion a part must be named
    with transaction(demo_engine) as session:
        lunmei = by_name["丰田卡罗拉 左后轮眉"]
        with pytest.raises(InvalidInput) as side:
            confirm_listing(session, lunmei.id, actor="pricing", part_code="TY1-0019")
        assert side.value.field == "part_code"
        session.execute(
            update(MarketObservation)
            .where(MarketObservation.id == lunmei.id)
            .values(suggested_part_id=None)
        )
        with pytest.raises(InvalidInput) as missing:
            confirm_listing(session, lunmei.id, actor="pricing")
        assert missing.value.field == "part_code"


def test_the_drift_summary_is_kept_in_the_runs_of_the_crawl(engine):
    from pricebook.market.crawl import record_drift
    from pricebook.models import MarketRun

    load_market_catalog(engine)
    with transaction(engine) as session:
        runs = [MarketRun(source=s, status="finished", stats={"items": 3}) for s in ("a", "b")]
        session.add_all(runs)
        session.flush()
        run_ids = [r.id for r in runs]
    # SZ01's 品牌件 机油 is 300, the market 398: a task opens
    _observe(engine, {"440300": ["398"], "440100": ["399"], "320500": ["329"]})
    with transaction(engine) as session:
        opened = detect_drift(session)
        record_drift(session, run_ids, opened)
    task_id = opened.task_ids[0]
    # back within 20% of 300: the market closes it; a later run records that
    _observe(engine, {"440300": ["340"], "440100": ["345"]}, when=NOW + timedelta(hours=1))
    with transaction(engine) as session:
        later = MarketRun(source="a", status="finished", stats={})
        session.add(later)
        session.flush()
        record_drift(session, [later.id], detect_drift(session))
    with transaction(engine) as session:
        stats = {r.id: r.stats for r in session.scalars(select(MarketRun).order_by(MarketRun.id))}
    first = {
        "checked": 2,
        "drifting": 1,
        "opened": 1,
        "reopened": 0,
        "updated": 0,
        "unchanged": 0,
        "closed": 0,
        "already_resolved": 0,
        "tasks": {"opened": [task_id]},
    }
    assert stats[run_ids[0]] == {"items": 3, "drift": first}  # the crawl's own stats kept
    assert stats[run_ids[1]]["drift"] == first
    assert stats[later.id]["drift"] | {"checked": 0} == first | {
        "checked": 0,
        "drifting": 0,
        "opened": 0,
        "closed": 1,
        "tasks": {"closed": [task_id]},
    }


def test_a_series_of_several_models_matches_against_every_models_fitment(engine):
    rows = market_catalog_rows()
    golf7 = next(m for m in rows["models"] if m["model_code"] == "VW-GOLF7-2015")
    rows["models"].append(
        golf7 | {"model_code": "VW-GOLF8-2021", "name": "2021款 1.4T 舒适型", "model_year": "2021"}
    )
    part = dict.fromkeys(rows["parts"][0], "")
    rows["parts"].append(
        part
        | {
            "part_code": "GF8-0001",
            "name": "尾门",
            "aliases": "后备箱盖",
            "category": "body",
            "oe_number": "5H0 827 025",
        }
    )
    rows["fitment"].append({"part_code": "GF8-0001", "model_code": "VW-GOLF8-2021"})
    with transaction(engine) as session:
        catalog_rows.load(session, rows)
    ingest_items(engine, [
        scraped_item("大众高尔夫 尾门 原厂", "2,300"),  # fits the series' second model only
        scraped_item("大众高尔夫 前杠", "1,100"),  # fits its first
        scraped_item("高尔夫 2021款 尾门", "2,250"),  # the year names the one model
    ], None)  # fmt: skip
    with transaction(engine) as session:
        codes = dict(session.execute(select(Part.id, Part.code)).all())
        models = dict(session.execute(select(VehicleModel.id, VehicleModel.code)).all())
        stored = {
            name: (codes.get(part_id), models.get(model_id))
            for name, part_id, model_id in session.execute(
                select(
                    MarketObservation.raw_name,
                    MarketObservation.part_id,
                    MarketObservation.model_id,
                )
            )
        }
    assert stored == {
        "大众高尔夫 尾门 原厂": ("GF8-0001", None),  # two models: none stored
        "大众高尔夫 前杠": ("GF7-0001", None),
        "高尔夫 2021款 尾门": ("GF8-0001", "VW-GOLF8-2021"),
    }
