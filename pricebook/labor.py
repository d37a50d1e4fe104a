"""Labor: branch standard rates (分公司标准工时费), channel card rates, standard hours and what
each operation already includes (拆装次序重复累加, 第六条 6(1)).

A sub-branch without its own rate for a key (labor kind × shop tier × vehicle class) uses its
parent branch's; a channel card's labor line (a fixed rate or a percentage of the standard)
replaces the standard rate for shops of that channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from pricebook import audit
from pricebook.catalog import Named, Page
from pricebook.errors import Conflict, InvalidInput, NotFound
from pricebook.models import (
    CHANNEL_KINDS,
    OPERATIONS,
    SHOP_TIERS,
    VEHICLE_CLASSES,
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
    StandardHours,
)
from pricebook.money import (
    MoneyError,
    from_fen,
    parse_plain,
    quantity_field,
    round_yuan,
    to_fen,
    yuan_field,
)
from pricebook.versioned import (
    ETagLike,
    check_etag,
    end_version,
    in_force,
    key_versions,
    lock_key,
    require_reason,
    write_version,
)

LABOR_RATE_SORTS = ("kind", "rate", "-rate", "branch")
HOURS_SORTS = ("part", "operation", "hours", "-hours")


class AppliedRate(NamedTuple):
    rate: Decimal
    why: str
    #: the card's percentage of the standard rate, when that is how the card sets the rate
    pct_of_standard: Decimal | None


def applied_rate(
    standard: Decimal,
    rate_branch: str,
    own: bool,
    channel: str | None = None,
    card_rate_fen: int | None = None,
    card_pct_bp: int | None = None,
) -> AppliedRate:
    """The labor rate that applies and why: the branch standard rate (`own`: the branch's own,
    else the nearest parent's), replaced by a channel card's labor line — a fixed rate, or a
    percentage of the standard. One rule for the labor-rate listing and for estimate review."""
    why = f"branch {rate_branch} standard rate"
    if not own:
        why = f"parent branch {rate_branch} standard rate (none of its own)"
    if channel is None or (card_rate_fen is None and card_pct_bp is None):
        return AppliedRate(standard, why, None)
    if card_rate_fen is not None:
        return AppliedRate(from_fen(card_rate_fen), f"channel {channel} card rate replaces the {why}", None)  # fmt: skip
    pct = (Decimal(card_pct_bp or 0) / 100).quantize(Decimal("0.01"))
    return AppliedRate(
        round_yuan(standard * (card_pct_bp or 0) / 10000),
        f"channel {channel} card: {pct}% of the {why}",
        pct,
    )


@dataclass(frozen=True, slots=True)
class ChannelRate:
    channel: str
    rate_card_id: int
    rate: Decimal
    #: set when the card gives a percentage of the standard rate rather than a rate
    pct_of_standard: Decimal | None
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class LaborRateRow:
    branch: str
    #: the branch whose rate this is: `branch` itself or a parent branch
    rate_branch: str
    labor_kind: Named
    shop_tier: str
    vehicle_class: str
    standard_rate: Decimal
    valid_from: date
    valid_to: date | None
    source: str
    rate_id: int
    channel: ChannelRate | None
    #: what applies: the channel rate when a card covers the kind, else the standard rate
    rate: Decimal
    why: str


def _choice(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value and value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field=field)


def labor_rates(
    session: Session,
    *,
    on: date,
    branch: str = "",
    kind: str = "",
    shop_tier: str = "",
    vehicle_class: str = "",
    channel: str = "",
    sort: str = "kind",
    limit: int = 50,
    offset: int = 0,
) -> Page:
    _choice(shop_tier, SHOP_TIERS, "shop_tier")
    _choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    kinds = {k.id: k for k in session.scalars(select(LaborKind))}
    kind_ids = {k.code: k.id for k in kinds.values()}
    if kind and kind not in kind_ids:
        raise InvalidInput(f"kind must be one of {', '.join(sorted(kind_ids))}", field="kind")

    card_lines: dict[int, tuple[int, RateCardLabor, Any]] = {}
    channel_branch: int | None = None
    if channel:
        row = session.execute(select(Channel.id, Channel.branch_id).where(Channel.code == channel))
        found = row.first()
        if found is None:
            raise InvalidInput(f"no channel with code {channel!r}", field="channel")
        channel_branch = found[1]
        for line, card in session.execute(
            select(RateCardLabor, RateCard)
            .join(RateCard, RateCard.id == RateCardLabor.rate_card_id)
            .where(RateCard.channel_id == found[0], in_force(RateCard, on))
        ):
            card_lines[line.labor_kind_id] = (card.id, line, card)

    branches = {b.id: b for b in session.scalars(select(Branch))}
    by_code = {b.code: b for b in branches.values()}
    chain: list[int] = []
    if branch:
        if branch not in by_code:
            raise InvalidInput(f"no branch with code {branch!r}", field="branch")
        start: int | None = by_code[branch].id
    else:
        start = channel_branch
    seen: set[int] = set()
    while start is not None and start not in seen:
        seen.add(start)
        chain.append(start)
        start = branches[start].parent_id

    stmt = select(LaborRate).where(in_force(LaborRate, on))
    if chain:
        stmt = stmt.where(LaborRate.branch_id.in_(chain))
    if kind:
        stmt = stmt.where(LaborRate.labor_kind_id == kind_ids[kind])
    if shop_tier:
        stmt = stmt.where(LaborRate.shop_tier == shop_tier)
    if vehicle_class:
        stmt = stmt.where(LaborRate.vehicle_class == vehicle_class)
    rates = list(session.scalars(stmt.order_by(LaborRate.id)))

    nearest: dict[tuple[int, int, str, str], LaborRate] = {}
    if chain:
        depth = {b: n for n, b in enumerate(chain)}
        for r in sorted(rates, key=lambda r: depth[r.branch_id]):
            nearest.setdefault((chain[0], r.labor_kind_id, r.shop_tier, r.vehicle_class), r)
    else:
        for r in rates:
            nearest[(r.branch_id, r.labor_kind_id, r.shop_tier, r.vehicle_class)] = r

    rows: list[LaborRateRow] = []
    for (for_branch, kind_id, tier, vclass), r in nearest.items():
        standard = from_fen(r.rate_fen)
        k = kinds[kind_id]
        ch: ChannelRate | None = None
        rate_branch, own = branches[r.branch_id].code, r.branch_id == for_branch
        if kind_id in card_lines:
            card_id, line, card = card_lines[kind_id]
            rate, why, pct = applied_rate(standard, rate_branch, own, channel, line.rate_fen,
                                          line.pct_of_standard_bp)  # fmt: skip
            ch = ChannelRate(channel, card_id, rate, pct, card.valid_from, card.valid_to)
        else:
            rate, why, _ = applied_rate(standard, rate_branch, own)
        rows.append(
            LaborRateRow(
                branch=branches[for_branch].code,
                rate_branch=branches[r.branch_id].code,
                labor_kind=Named(k.id, k.code, k.name),
                shop_tier=tier,
                vehicle_class=vclass,
                standard_rate=standard,
                valid_from=r.valid_from,
                valid_to=r.valid_to,
                source=r.source,
                rate_id=r.id,
                channel=ch,
                rate=rate,
                why=why,
            )
        )
    keyers = {
        "kind": lambda x: (x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
        "branch": lambda x: (x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
        "rate": lambda x: (x.rate, x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
        "-rate": lambda x: (-x.rate, x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
    }
    rows.sort(key=keyers[sort])
    return Page(rows[offset : offset + limit], len(rows), limit, offset)


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
    operation: str
    vehicle_class: str
    labor_kind: Named
    hours: Decimal
    valid_from: date
    valid_to: date | None
    #: operations this one already includes: claiming them too counts hours twice
    includes: list[Inclusion]


def standard_hours(
    session: Session,
    *,
    on: date,
    part_id: int | None = None,
    operation: str = "",
    vehicle_class: str = "",
    sort: str = "part",
    limit: int = 50,
    offset: int = 0,
) -> Page:
    _choice(operation, OPERATIONS, "operation")
    _choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    if part_id is not None and session.get(Part, part_id) is None:
        raise InvalidInput(f"no part with id {part_id}", field="part_id")
    stmt = (
        select(StandardHours, Part.code, Part.name, LaborKind)
        .join(Part, Part.id == StandardHours.part_id)
        .join(LaborKind, LaborKind.id == StandardHours.labor_kind_id)
        .where(in_force(StandardHours, on))
    )
    if part_id is not None:
        stmt = stmt.where(StandardHours.part_id == part_id)
    if operation:
        stmt = stmt.where(StandardHours.operation == operation)
    if vehicle_class:
        stmt = stmt.where(StandardHours.vehicle_class == vehicle_class)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = {
        "part": (Part.code, StandardHours.operation, StandardHours.vehicle_class),
        "operation": (StandardHours.operation, Part.code, StandardHours.vehicle_class),
        "hours": (StandardHours.hours_centi, StandardHours.id),
        "-hours": (StandardHours.hours_centi.desc(), StandardHours.id),
    }[sort]
    rows = list(
        session.execute(stmt.order_by(*order, StandardHours.id).limit(limit).offset(offset))
    )
    keys = {(h.part_id, h.operation) for h, *_ in rows}
    included: dict[tuple[int, str], list[Inclusion]] = {k: [] for k in keys}
    if keys:
        other = aliased(Part)
        for inc, code, name in session.execute(
            select(OperationInclusion, other.code, other.name)
            .join(other, other.id == OperationInclusion.included_part_id)
            .where(OperationInclusion.part_id.in_({k[0] for k in keys}))
            .order_by(other.code, OperationInclusion.included_operation)
        ):
            if (inc.part_id, inc.operation) in included:
                included[(inc.part_id, inc.operation)].append(
                    Inclusion(inc.included_part_id, code, name, inc.included_operation)
                )
    items = [
        HoursRow(
            id=h.id,
            part_id=h.part_id,
            part_code=code,
            part_name=name,
            operation=h.operation,
            vehicle_class=h.vehicle_class,
            labor_kind=Named(k.id, k.code, k.name),
            hours=(Decimal(h.hours_centi) / 100).quantize(Decimal("0.01")),
            valid_from=h.valid_from,
            valid_to=h.valid_to,
            includes=included[(h.part_id, h.operation)],
        )
        for h, code, name, k in rows
    ]
    return Page(items, total, limit, offset)


# ------------------------------------------------------------------------------------------------
# Writes: labor rates, standard hours, channels and rate cards. Versioned keys follow
# `history.plan_version` through `pricebook.versioned.write_version` (lock the key, check its ETag,
# close the version in force, insert, audit), so the same rules and the same 412 apply.
# ------------------------------------------------------------------------------------------------

LABOR_RATE_KEY = ("branch_id", "labor_kind_id", "shop_tier", "vehicle_class")
HOURS_KEY = ("part_id", "operation", "vehicle_class")
#: larger rates are typing errors.
MAX_RATE = Decimal("100000.00")
MAX_HOURS = Decimal("1000.00")


@dataclass(frozen=True, slots=True)
class LaborRateVersion:
    id: int
    branch: str
    labor_kind: str
    shop_tier: str
    vehicle_class: str
    rate: Decimal
    valid_from: date
    valid_to: date | None
    source: str
    created_by: str
    reason: str


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


@dataclass(frozen=True, slots=True)
class CardLaborLine:
    labor_kind: str
    rate: Decimal | str | None = None
    pct_of_standard: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CardPartsLine:
    category: str
    price_type: str
    discount_pct: Decimal


@dataclass(frozen=True, slots=True)
class RateCardVersion:
    id: int
    channel: str
    valid_from: date
    valid_to: date | None
    labor: list[CardLaborLine]
    parts: list[CardPartsLine]
    created_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class KeyVersions:
    """The versions of one key, oldest first, with the key's ETag (send it as If-Match)."""

    etag: str
    versions: list[Any]


@dataclass(frozen=True, slots=True)
class LaborWrite:
    action: str
    version: Any
    etag: str


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    code: str
    name: str
    kind: str
    branch: str | None


def _codes(session: Session, model: Any) -> dict[str, int]:
    return {c: i for i, c in session.execute(select(model.id, model.code))}


def _id_of(session: Session, model: Any, code: str, field: str, what: str) -> int:
    found = session.scalar(select(model.id).where(model.code == code))
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


def _pct_bp(value: Decimal | str, field: str, upper_bp: int, *, positive: bool) -> int:
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


# --- labor rates --------------------------------------------------------------------------------


def labor_rate_key(
    session: Session, *, branch: str, labor_kind: str, shop_tier: str, vehicle_class: str
) -> dict[str, Any]:
    _choice(shop_tier, SHOP_TIERS, "shop_tier")
    _choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    if not shop_tier or not vehicle_class:
        raise InvalidInput("give shop_tier and vehicle_class", field="shop_tier")
    return {
        "branch_id": _id_of(session, Branch, branch, "branch", "branch"),
        "labor_kind_id": labor_kind_id(session, labor_kind),
        "shop_tier": shop_tier,
        "vehicle_class": vehicle_class,
    }


def _rate_version(session: Session, row: LaborRate) -> LaborRateVersion:
    branch = session.get(Branch, row.branch_id)
    kind = session.get(LaborKind, row.labor_kind_id)
    assert branch is not None and kind is not None
    return LaborRateVersion(
        row.id, branch.code, kind.code, row.shop_tier, row.vehicle_class, from_fen(row.rate_fen),
        row.valid_from, row.valid_to, row.source, row.created_by, row.reason,
    )  # fmt: skip


def labor_rate_versions(session: Session, key: dict[str, Any]) -> KeyVersions:
    rows, etag = key_versions(session, LaborRate, key)
    return KeyVersions(etag, [_rate_version(session, r) for r in rows])


def write_labor_rate(
    session: Session,
    key: dict[str, Any],
    *,
    rate: Decimal | str,
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    source: str = "staff",
    expected_etag: ETagLike = None,
) -> LaborWrite:
    """A new version of a branch standard labor rate (分公司标准工时费) from `valid_from`."""
    require_reason(reason, actor)
    yuan = yuan_field(rate, "rate", maximum=MAX_RATE)
    fen = to_fen(yuan)
    written = write_version(
        session, LaborRate, key, value=fen, value_of=lambda r: r.rate_fen,
        record={"rate_fen": fen, "source": source, "created_by": actor, "reason": reason.strip()},
        valid_from=valid_from, valid_to=valid_to, actor=actor, reason=reason,
        expected_etag=expected_etag,
        describe=lambda r: {"id": r.id, "rate": from_fen(r.rate_fen), "valid_from": r.valid_from,
                            "valid_to": r.valid_to},
        after={**key, "rate": yuan, "source": source},
    )  # fmt: skip
    row = session.get(LaborRate, written.id, populate_existing=True)
    assert row is not None
    return LaborWrite(written.action, _rate_version(session, row), written.etag)


def end_labor_rate(
    session: Session, version_id: int, *, valid_to: date, actor: str, reason: str,
    expected_etag: ETagLike = None,
) -> LaborWrite:  # fmt: skip
    written = end_version(
        session, LaborRate, version_id, LABOR_RATE_KEY, valid_to=valid_to, actor=actor,
        reason=reason, expected_etag=expected_etag,
    )  # fmt: skip
    row = session.get(LaborRate, written.id, populate_existing=True)
    assert row is not None
    return LaborWrite(written.action, _rate_version(session, row), written.etag)


# --- standard hours -----------------------------------------------------------------------------


def hours_key(
    session: Session, *, part_id: int, operation: str, vehicle_class: str
) -> dict[str, Any]:
    _choice(operation, OPERATIONS, "operation")
    _choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    if not operation or not vehicle_class:
        raise InvalidInput("give operation and vehicle_class", field="operation")
    if session.get(Part, part_id) is None:
        raise NotFound(f"no part with id {part_id}", field="part_id")
    return {"part_id": part_id, "operation": operation, "vehicle_class": vehicle_class}


def _hours_version(session: Session, row: StandardHours) -> HoursVersion:
    kind = session.get(LaborKind, row.labor_kind_id)
    assert kind is not None
    return HoursVersion(
        row.id, row.part_id, row.operation, row.vehicle_class, kind.code,
        (Decimal(row.hours_centi) / 100).quantize(Decimal("0.01")), row.valid_from, row.valid_to,
        row.created_by, row.reason,
    )  # fmt: skip


def hours_versions(session: Session, key: dict[str, Any]) -> KeyVersions:
    rows, etag = key_versions(session, StandardHours, key)
    return KeyVersions(etag, [_hours_version(session, r) for r in rows])


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
        session, StandardHours, key, value=(centi, kind_id),
        value_of=lambda r: (r.hours_centi, r.labor_kind_id),
        record={"hours_centi": centi, "labor_kind_id": kind_id, "created_by": actor,
                "reason": reason.strip()},
        valid_from=valid_from, valid_to=valid_to, actor=actor, reason=reason,
        expected_etag=expected_etag,
        describe=lambda r: {"id": r.id, "hours_centi": r.hours_centi,
                            "labor_kind_id": r.labor_kind_id, "valid_from": r.valid_from,
                            "valid_to": r.valid_to},
        after={**key, "hours": str(value), "labor_kind": labor_kind},
    )  # fmt: skip
    row = session.get(StandardHours, written.id, populate_existing=True)
    assert row is not None
    return LaborWrite(written.action, _hours_version(session, row), written.etag)


