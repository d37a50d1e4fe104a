"""One money parser (`pricebook.money.parse_money`) with one set of limits for every way in."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from pricebook.errors import InvalidInput
from pricebook.money import MAX_YUAN, MoneyError, parse_money, quantity_field, quote, yuan_field

#: what testers sent on every write path: exponent, 29 digits, full-width, `_`, spaces
BAD = ["1e30", "9" * 29, "１２３", "1_000", " 12 "]
#: and a few more ways of not being a plain amount
ALSO_BAD = ["", "12.345", "+5", "1,000", ".5", "5.", "NaN", "Infinity", "0x10", "12\n", "٣"]


@pytest.mark.parametrize("value", BAD + ALSO_BAD)
def test_anything_but_plain_ascii_decimal_text_is_refused(value: str) -> None:
    with pytest.raises(MoneyError):
        parse_money(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", "12.00"), ("12.5", "12.50"), ("0012.50", "12.50"), ("0.01", "0.01"),
     (str(MAX_YUAN), "10000000.00"), (12, "12.00"), (Decimal("1.500"), "1.50")],
)  # fmt: skip
def test_plain_amounts_parse_to_two_places(value: str | int | Decimal, expected: str) -> None:
    assert str(parse_money(value)) == expected


def test_one_maximum_and_signs_only_where_allowed() -> None:
    with pytest.raises(MoneyError, match=r"at most 10000000\.00"):
        parse_money("10000000.01")
    for value in ("0", "-3", "-0.00"):
        with pytest.raises(MoneyError, match="more than 0"):
            parse_money(value)
    assert parse_money("-3.20", allow_negative=True) == Decimal("-3.20")
    assert parse_money("0", allow_zero=True) == Decimal("0.00")
    with pytest.raises(MoneyError, match="at most 100"):
        parse_money("100.01", maximum=Decimal(100))
    with pytest.raises(MoneyError, match=r"at most 10000000\.00"):
        parse_money("100000000")


@pytest.mark.parametrize(
    "value", [Decimal("1E+30"), Decimal("NaN"), Decimal("1.234"), 1.5, True, 10**40]
)
def test_decimals_and_numbers_from_code_follow_the_same_rules(value: object) -> None:
    with pytest.raises(MoneyError):
        parse_money(value)  # type: ignore[arg-type]


def test_an_input_field_names_itself_when_missing_zero_or_over_its_limit() -> None:
    with pytest.raises(InvalidInput, match=r"^rate is required$"):
        yuan_field(None, "rate")
    with pytest.raises(InvalidInput, match=r"^rate: must be more than 0$"):
        yuan_field("0", "rate")
    assert yuan_field("0", "fee", allow_zero=True) == Decimal("0.00")
    assert quantity_field(Decimal("0"), "km", places=1, maximum=Decimal(10), allow_zero=True) == 0
    with pytest.raises(InvalidInput, match=r"^km: must be at most 10$"):
        quantity_field(Decimal("10.5"), "km", places=1, maximum=Decimal(10))
    with pytest.raises(InvalidInput, match=r"^hours: more than 2 decimals"):
        quantity_field(Decimal("1.234"), "hours", places=2, maximum=Decimal(1000))


def test_an_error_quotes_at_most_80_characters_of_a_value() -> None:
    with pytest.raises(MoneyError) as caught:
        parse_money("1" * 100_000)
    assert len(str(caught.value)) < 200
    assert quote("x" * 5000).startswith("'" + "x" * 80 + "'") and "5000 characters" in quote(
        "x" * 5000
    )
    assert quote("short") == "'short'"


LINE_MONEY = [
    ({"type": "part", "part_id": 1}, "claimed_unit_price"),
    ({"type": "part", "part_id": 1, "action": "repair"}, "repair_cost"),
    ({"type": "labor", "part_id": 1, "operation": "paint", "labor_kind": "paint",
      "hours": "1.0"}, "claimed_rate"),
    ({"type": "consumable", "kind": "refrigerant", "quantity": "1", "unit": "g"}, "unit_price"),
    ({"type": "rescue", "distance_km": "12"}, "claimed_fee"),
]  # fmt: skip


@pytest.mark.parametrize("value", [*BAD, "12.345", "10000000.01"])
@pytest.mark.parametrize(("line", "money"), LINE_MONEY)
def test_every_amount_an_estimate_claims_goes_through_the_money_rules(line, money, value):
    """The validate body's amounts: the same refusals, as 422s naming the line's field."""
    from pricebook import estimates
    from pricebook.errors import InvalidInput

    body = {"estimate_id": "E-MONEY", "version": 1, "date": "2025-09-10", "branch": "SZ01",
            "vehicle": {"model_id": 1}, "shop": {"tier": "class1"},
            "lines": [{**line, money: value}]}  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        estimates.to_estimate(estimates.decode_request(msgspec.json.encode(body)))
    assert refused.value.field == f"lines[0].{money}"
    assert "line 1" in refused.value.message
    body["lines"][0][money] = "1234.50"
    estimate = estimates.to_estimate(estimates.decode_request(msgspec.json.encode(body)))
    line_read = estimate.lines[0]
    assert Decimal("1234.50") in msgspec.structs.astuple(line_read)
