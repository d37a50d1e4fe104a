"""What the API write tests send: versioned writes with their If-Match, and file imports."""

from __future__ import annotations

from tests.api_client import Api

#: the role that may write prices
STAFF = "pricing_staff"

#: two GD01 4S prices as an import file
PRICES_CSV = (
    "part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
    "VW1-0003,,GD01,4s,55.00,2026-01-01,\n"
    "VW1-0004,,GD01,4s,120.00,2026-01-01,\n"
)


async def post(api: Api, url: str, body: dict, etag: str | None, role: str = STAFF):
    """POST `body`, with If-Match `etag` unless it is None."""
    headers = api.h(role) if etag is None else api.h(role, **{"If-Match": etag})
    return await api.client.post(url, json=body, headers=headers)


def gd01_key(pid: int) -> dict:
    """The key of part `pid`'s GD01 4S price."""
    return {"part_id": pid, "scope": "branch", "branch": "GD01", "price_type": "4s"}


async def upload(
    api: Api,
    kind: str,
    content: bytes,
    name: str,
    *,
    dry_run: bool,
    reason: str = "批量更新",
    role: str = STAFF,
):
    """Import file `name` of `kind` through the API (a preview when `dry_run`)."""
    return await api.client.post(
        f"/api/v1/imports/{kind}",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, content)},
        data={"reason": reason},
        headers=api.h(role),
    )
