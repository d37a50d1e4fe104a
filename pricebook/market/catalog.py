"""The catalogue as market ingest needs it, kept per process and database: the match index
and the tables that turn a listing's words into ids (regions, price types, vehicles).

The copy follows the database's generations (`pricebook.models.ReferenceGeneration`): the
match index is rebuilt when the catalogue moved (`catalog_generation`); the lookup tables
(regions, price types and their words, brands, series, models) are reread when `value` moved
too, since importing regions or price types moves only `value`.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pricebook.market.titles import VehicleWords
from pricebook.matching.index import MatchIndex
from pricebook.matching.loader import build_snapshot
from pricebook.models import (
    Brand,
    PriceType,
    ReferenceGeneration,
    Region,
    Series,
    VehicleModel,
)
from pricebook.price_words import load_words as load_price_type_words
from pricebook.price_words import resolve as resolve_price_type

if TYPE_CHECKING:
    from pricebook.market.match import Match


@dataclass
class MarketCatalog:
    """What ingest reads of the catalogue, and what it remembers between batches."""

    #: `catalog_generation` its match index was built at
    generation: tuple[int, int]
    #: the `value` generation its lookup tables were read at
    value: int
    index: MatchIndex
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
    match_cache: dict[tuple[str, int | None, int | None, int], Match] = field(default_factory=dict)

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
_catalog_cache: dict[str, MarketCatalog] = {}


def _catalog(session: Session) -> MarketCatalog:
    """The process's catalogue copy for this database, following its generations: one
    statement while nothing moved."""
    key = str(session.get_bind().engine.url)
    value, *moved = session.execute(
        select(
            ReferenceGeneration.value,
            ReferenceGeneration.catalog,
            ReferenceGeneration.catalog_build,
        )
    ).one()
    generation = (moved[0], moved[1])
    with _catalog_lock:
        cached = _catalog_cache.get(key)
        if cached is None or cached.generation != generation:
            cached = _catalog_cache[key] = _load_catalog(session, generation, value)
        elif cached.value != value:
            cached = _catalog_cache[key] = replace(
                cached, value=value, hint_cache={}, **_lookup_tables(session)
            )
        return cached


def _load_catalog(session: Session, generation: tuple[int, int], value: int) -> MarketCatalog:
    return MarketCatalog(
        generation=generation,
        value=value,
        # The matching index is built the one way every index is (`pricebook.matching.loader`):
        # the synonym dictionary in force, the latest verdict per learned mapping. Not warmed:
        # most listings are blocked by brand or model, and the whole-catalogue block is built
        # by the first listing that needs it.
        index=build_snapshot(session, warm=False).index,
        **_lookup_tables(session),
    )


def _lookup_tables(session: Session) -> dict[str, Any]:
    """Regions, price types and their words, brands, series and models, keyed as listings
    name them."""
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
    return {
        "regions_by_code": {code: id_ for id_, code, _ in regions},
        "regions_by_name": by_name,
        "price_types": types,
        "price_type_words": load_price_type_words(session),
        "vehicle_words": VehicleWords(brands, series),
        "series_models": dict(series_models),
    }
