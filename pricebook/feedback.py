"""The feedback queue: reviewers' price-mismatch feedback and market drift tasks, one table.

Market drift opens and updates its tasks here (`open_or_update_drift`, `resolved_price_ids`);
the reviewer workflow (submit, accept, reject, need_info, answer, the queue, turnaround) works
on the same `FeedbackItem` rows, below.

The rule "at most one unresolved item (open or need_info) per part × branch × price type × kind"
is enforced by two partial unique indexes (branch NULL = system price). Writers first update the
unresolved item if there is one, else insert with ON CONFLICT DO NOTHING on that index and, if a
concurrent writer won the race, update the winner's item: never a duplicate, never an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Result, and_, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.db import as_utc, dialect_of
from pricebook.errors import Conflict, InvalidInput, NotFound
from pricebook.models import (
    FEEDBACK_KINDS,
    FEEDBACK_STATUSES,
    FEEDBACK_UNRESOLVED,
    Branch,
    FeedbackItem,
    Part,
    Price,
    PriceType,
    VehicleModel,
)
from pricebook.money import from_fen, to_fen, yuan_field
from pricebook.paging import Page

__all__ = [
    "MARKET_RESOLVED",
    "FeedbackView",
    "accept_feedback",
    "answer_feedback",
    "close_drift_by_market",
    "feedback_queue",
    "find_unresolved",
    "get_feedback",
    "list_feedback",
    "need_info_feedback",
    "open_or_update_drift",
    "reject_feedback",
    "resolved_price_ids",
    "submit_feedback",
    "unresolved_drift_tasks",
]  # fmt: skip

Outcome = Literal["opened", "reopened", "updated", "unchanged"]

#: A drift task the market closed: its price came back within the threshold (reopened if the
#: gap widens again). Not a staff decision: turnaround and "already decided" ignore it.
MARKET_RESOLVED = "resolved_by_market"


def _key_clause(kind: str, part_id: int, branch_id: int | None, price_type_id: int) -> Any:
    branch = (
        FeedbackItem.branch_id.is_(None)
        if branch_id is None
        else FeedbackItem.branch_id == branch_id
    )
    return and_(
        FeedbackItem.kind == kind,
        FeedbackItem.part_id == part_id,
        branch,
        FeedbackItem.price_type_id == price_type_id,
        FeedbackItem.status.in_(FEEDBACK_UNRESOLVED),
        FeedbackItem.linked_to_id.is_(None),
    )


def find_unresolved(
    session: Session, kind: str, part_id: int, branch_id: int | None, price_type_id: int
) -> FeedbackItem | None:
    """The open (or need_info) item of this kind for part × branch × price type, if any."""
    return session.scalars(
        select(FeedbackItem).where(_key_clause(kind, part_id, branch_id, price_type_id))
    ).first()


def _insert_unless_open(session: Session, values: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING against the matching partial unique index; the new id,
    or None when an unresolved item for the key already exists."""
    dialect = dialect_of(session)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        # the same on_conflict API; mypy sees two dialects' Insert classes under one name
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    unresolved = ", ".join(f"'{s}'" for s in FEEDBACK_UNRESOLVED)
    # the predicates of the partial unique indexes (migration 0005): linked items are not keys
    if values["branch_id"] is None:
        elements = ["kind", "part_id", "price_type_id"]
        where = text(f"status IN ({unresolved}) AND branch_id IS NULL AND linked_to_id IS NULL")
    else:
        elements = ["kind", "part_id", "branch_id", "price_type_id"]
        where = text(f"status IN ({unresolved}) AND branch_id IS NOT NULL AND linked_to_id IS NULL")
    stmt = (
        insert(FeedbackItem)
        .values(**values)
        .on_conflict_do_nothing(index_elements=elements, index_where=where)
        .returning(FeedbackItem.id)
    )
    return session.execute(stmt).scalar()


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
    for _attempt in range(3):
        item = find_unresolved(session, "drift", part_id, branch_id, price_type_id)
        if item is not None:
            changed = (
                item.reference_fen != reference_fen
                or item.observed_fen != observed_fen
                or item.model_id != model_id
                or _comparable(item.evidence) != _comparable(evidence)
            )
            if not changed:
                return "unchanged", item.id
            session.execute(
                update(FeedbackItem)
                .where(FeedbackItem.id == item.id)
                .values(
                    reference_fen=reference_fen, observed_fen=observed_fen, model_id=model_id,
                    evidence=evidence, note=note, updated_at=now,
                )
            )  # fmt: skip
            session.expire(item)
            return "updated", item.id
        reopened = _reopen_market_resolved(
            session, part_id=part_id, branch_id=branch_id, price_type_id=price_type_id,
            values={
                "reference_fen": reference_fen, "observed_fen": observed_fen,
                "model_id": model_id, "evidence": evidence, "note": note,
            },
            actor=actor, now=now,
        )  # fmt: skip
        if reopened is not None:
            return "reopened", reopened
        new_id = _insert_unless_open(
            session,
            {
                "kind": "drift", "part_id": part_id, "model_id": model_id,
                "branch_id": branch_id, "price_type_id": price_type_id,
                "reference_fen": reference_fen, "observed_fen": observed_fen,
                "evidence": evidence, "note": note, "url": "", "estimate_ref": "",
                "status": "open", "created_by": actor, "created_at": now, "updated_at": now,
                "resolution_reason": "",
            },
        )  # fmt: skip
        if new_id is not None:
            return "opened", new_id
        # a concurrent writer opened it between our read and our insert: update theirs
    raise RuntimeError("could not open or update the drift task")  # pragma: no cover


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
            FeedbackItem.kind == "drift", FeedbackItem.part_id == part_id, branch,
            FeedbackItem.price_type_id == price_type_id, FeedbackItem.status == MARKET_RESOLVED,
            FeedbackItem.linked_to_id.is_(None),
        )
        .order_by(FeedbackItem.id.desc())
        .limit(1)
    )  # fmt: skip
    if item_id is None:
        return None
    try:
        with session.begin_nested():
            done = _rowcount(session.execute(
                update(FeedbackItem)
                .where(FeedbackItem.id == item_id, FeedbackItem.status == MARKET_RESOLVED)
                .values(
                    status="open", resolved_by=None, resolved_at=None, resolution_reason="",
                    updated_at=now, **values,
                )
            ))  # fmt: skip
    except IntegrityError:
        return None
    if not done:
        return None
    audit.record(
        session, actor=actor, action="reopen", entity="feedback_items", entity_id=item_id,
        before={"status": MARKET_RESOLVED}, after={"status": "open"},
        reason=values["note"],
    )  # fmt: skip
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
    done = _rowcount(session.execute(
        update(FeedbackItem)
        .where(
            FeedbackItem.id == item_id, FeedbackItem.kind == "drift",
            FeedbackItem.status.in_(FEEDBACK_UNRESOLVED),
        )
        .values(
            status=MARKET_RESOLVED, reference_fen=reference_fen, observed_fen=observed_fen,
            evidence=evidence, note=reason, resolution_reason=reason, resolved_by=actor,
            resolved_at=now, updated_at=now,
        )
    ))  # fmt: skip
    if done:
        audit.record(
            session, actor=actor, action="resolve_by_market", entity="feedback_items",
            entity_id=item_id, before={"status": "open"}, after={"status": MARKET_RESOLVED},
            reason=reason,
        )  # fmt: skip
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
            FeedbackItem.part_id, FeedbackItem.branch_id, FeedbackItem.price_type_id,
            FeedbackItem.id,
        ).where(
            FeedbackItem.kind == "drift", FeedbackItem.part_id.in_(ids),
            FeedbackItem.status.in_(FEEDBACK_UNRESOLVED), FeedbackItem.linked_to_id.is_(None),
        )
    )  # fmt: skip
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
            FeedbackItem.part_id, FeedbackItem.branch_id, FeedbackItem.price_type_id,
            FeedbackItem.evidence,
        ).where(
            FeedbackItem.kind == kind,
            FeedbackItem.part_id.in_(ids),
            FeedbackItem.status.in_(("accepted", "rejected")),
        )
    )  # fmt: skip
    for part_id, branch_id, price_type_id, evidence in rows:
        price_id = (evidence or {}).get("price_id")
        if isinstance(price_id, int):
            out[(part_id, branch_id, price_type_id)].add(price_id)
    return out


