"""Extensions."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from sqlalchemy import Engine

logger = logging.getLogger(__name__)


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


class RunRecordExtension:
    """Records the crawl as a market run from inside its own process (``PRICEBOOK_RECORD_RUN``,
    on in the crawls Scrapyd starts: `scrapers.scrapyd_settings`), as ``pricebook crawl`` does
    from outside: the run row (made here unless ``PRICEBOOK_RUN_ID`` or ``-a run_id`` names
    one), then, when the spider closes, its report, status and assessment
    (`pricebook.market.crawl.record_crawl`). A crawl that dies before its spider opens leaves
    no run, or its given run ``running``: ``pricebook crawl --scrapyd`` marks that one failed.
    """

    TAIL_LINES = 30

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.tail: deque[str] = deque(maxlen=self.TAIL_LINES)
        self.handler = _TailHandler(self.tail)
        self.engine: Engine | None = None
        self.run_id: int | None = None
        self.started = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecordExtension:
        if not crawler.settings.getbool("PRICEBOOK_RECORD_RUN"):
            raise NotConfigured
        ext = cls(crawler)
        logging.getLogger().addHandler(ext.handler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        from pricebook.db import make_engine
        from pricebook.market.crawl import CrawlTarget, start_run
        from pricebook.settings import Settings

        url = self.crawler.settings.get("PRICEBOOK_DATABASE_URL")
        settings = Settings(database_url=str(url)) if url else Settings.from_env()
        self.engine = make_engine(settings)
        given = self.crawler.settings.get("PRICEBOOK_RUN_ID") or getattr(spider, "run_id", None)
        if given not in (None, ""):
            self.run_id = int(given)
        else:
            name = spider.src.name  # type: ignore[attr-defined]
            target = CrawlTarget(name, spider.name, ("source", name), "scrapyd")
            actor = f"scrapyd:{getattr(spider, '_job', '') or 'job'}"
            self.run_id = start_run(self.engine, target, actor)
        spider.run_id = self.run_id  # type: ignore[attr-defined]  # CorePipeline reads it
        self.started = time.monotonic()

    def spider_closed(self, spider: Spider, reason: str) -> None:
        from pricebook.market.crawl import record_crawl

        logging.getLogger().removeHandler(self.handler)
        if self.engine is None or self.run_id is None:
            return
        finalize = getattr(spider, "finalize_stats", None)
        if callable(finalize):
            finalize()
        assert self.crawler.stats is not None
        stats = {k: _jsonable(v) for k, v in self.crawler.stats.get_stats().items()}
        stats.setdefault("finish_reason", reason)
        # CoreStats may set it after this handler: the crawl's own clock then
        stats.setdefault("elapsed_time_seconds", round(time.monotonic() - self.started, 2))
        try:
            source = spider.src.name  # type: ignore[attr-defined]
            report = record_crawl(self.engine, source, self.run_id, stats, list(self.tail))
        finally:
            self.engine.dispose()
        for line in report.lines():
            logger.info("%s", line)


class _TailHandler(logging.Handler):
    """Keeps the crawl's last log lines for the run of a failed crawl."""

    def __init__(self, tail: deque[str]):
        super().__init__(logging.INFO)
        self.tail = tail
        self.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.tail.append(self.format(record))
        except Exception:
            self.handleError(record)
