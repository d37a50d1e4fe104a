"""What the UI's list pages share: the sort a query asks for, page arithmetic, the query string
that keeps the filters across sort links, pages and the export, and the CSV download.

Sort keys are a whitelist per page; an unknown one falls back to the default (the UI is lenient
where the JSON API refuses). The CSV is UTF-8 with a BOM (Excel opens Chinese correctly only
then), amounts as yuan text, and a text cell a spreadsheet would run as a formula is quoted
(`pricebook.io.tables.neutralise`, as the file exports do).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Response

from pricebook.io.tables import neutralise

#: rows a list page shows
PAGE_SIZE = 50


def parse_sort(value: str, allowed: Sequence[str]) -> str:
    """`value` when it is an allowed key or its `-key` (descending), else the first key."""
    return value if value.removeprefix("-") in allowed else allowed[0]


def pages(total: int, size: int = PAGE_SIZE) -> int:
    return (total + size - 1) // size


def query(filters: Mapping[str, Any], **more: Any) -> str:
    """The filters (and `more`) as a query string, empty values left out."""
    values = {**filters, **more}
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def sort_links(sort: str, keys: Sequence[str]) -> dict[str, dict[str, str]]:
    """For each sortable column: the sort a click on its header asks for (ascending first, then
    the other way round) and its `aria-sort` state."""
    links = {}
    for key in keys:
        if sort == key:
            links[key] = {"next": f"-{key}", "state": "ascending"}
        elif sort == f"-{key}":
            links[key] = {"next": key, "state": "descending"}
        else:
            links[key] = {"next": key, "state": "none"}
    return links


Column = tuple[str, Callable[[Any], Any]]


def csv_response(filename: str, columns: Sequence[Column], rows: Iterable[Any]) -> Response[bytes]:
    """A CSV download of `rows`: each column a header and how to read it from a row (None is
    an empty cell, anything else its text)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for header, _ in columns])
    for row in rows:
        writer.writerow(
            ["" if (value := get(row)) is None else neutralise(str(value)) for _, get in columns]
        )
    body = "\ufeff" + buffer.getvalue()
    ascii_name = filename.encode("ascii", "ignore").decode() or "export.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
            ),
            "Cache-Control": "no-store",
        },
    )
