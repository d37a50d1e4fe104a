"""Scrapers: source files, parsing (offline), pipelines, and real crawls of a local fixture market.

Parsing is tested on the fixture pages with ``HtmlResponse``/``TextResponse`` (no network).
Real crawls run ``scrapy crawl`` in subprocesses (the Twisted reactor cannot restart in one
process) against ``tests/market_site`` served on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.test import get_crawler

from scrapers.items import ITEM_KEYS, MarketItem
from scrapers.middlewares import retry_after_seconds
from scrapers.pipelines import CorePipeline, JsonLinesPipeline
from scrapers.sources import SourceError, list_sources, load_source, parse_source
from scrapers.spiders.api import ApiJsonSpider, as_text, get_path
from scrapers.spiders.base import clean_text
from scrapers.spiders.listing import ListingSpider
from tests.market_site.server import SITE_DIR, SOURCES_DIR, MarketSite
from tests.processes import FAST, REPO

BASE = "http://market.test"
SOURCE_A = SOURCES_DIR / "a_huaqiang.toml"
SOURCE_B = SOURCES_DIR / "b_chepei.toml"
SOURCE_C = SOURCES_DIR / "c_api.toml"


# --- source files ---------------------------------------------------------------------------
def test_fixture_and_example_sources_load():
    a = load_source(SOURCE_A, base_url=BASE)
    assert a.kind == "html"
    assert a.start_urls == (f"{BASE}/a/list_1.html",)
    assert a.allowed_domains == ("market.test",)  # derived from the start URLs, port-free
    assert a.region == "440300"
    assert set(a.fields) == {"name", "oe_number", "brand", "price", "price_type"}
    assert str(a.fields["oe_number"]) == "css:td.oe::text"

    c = load_source(SOURCE_C, base_url="http://127.0.0.1:8123/")
    assert c.kind == "json"
    assert c.start_urls == ("http://127.0.0.1:8123/c/api/v1/parts?page=1",)
    assert c.allowed_domains == ("127.0.0.1",)
    assert c.pagination.page_param == "page"
    assert c.pagination.next is not None and c.pagination.next.expr == "data.next"

    assert "example_qipeicheng" in list_sources()
    example = load_source(list_sources()["example_qipeicheng"])
    assert example.name == "example_qipeicheng"
    assert all(".invalid/" in url for url in example.start_urls)
    assert example.max_pages == 30


def _valid_raw(**overrides):
    raw = {
        "name": "t_source",
        "kind": "html",
        "start_urls": ["https://parts.example.invalid/list"],
        "region": "440300",
        "item": "css:tr",
        "fields": {"name": "css:td.n", "price": "css:td.p"},
    }
    raw.update(overrides)
    return raw


def test_parse_source_defaults():
    src = parse_source(_valid_raw())
    assert src.price_unit == "元"
    assert src.price_type is None
    assert src.max_pages == 50
    assert src.pagination.next is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kind": "xml"}, "field 'kind'"),
        ({"name": "Bad Name"}, "field 'name'"),
        ({"region": "深圳"}, "field 'region'"),
        ({"price_unit": "千元"}, "field 'price_unit'"),
        ({"max_pages": 0}, "field 'max_pages'"),
        ({"start_urls": []}, "field 'start_urls'"),
        ({"start_urls": ["ftp://x.invalid/"]}, "field 'start_urls[0]'"),
        ({"start_urls": ["{base}/list"]}, "contains {base}"),
        ({"allowed_domains": ["parts.example.invalid:8080"]}, "field 'allowed_domains[0]'"),
        ({"item": "tr"}, "field 'item': 'tr' must start with 'css:' or 'xpath:'"),
        ({"item": "css:tr[[["}, "field 'item': invalid CSS"),
        ({"item": "xpath://tr[@"}, "field 'item': invalid XPATH"),
        ({"fields": {"name": "css:td.n"}}, "field 'fields.price': required selector"),
        ({"fields": {"name": "css:td", "price": "css:td", "colour": "css:td"}}, "fields.colour"),
        ({"pagination": {"page_param": "page"}}, "field 'pagination.page_param'"),
        ({"selectors": {}}, "field 'selectors': unknown field"),
    ],
)
def test_parse_source_errors_name_the_field(overrides, expected):
    with pytest.raises(SourceError) as exc:
        parse_source(_valid_raw(**overrides), origin="bad.toml")
    assert str(exc.value).startswith("bad.toml: ")
    assert expected in str(exc.value)


def test_parse_source_reports_all_errors_at_once():
    with pytest.raises(SourceError) as exc:
        parse_source(_valid_raw(kind="json", item="not a path", region="x"))
    assert len(exc.value.errors) == 2  # region and item (json paths have no spaces)


def test_sources_load_from_a_zip(tmp_path):
    # Scrapyd runs projects from eggs (zip files): sources are read through Traversable.
    archive = tmp_path / "project.egg"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("scrapers/sources/a.toml", SOURCE_A.read_text(encoding="utf-8"))
    src = load_source(zipfile.Path(archive, "scrapers/sources/a.toml"), base_url=BASE)
    assert src.name == "fixture_a_huaqiang"
    assert src.origin.endswith("a.toml")


def test_load_source_file_errors(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        load_source(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nkind = ', encoding="utf-8")
    with pytest.raises(SourceError, match="invalid TOML"):
        load_source(bad)


# --- HTML parsing (offline) -------------------------------------------------------------------
def _html_response(rel_path: str, encoding: str = "utf-8") -> HtmlResponse:
    text = (SITE_DIR / rel_path).read_text(encoding="utf-8")
    url = f"{BASE}/{rel_path}"
    return HtmlResponse(
        url=url,
        body=text.encode(encoding),
        headers={"Content-Type": f"text/html; charset={encoding}"},
        request=Request(url, meta={"pricebook_page": 1}),
    )


def _spider(cls, source_file):
    crawler = get_crawler(cls, {})
    spider = cls.from_crawler(crawler, source_file=str(source_file), base_url=BASE)
    return spider, crawler.stats


def _split(results):
    items = [r for r in results if isinstance(r, MarketItem)]
    requests = [r for r in results if isinstance(r, Request)]
    assert len(items) + len(requests) == len(results)
    return items, requests


def test_listing_parses_gbk_table_and_follows_next():
    spider, stats = _spider(ListingSpider, SOURCE_A)
    items, requests = _split(list(spider.parse(_html_response("a/list_1.html", "gbk"))))
    assert [i.raw_name for i in items] == ["前杠", "左前叶子板", "前保险杠皮", "水箱"]
    first = items[0]
    assert first.raw_oe == "5G0 807 221 A"
    assert first.raw_price == "1,450"  # raw text, never converted by the spider
    assert first.raw_brand_text == "大众 高尔夫7 2014-2019"
    assert first.price_type_hint == "原厂件"
    assert first.region_code == "440300"
    assert first.source == "fixture_a_huaqiang"
    assert first.url == f"{BASE}/a/list_1.html"
    assert first.page == 1
    assert first.fetched_at.endswith("+00:00")
    assert items[1].raw_brand_text == "大众 高尔夫7 2014-2019"  # nested <b> text joined
    assert stats.get_value("pricebook/dropped/missing_price") == 1  # 中网 without a price
    assert stats.get_value("pricebook/items") == 4
    assert [r.url for r in requests] == [f"{BASE}/a/list_2.html"]
    assert requests[0].meta["pricebook_page"] == 2


def test_listing_counts_garbage_rows_and_parses_a_truncated_page():
    spider, stats = _spider(ListingSpider, SOURCE_A)
    items, _ = _split(list(spider.parse(_html_response("a/list_2.html", "gbk"))))
    assert [i.raw_name for i in items] == ["前叶子板（左）", "大灯总成 右", "机油 4L"]
    assert items[0].raw_oe is None
    assert stats.get_value("pricebook/dropped/price_not_given") == 1  # 面议
    assert stats.get_value("pricebook/dropped/missing_name") == 1  # the notice row

    items, requests = _split(list(spider.parse(_html_response("a/list_3.html", "gbk"))))
    assert [(i.raw_name, i.raw_price) for i in items] == [
        ("后视镜总成 左", "460"),
        ("雾灯 右", "85"),
    ]
    assert requests == []  # no next link on the last (cut-off) page
    assert stats.get_value("pricebook/dropped/missing_price") == 1  # 前挡风玻璃, cut off


def test_listing_parses_cards_with_varied_price_texts():
    spider, stats = _spider(ListingSpider, SOURCE_B)
    items, requests = _split(list(spider.parse(_html_response("b/cat/body.html"))))
    assert [(i.raw_name, i.raw_price) for i in items] == [
        ("左前叶子板", "¥1,280.00"),
        ("前杠", "0.35万元"),
        ("大灯总成（右）", "850-920元"),
    ]
    assert items[0].raw_oe == "5GD 821 105"
    assert items[0].raw_brand_text == "适用：大众 速腾 2019-"
    assert items[1].raw_oe is None
    assert items[2].price_type_hint == "品牌件"
    assert stats.get_value("pricebook/dropped/missing_price") == 1  # the ad card
    assert [r.url for r in requests] == [f"{BASE}/b/cat/body-2.html"]

    items, requests = _split(list(spider.parse(_html_response("b/cat/body-2.html"))))
    assert [i.raw_price for i in items] == ["¥ 960", "￥420.00", "1,650元"]
    assert items[2].price_type_hint is None  # no tag on the row and no source default
    # The spider yields the /private/ link; RobotsTxtMiddleware stops it (see the crawl tests).
    assert [r.url for r in requests] == [f"{BASE}/private/body-3.html"]


SELLERS_PAGE = """<html><body>
<div class="card" data-sku="A-1"><a href="/goods/1.html">大众朗逸 左后叶子板</a>
  <span class="price">¥420</span><span class="shop">华强汽配</span></div>
