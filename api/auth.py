"""API-key authentication, role guards and per-key rate limits.

`require(role)` is the guard of a route: it reads `X-API-Key`, finds the key by its SHA-256 (the
database holds nothing else) and compares the hashes in constant time (`pricebook.keys`). Answers
are 401 without a valid key, 403 when the key's role is below the route's and 429 (with
Retry-After) past the key's rate limit (`api.ratelimit`, PRICEBOOK_RATE_LIMIT).

Every request reads its key from the database: nothing is remembered between requests, so a key
revoked by any process (the API, the CLI, by hand) is refused by every process on its next
request. The lookup is one statement on the unique index of `api_keys.key_hash`, on a bare
autocommit connection (one round trip; in a session, BEGIN and ROLLBACK made it three): any
per-request check (a key generation counter) would cost that round trip too. A cache told of
changes by LISTEN/NOTIFY was tried and lost the race: a request sent right after a revocation
was sometimes answered before the notification was read.
Concurrent requests with the same key share one lookup (`SingleFlight`).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncEngine

from api.ratelimit import RateLimiter, retry_after
from pricebook.keys import KeyInfo, authenticate, hash_key, role_allows

HEADER = "X-API-Key"
_CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{HEADER}"'}


def _limit(connection: ASGIConnection[Any, Any, Any, Any], who: tuple[str, Any]) -> None:
    limiter: RateLimiter | None = connection.app.state.get("rate_limiter")
    if limiter is None:
        return
    wait = limiter.hit(who)
    if wait is not None:
        raise TooManyRequestsException(
            f"too many requests: at most {limiter.count} per {limiter.period:g} s "
            f"for one {'key' if who[0] == 'key' else 'client without a valid key'}",
            headers={"Retry-After": retry_after(wait)},
        )


def _client(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, Any]:
    client = connection.scope.get("client")
    return ("ip", client[0] if client else "")


async def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> KeyInfo:
    key = connection.headers.get(HEADER.lower(), "")
    if not key:
        _limit(connection, _client(connection))
        raise NotAuthorizedException(f"send an API key in the {HEADER} header", headers=_CHALLENGE)
    state = connection.app.state

    async def lookup() -> KeyInfo | None:
        # a bare autocommit connection: one round trip (a session adds BEGIN and ROLLBACK)
        engine: AsyncEngine = state.engine
        async with engine.connect() as db:
            await db.execution_options(isolation_level="AUTOCOMMIT")
            return await db.run_sync(authenticate, key)

    info = await state.single_flight.run(("api_key", hash_key(key)), lookup)
    if info is None:
        _limit(connection, _client(connection))
        raise NotAuthorizedException("unknown or revoked API key", headers=_CHALLENGE)
    _limit(connection, ("key", info.id))
    connection.state.caller = info
    return info


def require(role: str) -> Any:
    """The guard of a route that needs `role` or a higher one."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        # a route under a controller's guard and its own higher one looks the key up (and
        # counts it against the rate limit) once
        info: KeyInfo = connection.state.get("caller") or await caller_of(connection)
        if not role_allows(info.role, role):
            raise PermissionDeniedException(
                f"this route needs role {role} or above; the key {info.prefix}… has {info.role}"
            )

    guard.__name__ = f"require_{role}"
    return guard
