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
