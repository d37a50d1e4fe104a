"""Unmatched market listings: the queue pricing staff work, and their verdicts.

A listing the matcher could not place with confidence is stored ``unmatched`` with its best
candidate (``suggested_part_id``). Staff see the queue (`unmatched_listings`: the latest row of
each unmatched listing, with the suggestion), and either

- **confirm** a part (the suggestion, or another one they pick): the listing's rows become
  matched now, and a learned mapping (`pricebook.matching.confirm`) of the name as the matcher
  reads it — the title without its vehicle words, scoped to the vehicle the title names — makes
  the next crawl match the same title by itself (reason ``learned``);
- **reject** the suggestion: a learned rejection, so the matcher never offers that part for the
  name again, and the listing stays in the queue without it for a person to pick;
- mark it **not a catalogue part** (``not_part``): it leaves the queue and re-crawls keep it out.

Both are audited (the mapping and the listing) and happen in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.db import as_utc
from pricebook.errors import Conflict, InvalidInput, NotFound
from pricebook.market import PartObservation, _catalog, part_observations
from pricebook.matching.confirm import confirm
from pricebook.models import Brand, MarketObservation, Part, PriceType, Region
from pricebook.money import from_fen
from pricebook.paging import Page

__all__ = [
    "UnmatchedListing",
    "confirm_listing",
    "mark_not_part",
    "reject_suggestion",
    "unmatched_listings",
]


@dataclass(frozen=True, slots=True)
class UnmatchedListing:
    """The latest row of an unmatched listing, with what the matcher suggested."""

    id: int
    source: str
    raw_name: str
    raw_price: str
    amount: Decimal
    raw_oe: str
    raw_brand_text: str
    region: str | None
    price_type: str | None
    seller: str
    url: str
    first_seen: datetime
    last_seen: datetime
    suggested_part_id: int | None
    suggested_part_code: str | None
    suggested_part_name: str | None
    confidence_bp: int


def _latest_ids() -> Select[Any]:
    """Each listing's latest row (a listing: source, key, region, price type)."""
    o = MarketObservation
    return select(func.max(o.id)).group_by(o.source, o.item_key, o.region_id, o.price_type_id)


