"""Market prices: observations, market references and drift detection.

Scrapers only fetch and parse (``scrapers/``); everything after that happens here:

1. **Parse** the price text (`pricebook.market.price_text`): 元, ¥/￥, thousands commas, 万元,
   ranges, per-unit suffixes, labels (会员价, 含税价 …) and the rule that picks one of two
   prices (现价 over 原价, per source configurable); 面议, ``¥99起`` and friends are dropped
   with a reason. A range
   (``850-920元``) counts as its **midpoint**: a listing's range is the spread of what that seller
   asks (brands, grades), the midpoint is the unbiased single figure, and the market reference
   takes a median over many listings anyway. The raw text is kept on the observation.
2. **Match** to the catalogue: the OE number first (``parts.oe_normalized``, then
   ``oe_supersessions``), else the matching engine (`pricebook.matching.MatchIndex`), blocked by
   the brand/series found in the fitment text or, where there is none, in the title
   (`pricebook.market.titles`: "大众朗逸 左后叶子板" is 左后叶子板 among 朗逸's parts); the
   vehicle words never reach the matcher, and a part that does not fit the vehicle named is at
   most a suggestion. Below the confidence threshold the observation is stored ``unmatched``
   (with the best candidate in ``suggested_part_id``) for a person to review.
3. **Store** observations (`ingest_items`), change-only: a listing is (source, `listing_key`,
   region, price type), the key being the source's item id, else the listing's own page, else
   normalised name + OE + fitment text (+ seller): the same title from several sellers is
   several listings, and drift counts distinct sellers. While its amount does not change, its
   latest row's ``last_seen`` moves; a new amount adds a row. Each batch is one transaction and a constant
   number of statements (catalogue version, bulk OE lookup, a lock per source, bulk listing
   lookup, one executemany INSERT, one executemany UPDATE), whatever its size. The lock makes
   ingests of one source at once take turns (`lock_key`: an advisory lock on PostgreSQL, the
   write lock on SQLite), so a listing is never inserted twice.
4. **Market reference** (`market_references`) per part × region × price type: median, IQR
   (p25–p75), min/max, count and freshness over a window (default 90 days). A region's reference
   includes its sub-regions; ``region_id=None`` is the national one. Evidence for people and a
   *candidate* for the price API, never a price layer.
5. **Drift** (`detect_drift`): localized (branch/region) and system prices in force compared with
   the market median of the most specific region (the price's region, then its ancestors, then
   national) that has enough observations; beyond the threshold a drift task opens in the
   feedback queue, or the open one is updated (`pricebook.feedback.open_or_update_drift`);
   back within it, the open task is closed as ``resolved_by_market`` (reopened if it widens).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from pricebook.db import as_utc, make_engine, transaction
from pricebook.market.price_text import explain_price, parse_price, read_price
from pricebook.market.titles import VehicleWords
from pricebook.matching.loader import build_snapshot, catalog_generation
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    Branch,
    Brand,
    MarketObservation,
    OeSupersession,
    Part,
    PriceType,
    Region,
    Series,
    VehicleModel,
)
from pricebook.money import FEN, from_fen, to_fen
from pricebook.price_words import load_words as load_price_type_words
from pricebook.price_words import resolve as resolve_price_type
from pricebook.settings import Settings

__all__ = [
    "DEFAULT_DRIFT_MIN_OBSERVATIONS",
    "DEFAULT_DRIFT_THRESHOLD_PCT",
    "DEFAULT_MATCH_THRESHOLD_BP",
    "DEFAULT_WINDOW_DAYS",
    "DriftFinding",
    "DriftReport",
    "IngestResult",
    "MarketReference",
    "PartObservation",
    "explain_price",
    "ingest_items",
    "market_references",
    "parse_price",
    "part_observations",
    "pick_reference",
    "read_price",
    "region_chains",
]

#: Window of the market reference and of drift detection.
DEFAULT_WINDOW_DAYS = 90
#: Drift: a price further than this from the market median (percent of the median) is flagged.
DEFAULT_DRIFT_THRESHOLD_PCT = Decimal("20")
#: Drift: fewer market observations than this in a region chain are not evidence enough.
DEFAULT_DRIFT_MIN_OBSERVATIONS = 3
#: Matching: a name match is stored as matched only when the engine decides "matched" with at
#: least this confidence (basis points). OE matches are 10000.
DEFAULT_MATCH_THRESHOLD_BP = 7500
#: Items per transaction when `ingest_items` is given more than that.
INGEST_CHUNK = 1000
#: Names remembered per process and catalogue version with their match (a re-crawl's names).
MATCH_CACHE_SIZE = 200_000

# --------------------------------------------------------------------------------------------
# Price text
# --------------------------------------------------------------------------------------------

# The reading itself lives in `pricebook.market.price_text` (labels, qualifiers, two prices).


# --------------------------------------------------------------------------------------------
# The catalogue as ingest needs it (built once per process and catalogue version)
# --------------------------------------------------------------------------------------------


@dataclass
class _Catalog:
    #: `catalog_generation` it was built at
    generation: tuple[int, int]
    index: Any  # pricebook.matching.MatchIndex
    regions_by_code: dict[str, int]
    regions_by_name: dict[str, int]
    price_types: dict[str, int]  # code or name (lower case) → id
    #: the catalogue's brand and series words, for titles and fitment texts
    vehicle_words: VehicleWords
    #: series id → [(model id, model year)], by model id
    series_models: dict[int, list[tuple[int, int]]]
    #: the price type vocabulary (word → code), loaded with the catalogue: an edit moves the
    #: catalogue version, so the next batch reads it
    price_type_words: dict[str, str] = field(default_factory=dict)
    hint_cache: dict[tuple[str, tuple[tuple[str, str], ...]], int | None] = field(
        default_factory=dict
    )
    #: (name, model, brand, threshold) → match: a re-crawl does not match the same names again.
    match_cache: dict[tuple[str, int | None, int | None, int], _Match] = field(default_factory=dict)

    def price_type_id(
        self, hint: str | None, overrides: Mapping[str, str] | None = None
    ) -> int | None:
        """The price type a listing's hint means: the source's own words first, then the one
        vocabulary (`pricebook.price_words.resolve`)."""
        key = (hint or "", tuple(sorted((overrides or {}).items())))
        if key not in self.hint_cache:
            self.hint_cache[key] = resolve_price_type(
                hint, self.price_type_words, self.price_types, overrides
            )
        return self.hint_cache[key]

    def region_id(self, code: str | None, text: str | None) -> int | None:
        if text:
            t = text.strip()
            found = self.regions_by_name.get(t) or self.regions_by_code.get(t)
            if found is not None:
                return found
        return self.regions_by_code.get((code or "").strip())

    def vehicle(
        self, title: str, fitment: str | None
    ) -> tuple[int | None, int | None, int | None, str]:
        """(brand id, model id to block the matcher with, model id to store, the title without
        its vehicle words) from the fitment text ("大众 高尔夫7 2014-2019") and, where that names
        no vehicle, from the title ("大众朗逸 左后叶子板 原厂"). A model is stored only when the
        series (narrowed by the model year written, if any) has one."""
        in_title = self.vehicle_words.find(title)
        found = self.vehicle_words.find(fitment) if fitment else None
        if found is None or (found.brand_id is None and found.series_id is None):
            found = in_title
        rest = in_title.rest or title
        if found.series_id is None:
            return found.brand_id, None, None, rest
        models = self.series_models.get(found.series_id, [])
        if found.model_year is not None:
            models = [m for m in models if m[1] == found.model_year] or models
        if not models:
            return found.brand_id, None, None, rest
        stored = models[0][0] if len(models) == 1 else None
        return found.brand_id, models[0][0], stored, rest


_catalog_lock = threading.Lock()
_catalog_cache: dict[str, _Catalog] = {}


def _catalog(session: Session) -> _Catalog:
    """The process's catalogue cache for this database, rebuilt when the catalogue moved
    (`catalog_generation`: counted at commit, so no change is missed)."""
    key = str(session.get_bind().engine.url)
    generation = catalog_generation(session)
    with _catalog_lock:
        cached = _catalog_cache.get(key)
        if cached is None or cached.generation != generation:
            cached = _catalog_cache[key] = _load_catalog(session, generation)
        return cached


def _load_catalog(session: Session, generation: tuple[int, int]) -> _Catalog:
    regions = session.execute(select(Region.id, Region.code, Region.name)).all()
    by_name: dict[str, int] = {}
    for id_, _code, name in regions:
        by_name[name] = id_
        short = re.sub(r"(省|市|自治区|特别行政区)$", "", name)
        by_name.setdefault(short, id_)
    types: dict[str, int] = {}
    for id_, code, name in session.execute(select(PriceType.id, PriceType.code, PriceType.name)):
        types[code.lower()] = id_
        for part in re.split(r"[/、|]", name):
            if part.strip():
                types.setdefault(part.strip().lower(), id_)
    brands = [(id_, name) for id_, name in session.execute(select(Brand.id, Brand.name))]
    series = [
        (i, b, n) for i, b, n in session.execute(select(Series.id, Series.brand_id, Series.name))
    ]
    series_models: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for model_id, series_id, year in session.execute(
        select(VehicleModel.id, VehicleModel.series_id, VehicleModel.model_year).order_by(
            VehicleModel.id
        )
    ):
        series_models[series_id].append((model_id, year))
    return _Catalog(
        generation=generation,
        # The matching index is built the one way every index is (`pricebook.matching.loader`):
        # the synonym dictionary in force, the latest verdict per learned mapping. Not warmed:
        # most listings are blocked by brand or model, and the whole-catalogue block is built
        # by the first listing that needs it.
        index=build_snapshot(session, warm=False).index,
        regions_by_code={code: id_ for id_, code, _ in regions},
        regions_by_name=by_name,
        price_types=types,
        price_type_words=load_price_type_words(session),
        vehicle_words=VehicleWords(brands, series),
        series_models=dict(series_models),
    )


@dataclass(frozen=True, slots=True)
class _Match:
    part_id: int | None
    suggested_part_id: int | None
    confidence_bp: int
    reason: str


def _match_names(
    index: Any, names: Sequence[str], model_id: int | None, brand_id: int | None, threshold_bp: int
) -> list[_Match]:
    """Names → matches through the matching engine (isolates its API)."""
    out = []
    for result in index.match(names, model_id=model_id, brand_id=brand_id):
        best = result.best
        if best is None:
            out.append(_Match(None, None, 0, ""))
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
            out.append(_Match(best.part_id, None, bp, best.reason))
        else:
            out.append(_Match(None, best.part_id, bp, best.reason or ""))
    return out


def _fits(entry: Any, model_id: int | None, brand_id: int | None) -> bool:
    """The part fits the vehicle the listing names (universal parts fit every vehicle)."""
    if entry is None or not entry.model_ids:
        return True
    if model_id is not None:
        return model_id in entry.model_ids
    return brand_id is None or brand_id in entry.brand_ids


# --------------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    """What one or more batches did. Numeric fields become crawl stats
    (``pricebook/ingest/<field>``), ``dropped_by_reason`` ``pricebook/ingest/dropped_by_reason/<r>``."""

    items: int = 0
    matched: int = 0
    unmatched: int = 0
    dropped: int = 0
    new: int = 0
    updated_last_seen: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped += 1
        self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + 1

    def add(self, other: IngestResult) -> None:
        for key, value in asdict(other).items():
            if isinstance(value, int):
                setattr(self, key, getattr(self, key) + value)
        for reason, n in other.dropped_by_reason.items():
            self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + n


_engines_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def _engine_for(target: Any) -> Engine:
    """An Engine, pricebook `Settings`, or Scrapy settings (``PRICEBOOK_DATABASE_URL`` there or
    in the environment): one engine per database URL per process."""
    if isinstance(target, Engine):
        return target
    if isinstance(target, Settings):
        settings = target
    else:
        settings = Settings.from_env()
        url = target.get("PRICEBOOK_DATABASE_URL") if hasattr(target, "get") else None
        if url:
            settings = Settings(database_url=str(url))
    with _engines_lock:
        engine = _engines.get(settings.database_url)
        if engine is None:
            engine = _engines[settings.database_url] = make_engine(settings)
        return engine


def dispose_engines() -> None:
    """Close the engines `ingest_items` opened (the crawl pipeline calls this at the end)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def ingest_items(
    target: Any,
    items: Sequence[Mapping[str, Any]],
    run_id: int | None = None,
    *,
    threshold_bp: int = DEFAULT_MATCH_THRESHOLD_BP,
    chunk: int = INGEST_CHUNK,
) -> IngestResult:
    """Validate, match and store raw market items (`scrapers.items.MarketItem` dicts), one
    transaction per ``chunk`` items. ``target``: Engine, `Settings` or Scrapy settings."""
    engine = _engine_for(target)
    total = IngestResult()
    for start in range(0, len(items), chunk):
        with transaction(engine) as session:
            total.add(ingest_batch(session, items[start : start + chunk], run_id, threshold_bp))
    return total


