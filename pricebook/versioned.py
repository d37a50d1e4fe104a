"""The one versioned-write path: every table whose rows are versions of a key over time
(prices, labor rates, standard hours, rate cards, rule profiles, consumable standards, rescue
tariffs) changes through `write_version` / `end_version` here — staff edits, imports, feedback
accepts and review config alike. Each locks the key, checks the ETag when one is given, requires
a reason, plans with `pricebook.history.plan_version`, writes, and records an audit row in the
same transaction. `in_force` is the SQL form of "in force on a day" for any of those tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, Protocol, TypeVar, cast

import msgspec
from sqlalchemy import ColumnElement, and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.orm.util import AliasedClass

from pricebook import audit
from pricebook.db import dialect_of
from pricebook.errors import Conflict, InvalidInput, NotFound, StaleVersion
from pricebook.history import Version, plan_version
from pricebook.history import in_force as version_in_force

# ------------------------------------------------------------------------------------------------
# Every write follows `history.plan_version`:
# nothing is overwritten, a new version closes the one in force, and the only change a stored
# version ever sees is an earlier `valid_to`. Each change writes an audit row in the same
# transaction.
#
# Concurrency: a key's ETag hashes the ids and validity of all its versions, so it changes with
# every write. A writer first locks the key (`lock_key`), then reads the versions and compares
# the ETag it was given: of two edits sent with the same ETag, the second waits for the first
# to commit, then finds the ETag moved and gets StaleVersion (412). Nothing is lost.
# ------------------------------------------------------------------------------------------------

ETagLike = str | Sequence[str] | None

#: a key (column → value) or a version's other columns, as written to a versioned table
Columns = Mapping[str, object]


class VersionedRow(Protocol):
    """A row of a versioned table: a version of its key over `[valid_from, valid_to)`."""

    __tablename__: str

    @property
    def id(self) -> int: ...
    @property
    def valid_from(self) -> date: ...
    @property
    def valid_to(self) -> date | None: ...


V = TypeVar("V", bound=VersionedRow)


class _Period:
    """The columns every versioned model has, as SQL expressions. The checker reads a
    protocol's members on the class as the row's values, so they are typed here once."""

    def __init__(self, model: type[VersionedRow] | AliasedClass[V]) -> None:
        self.id = cast("QueryableAttribute[int]", model.id)
        self.valid_from = cast("QueryableAttribute[date]", model.valid_from)
        self.valid_to = cast("QueryableAttribute[date | None]", model.valid_to)


def in_force(
    model: type[VersionedRow] | AliasedClass[V], on: date | ColumnElement[date]
) -> ColumnElement[bool]:
    """SQL: a version of `model` applies on `on` (a date or a bound parameter). A withdrawn
    version (an empty period, `valid_to` on or before `valid_from`) never applies."""
    c = _Period(model)
    return and_(
        c.valid_from <= on,
        or_(c.valid_to.is_(None), c.valid_to > on),
        or_(c.valid_to.is_(None), c.valid_to > c.valid_from),
    )


def etag_of(rows: Iterable[tuple[int, date, date | None]]) -> str:
    """A key's ETag: a hash of the id and validity of each of its versions."""
    text_ = ";".join(f"{i}:{f}:{t or ''}" for i, f, t in sorted(rows))
    return '"' + hashlib.sha256(text_.encode()).hexdigest()[:20] + '"'


#: the ETag of a key without versions: what a client sends to create a key's first version.
EMPTY_ETAG = etag_of([])


def lock_key(session: Session, *key: Hashable) -> None:
    """Serialise writers of one key until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of the key (it also covers
    a key without rows, which SELECT … FOR UPDATE cannot). SQLite: a first write of the
    transaction, which takes the database's single write lock (waiting up to busy_timeout) and
    makes every later read of the transaction see what the previous writer committed. Call it
    before reading what the write depends on.
    """
    if dialect_of(session) == "postgresql":
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        session.execute(
            select(func.pg_advisory_xact_lock(int.from_bytes(digest, "big", signed=True)))
        )
    else:
        session.execute(text("UPDATE catalog_versions SET id = id WHERE id < 0"))


#: a versioned table's keys are locked in this many stripes (PostgreSQL advisory locks): an
#: import of 200,000 keys takes at most this many locks (the server's lock table is shared and
#: small), and two writers of one key always meet on the same stripe.
VERSION_LOCK_STRIPES = 256


def _stripe(key: Columns) -> int:
    canonical = repr(tuple(sorted(key.items())))
    digest = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % VERSION_LOCK_STRIPES


