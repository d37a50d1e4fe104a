"""What the UI's lists share: whitelisted column sorting, the links a list needs, CSV export.

A list page keeps its whole state in the query string (filters, `sort`, `page`), so a link can
be bookmarked and the export is exactly the list on screen. `Listing` builds every link from
that state (column headers, pager, export), so none of them drops a filter. `sort` is a column
of the page's whitelist, `-column` for descending; anything else is refused (422, Chinese), not
passed to SQL. CSV answers are UTF-8 with a BOM (Excel opens Chinese correctly), amounts as
yuan text (never float), and text cells that a spreadsheet would run as a formula neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Response

from pricebook.errors import InvalidInput
from pricebook.io.tables import neutralise

#: the most rows one export writes; a longer list is refused (narrow the filters), never cut
EXPORT_MAX = 20_000


@dataclass(frozen=True, slots=True)
class Sort:
    column: str
    descending: bool = False

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.column


def parse_sort(value: str, columns: Mapping[str, str], default: str) -> Sort:
    """`value` (`col` or `-col`) if `col` is one of `columns` (column → Chinese label), else
    `default` when empty; anything else is InvalidInput naming the field."""
    value = value.strip() or default
    column = value.removeprefix("-")
    if column not in columns:
        names = "、".join(columns.values())
        raise InvalidInput(f"不能按“{value[:40]}”排序：可排序的列为 {names}", field="sort")
    return Sort(column, value.startswith("-"))


@dataclass(frozen=True, slots=True)
class Header:
    href: str
    #: `aria-sort` of the sorted column (ascending / descending); None on the others
    aria: str | None
    arrow: str


@dataclass(frozen=True, slots=True)
class Listing:
    """A list's address: its path, filters as typed, sort and page."""

    path: str
    filters: Mapping[str, Any]
    sort: Sort
    page: int = 1

    def _query(self, **changes: Any) -> str:
        params = {k: v for k, v in self.filters.items() if v not in (None, "")}
        params["sort"] = str(self.sort)
        params.update({k: v for k, v in changes.items() if v is not None})
        return urlencode(params)

    def href(self, page: int) -> str:
        return f"{self.path}?{self._query(page=page)}"

    def header(self, column: str) -> Header:
        """A column header's link: the sorted column toggles its direction, another column
        sorts ascending from the first page."""
        if column == self.sort.column:
            toggled = Sort(column, not self.sort.descending)
            aria = "descending" if self.sort.descending else "ascending"
            arrow = "↓" if self.sort.descending else "↑"
        else:
            toggled, aria, arrow = Sort(column), None, ""
        return Header(f"{self.path}?{self._query(sort=str(toggled))}", aria, arrow)

    @property
    def export_href(self) -> str:
        return f"{self.path.rstrip('/')}/export.csv?{self._query()}"


def check_export_size(total: int) -> None:
    if total > EXPORT_MAX:
        raise InvalidInput(
            f"筛选结果共 {total} 条，超过单次导出上限 {EXPORT_MAX} 条：请缩小筛选范围后再导出",
            field="export",
        )


def cell(value: object) -> str:
    """One CSV cell: amounts as yuan text, days and times in ISO form, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        raise TypeError("money and counts never pass through float")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response[bytes]:
    """A CSV download: UTF-8 with BOM, CRLF lines, `filename` (may be Chinese) as attachment."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell(v) for v in row] for row in rows)
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    disposition = f"attachment; filename=\"export.csv\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )
