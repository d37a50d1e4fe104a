"""Estimate review (核损): the rules of 第六条 and the time limits of 第七条, as pure functions.

Nothing here touches the database. `pricebook.estimates` loads everything the rules need into a
`Refs` in a fixed number of statements, then calls `review(estimate, refs)`; tests build `Refs`
by hand and check every rule with numbers.

How a line is judged
--------------------
Every line has a claimed amount (part: quantity × claimed unit price, or the repair cost; labor:
hours × claimed rate; consumable: quantity × unit price; rescue: the claimed fee). The line's
rules run in the order of its kind's registry (`PART_RULES`, `LABOR_RULES`, `CONSUMABLE_RULES`,
`RESCUE_RULES`: each rule a function of one check, `PartCheck` …, with its code and default
severity beside it); each rule may propose a lower allowed amount. The line's allowed
amount is the minimum of the claimed amount and every proposal, and each flag records the
*incremental* cut it made (the allowed amount before it minus the allowed amount after it), so
a line both over its reference and an assembly is never cut twice: the flags' cuts add up to the
line's cut, and the line's cut is claimed − allowed. A rule that applies but proposes nothing
lower still flags the line, with cut 0.

Order, part lines (exclusions first, then substitutions, then price):
  CUSTOM_PART (identity only) → NON_STANDARD_EQUIPMENT_NOT_COVERED → PART_NOT_FITTED →
  REPEAT_CLAIM → DUPLICATE_LINE → REPAIR_COST_GE_REPLACE → ASSEMBLY_WHERE_COMPONENT_AVAILABLE →
  SPEC_ABOVE_ORIGINAL → PART_PRICE_ABOVE_REFERENCE → PART_NO_REFERENCE (no money).
Labor lines: labor on an excluded part line (same code) → DUPLICATE_LINE → LABOR_OVERLAP →
  LABOR_HOURS_ABOVE_STANDARD (cuts hours at the claimed rate) → LABOR_RATE_ABOVE_STANDARD (cuts
  the rate on the hours left), so hours × rate is never cut twice.
Consumables: DUPLICATE_LINE → CONSUMABLE_ABOVE_STANDARD. Rescue: RESCUE_FEE_ABOVE_TARIFF.

Money is `Decimal` yuan; every computed amount is rounded half-up to the fen (`round_yuan`):
unit amounts first (reference × (1 + tolerance)), then unit × quantity. Tolerances are
percentages; a claim is over its reference when it is above reference × (1 + tolerance), and is
then allowed exactly reference × (1 + tolerance).

Line status: `unknown` when the line names a part id the catalogue does not have (it is passed
through uncut, never an error; likewise a damaged component the catalogue does not have only
leaves the assembly rule at all the components' price, with a note); `flagged` when a flag of
severity warning or error is on it or it was cut; else `ok` (info flags, e.g. a custom name
matched to the catalogue, keep a line ok).

The records here (and in `pricebook.prices`) are frozen `msgspec.Struct`s, not frozen
dataclasses: one validation builds a thousand or more of them, and a frozen dataclass costs
about ten times as much to build (it sets each field through `object.__setattr__`); they encode
to JSON natively, in field order, as the dataclasses did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

import msgspec

from pricebook.matching.normalize import normalize_oe
from pricebook.money import round_yuan
from pricebook.prices import (
    AGREEMENTS,
    CardTerms,
    PriceQuery,
    PriceTypeInfo,
    PriceVersion,
    Resolution,
    ScopeStep,
    resolve,
)

Severity = Literal["info", "warning", "error"]
Status = Literal["ok", "flagged", "unknown"]
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
    # -0 equals 0 (one cache entry) but formats as "-0.00"
    return f"{amount:,.2f}" if amount.is_signed() else _yuan(amount)


# The message formatters are memoised: a validation formats ~200 amounts, most of them a few
# recurring references and tolerances, and equal Decimals (1.0, 1.00) format alike in each.
@functools.lru_cache(maxsize=4096)
def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


@functools.lru_cache(maxsize=256)
def pct_text(p: Decimal) -> str:
    return f"{p.normalize():f}%"


@functools.lru_cache(maxsize=1024)
def hours_text(h: Decimal) -> str:
    return f"{h.quantize(CENTI)}"


def with_tolerance(reference: Decimal, tolerance_pct: Decimal) -> Decimal:
    """reference × (1 + tolerance), rounded half-up to the fen."""
    return round_yuan(reference * (HUNDRED + tolerance_pct) / HUNDRED)


# ------------------------------------------------------------------------------------------------
# The estimate (input)
# ------------------------------------------------------------------------------------------------


class Vehicle(msgspec.Struct, frozen=True):
    """A catalogue model (系统车型点选) or a model typed by hand; the VIN finds earlier claims."""

    model_id: int | None = None
    brand: str = ""
    model: str = ""
    vin: str = ""
    #: for a typed vehicle: the class its labor rates and hours use (else the profile default)
    vehicle_class: str | None = None


class Shop(msgspec.Struct, frozen=True):
    tier: str = "class2"  # 4s | class1 | class2 | class3
    channel_code: str | None = None


class Policy(msgspec.Struct, frozen=True):
    """保单特别约定: repair at a 4S/specialist shop allowed; domestic or imported glass."""

    four_s_allowed: bool = False
    glass: str | None = None  # domestic | imported


class ComponentName(msgspec.Struct, frozen=True):
    """A component an assembly line names as the damaged one: its catalogue part id or its OE
    number (current or superseded), as part lines name parts."""

    part_id: int | None = None
    oe_number: str = ""

    def text(self) -> str:
        return self.oe_number if self.part_id is None else f"#{self.part_id}"


class PartLine(msgspec.Struct, frozen=True):
    index: int
    quantity: Decimal
    #: replace: the claimed unit price; repair: optional (the claim is `repair_cost`)
    claimed_unit_price: Decimal | None = None
    part_id: int | None = None
    oe_number: str = ""
    custom_name: str = ""
    price_type: str | None = None
    action: str = "replace"  # replace | repair
    repair_cost: Decimal | None = None
    added_equipment: bool = False  # 加装 (non-standard added equipment)
    added_equipment_covered: bool = False  # 新增设备损失险
    line_id: str = ""
    #: an assembly line: the component(s) actually damaged (ASSEMBLY_WHERE_COMPONENT_AVAILABLE
    #: then allows those components' price, not all of them)
    damaged_components: tuple[ComponentName, ...] = ()

    @property
    def claimed(self) -> Decimal:
        if self.action == "repair":
            return round_yuan(self.repair_cost or ZERO)
        return round_yuan(self.quantity * (self.claimed_unit_price or ZERO))


class LaborLine(msgspec.Struct, frozen=True):
    index: int
    operation: str  # replace | repair | paint | remove_refit
    labor_kind: str  # sheet_metal | paint | mechanical | electrical | remove_refit
    hours: Decimal
    claimed_rate: Decimal
    part_id: int | None = None
    #: the index (in `lines`) of the part line this labor acts on
    line_ref: int | None = None
    line_id: str = ""

    @property
    def claimed(self) -> Decimal:
        return round_yuan(self.hours * self.claimed_rate)


class ConsumableLine(msgspec.Struct, frozen=True):
    index: int
    kind: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    line_id: str = ""

    @property
    def claimed(self) -> Decimal:
        return round_yuan(self.quantity * self.unit_price)


class RescueLine(msgspec.Struct, frozen=True):
    index: int
    distance_km: Decimal
    claimed_fee: Decimal
    line_id: str = ""

    @property
    def claimed(self) -> Decimal:
        return round_yuan(self.claimed_fee)


Line = PartLine | LaborLine | ConsumableLine | RescueLine


class Estimate(msgspec.Struct, frozen=True):
    id: str
    version: int
    date: date  # prices, rates and profiles as of this day
    submitted_at: datetime  # the review deadline counts from here
    branch: str
    vehicle: Vehicle
    shop: Shop
    policy: Policy
    lines: tuple[Line, ...]
    #: the request's fields left out and given their default here (`shop.tier`,
    #: `submitted_at`): the answer's `notes` say what was assumed
    defaults: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------
# Rule profiles
# ------------------------------------------------------------------------------------------------


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

    def severity(self, code: str) -> Severity:
        value = self.severities.get(code) or DEFAULT_SEVERITY[code]
        return value  # type: ignore[return-value]


class RuleProfile(msgspec.Struct, frozen=True):
    code: str
    version: int
    branch: str | None  # None: the default profile
    settings: ProfileSettings
    id: int | None = None


DEFAULT_PROFILE = RuleProfile("default", 0, None, ProfileSettings())


# ------------------------------------------------------------------------------------------------
# References (everything the rules need, loaded up front)
# ------------------------------------------------------------------------------------------------


class PartInfo(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    category_id: int
    category: str
    is_assembly: bool = False
    universal: bool = False
    unit: str = "个"
    oe_normalized: str = ""


class Component(msgspec.Struct, frozen=True):
    part_id: int
    quantity: int


class VehicleInfo(msgspec.Struct, frozen=True):
    model_id: int
    code: str
    name: str
    brand_id: int
    brand: str
    vehicle_class: str


class BranchInfo(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    authority_limit: Decimal
    parent_code: str | None = None


class MatchCandidate(msgspec.Struct, frozen=True):
    part_id: int
    part_code: str
    name: str
    score: float
    confidence: float


class MatchInfo(msgspec.Struct, frozen=True):
    """What the matching index made of a custom name (or an OE number the catalogue lacks)."""

    query: str
    decision: str  # matched | suggested | unmatched
    reason: str | None
    part_id: int | None  # set when decision == matched
    candidates: tuple[MatchCandidate, ...] = ()
    #: the price type the name's quality words stand for (原厂件 → oem), from the vocabulary
    price_type: str | None = None


class LaborRateRef(msgspec.Struct, frozen=True):
    labor_kind: str
    rate: Decimal  # what applies: the channel card's rate, else the standard rate
    standard_rate: Decimal
    why: str
    rate_branch: str
    rate_id: int | None = None
    channel: str | None = None
    rate_card_id: int | None = None
    valid_from: date | None = None


class HoursRef(msgspec.Struct, frozen=True):
    part_id: int
    operation: str
    labor_kind: str
    hours: Decimal
    vehicle_class: str
    id: int | None = None
    valid_from: date | None = None


class InclusionRef(msgspec.Struct, frozen=True):
    """(part_id, operation) already includes (included_part_id, included_operation)."""

    part_id: int
    operation: str
    included_part_id: int
    included_operation: str


class ConsumableStandard(msgspec.Struct, frozen=True):
    kind: str
    name: str
    unit: str
    max_quantity: Decimal
    max_unit_price: Decimal | None
    vehicle_class: str | None = None
    id: int | None = None
    valid_from: date | None = None


class RescueTariff(msgspec.Struct, frozen=True):
    region: str
    base_fee: Decimal
    included_km: Decimal
    per_km: Decimal
    id: int | None = None
    valid_from: date | None = None

    def fee(self, distance_km: Decimal) -> Decimal:
        extra = max(ZERO, distance_km - self.included_km)
        return round_yuan(self.base_fee + extra * self.per_km)


class EarlierClaim(msgspec.Struct, frozen=True):
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


# ------------------------------------------------------------------------------------------------
# The result
# ------------------------------------------------------------------------------------------------


class Reference(msgspec.Struct, frozen=True):
    """The value a claim was compared with, and where it comes from."""

    value: Decimal | None
    unit: str  # yuan | yuan/h | h | the consumable's unit
    label_zh: str
    label_en: str
    provenance: dict[str, Any] = msgspec.field(default_factory=dict)


class Flag(msgspec.Struct, frozen=True):
    code: str
    severity: Severity
    message_zh: str
    message_en: str
    reference: Reference | None
    claimed: Decimal
    allowed: Decimal  # the line's allowed amount once this flag's rule applied
    cut: Decimal  # what this rule cut, on top of the rules before it
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class PartRefOut(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    category: str
    matched_by: str  # part_id | oe | custom_name


class LineResult(msgspec.Struct, frozen=True):
    index: int  # 0-based, as in the request's `lines`
    line_no: int  # index + 1: the line as adjusters count them (and every message names it)
    kind: str
    line_id: str
    status: Status
    claimed: Decimal
    allowed: Decimal
    cut: Decimal
    flags: tuple[Flag, ...]
    part: PartRefOut | None = None
    match: MatchInfo | None = None
    #: labor lines: what the standard hours of this operation already include (shown, since
    #: estimators find it hard to see)
    includes: tuple[dict[str, Any], ...] = ()


class Totals(msgspec.Struct, frozen=True):
    claimed: Decimal
    allowed: Decimal
    cut: Decimal


class Deadline(msgspec.Struct, frozen=True):
    amount: Decimal
    working_days: int
    submitted_at: datetime
    due_at: datetime
    night_shift_eligible: bool
    holiday_duty_eligible: bool


class Escalation(msgspec.Struct, frozen=True):
    required: bool
    amount: Decimal
    authority_limit: Decimal
    branch: str
    escalate_to: str | None


class Indicators(msgspec.Struct, frozen=True):
    """Inputs of the desk's indicators (第四条): 配件自定义率 and 系统车型点选率."""

    part_lines: int
    custom_part_lines: int
    custom_matched: int
    model_selected: bool