def end_standard_hours(
    session: Session, version_id: int, *, valid_to: date, actor: str, reason: str,
    expected_etag: ETagLike = None,
) -> LaborWrite:  # fmt: skip
    written = end_version(
        session, StandardHours, version_id, HOURS_KEY, valid_to=valid_to, actor=actor,
        reason=reason, expected_etag=expected_etag,
    )  # fmt: skip
    row = session.get(StandardHours, written.id, populate_existing=True)
    assert row is not None
    return LaborWrite(written.action, _hours_version(session, row), written.etag)


# --- channels and rate cards --------------------------------------------------------------------


def _channel_info(session: Session, row: Channel) -> ChannelInfo:
    branch = session.get(Branch, row.branch_id) if row.branch_id is not None else None
    return ChannelInfo(row.id, row.code, row.name, row.kind, branch.code if branch else None)


def list_channels(session: Session) -> list[ChannelInfo]:
    return [
        _channel_info(session, c) for c in session.scalars(select(Channel).order_by(Channel.code))
    ]


@dataclass(frozen=True, slots=True)
class CardSummary:
    """A channel's rate card in force: its period and what it covers (labor kinds, part
    categories), without its terms' authorship (who wrote it and why stay with the staff)."""

    id: int
    valid_from: date
    valid_to: date | None
    labor_kinds: list[str]
    part_categories: list[str]


