"""What the labor modules share: the "in force on a day" filter, list paging and ordering,
input checks (codes, amounts, percentages), the versions of one key and the shape of a versioned
write's answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from pricebook.errors import InvalidInput, NotFound
from pricebook.models import Base, LaborKind, Region
from pricebook.money import MoneyError, parse_plain
from pricebook.versioned import V, VersionWrite, key_versions

#: ids are 32-bit on PostgreSQL: a larger one in an address is a version that does not exist
MAX_ID = 2**31 - 1
#: larger rates and hours are typing errors
MAX_RATE = Decimal("100000.00")
MAX_HOURS = Decimal("1000.00")


def sort_order(sort: str, columns: dict[str, tuple[Any, ...]], tie: Any) -> list[Any]:
    """ORDER BY for a whitelisted sort key (`-key`: descending), ending on `tie`."""
    key = sort.removeprefix("-")
    if key not in columns:
        raise InvalidInput(
            f"sort must be one of {', '.join(columns)} (or -key for descending)", field="sort"
        )
    desc = sort.startswith("-")
    return [*(c.desc() if desc else c.asc() for c in columns[key]), tie]


def contains(column: ColumnElement[str] | QueryableAttribute[str], q: str) -> ColumnElement[bool]:
    return func.lower(column).contains(q.lower(), autoescape=True)


def page_rows(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    order: Sequence[Any],
    limit: int | None,
    offset: int,
) -> tuple[list[Any], int]:
    """The rows of one page and the total: two statements."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    paged = stmt.order_by(*order).offset(offset)
    if limit is not None:
        paged = paged.limit(limit)
    return list(session.execute(paged)), total


def region_and_below(session: Session, code: str) -> list[int]:
    """A region's id and its sub-regions' (a province covers its cities): one statement."""
    rows = list(session.execute(select(Region.id, Region.code, Region.parent_id)))
    start = next((i for i, c, _ in rows if c == code), None)
    if start is None:
        raise InvalidInput(f"no region with code {code}", field="region")
    children: dict[int | None, list[int]] = {}
    for i, _, parent in rows:
        children.setdefault(parent, []).append(i)
    found, todo = [], [start]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def check_choice(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value and value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field=field)


@dataclass(frozen=True, slots=True)
class KeyVersions:
    """The versions of one key, oldest first, with the key's ETag (send it as If-Match)."""

    etag: str
    versions: list[Any]


def versions_as(
    session: Session, model: type[V], key: dict[str, Any], view: Callable[[Session, V], Any]
) -> KeyVersions:
    """Every version of one key of `model`, each as `view` shows it, with the key's ETag."""
    rows, etag = key_versions(session, model, key)
    return KeyVersions(etag, [view(session, r) for r in rows])


def version_and_key(
    session: Session,
    model: type[V],
    version_id: int,
    key_columns: Sequence[str],
    view: Callable[[Session, V], Any],
) -> tuple[V, KeyVersions]:
    """Version `version_id` of `model` (NotFound without it) and every version of its key, as
    `versions_as` gives them: what a page about one key starts from."""
    row = session.get(model, version_id) if version_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"no {model.__tablename__} version with id {version_id}", field="id")
    key = {name: getattr(row, name) for name in key_columns}
    return row, versions_as(session, model, key, view)


#: what a labor write answers: the version as the table's view shows it
LaborWrite = VersionWrite[Any]


def from_hundredths(value: int) -> Decimal:
    """Hours in hundredths, percentages in basis points: as a two-place Decimal."""
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


def codes(session: Session, model: type[Base]) -> dict[str, int]:
    table = model.__table__
    return {c: i for i, c in session.execute(select(table.c.id, table.c.code))}


def id_of(session: Session, model: type[Base], code: str, field: str, what: str) -> int:
    table = model.__table__
    found = session.scalar(select(table.c.id).where(table.c.code == code))
    if found is None:
        raise InvalidInput(f"no {what} with code {code!r}", field=field)
    return int(found)


def labor_kind_id(session: Session, code: str) -> int:
    """The id of one of the five fixed labor kinds, created on first use like imports do."""
    from pricebook.io.importers import LABOR_KINDS

    found = session.scalar(select(LaborKind.id).where(LaborKind.code == code))
    if found is not None:
        return found
    if code not in LABOR_KINDS:
        raise InvalidInput(
            f"labor_kind must be one of {', '.join(LABOR_KINDS)}", field="labor_kind"
        )
    kind = LaborKind(code=code, name=LABOR_KINDS[code])
    session.add(kind)
    session.flush()
    return kind.id


def pct_bp(value: Decimal | str, field: str, upper_bp: int, *, positive: bool) -> int:
    try:
        pct = parse_plain(value, places=2, maximum=Decimal(upper_bp) / 100, allow_zero=not positive)
    except MoneyError as exc:
        raise InvalidInput(
            f"{field} is out of range (up to {Decimal(upper_bp) / 100}, at most two decimals): "
            f"{exc}",
            field=field,
        ) from exc
    bp = pct * 100
    return int(bp)
