"""`pricebook demo scale --national`: a catalogue shaped like an insurer's national one (by default
20,000 models, 300,000 parts, 10,000,000 price versions), for benchmarks of growth.

The shape, and why:

- Models sit on shared platforms, as carmakers build them: the parts are the demo's part
  templates repeated once per platform, and every model of a platform fits them all (fitment),
  so a part is shared by the ~9 models of its platform. One part template in ten (clips, bolts,
  a mirror glass) also fits the models of the next platform.
- Each platform carries up to three series of one brand; 60 brands in all.
- The insurer's organisation is national: 28 more provinces with a branch each and three
  sub-branches (in three cities) under it, beside the demo's own.
- Every part has a system price of the top-ranked price type and, drawn at random, system
  prices of other types and localized prices (region or branch, one in ten for one model of its
  platform); every price key holds one to five versions in succession since 2019 (the newest
  open, one key in fifteen expired).

Rows are streamed into COPY (bounded memory whatever the size). On PostgreSQL the prices table's
foreign keys, lookup index and reference trigger are set aside for the load and made again after
it in bulk (each foreign key is then checked by one join, and ten million queued trigger events
are never held in memory). The exclusion constraint against overlapping versions stays and is
maintained row by row (building it afterwards measured slower still): it is what bounds the
load's speed. The load holds an exclusive
lock on the prices table meanwhile.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from pricebook.db import analyze, session_factory
from pricebook.demo import bulk
from pricebook.models import Branch, Brand, Region, Series

BRANDS = 60
SERIES_PER_PLATFORM = 3
#: provinces (and branches) added to the demo's, each with this many cities and sub-branches
PROVINCES, SUB_BRANCHES = 28, 3
#: one part template in this many also fits the models of the next platform
SHARED_EVERY = 10
MAX_VERSIONS = 5
HISTORY_START = date(2019, 1, 1).toordinal()


@dataclass(frozen=True)
class NationalShape:
    models: int = 20_000
    parts: int = 300_000
    prices: int = 10_000_000


@dataclass(frozen=True)
class _Layout:
    """Where the synthetic rows start and how parts map onto platforms and models."""

    templates: list[dict[str, str]]
    platforms: int
    models: int
    start_model: int
    start_part: int

    def platform_models(self, platform: int) -> range:
        first = platform * self.models // self.platforms
        last = (platform + 1) * self.models // self.platforms
        return range(self.start_model + first, self.start_model + last)


def _add_organisation(session: Session) -> None:
    """28 provinces, each with a branch, three cities and a sub-branch in each city."""
    country = session.scalar(select(Region.id).where(Region.level == "country"))
    for p in range(PROVINCES):
        province = Region(
            code=f"NAT{p:02d}", name=f"合成省{p}", level="province", parent_id=country
        )
        session.add(province)
        session.flush()
        branch = Branch(
            code=f"NAT{p:02d}",
            name=f"合成省{p}分公司",
            kind="branch",
            region_id=province.id,
            authority_limit_fen=10_000_000,
        )
        session.add(branch)
        session.flush()
        for c in range(SUB_BRANCHES):
            city = Region(
                code=f"NAT{p:02d}{c}", name=f"合成省{p}城市{c}", level="city", parent_id=province.id
            )
            session.add(city)
            session.flush()
            session.add(
                Branch(
                    code=f"NAT{p:02d}{c}",
                    name=f"合成省{p}城市{c}中心支公司",
                    kind="sub_branch",
                    region_id=city.id,
                    parent_id=branch.id,
                    authority_limit_fen=3_000_000,
                )
            )
    session.flush()


def _add_brands_and_series(session: Session, platforms: int) -> list[list[int]]:
    """Brands and the series of each platform; returns each platform's series ids."""
    brands = [
        Brand(code=f"NAT-B{b:02d}", name=f"合成品牌{b}", country="CN", initials="hcpp")
        for b in range(min(BRANDS, platforms))
    ]
    session.add_all(brands)
    session.flush()
    series = [
        [
            Series(
                code=f"NAT-S{p:05d}-{s}",
                brand_id=brands[p % len(brands)].id,
                name=f"合成车系{p}-{s}",
                initials="hccx",
            )
            for s in range(SERIES_PER_PLATFORM)
        ]
        for p in range(platforms)
    ]
    session.add_all([s for group in series for s in group])
    session.flush()
    return [[s.id for s in group] for group in series]


