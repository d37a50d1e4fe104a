"""What the staff pages list: labor rates, standard hours and special channels, filtered, sorted
and a page at a time, in a fixed number of statements whatever the page size.

`pricebook.labor` answers estimate tools (the rate that applies to a branch, with its parent's
and a channel card's); these listings answer pricing staff, who maintain the stored versions:
each row is one version in force on a day, with who wrote it and why. Sort keys are a
whitelist (`*_SORTS`); `-key` sorts descending; every order ends on the id, so pages are stable.
`limit=None` lists every row (the CSV export downloads exactly the filtered list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from pricebook.catalog import Page
from pricebook.errors import InvalidInput
from pricebook.labor import applied_rate
from pricebook.models import (
    Branch,
    Category,
    Channel,
    LaborKind,
    LaborRate,
    OperationInclusion,
    Part,
    PriceType,
    RateCard,
    RateCardLabor,
    RateCardParts,
    Region,
    StandardHours,
)
from pricebook.money import from_fen
from pricebook.versioned import in_force

#: ids are 32-bit on PostgreSQL: a larger one in an address is a version that does not exist
MAX_ID = 2**31 - 1
#: sort keys the listings accept (each also as `-key`); the first is the default
LABOR_RATE_SORTS = ("branch", "region", "kind", "tier", "class", "rate", "from")
HOURS_SORTS = ("part", "category", "operation", "class", "kind", "hours", "from")
CHANNEL_SORTS = ("code", "name", "kind", "branch", "card")


def _order(sort: str, columns: dict[str, tuple[Any, ...]], tie: Any) -> list[Any]:
    """ORDER BY for a whitelisted sort key (`-key`: descending), ending on `tie`."""
    key = sort.removeprefix("-")
    if key not in columns:
        raise InvalidInput(
            f"sort must be one of {', '.join(columns)} (or -key for descending)", field="sort"
        )
    desc = sort.startswith("-")
    return [*(c.desc() if desc else c.asc() for c in columns[key]), tie]


def _like(column: Any, q: str) -> ColumnElement[bool]:
    return func.lower(column).contains(q.lower(), autoescape=True)


def _page(
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


# --- labor rates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaborRateListRow:
    id: int
    branch_code: str
    branch_name: str
    region_name: str
    kind_code: str
    kind_name: str
    shop_tier: str
    vehicle_class: str
    rate: Decimal
    valid_from: date
    valid_to: date | None
    source: str
    created_by: str
    reason: str
    #: with a channel: the rate its card in force makes of this standard rate (None: the card
    #: has no line for the kind, the standard applies), and the card's percentage if it is one
    channel_rate: Decimal | None = None
    channel_pct: Decimal | None = None


def _card_labor_lines(
    session: Session, channel: str, on: date
) -> tuple[int | None, dict[int, Any]]:
    """A channel's branch and the labor lines (by labor kind) of its card in force on `on`:
    two statements. InvalidInput for an unknown channel."""
    found = session.execute(
        select(Channel.id, Channel.branch_id).where(Channel.code == channel)
    ).first()
    if found is None:
        raise InvalidInput(f"no channel with code {channel}", field="channel")
    card = (
        select(RateCard.id)
        .where(RateCard.channel_id == found[0], in_force(RateCard, on))
        .order_by(RateCard.valid_from.desc(), RateCard.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    lines = {
        line.labor_kind_id: line
        for line in session.scalars(select(RateCardLabor).where(RateCardLabor.rate_card_id == card))
    }
    return found[1], lines


def list_labor_rates(
    session: Session,
    *,
    on: date,
    q: str = "",
    branch: str = "",
    region: str = "",
    kind: str = "",
    shop_tier: str = "",
    vehicle_class: str = "",
    channel: str = "",
    sort: str = "branch",
    limit: int | None = 50,
    offset: int = 0,
) -> Page:
    """The branch standard labor rates in force on `on`, one version per key. With `channel`:
    the rates of the channel's branch (all, for a channel of no branch), each with the rate the
    channel's card in force makes of it (`pricebook.labor.applied_rate`, the review's rule)."""
    stmt = (
        select(LaborRate, Branch.code, Branch.name, Region.name, LaborKind.code, LaborKind.name)
        .join(Branch, Branch.id == LaborRate.branch_id)
        .join(Region, Region.id == Branch.region_id)
        .join(LaborKind, LaborKind.id == LaborRate.labor_kind_id)
        .where(in_force(LaborRate, on))
    )
    if q.strip():
        text = q.strip()
        stmt = stmt.where(
            or_(
                _like(Branch.code, text),
                _like(Branch.name, text),
                _like(LaborKind.name, text),
                _like(LaborRate.reason, text),
            )
        )
    if branch:
        stmt = stmt.where(Branch.code == branch)
    if region:
        stmt = stmt.where(Branch.region_id.in_(region_and_below(session, region)))
    if kind:
        stmt = stmt.where(LaborKind.code == kind)
    if shop_tier:
        stmt = stmt.where(LaborRate.shop_tier == shop_tier)
    if vehicle_class:
        stmt = stmt.where(LaborRate.vehicle_class == vehicle_class)
    card_lines: dict[int, Any] = {}
    if channel:
        channel_branch, card_lines = _card_labor_lines(session, channel, on)
        if channel_branch is not None:
            stmt = stmt.where(LaborRate.branch_id == channel_branch)
    order = _order(
        sort,
        {
            "branch": (Branch.code, LaborKind.code, LaborRate.shop_tier, LaborRate.vehicle_class),
            "region": (Region.code, Branch.code, LaborKind.code),
            "kind": (LaborKind.code, Branch.code, LaborRate.shop_tier, LaborRate.vehicle_class),
            "tier": (LaborRate.shop_tier, Branch.code, LaborKind.code),
            "class": (LaborRate.vehicle_class, Branch.code, LaborKind.code),
            "rate": (LaborRate.rate_fen,),
            "from": (LaborRate.valid_from,),
        },
        LaborRate.id,
    )
    rows, total = _page(session, stmt, order, limit, offset)
    items = []
    for r, bcode, bname, rname, kcode, kname in rows:
        standard = from_fen(r.rate_fen)
        applied: tuple[Decimal | None, Decimal | None] = (None, None)
        if (line := card_lines.get(r.labor_kind_id)) is not None:
            got = applied_rate(
                standard, bcode, True, channel, line.rate_fen, line.pct_of_standard_bp
            )
            applied = (got.rate, got.pct_of_standard)
        items.append(
            LaborRateListRow(
                r.id,
                bcode,
                bname,
                rname,
                kcode,
                kname,
                r.shop_tier,
                r.vehicle_class,
                standard,
                r.valid_from,
                r.valid_to,
                r.source,
                r.created_by,
                r.reason,
                *applied,
            )
        )
    return Page(items, total, limit or total, offset)


# --- standard hours -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncludedOperation:
    part_id: int
    part_code: str
    part_name: str
    operation: str


@dataclass(frozen=True, slots=True)
class HoursListRow:
    id: int
    part_id: int
    part_code: str
    part_name: str
    category_name: str
    operation: str
    vehicle_class: str
    kind_code: str
    kind_name: str
    hours: Decimal
    valid_from: date
    valid_to: date | None
    created_by: str
    reason: str
    #: operations this one already includes: claiming them as well counts hours twice
    includes: list[IncludedOperation]


def inclusions(
    session: Session, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], list[IncludedOperation]]:
    """What each (part, operation) already includes: one statement for any number of keys."""
    found: dict[tuple[int, str], list[IncludedOperation]] = {k: [] for k in keys}
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
                IncludedOperation(inc.included_part_id, code, name, inc.included_operation)
            )
    return found


def hours_of(centi: int) -> Decimal:
    return (Decimal(centi) / 100).quantize(Decimal("0.01"))


def list_standard_hours(
    session: Session,
    *,
    on: date,
    q: str = "",
    category: str = "",
    operation: str = "",
    vehicle_class: str = "",
    kind: str = "",
    sort: str = "part",
    limit: int | None = 50,
    offset: int = 0,
) -> Page:
    """Standard hours in force on `on`, one version per part × operation × vehicle class,
    each with the operations it includes."""
    stmt = (
        select(StandardHours, Part.code, Part.name, Category.name, LaborKind.code, LaborKind.name)
        .join(Part, Part.id == StandardHours.part_id)
        .join(Category, Category.id == Part.category_id)
        .join(LaborKind, LaborKind.id == StandardHours.labor_kind_id)
        .where(in_force(StandardHours, on))
    )
    if q.strip():
        text = q.strip()
        stmt = stmt.where(
            or_(_like(Part.code, text), _like(Part.name, text), _like(Part.oe_number, text))
        )
    if category:
        stmt = stmt.where(Category.code == category)
    if operation:
        stmt = stmt.where(StandardHours.operation == operation)
    if vehicle_class:
        stmt = stmt.where(StandardHours.vehicle_class == vehicle_class)
    if kind:
        stmt = stmt.where(LaborKind.code == kind)
    order = _order(
        sort,
        {
            "part": (Part.code, StandardHours.operation, StandardHours.vehicle_class),
            "category": (Category.code, Part.code, StandardHours.operation),
            "operation": (StandardHours.operation, Part.code, StandardHours.vehicle_class),
            "class": (StandardHours.vehicle_class, Part.code, StandardHours.operation),
            "kind": (LaborKind.code, Part.code, StandardHours.operation),
            "hours": (StandardHours.hours_centi,),
            "from": (StandardHours.valid_from,),
        },
        StandardHours.id,
    )
    rows, total = _page(session, stmt, order, limit, offset)
    included = inclusions(session, {(h.part_id, h.operation) for h, *_ in rows})
    items = [
        HoursListRow(
            h.id,
            h.part_id,
            pcode,
            pname,
            cname,
            h.operation,
            h.vehicle_class,
            kcode,
            kname,
            hours_of(h.hours_centi),
            h.valid_from,
            h.valid_to,
            h.created_by,
            h.reason,
            included[(h.part_id, h.operation)],
        )
        for h, pcode, pname, cname, kcode, kname in rows
    ]
    return Page(items, total, limit or total, offset)


# --- channels -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardTerm:
    """One line of a rate card, readable: a labor kind's rate or percentage, or a part
    category's price type and discount."""

    kind: str  # labor | parts
    code: str
    name: str
    rate: Decimal | None = None
    pct_of_standard: Decimal | None = None
    price_type: str = ""
    price_type_name: str = ""
    discount_pct: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CardListing:
    id: int
    valid_from: date
    valid_to: date | None
    created_by: str
    reason: str
    terms: list[CardTerm]


