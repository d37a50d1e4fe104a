"""Feedback items by key: the unresolved item of a part × branch × price type × kind, and the
insert that never makes a second one.

The rule "at most one unresolved item (open or need_info) per part × branch × price type × kind"
is enforced by two partial unique indexes (branch NULL = system price). Writers first update the
unresolved item if there is one, else insert with ON CONFLICT DO NOTHING on that index and, if a
concurrent writer won the race, update the winner's item: never a duplicate, never an error.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select, text
from sqlalchemy.orm import Session

from pricebook.db import dialect_of
from pricebook.models import (
    FEEDBACK_UNRESOLVED,
    FeedbackItem,
)


def key_clause(
    kind: str, part_id: int, branch_id: int | None, price_type_id: int
) -> ColumnElement[bool]:
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
        select(FeedbackItem).where(key_clause(kind, part_id, branch_id, price_type_id))
    ).first()


def insert_unless_open(session: Session, values: dict[str, object]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING against the matching partial unique index; the new id,
    or None when an unresolved item for the key already exists."""
    dialect = dialect_of(session)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # same API
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
