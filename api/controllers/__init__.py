"""Controllers of /api/v1, one per resource, and what they share."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Hashable
from typing import Annotated, Any, TypeVar

from litestar import Request
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import ValidationException
from litestar.params import PathParameter, QueryParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.problems import database_unavailable, problem_responses
from api.schemas import MAX_ID
from pricebook.keys import mark_written
from pricebook.replicas import ReplicaSet

T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size (1–200)")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="items to skip")]
Text = Annotated[str, QueryParameter(max_length=100)]
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
OptCode = Annotated[str | None, QueryParameter(min_length=1, max_length=64)]
#: a code or external id in the path (a channel's code, an estimate's id)
PathCode = Annotated[str, PathParameter(min_length=1, max_length=64)]

#: catalogue answers change rarely; prices and labor must be revalidated (ETag makes it cheap).
CATALOGUE_CACHE = CacheControlHeader(private=True, max_age=300)
REVALIDATE = CacheControlHeader(private=True, no_cache=True)
NO_STORE = CacheControlHeader(no_store=True)

READ_ERRORS = problem_responses(400, 401, 403, 422, 503)
ITEM_ERRORS = problem_responses(400, 401, 403, 404, 422, 503)


async def run(state: State, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a core query (a function of a sync Session) on the request's own session."""
    async with state.sessions() as session:
        return await session.run_sync(fn, *args, **kwargs)


