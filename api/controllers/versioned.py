"""Keys under ETag: a versioned key (a price, a labor rate, standard hours, a rate card) and the
word sets (a part's aliases, a synonym group, the price type vocabulary). A read answers the
key's ETag in the `ETag` header and the body; every write sends it back in `If-Match`, runs in
one transaction with the caller as actor and the request's reason (the core re-checks the ETag
inside the key's lock), and answers 201 when it added something, else 200, with the new ETag.

`tagged` is a read's body, `edit` a write's; `edit_route` and `versions_route` declare their
routes; `add_route` and `end_route` are the whole routes that add a version and end one early,
the same on every versioned key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from api.controllers import (
    IF_MATCH_DOC,
    NO_STORE,
    STAFF,
    VERSIONS_ERRORS,
    WRITE_ERRORS,
    Actor,
    ETags,
    IfMatch,
    PathId,
    run,
    unchanged,
    with_etag,
    write,
    written,
)
from api.schemas import EndValidity, to

T = TypeVar("T")


class Tagged(Protocol):
    """A core read of a key: with the key's ETag."""

    @property
    def etag(self) -> str: ...


class Written(Tagged, Protocol):
    """A core write of a key: with what it did, and the key's new ETag."""

    @property
    def action(self) -> str: ...


R = TypeVar("R", bound=Tagged)
W = TypeVar("W", bound=Written)
F = TypeVar("F", bound=Callable[..., Any])

#: the options of a pricing-staff route under a controller open to lower roles
_STAFF_ONLY: dict[str, Any] = {"guards": STAFF, "cache_control": NO_STORE}

#: the description of a DELETE that writes
REASON_IN_QUERY = "`reason` is a query parameter here."

#: a route decorator of Litestar's (`post`, `put`, `delete`)
Method = Callable[..., Callable[[Callable[..., Any]], HTTPRouteHandler]]


def edit_route(
    method: Method,
    path: str,
    *,
    summary: str,
    description: str = "",
    adds: Any = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """The route of a write, its description followed by what If-Match asks. With `adds` (the
    answer's type) it is a write that adds: 201, and 200 `unchanged` when there was nothing to
    add; without, a write that ends or removes: 200."""
    if adds is None:
        status, responses = 200, WRITE_ERRORS
    else:
        status, responses = 201, unchanged(adds)
    return method(
        path,
        summary=summary,
        description=description + IF_MATCH_DOC,
        status_code=status,
        responses=responses,
        **options,
    )


async def tagged(
    state: State,
    answer: type[T] | Callable[[R], T],
    fn: Callable[..., R],
    /,
    *args: Any,
    **kwargs: Any,
) -> Response[T]:
    """A key read by `fn(session, *args, **kwargs)`, answered as `answer` with its ETag."""
    found = await run(state, fn, *args, **kwargs)
    return with_etag(_as(answer, found), found.etag)


async def edit(
    state: State,
    answer: type[T] | Callable[[W], T],
    fn: Callable[..., W],
    /,
    *args: Any,
    actor: str,
    reason: str,
    if_match: ETags,
    **kwargs: Any,
) -> Response[T]:
    """`fn(session, *args, actor=, reason=, expected_etag=, **kwargs)` in one transaction,
    answered as `answer` (a boundary type the result converts to, or a function making it)."""
    done = await write(
        state, fn, *args, actor=actor, reason=reason, expected_etag=if_match, **kwargs
    )
    return written(_as(answer, done), done.action, done.etag)


def _as(answer: type[T] | Callable[[R], T], found: R) -> T:
    """The boundary type `answer` of a core result (or what the function `answer` makes of it)."""
    return to(answer, found) if isinstance(answer, type) else answer(found)


def versions_route(
    summary: str, **options: Any
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """`GET /versions` of a versioned key (pricing staff): every version, with the key's ETag."""
    return get("/versions", summary=summary, responses=VERSIONS_ERRORS, **_STAFF_ONLY, **options)


def add_route(
    add: Callable[..., Written],
    body: type[Any],
    answer: type[Any],
    *,
    name: str,
    summary: str,
    description: str,
) -> HTTPRouteHandler:
    """`POST /versions` of a versioned key (pricing staff): `add(session, data, actor=, reason=,
    expected_etag=)` adds the version `data` (a `body`), closing the one in force. `name` is the
    handler's, which the operation id is made of."""

    async def handler(
        self: Controller, state: State, data: Any, actor: Actor, if_match: IfMatch
    ) -> Response[Any]:
        return await edit(
            state, answer, add, data, actor=actor, reason=data.reason, if_match=if_match
        )

    # the body's and the answer's schemas in the OpenAPI document come from these annotations
    annotations = {"data": Annotated[body, Body()], "return": Response[answer]}
    route = edit_route(
        post, "/versions", summary=summary, description=description, adds=answer, **_STAFF_ONLY
    )
    return route(_named(handler, name, annotations))


def end_route(
    end: Callable[..., Written],
    answer: type[Any],
    *,
    name: str,
    summary: str,
    description: str = "",
) -> HTTPRouteHandler:
    """`POST /versions/{version_id}/end` of a versioned key (pricing staff): `end(session,
    version_id, valid_to=…)` shortens the version or withdraws it. `name` as for `add_route`."""

    async def handler(
        self: Controller,
        state: State,
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[Any]:
        return await edit(
            state,
            answer,
            end,
            version_id,
            valid_to=data.valid_to,
            actor=actor,
            reason=data.reason,
            if_match=if_match,
        )

    route = edit_route(
        post,
        "/versions/{version_id:int}/end",
        summary=summary,
        description=description,
        **_STAFF_ONLY,
    )
    return route(_named(handler, name, {"return": Response[answer]}))


def _named(handler: F, name: str, annotations: dict[str, Any]) -> F:
    """`handler` as the handler `name` of its controller, with `annotations` replacing those it
    was written with (a type known only when the route is made)."""
    handler.__name__ = handler.__qualname__ = name
    handler.__annotations__ = {**handler.__annotations__, **annotations}
    return handler
