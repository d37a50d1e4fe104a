"""Listings to parts: the OE number first (current, then superseded, one statement for a
batch), else the matching engine blocked by the vehicle the listing names; a part that does
not fit that vehicle is at most a suggestion."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from pricebook.market.catalog import MarketCatalog
from pricebook.market.parse import Listing
from pricebook.matching.index import CatalogEntry, MatchIndex
from pricebook.models import OeSupersession, Part

#: Names remembered per process and catalogue version with their match (a re-crawl's names).
MATCH_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class Match:
    """A listing's part (or the suggestion a person should look at) and how sure."""

    part_id: int | None
    suggested_part_id: int | None
    confidence_bp: int
    reason: str


def match_batch(
    session: Session, cat: MarketCatalog, parsed: Sequence[Listing], threshold_bp: int
) -> None:
    """OE numbers first (current, then superseded, one statement); names through the engine."""
    oes = sorted({p.oe for p in parsed if p.oe})
    by_oe: dict[str, list[tuple[int, int]]] = defaultdict(list)  # oe → [(rank, part_id)]
    if oes:
        current = select(
            Part.oe_normalized.label("oe"), Part.id.label("part_id"), literal(0).label("rank")
        ).where(Part.oe_normalized.in_(oes))
        old = select(
            OeSupersession.old_oe_normalized.label("oe"),
            OeSupersession.part_id.label("part_id"),
            literal(1).label("rank"),
        ).where(OeSupersession.old_oe_normalized.in_(oes))
        both = union_all(current, old)
        for oe, part_id, rank in session.execute(both):
            by_oe[oe].append((rank, part_id))

    pending: dict[tuple[int | None, int | None], list[Listing]] = defaultdict(list)
    for p in parsed:
        hits = sorted(set(by_oe.get(p.oe, ()))) if p.oe else []
        if hits:
            best_rank = hits[0][0]
            parts = sorted({pid for rank, pid in hits if rank == best_rank})
            if len(parts) > 1:
                parts = _narrow_by_fitment(cat, parts, p.block_model_id, p.brand_id)
            reason = "oe_exact" if best_rank == 0 else "oe_superseded"
            if len(parts) == 1:
                p.match = Match(parts[0], None, 10000, reason)
                continue
        pending[(p.block_model_id, p.brand_id)].append(p)

    cache = cat.match_cache
    for (model_id, brand_id), group in pending.items():
        names = [
            n
            for n in dict.fromkeys(p.match_name for p in group)
            if (n, model_id, brand_id, threshold_bp) not in cache
        ]
        if names:
            if len(cache) > MATCH_CACHE_SIZE:
                cache.clear()
            found = _match_names(cat.index, names, model_id, brand_id, threshold_bp)
            for name, match in zip(names, found, strict=True):
                cache[(name, model_id, brand_id, threshold_bp)] = match
        for p in group:
            p.match = cache[(p.match_name, model_id, brand_id, threshold_bp)]


def _narrow_by_fitment(
    cat: MarketCatalog, part_ids: list[int], model_id: int | None, brand_id: int | None
) -> list[int]:
    entries = {e.part_id: e for e in cat.index.entries if e.part_id in set(part_ids)}
    if model_id is not None:
        fitting = [
            p for p in part_ids if model_id in entries[p].model_ids or not entries[p].model_ids
        ]
        if fitting:
            return fitting
    if brand_id is not None:
        fitting = [p for p in part_ids if brand_id in entries[p].brand_ids]
        if fitting:
            return fitting
    return part_ids


def _match_names(
    index: MatchIndex,
    names: Sequence[str],
    model_id: int | None,
    brand_id: int | None,
    threshold_bp: int,
) -> list[Match]:
    """Names → matches through the matching engine (isolates its API)."""
    out = []
    for result in index.match(names, model_id=model_id, brand_id=brand_id):
        best = result.best
        if best is None:
            out.append(Match(None, None, 0, ""))
            continue
        bp = round(best.confidence * 10000)
        # The engine falls back to the brand, then the whole catalogue, when the vehicle has no
        # parts of its own: a part of another vehicle is then a suggestion, never the match —
        # unless a person confirmed it for this name and vehicle (reason "learned").
        if (
            result.decision == "matched"
            and bp >= threshold_bp
            and (
                best.reason == "learned"
                or _fits(index.entry_by_code(best.part_code), model_id, brand_id)
            )
        ):
            out.append(Match(best.part_id, None, bp, best.reason))
        else:
            out.append(Match(None, best.part_id, bp, best.reason or ""))
    return out


def _fits(entry: CatalogEntry | None, model_id: int | None, brand_id: int | None) -> bool:
    """The part fits the vehicle the listing names (universal parts fit every vehicle)."""
    if entry is None or not entry.model_ids:
        return True
    if model_id is not None:
        return model_id in entry.model_ids
    return brand_id is None or brand_id in entry.brand_ids
