"""Migrations are the only source of the schema: up, down, up again, and they match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pricebook import migrate
from pricebook.db import make_engine
from pricebook.models import Base
from pricebook.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("empty_postgres_url")


def test_single_head():
    from alembic.script import ScriptDirectory

    assert len(ScriptDirectory.from_config(migrate.alembic_config()).get_heads()) == 1


def test_upgrade_downgrade_upgrade_and_models_match(empty_url: str):
    engine = make_engine(Settings(database_url=empty_url))
    try:
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
        migrate.downgrade(engine, "base")
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        migrate.upgrade(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_stored_validations_are_lz4_compressed_and_downgrade_restores_pglz(empty_postgres_url: str):
    """0006: a validation's stored result (~60 KB of JSON) is compressed with lz4, not pglz."""
    engine = make_engine(Settings(database_url=empty_postgres_url))

    def compression() -> dict[str, str]:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT attname, attcompression FROM pg_attribute "
                "WHERE attrelid = 'estimate_validations'::regclass "
                "AND attname IN ('request', 'result')"
            )
            return {name: str(method) for name, method in rows}

    try:
        migrate.upgrade(engine)
        assert compression() == {"request": "l", "result": "l"}
        migrate.downgrade(engine, "0005")
        assert compression() == {"request": "p", "result": "p"}
    finally:
        engine.dispose()


def _revision_module(revision: str):
    """A migration's module (its helpers), loaded from its file."""
    import importlib.util

    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision)
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", script.path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: stored results as 0011's fill may find them, odd ones included
ODD_RESULTS = [
    {"lines": [
        {"kind": "part", "status": "flagged", "part": {"id": 7}},
        {"kind": "part", "status": "ok", "part": None},
        {"kind": "labor", "status": "flagged", "part": {"id": 7}},
        {"kind": "part", "status": "unknown", "part": {"id": "8"}},
        {"kind": "part", "status": "ok", "part": {"id": True}},
        {"kind": "part", "status": "flagged", "part": {"id": 7}},
        "not a line",
    ], "counts": {"PART_PRICE_ABOVE_REFERENCE": 2, "LABOR_RATE_ABOVE_STANDARD": 1}},
    {},
    {"lines": "not a list", "counts": ["not", "a", "dict"]},
    [1, 2, 3],
]  # fmt: skip


def test_0011_fills_the_summary_columns_of_earlier_rows_as_its_python_summary_says(empty_url):
    """On PostgreSQL the fill is SQL, on SQLite Python (`summary`): over the same stored
    results, odd ones included, both give what `summary` gives."""
    import json

    from sqlalchemy import text

    engine = make_engine(Settings(database_url=empty_url))
    try:
        migrate.upgrade(engine, "0010")
        with engine.begin() as c:
            c.execute(text("INSERT INTO regions (id, code, name, level) "
                           "VALUES (1, '440300', '深圳', 'city')"))  # fmt: skip
            c.execute(text("INSERT INTO branches (id, code, name, kind, region_id, "
                           "authority_limit_fen) VALUES (1, 'SZ01', '深圳分公司', 'branch', 1, 0)"))  # fmt: skip
            for n, result in enumerate(ODD_RESULTS, start=1):
                c.execute(
                    text(
                        "INSERT INTO estimate_validations (id, estimate_id, estimate_version, "
                        "estimate_date, branch_id, vin, model_selected, part_lines, "
                        "custom_part_lines, custom_matched, claimed_fen, allowed_fen, cut_fen, "
                        "profile_code, profile_version, replaced_part_ids, request, result, "
                        "created_by) VALUES (:n, :e, 1, '2026-11-02', 1, '', false, 0, 0, 0, 0, "
                        "0, 0, 'default', 1, '[]', '{}', :result, 'test')"
                    ),
                    {"n": n, "e": f"E-{n}", "result": json.dumps(result)},
                )
        migrate.upgrade(engine)
        with engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT part_ids, flag_counts, flagged_lines FROM estimate_validations "
                    "ORDER BY id"
                )
            ).all()
        filled = [
            {"part_ids": json.loads(p) if isinstance(p, str) else p,
             "flag_counts": json.loads(f) if isinstance(f, str) else f, "flagged_lines": n}
            for p, f, n in rows
        ]  # fmt: skip
        summary = _revision_module("0011").summary
        assert filled == [summary(r) for r in ODD_RESULTS]
        assert filled[0] == {
            "part_ids": [7, 7],  # the part lines' parts, as often as claimed; "8", true: no ids
            "flag_counts": {"PART_PRICE_ABOVE_REFERENCE": 2, "LABOR_RATE_ABOVE_STANDARD": 1},
            "flagged_lines": 3,
        }
        assert filled[1:] == [{"part_ids": [], "flag_counts": {}, "flagged_lines": 0}] * 3
    finally:
        engine.dispose()