@dataclass(slots=True)
class _Parsed:
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
    match: _Match | None = None


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


def _text(value: Any) -> str:
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


_UPDATED_COLUMNS = (
    "last_seen", "last_run_id", "part_id", "suggested_part_id", "model_id", "confidence_bp",
    "match_reason", "status",
)  # fmt: skip


def ingest_batch(
    session: Session,
    items: Sequence[Mapping[str, Any]],
    run_id: int | None = None,
    threshold_bp: int = DEFAULT_MATCH_THRESHOLD_BP,
    now: datetime | None = None,
) -> IngestResult:
    """One batch in the caller's transaction, in a constant number of statements."""
    result = IngestResult(items=len(items))
    now = as_utc(now or datetime.now(UTC))
    cat = _catalog(session)  # 1 statement (the version), more only when it moved

    parsed: list[_Parsed] = []
    for item in items:
        name = _text(item.get("raw_name"))
        if not name:
            result.drop("missing_name")
            continue
        amount, reason = explain_price(
            item.get("raw_price"), item.get("price_unit_hint"), item.get("price_preference")
        )
        if amount is None:
            result.drop(reason)
            continue
        oe_raw = _text(item.get("raw_oe"))
        fitment = _text(item.get("raw_brand_text"))
        item_id = _text(item.get("item_id"))
        listing_url = _text(item.get("listing_url"))
        seller = _text(item.get("seller"))
        brand_id, block_model, model_id, match_name = cat.vehicle(name, fitment)
        parsed.append(
            _Parsed(
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
                    name, oe_raw, fitment, item_id=item_id, listing_url=listing_url, seller=seller
                ),
            )
        )
    if not parsed:
        return result

    _match_batch(session, cat, parsed, threshold_bp)  # 1 statement (OE lookup)

    # Writers of one source's listings take turns from here to the commit (crawls at once,
    # the same source twice): read, decide and write as one step, or both would read "no
    # row yet" and insert the listing twice. Sorted: no deadlock. 1 statement per source
    # (a crawl's batch has one); other sources' writers do not wait (PostgreSQL).
    from pricebook.versioned import lock_key

    sources = sorted({_text(p.item.get("source")) for p in parsed})
    for source in sources:
        lock_key(session, "market_observations", source)

    # The latest row of every listing in the batch: 1 statement.
    keys = sorted({p.item_key for p in parsed})
    latest: dict[tuple[Any, ...], Any] = {}
    for row in session.execute(
        select(
            MarketObservation.id, MarketObservation.source, MarketObservation.item_key,
            MarketObservation.region_id, MarketObservation.price_type_id,
            MarketObservation.amount_fen, MarketObservation.last_seen,
        )
        .where(MarketObservation.source.in_(sources), MarketObservation.item_key.in_(keys))
        .order_by(MarketObservation.id)
    ):  # fmt: skip
        latest[(row.source, row.item_key, row.region_id, row.price_type_id)] = {
            "id": row.id, "amount_fen": row.amount_fen, "last_seen": as_utc(row.last_seen),
        }  # fmt: skip

    inserts: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for p in parsed:
        m = p.match
        assert m is not None
        if m.part_id is not None:
            result.matched += 1
        else:
            result.unmatched += 1
        source = _text(p.item.get("source"))
        match_values = {
            "part_id": m.part_id,
            "suggested_part_id": m.suggested_part_id,
            "model_id": p.model_id,
            "confidence_bp": m.confidence_bp,
            "match_reason": m.reason,
            "status": "matched" if m.part_id is not None else "unmatched",
        }
        key = (source, p.item_key, p.region_id, p.price_type_id)
        current = latest.get(key)
        if current is not None and current["amount_fen"] == p.amount_fen:
            result.updated_last_seen += 1
            if "id" not in current:  # a row inserted earlier in this batch
                row = current["row"]
                row["last_seen"] = max(row["last_seen"], p.fetched_at)
                row["last_run_id"] = run_id
                continue
            pending = updates.get(current["id"])
            seen = max(
                current["last_seen"],
                p.fetched_at,
                pending["last_seen"] if pending else p.fetched_at,
            )
            updates[current["id"]] = {
                "id": current["id"],
                "last_seen": seen,
                "last_run_id": run_id,
                **match_values,
            }
            continue
        result.new += 1
        new_row = {
            "source": source,
            "item_key": p.item_key,
            "url": _text(p.item.get("url")),
            "listing_url": _text(p.item.get("listing_url")),
            "item_id": _text(p.item.get("item_id")),
            "seller": _text(p.item.get("seller")),
            "fetched_at": p.fetched_at,
            "first_seen": p.fetched_at,
            "last_seen": p.fetched_at,
            "raw_name": p.name,
            "raw_price": _text(p.item.get("raw_price")),
            "raw_oe": _text(p.item.get("raw_oe")),
            "raw_brand_text": _text(p.item.get("raw_brand_text")),
            "raw_region": _text(p.item.get("raw_region")),
            "price_type_hint": _text(p.item.get("price_type_hint")),
            "region_id": p.region_id,
            "price_type_id": p.price_type_id,
            "amount_fen": p.amount_fen,
            "run_id": run_id,
            "last_run_id": run_id,
            **match_values,
        }
        inserts.append(new_row)
        latest[key] = {"amount_fen": p.amount_fen, "row": new_row}

    # Core statements, not the ORM's bulk paths: the ORM splits executemany batches wherever
    # a row's NULL columns differ (matched vs unmatched), which would make the count grow.
    table = MarketObservation.metadata.tables[MarketObservation.__tablename__]
    if inserts:
        session.execute(table.insert(), inserts)  # 1 executemany
    if updates:
        stmt = (
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in _UPDATED_COLUMNS})
        )
        params = [
            {"b_id": u["id"], **{f"b_{c}": u[c] for c in _UPDATED_COLUMNS}}
            for u in updates.values()
        ]
        session.execute(stmt, params)  # 1 executemany
    return result