async def autocommit(state: State, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a core function of a Connection on a bare connection in autocommit mode: no BEGIN
    and no COMMIT/ROLLBACK around it (two round trips fewer), and no Session. For reads that
    need no single snapshot (each statement reads committed data, as under READ COMMITTED) and
    for a function whose only write is one statement (a validation's INSERT)."""
    engine: AsyncEngine = state.engine
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return await connection.run_sync(fn, *args, **kwargs)


async def write(state: State, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a core write in one transaction (committed on success)."""
    async with state.sessions.begin() as session:
        return await session.run_sync(fn, *args, **kwargs)


log = logging.getLogger("pricebook.replicas")


def _who(caller: Any) -> Hashable | None:
    return None if caller is None else ("api-key", caller.id)


def reader_of(request: Request[Any, Any, Any]) -> Hashable | None:
    """Whose reads these are, for read-your-writes: the calling API key (set by its guard)."""
    return _who(request.state.get("caller"))


async def on_replica(
    request: Request[Any, Any, Any], call: Callable[[AsyncEngine], Awaitable[T]]
) -> T:
    """`call(engine)` on a replica in use (`pricebook.replicas`: lag within the bound, and the
    caller has not written in the read-your-writes window), else on the primary. A replica
    that fails is dropped and the read runs again on the primary: reads are safe to repeat,
    and a replica going away must not cost an answer. (A `call` that also uses the primary,
    as a validation does, drops the replica for a failure of the primary too: the next check,
    within a second, brings it back.)"""
    state = request.app.state
    replicas: ReplicaSet = state.replicas
    caller = request.state.get("caller")
    replica = replicas.for_read(reader_of(request), caller.last_write_at if caller else None)
    if replica is not None:
        try:
            return await call(replica.engine)
        except (SQLAlchemyError, OSError) as exc:
            if database_unavailable(exc):
                replicas.failed(replica, exc)
            else:  # e.g. a query cancelled by a recovery conflict: the primary has none
                log.warning("replica %s: a read failed, retried on the primary: %s",
                            replica.name, exc)  # fmt: skip
    return await call(state.engine)


async def read(
    request: Request[Any, Any, Any], fn: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """`run` for a read that may be served by a replica (see `on_replica`)."""

    async def on(engine: AsyncEngine) -> T:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await session.run_sync(fn, *args, **kwargs)

    return await on_replica(request, on)


async def read_autocommit(
    request: Request[Any, Any, Any], fn: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """`autocommit` for a read that may be served by a replica (see `on_replica`)."""

    async def on(engine: AsyncEngine) -> T:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await connection.run_sync(fn, *args, **kwargs)

    return await on_replica(request, on)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def read_your_writes_middleware(app: ASGIApp) -> ASGIApp:
    """Marks the API key of every /api/v1 request that may have written (any method but GET,
    HEAD and OPTIONS, on a route without `opt={"writes": False}`), before its answer leaves:
    that key then reads from the primary for PRICEBOOK_READ_YOUR_WRITES_SECONDS
    (`pricebook.replicas`)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        if (
            scope["type"] != "http"
            or scope["method"] in _SAFE_METHODS
            or (handler is not None and handler.opt.get("writes") is False)
        ):
            await app(scope, receive, send)
            return

        async def marking(message: Message) -> None:
            if message["type"] == "http.response.start":
                caller = (scope.get("state") or {}).get("caller")
                state = scope["app"].state
                if caller is not None and state.replicas.replicas:
                    state.replicas.wrote(_who(caller))
                    await _mark_written(state.engine, caller.id)
            await send(message)

        await app(scope, receive, marking)

    return middleware


async def _mark_written(engine: AsyncEngine, key_id: int) -> None:
    """`pricebook.keys.mark_written` on the primary before the answer leaves, so that the writer's next
    request, on whichever node, reads from the primary. A primary that cannot take it has
    failed the write too: nothing more to say."""
    try:
        async with engine.begin() as connection:
            await connection.run_sync(mark_written, key_id)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("read-your-writes: the write of key %s was not recorded: %s", key_id, exc)


#: a JSON string, escapes included: what is inside is text, not structure
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: every bracket as `[`/`]`, everything else dropped
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
#: bodies the JSON decoder never sees
_NOT_JSON = ("multipart/", "application/x-www-form-urlencoded")


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether `[`/`{` outside strings nest deeper than `limit` in a JSON body, without
    recursing (the decoders, msgspec and json, do: ~1,000 levels raise RecursionError). The
    brackets left once strings are cut out lose their innermost level with each pass of
    `replace`; all of it runs in C. A body whose brackets do not pair up is left to the
    decoder, which refuses it."""
    if body.count(b"[") + body.count(b"{") <= limit:  # cannot be deeper: the common case
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(_SQUARE, _NOT_BRACKET)
    too_deep = b"[" * (limit + 1)
    for _ in range(limit):
        if too_deep in brackets:  # a run of openers: the usual deep body, found at once
            return True
        inner = brackets.replace(b"[]", b"")
        if not inner or inner == brackets:
            return False
        brackets = inner
    return True


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Before any /api/v1 handler decodes anything: NUL cannot be stored or compared as text
    (PostgreSQL refuses it), and a JSON body nested deeper than `Settings.json_max_depth`
    exhausts the decoder's stack: a 400 each, not a 500."""
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        content_type = request.headers.get("content-type", "").lower()
        if not content_type.startswith(_NOT_JSON):
            limit = request.app.state.settings.json_max_depth
            if json_too_deep(await request.body(), limit):
                raise ValidationException(
                    f"the JSON body is nested deeper than {limit} levels",
                    extra=[{"key": "body", "message": f"nested deeper than {limit} levels"}],
                )
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            raise ValidationException(
                f"invalid {key}: NUL characters are not allowed",
                extra=[{"key": key, "message": "NUL characters are not allowed"}],
            )
    for key, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValidationException(
                f"invalid {key}: NUL characters are not allowed",
                extra=[{"key": key, "message": "NUL characters are not allowed"}],
            )


def accepted_query(handler: Any, path_params: Any) -> frozenset[str]:
    """The query parameter names `handler` declares (its own and its dependencies', as the
    client spells them), from the kwargs model Litestar builds for it; kept on the handler."""
    names: frozenset[str] | None = getattr(handler, "_pricebook_query", None)
    if names is None:
        model = handler.create_kwargs_model({name: None for name in path_params})
        names = frozenset(p.field_alias for p in model.expected_query_params)
        with contextlib.suppress(AttributeError):  # a handler without a __dict__: no memo
            handler._pricebook_query = names
    return names


async def reject_unknown_query(request: Request[Any, Any, Any]) -> None:
    """A query parameter the route does not declare is a 400 naming it (and what the route
    accepts), not silently ignored: a misspelt `chanel=` must not quietly change the answer.
    For /api/v1 only; the staff UI stays lenient."""
    handler = request.scope.get("route_handler")
    if handler is None or not hasattr(handler, "create_kwargs_model"):
        return
    accepted = accepted_query(handler, request.path_params)
    unknown = sorted({key for key in request.query_params if key not in accepted})
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise ValidationException(
            f"unknown query parameter(s): {', '.join(unknown)}",
            extra=[
                {"key": key, "source": "query",
                 "message": f"unknown query parameter; this route accepts: {allowed}"}
                for key in unknown
            ],
        )  # fmt: skip


async def check_query(request: Request[Any, Any, Any]) -> None:
    """/api/v1's before-request hook: the body's depth, no NUL anywhere, no undeclared query
    parameter."""
    await check_request(request)
    await reject_unknown_query(request)
