"""Reading a row's cells: each parser records an error and returns None, so every bad cell of
a row is reported; codes are looked up in bulk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from pricebook.errors import ImportRejected, RowError
from pricebook.io.importers.report import ImportReport
from pricebook.io.tables import Row
from pricebook.models import Base, PriceType
from pricebook.money import MAX_YUAN, MoneyError, parse_money, parse_plain, quote, to_fen

CHUNK = 5000

#: what `chunks` slices
T = TypeVar("T")


@dataclass
class ImportContext:
    session: Session
    kind: str
    actor: str
    reason: str
    source_ref: str
    dry_run: bool
    report: ImportReport
    errors: list[RowError] = field(default_factory=list)

    def error(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(row, column, message))

    def raise_if_errors(self) -> None:
        if self.errors:
            self.errors.sort(key=lambda e: (e.row, e.column))
            raise ImportRejected(self.kind, self.errors)


def text_cell(
    ctx: ImportContext, n: int, row: Row, column: str, *, required: bool = True
) -> str | None:
    value = row.get(column, "").strip()
    if required and not value:
        ctx.error(n, column, "required")
        return None
    return value


def choice_cell(
    ctx: ImportContext, n: int, row: Row, column: str, allowed: Iterable[str]
) -> str | None:
    value = text_cell(ctx, n, row, column)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        ctx.error(n, column, f"{quote(value)} is not one of {', '.join(allowed)}")
        return None
    return value


def lookup_cell(
    ctx: ImportContext,
    n: int,
    row: Row,
    column: str,
    codes: dict[str, int],
    what: str,
    *,
    required: bool = True,
    spelling: Callable[[str], str] | None = None,
) -> int | None:
    """The id a cell names; ``spelling`` is how a cell not found as written is compared."""
    value = text_cell(ctx, n, row, column, required=required)
    if not value:
        return None
    found = codes.get(value)
    if found is None and spelling is not None:
        found = codes.get(spelling(value))
    if found is None:
        ctx.error(n, column, f"unknown {what} {quote(value)}")
    return found


def money_cell(
    ctx: ImportContext,
    n: int,
    row: Row,
    column: str,
    *,
    required: bool = True,
    maximum: Decimal = MAX_YUAN,
) -> int | None:
    """An amount cell, exactly as written (`pricebook.money.parse_money`: no spaces around it)."""
    raw = row.get(column, "")
    if not raw.strip():
        if required:
            ctx.error(n, column, "required")
        return None
    try:
        amount = parse_money(raw, maximum=maximum)
    except MoneyError as exc:
        ctx.error(n, column, str(exc))
        return None
    return to_fen(amount)


def date_cell(
    ctx: ImportContext, n: int, row: Row, column: str, *, required: bool = True
) -> date | None:
    value = text_cell(ctx, n, row, column, required=required)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        ctx.error(n, column, f"{quote(value)} is not a date YYYY-MM-DD")
        return None


def int_cell(
    ctx: ImportContext, n: int, row: Row, column: str, *, required: bool = True
) -> int | None:
    value = text_cell(ctx, n, row, column, required=required)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        ctx.error(n, column, f"{quote(value)} is not a whole number")
        return None


def basis_points_cell(
    ctx: ImportContext, n: int, row: Row, column: str, *, upper: int
) -> int | None:
    """'15' or '12.5' percent → basis points (1500, 1250)."""
    value = text_cell(ctx, n, row, column)
    if not value:
        return None
    try:
        pct = parse_plain(value, places=2, maximum=Decimal(upper) / 100, allow_zero=True)
    except MoneyError as exc:
        ctx.error(n, column, f"a percentage between 0 and {upper // 100}: {exc}")
        return None
    bp = pct * 100
    return int(bp)


def bool_cell(ctx: ImportContext, n: int, row: Row, column: str) -> bool:
    value = row.get(column, "").strip().lower()
    if value in {"", "0", "false", "no", "否"}:
        return False
    if value in {"1", "true", "yes", "是"}:
        return True
    ctx.error(n, column, f"{quote(value)} is not 1 or 0")
    return False


def date_range_cells(
    ctx: ImportContext, n: int, row: Row, *, default_from: date | None = None
) -> tuple[date | None, date | None]:
    valid_from = date_cell(ctx, n, row, "valid_from", required=default_from is None) or default_from
    valid_to = date_cell(ctx, n, row, "valid_to", required=False)
    if valid_from and valid_to and valid_to <= valid_from:
        ctx.error(n, "valid_to", f"must be after valid_from {valid_from}")
        return None, None
    return valid_from, valid_to


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


def code_ids(session: Session, model: type[Base], column: str = "code") -> dict[str, int]:
    table = model.__table__
    return {code: id_ for code, id_ in session.execute(select(table.c[column], table.c.id))}


def price_type_codes(session: Session) -> dict[str, int]:
    """Price type codes, and the words of the one vocabulary (`pricebook.price_words`: 原厂件,
    4S价 …) a file may write instead, as the vocabulary spells them (`price_type_word`); a code
    wins over a word spelled the same."""
    from pricebook.price_words import load_words, type_words

    codes = code_ids(session, PriceType)
    words = {w: codes[c] for w, c in type_words(load_words(session), codes).items()}
    return {**words, **codes}


def price_type_word(value: str) -> str:
    from pricebook.price_words import normalize_word

    return normalize_word(value)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
