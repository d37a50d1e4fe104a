"""Settings of the crawls Scrapyd runs: the project's (`scrapers.settings`), and each crawl
records its own market run, since no ``pricebook crawl`` parent process waits for it.

The egg ``pricebook scrapyd deploy`` uploads names this module as its Scrapy settings
(docs/scaling-crawls.md).
"""

from scrapers.settings import *  # noqa: F403

PRICEBOOK_RECORD_RUN = True
