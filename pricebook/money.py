"""Money: integer fen in the database, `Decimal` yuan in code and at the API. Never float.

Every amount that comes in (API bodies, imports, UI forms, CLI) goes through `parse_money`: plain
ASCII decimal text, an optional `-` only where a caller allows negatives (no write path does
today: prices, labor rates, rate cards, feedback amounts and authority limits are all above 0),
at most two decimals and at most `MAX_YUAN`. No exponent, no `_`, no full-width digits, no `+`,
no thousands separators and no surrounding spaces: a value is refused, never cleaned up.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_UP, Decimal

from pricebook.errors import InvalidInput

FEN = Decimal("0.01")

#: the largest amount anything accepts (10 million yuan for one price, rate or limit): above it
#: is a typing error. One limit for the API, imports, the UI and the CLI.
MAX_YUAN = Decimal("10000000.00")
#: what `parse_money` reads as text (above 0 apart), for schemas that document it
MONEY_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
#: a Decimal from code with more digits than this before the point is refused outright
_INT_DIGITS = 15
#: how much of a refused value an error message quotes
QUOTE_CHARS = 80


class MoneyError(ValueError):
    """A text or number that is not an amount of yuan with at most two decimals."""


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """`repr` of a value for an error message, cut to about `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[:limit]) + f"… ({len(text)} characters)"
    return repr(text)


def parse_money(
    value: str | int | Decimal,
    *,
    allow_negative: bool = False,
    allow_zero: bool = False,
    maximum: Decimal = MAX_YUAN,
) -> Decimal:
    """Parse an amount of yuan ('1234.5', '-3.20' where negatives are allowed) to a Decimal
    with two places. Text must be plain ASCII `-?digits(.d{1,2})?`; an int or a finite Decimal
    from code is held to the same rules. Raises MoneyError with an English message."""
    return parse_plain(
        value, places=2, maximum=maximum, allow_negative=allow_negative, allow_zero=allow_zero
    )


@functools.cache
def _plain(places: int) -> re.Pattern[str]:
    """A plain decimal with at most `places` decimals and as many digits as a Decimal from code
    may have: a longer number is not an amount, a shorter one over `maximum` is told its limit
    (compiled once: an estimate parses some eighty amounts and quantities)."""
    fraction = rf"(?:\.[0-9]{{1,{places}}})?" if places else ""
    return re.compile(rf"-?[0-9]{{1,{_INT_DIGITS}}}{fraction}")


def parse_plain(
    value: str | int | Decimal,
    *,
    places: int,
    maximum: Decimal,
    allow_negative: bool = False,
    allow_zero: bool = False,
) -> Decimal:
    """`parse_money`'s rules for any decimal quantity with at most `places` decimals (hours,
    percentages): plain ASCII text, no exponent, `_`, full-width digits or spaces; above 0
    (unless allowed) and at most `maximum`. Raises MoneyError."""
    if isinstance(value, (bool, float)):
        raise MoneyError("give amounts as text or Decimal, never float")
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > _INT_DIGITS:
            raise MoneyError(f"not a plain decimal number: {quote(value)}")
        value = format(value, "f")
        head, _, tail = value.partition(".")
        if len(tail) > places:  # Decimal("1.500") is fine
            if tail[places:].strip("0"):
                raise MoneyError(f"more than {places} decimals: {quote(value)}")
            value = head + ("." + tail[:places] if places else "")
    elif not isinstance(value, str):
        raise MoneyError(f"not a plain decimal number: {quote(value)}")
    if _plain(places).fullmatch(value) is None:
        decimals = re.fullmatch(r"-?[0-9]+\.[0-9]+", value)
        why = f"more than {places} decimals" if decimals else "not a plain decimal number"
        raise MoneyError(f"{why}: {quote(value)} (write e.g. 1234.50)")
    amount = Decimal(value).quantize(Decimal(1).scaleb(-places))
    if (amount < 0 and not allow_negative) or (amount == 0 and not allow_zero):
        raise MoneyError("must be more than 0")
    if abs(amount) > maximum:
        raise MoneyError(f"must be at most {maximum}")
    return amount


def yuan_field(
    value: str | int | Decimal | None,
    field: str,
    *,
    maximum: Decimal = MAX_YUAN,
    allow_zero: bool = False,
) -> Decimal:
    """`parse_money` for an input field (None: it is missing): InvalidInput naming `field`
    instead of MoneyError."""
    return quantity_field(value, field, places=2, maximum=maximum, allow_zero=allow_zero)


def quantity_field(
    value: str | int | Decimal | None,
    field: str,
    *,
    places: int,
    maximum: Decimal,
    allow_zero: bool = False,
) -> Decimal:
    """`parse_plain` for an input field above 0 (or 0 with `allow_zero`; None: it is missing):
    InvalidInput naming `field`."""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    try:
        return parse_plain(value, places=places, maximum=maximum, allow_zero=allow_zero)
    except MoneyError as exc:
        raise InvalidInput(f"{field}: {exc}", field=field) from None


def to_fen(yuan: Decimal) -> int:
    return int((yuan * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_fen(fen: int) -> Decimal:
    # the fen's digits with the exponent moved two places: the same value and exponent as
    # (fen / 100).quantize(FEN) ("1050.00"), in ~0.7 µs instead of ~1.8 (a batch resolve makes
    # one per price row)
    return Decimal(fen).scaleb(-2)


def round_yuan(amount: Decimal) -> Decimal:
    """Round a computed amount (rate × hours, price × discount) to the fen, half up."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)
