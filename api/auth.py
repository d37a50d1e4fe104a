"""API-key authentication and role guards.

`require(role)` is the guard of a route: it reads `X-API-Key`, finds the key by its SHA-256 (the
database holds nothing else) and compares the hashes in constant time (`pricebook.keys`). Answers
are 401 without a valid key and 403 when the key's role is below the route's. A key's lookup is
remembered for `CACHE_SECONDS` per process, so a key revoked from the CLI stops working within
that time (at once when revoked through the API on the same process).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from pricebook.keys import KeyInfo, authenticate, hash_key, role_allows

HEADER = "X-API-Key"
CACHE_SECONDS = 10.0
_CACHE_LIMIT = 10_000
_CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{HEADER}"'}


class KeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[KeyInfo, float]] = {}

    def get(self, digest: str) -> KeyInfo | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[0]

    def put(self, digest: str, info: KeyInfo) -> None:
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()
        self._entries[digest] = (info, time.monotonic() + CACHE_SECONDS)

    def forget(self, key_id: int) -> None:
        for digest, (info, _) in list(self._entries.items()):
            if info.id == key_id:
                self._entries.pop(digest, None)


async def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> KeyInfo:
    key = connection.headers.get(HEADER.lower(), "")
    if not key:
        raise NotAuthorizedException(f"send an API key in the {HEADER} header", headers=_CHALLENGE)
    state = connection.app.state
    cache: KeyCache = state.key_cache
    digest = hash_key(key)
    info = cache.get(digest)
    if info is None:

        async def lookup() -> KeyInfo | None:
            async with state.sessions() as session:
                return await session.run_sync(authenticate, key)

        info = await state.single_flight.run(("api_key", digest), lookup)
        if info is None:
            raise NotAuthorizedException("unknown or revoked API key", headers=_CHALLENGE)
        cache.put(digest, info)
    connection.state.caller = info
    return info


def require(role: str) -> Any:
    """The guard of a route that needs `role` or a higher one."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        info = await caller_of(connection)
        if not role_allows(info.role, role):
            raise PermissionDeniedException(
                f"this route needs role {role} or above; the key {info.prefix}… has {info.role}"
            )

    guard.__name__ = f"require_{role}"
    return guard