# ------------------------------------------------------------------------------------------------
# The reviewer workflow (第六条 7(2)(3)): reviewers submit price-mismatch feedback, pricing staff
# work the queue (reviewer feedback and drift tasks alike) and accept, reject or ask for more.
#
# - A reviewer's feedback on a part × branch × price type that already has an unresolved
#   reviewer item is stored linked to it (`linked_to_id`) instead of opening a duplicate; linked
#   items follow their primary item's status, so one decision answers every reviewer.
# - `accept` writes the new price version (source `feedback`, source_ref = the item's id) and
#   the status change in the caller's transaction: both or neither.
# - Turnaround is resolved_at − created_at (accepted or rejected; need_info is not a decision).
# ------------------------------------------------------------------------------------------------

MAX_NOTE = 2000
MAX_URL = 2000
MAX_REF = 100


@dataclass(frozen=True, slots=True)
class FeedbackView:
    id: int
    kind: str
    status: str
    part_id: int
    part_code: str
    part_name: str
    model_id: int | None
    #: None: the system (national) price
    branch_id: int | None
    branch_code: str | None
    price_type_id: int
    price_type: str
    reference: Decimal | None
    observed: Decimal | None
    evidence: dict[str, Any]
    note: str
    url: str
    estimate_ref: str
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_reason: str
    linked_to_id: int | None
    resulting_price_id: int | None
    #: reviewer items linked to this one
    linked_count: int = 0
    #: resolved_at − created_at in hours (one decimal), once decided
    turnaround_hours: Decimal | None = None


