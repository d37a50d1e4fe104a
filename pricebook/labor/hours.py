"""Standard hours per operation on a part (标准工时) and what each operation already includes
(拆装次序重复累加, 第六条 6(1)): claiming an included operation as well counts its hours twice.

`standard_hours` is the one query for estimate tools and for the staff pages (which add text
search, category and labor-kind filters, more sort keys and `limit=None` for the CSV export).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from pricebook import audit
from pricebook.catalog import Named
from pricebook.errors import InvalidInput, NotFound
from pricebook.labor.common import (
    MAX_HOURS,
    KeyVersions,
    LaborWrite,
    check_choice,
    contains,
    from_hundredths,
    labor_kind_id,
    page_rows,
    sort_order,
    version_and_key,
    versions_as,
)
from pricebook.models import (
    OPERATIONS,
    VEHICLE_CLASSES,
    Category,
    LaborKind,
    OperationInclusion,
    Part,
    StandardHours,
)
from pricebook.money import quantity_field
from pricebook.paging import Page
from pricebook.versioned import (
    ETagLike,
    check_etag,
    in_force,
    lock_key,
    require_reason,
    version_ender,
    write_answer,
    write_version,
)

#: sort keys the list accepts (each also as `-key`); the first is the default
HOURS_SORTS = ("part", "category", "operation", "class", "kind", "hours", "from")
HOURS_KEY = ("part_id", "operation", "vehicle_class")


@dataclass(frozen=True, slots=True)
class Inclusion:
    part_id: int
    part_code: str
    part_name: str
    operation: str


@dataclass(frozen=True, slots=True)
class HoursRow:
    id: int
    part_id: int
    part_code: str
    part_name: str
    category_name: str
    operation: str
    vehicle_class: str
    labor_kind: Named
    hours: Decimal
    valid_from: date
    valid_to: date | None
    created_by: str
    reason: str
    #: operations this one already includes: claiming them too counts hours twice
    includes: list[Inclusion]


_ORDER = {
    "part": (Part.code, StandardHours.operation, StandardHours.vehicle_class),
    "category": (Category.code, Part.code, StandardHours.operation),
    "operation": (StandardHours.operation, Part.code, StandardHours.vehicle_class),
    "class": (StandardHours.vehicle_class, Part.code, StandardHours.operation),
    "kind": (LaborKind.code, Part.code, StandardHours.operation),
    "hours": (StandardHours.hours_centi,),
    "from": (StandardHours.valid_from,),
}


def standard_hours(
    session: Session,
    *,
    on: date,
    part_id: int | None = None,
    q: str = "",
    category: str = "",
    operation: str = "",
    vehicle_class: str = "",
    kind: str = "",
    sort: str = "part",
    limit: int | None = 50,
    offset: int = 0,
) -> Page[HoursRow]:
    """Standard hours in force on `on`, one version per part × operation × vehicle class, each
    with the operations it includes; filtered, sorted (`-key`: descending, ties by id) and a
    page at a time (`limit=None`: every row), in three statements whatever the page size."""
    check_choice(operation, OPERATIONS, "operation")
    check_choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    if part_id is not None and session.get(Part, part_id) is None:
        raise InvalidInput(f"no part with id {part_id}", field="part_id")
    stmt = (
        select(StandardHours, Part.code, Part.name, Category.name, LaborKind)
        .join(Part, Part.id == StandardHours.part_id)
        .join(Category, Category.id == Part.category_id)
        .join(LaborKind, LaborKind.id == StandardHours.labor_kind_id)
        .where(in_force(StandardHours, on))
    )
    if text := q.strip():
        stmt = stmt.where(
            or_(
                contains(Part.code, text), contains(Part.name, text), contains(Part.oe_number, text)
            )
        )
    if part_id is not None:
        stmt = stmt.where(StandardHours.part_id == part_id)
    if category:
        stmt = stmt.where(Category.code == category)
    if operation:
        stmt = stmt.where(StandardHours.operation == operation)
    if vehicle_class:
        stmt = stmt.where(StandardHours.vehicle_class == vehicle_class)
    if kind:
        stmt = stmt.where(LaborKind.code == kind)
    order = sort_order(sort, _ORDER, StandardHours.id)
    rows, total = page_rows(session, stmt, order, limit, offset)
    included = inclusions(session, {(h.part_id, h.operation) for h, *_ in rows})
    items = [
        HoursRow(
            h.id,
            h.part_id,
            pcode,
            pname,
            cname,
            h.operation,
            h.vehicle_class,
            Named(k.id, k.code, k.name),
            from_hundredths(h.hours_centi),
            h.valid_from,
            h.valid_to,
            h.created_by,
            h.reason,
            included[(h.part_id, h.operation)],
        )
        for h, pcode, pname, cname, k in rows
    ]
    return Page(items, total, limit or total, offset)


def inclusions(
    session: Session, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], list[Inclusion]]:
    """What each (part, operation) already includes: one statement for any number of keys."""
    found: dict[tuple[int, str], list[Inclusion]] = {k: [] for k in keys}
    if not keys:
        return found
    other = aliased(Part)
    for inc, code, name in session.execute(
        select(OperationInclusion, other.code, other.name)
        .join(other, other.id == OperationInclusion.included_part_id)
        .where(OperationInclusion.part_id.in_(sorted({k[0] for k in keys})))
        .order_by(other.code, OperationInclusion.included_operation, OperationInclusion.id)
    ):
        if (inc.part_id, inc.operation) in found:
            found[(inc.part_id, inc.operation)].append(
                Inclusion(inc.included_part_id, code, name, inc.included_operation)
            )
    return found


# --- versions and writes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoursVersion:
    id: int
    part_id: int
    operation: str
    vehicle_class: str
    labor_kind: str
    hours: Decimal
    valid_from: date
    valid_to: date | None
    created_by: str
    reason: str


def hours_key(
    session: Session, *, part_id: int, operation: str, vehicle_class: str
) -> dict[str, Any]:
    check_choice(operation, OPERATIONS, "operation")
    check_choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    if not operation or not vehicle_class:
        raise InvalidInput("give operation and vehicle_class", field="operation")
    if session.get(Part, part_id) is None:
        raise NotFound(f"no part with id {part_id}", field="part_id")
    return {"part_id": part_id, "operation": operation, "vehicle_class": vehicle_class}


def _hours_version(session: Session, row: StandardHours) -> HoursVersion:
    kind = session.get(LaborKind, row.labor_kind_id)
    assert kind is not None
    return HoursVersion(
        row.id,
        row.part_id,
        row.operation,
        row.vehicle_class,
        kind.code,
        from_hundredths(row.hours_centi),
        row.valid_from,
        row.valid_to,
        row.created_by,
        row.reason,
    )


def hours_versions(session: Session, key: dict[str, Any]) -> KeyVersions:
    return versions_as(session, StandardHours, key, _hours_version)


def write_standard_hours(
    session: Session,
    key: dict[str, Any],
    *,
    labor_kind: str,
    hours: Decimal | str,
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> LaborWrite:
    """A new version of the standard hours of an operation on a part for a vehicle class."""
    require_reason(reason, actor)
    value = quantity_field(hours, "hours", places=2, maximum=MAX_HOURS)
    centi = int(value * 100)
    kind_id = labor_kind_id(session, labor_kind)
    written = write_version(
        session,
        StandardHours,
        key,
        value=(centi, kind_id),
        value_of=lambda r: (r.hours_centi, r.labor_kind_id),
        record={"hours_centi": centi, "labor_kind_id": kind_id},
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=reason,
        expected_etag=expected_etag,
        describe=lambda r: {
            "id": r.id,
            "hours_centi": r.hours_centi,
            "labor_kind_id": r.labor_kind_id,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
        },
        after={**key, "hours": str(value), "labor_kind": labor_kind},
    )
    return write_answer(session, StandardHours, written, lambda row: _hours_version(session, row))


end_standard_hours = version_ender(
    StandardHours,
    HOURS_KEY,
    _hours_version,
    "End a version on `valid_to` (its first day withdraws it); a version is never extended.",
)


# --- channels and rate cards --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoursKeyView:
    """One standard-hours key (part × operation × vehicle class), named, with every version
    (oldest first), what the operation includes, and the key's ETag."""

    part_id: int
    part_code: str
    part_name: str
    operation: str
    vehicle_class: str
    versions: list[Any]
    includes: list[Inclusion]
    etag: str
    #: the ETag of what the operation includes (`set_inclusions` checks it)
    includes_etag: str


