"""What an edit form offers: branches, regions and price types."""

from __future__ import annotations

import msgspec
from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from pricebook.models import (
    Branch,
    PriceType,
    Region,
)


class Coded(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str


class ReferenceLists(msgspec.Struct, frozen=True):
    """What an edit form offers: branches, regions and price types (highest rank first)."""

    branches: list[Coded]
    regions: list[Coded]
    price_types: list[Coded]


def reference_lists(session: Session) -> ReferenceLists:
    return ReferenceLists(
        branches=[
            Coded(*r)
            for r in session.execute(
                select(Branch.id, Branch.code, Branch.name).order_by(Branch.code)
            )
        ],
        regions=[
            Coded(*r)
            for r in session.execute(
                select(Region.id, Region.code, Region.name).order_by(Region.code)
            )
        ],
        price_types=[
            Coded(*r)
            for r in session.execute(
                select(PriceType.id, PriceType.code, PriceType.name).order_by(PriceType.rank.desc())
            )
        ],
    )
