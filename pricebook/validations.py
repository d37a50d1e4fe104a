"""Stored estimate validations as reviewers look for them: across estimates, by estimate id,
VIN, branch, date and whether anything was flagged; and one validation with its answer.

`estimates` stores them (and lists one estimate's for the estimate tools); this module reads
them for people. The filters use the columns stored beside each result (indexed by estimate,
VIN and branch), so a page costs two statements and no result is decoded until one is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pricebook.db import as_utc
from pricebook.errors import NotFound
from pricebook.models import Branch, EstimateValidation
from pricebook.money import from_fen
from pricebook.paging import Page

__all__ = [
    "VALIDATION_SORTS",
    "StoredValidation",
    "ValidationSummary",
    "find_validations",
    "get_validation",
]


@dataclass(frozen=True, slots=True)
class ValidationSummary:
    id: int
    estimate_id: str
    estimate_version: int
    estimate_date: date
    vin: str
    branch: str
    validated_at: datetime | None
    validated_by: str
    claimed: Decimal
    allowed: Decimal
    cut: Decimal
    #: lines with at least one flag
    flagged_lines: int


@dataclass(frozen=True, slots=True)
class StoredValidation:
    summary: ValidationSummary
    #: the estimate as the tool sent it
    request: dict[str, Any]
    #: the answer as it was given: lines with flags, references, totals, deadline, escalation
    result: dict[str, Any]


def _summary_columns() -> tuple[Any, ...]:
    v = EstimateValidation
    return (
        v.id,
        v.estimate_id,
        v.estimate_version,
        v.estimate_date,
        v.vin,
        Branch.code.label("branch"),
        v.created_at,
        v.created_by,
        v.claimed_fen,
        v.allowed_fen,
        v.cut_fen,
        v.flagged_lines,
    )


def _summary(row: Any) -> ValidationSummary:
    at = row.created_at
    return ValidationSummary(
        id=row.id,
        estimate_id=row.estimate_id,
        estimate_version=row.estimate_version,
        estimate_date=row.estimate_date,
        vin=row.vin,
        branch=row.branch,
        validated_at=as_utc(at) if at else None,
        validated_by=row.created_by,
        claimed=from_fen(row.claimed_fen),
        allowed=from_fen(row.allowed_fen),
        cut=from_fen(row.cut_fen),
        flagged_lines=row.flagged_lines,
    )


#: what the list sorts by (`col` ascending, `-col` descending); ties newest first
VALIDATION_SORTS = (
    "id",
    "estimate_id",
    "estimate_date",
    "vin",
    "branch",
    "validated_at",
    "claimed",
    "allowed",
    "cut",
    "flagged_lines",
)


def _sort_columns() -> dict[str, Any]:
    v = EstimateValidation
    return {
        "id": v.id,
        "estimate_id": v.estimate_id,
        "estimate_date": v.estimate_date,
        "vin": v.vin,
        "branch": Branch.code,
        "validated_at": v.created_at,
        "claimed": v.claimed_fen,
        "allowed": v.allowed_fen,
        "cut": v.cut_fen,
        "flagged_lines": v.flagged_lines,
    }


def find_validations(
    session: Session,
    *,
    estimate_id: str = "",
    vin: str = "",
    branch: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    flagged: bool | None = None,
    sort: str = "-id",
    limit: int = 50,
    offset: int = 0,
) -> Page[ValidationSummary]:
    """Stored validations, newest first, or by one of `VALIDATION_SORTS` (`-col` descending).
    `vin` matches from its start (the last digits a reviewer reads off a claim are not enough;
    the first are); dates are the estimates'."""
    v = EstimateValidation
    where: list[Any] = []
    if estimate_id:
        where.append(v.estimate_id == estimate_id)
    if vin:
        upper = vin.upper()
        where += [v.vin >= upper, v.vin < upper + "\uffff"]
    if branch:
        where.append(Branch.code == branch)
    if date_from is not None:
        where.append(v.estimate_date >= date_from)
    if date_to is not None:
        where.append(v.estimate_date <= date_to)
    if flagged is not None:
        where.append(v.flagged_lines > 0 if flagged else v.flagged_lines == 0)
    joined = select(*_summary_columns()).join(Branch, Branch.id == v.branch_id).where(*where)
    total = session.scalar(select(func.count()).select_from(joined.subquery())) or 0
    column = _sort_columns()[sort.removeprefix("-")]
    order = column.desc() if sort.startswith("-") else column
    rows = session.execute(joined.order_by(order, v.id.desc()).limit(limit).offset(offset))
    return Page([_summary(r) for r in rows], total, limit, offset)


def get_validation(session: Session, validation_id: int) -> StoredValidation:
    v = EstimateValidation
    row = session.execute(
        select(*_summary_columns(), v.request, v.result)
        .join(Branch, Branch.id == v.branch_id)
        .where(v.id == validation_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no validation with id {validation_id}", field="validation_id")
    request, result = row.request, row.result
    # stored as JSON text or as a dict, by backend; read either way
    decode = msgspec.json.decode
    return StoredValidation(
        summary=_summary(row),
        request=decode(request) if isinstance(request, (str, bytes)) else request,
        result=decode(result) if isinstance(result, (str, bytes)) else result,
    )
