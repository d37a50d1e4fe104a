"""Scrapy settings for Pricebook's market-price scrapers.

Polite by default: robots.txt obeyed, AutoThrottle on, one request per domain at a time,
retries with exponential backoff, and a User-Agent that names Pricebook with a contact URL.
Override per run with ``-s NAME=VALUE`` or per source/spider with ``custom_settings``.

Environment:

- ``PRICEBOOK_SCRAPER_CONTACT_URL``: contact URL in the User-Agent (site operators use it).
- ``PRICEBOOK_ENV=development``: enables the HTTP cache (never in production: the default
  cache policy never revalidates, so it would serve stale prices).
"""

from __future__ import annotations

import os

BOT_NAME = "pricebook"

SPIDER_MODULES = ["scrapers.spiders"]
NEWSPIDER_MODULE = "scrapers.spiders"

CONTACT_URL = os.environ.get("PRICEBOOK_SCRAPER_CONTACT_URL", "https://pricebook.invalid/contact")
USER_AGENT = f"Pricebook/0.1 (+{CONTACT_URL})"

# --- Politeness -----------------------------------------------------------------------------
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8  # across domains; per domain it is 1
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0  # also AutoThrottle's minimum delay
DOWNLOAD_DELAY_JITTER = 0.5  # ±50%; replaces the deprecated RANDOMIZE_DOWNLOAD_DELAY
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's RemoteControl extension (on by default) runs Python sent over a localhost HTTP
# port and writes job files to the user's profile: off, like the telnet console.
REMOTE_CONTROL_ENABLED = False

# --- Retries with backoff -------------------------------------------------------------------
# Scrapy 2.19 has no built-in retry backoff setting (RetryMiddleware re-queues immediately with
# a lower priority), so BackoffRetryMiddleware replaces it: same RETRY_* settings, plus it widens
# the domain's download delay exponentially on each retry and honours Retry-After.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
PRICEBOOK_RETRY_BACKOFF_BASE = 2.0  # seconds; delay = base * 2**(retry_times - 1)
PRICEBOOK_RETRY_BACKOFF_MAX = 120.0  # seconds
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
}

# --- Pricebook pipeline and reporting -------------------------------------------------------
# CorePipeline hands batches of raw items to the core (pricebook.market.ingest_items).
# JsonLinesPipeline (enabled with -s PRICEBOOK_ITEMS_FILE=path) writes raw items to a file.
ITEM_PIPELINES = {
    "scrapers.pipelines.CorePipeline": 300,
    "scrapers.pipelines.JsonLinesPipeline": 800,  # inactive unless PRICEBOOK_ITEMS_FILE is set
}
PRICEBOOK_BATCH_SIZE = 500
PRICEBOOK_ITEMS_FILE = None
PRICEBOOK_RUN_ID = None  # set by `pricebook crawl`; also accepted as `-a run_id=N`
# extra directory of source files, searched before the built-ins: from the environment too, as
# Scrapyd passes it to its crawl processes (docs/scaling-crawls.md)
PRICEBOOK_SOURCES_DIR = os.environ.get("PRICEBOOK_SOURCES_DIR") or None
PRICEBOOK_STATS_FILE = None  # if set, final crawl stats are written there as JSON
# the crawl records its own market run (the crawls Scrapyd starts: scrapers.scrapyd_settings);
# off here, where `pricebook crawl` records the run from the parent process
PRICEBOOK_RECORD_RUN = False
EXTENSIONS = {
    "scrapers.extensions.StatsFileExtension": 500,
    "scrapers.extensions.RunRecordExtension": 510,
}

# --- Output and logging ---------------------------------------------------------------------
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"

# --- HTTP cache: development only -----------------------------------------------------------
if os.environ.get("PRICEBOOK_ENV") == "development":
    HTTPCACHE_ENABLED = True
    HTTPCACHE_EXPIRATION_SECS = 24 * 3600
    HTTPCACHE_DIR = "httpcache"  # under the project data dir (.scrapy/)
    HTTPCACHE_IGNORE_HTTP_CODES = [429, 500, 502, 503, 504]
else:
    HTTPCACHE_ENABLED = False

# Notes for Scrapy 2.19:
# - REQUEST_FINGERPRINTER_IMPLEMENTATION was removed (the 2.7+ fingerprinter is the only one),
#   so it is not set here.
# - TWISTED_REACTOR already defaults to the asyncio reactor, which the async pipeline relies on.