def _match_batch(session: Session, cat: _Catalog, parsed: list[_Parsed], threshold_bp: int) -> None:
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

    pending: dict[tuple[int | None, int | None], list[_Parsed]] = defaultdict(list)
    for p in parsed:
        hits = sorted(set(by_oe.get(p.oe, ()))) if p.oe else []
        if hits:
            best_rank = hits[0][0]
            parts = sorted({pid for rank, pid in hits if rank == best_rank})
            if len(parts) > 1:
                parts = _narrow_by_fitment(cat, parts, p.block_model_id, p.brand_id)
            reason = "oe_exact" if best_rank == 0 else "oe_superseded"
            if len(parts) == 1:
                p.match = _Match(parts[0], None, 10000, reason)
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
    cat: _Catalog, part_ids: list[int], model_id: int | None, brand_id: int | None
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


# --------------------------------------------------------------------------------------------
# Market reference
# --------------------------------------------------------------------------------------------


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


def _window(on: date, window_days: int) -> tuple[datetime, datetime]:
    until = datetime.combine(on + timedelta(days=1), time.min, tzinfo=UTC)
    return until - timedelta(days=window_days + 1), until


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
    since, until = _window(on, window_days)
    o = MarketObservation
    rows = session.execute(
        select(o.id, o.part_id, o.region_id, o.price_type_id, o.amount_fen, o.last_seen, o.source, o.item_key, o.seller)
        .where(
            o.part_id.in_(ids), o.status == "matched", o.price_type_id.is_not(None),
            o.last_seen >= since, o.first_seen < until,
        )
        .order_by(o.id)
    ).all()  # fmt: skip
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
        select(o.source, o.amount_fen, o.first_seen, o.last_seen, o.region_id, o.price_type_id, o.url, o.listing_url, o.seller)
        .where(o.part_id == part_id, o.status == "matched")
        .order_by(o.last_seen.desc(), o.id.desc())
        .limit(limit)
    )  # fmt: skip
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


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriftFinding:
    part_id: int
    branch_id: int | None
    price_type_id: int
    model_id: int | None
    price_id: int
    scope: str
    price_fen: int
    market: MarketReference
    deviation_bp: int  # (price − median) / median, basis points
    #: the threshold that applied (basis points): beyond it the price drifts
    limit_bp: int = 0

    @property
    def drifting(self) -> bool:
        return abs(self.deviation_bp) > self.limit_bp


