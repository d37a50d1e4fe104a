"""One exception handler: every error leaves as RFC 9457 problem+json, never as a bare 500.

Domain errors map by class (see pricebook.errors); Litestar's own HTTP errors (the router's
404/405, validation 400s) keep their status and gain the fields they name; an unreachable
database is 503 so clients retry; anything else is logged with its traceback and answered as a
500 problem without internals.
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


def _field_of(item: dict[str, Any]) -> str:
    key = item.get("key") or ""
    if key:
        return str(key)
    message = str(item.get("message", ""))
    # msgspec names the body field as "... - at `$.items[0].part_id`"
    if "at `$." in message:
        return message.rsplit("at `$.", 1)[1].rstrip("`")
    return str(item.get("source") or "")


def _validation_errors(exc: ValidationException) -> list[dict[str, Any]]:
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            errors.append({"field": _field_of(item), "message": str(item.get("message", ""))})
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
        errors = _validation_errors(exc)
        fields = ", ".join(e["field"] for e in errors if e["field"])
        detail = f"invalid {fields}: {errors[0]['message']}" if fields else str(exc.detail)
        return problem(400, detail, errors=errors)
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