def _hours(delta: timedelta) -> Decimal:
    return (Decimal(delta.total_seconds()) / 3600).quantize(Decimal("0.1"))


def _views(session: Session, items: Sequence[FeedbackItem]) -> list[FeedbackView]:
    if not items:
        return []
    part_ids = {i.part_id for i in items}
    branch_ids = {i.branch_id for i in items if i.branch_id is not None}
    type_ids = {i.price_type_id for i in items}
    parts = {
        p: (c, n)
        for p, c, n in session.execute(
            select(Part.id, Part.code, Part.name).where(Part.id.in_(part_ids))
        )
    }
    branches = dict(
        session.execute(select(Branch.id, Branch.code).where(Branch.id.in_(branch_ids))).all()
        if branch_ids
        else []
    )
    types = dict(
        session.execute(
            select(PriceType.id, PriceType.code).where(PriceType.id.in_(type_ids))
        ).all()
    )
    linked = dict(
        session.execute(
            select(FeedbackItem.linked_to_id, func.count())
            .where(FeedbackItem.linked_to_id.in_([i.id for i in items]))
            .group_by(FeedbackItem.linked_to_id)
        ).all()
    )
    out = []
    for i in items:
        created, resolved = as_utc(i.created_at), as_utc(i.resolved_at)
        code, name = parts.get(i.part_id, ("", ""))
        out.append(
            FeedbackView(
                id=i.id, kind=i.kind, status=i.status, part_id=i.part_id, part_code=code,
                part_name=name, model_id=i.model_id, branch_id=i.branch_id,
                branch_code=branches.get(i.branch_id) if i.branch_id is not None else None,
                price_type_id=i.price_type_id, price_type=types.get(i.price_type_id, ""),
                reference=from_fen(i.reference_fen) if i.reference_fen is not None else None,
                observed=from_fen(i.observed_fen) if i.observed_fen is not None else None,
                evidence=dict(i.evidence or {}), note=i.note, url=i.url,
                estimate_ref=i.estimate_ref, created_by=i.created_by, created_at=created,
                updated_at=as_utc(i.updated_at), resolved_by=i.resolved_by, resolved_at=resolved,
                resolution_reason=i.resolution_reason, linked_to_id=i.linked_to_id,
                resulting_price_id=i.resulting_price_id, linked_count=linked.get(i.id, 0),
                turnaround_hours=_hours(resolved - created) if created and resolved else None,
            )
        )  # fmt: skip
    return out