@dataclass(frozen=True, slots=True)
class ChannelListing:
    id: int
    code: str
    name: str
    kind: str
    branch: str | None
    #: the card in force on the listing's date; None: the channel has none that day
    rate_card: CardSummary | None


def channel_page(session: Session, *, on: date, limit: int = 50, offset: int = 0) -> Page:
    """Special channels by code, a page at a time, each with its rate card in force on `on`
    (what an estimate tool needs to pass `shop.channel_code`): four statements per page."""
    total = session.scalar(select(func.count()).select_from(Channel)) or 0
    rows = session.execute(
        select(Channel.id, Channel.code, Channel.name, Channel.kind, Branch.code)
        .outerjoin(Branch, Branch.id == Channel.branch_id)
        .order_by(Channel.code)
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [r[0] for r in rows]
    cards: dict[int, Any] = {}
    for card in session.execute(
        select(RateCard.id, RateCard.channel_id, RateCard.valid_from, RateCard.valid_to)
        .where(
            RateCard.channel_id.in_(ids),
            RateCard.valid_from <= on,
            or_(RateCard.valid_to.is_(None), RateCard.valid_to > on),
        )
        .order_by(RateCard.valid_from, RateCard.id)
    ):
        cards[card.channel_id] = card  # the latest start wins (periods do not overlap)
    card_ids = [c.id for c in cards.values()]
    kinds: dict[int, list[str]] = {}
    for card_id, code in session.execute(
        select(RateCardLabor.rate_card_id, LaborKind.code)
        .join(LaborKind, LaborKind.id == RateCardLabor.labor_kind_id)
        .where(RateCardLabor.rate_card_id.in_(card_ids))
        .order_by(LaborKind.code)
    ):
        kinds.setdefault(card_id, []).append(code)
    categories: dict[int, list[str]] = {}
    for card_id, code in session.execute(
        select(RateCardParts.rate_card_id, Category.code)
        .join(Category, Category.id == RateCardParts.category_id)
        .where(RateCardParts.rate_card_id.in_(card_ids))
        .order_by(Category.code)
    ):
        categories.setdefault(card_id, []).append(code)
    items = []
    for cid, code, name, kind, branch in rows:
        current = cards.get(cid)
        summary = None
        if current is not None:
            summary = CardSummary(
                current.id, current.valid_from, current.valid_to, kinds.get(current.id, []),
                categories.get(current.id, []),
            )  # fmt: skip
        items.append(ChannelListing(cid, code, name, kind, branch, summary))
    return Page(items, total, limit, offset)


def get_channel(session: Session, code: str) -> Channel:
    row = session.scalars(select(Channel).where(Channel.code == code)).first()
    if row is None:
        raise NotFound(f"no channel with code {code!r}", field="code")
    return row


def create_channel(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    branch: str | None,
    actor: str,
    reason: str,
) -> ChannelInfo:
    """Register a special channel (特殊合作渠道); Conflict when the code exists."""
    reason = require_reason(reason, actor)
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise InvalidInput(
            "a channel needs a code and a name", field="code" if not code else "name"
        )
    _choice(kind, CHANNEL_KINDS, "kind")
    if not kind:
        raise InvalidInput(f"kind must be one of {', '.join(CHANNEL_KINDS)}", field="kind")
    branch_id = _id_of(session, Branch, branch, "branch", "branch") if branch else None
    lock_key(session, "channels", code)
    if session.scalar(select(Channel.id).where(Channel.code == code)) is not None:
        raise Conflict(f"channel {code!r} exists", field="code")
    row = Channel(code=code, name=name, kind=kind, branch_id=branch_id)
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="create", entity="channels", entity_id=row.id,
        after={"code": code, "name": name, "kind": kind, "branch": branch}, reason=reason,
    )  # fmt: skip
    return _channel_info(session, row)


