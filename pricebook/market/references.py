"""Market references per part × region × price type: median, IQR (p25–p75), min/max, count,
sellers and freshness over a window (default 90 days). A region's reference includes its
sub-regions; ``region_id=None`` is the national one. Evidence for people and a *candidate* for
the price API, never a price layer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pricebook.days import day_end, day_start, days_from
from pricebook.db import as_utc
from pricebook.models import MarketObservation, Region
from pricebook.money import FEN, from_fen, to_fen

#: Window of the market reference and of drift detection.
DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True, slots=True)
class MarketReference:
    """The market for one part × region (None = national) × price type over a window."""

    part_id: int
    region_id: int | None
    price_type_id: int
    count: int
    sources: int
    #: distinct sellers (a listing without a named seller counts as its own)
    sellers: int
    median: Decimal
    p25: Decimal
    p75: Decimal
    low: Decimal
    high: Decimal
    #: the freshest `last_seen` among the observations.
    latest: datetime
    window_days: int

    @property
    def median_fen(self) -> int:
        return to_fen(self.median)

    def as_dict(self) -> dict[str, Any]:
        return {
            "region_id": self.region_id,
            "price_type_id": self.price_type_id,
            "count": self.count,
            "sources": self.sources,
            "sellers": self.sellers,
            "median": str(self.median),
            "p25": str(self.p25),
            "p75": str(self.p75),
            "low": str(self.low),
            "high": str(self.high),
            "latest": self.latest.isoformat(),
            "window_days": self.window_days,
        }


def _quantile_fen(sorted_fen: Sequence[int], q: Decimal) -> Decimal:
    """Linear interpolation between closest ranks (the usual "type 7"), in yuan to the fen."""
    n = len(sorted_fen)
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    fen = Decimal(sorted_fen[lo]) + (Decimal(sorted_fen[hi]) - Decimal(sorted_fen[lo])) * frac
    return (fen / 100).quantize(FEN, rounding=ROUND_HALF_UP)


def window(on: date, window_days: int) -> tuple[datetime, datetime]:
    return day_start(days_from(on, -window_days)), day_end(on)


def region_chains(session: Session) -> dict[int, list[int]]:
    """Region id → [itself, parent, …, root] (one statement)."""
    parents = dict(session.execute(select(Region.id, Region.parent_id)).all())
    chains: dict[int, list[int]] = {}
    for region_id in parents:
        chain, seen = [], set()
        current: int | None = region_id
        while current is not None and current not in seen:
            chain.append(current)
            seen.add(current)
            current = parents.get(current)
        chains[region_id] = chain
    return chains


def market_references(
    session: Session,
    part_ids: Iterable[int],
    on: date,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
    chains: Mapping[int, list[int]] | None = None,
) -> dict[tuple[int, int | None, int], MarketReference]:
    """Market references for these parts on ``on``: ``(part_id, region_id, price_type_id)`` →
    `MarketReference`, for every region with observations and its ancestors, and ``None``
    (national). Matched observations seen within ``window_days`` up to ``on`` count, one per
    listing (its latest price). Two statements, whatever the number of parts."""
    ids = sorted(set(part_ids))
    if not ids:
        return {}
    chains = region_chains(session) if chains is None else chains
    since, until = window(on, window_days)
    o = MarketObservation
    rows = session.execute(
        select(
            o.id,
            o.part_id,
            o.region_id,
            o.price_type_id,
            o.amount_fen,
            o.last_seen,
            o.source,
            o.item_key,
            o.seller,
        )
        .where(
            o.part_id.in_(ids),
            o.status == "matched",
            o.price_type_id.is_not(None),
            o.last_seen >= since,
            o.first_seen < until,
        )
        .order_by(o.id)
    ).all()
    # one observation per listing: its latest row in the window
    listings: dict[tuple[Any, ...], Any] = {}
    for row in rows:
        listings[(row.source, row.item_key, row.region_id, row.price_type_id)] = row
    groups: dict[tuple[int, int | None, int], list[Any]] = defaultdict(list)
    for row in listings.values():
        regions: list[int | None] = [*chains.get(row.region_id, []), None]
        for region_id in regions:
            groups[(row.part_id, region_id, row.price_type_id)].append(row)
    refs = {}
    for key, members in groups.items():
        fen = sorted(r.amount_fen for r in members)
        refs[key] = MarketReference(
            part_id=key[0],
            region_id=key[1],
            price_type_id=key[2],
            count=len(fen),
            sources=len({r.source for r in members}),
            # a listing without a named seller is its own seller (one per city it lists in)
            sellers=len(
                {
                    (r.source, r.seller) if r.seller else (r.source, r.item_key, r.region_id)
                    for r in members
                }
            ),
            median=_quantile_fen(fen, Decimal("0.5")),
            p25=_quantile_fen(fen, Decimal("0.25")),
            p75=_quantile_fen(fen, Decimal("0.75")),
            low=from_fen(fen[0]),
            high=from_fen(fen[-1]),
            latest=max(as_utc(r.last_seen) for r in members),
            window_days=window_days,
        )
    return refs


@dataclass(frozen=True, slots=True)
class PartObservation:
    """One matched market price of a part, over the period it was seen unchanged."""

    source: str
    amount: Decimal
    first_seen: datetime
    last_seen: datetime
    region_id: int | None
    price_type_id: int | None
    #: the listing's own page where known, else the page it was found on
    url: str
    seller: str = ""
    #: the label the page gave the amount (会员价, 约 …), None for a bare price
    price_label: str | None = None


#: At most this many observations of a part are read for a chart (the latest ones).
PART_OBSERVATIONS_LIMIT = 500


def part_observations(
    session: Session,
    part_id: int,
    *,
    price_type_id: int | None = None,
    limit: int = PART_OBSERVATIONS_LIMIT,
) -> list[PartObservation]:
    """A part's matched observations, the latest seen first (one statement, on the
    ``(part_id, last_seen)`` index): what the price-history chart overlays as market dots."""
    o = MarketObservation
    stmt = (
        select(
            o.source,
            o.amount_fen,
            o.first_seen,
            o.last_seen,
            o.region_id,
            o.price_type_id,
            o.url,
            o.listing_url,
            o.seller,
            o.price_label,
        )
        .where(o.part_id == part_id, o.status == "matched")
        .order_by(o.last_seen.desc(), o.id.desc())
        .limit(limit)
    )
    if price_type_id is not None:
        stmt = stmt.where(o.price_type_id == price_type_id)
    return [
        PartObservation(
            source=row.source,
            amount=from_fen(row.amount_fen),
            first_seen=as_utc(row.first_seen),
            last_seen=as_utc(row.last_seen),
            region_id=row.region_id,
            price_type_id=row.price_type_id,
            url=row.listing_url or row.url,
            seller=row.seller,
            price_label=row.price_label,
        )
        for row in session.execute(stmt)
    ]


def pick_reference(
    refs: Mapping[tuple[int, int | None, int], MarketReference],
    part_id: int,
    price_type_id: int,
    chain: Sequence[int | None],
    min_observations: int = 1,
) -> MarketReference | None:
    """The most specific reference along ``chain`` (a region, its ancestors, then None for
    national) with at least ``min_observations`` observations from as many distinct sellers:
    one shop listing a part five times is one seller's word, not five."""
    for region_id in chain:
        ref = refs.get((part_id, region_id, price_type_id))
        if ref is not None and ref.sellers >= min_observations:
            return ref
    return None