class Note(msgspec.Struct, frozen=True, omit_defaults=True):
    """Something the answer rests on that no line's flag says: a default the validation
    assumed for a field left out (`DEFAULT_APPLIED`, `field` names it), a damaged component
    the catalogue does not have (`DAMAGED_COMPONENT_UNKNOWN`, on line `line_no`)."""

    code: str
    message_zh: str
    message_en: str
    field: str | None = None
    index: int | None = None
    line_no: int | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class Result(msgspec.Struct, frozen=True):
    estimate_id: str
    estimate_version: int
    estimate_date: date
    branch: str
    profile_code: str
    profile_version: int
    lines: tuple[LineResult, ...]
    totals: Totals
    counts: dict[str, int]
    deadline: Deadline
    escalation: Escalation
    indicators: Indicators
    notes: tuple[Note, ...] = ()


# ------------------------------------------------------------------------------------------------
# Composition: a line's allowed amount through its rules
# ------------------------------------------------------------------------------------------------


class Proposal(msgspec.Struct, frozen=True):
    """What one rule says about a line: a flag, and optionally a lower allowed amount."""

    code: str
    message_zh: str
    message_en: str
    reference: Reference | None = None
    allowed: Decimal | None = None  # None: no money effect
    severity: Severity | None = None  # None: the profile's severity for the code
    details: dict[str, Any] = msgspec.field(default_factory=dict)


def compose(
    claimed: Decimal, proposals: Iterable[Proposal | None], profile: ProfileSettings
) -> tuple[Decimal, tuple[Flag, ...]]:
    """Apply proposals in order: allowed = min(claimed, proposals); each flag's cut is what its
    rule removed on top of the ones before it, so cuts add up to claimed − allowed."""
    allowed = claimed
    flags: list[Flag] = []
    for p in proposals:
        if p is None:
            continue
        before = allowed
        if p.allowed is not None and allowed == 0 and p.code not in _ALWAYS_REPORTED:
            continue  # the line is out already: a price or hours cut on it says nothing
        if p.allowed is not None:
            allowed = min(allowed, max(ZERO, round_yuan(p.allowed)))
        flags.append(
            Flag(
                code=p.code,
                severity=p.severity or profile.severity(p.code),
                message_zh=p.message_zh,
                message_en=p.message_en,
                reference=p.reference,
                claimed=claimed,
                allowed=allowed,
                cut=before - allowed,
                details=p.details,
            )
        )
    return allowed, tuple(flags)


def _status(flags: Sequence[Flag], cut: Decimal, unknown: bool = False) -> Status:
    if unknown:
        return "unknown"
    if cut > 0 or any(f.severity != "info" for f in flags):
        return "flagged"
    return "ok"


# ------------------------------------------------------------------------------------------------
# What a rule sees: one check per line kind, one signature per rule (`Rule`, the registries below)
# ------------------------------------------------------------------------------------------------


class LineCheck(Protocol):
    """What every check has: the rules shared by several line kinds (DUPLICATE_LINE) read it."""

    @property
    def line(self) -> Line: ...
    @property
    def first(self) -> int | None: ...
    @property
    def label(self) -> str: ...


class PartCheck(NamedTuple):
    line: PartLine
    ctx: PartContext
    estimate: Estimate
    refs: Refs
    #: the earlier line claiming the same part and action (DUPLICATE_LINE), if any
    first: int | None
    #: the part as messages name it
    label: str
    #: the line names a part id the catalogue does not have
    unknown: bool


class LaborCheck(NamedTuple):
    line: LaborLine
    part: PartInfo | None
    refs: Refs
    first: int | None
    label: str
    #: the flag that excluded the part line this labor works on, if one did
    excluded: Flag | None
    #: the first labor line of each (part, operation), for LABOR_OVERLAP
    claimed_ops: dict[tuple[int, str], LaborLine]
    graph: InclusionGraph
    unknown: bool
    #: the hours the rate rule prices: the claimed ones, or the standard's when cut to it
    hours: Decimal


class ConsumableCheck(NamedTuple):
    line: ConsumableLine
    standard: ConsumableStandard | None
    refs: Refs
    first: int | None
    label: str


class RescueCheck(NamedTuple):
    line: RescueLine
    refs: Refs


C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Rule(Generic[C]):
    """One review rule, with what the rest of the service knows about it. A line's rules run
    in their registry's order (see the module doc); adding a rule is a function, a registry
    line and its worked example in tests/test_review.py."""

    #: the flag it raises (None: the flag that excluded the line's part, LABOR_OF_EXCLUDED_PART)
    code: str | None
    #: its severity unless the branch's rule profile sets another
    severity: Severity
    check: Callable[[C], Proposal | None]
    #: its flag stays on a line an earlier rule already took to 0 (an exclusion says why)
    reported_when_out: bool = False
    #: a part line it flags loses its labor too
    excludes_labor: bool = False


# ------------------------------------------------------------------------------------------------
# Part lines: identity, references, and one function per rule
# ------------------------------------------------------------------------------------------------


class PartContext(msgspec.Struct, frozen=True):
    """What the part rules know about one part line once its part is identified."""

    line: PartLine
    part: PartInfo | None
    matched_by: str | None  # part_id | oe | custom_name
    match: MatchInfo | None
    cap_type: PriceTypeInfo | None  # the highest price type the shop/policy allow
    cap_reason_zh: str
    cap_reason_en: str
    claimed_type: PriceTypeInfo | None
    reference: Resolution | None  # for the claimed type (or the cap, when claimed above it)
    cap_reference: Resolution | None  # for the cap type
    tolerance_pct: Decimal
    #: the line's `damaged_components` resolved against its part (None: it names none)
    damaged: DamagedComponents | None = None


def identify(line: PartLine, refs: Refs) -> tuple[PartInfo | None, str | None, MatchInfo | None]:
    """The catalogue part a line names: its part id, its OE number, or its custom name matched
    by the index (only a `matched` decision counts)."""
    if line.part_id is not None:
        return refs.parts.get(line.part_id), "part_id", None
    match = refs.matches.get(line.index)
    if line.oe_number:
        pid = refs.oe_parts.get(normalize_oe(line.oe_number))
        if pid is not None and pid in refs.parts:
            return refs.parts[pid], "oe", None
    if match is not None and match.decision == "matched" and match.part_id in refs.parts:
        return refs.parts[match.part_id], "custom_name", match
    return None, None, match


