"""Market drift tasks in the feedback queue: opened, updated, reopened and closed by the drift
detection (`pricebook.market.drift`), and the prices they already settled."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.feedback.store import find_unresolved, insert_unless_open
from pricebook.models import (
    FEEDBACK_UNRESOLVED,
    FeedbackItem,
)

Outcome = Literal["opened", "reopened", "updated", "unchanged"]

#: A drift task the market closed: its price came back within the threshold (reopened if the
#: gap widens again). Not a staff decision: turnaround and "already decided" ignore it.
MARKET_RESOLVED = "resolved_by_market"


def open_or_update_drift(
    session: Session,
    *,
    part_id: int,
    branch_id: int | None,
    price_type_id: int,
    model_id: int | None,
    reference_fen: int,
    observed_fen: int,
    evidence: dict[str, Any],
    note: str = "",
    actor: str = "market-drift",
) -> tuple[Outcome, int]:
    """Open a drift task for part × branch × price type, or update the unresolved one with the
    latest reference, market median and evidence. Returns (outcome, task id)."""
    now = datetime.now(UTC)
    values = {
        "reference_fen": reference_fen,
        "observed_fen": observed_fen,
        "model_id": model_id,
        "evidence": evidence,
        "note": note,
    }
    for _attempt in range(3):
        item = find_unresolved(session, "drift", part_id, branch_id, price_type_id)
        if item is not None:
            return _update_task(session, item, values, now), item.id
        reopened = _reopen_market_resolved(
            session,
            part_id=part_id,
            branch_id=branch_id,
            price_type_id=price_type_id,
            values=values,
            actor=actor,
            now=now,
        )
        if reopened is not None:
            return "reopened", reopened
        new_id = insert_unless_open(
            session,
            {
                "kind": "drift",
                "part_id": part_id,
                "branch_id": branch_id,
                "price_type_id": price_type_id,
                **values,
                "url": "",
                "estimate_ref": "",
                "status": "open",
                "created_by": actor,
                "created_at": now,
                "updated_at": now,
                "resolution_reason": "",
            },
        )
        if new_id is not None:
            return "opened", new_id
        # a concurrent writer opened it between our read and our insert: update theirs
    raise RuntimeError("could not open or update the drift task")  # pragma: no cover


def _update_task(
    session: Session, item: FeedbackItem, values: dict[str, Any], now: datetime
) -> Outcome:
    """The unresolved task with the latest figures and evidence, unless they are the same."""
    changed = (
        item.reference_fen != values["reference_fen"]
        or item.observed_fen != values["observed_fen"]
        or item.model_id != values["model_id"]
        or _comparable(item.evidence) != _comparable(values["evidence"])
    )
    if not changed:
        return "unchanged"
    session.execute(
        update(FeedbackItem).where(FeedbackItem.id == item.id).values(**values, updated_at=now)
    )
    session.expire(item)
    return "updated"


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (a DML statement's result is a CursorResult)."""
    return cast(CursorResult[Any], result).rowcount


def _reopen_market_resolved(
    session: Session,
    *,
    part_id: int,
    branch_id: int | None,
    price_type_id: int,
    values: dict[str, Any],
    actor: str,
    now: datetime,
) -> int | None:
    """Reopen the latest drift task of this key that the market had closed, if there is one
    (its history stays in one task). None if there is none, or a concurrent writer opened a
    task for the key meanwhile (the caller then updates that one)."""
    from sqlalchemy.exc import IntegrityError

    branch = (
        FeedbackItem.branch_id.is_(None)
        if branch_id is None
        else FeedbackItem.branch_id == branch_id
    )
    item_id = session.scalar(
        select(FeedbackItem.id)
        .where(
            FeedbackItem.kind == "drift",
            FeedbackItem.part_id == part_id,
            branch,
            FeedbackItem.price_type_id == price_type_id,
            FeedbackItem.status == MARKET_RESOLVED,
            FeedbackItem.linked_to_id.is_(None),
        )
        .order_by(FeedbackItem.id.desc())
        .limit(1)
    )
    if item_id is None:
        return None
    try:
        with session.begin_nested():
            done = _rowcount(
                session.execute(
                    update(FeedbackItem)
                    .where(FeedbackItem.id == item_id, FeedbackItem.status == MARKET_RESOLVED)
                    .values(
                        status="open",
                        resolved_by=None,
                        resolved_at=None,
                        resolution_reason="",
                        updated_at=now,
                        **values,
                    )
                )
            )
    except IntegrityError:
        return None
    if not done:
        return None
    audit.record(
        session,
        actor=actor,
        action="reopen",
        entity="feedback_items",
        entity_id=item_id,
        before={"status": MARKET_RESOLVED},
        after={"status": "open"},
        reason=values["note"],
    )
    return item_id


