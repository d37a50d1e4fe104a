"""``listing``: one configurable spider for every HTML listing source.

    scrapy crawl listing -a source=example_qipeicheng
    scrapy crawl listing -a source_file=path/to/source.toml [-a base_url=http://...]

Rows are selected with the source's ``item`` selector, fields inside each row with the
``fields`` selectors, and the ``pagination.next`` link is followed up to ``max_pages``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from scrapers.spiders.base import SourceSpider, clean_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from parsel import Selector as ParselSelector
    from parsel import SelectorList
    from scrapy.http import Response

    from scrapers.sources import Selector


def select(node: Any, selector: Selector) -> SelectorList[ParselSelector]:
    if selector.kind == "css":
        return node.css(selector.expr)
    if selector.kind == "xpath":
        return node.xpath(selector.expr)
    raise ValueError(f"{selector} is not an HTML selector")


def extract_text(node: Any, selector: Selector) -> str | None:
    """Text of everything the selector matches inside ``node``, whitespace collapsed.

    Works for text/attribute selectors (``td.price::text``, ``@title``) and for element
    selectors (``td.price``: the element's whole text, nested tags included).
    """
    parts = []
    for match in select(node, selector):
        if isinstance(match.root, str):
            parts.append(match.root)
        else:
            parts.append(" ".join(match.xpath(".//text()").getall()))
    return clean_text(" ".join(parts))


def extract_link(node: Any, selector: Selector) -> str | None:
    """First link the selector matches: an attribute/text value, or an element's href."""
    for match in select(node, selector):
        value = match.root if isinstance(match.root, str) else match.attrib.get("href")
        value = clean_text(value)
        if value and not value.lower().startswith(("javascript:", "#")):
            return value
    return None


def declared_pages(node: Any, selector: Selector) -> int | None:
    """The largest whole number in the texts the selector matches (a pager's "1 2 3 下一页",
    "共 3 页"), or None."""
    numbers = [int(n) for text in _texts(node, selector) for n in re.findall(r"\d+", text)]
    return max(numbers) if numbers else None


def _texts(node: Any, selector: Selector) -> list[str]:
    out = []
    for match in select(node, selector):
        if isinstance(match.root, str):
            out.append(match.root)
        else:
            out.append(" ".join(match.xpath(".//text()").getall()))
    return out


class ListingSpider(SourceSpider):
    name = "listing"
    source_kind = "html"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        page = response.meta.get("pricebook_page", 1)
        self.page_parsed(response)
        if self.src.pagination.last_page is not None:
            self.pages_declared_on(
                response, declared_pages(response, self.src.pagination.last_page)
            )
        rows = select(response, self.src.item)
        if not rows:
            self.inc_stat("empty_pages")
            self.warn(
                f"{self.src.name}: no rows match {self.src.item} on {response.url} (layout changed?)"
            )
        for row in rows:
            values = {key: extract_text(row, sel) for key, sel in self.src.fields.items()}
            item = self.make_item(response, page, values)
            if item is not None:
                yield item
        if self.src.pagination.next is not None:
            href = extract_link(response, self.src.pagination.next)
            if href:
                request = self.follow_page(response, href, page + 1)
                if request is not None:
                    yield request
