"""Reading and writing tables as CSV (UTF-8, BOM or not) or XLSX, chosen by extension."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pricebook.errors import InvalidInput

Row = dict[str, str]


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise InvalidInput(f"{path.name}: use a .csv or .xlsx file", field="file")
    return suffix[1:]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and hasattr(value, "hour"):  # openpyxl gives datetimes for dates
        return value.date().isoformat()  # type: ignore[attr-defined]
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[attr-defined]
    if isinstance(value, float):
        # Excel keeps numbers as float; repr is the shortest text that reads back the same.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value).strip()


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """The header and an iterator of (spreadsheet row number, row); blank rows are skipped."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="file")
    kind = _format(path)
    if kind == "csv":
        return _read_csv(path)
    return _read_xlsx(path)


def _read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    # The header is read now and the rows lazily: a file that fails the header check is closed.
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = [h.strip() for h in next(csv.reader(handle), [])]
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text", field="file") from None
    if not header:
        raise InvalidInput(f"{path.name} is empty", field="file")

    def rows() -> Iterator[tuple[int, Row]]:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                next(reader)
                for number, cells in enumerate(reader, start=2):
                    if not any(c.strip() for c in cells):
                        continue
                    yield number, dict(zip(header, (c.strip() for c in cells), strict=False))
            except UnicodeDecodeError:
                raise InvalidInput(f"{path.name} is not UTF-8 text", field="file") from None

    return header, rows()


def _open_xlsx(path: Path):
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InvalidInput(f"{path.name} is not a readable XLSX file: {exc}", field="file") from exc


def _read_xlsx(path: Path) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    workbook = _open_xlsx(path)
    try:
        first = next(workbook.worksheets[0].iter_rows(values_only=True), None)
    finally:
        workbook.close()
    if not first:
        raise InvalidInput(f"{path.name} is empty", field="file")
    header = [_cell(h) for h in first]

    def rows() -> Iterator[tuple[int, Row]]:
        workbook = _open_xlsx(path)
        try:
            values = workbook.worksheets[0].iter_rows(values_only=True)
            next(values)
            for number, cells in enumerate(values, start=2):
                texts = [_cell(c) for c in cells]
                if not any(texts):
                    continue
                yield number, dict(zip(header, texts, strict=False))
        finally:
            workbook.close()

    return header, rows()


def write_table(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """Write rows (missing cells empty); CSV gets a BOM so Excel opens it as UTF-8."""
    kind = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    if kind == "csv":
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([row.get(c, "") for c in columns])
                count += 1
        return count
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(columns))
    for row in rows:
        # Text cells keep codes such as "0001" and amounts exactly as written.
        sheet.append([row.get(c, "") for c in columns])
        count += 1
    workbook.save(path)
    return count
