"""One exception handler: every error leaves as RFC 9457 problem+json, never as a bare 500.

Domain errors map by class (see pricebook.errors); Litestar's own HTTP errors (the router's
404/405, validation 400s) keep their status; a validation 400 names its `field` (and lists
`errors`), each with a hint (`pricebook.hints`: a date's format, an enum's allowed values, a
missing body field's name); an unreachable database is 503 so clients retry; anything else is
logged with its traceback and answered as a 500 problem without internals.
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


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> Response[Any]:
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"Retry-After": "5"} if status == 503 else None
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
    409: "Conflicts with the stored history",
    422: "A value that breaks a rule; `field` names it",
    503: "The database cannot be reached; retry after the Retry-After seconds",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route gives."""
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


def _validation_errors(request: Request[Any, Any, Any], exc: ValidationException) -> list[dict[str, Any]]:  # fmt: skip
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
        else:
            field, text = hints.describe(message, model, name=_alias(handler, key), lookup=key)
        errors.append({"field": field or "", "message": text})
    return errors


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ImportRejected):
        return problem(422, exc.message, title=exc.title, errors=[
            {"row": e.row, "field": e.column, "message": e.message} for e in exc.errors
        ])  # fmt: skip
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
    if isinstance(
        exc, OperationalError | InterfaceError | PoolTimeout | ConnectionError | OSError
    ) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        log.warning("database unavailable: %s", exc)
        return problem(503, "the database cannot be reached; retry shortly")
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "unexpected error; it has been logged")


EXCEPTION_HANDLERS = {Exception: handle}
MEDIA_TYPE = MediaType.JSON