def get_feedback(session: Session, item_id: int) -> FeedbackView:
    item = session.get(FeedbackItem, item_id, populate_existing=True)
    if item is None:
        raise NotFound(f"no feedback item with id {item_id}", field="id")
    return _views(session, [item])[0]


def _yuan(value: Decimal | str | None, field: str, *, required: bool) -> int | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    return to_fen(yuan_field(value, field))


def _text(value: str | None, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit or "\x00" in value:
        raise InvalidInput(f"{field}: at most {limit} characters", field=field)
    return value


def submit_feedback(
    session: Session,
    *,
    part_id: int,
    model_id: int | None,
    branch_id: int | None,
    price_type_id: int,
    reference: Decimal | str | None,
    observed: Decimal | str | None,
    note: str = "",
    url: str = "",
    estimate_ref: str = "",
    actor: str,
) -> FeedbackView:
    """A reviewer's price-mismatch feedback → `open`; linked to the unresolved reviewer item of
    the same part × branch × price type when there is one."""
    from pricebook.versioned import lock_key

    if not actor:
        raise InvalidInput("feedback needs an actor", field="actor")
    if session.get(Part, part_id) is None:
        raise InvalidInput(f"no part with id {part_id}", field="part_id")
    if model_id is not None and session.get(VehicleModel, model_id) is None:
        raise InvalidInput(f"no vehicle model with id {model_id}", field="model_id")
    if branch_id is not None and session.get(Branch, branch_id) is None:
        raise InvalidInput(f"no branch with id {branch_id}", field="branch")
    if session.get(PriceType, price_type_id) is None:
        raise InvalidInput(f"no price type with id {price_type_id}", field="price_type")
    reference_fen = _yuan(reference, "reference", required=False)
    observed_fen = _yuan(observed, "observed", required=True)
    note = _text(note, "note", MAX_NOTE)
    url = _text(url, "url", MAX_URL)
    if url and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("the evidence URL must start with http:// or https://", field="url")
    estimate_ref = _text(estimate_ref, "estimate_ref", MAX_REF)
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "kind": "reviewer", "part_id": part_id, "model_id": model_id, "branch_id": branch_id,
        "price_type_id": price_type_id, "reference_fen": reference_fen,
        "observed_fen": observed_fen, "evidence": {}, "note": note, "url": url,
        "estimate_ref": estimate_ref, "status": "open", "created_by": actor, "created_at": now,
        "updated_at": now, "resolution_reason": "",
    }  # fmt: skip
    lock_key(session, "feedback_items", "reviewer", part_id, branch_id, price_type_id)
    new_id: int | None = None
    for _attempt in range(3):
        primary = find_unresolved(session, "reviewer", part_id, branch_id, price_type_id)
        if primary is not None:
            new_id = session.execute(
                insert(FeedbackItem)
                .values(**values | {"linked_to_id": primary.id, "status": primary.status})
                .returning(FeedbackItem.id)
            ).scalar_one()
            break
        new_id = _insert_unless_open(session, values)
        if new_id is not None:
            break
    if new_id is None:  # pragma: no cover - three lost races in a row
        raise Conflict("the feedback queue is busy: try again", field="part_id")
    view = get_feedback(session, new_id)
    audit.record(
        session, actor=actor, action="submit", entity="feedback_items", entity_id=new_id,
        after={"part_id": part_id, "branch_id": branch_id, "price_type_id": price_type_id,
               "observed_fen": observed_fen, "reference_fen": reference_fen,
               "linked_to_id": view.linked_to_id},
        reason=note,
    )  # fmt: skip
    return view


def _lock_item(session: Session, item_id: int) -> FeedbackItem:
    """The item, locked against concurrent decisions, re-read after the lock."""
    from pricebook.versioned import lock_key

    lock_key(session, "feedback_item", item_id)
    item = session.get(FeedbackItem, item_id, populate_existing=True)
    if item is None:
        raise NotFound(f"no feedback item with id {item_id}", field="id")
    if item.linked_to_id is not None:
        raise Conflict(
            f"feedback #{item.id} is linked to #{item.linked_to_id}: act on #{item.linked_to_id}",
            field="id",
        )
    return item


