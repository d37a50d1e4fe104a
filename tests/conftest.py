"""Fixtures: a migrated database per test on SQLite (a file in tmp_path) and PostgreSQL.

PostgreSQL tests run when PRICEBOOK_TEST_POSTGRES_URL points at a server (any database on it;
the tests create and drop their own). Without it they skip, except under CI=true, where a
skipped PostgreSQL test fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from pricebook import migrate
from pricebook.db import make_engine, sync_url
from pricebook.settings import Settings
from tests.api_client import Api, seed

POSTGRES_URL = os.environ.get("PRICEBOOK_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_postgres() -> str:
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail(
                "CI=true but PRICEBOOK_TEST_POSTGRES_URL is not set: PostgreSQL tests must run"
            )
        pytest.skip("PRICEBOOK_TEST_POSTGRES_URL not set")
    return POSTGRES_URL


def _admin_engine() -> Engine:
    url = sync_url(require_postgres()).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database migrated to head once per run; each test copies it (CREATE … TEMPLATE)."""
    name = f"pricebook_tpl_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(require_postgres()).set(database=name)
    engine = make_engine(Settings(database_url=url.render_as_string(hide_password=False)))
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (for migration tests), dropped afterwards."""
    name = f"pricebook_t_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(require_postgres()).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path) -> Iterator[Settings]:
    """Settings for a freshly migrated database, on each backend."""
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'pricebook.db'}")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        engine.dispose()
        yield settings
        return
    template = request.getfixturevalue("postgres_template")
    name = f"pricebook_t_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = make_url(require_postgres()).set(database=name)
    yield Settings(database_url=url.render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app on `settings`' database with the test catalogue and a key per role."""
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, made, settings)