def price_cap(part: PartInfo, estimate: Estimate, refs: Refs) -> tuple[str | None, str, str]:
    """The highest price type the line may claim, and why: the channel card's type for its
    category; else a glass agreement (国产/进口玻璃) for glass; else 4S when the policy allows
    4S/专修厂; else the profile's type for the shop tier."""
    card = refs.card_parts.get(part.category_id)
    if card is not None and card.price_type_id in refs.price_types:
        code = refs.price_types[card.price_type_id].code
        return (
            code,
            f"合作渠道 {card.channel_code} 协议：{part.category} 类按 {code}",
            f"channel {card.channel_code}'s rate card prices {part.category} as {code}",
        )
    policy = estimate.policy
    if part.category == "glass" and policy.glass in ("domestic", "imported"):
        agreement = AGREEMENTS[f"glass_{policy.glass}"]
        return (
            agreement.price_types[0],
            f"保单特别约定：{agreement.name}",
            f"policy agreement {agreement.code}",
        )
    if policy.four_s_allowed:
        agreement = AGREEMENTS["4s_repair"]
        return (
            agreement.price_types[0],
            f"保单特别约定：{agreement.name}",
            f"policy agreement {agreement.code}",
        )
    tier = estimate.shop.tier
    cap = refs.profile.settings.max_price_type_by_tier.get(tier)
    return (
        cap,
        f"{TIER_ZH.get(tier, tier)} 最高按 {cap}",
        f"a {tier} shop may claim up to {cap}",
    )


def reference_for(
    part: PartInfo, price_type: str | None, estimate: Estimate, refs: Refs
) -> Resolution:
    """The reference price through the one precedence function (`prices.resolve`)."""
    key = (part.id, price_type, estimate.date, estimate.vehicle.model_id)
    if (known := refs.resolved.get(key)) is not None:
        return known
    card = refs.card_parts.get(part.category_id)
    query = PriceQuery(
        part_id=part.id,
        category_id=part.category_id,
        category=part.category,
        on=estimate.date,
        model_id=estimate.vehicle.model_id,
        price_type=price_type,
    )
    versions = refs.price_versions.get(part.id, ())
    resolution = resolve(query, versions, refs.chain, refs.price_types, card, explain=False)
    refs.resolved[key] = resolution
    return resolution


def part_context(line: PartLine, estimate: Estimate, refs: Refs) -> PartContext:
    part, matched_by, match = identify(line, refs)
    if part is None:
        return PartContext(line, None, None, match, None, "", "", None, None, None, ZERO)
    cap_code, cap_zh, cap_en = price_cap(part, estimate, refs)
    cap_type = refs.type_by_code(cap_code) if cap_code else None
    # A typed name's quality words (原厂件, 拆车件) say which price it claims, unless the line
    # names the type itself.
    claimed_code = line.price_type or (match.price_type if match is not None else None)
    claimed_type = refs.type_by_code(claimed_code) if claimed_code else None
    cap_ref = reference_for(part, cap_type.code, estimate, refs) if cap_type else None
    if claimed_type is None or (
        cap_type is not None and claimed_type.rank > cap_type.rank and cap_ref and cap_ref.winner
    ):
        ref = cap_ref
    else:
        ref = reference_for(part, claimed_type.code, estimate, refs)
    tolerance = refs.profile.settings.price_tolerance(part.category)
    damaged = damaged_components(line, part, refs) if line.damaged_components else None
    return PartContext(
        line, part, matched_by, match, cap_type, cap_zh, cap_en, claimed_type, ref, cap_ref,
        tolerance, damaged,
    )  # fmt: skip


def price_reference(res: Resolution | None, unit: str = "yuan") -> Reference | None:
    """A Reference from a price resolution: the winner's amount and where it comes from."""
    if res is None or res.winner is None:
        return None
    w = res.winner
    if w.layer == "system":
        zh, en = f"系统价格（{w.price_type}）", f"system price ({w.price_type})"
    elif w.layer == "channel":
        zh = f"合作渠道 {w.scope_code} 协议价（{w.price_type} 下浮 {w.discount_pct}%）"
        en = f"channel {w.scope_code} rate card ({w.price_type} less {w.discount_pct}%)"
    else:
        zh = f"本地化价格 {w.scope_code}（{w.price_type}）"
        en = f"{w.scope_code} localized ({w.price_type})"
    if w.model_specific:
        zh += "，本车型"
        en += ", this model"
    return Reference(
        value=w.amount,
        unit=unit,
        label_zh=zh,
        label_en=en,
        provenance={
            "layer": w.layer,
            "scope": w.scope_code,
            "price_type": w.price_type,
            "model_specific": w.model_specific,
            "price_id": w.price_id,
            "rate_card_id": w.rate_card_id,
            "valid_from": w.valid_from,
            "valid_to": w.valid_to,
            "source": w.source,
            "source_ref": w.source_ref,
            "created_by": w.created_by,
            "reason": w.reason,
            "why": w.why,
            "price_type_reason": res.price_type_reason,
        },
    )


def _name(ctx: PartContext) -> str:
    if ctx.part is not None:
        return ctx.part.name
    return ctx.line.custom_name or ctx.line.oe_number or f"#{ctx.line.part_id}"


def rule_custom_part(c: PartCheck) -> Proposal | None:
    """CUSTOM_PART: a part typed by hand (自定义配件). Matched to the catalogue → info (its price
    is then checked as that part); suggested or unmatched → warning, price not checked."""
    ctx = c.ctx
    line = ctx.line
    if line.part_id is not None or ctx.matched_by == "oe":
        return None
    if not line.custom_name and not line.oe_number:
        return None
    typed = line.custom_name or line.oe_number
    m = ctx.match
    if ctx.part is not None and m is not None:
        best = m.candidates[0] if m.candidates else None
        conf = f"{best.confidence:.0%}" if best else ""
        return Proposal(
            "CUSTOM_PART",
            f"自定义配件“{typed}”已匹配目录配件 {ctx.part.code} {ctx.part.name}（{m.reason}，置信度 {conf}），"
            "按该配件核价；请定损员改为目录点选。",
            f"Custom part '{typed}' matched catalogue part {ctx.part.code} {ctx.part.name} "
            f"({m.reason}, confidence {conf}); priced as that part. Please pick it from the "
            "catalogue.",
            severity="info",
            details={"decision": m.decision, "part_id": ctx.part.id},
        )
    if m is not None and m.decision == "suggested" and m.candidates:
        names = "、".join(f"{c.part_code} {c.name}" for c in m.candidates[:3])
        names_en = "; ".join(f"{c.part_code} {c.name}" for c in m.candidates[:3])
        return Proposal(
            "CUSTOM_PART",
            f"自定义配件“{typed}”未能确定对应目录配件，候选：{names}；价格未核，请选定目录配件。",
            f"Custom part '{typed}' could not be matched with certainty; candidates: "
            f"{names_en}. Price not checked: pick the catalogue part.",
            details={"decision": "suggested"},
        )
    return Proposal(
        "CUSTOM_PART",
        f"自定义配件“{typed}”在目录中找不到对应配件，价格无法核对，请人工核价。",
        f"Custom part '{typed}' has no match in the catalogue; its price cannot be checked "
        "automatically.",
        details={"decision": m.decision if m else "unmatched"},
    )


def rule_added_equipment(c: PartCheck) -> Proposal | None:
    """NON_STANDARD_EQUIPMENT_NOT_COVERED (第六条 4(5)): added equipment (加装) without the
    new-equipment cover is excluded: allowed 0."""
    ctx = c.ctx
    line = ctx.line
    if not line.added_equipment or line.added_equipment_covered:
        return None
    return Proposal(
        "NON_STANDARD_EQUIPMENT_NOT_COVERED",
        f"{_name(ctx)} 为车辆标准配置外新增设备，保单未投保新增设备损失险，剔除（第六条4(5)）。",
        f"{_name(ctx)} is non-standard added equipment and the policy has no new-equipment "
        "cover: excluded.",
        allowed=ZERO,
    )


def rule_not_fitted(c: PartCheck) -> Proposal | None:
    """PART_NOT_FITTED (非本车配件): the selected model is not among the part's fitments."""
    ctx, refs = c.ctx, c.refs
    if ctx.part is None or ctx.part.universal or refs.vehicle is None:
        return None
    if refs.fitted.get(ctx.part.id) is not False:
        return None
    v = refs.vehicle
    return Proposal(
        "PART_NOT_FITTED",
        f"{ctx.part.code} {ctx.part.name} 不适用于本车型 {v.brand} {v.name}（非本车配件），剔除。",
        f"{ctx.part.code} {ctx.part.name} does not fit this vehicle ({v.brand} {v.name}): "
        "excluded.",
        allowed=ZERO,
        details={"model_id": v.model_id},
    )


def rule_repeat_claim(c: PartCheck) -> Proposal | None:
    """REPEAT_CLAIM (第六条 4(3)): the same part of the same VIN was replaced in an earlier
    validated estimate within the profile's window: excluded."""
    ctx, estimate, refs = c.ctx, c.estimate, c.refs
    if ctx.part is None or ctx.line.action != "replace" or not estimate.vehicle.vin:
        return None
    window = refs.profile.settings.repeat_claim_window_days
    hits = [
        e
        for e in refs.earlier
        if e.part_id == ctx.part.id
        and e.estimate_id != estimate.id
        and timedelta(0) <= estimate.date - e.date <= timedelta(days=window)
    ]
    if not hits:
        return None
    e = max(hits, key=lambda h: (h.date, h.estimate_version))
    days = (estimate.date - e.date).days
    return Proposal(
        "REPEAT_CLAIM",
        f"{ctx.part.name} 已在 {e.date} 的定损单 {e.estimate_id}（第{e.estimate_version}版）中更换，"
        f"相隔 {days} 天（窗口 {window} 天），疑似重复索赔，剔除。",
        f"{ctx.part.name} was replaced in estimate {e.estimate_id} v{e.estimate_version} on "
        f"{e.date}, {days} days earlier (window {window} days): repeat claim, excluded.",
        allowed=ZERO,
        details={
            "earlier_estimate_id": e.estimate_id,
            "earlier_estimate_version": e.estimate_version,
            "earlier_date": e.date,
            "days": days,
            "window_days": window,
        },
    )