def _card_lines(session: Session, card_ids: Sequence[int]) -> dict[int, set[tuple[Any, ...]]]:
    lines: dict[int, set[tuple[Any, ...]]] = {i: set() for i in card_ids}
    if not card_ids:
        return lines
    for r in session.scalars(select(RateCardLabor).where(RateCardLabor.rate_card_id.in_(card_ids))):
        lines[r.rate_card_id].add(("labor", r.labor_kind_id, r.rate_fen, r.pct_of_standard_bp))
    for p in session.scalars(select(RateCardParts).where(RateCardParts.rate_card_id.in_(card_ids))):
        lines[p.rate_card_id].add(("parts", p.category_id, p.price_type_id, p.discount_bp))
    return lines


def _card_version(
    session: Session, row: RateCard, channel: str, lines: Iterable[tuple[Any, ...]]
) -> RateCardVersion:
    labor_lines, parts_lines = _readable_lines(session, lines)
    return RateCardVersion(
        row.id, channel, row.valid_from, row.valid_to, labor_lines, parts_lines, row.created_by,
        row.reason,
    )  # fmt: skip


def _readable_lines(
    session: Session, lines: Iterable[tuple[Any, ...]]
) -> tuple[list[CardLaborLine], list[CardPartsLine]]:
    """A card's stored lines (ids, fen, basis points) in codes and yuan/percent, sorted."""
    kinds = {i: c for c, i in _codes(session, LaborKind).items()}
    categories = {i: c for c, i in _codes(session, Category).items()}
    types = {i: c for c, i in _codes(session, PriceType).items()}
    labor_lines = sorted(
        (
            CardLaborLine(
                kinds[k], from_fen(rate) if rate is not None else None,
                (Decimal(pct) / 100).quantize(Decimal("0.01")) if pct is not None else None,
            )
            for tag, k, rate, pct in lines if tag == "labor"
        ),
        key=lambda line: line.labor_kind,
    )  # fmt: skip
    parts_lines = sorted(
        (
            CardPartsLine(categories[c], types[t], (Decimal(d) / 100).quantize(Decimal("0.01")))
            for tag, c, t, d in lines if tag == "parts"
        ),
        key=lambda line: line.category,
    )  # fmt: skip
    return labor_lines, parts_lines


