"""The desk's indicators (第四条), from stored estimate validations and the feedback queue.

Each rate comes with its numerator and denominator, so a manager can see what it is made of:

- 配件自定义率 `custom_part_rate`: custom (typed, not picked from the catalogue) part lines /
  part lines.
- 系统车型点选率 `model_selection_rate`: estimates whose vehicle was selected from the
  catalogue / estimates.
- 常见车辆常见配件本地化率 `localization_rate`: take the `top` models (by number of estimates) and
  the `top` parts (by number of part lines, custom lines the matcher resolved included); of the
  model × part pairs where the part fits the model (a fitment row, a universal part, or a part
  without any fitment rows), the share with a localized price — a branch or region price on the
  branch's chain, for that model or for all models, any price type — in force on the period's
  last day. Without a branch, every branch with estimates in the period counts its own pairs.
- `feedback_turnaround`: median and 90th percentile (nearest rank) of resolved_at − created_at
  in hours, over feedback and drift items decided in the period (linked items, which follow
  their primary item, are not counted twice).
- `open_queue`: unresolved items (open or need_info) waiting now, linked items not counted.

An estimate counts once, by its latest stored validation in the period (the last version
validated); the period is on the estimate's date, both ends inclusive.

`breakdown` splits the two rates read from the validations' own columns (custom parts, model
selection) and the estimate count by week (from Monday), by month or by branch, for trends and
side-by-side comparison: one statement that sums per day and branch, bucketed here. Weeks and
months without estimates are listed too (a gap is a finding); the localization rate is not
split, as it is made of the period's top models and parts, not of sums.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, TypedDict

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pricebook.days import day_end, day_start
from pricebook.db import as_utc
from pricebook.errors import InvalidInput
from pricebook.models import (
    FEEDBACK_UNRESOLVED,
    Branch,
    EstimateValidation,
    FeedbackItem,
    Fitment,
    Part,
    Price,
    Region,
)
from pricebook.prices import BranchNode, chain_for
from pricebook.versioned import in_force

DEFAULT_TOP = 20
MAX_TOP = 200


class Rate(TypedDict):
    numerator: int
    denominator: int
    #: numerator / denominator, 4 decimals; None when the denominator is 0
    rate: Decimal | None


class Turnaround(TypedDict):
    count: int
    median_hours: Decimal | None
    p90_hours: Decimal | None


@dataclass(frozen=True, slots=True)
class Indicators:
    branch: str | None
    date_from: date | None
    date_to: date | None
    estimates: int
    custom_part_rate: Rate
    model_selection_rate: Rate
    localization_rate: Rate
    top: int
    top_models: list[int]
    top_parts: list[int]
    feedback_turnaround: Turnaround
    open_queue: int


@dataclass(frozen=True, slots=True)
class Slice:
    """One week, month or branch of a breakdown: `key` is the week's Monday or the month's
    first day (ISO), or the branch's code; `name` the branch's name (else empty)."""

    key: str
    name: str
    estimates: int
    custom_part_rate: Rate
    model_selection_rate: Rate


Breakdown = Literal["week", "month", "branch"]
#: the most weeks or months a trend lists
MAX_BUCKETS = 120


def rate(numerator: int, denominator: int) -> Rate:
    value = None
    if denominator:
        value = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
    return Rate(numerator=numerator, denominator=denominator, rate=value)


def median(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[Decimal], pct: int) -> Decimal | None:
    """Nearest-rank percentile: the smallest value with at least `pct`% of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct * len(ordered) / 100))
    return ordered[rank - 1]