def lock_version_keys(session: Session, table: str, keys: Iterable[Columns]) -> None:
    """Serialise writers of versioned keys (column → value) of `table` until the transaction
    ends: a staff edit locks its one key, an import all of its keys, in ascending stripe order
    so that two imports cannot deadlock. SQLite: one `lock_key` (the database's write lock)."""
    stripes = sorted({_stripe(key) for key in keys})
    if not stripes:
        return
    if dialect_of(session) != "postgresql":
        lock_key(session, table)
        return
    for stripe in stripes:
        lock_key(session, table, "stripe", stripe)


def check_etag(current: str, expected: ETagLike, what: str = "it") -> None:
    """StaleVersion unless `expected` (one ETag or several, as If-Match allows) names `current`."""
    if expected is None:
        return
    wanted = (expected,) if isinstance(expected, str) else tuple(expected)
    if current not in {e.strip() for e in wanted}:
        raise StaleVersion(
            f"{what} changed since you loaded it (ETag {current} now): reload and edit again",
            field="etag",
        )


def require_reason(reason: str, actor: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why: a reason is required for every change", field="reason")
    if len(reason) > 1000:
        raise InvalidInput("a reason has at most 1000 characters", field="reason")
    if not actor:
        raise InvalidInput("a change needs an actor", field="actor")
    return reason


def closing(
    table: str,
    version_id: int,
    old_end: date | None,
    new_end: date,
    actor: str,
    reason: str,
    *,
    action: str = "close",
) -> audit.Entry:
    """The audit row of a version ended on `new_end`: one shape for staff edits, imports (which
    record them in bulk), feedback accepts and review config."""
    return {
        "actor": actor,
        "action": action,
        "entity": table,
        "entity_id": version_id,
        "before": {"valid_to": old_end},
        "after": {"valid_to": new_end},
        "reason": reason,
    }


class Written(msgspec.Struct, frozen=True):
    """What a versioned write did: created | superseded | closed | withdrawn | unchanged; the
    version it wrote (or found in force, when unchanged); the key's ETag afterwards."""

    action: str
    id: int
    etag: str


Row = TypeVar("Row", bound=VersionedRow)
View = TypeVar("View")


@dataclass(frozen=True, slots=True)
class VersionWrite(Generic[View]):
    """A versioned write's answer: what it did (`Written.action`), the version it wrote (or
    found in force) as the table's view shows it, and the key's ETag afterwards."""

    action: str
    version: View
    etag: str


def write_answer(
    session: Session, model: type[Row], written: Written, view: Callable[[Row], View]
) -> VersionWrite[View]:
    """The answer to a write of `model`: its version read again (the write's UPDATE went around
    the session's copy) and shown by `view`."""
    row = session.get(model, written.id, populate_existing=True)
    assert row is not None
    return VersionWrite(written.action, view(row), written.etag)


class EndVersion(Protocol[View]):
    def __call__(
        self,
        session: Session,
        version_id: int,
        *,
        valid_to: date,
        actor: str,
        reason: str,
        expected_etag: ETagLike = None,
    ) -> VersionWrite[View]: ...


def version_ender(
    model: type[Row],
    key_columns: Sequence[str],
    view: Callable[[Session, Row], View],
    doc: str,
) -> EndVersion[View]:
    """`end_version` for one table, answering with the version as `view` shows it."""

    def end(
        session: Session,
        version_id: int,
        *,
        valid_to: date,
        actor: str,
        reason: str,
        expected_etag: ETagLike = None,
    ) -> VersionWrite[View]:
        written = end_version(
            session,
            model,
            version_id,
            key_columns,
            valid_to=valid_to,
            actor=actor,
            reason=reason,
            expected_etag=expected_etag,
        )
        return write_answer(session, model, written, lambda row: view(session, row))

    end.__doc__ = doc
    return end


def _eq(column: QueryableAttribute[object], value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _key_rows(session: Session, model: type[V], key: Columns) -> list[V]:
    c = _Period(model)
    stmt = (
        select(model)
        .where(*(_eq(getattr(model, column), v) for column, v in key.items()))
        .order_by(c.valid_from, c.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def _rows_etag(rows: Iterable[VersionedRow]) -> str:
    return etag_of((r.id, r.valid_from, r.valid_to) for r in rows)


def key_versions(session: Session, model: type[V], key: Columns) -> tuple[list[V], str]:
    """The stored versions of one key, oldest first, and the key's ETag."""
    rows = _key_rows(session, model, key)
    return rows, _rows_etag(rows)


def write_version(
    session: Session,
    model: type[V],
    key: Columns,
    *,
    value: Hashable,
    value_of: Callable[[V], Hashable],
    record: Columns,
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    expected_etag: ETagLike,
    describe: Callable[[V], Mapping[str, object]],
    after: Columns,
    on_insert: Callable[[int], None] | None = None,
) -> Written:
    """Add `value` to a key from `valid_from` (closing the version in force), or close the version
    in force early when it already has `value` — in the caller's transaction, audited. `record`:
    the new row's own columns (the key, period, actor and reason are added here)."""
    table = model.__tablename__
    c = _Period(model)
    reason = require_reason(reason, actor)
    lock_version_keys(session, table, [key])
    rows = _key_rows(session, model, key)
    check_etag(_rows_etag(rows), expected_etag)
    versions = [Version(r.id, r.valid_from, r.valid_to, value_of(r)) for r in rows]
    plan = plan_version(versions, valid_from, valid_to, value)
    by_id = {r.id: r for r in rows}
    if plan.unchanged:
        current = version_in_force(versions, valid_from)
        assert current is not None and current.id is not None
        return Written("unchanged", current.id, _rows_etag(rows))
    closed_id: int | None = None
    before: Mapping[str, object] | None = None
    try:
        if plan.close is not None:
            closed, day = plan.close
            assert closed.id is not None
            closed_id = closed.id
            before = describe(by_id[closed.id])
            session.execute(update(model).where(c.id == closed.id).values(valid_to=day))
            audit.record(session, **closing(table, closed.id, closed.valid_to, day, actor, reason))
        if not plan.insert:
            assert closed_id is not None
            return Written("closed", closed_id, _rows_etag(_key_rows(session, model, key)))
        new_id = session.execute(
            insert(model)
            .values(
                **key,
                **record,
                valid_from=valid_from,
                valid_to=valid_to,
                created_by=actor,
                reason=reason,
            )
            .returning(c.id)
        ).scalar_one()
        if on_insert is not None:
            on_insert(new_id)
        session.flush()
    except IntegrityError as exc:  # the database's history guards: should not happen under the lock
        raise Conflict(
            "another edit of this key was saved at the same time: reload and edit again",
            field="valid_from",
        ) from exc
    audit.record(
        session,
        actor=actor,
        action="supersede" if closed_id is not None else "create",
        entity=table,
        entity_id=new_id,
        before=before,
        after={**after, "valid_from": valid_from, "valid_to": valid_to},
        reason=reason,
    )
    return Written(
        "superseded" if closed_id is not None else "created",
        new_id,
        _rows_etag(_key_rows(session, model, key)),
    )


def end_version(
    session: Session,
    model: type[VersionedRow],
    version_id: int,
    key_columns: Sequence[str],
    *,
    valid_to: date,
    actor: str,
    reason: str,
    expected_etag: ETagLike,
) -> Written:
    """End a version's validity on `valid_to` (a version is only ever shortened; `valid_to` equal
    to its `valid_from` withdraws a version that should never have applied), audited."""
    table = model.__tablename__
    reason = require_reason(reason, actor)
    found = session.execute(
        select(*(getattr(model, column) for column in key_columns)).where(
            _Period(model).id == version_id
        )
    ).first()
    if found is None:
        raise NotFound(f"no {table} version with id {version_id}", field="id")
    key = dict(zip(key_columns, found, strict=True))
    lock_version_keys(session, table, [key])
    rows = _key_rows(session, model, key)
    check_etag(_rows_etag(rows), expected_etag)
    row = next(r for r in rows if r.id == version_id)
    if valid_to == row.valid_to:
        return Written("unchanged", row.id, _rows_etag(rows))
    # an open version may end on any day from its first, the calendar's last included
    if valid_to < row.valid_from or (row.valid_to is not None and valid_to > row.valid_to):
        raise Conflict(
            f"the version runs from {row.valid_from} to {row.valid_to or 'open end'}: it can only "
            f"end between those days (a version is never extended: add a new one)",
            field="valid_to",
        )
    # the UPDATE refreshes `row` in the session: keep the old end for the audit first
    old_end = row.valid_to
    session.execute(update(model).where(_Period(model).id == row.id).values(valid_to=valid_to))
    action = "withdraw" if valid_to == row.valid_from else "close"
    audit.record(session, **closing(table, row.id, old_end, valid_to, actor, reason, action=action))
    return Written(
        "withdrawn" if action == "withdraw" else "closed",
        row.id,
        _rows_etag(_key_rows(session, model, key)),
    )
