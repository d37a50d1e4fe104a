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

Modules, in the order they build on each other: `text` (wording of amounts), `estimate` (the
input), `profiles`, `refs` (what the rules read), `result` (what they answer), `checks` (what a
rule sees), the rules by line kind (`parts`, `labor`, `consumables`), `deadline` (第七条),
`registry` (the rules in order, with their metadata) and `pipeline` (`review` itself).

The records here (and in `pricebook.prices`) are frozen `msgspec.Struct`s, not frozen
dataclasses: one validation builds a thousand or more of them, and a frozen dataclass costs
about ten times as much to build (it sets each field through `object.__setattr__`); they encode
to JSON natively, in field order, as the dataclasses did.
"""

from pricebook.review.checks import (
    ConsumableCheck,
    LaborCheck,
    LineCheck,
    PartCheck,
    RescueCheck,
    Rule,
)
from pricebook.review.deadline import escalation, review_deadline, working_days_for
from pricebook.review.estimate import (
    ComponentName,
    ConsumableLine,
    Estimate,
    LaborLine,
    Line,
    PartLine,
    Policy,
    RescueLine,
    Shop,
    Vehicle,
)
from pricebook.review.parts import DamagedComponents, damaged_components, identify, reference_for
from pricebook.review.pipeline import compose, flagged_lines, line_part_ids, replaced_parts, review
from pricebook.review.profiles import DEFAULT_PROFILE, DeadlineTier, ProfileSettings, RuleProfile
from pricebook.review.refs import (
    BranchInfo,
    Component,
    ConsumableStandard,
    EarlierClaim,
    HoursRef,
    InclusionRef,
    LaborRateRef,
    MatchCandidate,
    MatchInfo,
    PartInfo,
    Refs,
    RescueTariff,
    VehicleInfo,
)
from pricebook.review.registry import (
    CODES,
    CONSUMABLE_RULES,
    DEFAULT_SEVERITY,
    EXCLUDING_LABOR,
    LABOR_RULES,
    PART_RULES,
    RESCUE_RULES,
)
from pricebook.review.result import (
    Deadline,
    Escalation,
    Flag,
    Indicators,
    LineResult,
    Note,
    PartRefOut,
    Proposal,
    Reference,
    Result,
    Severity,
    Status,
    Totals,
)
from pricebook.review.text import CENTI, CHINA

__all__ = [
    "CENTI",
    "CHINA",
    "CODES",
    "CONSUMABLE_RULES",
    "DEFAULT_PROFILE",
    "DEFAULT_SEVERITY",
    "EXCLUDING_LABOR",
    "LABOR_RULES",
    "PART_RULES",
    "RESCUE_RULES",
    "BranchInfo",
    "Component",
    "ComponentName",
    "ConsumableCheck",
    "ConsumableLine",
    "ConsumableStandard",
    "DamagedComponents",
    "Deadline",
    "DeadlineTier",
    "EarlierClaim",
    "Escalation",
    "Estimate",
    "Flag",
    "HoursRef",
    "InclusionRef",
    "Indicators",
    "LaborCheck",
    "LaborLine",
    "LaborRateRef",
    "Line",
    "LineCheck",
    "LineResult",
    "MatchCandidate",
    "MatchInfo",
    "Note",
    "PartCheck",
    "PartInfo",
    "PartLine",
    "PartRefOut",
    "Policy",
    "ProfileSettings",
    "Proposal",
    "Reference",
    "Refs",
    "RescueCheck",
    "RescueLine",
    "RescueTariff",
    "Result",
    "Rule",
    "RuleProfile",
    "Severity",
    "Shop",
    "Status",
    "Totals",
    "Vehicle",
    "VehicleInfo",
    "compose",
    "damaged_components",
    "escalation",
    "flagged_lines",
    "identify",
    "line_part_ids",
    "reference_for",
    "replaced_parts",
    "review",
    "review_deadline",
    "working_days_for",
]