def hours_key_view(session: Session, version_id: int) -> HoursKeyView:
    row, found = version_and_key(session, StandardHours, version_id, HOURS_KEY, _hours_version)
    part = session.get(Part, row.part_id)
    assert part is not None
    included = inclusions(session, {(row.part_id, row.operation)})[(row.part_id, row.operation)]
    etag = inclusion_etag((i.part_id, i.operation) for i in included)
    return HoursKeyView(
        part.id,
        part.code,
        part.name,
        row.operation,
        row.vehicle_class,
        found.versions,
        included,
        found.etag,
        etag,
    )


# --- operation inclusions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InclusionSet:
    """What one operation on a part already includes (part code, operation), sorted, with the
    set's ETag: an edit sends it back, so two people editing the set cannot lose a change."""

    part_id: int
    operation: str
    includes: list[tuple[str, str]]
    etag: str
    action: str = ""


def inclusion_etag(pairs: Iterable[tuple[int, str]]) -> str:
    text_ = ";".join(f"{p}:{o}" for p, o in sorted(pairs))
    return '"' + hashlib.sha256(("inclusions|" + text_).encode()).hexdigest()[:20] + '"'


def _inclusion_pairs(session: Session, part_id: int, operation: str) -> set[tuple[int, str]]:
    return {
        (other, op)
        for other, op in session.execute(
            select(
                OperationInclusion.included_part_id, OperationInclusion.included_operation
            ).where(
                OperationInclusion.part_id == part_id, OperationInclusion.operation == operation
            )
        )
    }