def _lines_for_audit(
    session: Session, lines: Iterable[tuple[Any, ...]]
) -> dict[str, list[dict[str, str | None]]]:
    """A card's lines as the audit log keeps them: codes, and amounts as text."""

    def text(value: Decimal | str | None) -> str | None:
        return None if value is None else str(value)

    labor_lines, parts_lines = _readable_lines(session, lines)
    return {
        "labor": [
            {"labor_kind": x.labor_kind, "rate": text(x.rate),
             "pct_of_standard": text(x.pct_of_standard)}
            for x in labor_lines
        ],
        "parts": [
            {"category": x.category, "price_type": x.price_type,
             "discount_pct": text(x.discount_pct)}
            for x in parts_lines
        ],
    }  # fmt: skip


def rate_card_versions(session: Session, channel: str) -> KeyVersions:
    ch = get_channel(session, channel)
    rows, etag = key_versions(session, RateCard, {"channel_id": ch.id})
    lines = _card_lines(session, [r.id for r in rows])
    return KeyVersions(etag, [_card_version(session, r, ch.code, lines[r.id]) for r in rows])


def write_rate_card(
    session: Session,
    channel: str,
    *,
    labor: Sequence[CardLaborLine],
    parts: Sequence[CardPartsLine],
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> LaborWrite:
    """A new version of a channel's rate card (its negotiated labor rates and parts discounts),
    closing the card in force on `valid_from`. A card is its whole set of lines."""
    reason = require_reason(reason, actor)
    ch = get_channel(session, channel)
    if not labor and not parts:
        raise InvalidInput("a rate card needs at least one labor or parts line", field="labor")
    categories = _codes(session, Category)
    types = _codes(session, PriceType)
    wanted: set[tuple[Any, ...]] = set()
    for n, line in enumerate(labor):
        at = f"labor[{n}]"
        try:
            kind = labor_kind_id(session, line.labor_kind)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"{at}.labor_kind") from None
        if (line.rate is None) == (line.pct_of_standard is None):
            raise InvalidInput("give exactly one of rate and pct_of_standard", field=f"{at}.rate")
        rate = (
            to_fen(yuan_field(line.rate, f"{at}.rate", maximum=MAX_RATE))
            if line.rate is not None
            else None
        )
        pct = (
            _pct_bp(line.pct_of_standard, f"{at}.pct_of_standard", 100000, positive=True)
            if line.pct_of_standard is not None
            else None
        )
        entry = ("labor", kind, rate, pct)
        if any(e[:2] == entry[:2] for e in wanted):
            raise InvalidInput(f"labor kind {line.labor_kind} is given twice", field=at)
        wanted.add(entry)
    for n, pline in enumerate(parts):
        at = f"parts[{n}]"
        if pline.category not in categories:
            raise InvalidInput(f"no category with code {pline.category!r}", field=f"{at}.category")
        if pline.price_type not in types:
            raise InvalidInput(
                f"no price type with code {pline.price_type!r}", field=f"{at}.price_type"
            )
        discount = _pct_bp(pline.discount_pct, f"{at}.discount_pct", 9999, positive=False)
        entry = ("parts", categories[pline.category], types[pline.price_type], discount)
        if any(e[:2] == entry[:2] for e in wanted):
            raise InvalidInput(f"category {pline.category} is given twice", field=at)
        wanted.add(entry)
    value = frozenset(wanted)
    key = {"channel_id": ch.id}
    stored: dict[int, set[tuple[Any, ...]]] = {}

    def value_of(row: RateCard) -> frozenset[tuple[Any, ...]]:
        if row.id not in stored:
            stored.update(_card_lines(session, [row.id]))
        return frozenset(stored[row.id])

    def insert_lines(card_id: int) -> None:
        for tag, a, b, c in sorted(value, key=repr):
            if tag == "labor":
                session.execute(
                    insert(RateCardLabor).values(
                        rate_card_id=card_id, labor_kind_id=a, rate_fen=b, pct_of_standard_bp=c
                    )
                )
            else:
                session.execute(insert(RateCardParts).values(
                    rate_card_id=card_id, category_id=a, price_type_id=b, discount_bp=c))  # fmt: skip

    def describe(row: RateCard) -> dict[str, Any]:
        return {"id": row.id, "valid_from": row.valid_from, "valid_to": row.valid_to,
                **_lines_for_audit(session, value_of(row))}  # fmt: skip

    written = write_version(
        session, RateCard, key, value=value, value_of=value_of,
        record={"created_by": actor, "reason": reason}, valid_from=valid_from, valid_to=valid_to,
        actor=actor, reason=reason, expected_etag=expected_etag, describe=describe,
        after={"channel": ch.code, **_lines_for_audit(session, value)}, on_insert=insert_lines,
    )  # fmt: skip
    row = session.get(RateCard, written.id, populate_existing=True)
    assert row is not None
    lines = _card_lines(session, [row.id])[row.id]
    return LaborWrite(written.action, _card_version(session, row, ch.code, lines), written.etag)