def _hours(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / 3_600_000_000


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def compute_indicators(
    session: Session,
    *,
    branch: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    top: int = DEFAULT_TOP,
    now: datetime | None = None,
) -> Indicators:
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("from must not be after to", field="from")
    if not 1 <= top <= MAX_TOP:
        raise InvalidInput(f"top must be between 1 and {MAX_TOP}", field="top")
    branch_id = _branch_id(session, branch)
    latest = _latest(branch_id, date_from, date_to)
    rows = session.execute(
        select(
            EstimateValidation.branch_id,
            EstimateValidation.model_id,
            EstimateValidation.model_selected,
            EstimateValidation.part_lines,
            EstimateValidation.custom_part_lines,
            EstimateValidation.part_ids,
        ).join(latest, latest.c.id == EstimateValidation.id)
    ).all()
    estimates = len(rows)
    part_lines = sum(r.part_lines for r in rows)
    custom_lines = sum(r.custom_part_lines for r in rows)
    selected = sum(1 for r in rows if r.model_selected)

    model_counts: Counter[int] = Counter()
    part_counts: Counter[int] = Counter()
    branches_seen: set[int] = set()
    for r in rows:
        branches_seen.add(r.branch_id)
        if r.model_id is not None:
            model_counts[r.model_id] += 1
        part_counts.update(r.part_ids)
    top_models = [m for m, _ in sorted(model_counts.items(), key=lambda kv: (-kv[1], kv[0]))][:top]
    top_parts = [p for p, _ in sorted(part_counts.items(), key=lambda kv: (-kv[1], kv[0]))][:top]
    localized, pairs = _localization(
        session,
        top_models,
        top_parts,
        [branch_id] if branch_id is not None else branches_seen,
        date_to or (now or datetime.now(UTC)).date(),
    )

    return Indicators(
        branch=branch or None,
        date_from=date_from,
        date_to=date_to,
        estimates=estimates,
        custom_part_rate=rate(custom_lines, part_lines),
        model_selection_rate=rate(selected, estimates),
        localization_rate=rate(localized, pairs),
        top=top,
        top_models=top_models,
        top_parts=top_parts,
        feedback_turnaround=_turnaround(session, branch_id, date_from, date_to),
        open_queue=_open_queue(session, branch_id),
    )


def _branch_id(session: Session, branch: str | None) -> int | None:
    if not branch:
        return None
    branch_id = session.scalar(select(Branch.id).where(Branch.code == branch))
    if branch_id is None:
        raise InvalidInput(f"no branch with code {branch!r}", field="branch")
    return branch_id


def _latest(branch_id: int | None, date_from: date | None, date_to: date | None) -> Any:
    """The latest validation of each estimate in the period, as a subquery of ids."""
    conds = []
    if branch_id is not None:
        conds.append(EstimateValidation.branch_id == branch_id)
    if date_from is not None:
        conds.append(EstimateValidation.estimate_date >= date_from)
    if date_to is not None:
        conds.append(EstimateValidation.estimate_date <= date_to)
    return (
        select(func.max(EstimateValidation.id).label("id"))
        .where(*conds)
        .group_by(EstimateValidation.estimate_id)
        .subquery()
    )


def bucket_start(day: date, by: Breakdown) -> date:
    """The first day of the week (Monday) or month holding `day`."""
    return day - timedelta(days=day.weekday()) if by == "week" else day.replace(day=1)


def _buckets(date_from: date, date_to: date, by: Breakdown) -> list[date]:
    first, days = bucket_start(date_from, by), list[date]()
    while first <= date_to and len(days) < MAX_BUCKETS:
        days.append(first)
        step = 7 if by == "week" else 32  # a month: 32 days on, then back to its first day
        if (date.max - first).days < step:  # the calendar's last week or month
            break
        first += timedelta(days=step)
        if by == "month":
            first = first.replace(day=1)
    return days


def breakdown(
    session: Session,
    *,
    by: Breakdown,
    date_from: date,
    date_to: date,
    branch: str | None = None,
) -> list[Slice]:
    """Estimates, custom-part rate and model-selection rate per week, month or branch of the
    period (2 statements); by branch, every branch is listed, those without estimates too."""
    if date_from > date_to:
        raise InvalidInput("from must not be after to", field="from")
    branch_id = _branch_id(session, branch)
    latest = _latest(branch_id, date_from, date_to)
    v = EstimateValidation
    sums: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for day, at, count, lines, custom, selected in session.execute(
        select(
            v.estimate_date,
            v.branch_id,
            func.count(),
            func.sum(v.part_lines),
            func.sum(v.custom_part_lines),
            func.count().filter(v.model_selected),
        )
        .join(latest, latest.c.id == v.id)
        .group_by(v.estimate_date, v.branch_id)
    ):
        total = sums[at if by == "branch" else bucket_start(day, by)]
        for i, value in enumerate((count, lines, custom, selected)):
            total[i] += int(value or 0)
    keys: list[tuple[Any, str, str]]
    if by == "branch":
        named = session.execute(select(Branch.id, Branch.code, Branch.name).order_by(Branch.code))
        keys = [(b, code, name) for b, code, name in named if branch_id in (None, b)]
    else:
        keys = [(d, d.isoformat(), "") for d in _buckets(date_from, date_to, by)]
    return [
        Slice(key, name, n, rate(custom, lines), rate(selected, n))
        for group, key, name in keys
        for n, lines, custom, selected in [sums.get(group, [0, 0, 0, 0])]
    ]


def _localization(
    session: Session,
    models: list[int],
    parts: list[int],
    branch_ids: Any,
    on: date,
) -> tuple[int, int]:
    """(pairs × branches with a localized price in force, pairs × branches)."""
    branch_ids = sorted(branch_ids)
    if not models or not parts or not branch_ids:
        return 0, 0
    # which pairs count: the part fits the model, is universal, or has no fitment rows (1+1)
    fits: dict[int, set[int]] = defaultdict(set)
    for part_id, model_id in session.execute(
        select(Fitment.part_id, Fitment.model_id).where(Fitment.part_id.in_(parts))
    ):
        fits[part_id].add(model_id)
    universal = set(session.scalars(select(Part.id).where(Part.id.in_(parts), Part.universal)))
    pairs = [
        (m, p) for m in models for p in parts if p in universal or p not in fits or m in fits[p]
    ]
    if not pairs:
        return 0, 0
    # the branch and region trees (2), each branch's localized chain
    branches = {
        b: BranchNode(b, c, p, r)
        for b, c, p, r in session.execute(
            select(Branch.id, Branch.code, Branch.parent_id, Branch.region_id)
        )
    }
    regions = {
        r: (c, p) for r, c, p in session.execute(select(Region.id, Region.code, Region.parent_id))
    }
    chains = {
        b: [s for s in chain_for(branches[b], branches, regions) if s.scope != "system"]
        for b in branch_ids
        if b in branches
    }
    # localized prices in force of the top parts (1)
    held: dict[tuple[str, int | None], set[tuple[int, int | None]]] = defaultdict(set)
    for part_id, for_model, scope, at_region, at_branch in session.execute(
        select(Price.part_id, Price.model_id, Price.scope, Price.region_id, Price.branch_id).where(
            Price.part_id.in_(parts), Price.scope != "system", in_force(Price, on)
        )
    ):
        target = at_branch if scope == "branch" else at_region
        held[(scope, target)].add((part_id, for_model))
    localized = total = 0
    for chain in chains.values():
        have: set[tuple[int, int | None]] = set()
        for step in chain:
            have |= held.get((step.scope, step.target_id), set())
        for m, p in pairs:
            total += 1
            localized += (p, m) in have or (p, None) in have
    return localized, total


def _turnaround(
    session: Session, branch_id: int | None, date_from: date | None, date_to: date | None
) -> Turnaround:
    conds: list[Any] = [
        FeedbackItem.resolved_at.is_not(None),
        FeedbackItem.linked_to_id.is_(None),
        FeedbackItem.status.in_(("accepted", "rejected")),
    ]
    if branch_id is not None:
        conds.append(FeedbackItem.branch_id == branch_id)
    if date_from is not None:
        conds.append(FeedbackItem.resolved_at >= day_start(date_from))
    if date_to is not None:
        conds.append(FeedbackItem.resolved_at < day_end(date_to))
    hours = []
    for created, resolved in session.execute(
        select(FeedbackItem.created_at, FeedbackItem.resolved_at).where(and_(*conds))
    ):
        created, resolved = as_utc(created), as_utc(resolved)
        if created is not None and resolved is not None:
            hours.append(_hours(resolved - created))
    return Turnaround(
        count=len(hours), median_hours=_q(median(hours)), p90_hours=_q(percentile(hours, 90))
    )


def _open_queue(session: Session, branch_id: int | None) -> int:
    stmt = select(func.count()).where(
        FeedbackItem.status.in_(FEEDBACK_UNRESOLVED), FeedbackItem.linked_to_id.is_(None)
    )
    if branch_id is not None:
        stmt = stmt.where(FeedbackItem.branch_id == branch_id)
    return session.scalar(stmt) or 0
