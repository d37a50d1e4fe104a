"""The API tests' client: a loaded catalogue (`seed`), a key per role and a client (`Api`; the
`api` fixture in conftest.py), and reads of the database behind it."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from pricebook import keys
from pricebook.db import make_engine, transaction
from pricebook.models import ROLES, Part
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


def part_id_of(target: Api | Settings, code: str = "VW1-0001") -> int:
    """The id of the part `code` in the database behind `target` (an `Api`, a `Ui` or settings)."""
    settings = target if isinstance(target, Settings) else target.settings
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            return session.scalars(select(Part.id).where(Part.code == code)).one()
    finally:
        engine.dispose()


def db_scalars(api: Api, stmt):
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            return list(session.scalars(stmt))
    finally:
        engine.dispose()
