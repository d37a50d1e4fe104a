"""Reading a part's price versions: those in force on a day, and the history page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pricebook.db import as_utc
from pricebook.errors import InvalidInput, NotFound
from pricebook.history import withdrawn
from pricebook.models import Branch, Part, Price, PriceType, Region, VehicleModel
from pricebook.prices.load import BranchNode, branch_chain_query, chain_for, region_chain_query
from pricebook.prices.resolve import PriceVersion, ScopeStep
from pricebook.versioned import in_force

if TYPE_CHECKING:
    from pricebook.paging import Page


def versions_in_force(
    session: Session, part_ids: Sequence[int], on: date, price_type_ids: Sequence[int] | None = None
) -> list[PriceVersion]:
    """Every price version in force on `on` for these parts, all scopes, in one statement."""
    stmt = select(Price).where(Price.part_id.in_(part_ids), in_force(Price, on))
    if price_type_ids is not None:
        stmt = stmt.where(Price.price_type_id.in_(price_type_ids))
    return [PriceVersion.of(p) for p in session.scalars(stmt.order_by(Price.id))]


def history(session: Session, part_id: int) -> list[PriceVersion]:
    """Every version of every key of a part, oldest first."""
    stmt = select(Price).where(Price.part_id == part_id).order_by(Price.valid_from, Price.id)
    return [PriceVersion.of(p) for p in session.scalars(stmt)]


class HistoryRow(msgspec.Struct, frozen=True):
    version: PriceVersion
    price_type: str
    layer: str
    scope_code: str
    model_code: str | None
    withdrawn: bool
    created_at: datetime


def price_history(
    session: Session,
    part_id: int,
    *,
    branch: str = "",
    price_type: str = "",
    limit: int = 100,
    offset: int = 0,
) -> Page[HistoryRow]:
    """Every version of a part's prices, oldest first; `branch` keeps the versions that can
    apply there (the branch, its parents, its regions up the tree, system)."""
    from pricebook.paging import Page

    if session.get(Part, part_id) is None:
        raise NotFound(f"no part with id {part_id}", field="id")
    types = {t.id: t.code for t in session.scalars(select(PriceType))}
    stmt = select(Price, VehicleModel.code).outerjoin(
        VehicleModel, VehicleModel.id == Price.model_id
    )
    stmt = stmt.where(Price.part_id == part_id)
    if price_type:
        stmt = stmt.where(Price.price_type_id.in_(_type_ids(types, price_type)))
    chain: list[ScopeStep] = []
    if branch:
        chain = _branch_chain(session, branch)
        stmt = stmt.where(
            or_(
                Price.scope == "system",
                Price.region_id.in_([s.target_id for s in chain if s.scope == "region"]),
                Price.branch_id.in_([s.target_id for s in chain if s.scope == "branch"]),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(Price.valid_from, Price.id).limit(limit).offset(offset)
    ).all()
    codes = _scope_codes(session, [p for p, _ in rows])
    layers = {(s.scope, s.target_id): s.layer for s in chain}
    items = [_history_row(p, model_code, types, layers, codes) for p, model_code in rows]
    return Page(items, total, limit, offset)


def _type_ids(types: dict[int, str], price_type: str) -> list[int]:
    ids = [i for i, c in types.items() if c == price_type]
    if not ids:
        raise InvalidInput(
            f"price_type must be one of {', '.join(sorted(types.values()))}", field="price_type"
        )
    return ids


def _branch_chain(session: Session, branch: str) -> list[ScopeStep]:
    """The scopes whose prices can apply at the branch coded `branch`, nearest first."""
    branches = {
        b: BranchNode(b, c, p, r) for b, c, p, r in session.execute(branch_chain_query({branch}))
    }
    start = next((b for b in branches.values() if b.code == branch), None)
    if start is None:
        raise InvalidInput(f"no branch with code {branch!r}", field="branch")
    regions = {r: (c, p) for r, c, p in session.execute(region_chain_query({start.region_id}))}
    return chain_for(start, branches, regions)


def _scope_codes(session: Session, prices: Sequence[Price]) -> dict[tuple[str, int | None], str]:
    """(scope, region or branch id) → its code, for the regions and branches of `prices`."""
    codes: dict[tuple[str, int | None], str] = {}
    need_regions = {p.region_id for p in prices if p.region_id is not None}
    need_branches = {p.branch_id for p in prices if p.branch_id is not None}
    if need_regions:
        codes |= {
            ("region", i): c
            for i, c in session.execute(
                select(Region.id, Region.code).where(Region.id.in_(need_regions))
            )
        }
    if need_branches:
        codes |= {
            ("branch", i): c
            for i, c in session.execute(
                select(Branch.id, Branch.code).where(Branch.id.in_(need_branches))
            )
        }
    return codes


def _history_row(
    p: Price,
    model_code: str | None,
    types: dict[int, str],
    layers: dict[tuple[str, int | None], str],
    codes: dict[tuple[str, int | None], str],
) -> HistoryRow:
    key = (p.scope, p.branch_id if p.scope == "branch" else p.region_id)
    return HistoryRow(
        version=PriceVersion.of(p),
        price_type=types[p.price_type_id],
        layer=layers.get(key, p.scope) if p.scope != "system" else "system",
        scope_code=codes.get(key, "system") if p.scope != "system" else "system",
        model_code=model_code,
        withdrawn=withdrawn(p.valid_from, p.valid_to),
        created_at=as_utc(p.created_at),
    )
