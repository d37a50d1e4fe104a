"""Branch standard labor rates (分公司标准工时费) and the rate a channel card makes of them.

A sub-branch without its own rate for a key (labor kind × shop tier × vehicle class) uses its
parent branch's; a channel card's labor line (a fixed rate or a percentage of the standard)
replaces the standard rate for shops of that channel. `labor_rates` answers estimate tools (the
rate that applies, through the branch chain); `list_labor_rates` answers pricing staff (the
stored versions in force, with who wrote them and why). Both read the same query,
`_rates_in_force`, and the same card lines, `_card_labor_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from pricebook.catalog import Named
from pricebook.errors import InvalidInput
from pricebook.labor.common import (
    MAX_RATE,
    KeyVersions,
    LaborWrite,
    check_choice,
    contains,
    id_of,
    labor_kind_id,
    page_rows,
    region_and_below,
    sort_order,
    version_and_key,
    versions_as,
)
from pricebook.models import (
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Branch,
    Channel,
    LaborKind,
    LaborRate,
    RateCard,
    RateCardLabor,
    Region,
)
from pricebook.money import from_fen, round_yuan, to_fen, yuan_field
from pricebook.paging import Page
from pricebook.versioned import (
    ETagLike,
    in_force,
    require_reason,
    version_ender,
    write_answer,
    write_version,
)

#: sort keys the staff list accepts (each also as `-key`); the first is the default
LABOR_RATE_SORTS = ("branch", "region", "kind", "tier", "class", "rate", "from")
LABOR_RATE_KEY = ("branch_id", "labor_kind_id", "shop_tier", "vehicle_class")


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
        return AppliedRate(
            from_fen(card_rate_fen), f"channel {channel} card rate replaces the {why}", None
        )
    pct = (Decimal(card_pct_bp or 0) / 100).quantize(Decimal("0.01"))
    return AppliedRate(
        round_yuan(standard * (card_pct_bp or 0) / 10000),
        f"channel {channel} card: {pct}% of the {why}",
        pct,
    )


# --- the shared query ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardLines:
    """A channel's branch and the labor lines (by labor kind id) of its card in force."""

    branch_id: int | None
    card: RateCard | None
    lines: dict[int, RateCardLabor]


