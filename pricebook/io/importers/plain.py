"""Plain (code-keyed) entities: created, or updated in place with before/after in the audit
log; link rows added when missing."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import insert, select

from pricebook import audit
from pricebook.io.importers.cells import ImportContext, chunks
from pricebook.io.importers.report import RowChange
from pricebook.models import Base

#: a link row as `ensure_links` plans it: its column values, in `columns`' order
L = TypeVar("L", bound=tuple[object, ...])


def upsert(
    ctx: ImportContext,
    model: type[Base],
    desired: Mapping[str, Mapping[str, object]],
    *,
    key: str = "code",
) -> dict[str, int]:
    """Create or update rows by code; returns code → id for all of them (0 for a dry run's new)."""
    session = ctx.session
    attr = getattr(model, key)
    existing: dict[str, Any] = {}
    for chunk in chunks(list(desired)):
        for stored in session.scalars(select(model).where(attr.in_(chunk))):
            existing[getattr(stored, key)] = stored
    entity = model.__tablename__
    entries: list[dict[str, Any]] = []
    new_objects: list[Any] = []  # instances of `model`, whose columns mypy cannot see
    for code, values in desired.items():
        obj = existing.get(code)
        if obj is None:
            ctx.report.created += 1
            ctx.report.note_change(RowChange(0, "create", str(code), None, values))
            if not ctx.dry_run:
                new_objects.append(model(**{key: code}, **values))
            continue
        diff = {k: v for k, v in values.items() if getattr(obj, k) != v}
        if not diff:
            ctx.report.unchanged += 1
            continue
        ctx.report.updated += 1
        before = {k: getattr(obj, k) for k in diff}
        ctx.report.note_change(RowChange(0, "update", str(code), before, diff))
        if not ctx.dry_run:
            for k, v in diff.items():
                setattr(obj, k, v)
            entries.append(audit_entry(ctx, "update", entity, code, before, diff))
    if ctx.dry_run:
        return {code: getattr(obj, "id", 0) for code, obj in existing.items()} | {
            code: 0 for code in desired if code not in existing
        }
    session.add_all(new_objects)
    session.flush()
    entries += [
        audit_entry(
            ctx, "create", entity, getattr(o, key), None, {"id": o.id, **desired[getattr(o, key)]}
        )
        for o in new_objects
    ]
    audit.record_many(session, entries)
    return {getattr(o, key): o.id for o in [*existing.values(), *new_objects]}


def audit_entry(
    ctx: ImportContext,
    action: str,
    entity: str,
    entity_id: object,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
) -> audit.Entry:
    return {
        "actor": ctx.actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "reason": ctx.reason,
    }


def ensure_links(
    ctx: ImportContext,
    model: type[Base],
    wanted: Iterable[L],
    columns: tuple[str, ...],
    existing: Container[L],
    *,
    extra: Callable[[L], dict[str, object]] | None = None,
) -> None:
    """Add link rows (aliases, fitment, components …) that are missing; existing ones stay."""
    ordered = list(dict.fromkeys(wanted))  # the file's order, so exports list links as imported
    missing = [link for link in ordered if link not in existing]
    ctx.report.created += len(missing)
    ctx.report.unchanged += len(ordered) - len(missing)
    if ctx.dry_run or not missing:
        return
    rows = [
        dict(zip(columns, link, strict=True)) | (extra(link) if extra else {}) for link in missing
    ]
    for chunk in chunks(rows):
        ctx.session.execute(insert(model), list(chunk))
    ctx.report.notes.append(f"{model.__tablename__}: {len(missing)} added")
