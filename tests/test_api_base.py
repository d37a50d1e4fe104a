"""Shared by the API tests: a loaded catalogue, a key per role, a client. Imported by the
test_api_* modules (pytest finds fixtures in a module's namespace)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from pricebook import keys
from pricebook.db import make_engine, transaction
from pricebook.models import ROLES
from pricebook.settings import Settings
from tests import catalog_rows


@dataclass
class Api:
    client: AsyncTestClient
    keys: dict[str, str]
    settings: Settings

    def h(self, role: str = "estimate_tool", **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role], **extra}

    async def get(self, url: str, role: str = "estimate_tool", **kwargs):
        return await self.client.get(url, headers=self.h(role), **kwargs)


def seed(settings: Settings, rows=None) -> dict[str, str]:
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            catalog_rows.load(session, rows)
            made = {
                role: keys.create_key(session, name=f"test {role}", role=role, actor="test")[1]
                for role in ROLES
            }
    finally:
        engine.dispose()
    return made


@pytest.fixture(name="api")
async def api_fixture(settings: Settings) -> AsyncIterator[Api]:
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, made, settings)


def test_the_test_catalogue_loads(settings):
    assert set(seed(settings)) == set(ROLES)
