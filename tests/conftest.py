"""Fixtures: a migrated database per test on SQLite (a file in tmp_path) and PostgreSQL (when
the environment gives a server: `tests/ci.py`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from api.app import create_app
from pricebook import migrate, review_config
from pricebook.db import make_engine, transaction
from pricebook.models import Part, VehicleModel
from pricebook.settings import Settings
from tests.api_client import Api, seed
from tests.ci import POSTGRES_URL, admin_engine, require_postgres
from tests.estimate_data import CONFIG
from tests.processes import pricebook
from tests.ui_client import Ui


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database migrated to head once per run; each test copies it (CREATE … TEMPLATE)."""
    name = f"pricebook_tpl_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
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
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(require_postgres()).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres_only` run on PostgreSQL alone when it is configured: their SQLite
    variant is left out (it would repeat seconds of subprocesses for what in-process tests
    already cover there). Without PostgreSQL they run on SQLite."""
    if not POSTGRES_URL:
        return
    left_out = [
        item
        for item in items
        if item.get_closest_marker("postgres_only")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("settings") == "sqlite"
    ]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


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
    admin = admin_engine()
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


@pytest.fixture
async def http(api: Api) -> SimpleNamespace:
    """`api` with the review configuration of the validation tests (`tests/estimate_data.py`),
    and the test catalogue's part ids by code and its VW-LAVIDA-2023 model id."""
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as s:
            review_config.import_review_config(s, CONFIG, actor="test", reason="test config")
            parts = {p.code: p.id for p in s.scalars(select(Part))}
            model = s.scalar(select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023"))
    finally:
        engine.dispose()
    return SimpleNamespace(api=api, parts=parts, model=model)


@pytest.fixture
def cli_db(tmp_path) -> str:
    """A migrated SQLite database file for the `pricebook` command, as its URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert pricebook("db", "upgrade", database_url=url).returncode == 0
    return url


@pytest.fixture
async def ui(settings: Settings) -> AsyncIterator[Ui]:
    """The web UI on `settings`' database with the test catalogue; redirects are not followed."""
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        client.follow_redirects = False
        yield Ui(client, made, settings)
