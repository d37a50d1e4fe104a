"""One price-type vocabulary for every spider and import, edited by pricing staff, overridden
per source."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from pricebook import price_words
from pricebook.db import transaction
from pricebook.errors import InvalidInput, NotFound, StaleVersion
from pricebook.market import ingest_items
from pricebook.models import AuditEntry, MarketObservation, PriceType
from scrapers.sources import SourceError, parse_source
from tests.api_client import Api
from tests.market_data import load_market_catalog, scraped_item

STAFF = "pricing_staff"


def _types(session) -> dict[str, int]:
    return {code: id_ for id_, code in session.execute(select(PriceType.id, PriceType.code))}


def _stored_types(engine) -> dict[str, str]:
    with transaction(engine) as session:
        codes = {id_: code for code, id_ in _types(session).items()}
        rows = session.execute(select(MarketObservation.raw_name, MarketObservation.price_type_id))
        return {name: codes.get(type_id) for name, type_id in rows}


def test_resolve_order_overrides_vocabulary_type_names_then_contained_words():
    types = {"4s": 1, "oem": 2, "brand": 3, "4s店价": 1, "原厂件": 1}  # 4s named 4S店价/原厂件
    words = {"原厂件": "oem", "原厂": "oem", "品牌件": "brand", "副厂": "brand"}
    assert price_words.resolve("原厂件", words, types) == 2  # the vocabulary, not the type name
    assert price_words.resolve(" 原厂 ", words, types) == 2
    assert price_words.resolve("4S店价", words, types) == 1  # a type's own name
    assert price_words.resolve("brand", words, types) == 3  # a type's own code
    assert price_words.resolve("副厂 全新", words, types) == 3  # a word inside the hint
    assert price_words.resolve("原厂件", words, types, {"原厂件": "4s"}) == 1  # the source's
    assert price_words.resolve("高仿", words, types) is None
    assert price_words.resolve(None, words, types) is None
    assert price_words.resolve("原厂", words, {"4s": 1}) == 1  # no oem type here: 4s


def test_html_and_json_spellings_map_to_one_type(engine):
    """The issue's case: HTML "原厂件" went to 4s (the catalogue's type name 4S店价/原厂件) and
    JSON "原厂" to oem. Both now read the one vocabulary."""
    load_market_catalog(engine)
    with transaction(engine) as session:
        session.execute(
            update(PriceType).where(PriceType.code == "4s").values(name="4S店价/原厂件")
        )
    items = [
        scraped_item("雾灯 左", "85", source="html_shop", price_type_hint="原厂件"),
        scraped_item("雾灯 右", "85", source="json_api", price_type_hint="原厂"),
        scraped_item("雾灯 中", "85", source="json_api", price_type_hint="正厂件"),
        scraped_item("尾灯 左", "85", source="html_shop", price_type_hint="副厂件"),
        scraped_item("尾灯 右", "85", source="json_api", price_type_hint="品牌"),
    ]
    ingest_items(engine, items, None)
    assert _stored_types(engine) == {
        "雾灯 左": "oem", "雾灯 右": "oem", "雾灯 中": "oem", "尾灯 左": "brand",
        "尾灯 右": "brand",
    }  # fmt: skip


def test_a_staff_edit_changes_how_the_next_crawl_maps_and_a_source_override_wins(engine):
    load_market_catalog(engine)
    ingest_items(engine, [scraped_item("雾灯 左", "85", price_type_hint="原厂件")], None)
    with transaction(engine) as session:
        before = price_words.vocabulary(session)
        assert before.words["原厂件"] == "oem"
        with pytest.raises(InvalidInput, match="reason"):
            price_words.set_word(session, "原厂件", "4s", actor="t", reason=" ")
        with pytest.raises(InvalidInput, match="unknown price type 'oem2'"):
            price_words.set_word(session, "原厂件", "oem2", actor="t", reason="x")
        changed = price_words.set_word(
            session,
            "原厂件",
            "4s",
            actor="staff:li",
            reason="本地原厂件按4S价",
            expected_etag=before.etag,
        )
        assert (changed.action, changed.words["原厂件"]) == ("updated", "4s")
        with pytest.raises(StaleVersion):
            price_words.set_word(
                session, "拆车", "brand", actor="t", reason="x", expected_etag=before.etag
            )
    ingest_items(
        engine,
        [
            scraped_item("雾灯 右", "85", price_type_hint="原厂件"),
            scraped_item(
                "雾灯 中", "85", price_type_hint="原厂件", price_type_words={"原厂件": "brand"}
            ),
        ],
        None,
    )
    assert _stored_types(engine) == {"雾灯 左": "oem", "雾灯 右": "4s", "雾灯 中": "brand"}
    with transaction(engine) as session:
        current = price_words.vocabulary(session)
        removed = price_words.remove_word(
            session, "原厂件", actor="staff:li", reason="撤回", expected_etag=current.etag
        )
        assert "原厂件" not in removed.words and removed.words["原厂"] == "oem"
        with pytest.raises(NotFound):
            price_words.remove_word(session, "原厂件", actor="t", reason="x")
        audit = session.execute(
            select(AuditEntry.action, AuditEntry.before, AuditEntry.after, AuditEntry.reason)
            .where(AuditEntry.entity == "price_type_word")
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(a) for a in audit] == [
        ("update", {"price_type": "oem"}, {"price_type": "4s"}, "本地原厂件按4S价"),
        ("delete", {"price_type": "4s"}, None, "撤回"),
    ]
    # without the exact word, "原厂件" still contains 原厂 → oem
    ingest_items(engine, [scraped_item("雾灯 后", "85", price_type_hint="原厂件")], None)
    assert _stored_types(engine)["雾灯 后"] == "oem"


def test_source_files_take_price_type_words():
    base = {
        "name": "s1",
        "kind": "json",
        "start_urls": ["http://m.test/"],
        "region": "440300",
        "item": "data.list",
        "fields": {"name": "n", "price": "p"},
    }
    src = parse_source({**base, "price_type_words": {"原厂件": "4s", "厂家件": "oem"}})
    assert src.price_type_words == {"原厂件": "4s", "厂家件": "oem"}
    with pytest.raises(SourceError, match="field 'price_type_words': a table of word"):
        parse_source({**base, "price_type_words": {"原厂件": "4S 店"}})


async def test_price_type_words_over_http(api: Api):
    url = "/api/v1/price-type-words"
    r = await api.client.get(url, headers=api.h(STAFF))
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["etag"] == body["etag"]
    assert {"word": "原厂件", "price_type": "oem"} in body["words"]
    r = await api.client.put(
        f"{url}/拆车件", json={"price_type": "4s", "reason": "x"}, headers=api.h(STAFF)
    )
    assert r.status_code == 428
    r = await api.client.put(
        f"{url}/高仿件",
        json={"price_type": "brand", "reason": "市场常见写法"},
        headers=api.h(STAFF, **{"If-Match": body["etag"]}),
    )
    assert r.status_code == 201, r.text
    assert {"word": "高仿件", "price_type": "brand"} in r.json()["words"]
    r = await api.client.put(
        f"{url}/高仿件",
        json={"price_type": "4s", "reason": "本地按4S价"},
        headers=api.h(STAFF, **{"If-Match": r.headers["etag"]}),
    )
    assert (r.status_code, r.json()["action"]) == (200, "updated"), r.text
    etag = r.headers["etag"]
    r = await api.client.put(
        f"{url}/高仿件",
        json={"price_type": "brand", "reason": "again"},
        headers=api.h(STAFF, **{"If-Match": body["etag"]}),
    )
    assert r.status_code == 412
    r = await api.client.put(
        f"{url}/高仿件",
        json={"price_type": "nope", "reason": "x"},
        headers=api.h(STAFF, **{"If-Match": etag}),
    )
    assert r.status_code == 422 and r.json()["field"] == "price_type"
    r = await api.client.delete(
        f"{url}/高仿件", params={"reason": "撤回"}, headers=api.h(STAFF, **{"If-Match": etag})
    )
    assert r.status_code == 200 and "高仿件" not in {w["word"] for w in r.json()["words"]}
    r = await api.client.get(url, headers=api.h("reviewer"))
    assert r.status_code == 403


def test_import_files_may_write_a_vocabulary_word_for_the_price_type(engine):
    from pricebook.io.importers import import_rows
    from pricebook.models import Price

    load_market_catalog(engine)
    row = {"part_code": "VW1-0001", "model_code": "", "scope": "system", "price_type": "原厂件",
           "amount_yuan": "1100.00", "valid_from": "2026-03-01", "valid_to": ""}  # fmt: skip
    with transaction(engine) as session:
        import_rows(session, "prices", [row], actor="staff1", reason="厂家价目表")
        stored = session.execute(
            select(PriceType.code)
            .join(Price, Price.price_type_id == PriceType.id)
            .where(Price.reason == "厂家价目表")
        ).scalar_one()
    assert stored == "oem"
