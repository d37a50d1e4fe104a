"""The staff UI's price type vocabulary page (价格类型词表): list, search, sort, CSV export; add,
change and delete with a reason; stale and bad input refused in Chinese. And the 市场待匹配
page's 不是目录配件."""

from __future__ import annotations

import re

from sqlalchemy import select

from pricebook.db import make_engine, transaction
from pricebook.models import MarketObservation
from pricebook.price_words import DEFAULT_WORDS
from tests.market_data import add_unmatched_listings
from tests.ui_client import ENGLISH, Ui, link_in, read_export

PAGE = "/price-type-words"
WORDS = re.compile(r'<tr data-word="([^"]+)">')
ERROR = re.compile(r'id="word-error" role="alert">([^<]*)<')
ETAG = re.compile(r'name="etag" value="([^"]*)"')


def _etag(page: str) -> str:
    return ETAG.search(page).group(1).replace("&#34;", '"').replace("&quot;", '"')


async def test_the_vocabulary_page_lists_searches_sorts_and_exports(ui: Ui) -> None:
    await ui.login("reviewer")
    page = (await ui.client.get(PAGE)).text
    assert f"共 {len(DEFAULT_WORDS)} 个词" in page and 'href="/price-type-words"' in page
    assert len(WORDS.findall(page)) == len(DEFAULT_WORDS)  # 36 words: one page
    # a search finds a word, or every word of a price type by its code or its name
    assert WORDS.findall((await ui.client.get(PAGE, params={"q": "拆车"})).text) == [
        "拆车",
        "拆车件",
    ]
    brand = WORDS.findall((await ui.client.get(PAGE, params={"q": "品牌件"})).text)
    assert sorted(brand) == sorted(w for w, c in DEFAULT_WORDS.items() if c == "brand")
    by_type = (await ui.client.get(PAGE, params={"sort": "-price_type"})).text
    codes = [DEFAULT_WORDS[w] for w in WORDS.findall(by_type)]
    assert codes == sorted(codes, reverse=True)
    rows = read_export(
        (await ui.client.get(link_in(by_type, r'<a class="export" href="([^"]+)"'))).content
    )
    assert rows[0] == ["word", "price_type"] and len(rows) == len(DEFAULT_WORDS) + 1
    assert [r[1] for r in rows[1:]] == codes
    # reviewers read it but cannot change it
    assert 'id="word-add"' not in page and "word-remove" not in page
    for path in (PAGE, f"{PAGE}/remove"):
        r = await ui.post(
            path,
            {
                "word": "厂家件",
                "price_type": "4s",
                "reason": "x",
                "etag": _etag(page) if 'name="etag"' in page else "x",
            },
        )
        assert r.status_code == 403, path
    assert (await ui.client.get(PAGE, params={"sort": "code"})).status_code == 422


async def test_staff_add_change_and_delete_a_word_with_a_reason(ui: Ui) -> None:
    await ui.login("pricing_staff")
    page = (await ui.client.get(PAGE)).text
    r = await ui.post(
        PAGE,
        {
            "op": "add",
            "word": "厂家件",
            "price_type": "4s",
            "reason": "本地网店写法",
            "etag": _etag(page),
        },
        page=PAGE,
    )
    assert r.status_code == 303, r.text
    page = (await ui.client.get(r.headers["location"])).text
    assert "已添加“厂家件”（4s）" in page and WORDS.findall(page) == ["厂家件"]
    log = (await ui.client.get(link_in(page, r'id="word-saved">[^<]*<a href="([^"]+)"'))).text
    assert "本地网店写法" in log and "价格类型词表：厂家件" in log
    # a second tab still showing the vocabulary before the add is refused, its input kept
    stale = await ui.post(
        PAGE, {"op": "add", "word": "厂价件", "price_type": "brand", "reason": "第二个标签页",
               "etag": '"0000"'}, page=PAGE,
    )  # fmt: skip
    assert stale.status_code == 412
    shown = ERROR.search(stale.text).group(1)
    assert "已被他人修改" in shown and not ENGLISH.search(shown), shown
    assert 'value="厂价件"' in stale.text and 'value="第二个标签页"' in stale.text
    # changed to brand, then deleted
    r = await ui.post(
        PAGE,
        {
            "op": "change",
            "word": "厂家件",
            "price_type": "brand",
            "reason": "按品牌件",
            "etag": _etag(page),
        },
        page=PAGE,
    )
    assert r.status_code == 303, r.text
    page = (await ui.client.get(r.headers["location"])).text
    assert "已把“厂家件”改为 brand" in page and "品牌件（brand）" in page
    r = await ui.post(
        f"{PAGE}/remove", {"word": "厂家件", "reason": "", "etag": _etag(page)}, page=PAGE
    )
    assert r.status_code == 422 and "请填写原因" in ERROR.search(r.text).group(1)
    r = await ui.post(
        f"{PAGE}/remove", {"word": "厂家件", "reason": "撤回", "etag": _etag(page)}, page=PAGE
    )
    assert r.status_code == 303, r.text
    page = (await ui.client.get(r.headers["location"])).text
    assert "已删除“厂家件”" in page and WORDS.findall(page) == []
    # bad input, in Chinese
    for values, text in (
        ({"word": "厂家件", "price_type": "z9"}, "没有价格类型 z9"),
        ({"word": " ", "price_type": "4s"}, "请填写词语"),
        ({"word": "件" * 21, "price_type": "4s"}, "词语 最多 20 个字"),
    ):
        r = await ui.post(
            PAGE, {"op": "add", "reason": "x", "etag": _etag(page), **values}, page=PAGE
        )
        shown = ERROR.search(r.text).group(1)
        assert r.status_code == 422 and text in shown and not ENGLISH.search(shown), shown


