"""Labor lines: hours and rates against the standard, and overlapping operations."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import msgspec

from pricebook.money import round_yuan
from pricebook.review.checks import LaborCheck
from pricebook.review.estimate import LaborLine
from pricebook.review.refs import HoursRef, InclusionRef, PartInfo, Refs
from pricebook.review.result import Proposal, Reference
from pricebook.review.text import (
    CENTI,
    HUNDRED,
    OPERATION_EN,
    OPERATION_ZH,
    ZERO,
    hours_text,
    pct_text,
    with_tolerance,
    yuan,
)


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
