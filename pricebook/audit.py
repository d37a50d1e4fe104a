"""The audit log: every change, with who, when, before, after and why, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from pricebook.db import as_utc
from pricebook.models import AuditEntry, CatalogVersion

if TYPE_CHECKING:
    from pricebook.catalog import Page


def jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Dates and Decimals as text, so before/after survive JSON on every backend."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, date | datetime):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> None:
    session.execute(
        insert(AuditEntry).values(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=jsonable(before),
            after=jsonable(after),
            reason=reason,
        )
    )


def record_many(session: Session, entries: Iterable[Mapping[str, Any]]) -> None:
    rows = [
        {
            "actor": e["actor"],
            "action": e["action"],
            "entity": e["entity"],
            "entity_id": str(e.get("entity_id", "")),
            "before": jsonable(e.get("before")),
            "after": jsonable(e.get("after")),
            "reason": e.get("reason", ""),
        }
        for e in entries
    ]
    if rows:
        session.execute(insert(AuditEntry), rows)


def bump_catalog_version(session: Session, *, actor: str, reason: str) -> None:
    """Tell every process that the catalogue changed (matching indexes rebuild on it)."""
    session.execute(insert(CatalogVersion).values(actor=actor, reason=reason))


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime | None
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str


def query(
    session: Session,
    *,
    entity: str = "",
    entity_id: str = "",
    who: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The audit log, newest first: by entity (table name, e.g. `prices`) and id, by who (the
    actor as written, or an API key's name: actors of API keys read `api-key:<id>:<name>`),
    and by day (`date_from` … `date_to`, both inclusive, UTC)."""
    from pricebook.catalog import Page

    stmt = select(AuditEntry)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if who:
        stmt = stmt.where(
            or_(AuditEntry.actor == who, AuditEntry.actor.endswith(f":{who}", autoescape=True))
        )
    if date_from is not None:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to is not None:
        stmt = stmt.where(
            AuditEntry.at < datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    items = [
        AuditRow(
            r.id,
            as_utc(r.at),
            r.actor,
            r.action,
            r.entity,
            r.entity_id,
            r.before,
            r.after,
            r.reason,
        )
        for r in rows
    ]
    return Page(items, total, limit, offset)
