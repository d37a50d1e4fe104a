"""The audit log: every change, with who, when, before, after and why, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from pricebook.models import AuditEntry, CatalogVersion


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
