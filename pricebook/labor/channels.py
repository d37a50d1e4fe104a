"""Special channels (特殊合作渠道) and their rate cards: negotiated labor rates (a fixed rate
or a percentage of the branch standard) and parts discounts per category (第三条 5–6).

A rate card is versioned as a whole set of lines. `list_channels` is the one channel list:
staff pages read it with its filters and the card terms; `channel_page` is the estimate tools'
view of it, a card's coverage without who wrote it and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, insert, or_, select
from sqlalchemy.orm import Session, aliased

from pricebook import audit
from pricebook.errors import Conflict, InvalidInput, NotFound
from pricebook.labor.common import (
    MAX_RATE,
    KeyVersions,
    LaborWrite,
    check_choice,
    codes,
    contains,
    from_hundredths,
    id_of,
    labor_kind_id,
    page_rows,
    pct_bp,
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
from pricebook.money import from_fen, to_fen, yuan_field
from pricebook.paging import Page
from pricebook.versioned import (
    ETagLike,
    in_force,
    key_versions,
    lock_key,
    require_reason,
    version_ender,
    write_answer,
    write_version,
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


# --- rate card versions and writes --------------------------------------------------------------


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
        row.id,
        channel,
        row.valid_from,
        row.valid_to,
        labor_lines,
        parts_lines,
        row.created_by,
        row.reason,
    )


def _readable_lines(
    session: Session, lines: Iterable[tuple[Any, ...]]
) -> tuple[list[CardLaborLine], list[CardPartsLine]]:
    """A card's stored lines (ids, fen, basis points) in codes and yuan/percent, sorted."""
    kinds = {i: c for c, i in codes(session, LaborKind).items()}
    categories = {i: c for c, i in codes(session, Category).items()}
    types = {i: c for c, i in codes(session, PriceType).items()}
    labor_lines = sorted(
        (
            CardLaborLine(
                kinds[k],
                from_fen(rate) if rate is not None else None,
                from_hundredths(pct) if pct is not None else None,
            )
            for tag, k, rate, pct in lines
            if tag == "labor"
        ),
        key=lambda line: line.labor_kind,
    )
    parts_lines = sorted(
        (
            CardPartsLine(categories[c], types[t], from_hundredths(d))
            for tag, c, t, d in lines
            if tag == "parts"
        ),
        key=lambda line: line.category,
    )
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
            {
                "labor_kind": x.labor_kind,
                "rate": text(x.rate),
                "pct_of_standard": text(x.pct_of_standard),
            }
            for x in labor_lines
        ],
        "parts": [
            {
                "category": x.category,
                "price_type": x.price_type,
                "discount_pct": text(x.discount_pct),
            }
            for x in parts_lines
        ],
    }


def rate_card_versions(session: Session, channel: str) -> KeyVersions:
    ch = get_channel(session, channel)
    rows, etag = key_versions(session, RateCard, {"channel_id": ch.id})
    lines = _card_lines(session, [r.id for r in rows])
    return KeyVersions(etag, [_card_version(session, r, ch.code, lines[r.id]) for r in rows])


def _card_value(
    session: Session, labor: Sequence[CardLaborLine], parts: Sequence[CardPartsLine]
) -> frozenset[tuple[Any, ...]]:
    """A card's lines as stored (ids, fen, basis points), each checked, naming the line."""
    wanted: set[tuple[Any, ...]] = set()
    for n, line in enumerate(labor):
        entry = _labor_entry(session, line, f"labor[{n}]")
        if any(e[:2] == entry[:2] for e in wanted):
            raise InvalidInput(f"labor kind {line.labor_kind} is given twice", field=f"labor[{n}]")
        wanted.add(entry)
    categories = codes(session, Category)
    types = codes(session, PriceType)
    for n, pline in enumerate(parts):
        at = f"parts[{n}]"
        if pline.category not in categories:
            raise InvalidInput(f"no category with code {pline.category!r}", field=f"{at}.category")
        if pline.price_type not in types:
            raise InvalidInput(
                f"no price type with code {pline.price_type!r}", field=f"{at}.price_type"
            )
        discount = pct_bp(pline.discount_pct, f"{at}.discount_pct", 9999, positive=False)
        entry = ("parts", categories[pline.category], types[pline.price_type], discount)
        if any(e[:2] == entry[:2] for e in wanted):
            raise InvalidInput(f"category {pline.category} is given twice", field=at)
        wanted.add(entry)
    return frozenset(wanted)


def _labor_entry(session: Session, line: CardLaborLine, at: str) -> tuple[Any, ...]:
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
        pct_bp(line.pct_of_standard, f"{at}.pct_of_standard", 100000, positive=True)
        if line.pct_of_standard is not None
        else None
    )
    return ("labor", kind, rate, pct)


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
    value = _card_value(session, labor, parts)
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
                session.execute(
                    insert(RateCardParts).values(
                        rate_card_id=card_id, category_id=a, price_type_id=b, discount_bp=c
                    )
                )

    def describe(row: RateCard) -> dict[str, Any]:
        return {
            "id": row.id,
            "valid_from": row.valid_from,
            "valid_to": row.valid_to,
            **_lines_for_audit(session, value_of(row)),
        }

    written = write_version(
        session,
        RateCard,
        key,
        value=value,
        value_of=value_of,
        record={"created_by": actor, "reason": reason},
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=reason,
        expected_etag=expected_etag,
        describe=describe,
        after={"channel": ch.code, **_lines_for_audit(session, value)},
        on_insert=insert_lines,
    )
    return write_answer(session, RateCard, written, lambda row: _card_view(session, row))


def _card_view(session: Session, row: RateCard) -> RateCardVersion:
    ch = session.get(Channel, row.channel_id)
    assert ch is not None
    return _card_version(session, row, ch.code, _card_lines(session, [row.id])[row.id])


_end_card = version_ender(
    RateCard, ("channel_id",), _card_view, "End a rate card version on `valid_to`."
)


def end_rate_card(
    session: Session,
    version_id: int,
    *,
    valid_to: date,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
    channel: str | None = None,
) -> LaborWrite:
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
    return _end_card(
        session,
        version_id,
        valid_to=valid_to,
        actor=actor,
        reason=reason,
        expected_etag=expected_etag,
    )
