"""Feedback items as staff read them: one item (`FeedbackView`), the queue and the listing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pricebook.db import as_utc
from pricebook.errors import InvalidInput, NotFound
from pricebook.models import (
    FEEDBACK_KINDS,
    FEEDBACK_STATUSES,
    FEEDBACK_UNRESOLVED,
    Branch,
    FeedbackItem,
    Part,
    PriceType,
)
from pricebook.money import from_fen
from pricebook.paging import Page


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


def views_of(session: Session, items: Sequence[FeedbackItem]) -> list[FeedbackView]:
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
                id=i.id,
                kind=i.kind,
                status=i.status,
                part_id=i.part_id,
                part_code=code,
                part_name=name,
                model_id=i.model_id,
                branch_id=i.branch_id,
                branch_code=branches.get(i.branch_id) if i.branch_id is not None else None,
                price_type_id=i.price_type_id,
                price_type=types.get(i.price_type_id, ""),
                reference=from_fen(i.reference_fen) if i.reference_fen is not None else None,
                observed=from_fen(i.observed_fen) if i.observed_fen is not None else None,
                evidence=dict(i.evidence or {}),
                note=i.note,
                url=i.url,
                estimate_ref=i.estimate_ref,
                created_by=i.created_by,
                created_at=created,
                updated_at=as_utc(i.updated_at),
                resolved_by=i.resolved_by,
                resolved_at=resolved,
                resolution_reason=i.resolution_reason,
                linked_to_id=i.linked_to_id,
                resulting_price_id=i.resulting_price_id,
                linked_count=linked.get(i.id, 0),
                turnaround_hours=_hours(resolved - created) if created and resolved else None,
            )
        )
    return out


def get_feedback(session: Session, item_id: int) -> FeedbackView:
    item = session.get(FeedbackItem, item_id, populate_existing=True)
    if item is None:
        raise NotFound(f"no feedback item with id {item_id}", field="id")
    return views_of(session, [item])[0]


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
    return Page(views_of(session, items), total, limit, offset)


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
        session,
        status=status,
        branch_id=branch_id,
        created_by=created_by,
        max_age_days=max_age_days,
        min_age_days=min_age_days,
        kind=kind,
        newest_first=created_by is not None,
        limit=limit,
    ).items
