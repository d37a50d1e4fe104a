"""Drift: localized (branch/region) and system prices in force compared with the market median
of the most specific region (the price's region, then its ancestors, then national) that has
enough observations. Beyond the threshold a drift task opens in the feedback queue, or the open
one is updated (`pricebook.feedback.open_or_update_drift`); back within it, the open task is
closed as ``resolved_by_market`` (reopened if it widens)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pricebook.market.references import (
    DEFAULT_WINDOW_DAYS,
    MarketReference,
    market_references,
    pick_reference,
    region_chains,
    window,
)
from pricebook.models import Branch, MarketObservation
from pricebook.money import from_fen, to_fen

if TYPE_CHECKING:
    from pricebook.prices import PriceVersion

#: A price further than this from the market median (percent of the median) is flagged.
DEFAULT_DRIFT_THRESHOLD_PCT = Decimal("20")
#: Fewer market observations than this in a region chain are not evidence enough.
DEFAULT_DRIFT_MIN_OBSERVATIONS = 3


@dataclass(frozen=True, slots=True)
class DriftFinding:
    part_id: int
    branch_id: int | None
    price_type_id: int
    model_id: int | None
    price_id: int
    scope: str
    price_fen: int
    market: MarketReference
    deviation_bp: int  # (price − median) / median, basis points
    #: the threshold that applied (basis points): beyond it the price drifts
    limit_bp: int = 0

    @property
    def drifting(self) -> bool:
        return abs(self.deviation_bp) > self.limit_bp


@dataclass
class DriftReport:
    """What a drift run did to the queue. ``tasks`` lists every task it touched:
    (outcome, task id) with outcome opened, reopened, updated or closed."""

    checked: int = 0
    drifting: int = 0
    opened: int = 0
    #: a task the market had closed, reopened because the gap widened again
    reopened: int = 0
    updated: int = 0
    unchanged: int = 0
    #: closed as `resolved_by_market`: the price is back within the threshold
    closed: int = 0
    #: drifting, but staff already resolved a task about this very price version.
    already_resolved: int = 0
    findings: list[DriftFinding] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)
    tasks: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"drift: {self.checked} prices checked, {self.drifting} off the market; "
            f"tasks opened {self.opened}, updated {self.updated}, unchanged {self.unchanged}, "
            f"closed {self.closed} (back within the threshold), reopened {self.reopened}, "
            f"already resolved {self.already_resolved}"
        ]
        for outcome in ("opened", "reopened", "updated", "closed"):
            ids = [f"#{task_id}" for o, task_id in self.tasks if o == outcome]
            if ids:
                lines.append(f"  {outcome}: {', '.join(ids)}")
        return "\n".join(lines)


def deviation_bp(price_fen: int, median_fen: int) -> int:
    """(price − median) / median in basis points, rounded half away from zero."""
    value = (Decimal(price_fen - median_fen) * 10000 / Decimal(median_fen)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(value)


def compare_with_market(
    session: Session,
    on: date,
    *,
    threshold_pct: Decimal | int | str = DEFAULT_DRIFT_THRESHOLD_PCT,
    min_observations: int = DEFAULT_DRIFT_MIN_OBSERVATIONS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    branch_thresholds: Mapping[int, Decimal | int | str] | None = None,
) -> tuple[int, list[DriftFinding]]:
    """(prices checked, every comparison): localized and system prices in force on ``on`` with
    the market median they were compared with, drifting or not (`DriftFinding.drifting`): the
    ones within the threshold close the tasks the market answered. Writes nothing."""
    part_ids = _parts_on_the_market(session, on, window_days)
    if not part_ids:
        return 0, []
    chains = region_chains(session)
    refs = market_references(session, part_ids, on, window_days=window_days, chains=chains)
    places = _Places(session, chains)
    default_bp = int(Decimal(str(threshold_pct)) * 100)
    limits = {b: int(Decimal(str(v)) * 100) for b, v in (branch_thresholds or {}).items()}
    checked = 0
    seen: set[tuple[int, int | None, int]] = set()
    findings: list[DriftFinding] = []
    for price in _prices_in_force(session, part_ids, on):
        for at_branch, regions_up in places.targets(price):
            key = (price.part_id, at_branch, price.price_type_id)
            if key in seen:
                continue
            seen.add(key)
            ref = pick_reference(
                refs, price.part_id, price.price_type_id, regions_up, min_observations
            )
            if ref is None:
                continue
            checked += 1
            price_fen = to_fen(price.amount)
            limit = limits.get(at_branch, default_bp) if at_branch is not None else default_bp
            findings.append(
                DriftFinding(
                    part_id=price.part_id,
                    branch_id=at_branch,
                    price_type_id=price.price_type_id,
                    model_id=price.model_id,
                    price_id=price.id,
                    scope=price.scope,
                    price_fen=price_fen,
                    market=ref,
                    deviation_bp=deviation_bp(price_fen, ref.median_fen),
                    limit_bp=limit,
                )
            )
    return checked, findings


def _parts_on_the_market(session: Session, on: date, window_days: int) -> list[int]:
    """The parts with matched observations seen in the window."""
    since, until = window(on, window_days)
    o = MarketObservation
    return [
        part_id
        for part_id in session.scalars(
            select(o.part_id)
            .where(
                o.status == "matched",
                o.part_id.is_not(None),
                o.last_seen >= since,
                o.first_seen < until,
            )
            .distinct()
        )
        if part_id is not None
    ]


def _prices_in_force(session: Session, part_ids: list[int], on: date) -> list[PriceVersion]:
    """The parts' prices in force, the part-wide price first (model-specific ones only where
    there is none), oldest id first."""
    from pricebook.prices import versions_in_force

    prices: list[PriceVersion] = []
    for start in range(0, len(part_ids), 5000):
        prices += versions_in_force(session, part_ids[start : start + 5000], on)
    prices.sort(key=lambda p: (p.model_id is not None, p.id))
    return prices


class _Places:
    """Where a price applies, as drift compares it: the branches it serves and the regions
    whose market speaks for each."""

    def __init__(self, session: Session, chains: Mapping[int, list[int]]) -> None:
        self.chains = chains
        self.branches = dict(session.execute(select(Branch.id, Branch.region_id)).all())
        self.branches_at: dict[int, list[int]] = defaultdict(list)
        for branch_id, region_id in sorted(self.branches.items()):
            self.branches_at[region_id].append(branch_id)

    def targets(self, price: PriceVersion) -> list[tuple[int | None, list[int | None]]]:
        """(branch or None for a system price, its regions up to national) per place."""
        if price.scope == "system":
            return [(None, [None])]
        if price.scope == "branch":
            assert price.branch_id is not None
            chain = self.chains.get(self.branches.get(price.branch_id, -1), [])
            return [(price.branch_id, [*chain, None])]
        assert price.region_id is not None
        chain = self.chains.get(price.region_id, [])
        return [(b, [*chain, None]) for b in self.branches_at.get(price.region_id, [])]


def detect_drift(
    session: Session,
    on: date,
    *,
    threshold_pct: Decimal | int | str = DEFAULT_DRIFT_THRESHOLD_PCT,
    min_observations: int = DEFAULT_DRIFT_MIN_OBSERVATIONS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    branch_thresholds: Mapping[int, Decimal | int | str] | None = None,
    actor: str = "market-drift",
) -> DriftReport:
    """Compare prices with the market (`compare_with_market`) and make the drift tasks follow
    it, in the caller's transaction: a drifting price opens one task per part × branch × price
    type, or updates the open one with the latest median, gap, count and sellers, or reopens
    the one the market had closed; an open task whose price is back within the threshold is
    closed as ``resolved_by_market``. A task whose key has no market reference this run (too
    few observations in the window) stays as it is: no evidence either way.

    ``threshold_pct`` is the default; ``branch_thresholds`` (branch id → percent) overrides it
    per branch (rule profiles will feed it). A price version whose drift task staff already
    accepted or rejected does not reopen one; a new version of the price can.
    """
    report = DriftReport()
    report.checked, compared = compare_with_market(
        session,
        on,
        threshold_pct=threshold_pct,
        min_observations=min_observations,
        window_days=window_days,
        branch_thresholds=branch_thresholds,
    )
    report.findings = [f for f in compared if f.drifting]
    report.drifting = len(report.findings)
    _follow_drifting(session, report, on, actor)
    _close_answered(session, report, [f for f in compared if not f.drifting], on, actor)
    return report


def _follow_drifting(session: Session, report: DriftReport, on: date, actor: str) -> None:
    """Open, update or reopen a task per drifting price, unless staff already resolved one
    about this very price version."""
    from pricebook import feedback

    findings = report.findings
    resolved = feedback.resolved_price_ids(session, "drift", {f.part_id for f in findings})
    for f in findings:
        if f.price_id in resolved.get((f.part_id, f.branch_id, f.price_type_id), set()):
            report.already_resolved += 1
            continue
        outcome, task_id = feedback.open_or_update_drift(
            session,
            part_id=f.part_id,
            branch_id=f.branch_id,
            price_type_id=f.price_type_id,
            model_id=f.model_id,
            reference_fen=f.price_fen,
            observed_fen=f.market.median_fen,
            evidence=_drift_evidence(f, on),
            note=drift_note(f),
            actor=actor,
        )
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.task_ids.append(task_id)
        if outcome != "unchanged":
            report.tasks.append((outcome, task_id))


def _close_answered(
    session: Session, report: DriftReport, within: list[DriftFinding], on: date, actor: str
) -> None:
    """Close the open tasks the market answered: the price is back within the threshold."""
    from pricebook import feedback

    open_tasks = feedback.unresolved_drift_tasks(session, {f.part_id for f in within})
    for f in within:
        open_id = open_tasks.get((f.part_id, f.branch_id, f.price_type_id))
        if open_id is None:
            continue
        if feedback.close_drift_by_market(
            session,
            open_id,
            reference_fen=f.price_fen,
            observed_fen=f.market.median_fen,
            evidence=_drift_evidence(f, on),
            reason=drift_note(f),
            actor=actor,
        ):
            report.closed += 1
            report.tasks.append(("closed", open_id))


def _drift_evidence(f: DriftFinding, on: date) -> dict[str, Any]:
    return {
        "price_id": f.price_id,
        "scope": f.scope,
        "price": str(from_fen(f.price_fen)),
        "deviation_pct": str((Decimal(f.deviation_bp) / 100).quantize(Decimal("0.01"))),
        "threshold_pct": str((Decimal(f.limit_bp) / 100).quantize(Decimal("0.01"))),
        "within_threshold": not f.drifting,
        "market": f.market.as_dict(),
        "on": on.isoformat(),
    }


def drift_note(f: DriftFinding) -> str:
    """The task's note as pricing staff read it in the (Chinese) UI: the gap and the evidence;
    for a price back within the threshold, why the market closed the task."""
    pct = f"{abs(f.deviation_bp) / 100:.1f}%"
    threshold = f"{Decimal(f.limit_bp) / 100:.1f}%"
    m = f.market
    price = from_fen(f.price_fen)
    evidence = (
        f"{m.count} 条报价，{m.sellers} 个卖家，{m.sources} 个来源，p25–p75 {m.p25}–{m.p75} 元"
    )
    if f.drifting:
        direction = "高" if f.deviation_bp > 0 else "低"
        return (
            f"价格 {price} 元比市场中位数 {m.median} 元{direction} {pct}，超过阈值 {threshold}"
            f"（{evidence}）"
        )
    return (
        f"价格 {price} 元与市场中位数 {m.median} 元相差 {pct}，已回到阈值 {threshold} 以内，"
        f"由市场关闭（{evidence}）"
    )