@dataclass
class DriftReport:
    """What a drift run did to the queue. ``tasks`` lists every task it touched:
    (outcome, task id) with outcome opened, reopened, updated or closed."""

    checked: int = 0
    drifting: int = 0
    opened: int = 0
    #: a task the market had closed, reopened because the gap widened again
    reopened: int = 0
    updated: int = 0
    unchanged: int = 0
    #: closed as `resolved_by_market`: the price is back within the threshold
    closed: int = 0
    #: drifting, but staff already resolved a task about this very price version.
    already_resolved: int = 0
    findings: list[DriftFinding] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)
    tasks: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"drift: {self.checked} prices checked, {self.drifting} off the market; "
            f"tasks opened {self.opened}, updated {self.updated}, unchanged {self.unchanged}, "
            f"closed {self.closed} (back within the threshold), reopened {self.reopened}, "
            f"already resolved {self.already_resolved}"
        ]
        for outcome in ("opened", "reopened", "updated", "closed"):
            ids = [f"#{task_id}" for o, task_id in self.tasks if o == outcome]
            if ids:
                lines.append(f"  {outcome}: {', '.join(ids)}")
        return "\n".join(lines)


def deviation_bp(price_fen: int, median_fen: int) -> int:
    """(price − median) / median in basis points, rounded half away from zero."""
    value = (Decimal(price_fen - median_fen) * 10000 / Decimal(median_fen)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(value)


def find_drift(
    session: Session,
    on: date,
    *,
    threshold_pct: Decimal | int | str = DEFAULT_DRIFT_THRESHOLD_PCT,
    min_observations: int = DEFAULT_DRIFT_MIN_OBSERVATIONS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    branch_thresholds: Mapping[int, Decimal | int | str] | None = None,
) -> tuple[int, list[DriftFinding]]:
    """(prices checked, findings): localized and system prices in force on ``on`` that are off
    the market median by more than the threshold. Writes nothing."""
    checked, compared = compare_with_market(
        session, on, threshold_pct=threshold_pct, min_observations=min_observations,
        window_days=window_days, branch_thresholds=branch_thresholds,
    )  # fmt: skip
    return checked, [f for f in compared if f.drifting]


def compare_with_market(
    session: Session,
    on: date,
    *,
    threshold_pct: Decimal | int | str = DEFAULT_DRIFT_THRESHOLD_PCT,
    min_observations: int = DEFAULT_DRIFT_MIN_OBSERVATIONS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    branch_thresholds: Mapping[int, Decimal | int | str] | None = None,
) -> tuple[int, list[DriftFinding]]:
    """(prices checked, every comparison): localized and system prices in force on ``on`` with
    the market median they were compared with, drifting or not (`DriftFinding.drifting`): the
    ones within the threshold close the tasks the market answered. Writes nothing."""
    from pricebook.prices import versions_in_force

    since, until = _window(on, window_days)
    o = MarketObservation
    part_ids = [
        part_id
        for part_id in session.scalars(
            select(o.part_id)
            .where(o.status == "matched", o.part_id.is_not(None), o.last_seen >= since, o.first_seen < until)
            .distinct()
        )
        if part_id is not None
    ]  # fmt: skip
    if not part_ids:
        return 0, []
    chains = region_chains(session)
    refs = market_references(session, part_ids, on, window_days=window_days, chains=chains)
    branches = dict(session.execute(select(Branch.id, Branch.region_id)).all())
    branches_at: dict[int, list[int]] = defaultdict(list)
    for branch_id, region_id in sorted(branches.items()):
        branches_at[region_id].append(branch_id)
    default_bp = int(Decimal(str(threshold_pct)) * 100)
    limits = {b: int(Decimal(str(v)) * 100) for b, v in (branch_thresholds or {}).items()}

    prices = []
    for start in range(0, len(part_ids), 5000):
        prices += versions_in_force(session, part_ids[start : start + 5000], on)
    # the part-wide price first (model-specific ones only where there is none), oldest id first
    prices.sort(key=lambda p: (p.model_id is not None, p.id))
    checked = 0
    seen: set[tuple[int, int | None, int]] = set()
    findings: list[DriftFinding] = []
    for price in prices:
        if price.scope == "system":
            targets: list[tuple[int | None, list[int | None]]] = [(None, [None])]
        elif price.scope == "branch":
            assert price.branch_id is not None
            chain = chains.get(branches.get(price.branch_id, -1), [])
            targets = [(price.branch_id, [*chain, None])]
        else:
            assert price.region_id is not None
            chain = chains.get(price.region_id, [])
            targets = [(b, [*chain, None]) for b in branches_at.get(price.region_id, [])]
        for at_branch, regions_up in targets:
            key = (price.part_id, at_branch, price.price_type_id)
            if key in seen:
                continue
            seen.add(key)
            ref = pick_reference(
                refs, price.part_id, price.price_type_id, regions_up, min_observations
            )
            if ref is None:
                continue
            checked += 1
            price_fen = to_fen(price.amount)
            dev = deviation_bp(price_fen, ref.median_fen)
            limit = limits.get(at_branch, default_bp) if at_branch is not None else default_bp
            findings.append(
                DriftFinding(
                    part_id=price.part_id, branch_id=at_branch,
                    price_type_id=price.price_type_id, model_id=price.model_id,
                    price_id=price.id, scope=price.scope, price_fen=price_fen, market=ref,
                    deviation_bp=dev, limit_bp=limit,
                )
            )  # fmt: skip
    return checked, findings


def detect_drift(
    session: Session,
    on: date,
    *,
    threshold_pct: Decimal | int | str = DEFAULT_DRIFT_THRESHOLD_PCT,
    min_observations: int = DEFAULT_DRIFT_MIN_OBSERVATIONS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    branch_thresholds: Mapping[int, Decimal | int | str] | None = None,
    actor: str = "market-drift",
) -> DriftReport:
    """Compare prices with the market (`compare_with_market`) and make the drift tasks follow
    it, in the caller's transaction: a drifting price opens one task per part × branch × price
    type, or updates the open one with the latest median, gap, count and sellers, or reopens
    the one the market had closed; an open task whose price is back within the threshold is
    closed as ``resolved_by_market``. A task whose key has no market reference this run (too
    few observations in the window) stays as it is: no evidence either way.

    ``threshold_pct`` is the default; ``branch_thresholds`` (branch id → percent) overrides it
    per branch (rule profiles will feed it). A price version whose drift task staff already
    accepted or rejected does not reopen one; a new version of the price can.
    """
    from pricebook import feedback

    report = DriftReport()
    report.checked, compared = compare_with_market(
        session, on, threshold_pct=threshold_pct, min_observations=min_observations,
        window_days=window_days, branch_thresholds=branch_thresholds,
    )  # fmt: skip
    findings = [f for f in compared if f.drifting]
    report.drifting = len(findings)
    report.findings = findings
    resolved = feedback.resolved_price_ids(session, "drift", {f.part_id for f in findings})
    for f in findings:
        if f.price_id in resolved.get((f.part_id, f.branch_id, f.price_type_id), set()):
            report.already_resolved += 1
            continue
        outcome, task_id = feedback.open_or_update_drift(
            session, part_id=f.part_id, branch_id=f.branch_id, price_type_id=f.price_type_id,
            model_id=f.model_id, reference_fen=f.price_fen, observed_fen=f.market.median_fen,
            evidence=_drift_evidence(f, on), note=drift_note(f), actor=actor,
        )  # fmt: skip
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.task_ids.append(task_id)
        if outcome != "unchanged":
            report.tasks.append((outcome, task_id))

    # Tasks the market answered: the price is back within the threshold of the median.
    within = [f for f in compared if not f.drifting]
    open_tasks = feedback.unresolved_drift_tasks(session, {f.part_id for f in within})
    for f in within:
        open_id = open_tasks.get((f.part_id, f.branch_id, f.price_type_id))
        if open_id is None:
            continue
        if feedback.close_drift_by_market(
            session, open_id, reference_fen=f.price_fen, observed_fen=f.market.median_fen,
            evidence=_drift_evidence(f, on), reason=drift_note(f), actor=actor,
        ):  # fmt: skip
            report.closed += 1
            report.tasks.append(("closed", open_id))
    return report


def _drift_evidence(f: DriftFinding, on: date) -> dict[str, Any]:
    return {
        "price_id": f.price_id,
        "scope": f.scope,
        "price": str(from_fen(f.price_fen)),
        "deviation_pct": str((Decimal(f.deviation_bp) / 100).quantize(Decimal("0.01"))),
        "threshold_pct": str((Decimal(f.limit_bp) / 100).quantize(Decimal("0.01"))),
        "within_threshold": not f.drifting,
        "market": f.market.as_dict(),
        "on": on.isoformat(),
    }


def drift_note(f: DriftFinding) -> str:
    """The task's note as pricing staff read it in the (Chinese) UI: the gap and the evidence;
    for a price back within the threshold, why the market closed the task."""
    pct = f"{abs(f.deviation_bp) / 100:.1f}%"
    threshold = f"{Decimal(f.limit_bp) / 100:.1f}%"
    m = f.market
    price = from_fen(f.price_fen)
    evidence = (
        f"{m.count} 条报价，{m.sellers} 个卖家，{m.sources} 个来源，p25–p75 {m.p25}–{m.p75} 元"
    )
    if f.drifting:
        direction = "高" if f.deviation_bp > 0 else "低"
        return (
            f"价格 {price} 元比市场中位数 {m.median} 元{direction} {pct}，超过阈值 {threshold}"
            f"（{evidence}）"
        )
    return (
        f"价格 {price} 元与市场中位数 {m.median} 元相差 {pct}，已回到阈值 {threshold} 以内，"
        f"由市场关闭（{evidence}）"
    )
