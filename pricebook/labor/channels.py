"""Special channels (特殊合作渠道) and their rate cards: negotiated labor rates (a fixed rate
or a percentage of the branch standard) and parts discounts per category (第三条 5–6).

A rate card's versions are written in `pricebook.labor.cards`. `list_channels` is the one
channel list: staff pages read it with its filters and the card terms; `channel_page` is the
estimate tools' view of it, a card's coverage without who wrote it and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from pricebook import audit
from pricebook.errors import Conflict, InvalidInput, NotFound
from pricebook.labor.common import (
    check_choice,
    contains,
    from_hundredths,
    id_of,
    page_rows,
    sort_order,
)
from pricebook.models import (
    CHANNEL_KINDS,
    Branch,
    Category,
    Channel,
    LaborKind,
    PriceType,
    RateCard,
    RateCardLabor,
    RateCardParts,
)
from pricebook.money import from_fen
from pricebook.paging import Page
from pricebook.versioned import (
    in_force,
    key_versions,
    lock_key,
    require_reason,
)

#: sort keys the list accepts (each also as `-key`); the first is the default
CHANNEL_SORTS = ("code", "name", "kind", "branch", "card")


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
        rate = from_fen(line.rate_fen) if line.rate_fen is not None else None
        pct = line.pct_of_standard_bp
        terms[line.rate_card_id].append(
            CardTerm(
                "labor",
                code,
                name,
                rate=rate,
                pct_of_standard=from_hundredths(pct) if pct is not None else None,
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
                discount_pct=from_hundredths(pline.discount_bp),
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
) -> Page[ChannelListRow]:
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
    if text := q.strip():
        stmt = stmt.where(or_(contains(Channel.code, text), contains(Channel.name, text)))
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
    order = sort_order(
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
    rows, total = page_rows(session, stmt, order, limit, offset)
    cards = _card_listings(session, sorted({cid for *_, cid in rows if cid is not None}))
    items = [
        ChannelListRow(ch.id, ch.code, ch.name, ch.kind, bcode or "", bname or "", cards.get(cid))
        for ch, bcode, bname, cid in rows
    ]
    return Page(items, total, limit or total, offset)


def _card_listings(session: Session, card_ids: Sequence[int]) -> dict[int, CardListing]:
    if not card_ids:
        return {}
    terms = card_terms(session, card_ids)
    return {
        c.id: CardListing(c.id, c.valid_from, c.valid_to, c.created_by, c.reason, terms[c.id])
        for c in session.scalars(select(RateCard).where(RateCard.id.in_(card_ids)))
    }


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


def channel_page(
    session: Session, *, on: date, limit: int = 50, offset: int = 0
) -> Page[ChannelListing]:
    """Special channels by code, a page at a time, each with its rate card in force on `on`
    (what an estimate tool needs to pass `shop.channel_code`)."""
    page = list_channels(session, on=on, limit=limit, offset=offset)
    items = [
        ChannelListing(
            row.id, row.code, row.name, row.kind, row.branch_code or None, _summary(row.card)
        )
        for row in page.items
    ]
    return Page(items, page.total, limit, offset)


def _summary(card: CardListing | None) -> CardSummary | None:
    if card is None:
        return None
    kinds = [t.code for t in card.terms if t.kind == "labor"]
    categories = [t.code for t in card.terms if t.kind == "parts"]
    return CardSummary(card.id, card.valid_from, card.valid_to, kinds, categories)


# --- channels -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    code: str
    name: str
    kind: str
    branch: str | None


def _channel_info(session: Session, row: Channel) -> ChannelInfo:
    branch = session.get(Branch, row.branch_id) if row.branch_id is not None else None
    return ChannelInfo(row.id, row.code, row.name, row.kind, branch.code if branch else None)


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
    check_choice(kind, CHANNEL_KINDS, "kind")
    if not kind:
        raise InvalidInput(f"kind must be one of {', '.join(CHANNEL_KINDS)}", field="kind")
    branch_id = id_of(session, Branch, branch, "branch", "branch") if branch else None
    lock_key(session, "channels", code)
    if session.scalar(select(Channel.id).where(Channel.code == code)) is not None:
        raise Conflict(f"channel {code!r} exists", field="code")
    row = Channel(code=code, name=name, kind=kind, branch_id=branch_id)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="channels",
        entity_id=row.id,
        after={"code": code, "name": name, "kind": kind, "branch": branch},
        reason=reason,
    )
    return _channel_info(session, row)


def channel_cards(session: Session, code: str) -> tuple[Channel, str, list[CardListing], str]:
    """A channel, its branch's name, every version of its rate card (oldest first) with its
    terms, and the card's ETag: a constant number of statements."""
    ch = get_channel(session, code)
    branch = session.get(Branch, ch.branch_id) if ch.branch_id is not None else None
    rows, etag = key_versions(session, RateCard, {"channel_id": ch.id})
    terms = card_terms(session, [r.id for r in rows])
    cards = [
        CardListing(r.id, r.valid_from, r.valid_to, r.created_by, r.reason, terms[r.id])
        for r in rows
    ]
    return ch, branch.name if branch else "", cards, etag