async def test_a_listing_marked_not_a_catalogue_part_leaves_the_queue(ui: Ui) -> None:
    ids = add_unmatched_listings(ui.settings)
    await ui.login("pricing_staff")
    page = (await ui.client.get("/market/unmatched")).text
    assert page.count("不是目录配件</button>") == 2
    listing = next(iter(ids.values()))
    url = f"/market/unmatched/{listing}/not-a-part"
    blank = await ui.post(url, {"reason": ""}, page="/market/unmatched")
    assert blank.status_code == 422 and "请填写不是目录配件的原因" in blank.text
    done = await ui.post(url, {"reason": "洗车用品"}, page="/market/unmatched")
    assert done.headers["location"] == f"/market/unmatched?done={listing}&verdict=not_part"
    page = (await ui.client.get(done.headers["location"])).text
    assert "已标为不是目录配件" in page and f'id="listing-{listing}"' not in page
    again = await ui.post(url, {"reason": "再次"}, page="/market/unmatched")
    assert again.status_code == 409 and "已标为不是目录配件" in again.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            status = session.scalar(
                select(MarketObservation.status).where(MarketObservation.id == listing)
            )
    finally:
        engine.dispose()
    assert status == "not_part"


async def test_the_runs_page_shows_what_the_drift_check_did(ui: Ui) -> None:
    from pricebook.market import DriftReport
    from pricebook.market.crawl import record_drift
    from pricebook.models import MarketRun

    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            runs = [
                MarketRun(source="shop-a", status="finished",
                          stats={"pages": 3, "items": 9, "matched": 6, "unmatched": 3, "new": 9}),
                MarketRun(source="shop-b", status="suspicious", stats={"pages": 1, "items": 0}),
            ]  # fmt: skip
            session.add_all(runs)
            session.flush()
            record_drift(
                session,
                [runs[0].id],
                DriftReport(checked=12, drifting=2, opened=1, updated=1, closed=3),
            )
            ids = [r.id for r in runs]
    finally:
        engine.dispose()
    await ui.login("pricing_staff")
    assert 'id="runs-link"' in (await ui.client.get("/market/unmatched")).text
    page = (await ui.client.get("/market/runs")).text
    assert "共 2 条" in page
    first = page[page.index(f'id="run-{ids[0]}"') :]
    first = first[: first.index("</tr>")]
    assert "检查 12 个价格，偏离 2；新开 1，更新 1，关闭 3，重新打开 0" in first
    assert ">完成<" in first and '<td class="num">9</td>' in first
    second = page[page.index(f'id="run-{ids[1]}"') :]
    assert ">可疑<" in second[: second.index("</tr>")] and "未检查" in second
    only_b = (await ui.client.get("/market/runs", params={"source": "shop-b"})).text
    assert "共 1 条" in only_b and f'id="run-{ids[0]}"' not in only_b