def close_drift_by_market(
    session: Session,
    item_id: int,
    *,
    reference_fen: int,
    observed_fen: int,
    evidence: dict[str, Any],
    reason: str,
    actor: str = "market-drift",
) -> bool:
    """Close an unresolved drift task whose price is back within the threshold of the market,
    with the evidence that shows it; audited. False if it was no longer unresolved."""
    now = datetime.now(UTC)
    done = _rowcount(
        session.execute(
            update(FeedbackItem)
            .where(
                FeedbackItem.id == item_id,
                FeedbackItem.kind == "drift",
                FeedbackItem.status.in_(FEEDBACK_UNRESOLVED),
            )
            .values(
                status=MARKET_RESOLVED,
                reference_fen=reference_fen,
                observed_fen=observed_fen,
                evidence=evidence,
                note=reason,
                resolution_reason=reason,
                resolved_by=actor,
                resolved_at=now,
                updated_at=now,
            )
        )
    )
    if done:
        audit.record(
            session,
            actor=actor,
            action="resolve_by_market",
            entity="feedback_items",
            entity_id=item_id,
            before={"status": "open"},
            after={"status": MARKET_RESOLVED},
            reason=reason,
        )
    return bool(done)


def unresolved_drift_tasks(
    session: Session, part_ids: Iterable[int]
) -> dict[tuple[int, int | None, int], int]:
    """(part, branch, price type) → id of its unresolved drift task (one statement)."""
    ids = sorted(set(part_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(
            FeedbackItem.part_id,
            FeedbackItem.branch_id,
            FeedbackItem.price_type_id,
            FeedbackItem.id,
        ).where(
            FeedbackItem.kind == "drift",
            FeedbackItem.part_id.in_(ids),
            FeedbackItem.status.in_(FEEDBACK_UNRESOLVED),
            FeedbackItem.linked_to_id.is_(None),
        )
    )
    return {(p, b, t): i for p, b, t, i in rows}


def _comparable(evidence: dict[str, Any] | None) -> dict[str, Any]:
    """Evidence without the fields that change on every run (the day, the freshness)."""
    out = dict(evidence or {})
    out.pop("on", None)
    market = dict(out.get("market") or {})
    market.pop("latest", None)
    out["market"] = market
    return out


def resolved_price_ids(
    session: Session, kind: str, part_ids: Iterable[int]
) -> dict[tuple[int, int | None, int], set[int]]:
    """(part, branch, price type) → ids of the price versions that items of this kind staff
    accepted or rejected were about (``evidence.price_id``): staff already decided about those
    versions. A task the market closed is no decision: a widening gap reopens it."""
    ids = sorted(set(part_ids))
    out: dict[tuple[int, int | None, int], set[int]] = defaultdict(set)
    if not ids:
        return out
    rows = session.execute(
        select(
            FeedbackItem.part_id,
            FeedbackItem.branch_id,
            FeedbackItem.price_type_id,
            FeedbackItem.evidence,
        ).where(
            FeedbackItem.kind == kind,
            FeedbackItem.part_id.in_(ids),
            FeedbackItem.status.in_(("accepted", "rejected")),
        )
    )
    for part_id, branch_id, price_type_id, evidence in rows:
        price_id = (evidence or {}).get("price_id")
        if isinstance(price_id, int):
            out[(part_id, branch_id, price_type_id)].add(price_id)
    return out
