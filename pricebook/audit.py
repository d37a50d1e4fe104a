"""The audit log: every change, with who, when, before, after and why, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, String, and_, cast, func, insert, or_, select
from sqlalchemy.orm import Session

from pricebook.days import day_end, day_start
from pricebook.db import as_utc
from pricebook.jsontypes import JSONObject
from pricebook.models import ApiKey, AuditEntry, CatalogVersion, Part, Price, StandardHours

if TYPE_CHECKING:
    from pricebook.paging import Page

#: one audit row as `record` takes it (keyword → value; `before` and `after` are column → value
#: maps), as `record_many` takes a batch of them
Entry = dict[str, Any]


def jsonable(values: Mapping[str, object] | None) -> JSONObject | None:
    """Dates and Decimals as text, so before/after survive JSON on every backend."""
    if values is None:
        return None
    out: JSONObject = {}
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
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
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


def record_many(session: Session, entries: Iterable[Entry]) -> None:
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
    before: JSONObject | None
    after: JSONObject | None
    reason: str


#: the entities whose rows belong to one part: versions of its prices and standard hours (by
#: their id), its aliases (the part's id is in before/after), and the part itself (by code, as
#: imports write it)
PART_ENTITIES: dict[str, type[Price] | type[StandardHours]] = {
    "prices": Price,
    "standard_hours": StandardHours,
}


def _of_part(part_id: int) -> ColumnElement[bool]:
    """The audit rows of one part (see `PART_ENTITIES`)."""
    by_version = [
        and_(
            AuditEntry.entity == entity,
            AuditEntry.entity_id.in_(
                select(cast(model.id, String)).where(model.part_id == part_id)
            ),
        )
        for entity, model in PART_ENTITIES.items()
    ]
    alias = and_(
        AuditEntry.entity == "part_aliases",
        or_(
            AuditEntry.after["part_id"].as_integer() == part_id,
            AuditEntry.before["part_id"].as_integer() == part_id,
        ),
    )
    code = select(Part.code).where(Part.id == part_id).scalar_subquery()
    return or_(*by_version, alias, and_(AuditEntry.entity == "parts", AuditEntry.entity_id == code))


def query(
    session: Session,
    *,
    entity: str = "",
    entity_id: str = "",
    who: str = "",
    action: str = "",
    part_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    newest_first: bool = True,
    hide_entities: Iterable[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> Page[AuditRow]:
    """The audit log, newest first (or oldest first): by entity (table name, e.g. `prices`)
    and id (several ids, comma-separated: the versions of one key), by who (the actor as written, or an API key's name: actors of API keys read
    `api-key:<id>:<name>`), by action (create, supersede, close, delete …), by part (every row
    of the part's prices, standard hours, aliases and catalogue row), and by day (`date_from`
    … `date_to`, both inclusive, UTC); `hide_entities` are left out (what a reader's role does
    not cover). Two statements, whatever the page size (three by who)."""
    from pricebook.paging import Page

    stmt = select(AuditEntry)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if ids := [i.strip() for i in entity_id.split(",") if i.strip()]:
        stmt = stmt.where(AuditEntry.entity_id.in_(ids))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if hidden := list(hide_entities):
        stmt = stmt.where(AuditEntry.entity.not_in(hidden))
    if part_id is not None:
        stmt = stmt.where(_of_part(part_id))
    if who:
        # the actors an API key named `who` writes as, read first: a suffix match on the actor
        # (`LIKE '%:who'`) cannot use its index and read the whole log
        keys = session.execute(select(ApiKey.id).where(ApiKey.name == who)).scalars()
        actors = [who, *(f"api-key:{key_id}:{who}" for key_id in keys)]
        stmt = stmt.where(AuditEntry.actor.in_(actors))
    if date_from is not None:
        stmt = stmt.where(AuditEntry.at >= day_start(date_from))
    if date_to is not None:
        stmt = stmt.where(AuditEntry.at < day_end(date_to))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = (
        (AuditEntry.at.desc(), AuditEntry.id.desc())
        if newest_first
        else (AuditEntry.at, AuditEntry.id)
    )
    rows = session.scalars(stmt.order_by(*order).limit(limit).offset(offset))
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


@dataclass(frozen=True, slots=True)
class EntryPart:
    """The part an audit row is about, where it is about one."""

    id: int
    code: str
    name: str


def parts_of(session: Session, rows: Iterable[AuditRow]) -> dict[int, EntryPart]:
    """Audit row id → the part it concerns (its price or standard-hours version, alias or
    catalogue row), for a page of rows in at most three statements."""
    rows = list(rows)
    version_ids: dict[str, set[int]] = {entity: set() for entity in PART_ENTITIES}
    part_ids: set[int] = set()
    codes: set[str] = set()
    for r in rows:
        if r.entity in PART_ENTITIES and r.entity_id.isdigit() and len(r.entity_id) < 12:
            version_ids[r.entity].add(int(r.entity_id))
        elif r.entity == "part_aliases":
            part_id = _part_id_in(r)
            if part_id is not None:
                part_ids.add(part_id)
        elif r.entity == "parts" and r.entity_id:
            codes.add(r.entity_id)
    version_part: dict[tuple[str, int], int] = {}
    for entity, model in PART_ENTITIES.items():
        if version_ids[entity]:
            for version_id, part_id in session.execute(
                select(model.id, model.part_id).where(model.id.in_(version_ids[entity]))
            ):
                version_part[(entity, version_id)] = part_id
    part_ids.update(version_part.values())
    found: dict[int, EntryPart] = {}
    by_code: dict[str, EntryPart] = {}
    if part_ids or codes:
        for id_, code, name in session.execute(
            select(Part.id, Part.code, Part.name).where(
                or_(Part.id.in_(part_ids), Part.code.in_(codes))
            )
        ):
            found[id_] = by_code[code] = EntryPart(id_, code, name)
    out: dict[int, EntryPart] = {}
    for r in rows:
        part: EntryPart | None = None
        if r.entity in PART_ENTITIES and r.entity_id.isdigit() and len(r.entity_id) < 12:
            part_id = version_part.get((r.entity, int(r.entity_id)))
            part = found.get(part_id) if part_id is not None else None
        elif r.entity == "part_aliases":
            part_id = _part_id_in(r)
            part = found.get(part_id) if part_id is not None else None
        elif r.entity == "parts":
            part = by_code.get(r.entity_id)
        if part is not None:
            out[r.id] = part
    return out


def _part_id_in(row: AuditRow) -> int | None:
    for values in (row.after, row.before):
        value = (values or {}).get("part_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
