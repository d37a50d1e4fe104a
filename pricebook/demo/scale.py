"""`pricebook demo scale`: a large synthetic catalogue for benchmarks (≥ 50,000 parts, ≥ 1,000,000
prices), written in bulk (COPY on PostgreSQL) with a progress bar.

Parts are the demo's part templates repeated over synthetic platforms, so names and aliases look
like the real catalogue (what the matching benchmark needs); prices spread over every scope and
price type, with a closed older version on every fifth key.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pricebook.db import analyze, session_factory
from pricebook.demo import bulk
from pricebook.models import Branch, Brand, Region, Series

MODELS_PER_PLATFORM = 3

#: a price key's scope: (scope, region id, branch id)
Scope = tuple[str, int | None, int | None]


@dataclass(frozen=True)
class _Layout:
    """Where the synthetic rows start; part i is template i % len(templates) of platform
    i // len(templates), whose models are the platform's MODELS_PER_PLATFORM."""

    templates: list[dict[str, str]]
    parts: int
    start_model: int
    start_part: int

    def platform(self, i: int) -> int:
        return i // len(self.templates)

    def template(self, i: int) -> dict[str, str]:
        return self.templates[i % len(self.templates)]


def scale_demo(engine: Engine, *, parts: int, prices: int, seed: int = 7) -> None:
    """Add `parts` synthetic parts and `prices` prices to a database with the demo loaded, then
    ANALYZE the tables written (PostgreSQL)."""
    bulk.ensure_demo(engine)
    templates = bulk.part_templates()
    platforms = -(-parts // len(templates))
    with session_factory(engine)() as session:
        categories, price_types, start_model, start_part = bulk.catalogue_ids(session)
        layout = _Layout(templates, parts, start_model, start_part)
        series = _add_series(session, platforms)
        models = platforms * MODELS_PER_PLATFORM
        bulk.copy_table(session, "models", _model_rows(layout, series), models)
        bulk.copy_table(session, "parts", _part_rows(layout, categories), parts)
        bulk.copy_table(session, "aliases", bulk.alias_rows(layout.start_part, templates, parts))
        bulk.copy_table(session, "fitment", _fitment_rows(layout), parts * MODELS_PER_PLATFORM)
        rows = _price_rows(layout, prices, _scopes(session), price_types, random.Random(seed))
        count, elapsed = bulk.copy_table(session, "prices", rows, prices)
        bulk.move_sequences(session)
        session.commit()
    # the statistics of the tables filled (PostgreSQL): the benchmarks' first queries come next
    analyze(engine, bulk.FILLED)
    print(f"demo scale: {parts:,} parts, {count:,} prices ({elapsed:.1f}s for prices)")


def _scopes(session: Session) -> list[Scope]:
    """System, every branch, every region: the scopes prices are spread over, in that order."""
    scopes: list[Scope] = [("system", None, None)]
    scopes += [
        ("branch", None, b) for (b,) in session.execute(select(Branch.id).order_by(Branch.id))
    ]
    scopes += [
        ("region", r, None) for (r,) in session.execute(select(Region.id).order_by(Region.id))
    ]
    return scopes


def _add_series(session: Session, platforms: int) -> list[Series]:
    """One synthetic brand, and a series per platform."""
    brand = Brand(code="SCALE", name="合成品牌", country="CN", initials="hcpp")
    session.add(brand)
    session.flush()
    series = [
        Series(code=f"SCALE-{p:05d}", brand_id=brand.id, name=f"合成车系{p}", initials="hccx")
        for p in range(platforms)
    ]
    session.add_all(series)
    session.flush()
    return series


def _model_rows(layout: _Layout, series: list[Series]) -> Iterator[tuple[Any, ...]]:
    for p, s in enumerate(series):
        for m in range(MODELS_PER_PLATFORM):
            model_id = layout.start_model + p * MODELS_PER_PLATFORM + m
            name, search = f"合成车型{p}-{m} 2024款", f"合成品牌 合成车系{p} scale-m{p:05d}-{m}"
            yield bulk.model_row(
                model_id, f"SCALE-M{p:05d}-{m}", s.id, name, 2024, "ABCDE"[p % 5], search
            )


def _part_rows(layout: _Layout, categories: dict[str, int]) -> Iterator[tuple[Any, ...]]:
    for i in range(layout.parts):
        t, p = layout.template(i), layout.platform(i)
        code = f"SCALE-{p:05d}-{i % len(layout.templates):03d}"
        oe = f"SC{p:05d} {i:06d} {t['part_code'][-2:]}"
        yield bulk.part_row(layout.start_part + i, code, t, categories, oe)


def _fitment_rows(layout: _Layout) -> Iterator[tuple[Any, ...]]:
    for i in range(layout.parts):
        first = layout.start_model + layout.platform(i) * MODELS_PER_PLATFORM
        for m in range(MODELS_PER_PLATFORM):
            yield layout.start_part + i, first + m


def _price_rows(
    layout: _Layout,
    prices: int,
    scopes: list[Scope],
    price_types: list[int],
    rng: random.Random,
) -> Iterator[tuple[Any, ...]]:
    """`prices` versions over the parts' keys, as many keys per part as they need; every fifth
    key has an older closed version too (k keys hold k + k // 5 versions)."""
    keys_needed = -(-prices * 5 // 6)
    per_part = min(len(scopes) * len(price_types), -(-keys_needed // layout.parts))
    written = 0
    for i in range(layout.parts):
        base_fen = rng.randrange(5_000, 500_000)
        for k in range(per_part):
            scope, region_id, branch_id = scopes[k // len(price_types)]
            type_index = k % len(price_types)
            amount = base_fen * (100 - 12 * type_index) // 100 + rng.randrange(0, 500)
            key = (
                layout.start_part + i,
                None,
                scope,
                region_id,
                branch_id,
                price_types[type_index],
            )
            if k % 5 == 0 and written < prices:
                closed = (amount * 95 // 100, date(2024, 1, 1), date(2025, 1, 1))
                yield (*key, *closed, "system", "", "scale", "")
                written += 1
            if written < prices:
                yield (*key, amount, date(2025, 1, 1), None, "system", "", "scale", "")
                written += 1
        if written >= prices:
            return