def unmatched_listings(
    session: Session, *, source: str | None = None, limit: int = 50, offset: int = 0
) -> Page[UnmatchedListing]:
    """Unmatched listings, the most recently seen first: each listing once (its latest row),
    with its suggestion. Two statements (the page, the total)."""
    o = MarketObservation
    conds = [o.status == "unmatched", o.id.in_(_latest_ids())]
    if source:
        conds.append(o.source == source)
    total = session.scalar(select(func.count()).select_from(o).where(*conds)) or 0
    rows = session.execute(
        select(
            o,
            Part.code,
            Part.name,
            Region.code.label("region_code"),
            PriceType.code.label("price_type_code"),
        )
        .outerjoin(Part, Part.id == o.suggested_part_id)
        .outerjoin(Region, Region.id == o.region_id)
        .outerjoin(PriceType, PriceType.id == o.price_type_id)
        .where(*conds)
        .order_by(o.last_seen.desc(), o.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        UnmatchedListing(
            id=obs.id,
            source=obs.source,
            raw_name=obs.raw_name,
            raw_price=obs.raw_price,
            amount=from_fen(obs.amount_fen),
            raw_oe=obs.raw_oe,
            raw_brand_text=obs.raw_brand_text,
            region=region_code,
            price_type=price_type_code,
            seller=obs.seller,
            url=obs.listing_url or obs.url,
            first_seen=as_utc(obs.first_seen),
            last_seen=as_utc(obs.last_seen),
            suggested_part_id=obs.suggested_part_id,
            suggested_part_code=code,
            suggested_part_name=name,
            confidence_bp=obs.confidence_bp,
        )
        for obs, code, name, region_code, price_type_code in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


def _unmatched(session: Session, observation_id: int) -> MarketObservation:
    from pricebook.versioned import lock_key

    obs = session.get(MarketObservation, observation_id)
    if obs is None:
        raise NotFound(f"no market observation with id {observation_id}", field="id")
    # decisions on one listing take turns with each other and with ingests of its source
    lock_key(session, "market_observations", obs.source)
    session.refresh(obs)
    if obs.status == "not_part":
        raise Conflict(
            f"observation {observation_id} is already marked not a catalogue part", field="id"
        )
    if obs.status != "unmatched":
        raise Conflict(
            f"observation {observation_id} is already matched to part {obs.part_id}", field="id"
        )
    return obs


def _scope(session: Session, obs: MarketObservation) -> tuple[str, int | None, str | None]:
    """(the name as the matcher reads it, model id, brand name) the verdict is learned for: the
    vehicle the title or fitment text names, as ingest found it."""
    cat = _catalog(session)
    brand_id, models, _stored, match_name = cat.vehicle(obs.raw_name, obs.raw_brand_text)
    # a series of several models: the verdict holds for the brand, whichever model it was
    model_id = models[0] if len(models) == 1 else None
    brand = session.scalar(select(Brand.name).where(Brand.id == brand_id)) if brand_id else None
    return match_name, model_id, (None if model_id is not None else brand)


def confirm_listing(
    session: Session,
    observation_id: int,
    *,
    actor: str,
    part_code: str | None = None,
    reason: str = "",
) -> int:
    """Match the listing to ``part_code`` (default: its suggestion) now and learn it for the
    next crawl. Returns the learned mapping's id. 404 unknown id, 409 already matched, 422 no
    part given and none suggested, an unknown part, or a part on the other side."""
    obs = _unmatched(session, observation_id)
    part_id = None
    if part_code is None or not part_code.strip():
        if obs.suggested_part_id is None:
            raise InvalidInput("no suggestion to confirm: give a part_code", field="part_code")
        part_id, part_code = obs.suggested_part_id, None
    name, model_id, brand = _scope(session, obs)
    mapping = confirm(
        session,
        name=name,
        accepted=True,
        actor=actor,
        part_id=part_id,
        part_code=part_code,
        model_id=model_id,
        brand=brand,
        reason=reason,
        index=_catalog(session).index,
    )
    o = MarketObservation
    session.execute(
        update(o)
        .where(o.source == obs.source, o.item_key == obs.item_key, o.status == "unmatched")
        .values(
            status="matched",
            part_id=mapping.part_id,
            suggested_part_id=None,
            confidence_bp=10000,
            match_reason="learned",
        )
    )
    audit.record(
        session,
        actor=actor,
        action="match_listing",
        entity="market_observations",
        entity_id=obs.id,
        before={"status": "unmatched", "suggested_part_id": part_id},
        after={"status": "matched", "part_id": mapping.part_id, "mapping_id": mapping.id},
        reason=reason,
    )
    return mapping.id


def reject_suggestion(
    session: Session, observation_id: int, *, actor: str, reason: str = ""
) -> int:
    """The suggestion is not the part: never offer it again for this name and vehicle; the
    listing stays unmatched, without a suggestion. Returns the learned rejection's id."""
    obs = _unmatched(session, observation_id)
    if obs.suggested_part_id is None:
        raise InvalidInput("the listing has no suggestion to reject", field="id")
    if not reason.strip():
        raise InvalidInput("say why the suggestion is wrong", field="reason")
    name, model_id, brand = _scope(session, obs)
    mapping = confirm(
        session,
        name=name,
        accepted=False,
        actor=actor,
        part_id=obs.suggested_part_id,
        model_id=model_id,
        brand=brand,
        reason=reason,
    )
    o = MarketObservation
    session.execute(
        update(o)
        .where(o.source == obs.source, o.item_key == obs.item_key, o.status == "unmatched")
        .values(suggested_part_id=None)
    )
    audit.record(
        session,
        actor=actor,
        action="reject_suggestion",
        entity="market_observations",
        entity_id=obs.id,
        before={"suggested_part_id": mapping.part_id},
        after={"suggested_part_id": None, "mapping_id": mapping.id},
        reason=reason,
    )
    return mapping.id


def mark_not_part(session: Session, observation_id: int, *, actor: str, reason: str = "") -> int:
    """The listing is not a catalogue part (不是目录配件: a tool, a car-care product, a whole
    car): its rows leave the queue, and ingest keeps the listing out of it on re-crawls unless
    the matcher matches it by itself later. Returns the observation id."""
    obs = _unmatched(session, observation_id)
    if not reason.strip():
        raise InvalidInput("say why the listing is not a catalogue part", field="reason")
    o = MarketObservation
    session.execute(
        update(o)
        .where(o.source == obs.source, o.item_key == obs.item_key, o.status == "unmatched")
        .values(status="not_part", suggested_part_id=None)
    )
    audit.record(
        session,
        actor=actor,
        action="not_part",
        entity="market_observations",
        entity_id=obs.id,
        before={"status": "unmatched", "suggested_part_id": obs.suggested_part_id},
        after={"status": "not_part"},
        reason=reason,
    )
    return obs.id


def observations_by_part_code(
    session: Session, part_code: str, *, price_type: str | None = None, limit: int = 500
) -> tuple[Part, list[PartObservation]]:
    """(the part, its matched observations, the latest seen first) for the observations API:
    404 for an unknown part, 422 for an unknown price type."""
    part = session.scalars(select(Part).where(Part.code == part_code)).first()
    if part is None:
        raise NotFound(f"no part {part_code!r}", field="part_code")
    price_type_id = None
    if price_type:
        price_type_id = session.scalar(select(PriceType.id).where(PriceType.code == price_type))
        if price_type_id is None:
            raise InvalidInput(f"unknown price type {price_type!r}", field="price_type")
    return part, list(part_observations(session, part.id, price_type_id=price_type_id, limit=limit))