<div class="card" data-sku="B-7"><a href="https://other.test/goods/7.html">大众朗逸 左后叶子板</a>
  <span class="price">¥455</span><span class="shop">南方配件</span></div>
<div class="card"><a>大众朗逸 左后叶子板</a><span class="price">¥430</span></div>
</body></html>"""


def test_listing_reads_the_listing_link_item_id_and_seller(tmp_path):
    source = tmp_path / "sellers.toml"
    source.write_text(
        'name = "sellers"\nkind = "html"\nstart_urls = ["{base}/s/list.html"]\n'
        'region = "440300"\nitem = "css:div.card"\n[fields]\nname = "css:a::text"\n'
        'price = "css:span.price::text"\nlink = "css:a::attr(href)"\n'
        'item_id = "css:div.card::attr(data-sku)"\nseller = "css:span.shop::text"\n',
        encoding="utf-8",
    )
    spider, _ = _spider(ListingSpider, source)
    url = f"{BASE}/s/list.html"
    response = HtmlResponse(
        url=url,
        body=SELLERS_PAGE.encode(),
        encoding="utf-8",
        request=Request(url, meta={"pricebook_page": 1}),
    )
    items, _ = _split(list(spider.parse(response)))
    assert [(i.listing_url, i.item_id, i.seller) for i in items] == [
        (f"{BASE}/goods/1.html", "A-1", "华强汽配"),  # a relative link made absolute
        ("https://other.test/goods/7.html", "B-7", "南方配件"),
        (None, None, None),  # the source's fields are optional per row
    ]
    assert {i.url for i in items} == {url}  # the page it was found on stays the page


def test_listing_warns_on_a_page_without_rows(caplog):
    spider, stats = _spider(ListingSpider, SOURCE_A)
    response = _html_response("b/cat/fluids.html")  # the wrong layout for source A
    assert list(spider.parse(response)) == []
    assert stats.get_value("pricebook/empty_pages") == 1
    assert "layout changed?" in caplog.text


def test_listing_respects_max_pages():
    crawler = get_crawler(ListingSpider, {})
    spider = ListingSpider.from_crawler(
        crawler, source_file=str(SOURCE_A), base_url=BASE, max_pages="1"
    )
    _, requests = _split(list(spider.parse(_html_response("a/list_1.html", "gbk"))))
    assert requests == []
    assert crawler.stats.get_value("pricebook/max_pages_reached") == 1


def test_spider_arguments_are_checked():
    with pytest.raises(ValueError, match="exactly one of"):
        ListingSpider()
    with pytest.raises(ValueError, match="use: scrapy crawl api_json"):
        ListingSpider(source_file=str(SOURCE_C), base_url=BASE)
    with pytest.raises(SourceError, match="contains"):
        ListingSpider(source_file=str(SOURCE_A))  # {base} needs base_url
    crawler = get_crawler(ListingSpider, {})
    with pytest.raises(SourceError, match="no source named 'nope'"):
        ListingSpider.from_crawler(crawler, source="nope")
    crawler = get_crawler(ListingSpider, {"PRICEBOOK_SOURCES_DIR": str(SOURCES_DIR)})
    spider = ListingSpider.from_crawler(crawler, source="b_chepei", base_url=BASE, run_id="7")
    assert spider.src.name == "fixture_b_chepei"
    assert spider.run_id == 7


def test_text_helpers():
    assert clean_text("  前叶子板\u3000（左）\n ") == "前叶子板 （左）"
    assert clean_text(" \xa0 ") is None
    data = {"data": {"list": [{"p": {"v": 1.5}}], "next": None}}
    assert get_path(data, "data.list.0.p.v") == 1.5
    assert get_path(data, "data.list.5.p") is None
    assert get_path(data, "data.next", "x") is None
    assert get_path(data, "data.missing", "x") == "x"
    assert as_text(980) == "980"
    assert as_text(415.5) == "415.5"
    assert as_text(" 0.42万元 ") == "0.42万元"
    assert as_text(None) is None
    assert as_text({"a": 1}) is None


# --- JSON parsing (offline) -------------------------------------------------------------------
def _json_response(page: int, url: str | None = None) -> TextResponse:
    body = (SITE_DIR / "c" / "api" / "v1" / f"parts-{page}.json").read_bytes()
    url = url or f"{BASE}/c/api/v1/parts?page={page}"
    return TextResponse(
        url=url,
        body=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
        request=Request(url, meta={"pricebook_page": page}),
    )


def test_api_json_parses_items_and_next_page_number():
    spider, stats = _spider(ApiJsonSpider, SOURCE_C)
    items, requests = _split(list(spider.parse(_json_response(1))))
    assert [(i.raw_name, i.raw_price) for i in items] == [
        ("水箱", "980"),
        ("左前叶子板", "365.00"),
        ("大灯总成 右", "0.42万元"),
    ]
    assert items[0].raw_region == "苏州"
    assert items[2].raw_region == "昆山"
    assert items[0].region_code == "320500"
    assert items[2].raw_oe is None
    assert stats.get_value("pricebook/dropped/missing_name") == 1
    assert [r.url for r in requests] == [f"{BASE}/c/api/v1/parts?page=2"]
    assert requests[0].headers.get("Accept") == b"application/json"

    items, requests = _split(list(spider.parse(_json_response(3))))
    assert len(items) == 2
    assert requests == []  # next is null


def test_api_json_next_url_and_page_increment(tmp_path):
    spider, _ = _spider(ApiJsonSpider, SOURCE_C)
    response = _json_response(1)
    assert spider.next_page_url(
        response, {"data": {"next": "/c/api/v1/parts?cursor=ab"}}, 1, has_rows=True
    ) == (f"{BASE}/c/api/v1/parts?cursor=ab")
    assert spider.next_page_url(response, {"data": {"next": False}}, 1, has_rows=True) is None

    source = tmp_path / "increment.toml"
    source.write_text(
        SOURCE_C.read_text(encoding="utf-8").replace('next = "data.next"\n', ""), encoding="utf-8"
    )
    spider, _ = _spider(ApiJsonSpider, source)
    assert spider.next_page_url(response, {}, 1, has_rows=True) == f"{BASE}/c/api/v1/parts?page=2"
    assert spider.next_page_url(response, {}, 1, has_rows=False) is None


def test_api_json_counts_invalid_json():
    spider, stats = _spider(ApiJsonSpider, SOURCE_C)
    url = f"{BASE}/c/api/v1/parts?page=1"
    response = TextResponse(
        url=url, body=b"<html>502 Bad Gateway</html>", encoding="utf-8", request=Request(url)
    )
    assert list(spider.parse(response)) == []
    assert stats.get_value("pricebook/page_errors/invalid_json") == 1


def test_retry_after_parsing():
    assert retry_after_seconds(b"120") == 120.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


# --- pipelines ------------------------------------------------------------------------------
def _item(n: int) -> MarketItem:
    return MarketItem(
        source="s",
        url=f"{BASE}/{n}",
        fetched_at="2025-01-01T00:00:00+00:00",
        raw_name=f"前杠 {n}",
        raw_price="1,280元",
    )


def test_market_item_keys():
    assert ITEM_KEYS == (
        "source",
        "url",
        "fetched_at",
        "raw_name",
        "raw_price",
        "raw_oe",
        "raw_brand_text",
        "price_type_hint",
        "region_code",
        "raw_region",
        "price_unit_hint",
        "page",
        "price_preference",
        "price_type_words",
        "listing_url",
        "item_id",
        "seller",
    )


def test_jsonlines_pipeline(tmp_path):
    path = tmp_path / "out" / "items.jl"
    crawler = get_crawler(ListingSpider, {"PRICEBOOK_ITEMS_FILE": str(path)})
    pipeline = JsonLinesPipeline.from_crawler(crawler)
    pipeline.open_spider()
    for n in range(3):
        pipeline.process_item(_item(n))
    pipeline.close_spider()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert "前杠 0" in lines[0]  # UTF-8, not \u escapes
    assert json.loads(lines[0])["raw_price"] == "1,280元"


@dataclass
class _FakeResult:
    stored: int
    matched: int


async def test_core_pipeline_batches_and_flushes(monkeypatch):
    calls = []

    def ingest_items(settings, items, run_id):
        calls.append((len(items), run_id, items[0]["raw_name"]))
        assert settings.getint("PRICEBOOK_BATCH_SIZE") == 2
        return _FakeResult(stored=len(items), matched=1)

    monkeypatch.setitem(
        sys.modules, "pricebook.market", types.SimpleNamespace(ingest_items=ingest_items)
    )
    crawler = get_crawler(ListingSpider, {"PRICEBOOK_BATCH_SIZE": 2, "PRICEBOOK_RUN_ID": "42"})
    pipeline = CorePipeline.from_crawler(crawler)
    pipeline.open_spider()
    for n in range(5):
        assert await pipeline.process_item(_item(n)) is not None
    assert [c[0] for c in calls] == [2, 2]
    await pipeline.close_spider()
    assert calls == [(2, 42, "前杠 0"), (2, 42, "前杠 2"), (1, 42, "前杠 4")]
    assert crawler.stats.get_value("pricebook/ingest/batches") == 3
    assert crawler.stats.get_value("pricebook/ingest/stored") == 5
    assert crawler.stats.get_value("pricebook/ingest/matched") == 3


async def test_core_pipeline_awaits_async_ingest(monkeypatch):
    seen = []

    async def ingest_items(settings, items, run_id):
        seen.extend(items)
        return {"stored": len(items)}

    monkeypatch.setitem(
        sys.modules, "pricebook.market", types.SimpleNamespace(ingest_items=ingest_items)
    )
    pipeline = CorePipeline.from_crawler(get_crawler(ListingSpider, {}))
    pipeline.open_spider()
    await pipeline.process_item(_item(1))
    await pipeline.close_spider()
    assert [i["raw_name"] for i in seen] == ["前杠 1"]
    assert set(seen[0]) == set(ITEM_KEYS)


def test_core_pipeline_explains_a_missing_core(monkeypatch):
    monkeypatch.setitem(sys.modules, "pricebook.market", None)  # import fails
    pipeline = CorePipeline.from_crawler(get_crawler(ListingSpider, {}))
    with pytest.raises(RuntimeError, match="JsonLinesPipeline"):
        pipeline.open_spider()


# --- real crawls against the fixture market ----------------------------------------------------
CONTACT = "https://pricebook.invalid/tests-contact"


@pytest.fixture(scope="session")
def market_site():
    with MarketSite() as site:
        yield site


@dataclass
class Crawl:
    items: list[dict]
    stats: dict
    returncode: int
    log: str

    def stat(self, key: str, default: int = 0):
        return self.stats.get(key, default)


def _start_crawl(
    spider: str, source: Path, base_url: str, out: Path
) -> tuple[subprocess.Popen, Path, Path]:
    items_file = out / f"{source.stem}.jl"
    stats_file = out / f"{source.stem}.stats.json"
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        spider,
        "-a",
        f"source_file={source}",
        "-a",
        f"base_url={base_url}",
        "-s",
        'ITEM_PIPELINES={"scrapers.pipelines.JsonLinesPipeline": 300}',
        "-s",
        f"PRICEBOOK_ITEMS_FILE={items_file}",
        "-s",
        f"PRICEBOOK_STATS_FILE={stats_file}",
        *FAST,  # AutoThrottle on but fast, the retry backoff short
    ]
    env = {k: v for k, v in os.environ.items() if k != "PRICEBOOK_ENV"}
    env["PRICEBOOK_SCRAPER_CONTACT_URL"] = CONTACT
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, items_file, stats_file


@pytest.fixture(scope="module")
def crawls(market_site, tmp_path_factory):
    """Crawl the three fixture sources concurrently (each in its own process)."""
    out = tmp_path_factory.mktemp("crawls")
    market_site.reset()
    started = {
        "a": _start_crawl("listing", SOURCE_A, market_site.base_url, out),
        "b": _start_crawl("listing", SOURCE_B, market_site.base_url, out),
        "c": _start_crawl("api_json", SOURCE_C, market_site.base_url, out),
    }
    results = {}
    for key, (proc, items_file, stats_file) in started.items():
        log, _ = proc.communicate(timeout=60)
        items = []
        if items_file.exists():
            items = [
                json.loads(line) for line in items_file.read_text(encoding="utf-8").splitlines()
            ]
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        results[key] = Crawl(items=items, stats=stats, returncode=proc.returncode, log=log)
    return results


@pytest.mark.slow
def test_crawls_finish_cleanly(crawls):
    for key, crawl in crawls.items():
        assert crawl.returncode == 0, f"{key}:\n{crawl.log}"
        assert crawl.stats.get("finish_reason") == "finished", key
        assert "Traceback" not in crawl.log, f"{key}:\n{crawl.log}"
        assert "DeprecationWarning" not in crawl.log, f"{key}:\n{crawl.log}"
        assert crawl.stats.get("log_count/ERROR", 0) == 0, f"{key}:\n{crawl.log}"


@pytest.mark.slow
def test_crawl_html_table_all_pages(crawls, market_site):
    a = crawls["a"]
    assert [i["raw_name"] for i in a.items] == [
        "前杠",
        "左前叶子板",
        "前保险杠皮",
        "水箱",
        "前叶子板（左）",
        "大灯总成 右",
        "机油 4L",
        "后视镜总成 左",
        "雾灯 右",
    ]
    assert sorted({i["page"] for i in a.items}) == [1, 2, 3]
    assert all(set(i) == set(ITEM_KEYS) for i in a.items)
    assert a.stat("pricebook/pages") == 3
    assert a.stat("pricebook/items") == 9
    # malformed rows are skipped and counted, by reason
    assert a.stat("pricebook/dropped/missing_price") == 2
    assert a.stat("pricebook/dropped/missing_name") == 1
    assert a.stat("pricebook/dropped/price_not_given") == 1
    # page 2 answered 503 once: retried after a backoff, then parsed
    assert a.stat("retry/count") == 1
    assert a.stat("pricebook/retry_backoffs") == 1
    assert market_site.paths().count("/a/list_2.html") == 2


@pytest.mark.slow
def test_crawl_cards_with_404_slow_page_and_robots(crawls, market_site):
    b = crawls["b"]
    assert {i["raw_name"]: i["raw_price"] for i in b.items} == {
        "左前叶子板": "¥1,280.00",
        "前杠": "0.35万元",
        "大灯总成（右）": "850-920元",
        "后杠": "¥ 960",
        "前叶子板（右）": "￥420.00",
        "引擎盖": "1,650元",
        "机油 4L": "¥399.00",
        "防冻液 -25℃ 4kg": "¥89.00",
        "刹车油 DOT4 1L": "¥45.00",
    }
    assert all(i["region_code"] == "440100" for i in b.items)
    assert b.stat("pricebook/dropped/missing_price") == 1
    # the 404 category is tolerated and counted
    assert b.stat("pricebook/page_errors/http_404") == 1
    assert "/b/cat/lamps.html" in market_site.paths()
    # the slow page (~1.5 s) was fetched and parsed
    assert "/b/cat/body-2.html" in market_site.paths()
    assert any(i["url"].endswith("/b/cat/body-2.html") for i in b.items)
    # robots.txt was read and obeyed: /private/ was never requested
    assert "/robots.txt" in market_site.paths()
    assert not [p for p in market_site.paths() if p.startswith("/private/")]
    assert b.stat("robotstxt/forbidden") == 1
    assert b.stat("pricebook/page_errors/robots_disallowed") == 1


@pytest.mark.slow
def test_crawl_json_api_across_pages(crawls, market_site):
    c = crawls["c"]
    assert len(c.items) == 8
    assert sorted({i["page"] for i in c.items}) == [1, 2, 3]
    assert {i["raw_price"] for i in c.items} >= {"980", "0.42万元", "180-220", "415.5", "¥329"}
    assert c.stat("pricebook/dropped/missing_name") == 1
    assert c.stat("pricebook/dropped/missing_price") == 1
    for page in (1, 2, 3):
        assert f"/c/api/v1/parts?page={page}" in market_site.paths()
    assert "/c/api/v1/parts?page=4" not in market_site.paths()


@pytest.mark.slow
def test_crawls_identify_themselves(crawls, market_site):
    assert market_site.user_agents
    assert set(market_site.user_agents) == {f"Pricebook/0.1 (+{CONTACT})"}


@pytest.mark.slow
def test_scrapy_list_shows_the_spiders():
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["api_json", "listing"]
