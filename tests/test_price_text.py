"""Labelled market price texts: every format read as the page means it, or dropped with a reason.

Each worked example states what the page means (the Decimal yuan a pricing desk would write
down); the parser must store exactly that or nothing.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from pricebook.db import transaction
from pricebook.market import explain_price, ingest_items, parse_price, read_price
from pricebook.market.price_text import DEFAULT_PRICE_PREFERENCE
from pricebook.models import MarketObservation
from scrapers.sources import SourceError, parse_source
from tests.market_data import load_market_catalog, scraped_item

# (page text, what the page means in yuan, the label of the price chosen)
WORKED_EXAMPLES = [
    ("会员价 ¥99", "99.00", "会员价"),
    ("含税价 ¥1,280.00", "1280.00", "含税价"),
    ("VIP价¥99", "99.00", "会员价"),
    ("¥99 会员价", "99.00", "会员价"),
    ("1280.00 (含税)", "1280.00", "含税价"),
    ("1280.00（含税）", "1280.00", "含税价"),  # full-width brackets
    ("¥35/个", "35.00", ""),
    ("约¥120", "120.00", ""),
    ("大约 120元", "120.00", ""),
    ("原价¥500 现价¥420", "420.00", "现价"),
    ("现价¥420 原价¥500", "420.00", "现价"),
    ("¥420 原价¥500", "420.00", ""),  # the unlabelled price is the selling one
    ("市场价 ¥600 会员价 ¥520", "520.00", "会员价"),
    ("¥99 会员价 ¥120 原价", "99.00", "会员价"),  # labels after their prices
    ("含税价¥1,280.00(含税)", "1280.00", "含税价"),
    ("售价：¥1,280.00 含税", "1280.00", "现价"),
    ("含税价 ¥1,280.00 不含税价 ¥1,132.74", "1280.00", "含税价"),
    ("促销价 ￥388 划线价 ￥458", "388.00", "现价"),
    ("会员价 0.35万元", "3500.00", "会员价"),
    ("会员价 850-920元", "885.00", "会员价"),  # a range still counts as its midpoint
    ("参考价 ¥660", "660.00", "市场价"),  # one price: whatever its label, it is the price
    ("原价¥500", "500.00", "原价"),
    ("会员价格：¥99", "99.00", "会员价"),
    ("市场价格 ¥600 销售价格 ¥520", "520.00", "现价"),
]


@pytest.mark.parametrize(("raw", "expected", "label"), WORKED_EXAMPLES)
def test_labelled_price_texts_read_as_the_page_means(raw, expected, label):
    reading = read_price(raw)
    assert (reading.amount, reading.reason, reading.label) == (Decimal(expected), "", label)
    assert parse_price(raw) == Decimal(expected)


def test_approximate_prices_are_kept_and_say_so():
    assert read_price("约¥120").approximate
    assert not read_price("¥120").approximate


@pytest.mark.parametrize(
    ("raw", "amount", "stored"),
    [
        ("约¥420", "420.00", "约"),
        ("会员价 ¥99", "99.00", "会员价"),
        ("¥99 会员价", "99.00", "会员价"),
        ("约 会员价¥380", "380.00", "约 会员价"),  # 约 before the label still qualifies the price
        ("会员价约¥380", "380.00", "约 会员价"),
        ("1280.00 (含税)", "1280.00", "含税价"),
        ("¥1,280.00", "1280.00", None),
    ],
)
def test_the_label_an_observation_keeps(raw, amount, stored):
    reading = read_price(raw)
    assert (reading.amount, reading.stored_label) == (Decimal(amount), stored)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("¥99起", "price_from"),  # a floor over variants, not this listing's price
        ("99元起", "price_from"),
        ("380元/个起", "price_from"),
        ("会员价 ¥99起", "price_from"),
        ("¥99 ¥120", "ambiguous"),  # two unlabelled prices: which one?
        ("现价¥99 现价¥120", "ambiguous"),
        ("会员价", "price_not_given"),
        ("会员价 面议", "price_not_given"),
        ("¥99 约", "unparseable"),  # 约 before nothing
        ("会员价含税价¥99", "unparseable"),  # two labels before one price
        ("¥99 会员价 原价", "unparseable"),  # two labels after one price
        ("¥99 运费¥10", "unparseable"),  # words we do not know are never guessed at
        ("¥70/2个", "unparseable"),
    ],
)
def test_price_texts_we_cannot_state_are_dropped_with_a_reason(raw, reason):
    assert explain_price(raw) == (None, reason)


def test_a_source_preference_decides_two_prices():
    text = "市场价 ¥600 会员价 ¥520 含税价 ¥560"
    assert parse_price(text) == Decimal("520.00")  # default: 会员价 before 含税价
    assert parse_price(text, preference=["含税价", "会员价"]) == Decimal("560.00")
    assert parse_price(text, preference=["市场价"]) == Decimal("600.00")
    # labels a source does not list keep the default order after the listed ones
    assert parse_price("原价¥500 现价¥420", preference=["会员价"]) == Decimal("420.00")
    assert DEFAULT_PRICE_PREFERENCE.index("现价") < DEFAULT_PRICE_PREFERENCE.index("原价")


def test_source_files_take_a_price_preference():
    base = {
        "name": "s1",
        "kind": "html",
        "start_urls": ["http://m.test/"],
        "region": "440300",
        "item": "css:li",
        "fields": {"name": "css:.n", "price": "css:.p"},
    }
    src = parse_source({**base, "price_preference": ["VIP价", "现价", "含税"]})
    assert src.price_preference == ("会员价", "现价", "含税价")
    assert parse_source(base).price_preference == ()
    with pytest.raises(SourceError) as exc:
        parse_source({**base, "price_preference": ["现价", "批发价"]})
    assert "field 'price_preference[1]': '批发价' is not a price label" in str(exc.value)
    with pytest.raises(SourceError, match="field 'price_preference': a list of price labels"):
        parse_source({**base, "price_preference": "现价"})


def test_stored_prices_equal_what_the_page_means(engine):
    """Every worked example through ingest: the stored fen are the page's price, nothing else
    is stored, and the drops are counted by reason."""
    load_market_catalog(engine)
    items = [
        scraped_item(f"雾灯 {i}", raw, raw_oe=None) for i, (raw, _, _) in enumerate(WORKED_EXAMPLES)
    ]
    items += [scraped_item("雾灯 起", "¥99起"), scraped_item("雾灯 两价", "¥99 ¥120")]
    items.append(scraped_item("雾灯 偏好", "市场价 ¥600 会员价 ¥520", price_preference=["市场价"]))
    result = ingest_items(engine, items, None)
    assert result.dropped_by_reason == {"price_from": 1, "ambiguous": 1}
    with transaction(engine) as session:
        rows = session.execute(select(MarketObservation.raw_name, MarketObservation.amount_fen))
        stored = {name: fen for name, fen in rows}
    expected = {f"雾灯 {i}": int(Decimal(e) * 100) for i, (_, e, _) in enumerate(WORKED_EXAMPLES)}
    expected["雾灯 偏好"] = 60000
    assert stored == expected