def _model_rows(layout: _Layout, series: list[list[int]]) -> Iterator[tuple[Any, ...]]:
    for p in range(layout.platforms):
        for j, model_id in enumerate(layout.platform_models(p)):
            s = j % SERIES_PER_PLATFORM
            year = 2015 + j // SERIES_PER_PLATFORM
            # "SCALE-M…" and "SCALE-…": the prefixes the benchmarks pick synthetic rows by
            code = f"SCALE-MN{p:05d}-{j}"
            name = f"合成车型{p}-{j} {year}款"
            search = f"合成品牌{p % BRANDS} 合成车系{p}-{s} {code.lower()}"
            yield bulk.model_row(model_id, code, series[p][s], name, year, "ABCDE"[p % 5], search)


def _part_rows(
    layout: _Layout, parts: int, categories: dict[str, int]
) -> Iterator[tuple[Any, ...]]:
    n = len(layout.templates)
    for i in range(parts):
        t, p = layout.templates[i % n], i // n
        oe = f"NC{p:05d} {i:06d} {t['part_code'][-2:]}"
        yield bulk.part_row(layout.start_part + i, f"SCALE-N{p:05d}-{i % n:03d}", t, categories, oe)


def _fitted_models(layout: _Layout, i: int) -> list[int]:
    n = len(layout.templates)
    p = i // n
    models = list(layout.platform_models(p))
    if i % n % SHARED_EVERY == 0 and p + 1 < layout.platforms:
        models += layout.platform_models(p + 1)
    return models


def _fitment_rows(layout: _Layout, parts: int) -> Iterator[tuple[Any, ...]]:
    for i in range(parts):
        for model_id in _fitted_models(layout, i):
            yield layout.start_part + i, model_id


Scope = tuple[str, int | None, int | None]  # scope, region id, branch id


def _part_prices(
    rng: random.Random,
    part_id: int,
    quota: int,
    price_types: list[int],
    localized: list[Scope],
    models: list[int],
) -> Iterator[tuple[Any, ...]]:
    """`quota` price versions of one part: the system key of the top-ranked price type first,
    then keys drawn at random (three in ten a system price of another type, the rest localized),
    each with 1–5 successive versions."""
    base_fen = rng.randrange(5_000, 500_000)
    used: set[tuple[Any, ...]] = set()
    k = 0
    while quota > 0:
        model_id = None
        if k == 0 or rng.random() < 0.3:
            scope: Scope = ("system", None, None)
            type_index = 0 if k == 0 else rng.randrange(len(price_types))
        else:
            scope = localized[rng.randrange(len(localized))]
            type_index = rng.randrange(len(price_types))
            model_id = models[rng.randrange(len(models))] if rng.random() < 0.1 else None
        k += 1
        key = (scope, type_index, model_id)
        if key in used:
            continue
        used.add(key)
        amount = base_fen * (100 - 12 * type_index) // 100
        if scope[0] != "system":
            amount = amount * rng.randrange(85, 116) // 100
        versions = min(quota, 1 + rng.randrange(MAX_VERSIONS))
        quota -= versions
        day = HISTORY_START + rng.randrange(365)
        expired = rng.randrange(15) == 0
        for v in range(versions):
            end: int | None = day + rng.randrange(120, 540)
            if v == versions - 1 and not expired:
                end = None
            yield (
                part_id,
                model_id,
                scope[0],
                scope[1],
                scope[2],
                price_types[type_index],
                max(100, amount + rng.randrange(-300, 301)),
                date.fromordinal(day),
                None if end is None else date.fromordinal(end),
                "system",
                "",
                "scale",
                "",
            )
            amount = amount * rng.randrange(98, 109) // 100
            day = end if end is not None else day