def rule_repair_ge_replace(c: PartCheck) -> Proposal | None:
    """REPAIR_COST_GE_REPLACE (第六条 3(3)): a repair costing at least the replacement part is
    replaced instead: allowed = the replacement (reference × quantity)."""
    ctx = c.ctx
    line = ctx.line
    if line.action != "repair" or ctx.reference is None or ctx.reference.winner is None:
        return None
    unit = ctx.reference.winner.amount
    replace_cost = round_yuan(unit * line.quantity)
    if line.claimed < replace_cost:
        return None
    return Proposal(
        "REPAIR_COST_GE_REPLACE",
        f"{_name(ctx)} 修复费 {yuan(line.claimed)} 元不低于更换费 {yuan(replace_cost)} 元"
        f"（{price_reference(ctx.reference).label_zh}），应更换，核减差额（第六条3(3)）。",  # type: ignore[union-attr]
        f"Repairing {_name(ctx)} costs {yuan(line.claimed)}, at least the replacement "
        f"{yuan(replace_cost)} ({price_reference(ctx.reference).label_en}): replace it; the "  # type: ignore[union-attr]
        "difference is cut.",
        reference=price_reference(ctx.reference),
        allowed=replace_cost,
        details={"replacement_cost": replace_cost},
    )


class DamagedComponents(msgspec.Struct, frozen=True):
    """What an assembly line's `damaged_components` name, resolved against the catalogue."""

    #: the named components of the assembly, each once, in the order first named
    components: tuple[Component, ...] = ()
    #: positions (in `damaged_components`) of names the catalogue does not have
    unknown: tuple[int, ...] = ()
    #: positions of catalogue parts that are not components of this assembly (load_refs: 422)
    not_components: tuple[int, ...] = ()


def damaged_components(line: PartLine, assembly: PartInfo, refs: Refs) -> DamagedComponents:
    """Resolve the components a line names as damaged: a part id, or an OE number (a component
    whose own OE it is first, else the catalogue's current or superseded OE, as part lines)."""
    comps = refs.components.get(assembly.id, ())
    by_id = {c.part_id: c for c in comps}
    chosen: dict[int, Component] = {}
    unknown: list[int] = []
    foreign: list[int] = []
    for j, name in enumerate(line.damaged_components):
        pid: int | None = name.part_id
        if pid is None and (oe := normalize_oe(name.oe_number)):
            own = (c.part_id for c in comps if c.part_id in refs.parts)
            pid = next((i for i in own if refs.parts[i].oe_normalized == oe), None)
            pid = pid if pid is not None else refs.oe_parts.get(oe)
        if pid is None or pid not in refs.parts:
            unknown.append(j)
        elif pid not in by_id:
            foreign.append(j)
        else:
            chosen.setdefault(pid, by_id[pid])
    return DamagedComponents(tuple(chosen.values()), tuple(unknown), tuple(foreign))


def rule_assembly(check: PartCheck) -> Proposal | None:
    """ASSEMBLY_WHERE_COMPONENT_AVAILABLE (第六条 4(4)): an assembly claimed where the damaged
    component is sold separately is allowed that component's price, not the assembly's.

    When the line names the damaged component(s) (`damaged_components`) and every one is a
    component of the assembly with a reference price: allowed = Σ named component's reference ×
    its quantity in the assembly × line quantity. Without them (or when a name is not in the
    catalogue: the service cannot tell which component it is) every component must be sold
    separately and allowed = Σ all components' — the flag lists each component's price so the
    reviewer can cut further. A damaged component that is not sold separately justifies the
    assembly: no flag."""
    ctx, estimate, refs = check.ctx, check.estimate, check.refs
    part = ctx.part
    if part is None or ctx.line.action != "replace" or not part.is_assembly:
        return None
    comps = refs.components.get(part.id, ())
    if not comps:
        return None
    named = ctx.damaged
    chosen, by_name = comps, False
    if named is not None and named.components and not (named.unknown or named.not_components):
        chosen, by_name = named.components, True
    priced: list[dict[str, Any]] = []
    total = ZERO
    for c in chosen:
        info = refs.parts.get(c.part_id)
        if info is None:
            return None
        res = component_reference(info, ctx.claimed_type or ctx.cap_type, estimate, refs)
        if res.winner is None:
            return None  # not sold separately: the assembly is justified
        amount = round_yuan(res.winner.amount * c.quantity)
        total += amount
        priced.append(
            {
                "part_id": info.id,
                "code": info.code,
                "name": info.name,
                "quantity": c.quantity,
                "unit_price": res.winner.amount,
                "amount": amount,
                "reference": price_reference(res),
            }
        )
    allowed = round_yuan(total * ctx.line.quantity)
    listing = "；".join(f"{p['name']}×{p['quantity']} {yuan(p['amount'])}" for p in priced)
    listing_en = "; ".join(f"{p['name']} ×{p['quantity']} {yuan(p['amount'])}" for p in priced)
    details: dict[str, Any] = {
        "basis": "damaged_components" if by_name else "all_components",
        "components": priced,
    }
    if by_name:
        details["damaged_components"] = [p["part_id"] for p in priced]
        return Proposal(
            "ASSEMBLY_WHERE_COMPONENT_AVAILABLE",
            f"{part.name} 为总成件，定损单注明受损部件为 {listing}（合计 {yuan(total)} 元），均可"
            "单独更换；应换受损部件不换总成，按受损部件价核定（第六条4(4)）。",
            f"{part.name} is an assembly and the line names the damaged component(s): "
            f"{listing_en} (total {yuan(total)}), sold separately: replace those, not the "
            "assembly; allowed at their price.",
            reference=Reference(total, "yuan", "受损部件价合计", "damaged components' total", {}),
            allowed=allowed,
            details=details,
        )
    note_zh = note_en = ""
    if named is not None and (named.unknown or named.not_components):
        names = ctx.line.damaged_components
        odd = [names[j].text() for j in (*named.unknown, *named.not_components)]
        details["unresolved_damaged_components"] = odd
        note_zh = f"定损单注明的受损部件 {'、'.join(odd)} 不是目录中本总成的部件，无法据此核定；"
        note_en = (
            f" The damaged component(s) named, {', '.join(odd)}, are not catalogue components "
            "of this assembly: the allowance cannot use them."
        )
    return Proposal(
        "ASSEMBLY_WHERE_COMPONENT_AVAILABLE",
        f"{part.name} 为总成件，其部件均可单独更换（{listing}，合计 {yuan(total)} 元）；{note_zh}"
        "应换部件不换总成，按部件价核定（第六条4(4)）。",
        f"{part.name} is an assembly whose components are sold separately ({listing_en}; "
        f"total {yuan(total)}): replace the damaged component, not the assembly; allowed at "
        f"the components' price.{note_en}",
        reference=Reference(total, "yuan", "部件价合计", "components' total", {}),
        allowed=allowed,
        details=details,
    )


def component_reference(
    part: PartInfo, wanted: PriceTypeInfo | None, estimate: Estimate, refs: Refs
) -> Resolution:
    """A component's reference for the assembly rule: the assembly line's price type, else
    the nearest type above it (never harsher than like for like), else the nearest below."""
    types = sorted(refs.price_types.values(), key=lambda t: t.rank)
    if wanted is None:
        order = sorted(types, key=lambda t: -t.rank)
    else:
        above = [t for t in types if t.rank > wanted.rank]
        below = [t for t in reversed(types) if t.rank < wanted.rank]
        order = [wanted, *above, *below]
    res = reference_for(part, order[0].code if order else None, estimate, refs)
    for t in order[1:]:
        if res.winner is not None:
            break
        res = reference_for(part, t.code, estimate, refs)
    return res


def rule_spec_above(c: PartCheck) -> Proposal | None:
    """SPEC_ABOVE_ORIGINAL (低配高选, 第六条 3(4)): a price type ranked above what the shop and
    policy allow; allowed = the allowed type's reference × (1 + tolerance)."""
    ctx = c.ctx
    if ctx.claimed_type is None or ctx.cap_type is None or ctx.line.action != "replace":
        return None
    if ctx.claimed_type.rank <= ctx.cap_type.rank:
        return None
    ref = price_reference(ctx.cap_reference)
    name = _name(ctx)
    claimed, cap = ctx.claimed_type, ctx.cap_type
    if ref is None or ref.value is None:
        return Proposal(
            "SPEC_ABOVE_ORIGINAL",
            f"{name} 按 {claimed.name} 报价，高于可用规格 {cap.name}（{ctx.cap_reason_zh}），"
            f"但无 {cap.name} 参考价，请人工核价。",
            f"{name} is claimed as {claimed.code}, above the allowed {cap.code} "
            f"({ctx.cap_reason_en}); no {cap.code} reference in force: check by hand.",
            details={"claimed_type": claimed.code, "allowed_type": cap.code},
        )
    unit = with_tolerance(ref.value, ctx.tolerance_pct)
    allowed = round_yuan(unit * ctx.line.quantity)
    return Proposal(
        "SPEC_ABOVE_ORIGINAL",
        f"{name} 按 {claimed.name} 报价，高于可用规格 {cap.name}（{ctx.cap_reason_zh}），低配高选；"
        f"按 {ref.label_zh} {yuan(ref.value)} 元（容差 {pct_text(ctx.tolerance_pct)}）核定单价 "
        f"{yuan(unit)} 元。",
        f"{name} is claimed as {claimed.code}, above the allowed {cap.code} "
        f"({ctx.cap_reason_en}); allowed at {ref.label_en} {yuan(ref.value)} + "
        f"{pct_text(ctx.tolerance_pct)} tolerance = {yuan(unit)} a unit.",
        reference=ref,
        allowed=allowed,
        details={
            "claimed_type": claimed.code,
            "allowed_type": cap.code,
            "claimed_unit_price": ctx.line.claimed_unit_price,
            "allowed_unit_price": unit,
            "quantity": ctx.line.quantity,
            "tolerance_pct": ctx.tolerance_pct,
        },
    )


