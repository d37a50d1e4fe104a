"""A special channel's rate card (特殊合作渠道协议): versioned as a whole set of lines (labor
kinds at a fixed rate or a percentage of the branch standard, parts categories at a discount),
written and ended through the one versioned-write path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pricebook.errors import InvalidInput, NotFound
from pricebook.labor.channels import get_channel
from pricebook.labor.common import (
    MAX_RATE,
    KeyVersions,
    LaborWrite,
    codes,
    from_hundredths,
    labor_kind_id,
    pct_bp,
)
from pricebook.models import (
    Category,
    Channel,
    LaborKind,
    PriceType,
    RateCard,
    RateCardLabor,
    RateCardParts,
)
from pricebook.money import from_fen, to_fen, yuan_field
from pricebook.versioned import (
    ETagLike,
    key_versions,
    require_reason,
    version_ender,
    write_answer,
    write_version,
)


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
        record={},
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
