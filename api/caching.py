"""ETag and conditional GETs for the versioned API.

A pure ASGI middleware: a successful GET's body is hashed into a strong ETag; a request whose
If-None-Match names it gets 304 with no body. Cache-Control comes from each controller
(`private`: answers depend on the caller's key; catalogue data may be reused for a while, prices
and labor must be revalidated, which the ETag makes cheap).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from litestar.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

_DROP_ON_304 = {b"content-length", b"content-type", b"content-encoding"}


def _matches(header: str, etag: str) -> bool:
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def etag_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = list(start.get("headers", []))
            cache_control = b"".join(v for k, v in headers if k.lower() == b"cache-control")
            if start.get("status") == 200 and b"no-store" not in cache_control:
                etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
                headers.append((b"etag", etag.encode()))
                headers.append((b"vary", b"X-API-Key"))
                if_none_match = ""
                for k, v in scope["headers"]:
                    if k == b"if-none-match":
                        if_none_match = v.decode("latin-1")
                if if_none_match and _matches(if_none_match, etag):
                    headers = [(k, v) for k, v in headers if k.lower() not in _DROP_ON_304]
                    await send({"type": "http.response.start", "status": 304, "headers": headers})
                    await send({"type": "http.response.body", "body": b""})
                    return
            start["headers"] = headers
            await send(start)  # type: ignore[arg-type]
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    return middleware


class SingleFlight:
    """At most one load per key at a time; whoever asks meanwhile awaits the same result.

    A per-process cache (the price API's branch and region trees) expires for every request in
    flight at once: under load each of them would reload it, a burst of identical queries every
    few seconds that shows up in the tail latency."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(load())
            self._running[key] = future
            future.add_done_callback(lambda f: self._done(key, f))
        # shielded: one waiter's cancellation (a client gone) must not cancel the others' load
        return await asyncio.shield(future)  # type: ignore[no-any-return]

    def _done(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        self._running.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved: an error every waiter already got is not "unhandled"
