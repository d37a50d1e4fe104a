"""One exception handler: every error leaves as RFC 9457 problem+json, never as a bare 500.

Domain errors map by class (see pricebook.errors); Litestar's own HTTP errors (the router's
404/405, validation 400s) keep their status; a validation 400 names its `field` (and lists
`errors`), each with a hint (`pricebook.hints`: a date's format, an enum's allowed values, a
missing body field's name); an unreachable database is 503 so clients retry; anything else is
logged with its traceback and answered as a 500 problem without internals.

Database errors are told apart by the driver's SQLSTATE (asyncpg `sqlstate`, psycopg `sqlstate`
or psycopg2 `pgcode`), not by SQLAlchemy's class: asyncpg's CannotConnectNowError (57P03, the
server shutting down or starting) reaches us as a plain `DBAPIError`. 503 with Retry-After for
the database being unavailable: connection exceptions (class 08), the server shutting down or
gone (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), too many
connections (53300), a statement cancelled by its timeout (57014), and a timeout on our side
(opening a connection, a statement on a stalled server: `TimeoutError`, the pool's timeout).
A serialization failure (40001) or a deadlock (40P01) is not the database being down: the
transaction lost a race with another one and was rolled back whole, so the same request can be
sent again at once — 409 with `Retry-After: 0`, distinct from the 409 of a conflict with the
stored history (which a retry would not fix) by its title.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pricebook import hints
from pricebook.errors import (
    Conflict,
    ImportRejected,
    InvalidInput,
    NotFound,
    PricebookError,
    StaleVersion,
    Unavailable,
)

log = logging.getLogger("pricebook.api")

PROBLEM_JSON = "application/problem+json"
STATUS_OF: list[tuple[type[PricebookError], int]] = [
    (StaleVersion, 412),
    (Conflict, 409),
    (NotFound, 404),
    (InvalidInput, 422),
    (Unavailable, 503),
]
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 412: "Precondition failed",
          413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}  # fmt: skip


#: SQLSTATEs of a database that is unavailable for now (503); a class is its first two letters
UNAVAILABLE_CLASSES = frozenset({"08"})
UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014"})
#: SQLSTATEs of a transaction that lost a race and was rolled back: retry it (409)
RETRY_STATES = frozenset({"40001", "40P01"})
RETRY_AFTER = "5"


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (SQLAlchemy's wrapper, its driver exception or what
    that was raised from), None when there is none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attribute in ("sqlstate", "pgcode"):
            value = getattr(current, attribute, None)
            if isinstance(value, str) and value:
                return value
        if isinstance(current, DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__ or current.__context__
    return None


def database_unavailable(exc: Exception) -> bool:
    """Whether `exc` says the database cannot serve now (503), not that a statement failed."""
    if isinstance(
        exc, OperationalError | InterfaceError | PoolTimeout | ConnectionError | OSError
    ):  # TimeoutError (asyncpg's connect and command timeouts) is an OSError
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = sqlstate_of(exc)
        return state is not None and (
            state[:2] in UNAVAILABLE_CLASSES or state in UNAVAILABLE_STATES
        )
    return False


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> Response[Any]:
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class FieldError(msgspec.Struct, omit_defaults=True):
    field: str
    message: str
    row: int | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, as every 4xx/5xx of this API is answered."""

    type: str
    title: str
    status: int
    detail: str
    #: the input field at fault, when there is one
    field: str | None = None
    errors: list[FieldError] | None = None


_DESCRIPTIONS = {
    400: "Malformed request: a parameter or body field of the wrong type or out of range",
    401: "No X-API-Key header, or an unknown or revoked key",
    403: "The key's role may not call this route",
    404: "No such resource",
    409: "Conflicts with the stored history; or (title `Concurrent update`, Retry-After: 0) "
    "rolled back by a concurrent transaction: send it again",
    422: "A value that breaks a rule; `field` names it",
    429: "Past the key's rate limit (PRICEBOOK_RATE_LIMIT); retry after the Retry-After seconds",
    503: "The database cannot be reached; retry after the Retry-After seconds",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route gives. A route that needs a key
    (401) is rate limited too (429, `api.auth`)."""
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    return {
        s: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_DESCRIPTIONS.get(s, TITLES.get(s, "Error")),
            generate_examples=False,
        )
        for s in statuses
    }


def _alias(handler: Any, key: str) -> str:
    """The name a client sends for the handler's parameter `key` (`QueryParameter(name=…)`)."""
    try:
        kwarg = handler.parsed_fn_signature.parameters[key].kwarg_definition
    except (AttributeError, KeyError):
        return key
    return getattr(kwarg, "name", None) or getattr(kwarg, "query", None) or key


def _validation_errors(
    request: Request[Any, Any, Any], exc: ValidationException
) -> list[dict[str, Any]]:
    """Litestar's validation errors (query, path, body), each naming its field with a hint:
    a missing body field by its name, a bad date with the format, an enum-like parameter with
    its allowed values (read from the handler's signature model)."""
    handler = request.scope.get("route_handler")
    model = getattr(handler, "signature_model", None)
    errors = []
    for item in exc.extra or []:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "")
        message = str(item.get("message", ""))
        if key in ("", "data"):  # the body as a whole: msgspec's message names the path
            field, text = hints.describe(message, model, prefix="data.")
            field = field or str(item.get("source") or "") or None
        elif item.get("source") == "body":  # a body field, named by `key`
            field, text = hints.describe(message, model, name=key, prefix="data.")
        elif item.get("as_sent"):  # a name the route does not know, as the client wrote it
            field, text = hints.describe(message, model, name=key)
        else:
            field, text = hints.describe(message, model, name=_alias(handler, key), lookup=key)
        errors.append({"field": field or "", "message": text})
    return errors


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ImportRejected):
        return problem(
            422,
            exc.message,
            title=exc.title,
            errors=[{"row": e.row, "field": e.column, "message": e.message} for e in exc.errors],
        )
    if isinstance(exc, PricebookError):
        status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 400)
        extra = {"field": exc.field} if exc.field else {}
        return problem(status, exc.message, title=exc.title, **extra)
    if isinstance(exc, ValidationException):
        errors = _validation_errors(request, exc)
        fields = [e["field"] for e in errors if e["field"]]
        if not fields:
            return problem(400, str(exc.detail), errors=errors)
        detail = "; ".join(e["message"] for e in errors)  # each names its field
        return problem(400, detail, field=fields[0], errors=errors)
    if isinstance(exc, HTTPException):
        headers = getattr(exc, "headers", None)
        response = problem(exc.status_code, str(exc.detail))
        if headers:
            response.headers.update(headers)
        return response
    if isinstance(exc, DBAPIError) and sqlstate_of(exc) in RETRY_STATES:
        log.warning("transaction rolled back by a concurrent one: %s", exc)
        response = problem(
            409,
            "the request conflicted with a concurrent one and was rolled back; send it again",
            title="Concurrent update",
        )
        response.headers["Retry-After"] = "0"
        return response
    if database_unavailable(exc):
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return problem(503, "the database cannot be reached; retry shortly")
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "unexpected error; it has been logged")


EXCEPTION_HANDLERS = {Exception: handle}
MEDIA_TYPE = MediaType.JSON
