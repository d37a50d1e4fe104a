"""Downloader middlewares."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that also backs off: each retry widens the domain's download delay.

    Scrapy's RetryMiddleware re-queues a failed request at once. Here, when a request is
    retried, the downloader slot (one per domain) gets a delay of at least
    ``PRICEBOOK_RETRY_BACKOFF_BASE * 2 ** (attempt - 1)`` seconds (or the server's Retry-After),
    capped at ``PRICEBOOK_RETRY_BACKOFF_MAX``. AutoThrottle lowers it again as healthy responses
    come back (it never lowers a delay on a non-200 response).
    """

    def __init__(self, settings: Any):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("PRICEBOOK_RETRY_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("PRICEBOOK_RETRY_BACKOFF_MAX", 120.0)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        result = super().process_response(request, response)
        if result is not response:
            self._back_off(request, retry_after_seconds(response.headers.get("Retry-After")))
        return result

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        result = super().process_exception(request, exception)
        if result is not None:
            self._back_off(request, None)
        return result  # type: ignore[return-value]

    def _back_off(self, request: Request, retry_after: float | None) -> None:
        attempt = request.meta.get("retry_times", 0) + 1
        delay = self.backoff_base * 2 ** (attempt - 1)
        if retry_after is not None:
            delay = max(delay, retry_after)
        delay = min(delay, self.backoff_max)
        crawler: Crawler = self.crawler
        engine = crawler.engine
        if engine is None or engine.downloader is None:
            return
        downloader = engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is None:
            return
        if slot.delay < delay:
            logger.info("Backing off %s: download delay %.1fs (attempt %d)", slot, delay, attempt)
            slot.delay = delay
        assert crawler.stats is not None
        crawler.stats.inc_value("pricebook/retry_backoffs")
