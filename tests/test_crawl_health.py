"""Crawls of a shop with labelled prices (tests/market_site/site/d): every stored price equals
the page, and a run that brings back far less than the source's previous runs is recorded as
``suspicious`` with its reasons (`pricebook crawl` exits 1).

The shop: 14 cards on 3 pages, the city in the page header, a pager that declares "共 3 页".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from pricebook import price_words
from pricebook.db import transaction
from pricebook.models import MarketObservation, MarketRun, PriceType, Region
from tests.market_data import load_market_catalog
from tests.market_site.server import MarketSite
from tests.processes import FAST, pricebook

SOURCE = """
name = "fixture_d_labels"
kind = "html"
start_urls = ["{base}/d/list_1.html"]
region = "440300"
price_type = "brand"
price_preference = ["现价", "会员价", "含税价"]
item = "%(item)s"

[pagination]
next = "%(next)s"
last_page = "css:div.pager span.total"

[fields]
name = "css:h3.title"
price = "css:div.price"
price_type = "css:span.tag::text"
region = "xpath://div[@class='shop-header']/span[@class='city']/text()"
"""
GOOD = {"item": "css:div.cards div.card", "next": "css:div.pager a.next::attr(href)"}

#: What each card's price means, in fen; None: the card states no single price.
GROUND_TRUTH: dict[str, int | None] = {
    "大众朗逸 左后叶子板 原厂": 9900,  # 会员价 ¥99
    "本田雅阁 前大灯 左": 128000,  # 含税价 ¥1,280.00
    "比亚迪秦PLUS 左后视镜": 9900,  # VIP价¥99
    "丰田卡罗拉 水箱": 9900,  # ¥99 会员价
    "大众高尔夫 前杠": 128000,  # 1280.00 (含税)
    "日产轩逸 雾灯 右": None,  # ¥99起: a floor, not this listing's price
    "通用 火花塞": 3500,  # ¥35/个
    "大众速腾 后杠": 12000,  # 约¥120
    "本田思域 中网": 42000,  # 原价¥500 现价¥420
    "丰田凯美瑞 前叶子板 右": 52000,  # 市场价 ¥600 会员价 ¥520
    "大众帕萨特 引擎盖": 350000,  # 0.35万元
    "别克英朗 大灯总成 右": 88500,  # 850-920元, the midpoint
    "现代伊兰特 后视镜 左": None,  # 面议
    "奥迪A4L 机油滤清器": None,  # ¥0.00
}


def _source(tmp_path: Path, site: MarketSite, **selectors: str) -> str:
    text = SOURCE % {**GOOD, **selectors}
    path = tmp_path / f"d_{len(list(tmp_path.glob('d_*.toml')))}.toml"
    path.write_text(text.replace("{base}", site.base_url), "utf-8")
    return str(path)


def _crawl(settings, source_file: str):
    return pricebook(
        "crawl",
        "--source-file",
        source_file,
        "--no-drift",
        *FAST,
        database_url=settings.database_url,
        merged=True,
    )


@pytest.mark.postgres_only
@pytest.mark.slow
def test_labelled_prices_stored_as_the_page_means_and_suspicious_runs(settings, engine, tmp_path):
    load_market_catalog(engine)
    with MarketSite() as site:
        good = _crawl(settings, _source(tmp_path, site))
        assert good.returncode == 0, good.stdout
        # 14 cards: 面议 is dropped by the spider (no digit), 3 by the core (起, ¥0.00 … )
        assert "pages 3, items 13: matched" in good.stdout
        assert "dropped: 3 (non_positive 1, price_from 1, price_not_given 1)" in good.stdout
        with transaction(engine) as session:
            guangzhou = session.scalar(select(Region.id).where(Region.code == "440100"))
            stored = {
                o.raw_name: (o.amount_fen, o.region_id)
                for o in session.scalars(select(MarketObservation))
            }
        assert stored == {
            name: (fen, guangzhou) for name, fen in GROUND_TRUTH.items() if fen is not None
        }

        # a valid but wrong item selector: 0 items, suspicious, the warning kept
        wrong_item = _crawl(settings, _source(tmp_path, site, item="css:div.cards li.card"))
        # a valid but wrong pagination selector: 1 page of the 3 the pager declares
        wrong_next = _crawl(
            settings, _source(tmp_path, site, next="css:div.pager a.nxt::attr(href)")
        )
        # the good one again: the 0-item run does not lower the bar (finished runs only)
        again = _crawl(settings, _source(tmp_path, site))

    assert wrong_item.returncode == 1, wrong_item.stdout
    assert "error: 1 of 1 crawl(s) suspicious" in wrong_item.stdout
    assert "  suspicious: 0 listings kept (items 0)" in wrong_item.stdout
    assert wrong_next.returncode == 1, wrong_next.stdout
    assert again.returncode == 0, again.stdout
    with transaction(engine) as session:
        runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
    assert [r.status for r in runs] == ["finished", "suspicious", "suspicious", "finished"]
    first, item_run, next_run, last = (r.stats for r in runs)
    assert first["suspicious"] == [] and first["warnings"] == []
    assert item_run["suspicious"] == ["0 listings kept (items 0)"]  # the pager still worked
    assert item_run["warnings"] == [
        f"fixture_d_labels: no rows match css:div.cards li.card on {site.base_url}/d/list_{n}.html "
        "(layout changed?)"
        for n in (1, 2, 3)
    ]
    assert next_run["suspicious"] == [
        "pages 1: below half the median 3 of the last 1 finished run(s)",
        "listings kept 5: below half the median 11 of the last 1 finished run(s)",
        "pagination stopped before the page count the site declares (1 of 3 pages)",
    ]
    assert next_run["notes"] == ["pages 1, the previous finished run crawled 3"]
    assert next_run["warnings"] == [
        f"pagination stopped at page 1 of 3 the site declares ({site.base_url}/d/list_1.html)"
    ]
    assert (last["suspicious"], last["notes"], last["pages"]) == ([], [], 3)


JSON_SOURCE = """
name = "fixture_d_api"
kind = "json"
start_urls = ["{base}/d/api/parts-1.json"]
region = "440300"
price_type = "brand"
item = "data.list"
%(extra)s