def _set_status(
    session: Session,
    item: FeedbackItem,
    *,
    status: str,
    actor: str,
    reason: str,
    action: str,
    resulting_price_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> FeedbackView:
    """Move an item and the items linked to it to `status`, audited."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"status": status, "updated_at": now, "resolution_reason": reason}
    if status in ("accepted", "rejected"):
        values |= {"resolved_by": actor, "resolved_at": now}
    if resulting_price_id is not None:
        values["resulting_price_id"] = resulting_price_id
    before = {"status": item.status}
    session.execute(
        update(FeedbackItem)
        .where(or_(FeedbackItem.id == item.id, FeedbackItem.linked_to_id == item.id))
        .values(**values)
    )
    if evidence is not None:
        session.execute(
            update(FeedbackItem).where(FeedbackItem.id == item.id).values(evidence=evidence)
        )
    audit.record(
        session, actor=actor, action=action, entity="feedback_items", entity_id=item.id,
        before=before, after={"status": status, "resulting_price_id": resulting_price_id},
        reason=reason,
    )  # fmt: skip
    return get_feedback(session, item.id)


def _require_unresolved(item: FeedbackItem) -> None:
    if item.status not in FEEDBACK_UNRESOLVED:
        raise Conflict(
            f"feedback #{item.id} is already {item.status} by {item.resolved_by}", field="status"
        )


def accept_feedback(
    session: Session,
    item_id: int,
    *,
    actor: str,
    amount: Decimal | str | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    reason: str = "",
    model_specific: bool | None = None,
    expected_etag: str | None = None,
) -> FeedbackView:
    """Accept: a new localized price version (the branch's price; the system price for an item
    without branch) of `amount` (else the observed price) from `valid_from` (else today), with
    source `feedback` and source_ref = the item's id — in the caller's transaction, with the
    status change. `model_specific` prices only the item's model (default: for drift tasks,
    the drifted price's own key; for reviewer feedback, all models)."""
    from pricebook.prices import PriceKey, write_price

    item = _lock_item(session, item_id)
    _require_unresolved(item)
    fen = _yuan(amount, "amount", required=False)
    if fen is None:
        fen = item.observed_fen
    if fen is None:
        raise InvalidInput("give the amount to accept", field="amount")
    model_id: int | None = None
    if model_specific is None:
        model_specific = False
        if item.kind == "drift":
            price = session.get(Price, (item.evidence or {}).get("price_id") or 0)
            model_specific = price is not None and price.model_id is not None
    if model_specific:
        model_id = item.model_id
    reason = (reason or "").strip() or f"feedback #{item.id} accepted"
    key = PriceKey(
        item.part_id, model_id, "branch" if item.branch_id is not None else "system", None,
        item.branch_id, item.price_type_id,
    )  # fmt: skip
    written = write_price(
        session, key, amount=from_fen(fen), valid_from=valid_from or date.today(),
        valid_to=valid_to, actor=actor, reason=reason, source="feedback",
        source_ref=str(item.id), expected_etag=expected_etag,
    )  # fmt: skip
    return _set_status(
        session, item, status="accepted", actor=actor, reason=reason, action="accept",
        resulting_price_id=written.version.id,
    )  # fmt: skip


def reject_feedback(session: Session, item_id: int, *, actor: str, reason: str) -> FeedbackView:
    """Reject, saying why (the reviewer reads it)."""
    reason = _text(reason, "reason", MAX_NOTE)
    if not reason:
        raise InvalidInput("say why the feedback is rejected", field="reason")
    item = _lock_item(session, item_id)
    _require_unresolved(item)
    return _set_status(
        session, item, status="rejected", actor=actor, reason=reason, action="reject"
    )


def need_info_feedback(session: Session, item_id: int, *, actor: str, reason: str) -> FeedbackView:
    """Ask the reviewer for more (what is missing goes in `reason`); the item stays in the queue."""
    reason = _text(reason, "reason", MAX_NOTE)
    if not reason:
        raise InvalidInput("say what information is needed", field="reason")
    item = _lock_item(session, item_id)
    if item.status != "open":
        raise Conflict(f"feedback #{item.id} is {item.status}, not open", field="status")
    return _set_status(
        session, item, status="need_info", actor=actor, reason=reason, action="need_info"
    )


def answer_feedback(
    session: Session,
    item_id: int,
    *,
    actor: str,
    note: str,
    url: str = "",
    must_own: bool = True,
) -> FeedbackView:
    """The reviewer answers a need_info request: the answer is kept in the evidence and the item
    is open again. With `must_own`, only the item's author may answer."""
    note = _text(note, "note", MAX_NOTE)
    url = _text(url, "url", MAX_URL)
    if not note:
        raise InvalidInput("give the information asked for", field="note")
    if url and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("the evidence URL must start with http:// or https://", field="url")
    item = _lock_item(session, item_id)
    if must_own and item.created_by != actor:
        raise InvalidInput("only the reviewer who sent the feedback can answer it", field="id")
    if item.status != "need_info":
        raise Conflict(f"feedback #{item.id} is {item.status}, not need_info", field="status")
    evidence = dict(item.evidence or {})
    answers = list(evidence.get("answers") or [])
    answers.append({"by": actor, "at": datetime.now(UTC).isoformat(), "note": note, "url": url})
    evidence["answers"] = answers
    return _set_status(
        session, item, status="open", actor=actor, reason="", action="answer", evidence=evidence
    )


QUEUE_STATUSES = (*FEEDBACK_STATUSES, "unresolved")


def feedback_queue(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    branch_id: int | None = None,
    created_by: str | None = None,
    min_age_days: int | None = None,
    max_age_days: int | None = None,
    include_linked: bool | None = None,
    newest_first: bool = False,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> Page[FeedbackView]:
    """The queue, filtered: `status` (or `unresolved`: open and need_info), `kind`, branch,
    author, age in days (at least `min_age_days`, at most `max_age_days` old). Linked items
    are left out unless `include_linked` (default: only when listing one author's items)."""
    if status is not None and status not in QUEUE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(QUEUE_STATUSES)}", field="status")
    if kind is not None and kind not in FEEDBACK_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(FEEDBACK_KINDS)}", field="kind")
    now = now or datetime.now(UTC)
    stmt = select(FeedbackItem)
    if status == "unresolved":
        stmt = stmt.where(FeedbackItem.status.in_(FEEDBACK_UNRESOLVED))
    elif status is not None:
        stmt = stmt.where(FeedbackItem.status == status)
    if kind is not None:
        stmt = stmt.where(FeedbackItem.kind == kind)
    if branch_id is not None:
        stmt = stmt.where(FeedbackItem.branch_id == branch_id)
    if created_by is not None:
        stmt = stmt.where(FeedbackItem.created_by == created_by)
    if include_linked is None:
        include_linked = created_by is not None
    if not include_linked:
        stmt = stmt.where(FeedbackItem.linked_to_id.is_(None))
    if min_age_days is not None:
        stmt = stmt.where(FeedbackItem.created_at <= now - timedelta(days=min_age_days))
    if max_age_days is not None:
        stmt = stmt.where(FeedbackItem.created_at >= now - timedelta(days=max_age_days))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = (
        (FeedbackItem.created_at.desc(), FeedbackItem.id.desc())
        if newest_first
        else (FeedbackItem.created_at, FeedbackItem.id)
    )
    items = list(session.scalars(stmt.order_by(*order).limit(limit).offset(offset)))
    return Page(_views(session, items), total, limit, offset)


def list_feedback(
    session: Session,
    *,
    status: str | None = None,
    branch_id: int | None = None,
    created_by: str | None = None,
    max_age_days: int | None = None,
    min_age_days: int | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[FeedbackView]:
    """`feedback_queue` as a list (what the web UI shows): an author's own items newest first,
    the staff queue oldest first."""
    return feedback_queue(
        session, status=status, branch_id=branch_id, created_by=created_by,
        max_age_days=max_age_days, min_age_days=min_age_days, kind=kind,
        newest_first=created_by is not None, limit=limit,
    ).items  # fmt: skip
