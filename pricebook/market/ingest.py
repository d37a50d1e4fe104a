"""Store market listings as observations, change-only: a listing is (source, `listing_key`,
region, price type). While its amount does not change, its latest row's ``last_seen`` moves;
a new amount adds a row. Each batch is one transaction and a constant number of statements
(generations, bulk OE lookup, a lock per source, bulk listing lookup, one executemany INSERT,
one executemany UPDATE), whatever its size."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from pricebook.db import as_utc, make_engine, transaction
from pricebook.market.catalog import _catalog
from pricebook.market.match import Match, match_batch
from pricebook.market.parse import Listing, clean_text, parse_items
from pricebook.models import MarketObservation
from pricebook.settings import Settings

#: Matching: a name match is stored as matched only when the engine decides "matched" with at
#: least this confidence (basis points). OE matches are 10000.
DEFAULT_MATCH_THRESHOLD_BP = 7500
#: Items per transaction when `ingest_items` is given more than that.
INGEST_CHUNK = 1000


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


class SettingsLookup(Protocol):
    """Scrapy's settings as ingest reads them (the core does not import Scrapy)."""

    def get(self, name: str, default: object = None) -> object: ...


#: where ingest stores: an Engine, pricebook `Settings`, or a crawl's Scrapy settings
IngestTarget = Engine | Settings | SettingsLookup


def _engine_for(target: IngestTarget) -> Engine:
    """An Engine, pricebook `Settings`, or Scrapy settings (``PRICEBOOK_DATABASE_URL`` there or
    in the environment): one engine per database URL per process."""
    if isinstance(target, Engine):
        return target
    if isinstance(target, Settings):
        settings = target
    else:
        settings = Settings.from_env()
        url = target.get("PRICEBOOK_DATABASE_URL")
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
    target: IngestTarget,
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


_UPDATED_COLUMNS = (
    "last_seen",
    "last_run_id",
    "part_id",
    "suggested_part_id",
    "model_id",
    "confidence_bp",
    "match_reason",
    "status",
)
#: a listing's latest row: (source, item key, region, price type) → what a batch needs of it
_Latest = dict[tuple[Any, ...], dict[str, Any]]


def ingest_batch(
    session: Session,
    items: Sequence[Mapping[str, Any]],
    run_id: int | None = None,
    threshold_bp: int = DEFAULT_MATCH_THRESHOLD_BP,
    now: datetime | None = None,
) -> IngestResult:
    """One batch in the caller's transaction, in a constant number of statements."""
    result = IngestResult(items=len(items))
    cat = _catalog(session)  # 1 statement (the generations), more only when they moved
    parsed, dropped = parse_items(items, cat, as_utc(now or datetime.now(UTC)))
    for reason in dropped:
        result.drop(reason)
    if not parsed:
        return result
    match_batch(session, cat, parsed, threshold_bp)  # 1 statement (OE lookup)
    sources = _lock_sources(session, parsed)
    latest = _latest_rows(session, sources, parsed)
    inserts, updates = _plan_rows(parsed, latest, run_id, result)
    _write_rows(session, inserts, updates)
    return result


def _lock_sources(session: Session, parsed: Sequence[Listing]) -> list[str]:
    """Writers of one source's listings take turns from here to the commit (crawls at once,
    the same source twice): read, decide and write as one step, or both would read "no row
    yet" and insert the listing twice. Sorted: no deadlock. 1 statement per source (a crawl's
    batch has one); other sources' writers do not wait (PostgreSQL)."""
    from pricebook.versioned import lock_key

    sources = sorted({clean_text(p.item.get("source")) for p in parsed})
    for source in sources:
        lock_key(session, "market_observations", source)
    return sources


def _latest_rows(session: Session, sources: list[str], parsed: Sequence[Listing]) -> _Latest:
    """The latest row of every listing in the batch: 1 statement."""
    keys = sorted({p.item_key for p in parsed})
    latest: _Latest = {}
    for row in session.execute(
        select(
            MarketObservation.id,
            MarketObservation.source,
            MarketObservation.item_key,
            MarketObservation.region_id,
            MarketObservation.price_type_id,
            MarketObservation.amount_fen,
            MarketObservation.last_seen,
            MarketObservation.status,
        )
        .where(MarketObservation.source.in_(sources), MarketObservation.item_key.in_(keys))
        .order_by(MarketObservation.id)
    ):
        latest[(row.source, row.item_key, row.region_id, row.price_type_id)] = {
            "id": row.id,
            "amount_fen": row.amount_fen,
            "last_seen": as_utc(row.last_seen),
            "status": row.status,
        }
    return latest


def _plan_rows(
    parsed: Sequence[Listing], latest: _Latest, run_id: int | None, result: IngestResult
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """(rows to insert, updates by row id): a listing whose amount did not change moves its
    latest row's `last_seen` (a row inserted earlier in this batch included); one whose amount
    changed, or a new one, is a new row."""
    inserts: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for p in parsed:
        assert p.match is not None
        if p.match.part_id is not None:
            result.matched += 1
        else:
            result.unmatched += 1
        source = clean_text(p.item.get("source"))
        key = (source, p.item_key, p.region_id, p.price_type_id)
        current = latest.get(key)
        match_values = _match_values(p, p.match, current)
        if current is not None and current["amount_fen"] == p.amount_fen:
            result.updated_last_seen += 1
            if "id" not in current:
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
        new_row = {**_new_row(p, source, run_id), **match_values}
        inserts.append(new_row)
        latest[key] = {"amount_fen": p.amount_fen, "row": new_row, "status": new_row["status"]}
    return inserts, updates


def _match_values(p: Listing, m: Match, current: dict[str, Any] | None) -> dict[str, Any]:
    status = "matched" if m.part_id is not None else "unmatched"
    if status == "unmatched" and current is not None and current["status"] == "not_part":
        status = "not_part"  # staff said so: a re-crawl does not put it back in the queue
    return {
        "part_id": m.part_id,
        "suggested_part_id": m.suggested_part_id,
        "model_id": p.model_id,
        "confidence_bp": m.confidence_bp,
        "match_reason": m.reason,
        "status": status,
    }


#: the item's texts an observation keeps as the spider sent them, white space folded
_ITEM_TEXTS = (
    "url",
    "listing_url",
    "item_id",
    "seller",
    "raw_price",
    "raw_oe",
    "raw_brand_text",
    "raw_region",
    "price_type_hint",
)


def _new_row(p: Listing, source: str, run_id: int | None) -> dict[str, Any]:
    """A new observation: the listing as found, its raw texts kept."""
    return {
        "source": source,
        "item_key": p.item_key,
        **{name: clean_text(p.item.get(name)) for name in _ITEM_TEXTS},
        "fetched_at": p.fetched_at,
        "first_seen": p.fetched_at,
        "last_seen": p.fetched_at,
        "raw_name": p.name,
        "price_label": p.price_label,
        "region_id": p.region_id,
        "price_type_id": p.price_type_id,
        "amount_fen": p.amount_fen,
        "run_id": run_id,
        "last_run_id": run_id,
    }


def _write_rows(
    session: Session, inserts: list[dict[str, Any]], updates: dict[int, dict[str, Any]]
) -> None:
    """One executemany INSERT and one executemany UPDATE. Core statements, not the ORM's bulk
    paths: the ORM splits executemany batches wherever a row's NULL columns differ (matched vs
    unmatched), which would make the count grow."""
    table = MarketObservation.metadata.tables[MarketObservation.__tablename__]
    if inserts:
        session.execute(table.insert(), inserts)
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
        session.execute(stmt, params)