@dataclass(frozen=True, slots=True)
class ChannelListRow:
    id: int
    code: str
    name: str
    kind: str
    branch_code: str
    branch_name: str
    #: the card in force on the listing's day, or None
    card: CardListing | None


def _pct(bp: int) -> Decimal:
    return (Decimal(bp) / 100).quantize(Decimal("0.01"))


def card_terms(session: Session, card_ids: Sequence[int]) -> dict[int, list[CardTerm]]:
    """Each card's lines, labor first (by kind), then parts (by category): two statements."""
    terms: dict[int, list[CardTerm]] = {i: [] for i in card_ids}
    if not card_ids:
        return terms
    for line, code, name in session.execute(
        select(RateCardLabor, LaborKind.code, LaborKind.name)
        .join(LaborKind, LaborKind.id == RateCardLabor.labor_kind_id)
        .where(RateCardLabor.rate_card_id.in_(card_ids))
        .order_by(LaborKind.code)
    ):
        terms[line.rate_card_id].append(
            CardTerm(
                "labor",
                code,
                name,
                rate=from_fen(line.rate_fen) if line.rate_fen is not None else None,
                pct_of_standard=_pct(line.pct_of_standard_bp)
                if line.pct_of_standard_bp is not None
                else None,
            )
        )
    for pline, code, name, tcode, tname in session.execute(
        select(RateCardParts, Category.code, Category.name, PriceType.code, PriceType.name)
        .join(Category, Category.id == RateCardParts.category_id)
        .join(PriceType, PriceType.id == RateCardParts.price_type_id)
        .where(RateCardParts.rate_card_id.in_(card_ids))
        .order_by(Category.code)
    ):
        terms[pline.rate_card_id].append(
            CardTerm(
                "parts",
                code,
                name,
                price_type=tcode,
                price_type_name=tname,
                discount_pct=_pct(pline.discount_bp),
            )
        )
    return terms


