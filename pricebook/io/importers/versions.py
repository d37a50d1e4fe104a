"""Versioned kinds: new versions planned against the stored ones (`pricebook.history.plan_version`),
then superseded versions closed and new ones inserted in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.errors import Conflict
from pricebook.history import Version, plan_version
from pricebook.io.importers.cells import ImportContext, chunks
from pricebook.io.importers.report import RowChange
from pricebook.models import Base
from pricebook.versioned import closing, lock_version_keys


@dataclass
class NewVersion:
    row: int
    key: tuple[Any, ...]
    valid_from: date
    valid_to: date | None
    value: Hashable
    record: dict[str, Any]


@dataclass
class _Plan:
    """What a file's versions change: rows to insert, stored versions to close (id → end day)
    and the audit entries of the closes."""

    inserts: list[NewVersion] = field(default_factory=list)
    closes: dict[int, date] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)


def apply_versions(
    ctx: ImportContext,
    model: type[Base],
    key_columns: tuple[str, ...],
    value_of: Callable[[RowMapping], Hashable],
    items: list[NewVersion],
    *,
    load_column: str,
    on_insert: Callable[[list[NewVersion]], None] | None = None,
) -> None:
    """Plan every new version against the stored ones (and earlier rows of the same file), then
    close superseded versions and insert new ones in bulk."""
    table = model.metadata.tables[model.__tablename__]
    if not ctx.dry_run:  # the locks staff edits take, before the versions are read
        lock_version_keys(
            ctx.session, table.name, [dict(zip(key_columns, i.key, strict=True)) for i in items]
        )
    versions = _stored_versions(ctx.session, table, key_columns, value_of, items, load_column)
    plan = _plan_versions(ctx, table.name, versions, items)
    ctx.raise_if_errors()
    if ctx.dry_run:
        return
    for chunk in chunks(list(plan.closes.items())):
        ctx.session.execute(update(model), [{"id": i, "valid_to": d} for i, d in chunk])
    records = [
        item.record | {"valid_from": item.valid_from, "valid_to": item.valid_to}
        for item in plan.inserts
    ]
    bulk_insert(ctx.session, table, records)
    if on_insert is not None:
        on_insert(plan.inserts)
    audit.record_many(ctx.session, plan.entries)


def _stored_versions(
    session: Session,
    table: Table,
    key_columns: tuple[str, ...],
    value_of: Callable[[RowMapping], Hashable],
    items: list[NewVersion],
    load_column: str,
) -> dict[tuple[Any, ...], list[Version]]:
    """The stored versions of every key the items touch, loaded by `load_column` in chunks."""
    versions: dict[tuple[Any, ...], list[Version]] = defaultdict(list)
    load_values = sorted({item.key[key_columns.index(load_column)] for item in items})
    columns = [table.c.id, *(table.c[c] for c in key_columns), table.c.valid_from, table.c.valid_to]
    value_columns = [c for c in table.c if c.name not in {"id", "valid_from", "valid_to"}]
    for chunk in chunks(load_values):
        stmt = select(*columns, *value_columns).where(table.c[load_column].in_(chunk))
        for row in session.execute(stmt).mappings():
            key = tuple(row[c] for c in key_columns)
            versions[key].append(
                Version(row["id"], row["valid_from"], row["valid_to"], value_of(row))
            )
    return versions


def _plan_versions(
    ctx: ImportContext,
    table_name: str,
    versions: dict[tuple[Any, ...], list[Version]],
    items: list[NewVersion],
) -> _Plan:
    """Plan the items in key and day order, each against the versions stored and those planned
    by earlier rows; counts and notes every change on the report, records every bad row."""
    plan = _Plan()
    pending: dict[int, NewVersion] = {}  # id(Version) of a pending version → its item
    for item in sorted(items, key=lambda i: (repr(i.key), i.valid_from)):
        key_versions = versions[item.key]
        try:
            step = plan_version(key_versions, item.valid_from, item.valid_to, item.value)
        except Conflict as exc:
            ctx.error(item.row, exc.field or "valid_from", exc.message)
            continue
        if step.unchanged:
            ctx.report.unchanged += 1
            continue
        if step.close is not None:
            closed, day = step.close
            if closed.id is None:  # an earlier row of this same file
                pending[id(closed)].valid_to = day
            else:
                plan.closes[closed.id] = day
                plan.entries.append(
                    closing(table_name, closed.id, closed.valid_to, day, ctx.actor, ctx.reason)
                )
            if not step.insert:
                ctx.report.note_change(
                    RowChange(item.row, "close", "", closed.valid_to, day, closed.valid_from)
                )
            closed.valid_to = day
        if step.insert:
            before = step.close[0].value if step.close is not None else None
            action = "create" if step.close is None else "supersede"
            ctx.report.note_change(
                RowChange(item.row, action, "", before, item.value, item.valid_from)
            )
            ctx.report.superseded += step.close is not None
            ctx.report.created += step.close is None
            version = Version(None, item.valid_from, item.valid_to, item.value)
            key_versions.append(version)
            pending[id(version)] = item
            plan.inserts.append(item)
        else:
            ctx.report.closed += 1
    return plan


def bulk_insert(session: Session, table: Table, records: list[dict[str, object]]) -> None:
    if not records:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(records) > 1000:
        # COPY is several times faster than multi-row INSERT for large imports.
        columns = list(records[0])
        raw = connection.connection.driver_connection
        assert raw is not None  # a pooled connection is open
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for record in records:
                copy.write_row([record[c] for c in columns])
        return
    for chunk in chunks(records):
        session.execute(insert(table), list(chunk))
