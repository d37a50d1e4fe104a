"""Import 1,000,000 price rows into PostgreSQL through `pricebook import`, and COPY the same rows
raw, in one run; prints rows/s for both and their ratio (goal: import ≤ 3× raw COPY).

    .venv/bin/python bench/import.py [--rows 1000000] [--parts 50000]

Both runs start from copies of one prepared database (demo catalogue + synthetic parts), so they
write into identical tables with the same indexes, exclusion constraint and triggers.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.common import database_name, scratch_database
from pricebook import migrate
from pricebook.db import make_engine, session_factory
from pricebook.demo.scale import scale_demo
from pricebook.io import import_file
from pricebook.models import Branch, Part, PriceType
from pricebook.settings import Settings

COLUMNS = [
    "part_code",
    "model_code",
    "scope",
    "price_type",
    "amount_yuan",
    "valid_from",
    "valid_to",
]


def write_rows(engine, path: Path, rows: int) -> list[tuple]:
    """The CSV to import, and the same rows resolved to ids for the raw COPY."""
    with session_factory(engine)() as session:
        parts = session.execute(
            select(Part.id, Part.code).where(Part.code.like("SCALE-%")).order_by(Part.id)
        ).all()
        branches = session.execute(select(Branch.id, Branch.code).order_by(Branch.id)).all()
        types = session.execute(select(PriceType.id, PriceType.code).order_by(PriceType.id)).all()
    scopes = [("system", None)] + [(code, id_) for id_, code in branches]
    raw: list[tuple] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        n = 0
        for k in range(len(scopes) * len(types)):
            scope, branch_id = scopes[k // len(types)]
            type_id, type_code = types[k % len(types)]
            for part_id, part_code in parts:
                if n == rows:
                    return raw
                fen = 10_000 + (part_id * 7919 + k * 104729) % 400_000
                writer.writerow(
                    [
                        part_code,
                        "",
                        scope,
                        type_code,
                        f"{fen // 100}.{fen % 100:02d}",
                        "2025-01-01",
                        "",
                    ]
                )
                raw.append(
                    (
                        part_id,
                        None,
                        "system" if scope == "system" else "branch",
                        None,
                        branch_id,
                        type_id,
                        fen,
                        "2025-01-01",
                        None,
                        "import",
                        "",
                        "bench",
                        "",
                    )
                )
                n += 1
    if n < rows:
        raise SystemExit(f"only {n} distinct keys for {rows} rows: use more --parts")
    return raw


def raw_copy(url: str, rows: list[tuple]) -> float:
    engine = make_engine(Settings(database_url=url))
    started = time.perf_counter()
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY prices (part_id, model_id, scope, region_id, branch_id, price_type_id, amount_fen,"
                " valid_from, valid_to, source, source_ref, created_by, reason) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=50_000)
    args = parser.parse_args()

    with scratch_database("pricebook_bench_tpl") as template_url:
        engine = make_engine(Settings(database_url=template_url))
        migrate.upgrade(engine)
        scale_demo(engine, parts=args.parts, prices=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prices.csv"
            rows = write_rows(engine, path, args.rows)
            engine.dispose()
            template = database_name(template_url)

            with scratch_database(template=template) as url:
                copy_seconds = raw_copy(url, rows)
            with scratch_database(template=template) as url:
                engine = make_engine(Settings(database_url=url))
                started = time.perf_counter()
                report = import_file(engine, "prices", path, actor="bench", reason="bench")
                import_seconds = time.perf_counter() - started
                engine.dispose()

    assert report.created == args.rows, report.summary()
    print(f"rows                 {args.rows:>12,}")
    print(
        f"raw COPY             {copy_seconds:>10.2f} s  {args.rows / copy_seconds:>12,.0f} rows/s"
    )
    print(
        f"pricebook import     {import_seconds:>10.2f} s  {args.rows / import_seconds:>12,.0f} rows/s"
    )
    print(f"import / COPY        {import_seconds / copy_seconds:>10.2f} x  (goal ≤ 3x)")


if __name__ == "__main__":
    main()