def list_channels(
    session: Session,
    *,
    on: date,
    q: str = "",
    kind: str = "",
    branch: str = "",
    price_type: str = "",
    sort: str = "code",
    limit: int | None = 50,
    offset: int = 0,
) -> Page:
    """Special channels with the rate card each has in force on `on` (its terms included).
    `price_type`: only channels whose card in force prices parts at that type."""
    card = aliased(RateCard)
    card_in_force = (
        select(card.id)
        .where(card.channel_id == Channel.id, in_force(card, on))
        .order_by(card.valid_from.desc(), card.id.desc())
        .limit(1)
        .correlate(Channel)
        .scalar_subquery()
    )
    stmt = select(Channel, Branch.code, Branch.name, card_in_force.label("card_id")).outerjoin(
        Branch, Branch.id == Channel.branch_id
    )
    if q.strip():
        text = q.strip()
        stmt = stmt.where(or_(_like(Channel.code, text), _like(Channel.name, text)))
    if kind:
        stmt = stmt.where(Channel.kind == kind)
    if branch:
        stmt = stmt.where(Branch.code == branch)
    if price_type:
        stmt = stmt.where(
            exists(
                select(RateCardParts.id)
                .join(PriceType, PriceType.id == RateCardParts.price_type_id)
                .where(RateCardParts.rate_card_id == card_in_force, PriceType.code == price_type)
            )
        )
    card_from = (
        select(RateCard.valid_from).where(RateCard.id == card_in_force).correlate(Channel)
    ).scalar_subquery()
    order = _order(
        sort,
        {
            "code": (Channel.code,),
            "name": (Channel.name, Channel.code),
            "kind": (Channel.kind, Channel.code),
            "branch": (Branch.code, Channel.code),
            "card": (card_from, Channel.code),
        },
        Channel.id,
    )
    rows, total = _page(session, stmt, order, limit, offset)
    card_ids = sorted({cid for *_, cid in rows if cid is not None})
    cards = (
        {c.id: c for c in session.scalars(select(RateCard).where(RateCard.id.in_(card_ids)))}
        if card_ids
        else {}
    )
    terms = card_terms(session, card_ids)
    items = []
    for ch, bcode, bname, cid in rows:
        found = cards.get(cid) if cid is not None else None
        listing = None
        if found is not None:
            listing = CardListing(
                found.id,
                found.valid_from,
                found.valid_to,
                found.created_by,
                found.reason,
                terms[found.id],
            )
        items.append(
            ChannelListRow(ch.id, ch.code, ch.name, ch.kind, bcode or "", bname or "", listing)
        )
    return Page(items, total, limit or total, offset)