def _inclusion_set(
    session: Session, part_id: int, operation: str, pairs: set[tuple[int, str]], action: str = ""
) -> InclusionSet:
    codes: dict[int, str] = {}
    if pairs:
        stmt = select(Part.id, Part.code).where(Part.id.in_(sorted({p for p, _ in pairs})))
        codes = {i: c for i, c in session.execute(stmt)}
    readable = sorted((codes[p], o) for p, o in pairs)
    return InclusionSet(part_id, operation, readable, inclusion_etag(pairs), action)


def operation_inclusions(session: Session, part_id: int, operation: str) -> InclusionSet:
    check_choice(operation, OPERATIONS, "operation")
    return _inclusion_set(
        session, part_id, operation, _inclusion_pairs(session, part_id, operation)
    )


def set_inclusions(
    session: Session,
    part_id: int,
    operation: str,
    includes: Sequence[tuple[str, str]],
    *,
    actor: str,
    reason: str,
    expected_etag: ETagLike,
) -> InclusionSet:
    """Make (part code, operation) pairs the whole set that `operation` on the part already
    includes (拆装次序重复累加: claiming one of them as well counts its hours twice). The set
    has no validity period, so the change is audited with the set before and after; the
    reference generation moves with the table, so validation sees it at once."""
    reason = require_reason(reason, actor)
    if not operation or operation not in OPERATIONS:
        raise InvalidInput(f"operation must be one of {', '.join(OPERATIONS)}", field="operation")
    if session.get(Part, part_id) is None:
        raise NotFound(f"no part with id {part_id}", field="part_id")
    codes = {code for code, _ in includes}
    ids = {c: i for c, i in session.execute(select(Part.code, Part.id).where(Part.code.in_(codes)))}
    wanted: set[tuple[int, str]] = set()
    for n, (code, op) in enumerate(includes):
        if code not in ids:
            raise InvalidInput(f"no part with code {code!r}", field=f"includes[{n}].part")
        if op not in OPERATIONS:
            raise InvalidInput(
                f"operation must be one of {', '.join(OPERATIONS)}",
                field=f"includes[{n}].operation",
            )
        if (ids[code], op) == (part_id, operation):
            raise InvalidInput("an operation cannot include itself", field=f"includes[{n}].part")
        wanted.add((ids[code], op))
    lock_key(session, "operation_inclusions", part_id, operation)
    have = _inclusion_pairs(session, part_id, operation)
    check_etag(inclusion_etag(have), expected_etag)
    if wanted == have:
        return _inclusion_set(session, part_id, operation, have, "unchanged")
    before = _inclusion_set(session, part_id, operation, have)
    if gone := sorted(have - wanted):
        session.execute(
            delete(OperationInclusion).where(
                OperationInclusion.part_id == part_id,
                OperationInclusion.operation == operation,
                tuple_(
                    OperationInclusion.included_part_id, OperationInclusion.included_operation
                ).in_(gone),
            )
        )
    if added := sorted(wanted - have):
        session.execute(
            insert(OperationInclusion),
            [
                {
                    "part_id": part_id,
                    "operation": operation,
                    "included_part_id": other,
                    "included_operation": op,
                }
                for other, op in added
            ],
        )
    after = _inclusion_set(session, part_id, operation, wanted, "updated")
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="operation_inclusions",
        entity_id=f"{part_id}:{operation}",
        before={"includes": [f"{op}@{code}" for code, op in before.includes]},
        after={"includes": [f"{op}@{code}" for code, op in after.includes]},
        reason=reason,
    )
    return after
