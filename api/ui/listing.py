"""What the UI's lists share: whitelisted column sorting, the links a list needs, CSV and XLSX
export.

A list page keeps its whole state in the query string (filters, `sort`, `page`), so a link can
be bookmarked and the export is exactly the list on screen. `Listing` builds every link from
that state (column headers, pager, export), so none of them drops a filter. `sort` is a column
of the page's whitelist, `-column` for descending; anything else is refused (422, Chinese), not
passed to SQL. CSV answers are UTF-8 with a BOM (Excel opens Chinese correctly), amounts as
yuan text (never float), and text cells that a spreadsheet would run as a formula neutralised.
XLSX answers hold the same columns typed for a spreadsheet: amounts as numbers shown with two
decimals, days and times as dates, counts as integers, text neutralised the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from litestar import Request, Response

from pricebook.errors import InvalidInput
from pricebook.io.tables import neutralise

T = TypeVar("T")

#: the most rows one export writes; a longer list is refused (narrow the filters), never cut
EXPORT_MAX = 20_000
#: rows a searched list shows a page
PAGE_SIZE = 50


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
class Filters:
    """A list's filters as the address gives them (`shown`, kept by every link) and as its
    core query takes them (`filters`): what a list page and its export read alike."""

    shown: dict[str, Any]
    filters: dict[str, Any]


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

    @property
    def xlsx_href(self) -> str:
        return f"{self.path.rstrip('/')}/export.xlsx?{self._query()}"


def page_count(total: int) -> int:
    return (total + PAGE_SIZE - 1) // PAGE_SIZE


def searched_page(
    path: str, found: Sequence[T], q: str, sort: Sort, page: int
) -> tuple[Sequence[T], dict[str, Any]]:
    """Page `page` of a list searched for `q` (a word list held whole), and what the page
    shows around it: the search, the count, the pager and the links that keep both."""
    context = {
        "q": q,
        "total": len(found),
        "page_no": page,
        "pages": page_count(len(found)),
        "listing": Listing(path, {"q": q}, sort, page),
    }
    return found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], context


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
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": _disposition("export.csv", filename),
            "Cache-Control": "no-store",
        },
    )


#: how a spreadsheet shows the typed cells: amounts (and hours) with two decimals
_NUMBER_FORMATS = {Decimal: "#,##0.00", datetime: "yyyy-mm-dd hh:mm:ss", date: "yyyy-mm-dd"}


def sheet_value(value: object) -> object:
    """One XLSX cell's value under the CSV's rules, kept typed where a spreadsheet computes
    with it: Decimal stays a number, dates stay dates (times in UTC, without the zone, which
    XLSX cannot hold), yes/no as 是/否, text neutralised; float is refused as in CSV."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None or isinstance(value, int | Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("money and counts never pass through float")
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value
    return neutralise(str(value))


def xlsx_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response[bytes]:
    """An XLSX download of the same table a CSV export writes: one sheet, header row bold and
    frozen, typed cells (see `sheet_value`)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("导出")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    for number, name in enumerate(header, start=1):  # a Chinese character is two columns wide
        sheet.column_dimensions[get_column_letter(number)].width = max(12, 2 * len(name) + 2)

    def typed(value: object) -> Any:  # WriteOnlyCell is a factory function, not a type
        shown = sheet_value(value)
        written = WriteOnlyCell(sheet, value=shown)
        if isinstance(shown, str):
            written.data_type = "s"  # a neutralised "=…" stays text, never a formula
        number_format = next((f for t, f in _NUMBER_FORMATS.items() if type(shown) is t), None)
        if number_format:
            written.number_format = number_format
        return written

    def title(name: str) -> Any:
        written = typed(name)
        written.font = bold
        return written

    sheet.append([title(h) for h in header])
    for row in rows:
        sheet.append([typed(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": _disposition("export.xlsx", filename),
            "Cache-Control": "no-store",
        },
    )


def export_response(
    request: Request[Any, Any, Any],
    stem: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> Response[bytes]:
    """The export the address asks for: `…/export.xlsx` as XLSX, `…/export.csv` as CSV; `stem`
    is the download's name without its extension."""
    if request.url.path.endswith(".xlsx"):
        return xlsx_response(f"{stem}.xlsx", header, rows)
    return csv_response(f"{stem}.csv", header, rows)


def _disposition(fallback: str, filename: str) -> str:
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
