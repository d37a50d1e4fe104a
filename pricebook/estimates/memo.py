"""What validations keep of a database between requests (`_References`, per reference
generation) and the small tables every validation reads."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, NamedTuple, TypeVar

import msgspec
from sqlalchemy import (
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pricebook import review
from pricebook.estimates.statements import BRANCH_COLUMNS, _Statements, _statements
from pricebook.jsontypes import JSONObject
from pricebook.models import (
    LaborKind,
    PriceType,
    Region,
)
from pricebook.money import from_fen
from pricebook.prices import (
    BranchNode,
    CardTerms,
    PriceTypeInfo,
    PriceVersion,
    ScopeStep,
    chain_for,
)

#: a memo dict's key and value types, as `fill` keeps them
K = TypeVar("K")
V = TypeVar("V")

#: a part's prices are kept per (part id, branch ids, region ids, date)
PriceKey = tuple[int, tuple[int, ...], tuple[int, ...], date]
#: a part's standard hours are kept per (part id, vehicle class, date)
HoursKey = tuple[int, str, date]


@dataclass(frozen=True, slots=True)
class _Static:
    """The small tables every validation reads, and what is derived from them."""

    branches: dict[int, _BranchRow]
    branch_by_code: dict[str, _BranchRow]
    #: region id → (code, parent id), and as the rescue tariff names it
    regions: dict[int, tuple[str, int | None]]
    region_names: dict[int, str]
    price_types: dict[int, PriceTypeInfo]
    type_codes: frozenset[str]
    #: labor kind code → name, id → code
    labor_kinds: dict[str, str]
    labor_kind_code: dict[int, str]


@dataclass(frozen=True, slots=True)
class _Card:
    """A channel's rate card in force: parts terms per category id, and per labor kind id the
    card id with its fixed rate or percentage of the standard."""

    parts: dict[int, CardTerms]
    labor: dict[int, tuple[int, int | None, int | None]]


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an estimate is reviewed: its branch and the chain of branches and regions whose
    prices, rates and profiles apply to it, nearest first."""

    branch: review.BranchInfo
    chain: tuple[ScopeStep, ...]
    branch_ids: list[int]
    region_ids: list[int]

    @classmethod
    def of(cls, branch: _BranchRow, static: _Static) -> _Place:
        branches = static.branches
        light = {
            b.id: BranchNode(b.id, b.code, b.parent_id, b.region_id) for b in branches.values()
        }
        chain = tuple(chain_for(light[branch.id], light, static.regions))
        parent = branches.get(branch.parent_id) if branch.parent_id else None
        info = review.BranchInfo(
            branch.id,
            branch.code,
            branch.name,
            from_fen(branch.authority_limit_fen),
            parent.code if parent else None,
        )
        return cls(
            info,
            chain,
            [s.target_id for s in chain if s.scope == "branch" and s.target_id is not None],
            [s.target_id for s in chain if s.scope == "region" and s.target_id is not None],
        )


#: by default a process keeps at most this many entries (a part's prices in one context, its
#: fitment on one model, …) per database before it starts afresh: ~100 MB at worst
#: (`Settings.reference_cache_entries`)
MAX_REFERENCES = 100_000


class Generation(NamedTuple):
    """Where the database's references stand (its `reference_generation` row): `value` moves
    in every transaction that changes what validation keeps, prices apart; `prices` in every
    one that changes prices (migrations 0007, 0009, 0010). `token` tells databases apart."""

    token: str
    value: int
    prices: int


