"""Raw market items (`scrapers.items.MarketItem` dicts) read into listings: the name, the price
(`pricebook.market.price_text`), the vehicle, region and price type the listing names, and the
key that identifies it within its source. An item without a name or a usable price is dropped
with the reason."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pricebook.db import as_utc
from pricebook.market.catalog import MarketCatalog
from pricebook.market.price_text import explain_price
from pricebook.matching.normalize import normalize_oe
from pricebook.money import to_fen

if TYPE_CHECKING:
    from pricebook.market.match import Match


@dataclass(slots=True)
class Listing:
    """A market item as read: what matching and storing need."""

    item: Mapping[str, Any]
    name: str
    #: the name the matcher sees: the title without its vehicle words
    match_name: str
    amount_fen: int
    fetched_at: datetime
    oe: str
    region_id: int | None
    price_type_id: int | None
    brand_id: int | None
    block_model_id: int | None
    model_id: int | None
    item_key: str
    match: Match | None = None


def parse_items(
    items: Sequence[Mapping[str, Any]], cat: MarketCatalog, now: datetime
) -> tuple[list[Listing], list[str]]:
    """The items that are listings, and the reason each other item was dropped."""
    listings: list[Listing] = []
    dropped: list[str] = []
    for item in items:
        read = parse_item(item, cat, now)
        if isinstance(read, str):
            dropped.append(read)
        else:
            listings.append(read)
    return listings, dropped


def parse_item(item: Mapping[str, Any], cat: MarketCatalog, now: datetime) -> Listing | str:
    """One item as a listing, or why it is not one."""
    name = clean_text(item.get("raw_name"))
    if not name:
        return "missing_name"
    amount, reason = explain_price(
        item.get("raw_price"), item.get("price_unit_hint"), item.get("price_preference")
    )
    if amount is None:
        return reason
    oe_raw = clean_text(item.get("raw_oe"))
    fitment = clean_text(item.get("raw_brand_text"))
    brand_id, block_model, model_id, match_name = cat.vehicle(name, fitment)
    return Listing(
        item=item,
        name=name,
        match_name=match_name,
        amount_fen=to_fen(amount),
        fetched_at=_fetched_at(item.get("fetched_at"), now),
        oe=normalize_oe(oe_raw) if oe_raw else "",
        region_id=cat.region_id(item.get("region_code"), item.get("raw_region")),
        price_type_id=cat.price_type_id(
            item.get("price_type_hint"), _overrides(item.get("price_type_words"))
        ),
        brand_id=brand_id,
        block_model_id=block_model,
        model_id=model_id,
        item_key=listing_key(
            name,
            oe_raw,
            fitment,
            item_id=clean_text(item.get("item_id")),
            listing_url=clean_text(item.get("listing_url")),
            seller=clean_text(item.get("seller")),
        ),
    )


def _overrides(value: Any) -> dict[str, str] | None:
    """A source's price type words as the item carries them (a mapping of strings)."""
    if not isinstance(value, Mapping):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _fetched_at(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value)))
    except (TypeError, ValueError):
        return now


def clean_text(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""


def listing_key(
    name: str, oe: str, fitment: str, *, item_id: str = "", listing_url: str = "", seller: str = ""
) -> str:
    """What identifies a listing within its source, whatever page it is on today: the source's
    item id, else the listing's own page, else title + OE + fitment (+ the seller, where named).
    The same title from several sellers is several listings; without any of the three a
    listing keeps the key it always had."""
    if item_id:
        text = f"id:{item_id}"
    elif listing_url:
        text = f"url:{listing_url}"
    else:
        text = f"{name}|{oe}|{fitment}" + (f"|seller:{seller}" if seller else "")
    norm = unicodedata.normalize("NFKC", text).lower()
    return hashlib.sha1(re.sub(r"\s+", "", norm).encode()).hexdigest()[:32]