def end_rate_card(
    session: Session, version_id: int, *, valid_to: date, actor: str, reason: str,
    expected_etag: ETagLike = None, channel: str | None = None,
) -> LaborWrite:  # fmt: skip
    """End a rate card version on `valid_to` (its first day withdraws it): from then on the
    channel's shops get the branch standard rates and the usual price precedence, until a later
    card. With `channel`, the card must be that channel's (NotFound otherwise)."""
    if channel is not None:
        wanted = get_channel(session, channel)
        owner = session.scalar(select(RateCard.channel_id).where(RateCard.id == version_id))
        if owner != wanted.id:
            raise NotFound(
                f"channel {wanted.code} has no rate card {version_id}", field="version_id"
            )
    written = end_version(
        session, RateCard, version_id, ("channel_id",), valid_to=valid_to, actor=actor,
        reason=reason, expected_etag=expected_etag,
    )  # fmt: skip
    row = session.get(RateCard, written.id, populate_existing=True)
    assert row is not None
    ch = session.get(Channel, row.channel_id)
    assert ch is not None
    lines = _card_lines(session, [row.id])[row.id]
    return LaborWrite(written.action, _card_version(session, row, ch.code, lines), written.etag)


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
            select(OperationInclusion.included_part_id, OperationInclusion.included_operation)
            .where(OperationInclusion.part_id == part_id, OperationInclusion.operation == operation)
        )
    }  # fmt: skip


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
    _choice(operation, OPERATIONS, "operation")
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
                OperationInclusion.part_id == part_id, OperationInclusion.operation == operation,
                tuple_(OperationInclusion.included_part_id,
                       OperationInclusion.included_operation).in_(gone),
            )
        )  # fmt: skip
    if added := sorted(wanted - have):
        session.execute(insert(OperationInclusion), [
            {"part_id": part_id, "operation": operation, "included_part_id": other,
             "included_operation": op}
            for other, op in added
        ])  # fmt: skip
    after = _inclusion_set(session, part_id, operation, wanted, "updated")
    audit.record(
        session, actor=actor, action="update", entity="operation_inclusions",
        entity_id=f"{part_id}:{operation}",
        before={"includes": [f"{op}@{code}" for code, op in before.includes]},
        after={"includes": [f"{op}@{code}" for code, op in after.includes]}, reason=reason,
    )  # fmt: skip
    return after
