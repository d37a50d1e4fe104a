"""Item pipelines: hand raw market items to the core, or write them to a JSON Lines file.

Scrapy 2.19 style: no ``spider`` argument (deprecated); the crawler comes from
``from_crawler``. ``process_item``/``close_spider`` are coroutines (asyncio reactor).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def item_to_dict(item: Any) -> dict[str, Any]:
    return ItemAdapter(item).asdict()


class CorePipeline:
    """Buffers items and passes them to ``pricebook.market.ingest_items`` in batches.

    ``ingest_items(settings, items: list[dict], run_id: int | None) -> IngestResult`` is called
    once per ``PRICEBOOK_BATCH_SIZE`` items (one transaction per batch, the core's job) and once
    more for the rest when the spider closes. ``settings`` is the crawler's Scrapy settings
    (PRICEBOOK_* values included); ``run_id`` comes from ``-s PRICEBOOK_RUN_ID`` or
    ``-a run_id``. A synchronous ``ingest_items`` runs in a worker thread
    (``asyncio.to_thread``); a coroutine function is awaited. Numeric fields of the returned
    result (a dataclass, mapping, or object with ``__dict__``) are added to the crawl stats as
    ``pricebook/ingest/<field>``; mapping fields (``dropped_by_reason``) as
    ``pricebook/ingest/<field>/<key>``. The core's engines are disposed when the spider closes.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.batch_size = max(1, crawler.settings.getint("PRICEBOOK_BATCH_SIZE", 500))
        self.buffer: list[dict[str, Any]] = []
        self.ingest: Callable[..., Any] | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CorePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        try:
            from pricebook.market import ingest_items
        except ImportError as exc:
            raise RuntimeError(
                "CorePipeline needs pricebook.market.ingest_items, which is not importable "
                f"({exc}). To collect raw items without the core, run with "
                "-s ITEM_PIPELINES='{\"scrapers.pipelines.JsonLinesPipeline\": 300}' "
                "-s PRICEBOOK_ITEMS_FILE=items.jl"
            ) from exc
        self.ingest = ingest_items

    @property
    def run_id(self) -> int | None:
        value = self.crawler.settings.get("PRICEBOOK_RUN_ID")
        if value in (None, ""):
            value = getattr(self.crawler.spider, "run_id", None)
        return int(value) if value not in (None, "") else None

    async def process_item(self, item: Any) -> Any:
        self.buffer.append(item_to_dict(item))
        if len(self.buffer) >= self.batch_size:
            await self.flush()
        return item

    async def close_spider(self) -> None:
        await self.flush()
        dispose = getattr(sys.modules.get("pricebook.market"), "dispose_engines", None)
        if callable(dispose):
            dispose()  # the core's pooled connections, opened for this crawl

    async def flush(self) -> None:
        async with self._lock:
            batch, self.buffer = self.buffer, []
            if not batch:
                return
            assert self.ingest is not None
            if inspect.iscoroutinefunction(self.ingest):
                result = await self.ingest(self.crawler.settings, batch, self.run_id)
            else:
                result = await asyncio.to_thread(
                    self.ingest, self.crawler.settings, batch, self.run_id
                )
            self._record(result, len(batch))

    def _record(self, result: Any, count: int) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("pricebook/ingest/batches")
        stats.inc_value("pricebook/ingest/items_sent", count)
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            fields = dataclasses.asdict(result)
        elif isinstance(result, dict):
            fields = result
        else:
            fields = getattr(result, "__dict__", {}) or {}
        for key, value in fields.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                stats.inc_value(f"pricebook/ingest/{key}", value)
            elif isinstance(value, dict):  # e.g. dropped_by_reason: {reason: count}
                for sub, count in value.items():
                    if isinstance(count, int | float) and not isinstance(count, bool):
                        stats.inc_value(f"pricebook/ingest/{key}/{sub}", count)


class JsonLinesPipeline:
    """Writes every item as one JSON line (UTF-8, Chinese kept readable) to
    ``PRICEBOOK_ITEMS_FILE``. Not configured (skipped) when that setting is empty."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.file: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JsonLinesPipeline:
        path = crawler.settings.get("PRICEBOOK_ITEMS_FILE")
        if not path:
            raise NotConfigured("PRICEBOOK_ITEMS_FILE is not set")
        return cls(path)

    def open_spider(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("w", encoding="utf-8")

    def process_item(self, item: Any) -> Any:
        self.file.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
        return item

    def close_spider(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
