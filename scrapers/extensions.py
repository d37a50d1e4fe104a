"""Extensions."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


class StatsFileExtension:
    """Writes the final crawl stats as JSON to ``PRICEBOOK_STATS_FILE`` when the spider closes.

    The ``pricebook crawl`` report (pages, items, dropped with reasons, page errors) reads it:
    ``pricebook/pages``, ``pricebook/items``, ``pricebook/dropped/<reason>``,
    ``pricebook/page_errors/<reason>``, ``pricebook/ingest/<field>``, plus Scrapy's own stats
    and ``finish_reason``.
    """

    def __init__(self, crawler: Crawler, path: str):
        self.crawler = crawler
        self.path = Path(path)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StatsFileExtension:
        path = crawler.settings.get("PRICEBOOK_STATS_FILE")
        if not path:
            raise NotConfigured
        ext = cls(crawler, path)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, reason: str) -> None:
        # the spider's last words (pagination that stopped early) before the stats are read
        finalize = getattr(self.crawler.spider, "finalize_stats", None)
        if callable(finalize):
            finalize()
        assert self.crawler.stats is not None
        stats = {k: _jsonable(v) for k, v in self.crawler.stats.get_stats().items()}
        stats.setdefault("finish_reason", reason)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(stats, ensure_ascii=False, indent=2, sort_keys=True))
