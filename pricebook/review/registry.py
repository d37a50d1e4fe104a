"""The registries: each line kind's rules in the order they run (第六条), with their metadata,
and the UNCHECKED rules that say why a line could not be checked."""

from __future__ import annotations

from typing import Any

from pricebook.review.checks import (
    ConsumableCheck,
    LaborCheck,
    PartCheck,
    RescueCheck,
    Rule,
    rule_duplicate,
)
from pricebook.review.consumables import convert_quantity, rule_consumable, rule_rescue
from pricebook.review.labor import rule_labor_hours, rule_labor_rate, rule_overlap
from pricebook.review.parts import (
    rule_added_equipment,
    rule_assembly,
    rule_custom_part,
    rule_no_reference,
    rule_not_fitted,
    rule_price_above,
    rule_repair_ge_replace,
    rule_repeat_claim,
    rule_spec_above,
)
from pricebook.review.result import Proposal, Severity
from pricebook.review.text import ZERO

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


def rule_unchecked(
    reason: str, *, what_zh: str = "本行", what_en: str = "this line", **values: object
) -> Proposal:
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

ALL_RULES: tuple[Rule[Any], ...] = (*PART_RULES, *LABOR_RULES, *CONSUMABLE_RULES, *RESCUE_RULES)
#: every flag code, and its severity unless a rule profile sets another
DEFAULT_SEVERITY: dict[str, Severity] = {r.code: r.severity for r in ALL_RULES if r.code}
CODES = tuple(DEFAULT_SEVERITY)
#: codes whose flag stays on a line even when an earlier rule already took it to 0
ALWAYS_REPORTED = frozenset(r.code for r in ALL_RULES if r.code and r.reported_when_out)
#: part-line codes that take the line's labor with them
EXCLUDING_LABOR = frozenset(r.code for r in PART_RULES if r.code and r.excludes_labor)