def rule_price_above(c: PartCheck) -> Proposal | None:
    """PART_PRICE_ABOVE_REFERENCE (第六条 7(1)(2)): claimed unit price above the reference ×
    (1 + tolerance of the branch's profile for the category) → allowed that much a unit."""
    ctx = c.ctx
    line = ctx.line
    if line.action != "replace" or line.claimed_unit_price is None:
        return None
    if ctx.claimed_type is not None and ctx.cap_type is not None:
        above = ctx.claimed_type.rank > ctx.cap_type.rank
        if above and ctx.cap_reference is not None and ctx.cap_reference.winner is not None:
            return None  # SPEC_ABOVE_ORIGINAL compared it with the allowed type already
    ref = price_reference(ctx.reference)
    if ref is None or ref.value is None:
        return None
    unit = with_tolerance(ref.value, ctx.tolerance_pct)
    if line.claimed_unit_price <= unit:
        return None
    allowed = round_yuan(unit * line.quantity)
    return Proposal(
        "PART_PRICE_ABOVE_REFERENCE",
        f"{_name(ctx)} 报价 {yuan(line.claimed_unit_price)} 元高于参考价 {yuan(ref.value)} 元"
        f"（{ref.label_zh}），容差 {pct_text(ctx.tolerance_pct)}，核定单价 {yuan(unit)} 元；"
        "如市场价确有变化，请通过价格反馈说明。",
        f"{_name(ctx)} claimed at {yuan(line.claimed_unit_price)}, above the reference "
        f"{yuan(ref.value)} ({ref.label_en}); tolerance {pct_text(ctx.tolerance_pct)} → allowed "
        f"{yuan(unit)} a unit. If the market moved, send price feedback.",
        reference=ref,
        allowed=allowed,
        details={
            "claimed_unit_price": line.claimed_unit_price,
            "allowed_unit_price": unit,
            "quantity": line.quantity,
            "tolerance_pct": ctx.tolerance_pct,
        },
    )


def rule_no_reference(c: PartCheck) -> Proposal | None:
    """PART_NO_REFERENCE: a catalogue part without a reference price (of the type in question)
    in force on the estimate's date: nothing to compare with; priced by hand."""
    ctx = c.ctx
    if ctx.part is None or (ctx.reference is not None and ctx.reference.winner is not None):
        return None
    if ctx.line.action == "repair":
        return None  # a repair is judged against the replacement only when there is one
    wanted = (
        ctx.claimed_type.code if ctx.claimed_type else (ctx.cap_type.code if ctx.cap_type else "")
    )
    return Proposal(
        "PART_NO_REFERENCE",
        f"{ctx.part.code} {ctx.part.name} 在定损日无 {wanted} 参考价（系统价、本地化价均无），"
        "请人工核价。",
        f"{ctx.part.code} {ctx.part.name} has no {wanted} reference price (system or localized) "
        "in force on the estimate's date: price it by hand.",
        details={
            "price_type": wanted,
            "why": ctx.reference.price_type_reason if ctx.reference else "",
        },
    )


def duplicate_key(line: Line, part_of: Callable[[int], int | None]) -> tuple[Any, ...] | None:
    """Lines with the same key claim the same thing twice."""
    if isinstance(line, PartLine):
        pid = part_of(line.index)
        ident: Any = (
            pid if pid is not None else ("name", (line.custom_name or line.oe_number).strip())
        )
        return ("part", ident, line.action)
    if isinstance(line, LaborLine):
        pid = part_of(line.line_ref) if line.line_ref is not None else line.part_id
        if pid is None:
            return None
        return ("labor", pid, line.operation, line.labor_kind)
    if isinstance(line, ConsumableLine):
        return ("consumable", line.kind)
    return None


def rule_duplicate(c: LineCheck) -> Proposal | None:
    """DUPLICATE_LINE: the same part/operation/consumable claimed on an earlier line: this one
    is excluded (merge quantities on one line)."""
    line, first, label = c.line, c.first, c.label
    if first is None or first == line.index:
        return None
    return Proposal(
        "DUPLICATE_LINE",
        f"{label} 与第 {first + 1} 行重复，本行剔除；如确需多件请合并数量。",
        f"{label} repeats line {first + 1}: this line is excluded; put the total quantity on "
        "one line.",
        allowed=ZERO,
        details={"duplicate_of": first, "duplicate_of_line_no": first + 1},
    )


# ------------------------------------------------------------------------------------------------
# Labor lines
# ------------------------------------------------------------------------------------------------


def hours_over_standard(
    line: LaborLine, part: PartInfo | None, refs: Refs
) -> tuple[HoursRef, Decimal, Decimal] | None:
    """(standard, tolerance, hours allowed) when the line claims more hours than its standard ×
    (1 + tolerance); None when it does not, or has no standard."""
    if part is None:
        return None
    std = refs.hours.get((part.id, line.operation))
    if std is None:
        return None
    tol = refs.profile.settings.labor_hours_tolerance_pct
    limit = (std.hours * (HUNDRED + tol) / HUNDRED).quantize(CENTI)
    return None if line.hours <= limit else (std, tol, limit)


def rule_labor_hours(c: LaborCheck) -> Proposal | None:
    """LABOR_HOURS_ABOVE_STANDARD (第六条 6(1)): hours above standard × (1 + tolerance) are cut,
    at the claimed rate."""
    line, part, refs = c.line, c.part, c.refs
    over = hours_over_standard(line, part, refs)
    if over is None or part is None:
        return None
    std, tol, limit = over
    allowed_rate = line.claimed_rate
    op_zh, op_en = OPERATION_ZH[line.operation], OPERATION_EN[line.operation]
    return Proposal(
        "LABOR_HOURS_ABOVE_STANDARD",
        f"{op_zh}{part.name} 报 {hours_text(line.hours)} 工时，标准 {hours_text(std.hours)} 工时"
        f"（{refs.vehicle_class} 级车，容差 {pct_text(tol)}），核定 {hours_text(limit)} 工时。",
        f"{op_en} {part.name}: {hours_text(line.hours)} h claimed, standard "
        f"{hours_text(std.hours)} h (class {refs.vehicle_class}, tolerance {pct_text(tol)}) "
        f"→ {hours_text(limit)} h allowed.",
        reference=Reference(
            std.hours,
            "h",
            f"标准工时 {refs.vehicle_class} 级",
            f"standard hours, class {refs.vehicle_class}",
            {
                "standard_hours_id": std.id,
                "valid_from": std.valid_from,
                "labor_kind": std.labor_kind,
                "vehicle_class": std.vehicle_class,
            },
        ),
        allowed=round_yuan(limit * allowed_rate),
        details={"claimed_hours": line.hours, "allowed_hours": limit, "tolerance_pct": tol},
    )


def rule_labor_rate(c: LaborCheck) -> Proposal | None:
    """LABOR_RATE_ABOVE_STANDARD (第六条 6(2)): claimed rate above the branch standard rate (or
    the channel card's) × (1 + tolerance); allowed = the allowed hours (after the hours rule)
    × that rate."""
    line, refs, hours = c.line, c.refs, c.hours
    rate = refs.labor_rates.get(line.labor_kind)
    if rate is None:
        return None
    tol = refs.profile.settings.labor_rate_tolerance_pct
    limit = with_tolerance(rate.rate, tol)
    if line.claimed_rate <= limit:
        return None
    kind = refs.labor_kinds.get(line.labor_kind, line.labor_kind)
    if rate.channel:
        src_zh = f"合作渠道 {rate.channel} 协议工时费"
        src_en = f"channel {rate.channel} card rate"
    else:
        src_zh = f"{rate.rate_branch} 分公司标准工时费"
        src_en = f"{rate.rate_branch} branch standard rate"
    return Proposal(
        "LABOR_RATE_ABOVE_STANDARD",
        f"{kind}工时费 {yuan(line.claimed_rate)} 元/小时高于{src_zh} {yuan(rate.rate)} 元/小时"
        f"（容差 {pct_text(tol)}），按 {yuan(limit)} 元/小时 × {hours_text(hours)} 工时核定。",
        f"{line.labor_kind} rate {yuan(line.claimed_rate)}/h is above the {src_en} "
        f"{yuan(rate.rate)}/h (tolerance {pct_text(tol)}): allowed {yuan(limit)}/h × "
        f"{hours_text(hours)} h.",
        reference=Reference(
            rate.rate,
            "yuan/h",
            src_zh,
            src_en,
            {
                "labor_rate_id": rate.rate_id,
                "rate_card_id": rate.rate_card_id,
                "standard_rate": rate.standard_rate,
                "why": rate.why,
                "valid_from": rate.valid_from,
            },
        ),
        allowed=round_yuan(hours * limit),
        details={"claimed_rate": line.claimed_rate, "allowed_rate": limit, "hours": hours},
    )


Op = tuple[int, str]  # (part id, operation)


class InclusionGraph(msgspec.Struct, frozen=True):
    """The operation inclusions as a graph: (part, operation) → what its standard hours include
    directly (`children`) and what includes it directly (`parents`)."""

    parents: dict[Op, tuple[Op, ...]]
    children: dict[Op, tuple[Op, ...]]

    @classmethod
    def of(cls, inclusions: Iterable[InclusionRef]) -> InclusionGraph:
        parents: dict[Op, list[Op]] = {}
        children: dict[Op, list[Op]] = {}
        for inc in inclusions:
            host: Op = (inc.part_id, inc.operation)
            included: Op = (inc.included_part_id, inc.included_operation)
            if host == included:
                continue
            if host not in parents.setdefault(included, []):
                parents[included].append(host)
                children.setdefault(host, []).append(included)
        return cls(
            {k: tuple(v) for k, v in parents.items()}, {k: tuple(v) for k, v in children.items()}
        )

    def below(self, op: Op) -> set[Op]:
        """Every operation `op` includes, directly or through others (cycles end)."""
        seen: set[Op] = set()
        todo = [op]
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen


