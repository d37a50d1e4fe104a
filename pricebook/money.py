"""Money: integer fen in the database, `Decimal` yuan in code and at the API. Never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")


class MoneyError(ValueError):
    """A text or number that is not an amount of yuan with at most two decimals."""


def parse_yuan(value: str | int | Decimal) -> Decimal:
    """Parse '1234.5' / 1234 / Decimal into yuan; floats are refused on purpose."""
    if isinstance(value, (bool, float)):
        raise MoneyError("amounts must be given as text or Decimal, never float")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    if amount != amount.quantize(FEN):
        raise MoneyError(f"more than two decimals: {value!r}")
    return amount.quantize(FEN)


def to_fen(yuan: Decimal) -> int:
    return int((yuan * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)


def round_yuan(amount: Decimal) -> Decimal:
    """Round a computed amount (rate × hours, price × discount) to the fen, half up."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)
