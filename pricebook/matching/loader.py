"""The matching index over the database's catalogue: what to load, and how to build it.

Loading costs a fixed number of bulk queries whatever the catalogue's size (no query per part):

* `load_entries` — parts with their category (1), aliases (2), superseded OE numbers (3),
  fitment (4), model → brand (5): one `CatalogEntry` per part, plus the model → brand map that
  lets a match widen from a model to its brand;
* `load_learned` — the people's verdicts in ``match_mappings`` (1): the latest verdict per
  (name, brand, model, part) counts, earlier ones on the same key are history;
* `load_synonym_groups` — the colloquial dictionary in ``synonym_terms`` (1), or the shipped
  ``synonyms.tsv`` while the table is empty;
* `_price_words` — the price type vocabulary and the price types' codes (1), which read the
  quality words of a typed name;
* `catalog_version` — ``max(catalog_versions.id)`` (1): the version an index is labelled with;
* `catalog_generation` — the commit-ordered counters ``reference_generation.catalog`` and
  ``catalog_build`` (1, migration 0008): what tells an index it is out of date. (The maximum
  id cannot: ids are taken at insert, so a change committing after a newer one leaves it as
  it was.)

`build_snapshot` reads the generation *first*, then the data: a change committed meanwhile is
either already in the data or moves the generation past the snapshot's, so the next check
rebuilds — an index is never labelled newer than what it holds.

`refresh_snapshot` is the rebuild step the per-process cache (`pricebook.matching.cache`) runs:
nothing when the generation has not moved; when only ``catalog`` moved — every change since
the snapshot was a match confirmation (catalogue-version rows with the reason
`LEARNED_REASON`) — only the learned mappings are reloaded and swapped into a copy of the index
(`MatchIndex.with_learned`, no re-indexing); otherwise a full build.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from pricebook.matching.index import (
    CatalogEntry,
    IndexSize,
    LearnedMapping,
    MatchConfig,
    MatchIndex,
    learned_key,
)
from pricebook.matching.normalize import normalize_oe
from pricebook.matching.synonyms import default_synonym_groups
from pricebook.models import (
    Brand,
    CatalogVersion,
    Category,
    Fitment,
    MatchMapping,
    OeSupersession,
    Part,
    PartAlias,
    PriceType,
    PriceTypeWord,
    ReferenceGeneration,
    Series,
    SynonymTerm,
    VehicleModel,
)

__all__ = [
    "LEARNED_REASON",
    "LoadedEntries",
    "Snapshot",
    "build_snapshot",
    "catalog_version",
    "load_entries",
    "load_learned",
    "load_synonym_groups",
    "refresh_snapshot",
]

log = logging.getLogger("pricebook.matching")

#: The catalogue-version reason of a match confirmation: changes only the learned mappings.
LEARNED_REASON = "match confirmation"


class LoadedEntries(NamedTuple):
    entries: list[CatalogEntry]
    #: model id → brand id, for every model (with or without fitment).
    model_brands: dict[int, int]


def catalog_version(session: Session) -> int:
    """The catalogue version: ``max(catalog_versions.id)``, 0 for a catalogue never changed."""
    return session.scalar(select(func.max(CatalogVersion.id))) or 0


def catalog_generation(session: Session) -> tuple[int, int]:
    """(catalogue changes, changes that need a full build), counted at commit."""
    row = session.execute(
        select(ReferenceGeneration.catalog, ReferenceGeneration.catalog_build)
    ).one()
    return row[0], row[1]


def load_entries(session: Session) -> LoadedEntries:
    """Every part as a `CatalogEntry`, in part id order, in five queries."""
    aliases: dict[int, list[str]] = defaultdict(list)
    for part_id, alias in session.execute(
        select(PartAlias.part_id, PartAlias.alias).order_by(PartAlias.id)
    ):
        aliases[part_id].append(alias)
    old_oes: dict[int, list[str]] = defaultdict(list)
    for part_id, old in session.execute(
        select(OeSupersession.part_id, OeSupersession.old_oe).order_by(OeSupersession.id)
    ):
        old_oes[part_id].append(old)
    fits: dict[int, set[int]] = defaultdict(set)
    for part_id, model_id in session.execute(select(Fitment.part_id, Fitment.model_id)):
        fits[part_id].add(model_id)
    model_brands: dict[int, int] = dict(
        session.execute(
            select(VehicleModel.id, Series.brand_id).join(
                Series, Series.id == VehicleModel.series_id
            )
        ).all()
    )

    entries: list[CatalogEntry] = []
    # the parts of one platform fit the same models (and brands): one set per distinct fitment,
    # shared, rather than one per part, which grew the index with every part of a catalogue
    shared: dict[frozenset[int], frozenset[int]] = {}
    stmt = (
        select(
            Part.id,
            Part.code,
            Part.name,
            Part.oe_number,
            Part.is_assembly,
            Part.universal,
            Part.position,
            Category.code,
        )
        .join(Category, Category.id == Part.category_id)
        .order_by(Part.id)
    )
    for part_id, code, name, oe, is_assembly, universal, position, category in session.execute(
        stmt
    ):
        models = frozenset() if universal else frozenset(fits.pop(part_id, ()))
        models = shared.setdefault(models, models)
        brands = frozenset(model_brands[m] for m in models if m in model_brands)
        # Normalised by the matcher's own rule, so queries and catalogue agree.
        oes = (normalize_oe(o) for o in (oe, *old_oes.get(part_id, ())))
        entries.append(
            CatalogEntry(
                part_id=part_id,
                part_code=code,
                name=name,
                aliases=tuple(a for a in aliases.get(part_id, ()) if a != name),
                oe_numbers=tuple(dict.fromkeys(o for o in oes if o)),
                is_assembly=bool(is_assembly),
                model_ids=models,
                brand_ids=shared.setdefault(brands, brands),
                category=category,
                position=position or "",
            )
        )
    return LoadedEntries(entries, model_brands)


def load_learned(session: Session) -> list[LearnedMapping]:
    """The latest verdict per (name, brand, model, part), ordered by when it was given (so
    that, of two parts accepted for one name and scope, the later one wins in the index)."""
    latest: dict[tuple[str, int | None, int | None, int], LearnedMapping] = {}
    stmt = select(
        MatchMapping.name_normalized,
        MatchMapping.part_id,
        MatchMapping.brand_id,
        MatchMapping.model_id,
        MatchMapping.accepted,
    ).order_by(MatchMapping.id)
    for name, part_id, brand_id, model_id, accepted in session.execute(stmt):
        key = (learned_key(name), brand_id, model_id, part_id)
        latest.pop(key, None)  # re-inserted: dict order = order of the latest verdicts
        latest[key] = LearnedMapping(key[0], part_id, brand_id, model_id, bool(accepted))
    return list(latest.values())


def load_synonym_groups(session: Session) -> tuple[list[list[str]], str]:
    """The dictionary's groups (canonical first) and where they came from: ``database``, or
    ``shipped`` (``synonyms.tsv``) while the ``synonym_terms`` table is empty."""
    groups: dict[str, list[str]] = {}
    for canonical, term in session.execute(
        select(SynonymTerm.canonical, SynonymTerm.term).order_by(SynonymTerm.id)
    ):
        group = groups.setdefault(canonical, [canonical])
        if term not in group:
            group.append(term)
    if not groups:
        return default_synonym_groups(), "shipped"
    return list(groups.values()), "database"


def _brand_keys(session: Session) -> dict[str, int]:
    """Brand code and brand name → id (what `brand` in a request may be)."""
    keys: dict[str, int] = {}
    for id_, code, name in session.execute(select(Brand.id, Brand.code, Brand.name)):
        keys.setdefault(code, id_)
        keys.setdefault(name, id_)
    return keys


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A complete index and what it was built from; replaced as a whole, never modified."""

    index: MatchIndex
    version: int
    #: `catalog_generation` when it was built (what `refresh_snapshot` compares)
    generation: tuple[int, int]
    size: IndexSize
    built_at: datetime
    build_seconds: float
    synonyms_source: str
    synonym_groups: int
    learned: int
    #: ``full``: indexed from scratch; ``learned``: the previous index with new learned mappings.
    kind: str = "full"
    model_brands: Mapping[int, int] = field(default_factory=dict)
    model_codes: Mapping[str, int] = field(default_factory=dict)
    brands: Mapping[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        s = self.size
        return (
            f"version {self.version}: {s.entries:,} parts, {s.strings:,} names and aliases, "
            f"{s.cores:,} distinct cores, {s.pinyin_strings:,} pinyin strings, "
            f"{s.oe_numbers:,} OE numbers, ~{s.approx_bytes / 1e6:.1f} MB; "
            f"{self.synonym_groups} synonym groups ({self.synonyms_source}), "
            f"{self.learned} learned verdicts; built in {self.build_seconds:.2f}s"
        )


def _price_words(session: Session) -> dict[str, str]:
    """The price type vocabulary, each word with a type the database has: one statement
    (the types' codes ride along as rows without a word; a word is never empty)."""
    # imported here: price_words reaches prices, which reaches matching
    from pricebook.price_words import type_words

    rows = session.execute(
        union_all(
            select(literal("").label("word"), PriceType.code),
            select(PriceTypeWord.word, PriceTypeWord.price_type_code),
        )
    ).all()
    codes = {code for word, code in rows if not word}
    return type_words({word: code for word, code in rows if word}, codes)


def build_snapshot(
    session: Session, *, config: MatchConfig | None = None, warm: bool = True
) -> Snapshot:
    """Load everything and build the index (the version is read first, see the module doc).

    ``warm`` builds the whole-catalogue block now, so that no request pays for it."""
    started = time.perf_counter()
    generation = catalog_generation(session)
    version = catalog_version(session)
    entries, model_brands = load_entries(session)
    groups, source = load_synonym_groups(session)
    learned = load_learned(session)
    model_codes = dict(session.execute(select(VehicleModel.code, VehicleModel.id)).all())
    brands = _brand_keys(session)
    index = MatchIndex.build(
        entries,
        groups,
        learned,
        model_brands=model_brands,
        config=config,
        price_words=_price_words(session),
    )
    if warm:
        index.warm()
    return Snapshot(
        index=index,
        version=version,
        generation=generation,
        size=index.size,
        built_at=datetime.now(UTC),
        build_seconds=time.perf_counter() - started,
        synonyms_source=source,
        synonym_groups=len(groups),
        learned=len(learned),
        model_brands=model_brands,
        model_codes=model_codes,
        brands=brands,
    )


def refresh_snapshot(
    session: Session, current: Snapshot | None, *, config: MatchConfig | None = None
) -> Snapshot | None:
    """The snapshot to use now: None when ``current`` is up to date, else a new one (only the
    learned mappings swapped when nothing else changed, see the module doc)."""
    if current is None:
        return build_snapshot(session, config=config)
    generation = catalog_generation(session)
    if generation == current.generation:
        return None
    if generation[1] == current.generation[1]:  # match confirmations only
        started = time.perf_counter()
        version = catalog_version(session)
        learned = load_learned(session)
        return replace(
            current,
            index=current.index.with_learned(learned),
            version=version,
            generation=generation,
            built_at=datetime.now(UTC),
            build_seconds=time.perf_counter() - started,
            learned=len(learned),
            kind="learned",
        )
    return build_snapshot(session, config=config)
