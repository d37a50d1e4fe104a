"""The whole estimate: every line through its kind's rules, then totals, counts, deadline,
escalation and the notes on what was assumed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, cast

from pricebook.money import round_yuan
from pricebook.review.checks import (
    ConsumableCheck,
    LaborCheck,
    PartCheck,
    RescueCheck,
    duplicate_key,
)
from pricebook.review.consumables import convert_quantity
from pricebook.review.deadline import escalation, review_deadline
from pricebook.review.estimate import (
    ConsumableLine,
    Estimate,
    LaborLine,
    Line,
    PartLine,
    RescueLine,
)
from pricebook.review.labor import InclusionGraph, Op, hours_over_standard
from pricebook.review.parts import DamagedComponents, PartContext, part_context, part_label
from pricebook.review.profiles import ProfileSettings
from pricebook.review.refs import InclusionRef, MatchInfo, PartInfo, Refs
from pricebook.review.registry import (
    ALWAYS_REPORTED,
    CONSUMABLE_RULES,
    DEFAULT_SEVERITY,
    EXCLUDING_LABOR,
    LABOR_RULES,
    PART_RULES,
    RESCUE_RULES,
)
from pricebook.review.result import (
    Flag,
    Indicators,
    LineResult,
    Note,
    PartRefOut,
    Proposal,
    Result,
    Severity,
    Status,
    Totals,
)
from pricebook.review.text import CHINA, OPERATION_ZH, TIER_ZH, ZERO


def _profile_severity(profile: ProfileSettings, code: str) -> Severity | None:
    """A profile's own severity for `code` (`import_review_config` admits only known severities)."""
    return cast("Severity | None", profile.severities.get(code))


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
        if p.allowed is not None and allowed == 0 and p.code not in ALWAYS_REPORTED:
            continue  # the line is out already: a price or hours cut on it says nothing
        if p.allowed is not None:
            allowed = min(allowed, max(ZERO, round_yuan(p.allowed)))
        flags.append(
            Flag(
                code=p.code,
                severity=p.severity
                or _profile_severity(profile, p.code)
                or DEFAULT_SEVERITY[p.code],
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


def _result(
    line: Line,
    kind: str,
    claimed: Decimal,
    allowed: Decimal,
    flags: tuple[Flag, ...],
    unknown: bool,
    *,
    part: PartRefOut | None = None,
    match: MatchInfo | None = None,
    includes: tuple[dict[str, Any], ...] = (),
) -> LineResult:
    """A line's result: where it stands, what was claimed and allowed, and the status its
    flags, its cut and whether it could be checked at all make."""
    cut = claimed - allowed
    return LineResult(
        line.index,
        line.index + 1,
        kind,
        line.line_id,
        _status(flags, cut, unknown),
        claimed,
        allowed,
        cut,
        flags,
        part,
        match,
        includes,
    )


def assumed_notes(estimate: Estimate, refs: Refs) -> list[Note]:
    """DEFAULT_APPLIED notes: each default the validation assumed for a field the request left
    out, and what it decides."""
    notes = []
    if "shop.tier" in estimate.defaults:
        tier = estimate.shop.tier
        cap = refs.profile.settings.max_price_type_by_tier.get(tier)
        cap_zh = f"，配件最高按 {cap} 价核定" if cap else ""
        cap_en = f": parts are allowed up to the {cap} price" if cap else ""
        notes.append(
            Note(
                "DEFAULT_APPLIED",
                f"未提供修理厂类型（shop.tier），按默认 {TIER_ZH.get(tier, tier)}（{tier}）核损{cap_zh}、"
                "工时费按该类标准；如为4S店或其他类型请注明后重新核损。",
                f"shop.tier was not given: assumed {tier}{cap_en}, and labor at that tier's standard "
                "rates; give the shop's tier (4s, class1, class2, class3) and validate again.",
                field="shop.tier",
                details={"assumed": tier, "max_price_type": cap},
            )
        )
    if (
        estimate.vehicle.model_id is None
        and estimate.vehicle.vehicle_class is None
        and refs.vehicle is None
    ):
        vclass = refs.profile.settings.default_vehicle_class
        notes.append(
            Note(
                "DEFAULT_APPLIED",
                f"车型未从目录点选且未提供车辆级别（vehicle.vehicle_class），按默认 {vclass} 级核定"
                "工时费、标准工时与辅料用量。",
                f"vehicle.vehicle_class was not given for a vehicle typed by hand: assumed class "
                f"{vclass} for labor rates, standard hours and consumable standards.",
                field="vehicle.vehicle_class",
                details={"assumed": vclass},
            )
        )
    if "submitted_at" in estimate.defaults:
        at = estimate.submitted_at.astimezone(CHINA).isoformat(timespec="seconds")
        notes.append(
            Note(
                "DEFAULT_APPLIED",
                f"未提供提交时间（submitted_at），核损时限自收到请求时（{at}）起算。",
                f"submitted_at was not given: the review deadline counts from when the request "
                f"arrived ({at}).",
                field="submitted_at",
                details={"assumed": at},
            )
        )
    return notes


def review(estimate: Estimate, refs: Refs) -> Result:
    """Every rule over every line; totals, counts, deadline, escalation. Pure.

    Part lines go first: a part line excluded by its rules (not fitted, a repeat claim, …)
    takes the labor claimed on it out with it."""
    contexts = {
        line.index: part_context(line, estimate, refs)
        for line in estimate.lines
        if isinstance(line, PartLine)
    }
    first = first_claims(estimate, contexts)
    notes = assumed_notes(estimate, refs)
    results: dict[int, LineResult] = {}
    excluded = _review_parts(estimate, refs, contexts, first, results, notes)
    _review_labor(estimate, refs, contexts, first, excluded, results)
    _review_consumables_and_rescue(estimate, refs, first, results)
    ordered = tuple(results[line.index] for line in estimate.lines)
    return _summed_up(estimate, refs, contexts, ordered, notes)


def _part_of(contexts: dict[int, PartContext], index: int | None) -> int | None:
    """The catalogue part of the part line at `index` (None: no such line, or not found)."""
    ctx = contexts.get(index) if index is not None else None
    return ctx.part.id if ctx is not None and ctx.part is not None else None


def first_claims(estimate: Estimate, contexts: dict[int, PartContext]) -> dict[int, int | None]:
    """For each line, the first line claiming the same thing (itself when it is the first;
    None for a line no other can repeat): what DUPLICATE_LINE compares."""
    keys = {
        line.index: duplicate_key(line, lambda i: _part_of(contexts, i)) for line in estimate.lines
    }
    first_of: dict[tuple[Any, ...], int] = {}
    for index, key in keys.items():
        if key is not None:
            first_of.setdefault(key, index)
    return {index: None if key is None else first_of[key] for index, key in keys.items()}


def _review_parts(
    estimate: Estimate,
    refs: Refs,
    contexts: dict[int, PartContext],
    first: dict[int, int | None],
    results: dict[int, LineResult],
    notes: list[Note],
) -> dict[int, Flag]:
    """Part lines through `PART_RULES`; returns the lines excluded (index → the flag that
    excluded them), whose labor goes with them."""
    settings = refs.profile.settings
    excluded: dict[int, Flag] = {}
    for index, ctx in contexts.items():
        line = ctx.line
        unknown = line.part_id is not None and ctx.part is None
        check = PartCheck(line, ctx, estimate, refs, first[index], part_label(ctx), unknown)
        claimed = line.claimed
        allowed, flags = compose(claimed, [r.check(check) for r in PART_RULES], settings)
        if ctx.damaged is not None:
            notes.extend(_unknown_components(line, ctx.damaged))
        for f in flags:
            if f.code in EXCLUDING_LABOR and index not in excluded:
                excluded[index] = f
        out = None
        if ctx.part is not None:
            out = PartRefOut(
                ctx.part.id,
                ctx.part.code,
                ctx.part.name,
                ctx.part.category,
                ctx.matched_by or "part_id",
            )
        results[index] = _result(
            line, "part", claimed, allowed, flags, unknown, part=out, match=ctx.match
        )
    return excluded


def _unknown_components(line: PartLine, damaged: DamagedComponents) -> list[Note]:
    index = line.index
    notes = []
    for j in damaged.unknown:
        name = line.damaged_components[j].text()
        notes.append(
            Note(
                "DAMAGED_COMPONENT_UNKNOWN",
                f"第 {index + 1} 行 damaged_components[{j}] {name} 不在目录中：总成规则按全部"
                "组件核定。",
                f"line {index + 1}: damaged_components[{j}] {name!r} is not in the "
                "catalogue: the assembly rule allows all the components.",
                field=f"lines[{index}].damaged_components[{j}]",
                index=index,
                line_no=index + 1,
            )
        )
    return notes


def _review_labor(
    estimate: Estimate,
    refs: Refs,
    contexts: dict[int, PartContext],
    first: dict[int, int | None],
    excluded: dict[int, Flag],
    results: dict[int, LineResult],
) -> None:
    """Labor lines through `LABOR_RULES`, each on its part (the part line it refers to, or a
    catalogue part id), knowing every operation claimed (for LABOR_OVERLAP)."""
    settings = refs.profile.settings
    graph = InclusionGraph.of(refs.inclusions)
    direct: dict[Op, list[InclusionRef]] = {}  # what each operation includes, as stored
    for inc in refs.inclusions:
        direct.setdefault((inc.part_id, inc.operation), []).append(inc)
    labor = [line for line in estimate.lines if isinstance(line, LaborLine)]
    claimed_ops: dict[Op, LaborLine] = {}
    labor_parts: dict[int, PartInfo | None] = {}
    for line in labor:
        pid = _part_of(contexts, line.line_ref) if line.line_ref is not None else line.part_id
        part = refs.parts.get(pid) if pid is not None else None
        labor_parts[line.index] = part
        if part is not None:
            claimed_ops.setdefault((part.id, line.operation), line)
    for line in labor:
        part = labor_parts[line.index]
        unknown = line.part_id is not None and line.line_ref is None and part is None
        op_label = f"{OPERATION_ZH.get(line.operation, line.operation)}{part.name if part else ''}"
        over = hours_over_standard(line, part, refs)
        check = LaborCheck(
            line,
            part,
            refs,
            first[line.index],
            op_label,
            excluded.get(line.line_ref) if line.line_ref is not None else None,
            claimed_ops,
            graph,
            unknown,
            line.hours if over is None else over[2],
        )
        claimed = line.claimed
        allowed, flags = compose(claimed, [r.check(check) for r in LABOR_RULES], settings)
        includes = (
            _includes(direct.get((part.id, line.operation), ()), refs, claimed_ops) if part else ()
        )
        out = PartRefOut(part.id, part.code, part.name, part.category, "part_id") if part else None
        results[line.index] = _result(
            line, "labor", claimed, allowed, flags, unknown, part=out, includes=includes
        )


def _includes(
    stored: Iterable[InclusionRef], refs: Refs, claimed_ops: dict[Op, LaborLine]
) -> tuple[dict[str, Any], ...]:
    """What an operation's standard hours include, each with the line claiming it, if any;
    in part and operation order (the references arrive in no particular order)."""
    out = []
    for inc in sorted(stored, key=lambda i: (i.included_part_id, i.included_operation)):
        claiming = claimed_ops.get((inc.included_part_id, inc.included_operation))
        included = refs.parts.get(inc.included_part_id)
        out.append(
            {
                "part_id": inc.included_part_id,
                "part_name": included.name if included is not None else "",
                "operation": inc.included_operation,
                "claimed_on_line": claiming.index if claiming is not None else None,
                "claimed_on_line_no": claiming.index + 1 if claiming is not None else None,
            }
        )
    return tuple(out)


def _review_consumables_and_rescue(
    estimate: Estimate, refs: Refs, first: dict[int, int | None], results: dict[int, LineResult]
) -> None:
    settings = refs.profile.settings
    for line in estimate.lines:
        if isinstance(line, ConsumableLine):
            std = refs.consumables.get(line.kind)
            consumable = ConsumableCheck(
                line, std, refs, first[line.index], std.name if std else line.kind
            )
            unknown = std is None or convert_quantity(line.quantity, line.unit, std.unit) is None
            claimed = line.claimed
            allowed, flags = compose(
                claimed, [r.check(consumable) for r in CONSUMABLE_RULES], settings
            )
            results[line.index] = _result(line, "consumable", claimed, allowed, flags, unknown)
        elif isinstance(line, RescueLine):
            claimed = line.claimed
            rescue = RescueCheck(line, refs)
            allowed, flags = compose(claimed, [r.check(rescue) for r in RESCUE_RULES], settings)
            results[line.index] = _result(
                line, "rescue", claimed, allowed, flags, refs.rescue is None
            )


def _summed_up(
    estimate: Estimate,
    refs: Refs,
    contexts: dict[int, PartContext],
    ordered: tuple[LineResult, ...],
    notes: list[Note],
) -> Result:
    """The lines' results with their totals, counts by code, deadline, escalation and the
    custom-name indicators."""
    settings = refs.profile.settings
    claimed_total = sum((r.claimed for r in ordered), ZERO)
    allowed_total = sum((r.allowed for r in ordered), ZERO)
    counts: dict[str, int] = {}
    for r in ordered:
        for f in r.flags:
            counts[f.code] = counts.get(f.code, 0) + 1
    part_lines = list(contexts.values())
    custom = [
        c
        for c in part_lines
        if c.line.part_id is None
        and c.matched_by != "oe"
        and (c.line.custom_name or c.line.oe_number)
    ]
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
