"""Reading and writing tables as CSV (UTF-8, BOM or not) or XLSX, chosen by extension."""

from __future__ import annotations

import csv
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pricebook.errors import InvalidInput
from pricebook.money import quote
from pricebook.settings import Settings

if TYPE_CHECKING:
    from openpyxl import Workbook

Row = dict[str, str]

#: a text cell starting with one of these is a formula to a spreadsheet program (OWASP "CSV
#: injection"): exports write it with a leading `'`, imports take exactly that `'` off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class TableLimits:
    """What a file to import may hold (`Settings.import_max_*`); checked while reading, so a
    file over a limit is refused before it is held in memory."""

    #: rows after the header
    max_rows: int = 200_000
    #: characters in one cell
    max_cell_chars: int = 1000
    #: an XLSX's unpacked size (a zip of 300 KB can unpack to 300 MB): 10 × the upload limit
    max_unpacked_bytes: int = 200 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> TableLimits:
        return cls(
            max_rows=settings.import_max_rows,
            max_cell_chars=settings.import_max_cell_chars,
            max_unpacked_bytes=10 * settings.import_max_bytes,
        )


#: what the CLI reads (an operator's own file; `bench/import.py` imports a million rows)
UNLIMITED = TableLimits(sys.maxsize, sys.maxsize, sys.maxsize)


class TooLarge(InvalidInput):
    """A file beyond a size limit (the API answers 413)."""


def _needs_quote(value: str) -> bool:
    if not value:
        return False
    if value[0] == "'":
        return _needs_quote(value[1:])
    return value[0] in FORMULA_STARTS and not _NUMBER.fullmatch(value)


def neutralise(value: str) -> str:
    """A text cell as an export writes it: `'` before a formula-leading text (not before a
    plain number such as -3.50). `unneutralise` undoes exactly this."""
    return "'" + value if _needs_quote(value) else value


def unneutralise(value: str) -> str:
    return value[1:] if value[:1] == "'" and _needs_quote(value[1:]) else value


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise InvalidInput(f"{path.name}: use a .csv or .xlsx file", field="file")
    return suffix[1:]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and hasattr(value, "hour"):  # openpyxl gives datetimes for dates
        return str(value.date().isoformat())
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, float):
        # Excel keeps numbers as float; repr is the shortest text that reads back the same.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def read_table(
    path: Path, limits: TableLimits | None = None
) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """The header and an iterator of (spreadsheet row number, row); blank rows are skipped.

    Cells come as written (an import strips what it strips, and refuses an amount with spaces
    around it), less the `'` an export put before a formula-leading text. Past `limits` the
    iterator raises InvalidInput naming the limit (no limits: None, the CLI) (TooLarge for an XLSX that unpacks too big).
    """
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="file")
    limits = limits or UNLIMITED
    kind = _format(path)
    if kind == "csv":
        header, rows = _read_csv(path, limits)
    else:
        header, rows = _read_xlsx(path, limits)
    return header, _checked(path, header, rows, limits)


def _checked(
    path: Path, header: list[str], rows: Iterator[tuple[int, list[str]]], limits: TableLimits
) -> Iterator[tuple[int, Row]]:
    count = 0
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        count += 1
        if count > limits.max_rows:
            raise InvalidInput(
                f"{path.name} has more than {limits.max_rows} rows (the limit): split it",
                field="file",
            )
        for column, cell in zip(header, cells, strict=False):
            if len(cell) > limits.max_cell_chars:
                raise InvalidInput(
                    f"row {number}, column {column}: longer than {limits.max_cell_chars} "
                    f"characters: {quote(cell)}",
                    field="file",
                )
        yield number, dict(zip(header, (unneutralise(c) for c in cells), strict=False))


def _not_utf8(path: Path) -> InvalidInput:
    # Excel on a Chinese Windows saves "CSV" in GBK: say which of its formats to pick instead
    return InvalidInput(
        f"{path.name} is not UTF-8 text: save it as CSV UTF-8 or upload the XLSX file",
        field="file",
    )


def _read_csv(path: Path, limits: TableLimits) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    # The header is read now and the rows lazily: a file that fails the header check is closed.
    def too_long(number: int) -> InvalidInput:
        return InvalidInput(
            f"row {number}: a cell longer than {limits.max_cell_chars} characters", field="file"
        )

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = [h.strip() for h in next(csv.reader(handle), [])]
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error:  # a header cell beyond the csv module's field limit
        raise too_long(1) from None
    if not header:
        raise InvalidInput(f"{path.name} is empty", field="file")

    def rows() -> Iterator[tuple[int, list[str]]]:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            number = 1
            try:
                next(reader)
                for number, cells in enumerate(reader, start=2):
                    yield number, cells
            except UnicodeDecodeError:
                raise _not_utf8(path) from None
            except csv.Error as exc:  # "field larger than field limit" and broken quoting
                if "field limit" in str(exc):
                    raise too_long(number + 1) from None
                raise InvalidInput(f"{path.name}: {exc}", field="file") from None

    return header, rows()


def _open_xlsx(path: Path, limits: TableLimits) -> Workbook:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{path.name} is not a readable XLSX file: {exc}", field="file") from exc
    if unpacked > limits.max_unpacked_bytes:
        raise TooLarge(
            f"{path.name} unpacks to more than {limits.max_unpacked_bytes // 2**20} MB",
            field="file",
        )
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InvalidInput(
            f"{path.name} is not a readable XLSX file: {quote(str(exc))}", field="file"
        ) from exc


def _read_xlsx(
    path: Path, limits: TableLimits
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    workbook = _open_xlsx(path, limits)
    try:
        first = next(workbook.worksheets[0].iter_rows(values_only=True), None)
    finally:
        workbook.close()
    if not first:
        raise InvalidInput(f"{path.name} is empty", field="file")
    header = [_cell(h).strip() for h in first]

    def rows() -> Iterator[tuple[int, list[str]]]:
        workbook = _open_xlsx(path, limits)
        try:
            values = workbook.worksheets[0].iter_rows(values_only=True)
            next(values)
            for number, cells in enumerate(values, start=2):
                yield number, [_cell(c) for c in cells]
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
                writer.writerow([neutralise(row.get(c, "")) for c in columns])
                count += 1
        return count
    from openpyxl import Workbook
    from openpyxl.cell import Cell, WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()

    def text(value: str) -> Cell:  # openpyxl's WriteOnlyCell is a factory of plain cells
        # Text cells keep codes such as "0001" and amounts exactly as written; data_type "s"
        # keeps anything that looks like a formula a string (openpyxl makes "=…" a formula).
        cell = WriteOnlyCell(sheet, value=neutralise(value))
        cell.data_type = "s"
        return cell

    sheet.append([text(c) for c in columns])
    for row in rows:
        sheet.append([text(row.get(c, "")) for c in columns])
        count += 1
    workbook.save(path)
    return count