def _op_label(op: Op, refs: Refs) -> tuple[str, str, str]:
    part = refs.parts.get(op[0])
    name = part.name if part else f"#{op[0]}"
    zh, en = OPERATION_ZH.get(op[1], op[1]), OPERATION_EN.get(op[1], op[1])
    return name, f"{zh}{name}", f"{en} {name}"


def rule_overlap(c: LaborCheck) -> Proposal | None:
    """LABOR_OVERLAP (拆装次序重复累加, 第六条 6(1)): this operation is already included in the
    standard hours of another claimed operation: its hours are cut. Inclusions are transitive:
    when A includes B and B includes C, a claimed C is included in a claimed A even when B is
    not claimed. The nearest including claimed operation wins (fewest steps; then the order of
    the inclusions); the flag names it, its line and the chain of operations (`path`).

    Operations on a cycle (A includes C and C includes A) are the same work: only the later of
    the two lines is cut."""
    line, part, claimed_ops, refs, graph = c.line, c.part, c.claimed_ops, c.refs, c.graph
    if part is None:
        return None
    target: Op = (part.id, line.operation)
    if target not in graph.parents:
        return None
    towards: dict[Op, Op | None] = {target: None}  # each op reached -> the op it includes
    queue = [target]
    below: set[Op] | None = None
    for node in queue:  # breadth first: the nearest host first
        for host in graph.parents.get(node, ()):
            if host in towards:
                continue  # seen: cycles end here
            towards[host] = node
            queue.append(host)
            by = claimed_ops.get(host)
            if by is None or by.index == line.index:
                continue
            if by.index > line.index:
                below = graph.below(target) if below is None else below
                if host in below:
                    continue  # the same work both ways: the later line is the overlap
            path: list[Op] = [host]
            step = towards[host]
            while step is not None:
                path.append(step)
                step = towards[step]
            return _overlap(line, part, by, path, refs)
    return None


def _overlap(
    line: LaborLine, part: PartInfo, by: LaborLine, path: list[Op], refs: Refs
) -> Proposal:
    host_name, by_zh, by_en = _op_label(path[0], refs)
    op_zh, op_en = OPERATION_ZH[line.operation], OPERATION_EN[line.operation]
    labels = [_op_label(op, refs) for op in path]
    via_zh = via_en = ""
    if len(path) > 2:
        via_zh = f"经包含链 {' → '.join(zh for _, zh, _ in labels)} "
        via_en = f" through {' → '.join(en for _, _, en in labels)}"
    return Proposal(
        "LABOR_OVERLAP",
        f"{op_zh}{part.name} {via_zh}已包含在第 {by.index + 1} 行“{by_zh}”的标准工时内"
        f"（拆装次序重复累加，第六条6(1)），本行 {hours_text(line.hours)} 工时剔除。",
        f"{op_en} {part.name} is already included in line {by.index + 1} '{by_en}'{via_en} (its "
        f"standard hours include it): these {hours_text(line.hours)} h are counted twice and "
        "cut.",
        allowed=ZERO,
        details={
            "included_in_line": by.index,
            "included_in_line_no": by.index + 1,
            "included_in": {"part_id": path[0][0], "part_name": host_name, "operation": path[0][1]},
            "included": {"part_id": part.id, "part_name": part.name, "operation": line.operation},
            "path": [
                {"part_id": op[0], "part_name": name, "operation": op[1]}
                for op, (name, _, _) in zip(path, labels, strict=True)
            ],
        },
    )


# ------------------------------------------------------------------------------------------------
# Consumables and rescue
# ------------------------------------------------------------------------------------------------

_UNITS: dict[str, tuple[str, Decimal]] = {
    "l": ("l", Decimal(1)), "升": ("l", Decimal(1)), "ml": ("l", Decimal("0.001")),
    "毫升": ("l", Decimal("0.001")), "kg": ("kg", Decimal(1)), "千克": ("kg", Decimal(1)),
    "公斤": ("kg", Decimal(1)), "g": ("kg", Decimal("0.001")), "克": ("kg", Decimal("0.001")),
}  # fmt: skip


def convert_quantity(quantity: Decimal, unit: str, to_unit: str) -> Decimal | None:
    """quantity in `unit` expressed in `to_unit`; None when they cannot be compared."""
    a, b = unit.strip().lower(), to_unit.strip().lower()
    if a == b:
        return quantity
    if a in _UNITS and b in _UNITS and _UNITS[a][0] == _UNITS[b][0]:
        return quantity * _UNITS[a][1] / _UNITS[b][1]
    return None


def rule_consumable(c: ConsumableCheck) -> Proposal | None:
    """CONSUMABLE_ABOVE_STANDARD (第六条 4(7)): quantity above the standard quantity for the
    vehicle class and/or unit price above the standard price: allowed = min(quantity, standard)
    × min(price, standard price), in the standard's unit."""
    line, refs = c.line, c.refs
    if c.standard is None:
        return None
    std = c.standard
    qty = convert_quantity(line.quantity, line.unit, std.unit)
    if qty is None:
        return None
    price = round_yuan(line.claimed / qty) if qty else line.unit_price
    tol = refs.profile.settings.consumable_tolerance_pct
    max_qty = (std.max_quantity * (HUNDRED + tol) / HUNDRED).quantize(Decimal("0.001"))
    max_price = with_tolerance(std.max_unit_price, tol) if std.max_unit_price is not None else None
    over_qty = qty > max_qty
    over_price = max_price is not None and price > max_price
    if not over_qty and not over_price:
        return None
    allowed_qty = min(qty, max_qty)
    if over_price:
        allowed_price = max_price
        allowed = round_yuan(allowed_qty * max_price)  # type: ignore[operator]
    else:
        allowed_price = price
        allowed = round_yuan(line.claimed * allowed_qty / qty)
    parts_zh, parts_en = [], []
    if over_qty:
        parts_zh.append(
            f"用量 {qty.normalize():f}{std.unit} 超过标准 {std.max_quantity.normalize():f}{std.unit}"
        )
        parts_en.append(f"quantity {qty.normalize():f} {std.unit} above the standard "
                        f"{std.max_quantity.normalize():f} {std.unit}")  # fmt: skip
    if over_price:
        parts_zh.append(f"单价 {yuan(price)} 元/{std.unit} 高于标准 {yuan(std.max_unit_price)} 元")  # type: ignore[arg-type]
        parts_en.append(f"price {yuan(price)}/{std.unit} above the standard "
                        f"{yuan(std.max_unit_price)}")  # type: ignore[arg-type]  # fmt: skip
    return Proposal(
        "CONSUMABLE_ABOVE_STANDARD",
        f"{std.name}：{'，'.join(parts_zh)}（{refs.vehicle_class} 级车，容差 {pct_text(tol)}），"
        "超标准用量剔除（第六条4(7)）。",
        f"{std.name}: {'; '.join(parts_en)} (class {refs.vehicle_class}, tolerance "
        f"{pct_text(tol)}): the excess is cut.",
        reference=Reference(
            std.max_quantity,
            std.unit,
            f"辅料标准 {std.name}",
            f"consumable standard {std.kind}",
            {
                "consumable_standard_id": std.id,
                "max_unit_price": std.max_unit_price,
                "vehicle_class": std.vehicle_class,
                "valid_from": std.valid_from,
            },
        ),
        allowed=allowed,
        details={
            "quantity": qty,
            "allowed_quantity": allowed_qty,
            "unit_price": price,
            "allowed_unit_price": allowed_price,
            "unit": std.unit,
        },
    )


def rule_rescue(c: RescueCheck) -> Proposal | None:
    """RESCUE_FEE_ABOVE_TARIFF (第六条 9(1)): above the local tariff (base fee covering the first
    km + per km beyond): allowed = the tariff."""
    line, refs = c.line, c.refs
    t = refs.rescue
    if t is None:
        return None
    tariff = t.fee(line.distance_km)
    tol = refs.profile.settings.rescue_tolerance_pct
    limit = with_tolerance(tariff, tol)
    if line.claimed <= limit:
        return None
    km = line.distance_km.normalize()
    return Proposal(
        "RESCUE_FEE_ABOVE_TARIFF",
        f"施救费 {yuan(line.claimed)} 元高于 {t.region} 收费标准：起步 {yuan(t.base_fee)} 元含 "
        f"{t.included_km.normalize():f} 公里，超出每公里 {yuan(t.per_km)} 元，{km:f} 公里合计 "
        f"{yuan(tariff)} 元，按标准核定（第六条9(1)）。",
        f"Rescue fee {yuan(line.claimed)} is above the {t.region} tariff: base "
        f"{yuan(t.base_fee)} incl. {t.included_km.normalize():f} km + {yuan(t.per_km)}/km "
        f"beyond → {yuan(tariff)} for {km:f} km.",
        reference=Reference(
            tariff,
            "yuan",
            f"{t.region} 施救收费标准",
            f"{t.region} rescue tariff",
            {
                "rescue_tariff_id": t.id,
                "base_fee": t.base_fee,
                "included_km": t.included_km,
                "per_km": t.per_km,
                "valid_from": t.valid_from,
            },
        ),
        allowed=limit,
        details={"distance_km": line.distance_km, "tariff": tariff, "tolerance_pct": tol},
    )


# ------------------------------------------------------------------------------------------------
# Time limits and authority (第七条)
# ------------------------------------------------------------------------------------------------


