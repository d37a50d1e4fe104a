"""``api_json``: one configurable spider for every JSON API source.

    scrapy crawl api_json -a source=NAME
    scrapy crawl api_json -a source_file=path/to/source.toml [-a base_url=http://...]

``item`` is the dotted path of the item list in each response; ``fields`` are paths inside one
item. Pagination: ``pagination.next`` (a path to the next URL or page number; null ends) and/or
``pagination.page_param`` (the query parameter carrying page numbers).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from w3lib.url import add_or_replace_parameter

from scrapers.spiders.base import SourceSpider, clean_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response

_MISSING = object()


def get_path(data: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path (``data.list``, ``items.0.price``) through dicts and lists."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            current = _MISSING
        if current is _MISSING:
            return default
    return current


def as_text(value: Any) -> str | None:
    """A JSON scalar as text, kept as found (numbers are not rounded or converted)."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return clean_text(str(value))


class ApiJsonSpider(SourceSpider):
    name = "api_json"
    source_kind = "json"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        page = response.meta.get("pricebook_page", 1)
        try:
            data = json.loads(response.text)
        except (ValueError, AttributeError):
            self.inc_stat("page_errors/invalid_json")
            self.warn(f"{self.src.name}: response is not JSON: {response.url}")
            return
        self.page_parsed(response)
        if self.src.pagination.last_page is not None:
            declared = get_path(data, self.src.pagination.last_page.expr)
            if isinstance(declared, str) and declared.strip().isdigit():
                declared = int(declared)
            if isinstance(declared, int) and not isinstance(declared, bool):
                self.pages_declared_on(response, declared)
        rows = get_path(data, self.src.item.expr)
        if not isinstance(rows, list):
            self.inc_stat("page_errors/no_item_list")
            self.warn(
                f"{self.src.name}: {self.src.item.expr!r} is not a list on {response.url} "
                "(API changed?)"
            )
            rows = []
        elif not rows:
            self.inc_stat("empty_pages")
        for row in rows:
            values = {key: as_text(get_path(row, sel.expr)) for key, sel in self.src.fields.items()}
            item = self.make_item(response, page, values)
            if item is not None:
                yield item
        next_url = self.next_page_url(response, data, page, has_rows=bool(rows))
        if next_url:
            request = self.follow_page(response, next_url, page + 1)
            if request is not None:
                yield request

    def next_page_url(
        self, response: Response, data: Any, page: int, *, has_rows: bool
    ) -> str | None:
        pagination = self.src.pagination
        if pagination.next is not None:
            value = get_path(data, pagination.next.expr)
            if value in (None, "", False, 0):
                return None
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                if not pagination.page_param:
                    self.logger.warning(
                        "%s: next page number %r but no pagination.page_param", self.src.name, value
                    )
                    return None
                return add_or_replace_parameter(response.url, pagination.page_param, str(value))
            if isinstance(value, str):
                return response.urljoin(value)
            return None
        if pagination.page_param and has_rows:
            return add_or_replace_parameter(response.url, pagination.page_param, str(page + 1))
        return None
