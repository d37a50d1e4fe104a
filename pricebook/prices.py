"""Prices: versions over time per key, and what is in force on a day.

Layered resolution (channel card → policy agreement → branch → region up the tree → system) is
built on `versions_in_force`; writes go through `pricebook.history`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pricebook.models import Price
from pricebook.money import from_fen


@dataclass(frozen=True, slots=True)
class PriceVersion:
    id: int
    part_id: int
    model_id: int | None
    scope: str
    region_id: int | None
    branch_id: int | None
    price_type_id: int
    amount: Decimal
    valid_from: date
    valid_to: date | None
    source: str
    source_ref: str
    created_by: str
    reason: str

    @classmethod
    def of(cls, row: Price) -> PriceVersion:
        return cls(
            id=row.id,
            part_id=row.part_id,
            model_id=row.model_id,
            scope=row.scope,
            region_id=row.region_id,
            branch_id=row.branch_id,
            price_type_id=row.price_type_id,
            amount=from_fen(row.amount_fen),
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            source=row.source,
            source_ref=row.source_ref,
            created_by=row.created_by,
            reason=row.reason,
        )


def in_force_clause(on: date):  # noqa: ANN201 - a SQL expression
    return and_(
        Price.valid_from <= on,
        or_(Price.valid_to.is_(None), Price.valid_to > on),
        # withdrawn versions (empty periods) never apply
        or_(Price.valid_to.is_(None), Price.valid_to > Price.valid_from),
    )


def versions_in_force(
    session: Session, part_ids: Sequence[int], on: date, price_type_ids: Sequence[int] | None = None
) -> list[PriceVersion]:
    """Every price version in force on `on` for these parts, all scopes, in one statement."""
    stmt = select(Price).where(Price.part_id.in_(part_ids), in_force_clause(on))
    if price_type_ids is not None:
        stmt = stmt.where(Price.price_type_id.in_(price_type_ids))
    return [PriceVersion.of(p) for p in session.scalars(stmt.order_by(Price.id))]


def history(session: Session, part_id: int) -> list[PriceVersion]:
    """Every version of every key of a part, oldest first."""
    stmt = select(Price).where(Price.part_id == part_id).order_by(Price.valid_from, Price.id)
    return [PriceVersion.of(p) for p in session.scalars(stmt)]
