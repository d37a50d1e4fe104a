"""Rule profiles: the tolerances, time limits and switches a branch's rules run with."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec


class DeadlineTier(msgspec.Struct, frozen=True):
    #: estimates up to this amount (inclusive) get `days` working days
    max_amount: Decimal
    days: int


class ProfileSettings(msgspec.Struct, frozen=True):
    """Everything a branch may tune. Stored as JSON, one complete document per version."""

    #: PART_PRICE_ABOVE_REFERENCE: allowed = reference × (1 + tolerance)
    price_tolerance_pct: Decimal = Decimal("5")
    #: per category code (glass, lamp …), overriding `price_tolerance_pct`
    price_tolerance_by_category: dict[str, Decimal] = msgspec.field(default_factory=dict)
    labor_rate_tolerance_pct: Decimal = Decimal("0")
    labor_hours_tolerance_pct: Decimal = Decimal("10")
    consumable_tolerance_pct: Decimal = Decimal("0")
    rescue_tolerance_pct: Decimal = Decimal("0")
    repeat_claim_window_days: int = 365
    #: the highest price type each shop tier may claim without a policy agreement (低配高选)
    max_price_type_by_tier: dict[str, str] = msgspec.field(
        default_factory=lambda: {"4s": "4s", "class1": "oem", "class2": "brand", "class3": "brand"}
    )
    #: labor rates and hours for a vehicle typed by hand without a class
    default_vehicle_class: str = "B"
    #: 第七条: < 20,000 one working day, 20,000–50,000 two, above three
    deadline_tiers: tuple[DeadlineTier, ...] = (
        DeadlineTier(Decimal("19999.99"), 1),
        DeadlineTier(Decimal("50000.00"), 2),
    )
    deadline_days_above: int = 3
    #: end of the working day (第八条 正常班 8:30–17:00): deadlines fall at this time
    closing_time: str = "17:00"
    night_shift_below: Decimal = Decimal("5000")
    holiday_duty_below: Decimal = Decimal("20000")
    #: public holidays (weekdays off) and make-up working days (调休, weekends on)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()
    #: severity overrides per rule code
    severities: dict[str, str] = msgspec.field(default_factory=dict)

    def price_tolerance(self, category: str) -> Decimal:
        return self.price_tolerance_by_category.get(category, self.price_tolerance_pct)


class RuleProfile(msgspec.Struct, frozen=True):
    code: str
    version: int
    branch: str | None  # None: the default profile
    settings: ProfileSettings
    id: int | None = None


DEFAULT_PROFILE = RuleProfile("default", 0, None, ProfileSettings())
