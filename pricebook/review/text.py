"""Wording shared by the rules' messages: amounts, percentages, hours, operation and shop names.

The formatters are not memoised: real claimed amounts rarely repeat, so a memo cost more in
hashing and insertion than it saved (it paid only on a benchmark that repeated its estimates)."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal

from pricebook.money import round_yuan

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
CENTI = Decimal("0.01")

OPERATION_ZH = {"replace": "更换", "repair": "修复", "paint": "喷漆", "remove_refit": "拆装"}
OPERATION_EN = {
    "replace": "replace",
    "repair": "repair",
    "paint": "paint",
    "remove_refit": "remove & refit",
}
TIER_ZH = {"4s": "4S店", "class1": "一类修理厂", "class2": "二类修理厂", "class3": "三类修理厂"}


def yuan(amount: Decimal) -> str:
    """1280 -> '1,280.00' (messages only; JSON carries plain decimal strings)."""
    return f"{amount:,.2f}"


def pct_text(p: Decimal) -> str:
    return f"{p.normalize():f}%"


def hours_text(h: Decimal) -> str:
    return f"{h.quantize(CENTI)}"


def with_tolerance(reference: Decimal, tolerance_pct: Decimal) -> Decimal:
    """reference × (1 + tolerance), rounded half-up to the fen."""
    return round_yuan(reference * (HUNDRED + tolerance_pct) / HUNDRED)