@dataclass(slots=True)
class _References:
    """What validations read of one database as of one reference generation: kept in this
    process and shared by every validation that reads the same generation. The database moves
    the generation in every transaction that changes one of these tables, so nothing here is
    ever stale, whoever wrote; a price change replaces only the prices (`after_prices_moved`).

    A validation loads only what the memo lacks, each kind in one statement for all the parts
    missing it (so the number of statements stays fixed, cold or warm). A part's entry is kept
    per context that decides it: prices per (branch chain, date), fitment per model, standard
    hours per (vehicle class, date); None is kept for "the catalogue has none"."""

    generation: Generation
    static: _Static | None = None
    #: per branch code (as estimates give it)
    places: dict[str, _Place] = field(default_factory=dict)
    profiles: dict[tuple[Any, ...], review.RuleProfile] = field(default_factory=dict)
    labor_rates: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    vehicles: dict[int, review.VehicleInfo | None] = field(default_factory=dict)
    parts: dict[int, review.PartInfo | None] = field(default_factory=dict)
    components: dict[int, tuple[review.Component, ...]] = field(default_factory=dict)
    fitted: dict[tuple[int, int], bool | None] = field(default_factory=dict)
    prices: dict[PriceKey, tuple[PriceVersion, ...]] = field(default_factory=dict)
    hours: dict[HoursKey, tuple[review.HoursRef, ...]] = field(default_factory=dict)
    #: `review.reference_for`'s answers per (branch chain, date, channel)
    resolved: dict[tuple[Any, ...], dict[tuple[Any, ...], Any]] = field(default_factory=dict)
    #: a channel's card on a date: parts terms per category, labor terms per labor kind (None:
    #: no channel with that code)
    cards: dict[tuple[str, date], _Card | None] = field(default_factory=dict)
    #: per (kind, vehicle class, date); per (region chain, date)
    consumables: dict[tuple[str, str, date], review.ConsumableStandard | None] = field(
        default_factory=dict
    )
    rescue: dict[tuple[tuple[int, ...], date], review.RescueTariff | None] = field(
        default_factory=dict
    )
    #: part → every inclusion reachable from its operations, as (inclusion id, inclusion)
    inclusions: dict[int, tuple[tuple[int, review.InclusionRef], ...]] = field(default_factory=dict)
    entries: int = 0

    def after_prices_moved(self, generation: Generation) -> _References:
        """The same references as of `generation`, a later one in which only prices moved:
        everything but the prices and the resolutions made from them, shared (the dicts are
        the same objects: what a validation of either generation adds to them holds for both)."""
        return replace(
            self,
            generation=generation,
            prices={},
            resolved={},
            entries=self.entries - len(self.prices),
        )

    def newest(self, keep: int) -> _References:
        """A memo of the same generation holding about `keep` of these entries, those read
        last: over its bound a memo lets go of what it read first, not of everything (starting
        afresh cost every validation after it a full read, and under a wide mix of parts the
        bound came round every few seconds). New dicts: a validation still reading this memo
        (it waits on the database between statements) keeps finding what it loaded.
        Components and inclusions name parts they expect to find in `parts`: they start
        afresh, and `resolved` with them (it is rebuilt from the prices)."""
        share = keep / max(self.entries, 1)

        def last(kept: dict[K, V]) -> dict[K, V]:
            return dict(itertools.islice(kept.items(), len(kept) - int(len(kept) * share), None))

        fresh = replace(
            self,
            vehicles=last(self.vehicles),
            parts=last(self.parts),
            components={},
            fitted=last(self.fitted),
            prices=last(self.prices),
            hours=last(self.hours),
            resolved={},
            consumables=last(self.consumables),
            inclusions={},
        )
        kinds = (fresh.vehicles, fresh.parts, fresh.fitted, fresh.prices, fresh.hours)
        fresh.entries = sum(len(k) for k in kinds) + len(fresh.consumables)
        return fresh

    def fill(
        self,
        kept: dict[K, V],
        keys: Sequence[K],
        load: Callable[[list[K]], Mapping[K, V]],
        nothing: V,
    ) -> None:
        """Load into `kept` (one of the dicts above) the `keys` it lacks, all of them with one
        call of `load(missing) -> {key: value}`; a key `load` finds nothing for keeps `nothing`,
        so that it is not asked for again."""
        missing = [k for k in keys if k not in kept]
        _looked_up(len(keys) - len(missing), len(missing))
        if missing:
            found = load(missing)
            for k in missing:
                kept[k] = found.get(k, nothing)
            self.entries += len(missing)


#: per database (its URL): the references of the newest generation this process has read
_REFERENCES: dict[str, _References] = {}


@dataclass(slots=True)
class ReferenceStats:
    """How this process's validations found their references, since it started: `hits` in the
    memo (`_References`), `misses` not (read from the database). One count per reference looked
    up: the static tables, the branch's place, the vehicle, the profile, each part's row, its
    components, its fitment on the model, its prices in the estimate's context, its standard
    hours and inclusions, each consumable standard, the card, the labor rates, the rescue
    tariff (OE lookups and earlier claims are never kept: not counted). `dropped`: how often a
    memo over its bound let go of the entries it read first (`_References.newest`). Plain integers, never reset (readers take
    differences; `clear_caches` leaves them), without a lock: the API validates on its event
    loop's thread (run_sync), and a lost increment elsewhere would only blur a statistic."""

    hits: int = 0
    misses: int = 0
    dropped: int = 0


REFERENCE_STATS = ReferenceStats()


def _looked_up(found: int, read: int) -> None:
    REFERENCE_STATS.hits += found
    REFERENCE_STATS.misses += read


def reference_cache_stats() -> dict[str, int]:
    """This process's `REFERENCE_STATS` and the entries its memos hold now."""
    s = REFERENCE_STATS
    entries = sum(r.entries for r in _REFERENCES.values())
    return {"hits": s.hits, "misses": s.misses, "dropped": s.dropped, "entries": entries}


def clear_caches() -> None:
    _PROFILES.clear()
    _REFERENCES.clear()


def _connection(db: Session | Connection) -> Connection:
    """The connection of a session (in its transaction), or the connection itself: the
    reference queries are Core, and the API validates on a bare autocommit connection."""
    return db if isinstance(db, Connection) else db.connection()