def channel_cards(session: Session, code: str) -> tuple[Channel, str, list[CardListing], str]:
    """A channel, its branch's name, every version of its rate card (oldest first) with its
    terms, and the card's ETag: a constant number of statements."""
    from pricebook.labor import get_channel
    from pricebook.versioned import key_versions

    ch = get_channel(session, code)
    branch = session.get(Branch, ch.branch_id) if ch.branch_id is not None else None
    rows, etag = key_versions(session, RateCard, {"channel_id": ch.id})
    terms = card_terms(session, [r.id for r in rows])
    cards = [
        CardListing(r.id, r.valid_from, r.valid_to, r.created_by, r.reason, terms[r.id])
        for r in rows
    ]
    return ch, branch.name if branch else "", cards, etag


# --- one key's page -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaborRateKeyView:
    """One labor rate key (branch × kind × shop tier × vehicle class), named, with every
    version (oldest first) and the key's ETag (what an edit of the key must send back)."""

    branch_code: str
    branch_name: str
    kind_code: str
    kind_name: str
    shop_tier: str
    vehicle_class: str
    versions: list[Any]
    etag: str


def labor_rate_key_view(session: Session, version_id: int) -> LaborRateKeyView:
    """The key of labor rate version `version_id` (NotFound without it) and its history."""
    from pricebook.errors import NotFound
    from pricebook.labor import labor_rate_versions

    row = session.get(LaborRate, version_id) if version_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"no labor_rates version with id {version_id}", field="id")
    branch = session.get(Branch, row.branch_id)
    kind = session.get(LaborKind, row.labor_kind_id)
    assert branch is not None and kind is not None
    found = labor_rate_versions(
        session,
        {
            "branch_id": row.branch_id,
            "labor_kind_id": row.labor_kind_id,
            "shop_tier": row.shop_tier,
            "vehicle_class": row.vehicle_class,
        },
    )
    return LaborRateKeyView(
        branch.code,
        branch.name,
        kind.code,
        kind.name,
        row.shop_tier,
        row.vehicle_class,
        found.versions,
        found.etag,
    )


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
    includes: list[IncludedOperation]
    etag: str
    #: the ETag of what the operation includes (`labor.set_inclusions` checks it)
    includes_etag: str


def hours_key_view(session: Session, version_id: int) -> HoursKeyView:
    from pricebook.errors import NotFound
    from pricebook.labor import hours_versions, inclusion_etag

    row = session.get(StandardHours, version_id) if version_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"no standard_hours version with id {version_id}", field="id")
    part = session.get(Part, row.part_id)
    assert part is not None
    found = hours_versions(
        session,
        {"part_id": row.part_id, "operation": row.operation, "vehicle_class": row.vehicle_class},
    )
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