[pagination]
next = "data.next"
last_page = "data.pages"

[fields]
name = "title"
price = "price.text"
price_type = "quality"
region = "city"
"""


def _types_by_source(engine) -> dict[tuple[str, str], str | None]:
    """(source, listing title) → the price type code of its latest observation."""
    with transaction(engine) as session:
        codes = dict(session.execute(select(PriceType.id, PriceType.code)).all())
        rows = session.execute(
            select(
                MarketObservation.source,
                MarketObservation.raw_name,
                MarketObservation.price_type_id,
                MarketObservation.price_type_hint,
            ).order_by(MarketObservation.id)
        ).all()
    return {(s, n): (codes.get(t), hint) for s, n, t, hint in rows}


@pytest.mark.postgres_only
@pytest.mark.slow
def test_both_spiders_read_one_vocabulary_staff_edits_it_and_a_source_overrides_it(
    settings, engine, tmp_path
):
    load_market_catalog(engine)
    with MarketSite() as site:
        html = _source(tmp_path, site)
        api = tmp_path / "api.toml"
        api.write_text((JSON_SOURCE % {"extra": ""}).replace("{base}", site.base_url), "utf-8")
        for source_file in (html, str(api)):
            assert _crawl(settings, source_file).returncode == 0
        first = _types_by_source(engine)
        # HTML 原厂件 and JSON 原厂 / 原厂件: one type; JSON 品牌件: brand
        assert {code for (source, _), (code, hint) in first.items() if "原厂" in hint} == {"oem"}
        assert {s for (s, _), (_, hint) in first.items() if "原厂" in hint} == {
            "fixture_d_labels",
            "fixture_d_api",
        }
        assert first[("fixture_d_api", "丰田卡罗拉 水箱")] == ("brand", "品牌件")
        # the JSON listings' labelled prices, as the page means them
        with transaction(engine) as session:
            fen = dict(
                session.execute(
                    select(MarketObservation.raw_name, MarketObservation.amount_fen).where(
                        MarketObservation.source == "fixture_d_api"
                    )
                ).all()
            )
        assert fen == {"大众朗逸 左后叶子板": 10100, "本田雅阁 前大灯 左": 132000,
                       "丰田卡罗拉 水箱": 128000}  # fmt: skip

        # pricing staff: this market's 原厂件 is the 4S price; the next crawl follows
        with transaction(engine) as session:
            etag = price_words.vocabulary(session).etag
            price_words.set_word(
                session,
                "原厂件",
                "4s",
                actor="staff:li",
                reason="本地原厂件按4S价",
                expected_etag=etag,
            )
        assert _crawl(settings, str(api)).returncode == 0
        second = _types_by_source(engine)
        assert second[("fixture_d_api", "本田雅阁 前大灯 左")] == ("4s", "原厂件")
        assert second[("fixture_d_api", "大众朗逸 左后叶子板")] == ("oem", "原厂")  # unedited

        # this one source says 原厂 means 品牌件 on its site: its word wins, for it alone
        api.write_text(
            (JSON_SOURCE % {"extra": '[price_type_words]\n"原厂" = "brand"'}).replace(
                "{base}", site.base_url
            ),
            "utf-8",
        )
        assert _crawl(settings, str(api)).returncode == 0
        third = _types_by_source(engine)
    assert third[("fixture_d_api", "大众朗逸 左后叶子板")] == ("brand", "原厂")
    assert third[("fixture_d_labels", "大众朗逸 左后叶子板 原厂")] == ("oem", "原厂件")
