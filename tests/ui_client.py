"""The web UI tests' client (`Ui`; the `ui` fixture in conftest.py): a session per role, the
CSRF token of each form, and what the pages give back (links, CSV exports)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from litestar.testing import AsyncTestClient

from pricebook.settings import Settings

CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')
SEEN_FIELD = re.compile(r'name="seen" value="([^"]*)"')
#: a Latin word of three letters or more: shown errors are in Chinese, so none should match
ENGLISH = re.compile(r"[A-Za-z]{3,}")


@dataclass
class Ui:
    client: AsyncTestClient
    keys: dict[str, str]
    settings: Settings

    async def token(self, path: str = "/login") -> str:
        page = await self.client.get(path)
        match = CSRF_FIELD.search(page.text)
        assert match, page.text[:500]
        return match.group(1)

    async def login(self, role: str) -> None:
        token = await self.token("/login")
        r = await self.client.post(
            "/login", data={"api_key": self.keys[role], "next": "/parts", "_csrf_token": token}
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/parts"

    async def seen(self, part_id: int) -> str:
        """What the part page's edit form says it showed (its price keys' ETags)."""
        match = SEEN_FIELD.search((await self.client.get(f"/parts/{part_id}")).text)
        assert match, "the edit form carries `seen`"
        return match.group(1)

    async def post(self, path: str, data: dict[str, str], *, page: str = "/parts", **kw):
        token = await self.token(page)
        return await self.client.post(path, data={**data, "_csrf_token": token}, **kw)


def read_export(body: bytes) -> list[list[str]]:
    """A CSV export read back as Excel would: a BOM first, then UTF-8 CSV."""
    assert body.startswith("\ufeff".encode()), "a BOM, so Excel reads UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def link_in(page: str, pattern: str) -> str:
    """The link `pattern` captures in `page`, unescaped."""
    match = re.search(pattern, page)
    assert match, pattern
    return match.group(1).replace("&amp;", "&")
