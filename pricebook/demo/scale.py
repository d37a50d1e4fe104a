"""`pricebook demo scale`: a large synthetic catalogue for benchmarks (≥ 50,000 parts, ≥ 1,000,000
prices), written in bulk (COPY on PostgreSQL) with a progress bar.

Parts are the demo's part templates repeated over synthetic platforms, so names and aliases look
like the real catalogue (what the matching benchmark needs); prices spread over every scope and
price type, with a closed older version on every fifth key.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from pricebook.db import analyze, session_factory
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    Branch,
    Brand,
    Category,
    Fitment,
    Part,
    PartAlias,
    Price,
    PriceType,
    Region,
    Series,
    VehicleModel,
)
from pricebook.progress import ProgressBar

MODELS_PER_PLATFORM = 3


def copy_rows(
    session: Any, table: Any, columns: list[str], rows: Iterator[tuple[Any, ...]], bar: ProgressBar
) -> int:
    connection = session.connection()
    count = 0
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
                if count % 20000 == 0:
                    bar(count)
    else:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            count += 1
            if len(batch) == 5000:
                session.execute(insert(table), batch)
                batch.clear()
                bar(count)
        if batch:
            session.execute(insert(table), batch)
    bar(count)
    return count


def scale_demo(engine: Engine, *, parts: int, prices: int, seed: int = 7) -> None:
    """Add `parts` synthetic parts and `prices` prices to a database with the demo loaded, then
    ANALYZE the tables written (PostgreSQL)."""
    from pricebook.demo import demo_rows, load_demo

    rng = random.Random(seed)
    with session_factory(engine)() as session:
        if not session.scalar(select(func.count()).select_from(Category)):
            session.close()
            for _ in load_demo(engine):
                pass
    templates = [r for r in demo_rows()["parts"] if r.get("universal", "0") != "1"]
    prefix0 = templates[0]["part_code"].split("-")[0]
    templates = [r for r in templates if r["part_code"].startswith(prefix0 + "-")]
    platforms = -(-parts // len(templates))

    with session_factory(engine)() as session:
        categories = dict(session.execute(select(Category.code, Category.id)).all())
        price_types = [
            t for (t,) in session.execute(select(PriceType.id).order_by(PriceType.rank.desc()))
        ]
        scopes: list[tuple[str, int | None, int | None]] = [("system", None, None)]
        scopes += [
            ("branch", None, b) for (b,) in session.execute(select(Branch.id).order_by(Branch.id))
        ]
        scopes += [
            ("region", r, None) for (r,) in session.execute(select(Region.id).order_by(Region.id))
        ]
        start_part = (session.scalar(select(func.max(Part.id))) or 0) + 1
        start_model = (session.scalar(select(func.max(VehicleModel.id))) or 0) + 1

        brand = Brand(code="SCALE", name="合成品牌", country="CN", initials="hcpp")
        session.add(brand)
        session.flush()
        series = [Series(code=f"SCALE-{p:05d}", brand_id=brand.id, name=f"合成车系{p}", initials="hccx")
                  for p in range(platforms)]  # fmt: skip
        session.add_all(series)
        session.flush()

        bar = ProgressBar("models", platforms * MODELS_PER_PLATFORM)
        model_rows = (
            (start_model + p * MODELS_PER_PLATFORM + m, f"SCALE-M{p:05d}-{m}", s.id,
             f"合成车型{p}-{m} 2024款", 2024, "三厢", "1.5L", "ABCDE"[p % 5], "", "",
             f"合成品牌 合成车系{p} scale-m{p:05d}-{m}")
            for p, s in enumerate(series) for m in range(MODELS_PER_PLATFORM)
        )  # fmt: skip
        copy_rows(session, VehicleModel.__table__,
                   ["id", "code", "series_id", "name", "model_year", "body", "engine",
                    "vehicle_class", "price_band", "manufacturer_code", "search_text"], model_rows, bar)  # fmt: skip
        bar.finish()

        def part_rows() -> Iterator[tuple[Any, ...]]:
            for i in range(parts):
                t = templates[i % len(templates)]
                p = i // len(templates)
                oe = f"SC{p:05d} {i:06d} {t['part_code'][-2:]}"
                yield (start_part + i, f"SCALE-{p:05d}-{i % len(templates):03d}", t["name"],
                       categories[t["category"]], t.get("position", ""), "个", oe, normalize_oe(oe),
                       t.get("is_assembly") == "1", False)  # fmt: skip

        bar = ProgressBar("parts", parts)
        copy_rows(session, Part.__table__,
                   ["id", "code", "name", "category_id", "position", "unit", "oe_number",
                    "oe_normalized", "is_assembly", "universal"], part_rows(), bar)  # fmt: skip
        bar.finish()

        def alias_rows() -> Iterator[tuple[Any, ...]]:
            for i in range(parts):
                t = templates[i % len(templates)]
                for alias in [a for a in t["aliases"].split("|") if a]:
                    yield start_part + i, alias

        bar = ProgressBar("aliases")
        copy_rows(session, PartAlias.__table__, ["part_id", "alias"], alias_rows(), bar)
        bar.finish()

        def fitment_rows() -> Iterator[tuple[Any, ...]]:
            for i in range(parts):
                p = i // len(templates)
                for m in range(MODELS_PER_PLATFORM):
                    yield start_part + i, start_model + p * MODELS_PER_PLATFORM + m

        bar = ProgressBar("fitment", parts * MODELS_PER_PLATFORM)
        copy_rows(session, Fitment.__table__, ["part_id", "model_id"], fitment_rows(), bar)
        bar.finish()

        keys_per_part = len(scopes) * len(price_types)
        # Every fifth key has an older closed version too: k keys hold k + k // 5 versions.
        keys_needed = -(-prices * 5 // 6)
        per_part = min(keys_per_part, -(-keys_needed // parts))

        def price_rows() -> Iterator[tuple[Any, ...]]:
            written = 0
            for i in range(parts):
                base_fen = rng.randrange(5_000, 500_000)
                for k in range(per_part):
                    scope, region_id, branch_id = scopes[k // len(price_types)]
                    type_index = k % len(price_types)
                    amount = base_fen * (100 - 12 * type_index) // 100 + rng.randrange(0, 500)
                    common = (
                        start_part + i,
                        None,
                        scope,
                        region_id,
                        branch_id,
                        price_types[type_index],
                    )
                    if k % 5 == 0 and written < prices:
                        yield (
                            *common,
                            amount * 95 // 100,
                            date(2024, 1, 1),
                            date(2025, 1, 1),
                            "system",
                            "",
                            "scale",
                            "",
                        )
                        written += 1
                    if written < prices:
                        yield (*common, amount, date(2025, 1, 1), None, "system", "", "scale", "")
                        written += 1
                if written >= prices:
                    return

        bar = ProgressBar("prices", prices)
        count = copy_rows(session, Price.__table__,
                           ["part_id", "model_id", "scope", "region_id", "branch_id",
                            "price_type_id", "amount_fen", "valid_from", "valid_to", "source",
                            "source_ref", "created_by", "reason"], price_rows(), bar)  # fmt: skip
        elapsed = bar.finish()
        if session.connection().dialect.name == "postgresql":
            # COPY gave explicit ids: move the sequences past them.
            for table in ("vehicle_models", "parts"):
                session.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
        session.commit()
    # the statistics of the tables filled (PostgreSQL): the benchmarks' first queries come next
    analyze(engine, [Brand, Series, VehicleModel, Part, PartAlias, Fitment, Price])
    print(f"demo scale: {parts:,} parts, {count:,} prices ({elapsed:.1f}s for prices)")