def _card_labor_lines(session: Session, channel: str, on: date) -> CardLines:
    """A channel's branch and its card in force on `on` with the card's labor lines: two
    statements. InvalidInput for an unknown channel."""
    found = session.execute(
        select(Channel.id, Channel.branch_id).where(Channel.code == channel)
    ).first()
    if found is None:
        raise InvalidInput(f"no channel with code {channel!r}", field="channel")
    card_id = (
        select(RateCard.id)
        .where(RateCard.channel_id == found[0], in_force(RateCard, on))
        .order_by(RateCard.valid_from.desc(), RateCard.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = list(
        session.execute(
            select(RateCardLabor, RateCard)
            .join(RateCard, RateCard.id == RateCardLabor.rate_card_id)
            .where(RateCard.id == card_id)
        )
    )
    card = rows[0][1] if rows else None
    return CardLines(found[1], card, {line.labor_kind_id: line for line, _ in rows})


def _rates_in_force(
    on: date, *, kind: str = "", shop_tier: str = "", vehicle_class: str = ""
) -> Select[LaborRate, str, str, str, str, str]:
    """Each key's version in force on `on`, with its branch, region and labor kind named."""
    check_choice(shop_tier, SHOP_TIERS, "shop_tier")
    check_choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    stmt = (
        select(
            LaborRate,
            Branch.code.label("branch_code"),
            Branch.name.label("branch_name"),
            Region.name.label("region_name"),
            LaborKind.code.label("kind_code"),
            LaborKind.name.label("kind_name"),
        )
        .join(Branch, Branch.id == LaborRate.branch_id)
        .join(Region, Region.id == Branch.region_id)
        .join(LaborKind, LaborKind.id == LaborRate.labor_kind_id)
        .where(in_force(LaborRate, on))
    )
    if kind:
        stmt = stmt.where(LaborKind.code == kind)
    if shop_tier:
        stmt = stmt.where(LaborRate.shop_tier == shop_tier)
    if vehicle_class:
        stmt = stmt.where(LaborRate.vehicle_class == vehicle_class)
    return stmt


# --- the rate that applies (estimate tools) ------------------------------------------------------


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


_RATE_KEYERS: dict[str, Any] = {
    "kind": lambda x: (x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
    "branch": lambda x: (x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
    "rate": lambda x: (x.rate, x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
    "-rate": lambda x: (-x.rate, x.branch, x.labor_kind.code, x.shop_tier, x.vehicle_class),
}


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
) -> Page[LaborRateRow]:
    """The labor rates that apply on `on`. With `branch` (or a channel of a branch), one row
    per key: the branch's own rate, else its nearest parent's; without, every branch's own.
    With `channel`, its card's labor line replaces the standard rate it covers."""
    stmt = _rates_in_force(on, kind=kind, shop_tier=shop_tier, vehicle_class=vehicle_class)
    if kind and session.scalar(select(LaborKind.id).where(LaborKind.code == kind)) is None:
        known = sorted(session.scalars(select(LaborKind.code)))
        raise InvalidInput(f"kind must be one of {', '.join(known)}", field="kind")
    card = _card_labor_lines(session, channel, on) if channel else None
    tree = session.execute(select(Branch.id, Branch.code, Branch.parent_id))
    branches = {i: (code, parent) for i, code, parent in tree}
    chain = _branch_chain(branches, branch, card.branch_id if card else None)
    if chain:
        stmt = stmt.where(LaborRate.branch_id.in_(chain))
    found = [
        (row.LaborRate, Named(row.LaborRate.labor_kind_id, row.kind_code, row.kind_name))
        for row in session.execute(stmt.order_by(LaborRate.id))
    ]
    codes = {i: code for i, (code, _) in branches.items()}
    rows = [
        _applied_row(r, codes, for_branch, kind_named, channel, card)
        for for_branch, r, kind_named in _nearest(found, chain)
    ]
    rows.sort(key=_RATE_KEYERS[sort])
    return Page(rows[offset : offset + limit], len(rows), limit, offset)


def _branch_chain(
    branches: dict[int, tuple[str, int | None]], branch: str, start: int | None
) -> list[int]:
    """`branch` (else `start`) and its parent branches, nearest first; [] for neither."""
    if branch:
        by_code = {code: i for i, (code, _) in branches.items()}
        if branch not in by_code:
            raise InvalidInput(f"no branch with code {branch!r}", field="branch")
        start = by_code[branch]
    chain: list[int] = []
    while start is not None and start not in chain:
        chain.append(start)
        start = branches[start][1]
    return chain


def _nearest(
    rates: list[tuple[LaborRate, Named]], chain: list[int]
) -> list[tuple[int, LaborRate, Named]]:
    """(the branch asked for, the rate that serves it, its labor kind) per key: along a chain
    the nearest branch's rate; without one every branch's own."""
    nearest: dict[tuple[int, int, str, str], tuple[LaborRate, Named]] = {}
    if chain:
        depth = {b: n for n, b in enumerate(chain)}
        for r, kind in sorted(rates, key=lambda pair: depth[pair[0].branch_id]):
            key = (chain[0], r.labor_kind_id, r.shop_tier, r.vehicle_class)
            nearest.setdefault(key, (r, kind))
    else:
        for r, kind in rates:
            nearest[(r.branch_id, r.labor_kind_id, r.shop_tier, r.vehicle_class)] = (r, kind)
    return [(key[0], r, kind) for key, (r, kind) in nearest.items()]


def _applied_row(
    r: LaborRate,
    branches: dict[int, str],
    for_branch: int,
    kind: Named,
    channel: str,
    card: CardLines | None,
) -> LaborRateRow:
    standard = from_fen(r.rate_fen)
    rate_branch, own = branches[r.branch_id], r.branch_id == for_branch
    ch: ChannelRate | None = None
    line = card.lines.get(r.labor_kind_id) if card else None
    if card is not None and card.card is not None and line is not None:
        rate, why, pct = applied_rate(
            standard, rate_branch, own, channel, line.rate_fen, line.pct_of_standard_bp
        )
        found = card.card
        ch = ChannelRate(channel, found.id, rate, pct, found.valid_from, found.valid_to)
    else:
        rate, why, _ = applied_rate(standard, rate_branch, own)
    return LaborRateRow(
        branch=branches[for_branch],
        rate_branch=rate_branch,
        labor_kind=kind,
        shop_tier=r.shop_tier,
        vehicle_class=r.vehicle_class,
        standard_rate=standard,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        source=r.source,
        rate_id=r.id,
        channel=ch,
        rate=rate,
        why=why,
    )


# --- the stored versions (pricing staff) ---------------------------------------------------------


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


_LIST_ORDER = {
    "branch": (Branch.code, LaborKind.code, LaborRate.shop_tier, LaborRate.vehicle_class),
    "region": (Region.code, Branch.code, LaborKind.code),
    "kind": (LaborKind.code, Branch.code, LaborRate.shop_tier, LaborRate.vehicle_class),
    "tier": (LaborRate.shop_tier, Branch.code, LaborKind.code),
    "class": (LaborRate.vehicle_class, Branch.code, LaborKind.code),
    "rate": (LaborRate.rate_fen,),
    "from": (LaborRate.valid_from,),
}


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
) -> Page[LaborRateListRow]:
    """The branch standard labor rates in force on `on`, one version per key, filtered, sorted
    and a page at a time (`limit=None`: every row). With `channel`: the rates of the channel's
    branch (all, for a channel of no branch), each with the rate the channel's card in force
    makes of it (`applied_rate`, the review's rule)."""
    stmt = _rates_in_force(on, kind=kind, shop_tier=shop_tier, vehicle_class=vehicle_class)
    if text := q.strip():
        stmt = stmt.where(
            or_(
                contains(Branch.code, text),
                contains(Branch.name, text),
                contains(LaborKind.name, text),
                contains(LaborRate.reason, text),
            )
        )
    if branch:
        stmt = stmt.where(Branch.code == branch)
    if region:
        stmt = stmt.where(Branch.region_id.in_(region_and_below(session, region)))
    card_lines: dict[int, RateCardLabor] = {}
    if channel:
        card = _card_labor_lines(session, channel, on)
        card_lines = card.lines
        if card.branch_id is not None:
            stmt = stmt.where(LaborRate.branch_id == card.branch_id)
    order = sort_order(sort, _LIST_ORDER, LaborRate.id)
    rows, total = page_rows(session, stmt, order, limit, offset)
    items = [_list_row(row, channel, card_lines) for row in rows]
    return Page(items, total, limit or total, offset)


def _list_row(row: Any, channel: str, card_lines: dict[int, RateCardLabor]) -> LaborRateListRow:
    r = row.LaborRate
    standard = from_fen(r.rate_fen)
    applied: tuple[Decimal | None, Decimal | None] = (None, None)
    if (line := card_lines.get(r.labor_kind_id)) is not None:
        got = applied_rate(
            standard, row.branch_code, True, channel, line.rate_fen, line.pct_of_standard_bp
        )
        applied = (got.rate, got.pct_of_standard)
    return LaborRateListRow(
        r.id,
        row.branch_code,
        row.branch_name,
        row.region_name,
        row.kind_code,
        row.kind_name,
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


# --- versions and writes ------------------------------------------------------------------------
# A key's versions follow `history.plan_version` through `pricebook.prices.write_version` (lock
# the key, check its ETag, close the version in force, insert, audit): the same rules and the
# same 412 as prices.


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


def labor_rate_key(
    session: Session, *, branch: str, labor_kind: str, shop_tier: str, vehicle_class: str
) -> dict[str, Any]:
    check_choice(shop_tier, SHOP_TIERS, "shop_tier")
    check_choice(vehicle_class, VEHICLE_CLASSES, "vehicle_class")
    if not shop_tier or not vehicle_class:
        raise InvalidInput("give shop_tier and vehicle_class", field="shop_tier")
    return {
        "branch_id": id_of(session, Branch, branch, "branch", "branch"),
        "labor_kind_id": labor_kind_id(session, labor_kind),
        "shop_tier": shop_tier,
        "vehicle_class": vehicle_class,
    }


def _rate_version(session: Session, row: LaborRate) -> LaborRateVersion:
    branch = session.get(Branch, row.branch_id)
    kind = session.get(LaborKind, row.labor_kind_id)
    assert branch is not None and kind is not None
    return LaborRateVersion(
        row.id,
        branch.code,
        kind.code,
        row.shop_tier,
        row.vehicle_class,
        from_fen(row.rate_fen),
        row.valid_from,
        row.valid_to,
        row.source,
        row.created_by,
        row.reason,
    )


def labor_rate_versions(session: Session, key: dict[str, Any]) -> KeyVersions:
    return versions_as(session, LaborRate, key, _rate_version)


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
        session,
        LaborRate,
        key,
        value=fen,
        value_of=lambda r: r.rate_fen,
        record={"rate_fen": fen, "source": source},
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=reason,
        expected_etag=expected_etag,
        describe=lambda r: {
            "id": r.id,
            "rate": from_fen(r.rate_fen),
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
        },
        after={**key, "rate": yuan, "source": source},
    )
    return write_answer(session, LaborRate, written, lambda row: _rate_version(session, row))


end_labor_rate = version_ender(
    LaborRate,
    LABOR_RATE_KEY,
    _rate_version,
    "End a version on `valid_to` (its first day withdraws it); a version is never extended.",
)


# --- standard hours -----------------------------------------------------------------------------


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
    row, found = version_and_key(session, LaborRate, version_id, LABOR_RATE_KEY, _rate_version)
    branch = session.get(Branch, row.branch_id)
    kind = session.get(LaborKind, row.labor_kind_id)
    assert branch is not None and kind is not None
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