def is_working_day(day: date, settings: ProfileSettings) -> bool:
    if day in settings.workdays:
        return True
    if day in settings.holidays:
        return False
    return day.weekday() < 5


def working_days_for(amount: Decimal, settings: ProfileSettings) -> int:
    for tier in settings.deadline_tiers:
        if amount <= tier.max_amount:
            return tier.days
    return settings.deadline_days_above


def review_deadline(amount: Decimal, submitted_at: datetime, settings: ProfileSettings) -> Deadline:
    """第七条: by closing time of the Nth working day after the day of submission (weekends and
    the profile's holidays skipped, its make-up working days counted); N by amount."""
    if submitted_at.tzinfo is None:
        # which day a naive time falls on depends on a zone nobody named: the caller decides
        # (`pricebook.estimates` reads a request's naive time as China time)
        raise ValueError("submitted_at must carry a time zone")
    local = submitted_at.astimezone(CHINA)
    days = working_days_for(amount, settings)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, settings):
            counted += 1
    hour, minute = (int(x) for x in settings.closing_time.split(":"))
    return Deadline(
        amount=amount,
        working_days=days,
        submitted_at=local,
        due_at=datetime.combine(day, time(hour, minute), CHINA),
        night_shift_eligible=amount < settings.night_shift_below,
        holiday_duty_eligible=amount < settings.holiday_duty_below,
    )


def escalation(amount: Decimal, branch: BranchInfo) -> Escalation:
    """超权限上报: an estimate above the branch's review authority goes to its parent branch
    (or head office for a 分公司)."""
    required = amount > branch.authority_limit
    return Escalation(
        required=required,
        amount=amount,
        authority_limit=branch.authority_limit,
        branch=branch.code,
        escalate_to=(branch.parent_code or "head_office") if required else None,
    )


# ------------------------------------------------------------------------------------------------
# The whole estimate
# ------------------------------------------------------------------------------------------------

#: why a line could not be checked (UNCHECKED's `details.reason`), zh and en
UNCHECKED_REASONS: dict[str, tuple[str, str]] = {
    "unknown_part_id": ("配件编号 {value} 不在目录中", "part id {value} is not in the catalogue"),
    "unknown_consumable_kind": (
        "辅料种类 {value} 无用量标准",
        "consumable kind {value!r} has no standard",
    ),
    "unit_not_comparable": (
        "单位 {value} 无法与标准单位 {standard} 换算",
        "unit {value!r} cannot be compared with the standard's {standard!r}",
    ),
    "no_rescue_tariff": ("分公司所在地区无施救费标准", "no rescue tariff for the branch's region"),
}


def rule_unchecked(reason: str, *, what_zh: str = "本行", what_en: str = "this line",
                   **values: Any) -> Proposal:  # fmt: skip
    """UNCHECKED: the service has nothing to check the line (or part of it) against. It cannot
    cut what it cannot check, so the allowed amount stays the claimed one (no money effect),
    but the line is never silently "allowed in full": this flag says why, and the line's
    status is `unknown`; the reviewer checks it by hand."""
    zh, en = UNCHECKED_REASONS[reason]
    return Proposal(
        "UNCHECKED",
        f"{zh.format(**values)}：{what_zh}未能核对，按申报金额暂列，请人工核定。",
        f"{en.format(**values)}: {what_en} could not be checked; the claimed amount is kept, "
        "check it by hand.",
        details={"reason": reason, **{k: v for k, v in values.items() if v is not None}},
    )


def rule_unknown_part(c: PartCheck) -> Proposal | None:
    """UNCHECKED: the line names a part id the catalogue does not have."""
    return rule_unchecked("unknown_part_id", value=c.line.part_id) if c.unknown else None


def rule_labor_of_excluded_part(c: LaborCheck) -> Proposal | None:
    """The labor on an excluded part line goes with it, under the exclusion's code."""
    src, ref = c.excluded, c.line.line_ref
    if src is None or ref is None:
        return None
    return Proposal(
        src.code,
        f"第 {ref + 1} 行配件已剔除（{src.message_zh}），其工时一并剔除。",
        f"Line {ref + 1} is excluded ({src.message_en}); its labor goes too.",
        allowed=ZERO,
        details={"excluded_line": ref, "excluded_line_no": ref + 1},
    )


def rule_unknown_labor_part(c: LaborCheck) -> Proposal | None:
    """UNCHECKED: the labor names a part id the catalogue does not have."""
    if not c.unknown:
        return None
    return rule_unchecked(
        "unknown_part_id",
        value=c.line.part_id,
        what_zh="本行工时（标准工时、重复计算）",
        what_en="the line's hours (standard hours, overlaps)",
    )


def rule_unknown_consumable(c: ConsumableCheck) -> Proposal | None:
    """UNCHECKED: a consumable kind without a standard."""
    return (
        rule_unchecked("unknown_consumable_kind", value=c.line.kind) if c.standard is None else None
    )


def rule_consumable_unit(c: ConsumableCheck) -> Proposal | None:
    """UNCHECKED: a unit the standard's cannot be converted to."""
    std = c.standard
    if std is None or convert_quantity(c.line.quantity, c.line.unit, std.unit) is not None:
        return None
    return rule_unchecked("unit_not_comparable", value=c.line.unit, standard=std.unit)


def rule_no_rescue_tariff(c: RescueCheck) -> Proposal | None:
    """UNCHECKED: no rescue tariff for the branch's region."""
    return rule_unchecked("no_rescue_tariff") if c.refs.rescue is None else None


# ------------------------------------------------------------------------------------------------
# The registries: each line kind's rules in the order they run (第六条), with their metadata
# ------------------------------------------------------------------------------------------------

PART_RULES: tuple[Rule[PartCheck], ...] = (
    Rule("CUSTOM_PART", "warning", rule_custom_part),  # a matched custom name is info
    Rule("NON_STANDARD_EQUIPMENT_NOT_COVERED", "error", rule_added_equipment, True, True),
    Rule("PART_NOT_FITTED", "error", rule_not_fitted, True, True),
    Rule("REPEAT_CLAIM", "error", rule_repeat_claim, True, True),
    Rule("DUPLICATE_LINE", "error", rule_duplicate, True),
    Rule("REPAIR_COST_GE_REPLACE", "warning", rule_repair_ge_replace),
    Rule("ASSEMBLY_WHERE_COMPONENT_AVAILABLE", "warning", rule_assembly),
    Rule("SPEC_ABOVE_ORIGINAL", "warning", rule_spec_above),
    Rule("PART_PRICE_ABOVE_REFERENCE", "warning", rule_price_above),
    Rule("PART_NO_REFERENCE", "warning", rule_no_reference),
    Rule("UNCHECKED", "warning", rule_unknown_part),
)  # fmt: skip
LABOR_RULES: tuple[Rule[LaborCheck], ...] = (
    Rule(None, "error", rule_labor_of_excluded_part, True),
    Rule("DUPLICATE_LINE", "error", rule_duplicate, True),
    Rule("LABOR_OVERLAP", "warning", rule_overlap, True),
    Rule("LABOR_HOURS_ABOVE_STANDARD", "warning", rule_labor_hours),
    Rule("LABOR_RATE_ABOVE_STANDARD", "warning", rule_labor_rate),
    Rule("UNCHECKED", "warning", rule_unknown_labor_part),
)  # fmt: skip
CONSUMABLE_RULES: tuple[Rule[ConsumableCheck], ...] = (
    Rule("DUPLICATE_LINE", "error", rule_duplicate, True),
    Rule("UNCHECKED", "warning", rule_unknown_consumable),
    Rule("UNCHECKED", "warning", rule_consumable_unit),
    Rule("CONSUMABLE_ABOVE_STANDARD", "warning", rule_consumable),
)  # fmt: skip
RESCUE_RULES: tuple[Rule[RescueCheck], ...] = (
    Rule("RESCUE_FEE_ABOVE_TARIFF", "warning", rule_rescue),
    Rule("UNCHECKED", "warning", rule_no_rescue_tariff),
)  # fmt: skip

_RULES: tuple[Rule[Any], ...] = (*PART_RULES, *LABOR_RULES, *CONSUMABLE_RULES, *RESCUE_RULES)
#: every flag code, and its severity unless a rule profile sets another
DEFAULT_SEVERITY: dict[str, Severity] = {r.code: r.severity for r in _RULES if r.code}
CODES = tuple(DEFAULT_SEVERITY)
#: codes whose flag stays on a line even when an earlier rule already took it to 0
_ALWAYS_REPORTED = frozenset(r.code for r in _RULES if r.code and r.reported_when_out)
#: part-line codes that take the line's labor with them
_EXCLUDING = frozenset(r.code for r in PART_RULES if r.code and r.excludes_labor)


def assumed_notes(estimate: Estimate, refs: Refs) -> list[Note]:
    """DEFAULT_APPLIED notes: each default the validation assumed for a field the request left
    out, and what it decides."""
    notes = []
    if "shop.tier" in estimate.defaults:
        tier = estimate.shop.tier
        cap = refs.profile.settings.max_price_type_by_tier.get(tier)
        cap_zh = f"，配件最高按 {cap} 价核定" if cap else ""
        cap_en = f": parts are allowed up to the {cap} price" if cap else ""
        notes.append(Note(
            "DEFAULT_APPLIED",
            f"未提供修理厂类型（shop.tier），按默认 {TIER_ZH.get(tier, tier)}（{tier}）核损{cap_zh}、"
            "工时费按该类标准；如为4S店或其他类型请注明后重新核损。",
            f"shop.tier was not given: assumed {tier}{cap_en}, and labor at that tier's standard "
            "rates; give the shop's tier (4s, class1, class2, class3) and validate again.",
            field="shop.tier", details={"assumed": tier, "max_price_type": cap},
        ))  # fmt: skip
    if (
        estimate.vehicle.model_id is None
        and estimate.vehicle.vehicle_class is None
        and refs.vehicle is None
    ):
        vclass = refs.profile.settings.default_vehicle_class
        notes.append(Note(
            "DEFAULT_APPLIED",
            f"车型未从目录点选且未提供车辆级别（vehicle.vehicle_class），按默认 {vclass} 级核定"
            "工时费、标准工时与辅料用量。",
            f"vehicle.vehicle_class was not given for a vehicle typed by hand: assumed class "
            f"{vclass} for labor rates, standard hours and consumable standards.",
            field="vehicle.vehicle_class", details={"assumed": vclass},
        ))  # fmt: skip
    if "submitted_at" in estimate.defaults:
        at = estimate.submitted_at.astimezone(CHINA).isoformat(timespec="seconds")
        notes.append(Note(
            "DEFAULT_APPLIED",
            f"未提供提交时间（submitted_at），核损时限自收到请求时（{at}）起算。",
            f"submitted_at was not given: the review deadline counts from when the request "
            f"arrived ({at}).",
            field="submitted_at", details={"assumed": at},
        ))  # fmt: skip
    return notes


