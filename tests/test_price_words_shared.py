"""The one price-type vocabulary read by the matcher and imports as well as the scrapers: a word
staff add changes what a listing, an import row and a typed estimate line resolve to."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pricebook.db import make_engine, transaction
from pricebook.errors import InvalidInput
from pricebook.io.importers import import_rows
from pricebook.market import ingest_items
from pricebook.matching.normalize import normalize
from pricebook.matching.quality import QualityWords
from pricebook.models import MarketObservation, Price, PriceType
from pricebook.price_words import type_words
from tests.api_client import Api
from tests.estimate_data import URL, http_body
from tests.market_data import scraped_item

WORDS = "/api/v1/price-type-words"


def test_quality_words_take_a_staff_word_out_of_the_name_and_name_its_type():
    words = QualityWords({"厂家件": "oem", "原厂件": "4s", "原厂": "oem", "拆车": "salvage"})
    typed = words.take(normalize("厂家件 左前叶子板 x2"))
    assert (typed.text, typed.quality, typed.quantity) == ("左前叶子板", ("厂家件",), 2)
    assert words.price_type(typed) == "oem"
    # the word as written wins over its canonical form (原厂件 → 原厂)
    assert words.price_type(words.take(normalize("原厂件 前大灯"))) == "4s"
    assert words.price_type(words.take(normalize("拆车件 前大灯"))) == "salvage"
    assert words.price_type(words.take(normalize("全新 前大灯"))) is None  # not in it
    # an ASCII word glued to an OE number is part of the number
    ascii_words = QualityWords({"4s": "4s"})
    assert ascii_words.take(normalize("5G4S 前大灯")).text == "5g4s 前大灯"
    assert ascii_words.take(normalize("4S 前大灯")).quality_written == ("4s",)


def test_type_words_fall_back_to_the_types_the_database_has():
    words = {"原厂件": "oem", "品牌件": "brand", "适用件": "compatible", "拆车件": "salvage"}
    assert type_words(words, {"4s", "brand"}) == {
        "原厂件": "4s", "品牌件": "brand", "适用件": "brand",
    }  # fmt: skip


def _listing_types(engine) -> dict[str, str | None]:
    with transaction(engine) as session:
        codes = dict(session.execute(select(PriceType.id, PriceType.code)).all())
        rows = session.execute(select(MarketObservation.raw_name, MarketObservation.price_type_id))
        return {name: codes.get(type_id) for name, type_id in rows}


def _import_price(engine, price_type: str, amount: str) -> str:
    row = {
        "part_code": "VW1-0002",
        "model_code": "",
        "scope": "system",
        "price_type": price_type,
        "amount_yuan": amount,
        "valid_from": "2026-03-01",
        "valid_to": "",
    }
    with transaction(engine) as session:
        import_rows(session, "prices", [row], actor="staff1", reason=f"价目表 {amount}")
        return session.execute(
            select(PriceType.code)
            .join(Price, Price.price_type_id == PriceType.id)
            .where(Price.reason == f"价目表 {amount}")
        ).scalar_one()


async def test_a_word_added_through_the_api_reaches_listings_imports_and_estimate_lines(http):
    api: Api = http.api
    engine = make_engine(api.settings)
    fender = [{"type": "part", "custom_name": "高仿件 左前叶子板", "claimed_unit_price": "1000.00"}]

    async def typed_line(estimate_id: str) -> dict:
        data = http_body(http.parts, http.model, fender, estimate_id=estimate_id)
        r = await api.client.post(URL, json=data, headers=api.h("estimate_tool"))
        assert r.status_code == 201, r.text
        return r.json()["lines"][0]

    async def quality_type() -> str | None:
        r = await api.client.post(
            "/api/v1/match",
            json={"names": ["高仿件 左前叶子板"], "model_id": http.model},
            headers=api.h("estimate_tool"),
        )
        assert r.status_code == 200, r.text
        return r.json()["results"][0]["attributes"]["price_type"]

    try:
        # 高仿件 is a quality word the matcher knows, but the vocabulary names no type for it
        ingest_items(engine, [scraped_item("尾灯 高仿件", "85", price_type_hint="")], None)
        with pytest.raises(InvalidInput, match="unknown price type '高仿件'"):
            _import_price(engine, "高仿件", "700.00")
        assert await quality_type() is None
        before = await typed_line("E-WORD-1")
        # no claimed type: the fender is checked against the 4S reference the shop allows
        # (990.00 at SZ01, 5% tolerance): 1,000.00 passes
        assert before["part"]["code"] == "VW1-0001" and before["status"] == "ok"
        assert [f["code"] for f in before["flags"]] == ["CUSTOM_PART"]

        vocabulary = (await api.client.get(WORDS, headers=api.h("pricing_staff"))).json()
        r = await api.client.put(
            f"{WORDS}/高仿件",
            json={"price_type": "brand", "reason": "高仿件按品牌件价"},
            headers=api.h("pricing_staff", **{"If-Match": vocabulary["etag"]}),
        )
        assert r.status_code == 201, r.text

        ingest_items(engine, [scraped_item("雾灯 高仿件", "85", price_type_hint="")], None)
        assert _listing_types(engine) == {"尾灯 高仿件": None, "雾灯 高仿件": "brand"}
        assert _import_price(engine, "高仿件", "700.00") == "brand"
        assert _import_price(engine, "4S价", "900.00") == "4s"  # spelled as the vocabulary does
        assert await quality_type() == "brand"
        after = await typed_line("E-WORD-2")
        # the line now claims 品牌件, which the fender has no price of
        assert after["part"]["code"] == "VW1-0001" and after["status"] == "flagged"
        flags = {f["code"]: f for f in after["flags"]}
        assert flags["PART_NO_REFERENCE"]["details"]["price_type"] == "brand"
    finally:
        engine.dispose()


def test_a_learned_name_with_a_staff_word_is_found_without_it():
    from pricebook.matching.index import CatalogEntry, LearnedMapping, MatchIndex, learned_key

    entries = [CatalogEntry(1, "P-1", "前保险杠皮"), CatalogEntry(2, "P-2", "后保险杠皮")]
    learned = [LearnedMapping(learned_key("厂家件 杠皮"), 2)]  # stored as confirm stores it
    index = MatchIndex.build(entries, [], learned, price_words={"厂家件": "oem"})
    result = index.match(["杠皮 厂家件"])[0]
    assert (result.decision, result.reason, result.best.part_code) == ("matched", "learned", "P-2")
    assert result.attributes.price_type == "oem"
