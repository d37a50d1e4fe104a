"""Shared machinery of the source-driven spiders: source loading, items, stats, errors."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from scrapers.items import MarketItem
from scrapers.sources import Source, find_source, load_source

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

_SPACE_RE = re.compile(r"\s+")
_DIGIT_RE = re.compile(r"\d")

STATS_PREFIX = "pricebook"
#: At most this many warnings are kept in the run record (all are logged).
MAX_WARNINGS = 50


def clean_text(value: str | None) -> str | None:
    """Collapse whitespace (including 全角 spaces and NBSP); None for empty text."""
    if value is None:
        return None
    text = _SPACE_RE.sub(" ", value).strip()
    return text or None


class SourceSpider(scrapy.Spider):
    """Base class: loads the source given by ``-a source=NAME`` or ``-a source_file=PATH``.

    Spider arguments: ``source`` / ``source_file`` (one is required), ``base_url`` (replaces
    ``{base}`` in the start URLs), ``max_pages`` (overrides the source's), ``run_id`` (passed
    to the core with each batch; ``pricebook crawl`` sets it).
    """

    source_kind: ClassVar[str]

    def __init__(
        self,
        source: str | None = None,
        source_file: str | None = None,
        base_url: str | None = None,
        max_pages: str | int | None = None,
        run_id: str | int | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if bool(source) == bool(source_file):
            raise ValueError(
                f"spider {self.name!r} needs exactly one of -a source=NAME or -a source_file=PATH"
            )
        self._source_name = source
        self._source_file = source_file
        self._base_url = base_url
        self._max_pages_arg = int(max_pages) if max_pages not in (None, "") else None
        self.run_id: int | None = int(run_id) if run_id not in (None, "") else None
        self.source_config: Source | None = None
        #: warnings worth keeping in the run record ("no rows match", pagination stopped early)
        self.run_warnings: list[str] = []
        #: per start URL (its index): the deepest page parsed, the page count the site declares
        self.pages_reached: dict[int, int] = {}
        self.pages_declared: dict[int, int] = {}
        self._finalized = False
        if source_file:  # no settings needed: load now so errors surface early
            self._load_source(None)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.source_config is None:
            spider._load_source(crawler.settings.get("PRICEBOOK_SOURCES_DIR"))
        return spider

    def _load_source(self, extra_dir: str | None) -> None:
        path = self._source_file or find_source(self._source_name or "", extra_dir)
        src = load_source(path, base_url=self._base_url)
        if src.kind != self.source_kind:
            raise ValueError(
                f"source {src.name!r} has kind {src.kind!r}; spider {self.name!r} crawls "
                f"{self.source_kind!r} sources"
                + (" (use: scrapy crawl listing)" if src.kind == "html" else "")
                + (" (use: scrapy crawl api_json)" if src.kind == "json" else "")
            )
        self.source_config = src
        self.allowed_domains = list(src.allowed_domains)
        self.start_urls = list(src.start_urls)
        self.max_pages = self._max_pages_arg or src.max_pages

    @property
    def src(self) -> Source:
        assert self.source_config is not None, "source not loaded"
        return self.source_config

    # --- requests -----------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        for index, url in enumerate(self.src.start_urls):
            yield self.page_request(url, page=1, start=index)

    def page_request(self, url: str, *, page: int, start: int = 0) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse,
            errback=self.on_error,
            headers=self.src.headers or None,
            meta={"pricebook_page": page, "pricebook_start": start},
        )

    def follow_page(self, response: Response, url: str, page: int) -> scrapy.Request | None:
        """The next page's request, or None once ``max_pages`` pages were crawled."""
        if page > self.max_pages:
            self.inc_stat("max_pages_reached")
            logger.info("%s: max_pages=%d reached at %s", self.src.name, self.max_pages, url)
            return None
        start = response.meta.get("pricebook_start", 0)
        return self.page_request(response.urljoin(url), page=page, start=start)

    def on_error(self, failure: Failure) -> None:
        if failure.check(HttpError):
            reason = f"http_{failure.value.response.status}"
        elif failure.check(IgnoreRequest):
            robots = "robots.txt" in str(failure.value)
            reason = "robots_disallowed" if robots else "ignored"
        else:
            reason = type(failure.value).__name__
        self.inc_stat(f"page_errors/{reason}")
        logger.warning("%s: page not parsed (%s): %s", self.src.name, reason, failure.request)

    # --- items --------------------------------------------------------------------------
    def make_item(
        self, response: Response, page: int, values: dict[str, str | None]
    ) -> MarketItem | None:
        """Build an item from extracted field texts, or count and skip a malformed row."""
        name = values.get("name")
        price = values.get("price")
        reason = None
        if not name:
            reason = "missing_name"
        elif not price:
            reason = "missing_price"
        elif not _DIGIT_RE.search(price):
            reason = "price_not_given"  # 面议, 电询, ...
        if reason:
            self.inc_stat(f"dropped/{reason}")
            logger.debug("%s: dropped row (%s) on %s: %r", self.src.name, reason, response, values)
            return None
        assert name is not None and price is not None
        self.inc_stat("items")
        return MarketItem(
            source=self.src.name,
            url=response.url,
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            raw_name=name,
            raw_price=price,
            raw_oe=values.get("oe_number"),
            raw_brand_text=values.get("brand"),
            price_type_hint=values.get("price_type") or self.src.price_type,
            region_code=self.src.region,
            raw_region=values.get("region"),
            price_unit_hint=self.src.price_unit,
            page=page,
            price_preference=list(self.src.price_preference),
            price_type_words=dict(self.src.price_type_words),
            listing_url=response.urljoin(link) if (link := values.get("link")) else None,
            item_id=values.get("item_id"),
            seller=values.get("seller"),
        )

    # --- run health -----------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """Log a warning and keep it for the run record (``pricebook/warnings``)."""
        self.logger.warning(message)
        if len(self.run_warnings) < MAX_WARNINGS:
            self.run_warnings.append(message)
        stats = getattr(getattr(self, "crawler", None), "stats", None)
        if stats is not None:
            stats.set_value(f"{STATS_PREFIX}/warnings", list(self.run_warnings))

    def page_parsed(self, response: Response) -> None:
        """Count a parsed page and remember how deep its start URL's pagination went."""
        self.inc_stat("pages")
        start = response.meta.get("pricebook_start", 0)
        page = response.meta.get("pricebook_page", 1)
        self.pages_reached[start] = max(self.pages_reached.get(start, 0), page)

    def pages_declared_on(self, response: Response, declared: int | None) -> None:
        """The page count the site declares on this page (`Pagination.last_page`)."""
        if declared is not None and declared > 0:
            start = response.meta.get("pricebook_start", 0)
            self.pages_declared[start] = max(self.pages_declared.get(start, 0), declared)

    def finalize_stats(self) -> None:
        """Before the stats are written (`StatsFileExtension`): pagination that stopped before
        the page count the site declares (or ``max_pages``) becomes a warning."""
        if self._finalized:
            return
        self._finalized = True
        expected_total = 0
        for start, declared in sorted(self.pages_declared.items()):
            expected = min(declared, self.max_pages)
            expected_total += expected
            reached = self.pages_reached.get(start, 0)
            if reached < expected:
                self.inc_stat("pagination_short")
                self.warn(
                    f"pagination stopped at page {reached} of {declared} the site declares "
                    f"({self.src.start_urls[start]})"
                )
        if self.pages_declared:
            stats = getattr(getattr(self, "crawler", None), "stats", None)
            if stats is not None:
                stats.set_value(f"{STATS_PREFIX}/pages_expected", expected_total)

    def inc_stat(self, key: str, count: int = 1) -> None:
        stats = getattr(getattr(self, "crawler", None), "stats", None)
        if stats is not None:
            stats.inc_value(f"{STATS_PREFIX}/{key}", count)

    def closed(self, reason: str) -> None:
        self.finalize_stats()
        stats = getattr(getattr(self, "crawler", None), "stats", None)
        if stats is None:
            return
        prefix = f"{STATS_PREFIX}/"
        summary = {
            k.removeprefix(prefix): v for k, v in stats.get_stats().items() if k.startswith(prefix)
        }
        logger.info("%s finished (%s): %s", self.src.name, reason, summary)
