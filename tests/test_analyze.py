"""Bulk loads ANALYZE the tables they filled, after their commit (PostgreSQL), so the first
queries after them are planned on statistics of the new data: `import` (file and HTTP) when it
changed at least `ANALYZE_MIN_ROWS` rows, `demo scale`, `demo load`. SQLite: nothing."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from pricebook.db import analyze, make_engine, transaction
from pricebook.demo import demo_rows, load_demo, scale_demo
from pricebook.io import IMPORT_KINDS, import_file
from pricebook.io.importers import ANALYZE_MIN_ROWS, REQUIRED_COLUMNS, TABLES_WRITTEN
from pricebook.models import (
    AuditEntry,
    Brand,
    Fitment,
    Part,
    PartAlias,
    Price,
    RuleProfileVersion,
    Series,
    VehicleModel,
)
from pricebook.settings import Settings
from tests import catalog_rows
from tests.api_client import Api

Stamps = dict[str, datetime | None]


def last_analyze(settings: Settings, tables: list[type]) -> Stamps:
    """`pg_stat_user_tables.last_analyze` of `tables` (None: never ANALYZEd by hand), read on
    a new connection with a fresh statistics snapshot. {} on SQLite."""
    engine = make_engine(settings)
    try:
        if engine.dialect.name != "postgresql":
            return {}
        names = sorted({t.__table__.name for t in tables})
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            found = dict(
                connection.execute(
                    text(
                        "SELECT relname, last_analyze FROM pg_stat_user_tables"
                        " WHERE relname = ANY(:names)"
                    ),
                    {"names": names},
                ).all()
            )
    finally:
        engine.dispose()
    assert sorted(found) == names
    return found


def assert_analyzed_since(before: Stamps, after: Stamps) -> None:
    for table, stamp in after.items():
        assert stamp is not None, f"{table} was not analyzed"
        assert before[table] is None or stamp > before[table], f"{table} was not analyzed again"


def sqlite_stats(engine: Engine) -> bool:
    """Whether SQLite has statistics (a `sqlite_stat1` table: ANALYZE ran)."""
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            )
        )


def price_chain(rows: int) -> list[dict[str, str]]:
    """`rows` versions of one price key, each day superseding the day before: `rows` changes."""
    start = date(2030, 1, 1)
    return [
        {"part_code": "VW1-0004", "model_code": "", "scope": "system", "price_type": "brand",
         "amount_yuan": f"{100 + i % 2}.00", "valid_from": str(start + timedelta(days=i)),
         "valid_to": ""}
        for i in range(rows)
    ]  # fmt: skip


def write_csv(path, rows: list[dict[str, str]]):
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REQUIRED_COLUMNS["prices"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_every_import_kind_names_the_tables_it_writes():
    assert set(TABLES_WRITTEN) == set(IMPORT_KINDS)


def test_analyze_refuses_a_connection_with_an_open_transaction(engine):
    with engine.connect() as connection:
        connection.execute(select(1))
        with pytest.raises(RuntimeError, match="after the load's commit"):
            analyze(connection, [Price])
    with engine.connect() as connection:  # none open: analyzed and committed
        analyze(connection, [Price])
        assert not connection.in_transaction()


def test_a_big_price_import_analyzes_prices_after_its_commit(engine, settings, tmp_path):
    with transaction(engine) as session:
        catalog_rows.load(session)
    chain = price_chain(ANALYZE_MIN_ROWS + 3)
    stamps = last_analyze(settings, [Price])

    # a dry run writes nothing: nothing to analyze
    report = import_file(engine, "prices", write_csv(tmp_path / "all.csv", chain), dry_run=True)
    assert report.changed == ANALYZE_MIN_ROWS + 3
    assert last_analyze(settings, [Price]) == stamps
    # a small import leaves the statistics to autovacuum
    small = import_file(engine, "prices", write_csv(tmp_path / "few.csv", chain[:3]))
    assert small.changed == 3
    assert last_analyze(settings, [Price]) == stamps
    # the rest of the chain: ANALYZE_MIN_ROWS changes
    report = import_file(engine, "prices", write_csv(tmp_path / "all.csv", chain), actor="bulk")
    assert report.changed == ANALYZE_MIN_ROWS and report.unchanged == 3
    with transaction(engine) as session:
        bulk = session.scalar(select(func.count()).where(Price.created_by == "bulk"))
    assert bulk == ANALYZE_MIN_ROWS
    if engine.dialect.name == "postgresql":
        assert_analyzed_since(stamps, last_analyze(settings, [Price]))
    else:
        assert not sqlite_stats(engine)


async def test_a_big_http_import_analyzes_after_its_commit(api: Api):
    chain = price_chain(ANALYZE_MIN_ROWS)
    lines = [",".join(REQUIRED_COLUMNS["prices"])]
    lines += [",".join(row[c] for c in REQUIRED_COLUMNS["prices"]) for row in chain]
    content = ("\n".join(lines) + "\n").encode()
    stamps = last_analyze(api.settings, [Price])

    async def upload(*, dry_run: bool):
        r = await api.client.post(
            "/api/v1/imports/prices", params={"dry_run": str(dry_run).lower()},
            files={"file": ("chain.csv", content)}, data={"reason": "整批更新"},
            headers=api.h("pricing_staff"),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["changed"] == ANALYZE_MIN_ROWS
        return r

    await upload(dry_run=True)
    assert last_analyze(api.settings, [Price]) == stamps
    await upload(dry_run=False)
    after = last_analyze(api.settings, [Price])
    if stamps or after:  # PostgreSQL
        assert_analyzed_since(stamps, after)


def test_demo_load_analyzes_every_table_it_filled(engine, settings):
    tables = sorted({t for kind in demo_rows() for t in TABLES_WRITTEN[kind]}, key=str)
    tables += [RuleProfileVersion, AuditEntry]
    stamps = last_analyze(settings, tables)
    load_demo(engine)
    if engine.dialect.name == "postgresql":
        assert_analyzed_since(stamps, last_analyze(settings, tables))
    else:
        assert not sqlite_stats(engine)


def test_demo_scale_analyzes_the_tables_it_filled(engine, settings):
    tables = [Brand, Series, VehicleModel, Part, PartAlias, Fitment, Price]
    load_demo(engine)  # analyzes too: scale's own ANALYZE must come later still
    stamps = last_analyze(settings, tables)
    scale_demo(engine, parts=200, prices=2000)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).where(Price.created_by == "scale")) == 2000
    if engine.dialect.name == "postgresql":
        assert_analyzed_since(stamps, last_analyze(settings, tables))
    else:
        assert not sqlite_stats(engine)


def test_db_analyze_refreshes_every_table(settings):
    """`pricebook db analyze`, for a database restored or loaded outside pricebook."""
    import subprocess
    import sys
    from pathlib import Path

    from pricebook.models import EstimateValidation, MarketObservation

    tables = [Price, Part, Fitment, MarketObservation, EstimateValidation, AuditEntry]
    before = last_analyze(settings, tables)
    done = subprocess.run(
        [sys.executable, "-m", "pricebook.cli", "db", "analyze"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PRICEBOOK_DATABASE_URL": settings.database_url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if settings.is_sqlite:
        assert "nothing to do on SQLite" in done.stdout
        return
    assert done.stdout.startswith("analyzed ")
    assert_analyzed_since(before, last_analyze(settings, tables))
