"""References: everything the rules need, loaded up front (`pricebook.estimates.load_refs`)
so that the rules themselves never touch the database.

The value types here are ``gc=False``: immutable, holding only values and tuples of other such
types, they can take no part in a reference cycle, and a process keeps a great many of them
between requests (`pricebook.estimates.memo`). Untracked, they (and the tuples and dicts holding
only them) are nothing the cyclic garbage collector walks in the middle of a request
(docs/architecture.md, "Caches")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from pricebook.money import round_yuan
from pricebook.prices import (
    CardTerms,
    PriceTypeInfo,
    PriceVersion,
    Resolution,
    ScopeStep,
)
from pricebook.review.profiles import DEFAULT_PROFILE, RuleProfile
from pricebook.review.text import ZERO


class PartInfo(msgspec.Struct, frozen=True, gc=False):
    id: int
    code: str
    name: str
    category_id: int
    category: str
    is_assembly: bool = False
    universal: bool = False
    unit: str = "个"
    oe_normalized: str = ""


class Component(msgspec.Struct, frozen=True, gc=False):
    part_id: int
    quantity: int


class VehicleInfo(msgspec.Struct, frozen=True, gc=False):
    model_id: int
    code: str
    name: str
    brand_id: int
    brand: str
    vehicle_class: str


class BranchInfo(msgspec.Struct, frozen=True, gc=False):
    id: int
    code: str
    name: str
    authority_limit: Decimal
    parent_code: str | None = None


class MatchCandidate(msgspec.Struct, frozen=True, gc=False):
    part_id: int
    part_code: str
    name: str
    score: float
    confidence: float


class MatchInfo(msgspec.Struct, frozen=True, gc=False):
    """What the matching index made of a custom name (or an OE number the catalogue lacks)."""

    query: str
    decision: str  # matched | suggested | unmatched
    reason: str | None
    part_id: int | None  # set when decision == matched
    candidates: tuple[MatchCandidate, ...] = ()
    #: the price type the name's quality words stand for (原厂件 → oem), from the vocabulary
    price_type: str | None = None


class LaborRateRef(msgspec.Struct, frozen=True, gc=False):
    labor_kind: str
    rate: Decimal  # what applies: the channel card's rate, else the standard rate
    standard_rate: Decimal
    why: str
    rate_branch: str
    rate_id: int | None = None
    channel: str | None = None
    rate_card_id: int | None = None
    valid_from: date | None = None


class HoursRef(msgspec.Struct, frozen=True, gc=False):
    part_id: int
    operation: str
    labor_kind: str
    hours: Decimal
    vehicle_class: str
    id: int | None = None
    valid_from: date | None = None


class InclusionRef(msgspec.Struct, frozen=True, gc=False):
    """(part_id, operation) already includes (included_part_id, included_operation)."""

    part_id: int
    operation: str
    included_part_id: int
    included_operation: str


class ConsumableStandard(msgspec.Struct, frozen=True, gc=False):
    kind: str
    name: str
    unit: str
    max_quantity: Decimal
    max_unit_price: Decimal | None
    vehicle_class: str | None = None
    id: int | None = None
    valid_from: date | None = None


class RescueTariff(msgspec.Struct, frozen=True, gc=False):
    region: str
    base_fee: Decimal
    included_km: Decimal
    per_km: Decimal
    id: int | None = None
    valid_from: date | None = None

    def fee(self, distance_km: Decimal) -> Decimal:
        extra = max(ZERO, distance_km - self.included_km)
        return round_yuan(self.base_fee + extra * self.per_km)


class EarlierClaim(msgspec.Struct, frozen=True, gc=False):
    """A part replaced in an earlier validated estimate on the same VIN."""

    estimate_id: str
    estimate_version: int
    date: date
    part_id: int
    validation_id: int | None = None


class Refs(msgspec.Struct, frozen=True):
    branch: BranchInfo
    profile: RuleProfile = DEFAULT_PROFILE
    vehicle: VehicleInfo | None = None
    parts: dict[int, PartInfo] = msgspec.field(default_factory=dict)
    #: normalised OE number (current or superseded) -> part id
    oe_parts: dict[str, int] = msgspec.field(default_factory=dict)
    #: part-line index -> what the matcher made of its custom name
    matches: dict[int, MatchInfo] = msgspec.field(default_factory=dict)
    components: dict[int, tuple[Component, ...]] = msgspec.field(default_factory=dict)
    #: part id -> fits the selected model (None: no model selected, or no fitment data)
    fitted: dict[int, bool | None] = msgspec.field(default_factory=dict)
    price_versions: dict[int, tuple[PriceVersion, ...]] = msgspec.field(default_factory=dict)
    chain: tuple[ScopeStep, ...] = (ScopeStep("system", "system", None, "system"),)
    price_types: dict[int, PriceTypeInfo] = msgspec.field(default_factory=dict)
    #: the channel's rate-card parts terms in force, per category id
    card_parts: dict[int, CardTerms] = msgspec.field(default_factory=dict)
    labor_rates: dict[str, LaborRateRef] = msgspec.field(default_factory=dict)
    labor_kinds: dict[str, str] = msgspec.field(default_factory=dict)  # code -> name
    hours: dict[tuple[int, str], HoursRef] = msgspec.field(default_factory=dict)
    inclusions: tuple[InclusionRef, ...] = ()
    consumables: dict[str, ConsumableStandard] = msgspec.field(default_factory=dict)
    rescue: RescueTariff | None = None
    earlier: tuple[EarlierClaim, ...] = ()
    #: `reference_for`'s answers: a line asks for its part's price at the claimed type and at
    #: the cap, an assembly for its components' — the same few dozen resolutions, many times.
    #: A memo, not data: empty, or (`pricebook.estimates.load_refs`) the answers kept for the
    #: same branch chain, date, channel and reference generation.
    resolved: dict[tuple[Any, ...], Resolution] = msgspec.field(default_factory=dict)

    @property
    def vehicle_class(self) -> str:
        return (
            self.vehicle.vehicle_class
            if self.vehicle
            else self.profile.settings.default_vehicle_class
        )

    def type_by_code(self, code: str) -> PriceTypeInfo | None:
        for t in self.price_types.values():  # a handful: a scan beats building a dict per Refs
            if t.code == code:
                return t
        return None