def review(estimate: Estimate, refs: Refs) -> Result:
    """Every rule over every line; totals, counts, deadline, escalation. Pure."""
    settings = refs.profile.settings
    contexts: dict[int, PartContext] = {
        line.index: part_context(line, estimate, refs)
        for line in estimate.lines
        if isinstance(line, PartLine)
    }

    def part_of(index: int | None) -> int | None:
        if index is None or index not in contexts:
            return None
        part = contexts[index].part
        return part.id if part else None

    keys = {line.index: duplicate_key(line, part_of) for line in estimate.lines}
    first_of: dict[tuple[Any, ...], int] = {}
    for index, key in keys.items():
        if key is not None:
            first_of.setdefault(key, index)

    line: PartLine | LaborLine | ConsumableLine | RescueLine
    results: dict[int, LineResult] = {}
    excluded: dict[int, Flag] = {}  # part-line index -> the flag that excluded it
    notes: list[Note] = assumed_notes(estimate, refs)

    # Part lines
    for index, ctx in contexts.items():
        line = ctx.line
        unknown = line.part_id is not None and ctx.part is None
        key = keys[index]
        check = PartCheck(line, ctx, estimate, refs, first_of.get(key) if key else None,
                          _name(ctx), unknown)  # fmt: skip
        claimed = line.claimed
        allowed, flags = compose(claimed, [r.check(check) for r in PART_RULES], settings)
        if ctx.damaged is not None:
            for j in ctx.damaged.unknown:
                name = line.damaged_components[j].text()
                notes.append(Note(
                    "DAMAGED_COMPONENT_UNKNOWN",
                    f"第 {index + 1} 行 damaged_components[{j}] {name} 不在目录中：总成规则按全部"
                    "组件核定。",
                    f"line {index + 1}: damaged_components[{j}] {name!r} is not in the "
                    "catalogue: the assembly rule allows all the components.",
                    field=f"lines[{index}].damaged_components[{j}]", index=index,
                    line_no=index + 1,
                ))  # fmt: skip
        for f in flags:
            if f.code in _EXCLUDING and index not in excluded:
                excluded[index] = f
        out = None
        if ctx.part is not None:
            out = PartRefOut(ctx.part.id, ctx.part.code, ctx.part.name, ctx.part.category,
                             ctx.matched_by or "part_id")  # fmt: skip
        results[index] = LineResult(
            index, index + 1, "part", line.line_id, _status(flags, claimed - allowed, unknown), claimed,
            allowed, claimed - allowed, flags, out, ctx.match,
        )  # fmt: skip

    # Labor lines
    graph = InclusionGraph.of(refs.inclusions)
    direct: dict[Op, list[InclusionRef]] = {}  # what each operation includes, as stored
    for inc in refs.inclusions:
        direct.setdefault((inc.part_id, inc.operation), []).append(inc)
    claimed_ops: dict[tuple[int, str], LaborLine] = {}
    labor_parts: dict[int, PartInfo | None] = {}
    for line in estimate.lines:
        if not isinstance(line, LaborLine):
            continue
        pid = part_of(line.line_ref) if line.line_ref is not None else line.part_id
        part = refs.parts.get(pid) if pid is not None else None
        labor_parts[line.index] = part
        if part is not None:
            claimed_ops.setdefault((part.id, line.operation), line)
    for line in estimate.lines:
        if not isinstance(line, LaborLine):
            continue
        part = labor_parts[line.index]
        unknown = line.part_id is not None and line.line_ref is None and part is None
        key = keys[line.index]
        op_label = f"{OPERATION_ZH.get(line.operation, line.operation)}{part.name if part else ''}"
        over = hours_over_standard(line, part, refs)
        labor = LaborCheck(
            line, part, refs, first_of.get(key) if key else None, op_label,
            excluded.get(line.line_ref) if line.line_ref is not None else None, claimed_ops,
            graph, unknown, line.hours if over is None else over[2],
        )  # fmt: skip
        claimed = line.claimed
        allowed, flags = compose(claimed, [r.check(labor) for r in LABOR_RULES], settings)
        includes: tuple[dict[str, Any], ...] = ()
        if part is not None:
            includes = tuple(
                {
                    "part_id": inc.included_part_id,
                    "part_name": refs.parts[inc.included_part_id].name
                    if inc.included_part_id in refs.parts else "",
                    "operation": inc.included_operation,
                    "claimed_on_line": claimed_ops[(inc.included_part_id, inc.included_operation)].index
                    if (inc.included_part_id, inc.included_operation) in claimed_ops else None,
                    "claimed_on_line_no": claimed_ops[(inc.included_part_id, inc.included_operation)].index + 1
                    if (inc.included_part_id, inc.included_operation) in claimed_ops else None,
                }
                for inc in direct.get((part.id, line.operation), ())
            )  # fmt: skip
        out = PartRefOut(part.id, part.code, part.name, part.category, "part_id") if part else None
        results[line.index] = LineResult(
            line.index, line.index + 1, "labor", line.line_id, _status(flags, claimed - allowed, unknown),
            claimed, allowed, claimed - allowed, flags, out, None, includes,
        )  # fmt: skip

    # Consumables and rescue
    for line in estimate.lines:
        if isinstance(line, ConsumableLine):
            std = refs.consumables.get(line.kind)
            key = keys[line.index]
            consumable = ConsumableCheck(line, std, refs, first_of.get(key) if key else None,
                                         std.name if std else line.kind)  # fmt: skip
            unknown = std is None or convert_quantity(line.quantity, line.unit, std.unit) is None
            claimed = line.claimed
            allowed, flags = compose(
                claimed, [r.check(consumable) for r in CONSUMABLE_RULES], settings
            )
            results[line.index] = LineResult(
                line.index, line.index + 1, "consumable", line.line_id, _status(flags, claimed - allowed, unknown),
                claimed, allowed, claimed - allowed, flags,
            )  # fmt: skip
        elif isinstance(line, RescueLine):
            claimed = line.claimed
            rescue = RescueCheck(line, refs)
            allowed, flags = compose(claimed, [r.check(rescue) for r in RESCUE_RULES], settings)
            results[line.index] = LineResult(
                line.index, line.index + 1, "rescue", line.line_id,
                _status(flags, claimed - allowed, refs.rescue is None), claimed, allowed,
                claimed - allowed, flags,
            )  # fmt: skip

    ordered = tuple(results[line.index] for line in estimate.lines)
    claimed_total = sum((r.claimed for r in ordered), ZERO)
    allowed_total = sum((r.allowed for r in ordered), ZERO)
    counts: dict[str, int] = {}
    for r in ordered:
        for f in r.flags:
            counts[f.code] = counts.get(f.code, 0) + 1
    part_lines = [c for c in contexts.values()]
    custom = [
        c for c in part_lines if c.line.part_id is None and c.matched_by != "oe"
        and (c.line.custom_name or c.line.oe_number)
    ]  # fmt: skip
    return Result(
        estimate_id=estimate.id,
        estimate_version=estimate.version,
        estimate_date=estimate.date,
        branch=refs.branch.code,
        profile_code=refs.profile.code,
        profile_version=refs.profile.version,
        lines=ordered,
        totals=Totals(claimed_total, allowed_total, claimed_total - allowed_total),
        counts=dict(sorted(counts.items())),
        deadline=review_deadline(claimed_total, estimate.submitted_at, settings),
        escalation=escalation(claimed_total, refs.branch),
        indicators=Indicators(
            part_lines=len(part_lines),
            custom_part_lines=len(custom),
            custom_matched=sum(1 for c in custom if c.part is not None),
            model_selected=estimate.vehicle.model_id is not None,
        ),
        notes=tuple(notes),
    )


def replaced_parts(estimate: Estimate, result: Result) -> list[int]:
    """Parts this estimate replaces and pays for: what a later REPEAT_CLAIM looks for."""
    by_index = {r.index: r for r in result.lines}
    out: list[int] = []
    for line in estimate.lines:
        if isinstance(line, PartLine) and line.action == "replace":
            r = by_index[line.index]
            if r.part is not None and r.allowed > 0 and r.part.id not in out:
                out.append(r.part.id)
    return out


def line_part_ids(result: Result) -> list[int]:
    """The catalogue part of each part line, in line order, as often as claimed: what the
    indicators' top parts count."""
    return [r.part.id for r in result.lines if r.kind == "part" and r.part is not None]


def flagged_lines(result: Result) -> int:
    return sum(1 for r in result.lines if r.status == "flagged")


__all__ = [
    "CODES",
    "ConsumableLine",
    "Estimate",
    "Flag",
    "LaborLine",
    "PartLine",
    "Policy",
    "Refs",
    "RescueLine",
    "Result",
    "RuleProfile",
    "Shop",
    "Vehicle",
    "compose",
    "review",
    "review_deadline",
]