def _references(
    db: Connection, keep: int = MAX_REFERENCES, generation: Generation | None = None
) -> _References:
    """This process's references for the database's current generation (read in one statement
    unless given: `validate` reads it in its first statement); with `keep` 0, a memo of this
    validation's own."""
    url = str(db.engine.url)
    if generation is None:
        generation = Generation(*db.execute(_statements(db).generation).one())
    refs = _REFERENCES.get(url)
    if refs is not None and refs.generation == generation and refs.entries <= keep:
        return refs
    if not keep:
        return _References(generation)
    if refs is not None and refs.generation.token == generation.token:
        # the counters only grow, and one snapshot sees both as of one moment: (value,
        # prices) of two snapshots are ordered the same way
        if refs.generation[1:] > generation[1:]:
            # this request's snapshot is older than the memo's: a memo of its own (under
            # snapshot isolation, as on SQLite, what it loads would be older than the shared
            # memo claims)
            return _References(generation)
        if refs.generation.value == generation.value:
            if refs.generation.prices != generation.prices:
                refs = refs.after_prices_moved(generation)
            if refs.entries > keep:
                # half the bound: the next trim is another keep/2 misses away
                REFERENCE_STATS.dropped += 1
                refs = refs.newest(keep // 2)
            _REFERENCES[url] = refs
            return refs
    _REFERENCES[url] = _References(generation)
    return _REFERENCES[url]


def _load_static(db: Connection) -> _Static:
    branches = {b.id: _BranchRow(*b) for b in db.execute(select(*BRANCH_COLUMNS))}
    regions = db.execute(select(Region.id, Region.code, Region.parent_id, Region.name)).all()
    price_types = {
        t.id: PriceTypeInfo(t.id, t.code, t.name, t.rank)
        for t in db.execute(select(PriceType.id, PriceType.code, PriceType.name, PriceType.rank))
    }
    kinds = db.execute(select(LaborKind.id, LaborKind.code, LaborKind.name)).all()
    return _Static(
        branches,
        {b.code: b for b in branches.values()},
        {r.id: (r.code, r.parent_id) for r in regions},
        {r.id: f"{r.name}（{r.code}）" for r in regions},
        price_types,
        frozenset(t.code for t in price_types.values()),
        {code: name for _, code, name in kinds},
        {kid: code for kid, code, _ in kinds},
    )


class _BranchRow(NamedTuple):
    id: int
    code: str
    name: str
    parent_id: int | None
    region_id: int
    authority_limit_fen: int


class _ProfileRow(NamedTuple):
    """What `profile_of` reads of a `rule_profiles` row."""

    id: int
    code: str
    branch_id: int | None
    version: int
    settings: JSONObject


class _Loaded(NamedTuple):
    """`_load_static_with`'s answer: the static tables, the estimate's vehicle row (None: no
    such model, or none asked for) and every rule profile version in force on its date."""

    static: _Static
    vehicle: Any
    profiles: list[_ProfileRow]


def _load_static_with(db: Connection, q: _Statements, model_id: int | None, on: date) -> _Loaded:
    """PostgreSQL: the four static tables, the vehicle and the profiles in force on `on`, in
    one statement (`_Statements.static`: a row of JSON arrays) instead of six."""
    branch_rows, region_rows, type_rows, kind_rows, vehicle, profiles = db.execute(
        q.static, {"model_id": model_id, "on": on}
    ).one()
    branches = {b[0]: _BranchRow(*b) for b in branch_rows or ()}
    regions = region_rows or ()
    price_types = {t[0]: PriceTypeInfo(*t) for t in type_rows or ()}
    kinds = kind_rows or ()
    static = _Static(
        branches,
        {b.code: b for b in branches.values()},
        {rid: (code, parent_id) for rid, code, parent_id, _ in regions},
        {rid: f"{name}（{code}）" for rid, code, _, name in regions},
        price_types,
        frozenset(t.code for t in price_types.values()),
        {code: name for _, code, name in kinds},
        {kid: code for kid, code, _ in kinds},
    )
    return _Loaded(static, vehicle, [_ProfileRow(*p) for p in profiles or ()])


_PROFILES: dict[int, review.RuleProfile] = {}


def profile_of(row: _ProfileRow | None, branch_code: str | None) -> review.RuleProfile:
    """The core's profile of a stored version (a `rule_profiles` row); cached per process by
    id, since a stored version's settings never change (the database refuses it)."""
    if row is None:
        return review.DEFAULT_PROFILE
    cached = _PROFILES.get(row.id)
    if cached is None:
        settings = msgspec.convert(row.settings, review.ProfileSettings, strict=False)
        cached = review.RuleProfile(row.code, row.version, branch_code, settings, row.id)
        if len(_PROFILES) > 1000:
            _PROFILES.clear()
        _PROFILES[row.id] = cached
    return cached