def _price_rows(
    layout: _Layout,
    parts: int,
    prices: int,
    price_types: list[int],
    localized: list[Scope],
    seed: int,
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    for i in range(parts):
        quota = prices * (i + 1) // parts - prices * i // parts
        yield from _part_prices(
            rng, layout.start_part + i, quota, price_types, localized, _fitted_models(layout, i)
        )


@contextmanager
def _bulk_prices(session: Session) -> Iterator[None]:
    """PostgreSQL: the prices table without its foreign keys, its secondary indexes (the
    exclusion constraint's aside) and its row trigger that moves the prices generation while
    the block runs; then all of them made again from their own definitions (checking every row
    as maintaining them would have) and the generation moved once."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    # the catalogue rows' deferred triggers fire now: ALTER TABLE refuses a table (prices' and
    # its foreign keys' targets) with trigger events pending
    connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    constraints = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'prices'::regclass AND contype = 'f' ORDER BY conname"
        )
    ).all()
    indexes = connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'prices' AND indexname "
            "NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'prices'::regclass) "
            "ORDER BY indexname"
        )
    ).all()
    for name, _ in constraints:
        connection.execute(text(f'ALTER TABLE prices DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        connection.execute(text(f'DROP INDEX "{name}"'))
    connection.execute(text("ALTER TABLE prices DISABLE TRIGGER prices_reference_changed"))
    yield
    connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    for _, definition in indexes:
        connection.execute(text(definition))
    for name, definition in constraints:
        connection.execute(text(f'ALTER TABLE prices ADD CONSTRAINT "{name}" {definition}'))
    connection.execute(text("ALTER TABLE prices ENABLE TRIGGER prices_reference_changed"))
    # what the disabled trigger would have done once in this transaction
    connection.execute(text("UPDATE reference_generation SET prices = prices + 1 WHERE id = 1"))


def _localized_scopes(session: Session) -> list[Scope]:
    scopes: list[Scope] = [
        ("region", r, None)
        for (r,) in session.execute(
            select(Region.id).where(Region.level != "country").order_by(Region.id)
        )
    ]
    scopes += [
        ("branch", None, b) for (b,) in session.execute(select(Branch.id).order_by(Branch.id))
    ]
    return scopes


def national_demo(engine: Engine, shape: NationalShape, *, seed: int = 7) -> int:
    """Add a national-shaped catalogue to a database (the demo is loaded first if it is not
    there), then ANALYZE the tables written (PostgreSQL). Returns the prices written."""
    templates = bulk.part_templates()
    platforms = -(-shape.parts // len(templates))
    if shape.models < platforms:
        raise ValueError(
            f"{shape.parts:,} parts need at least {platforms:,} models "
            f"(one platform per {len(templates)} parts)"
        )
    bulk.ensure_demo(engine)
    with session_factory(engine)() as session:
        _add_organisation(session)
        series = _add_brands_and_series(session, platforms)
        categories, price_types, start_model, start_part = bulk.catalogue_ids(session)
        layout = _Layout(templates, platforms, shape.models, start_model, start_part)
        localized = _localized_scopes(session)

        bulk.copy_table(session, "models", _model_rows(layout, series), shape.models)
        bulk.copy_table(session, "parts", _part_rows(layout, shape.parts, categories), shape.parts)
        bulk.copy_table(
            session, "aliases", bulk.alias_rows(layout.start_part, templates, shape.parts)
        )
        bulk.copy_table(session, "fitment", _fitment_rows(layout, shape.parts))
        rows = _price_rows(layout, shape.parts, shape.prices, price_types, localized, seed)
        with _bulk_prices(session):
            written, _ = bulk.copy_table(session, "prices", rows, shape.prices)
        bulk.move_sequences(session)
        session.commit()
    analyze(engine, [Region, Branch, *bulk.FILLED])
    return written
