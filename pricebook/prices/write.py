"""Staff edits of price keys: a key from the codes the API speaks, its versions and ETag, and a
new or ended version through the one versioned-write path (`pricebook.versioned`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from pricebook.errors import InvalidInput, NotFound
from pricebook.models import (
    PRICE_SCOPES,
    PRICE_SOURCES,
    Branch,
    Part,
    Price,
    PriceType,
    Region,
    VehicleModel,
)
from pricebook.money import from_fen, to_fen, yuan_field
from pricebook.prices.resolve import (
    PriceVersion,
)
from pricebook.versioned import (
    ETagLike,
    VersionWrite,
    etag_of,
    key_versions,
    require_reason,
    version_ender,
    write_answer,
    write_version,
)

PRICE_KEY_COLUMNS = ("part_id", "model_id", "scope", "region_id", "branch_id", "price_type_id")


class PriceKey(msgspec.Struct, frozen=True):
    """One versioned price key: part × model (None: all models) × scope target × price type."""

    part_id: int
    model_id: int | None
    scope: str
    region_id: int | None
    branch_id: int | None
    price_type_id: int

    def columns(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in PRICE_KEY_COLUMNS}


class PriceKeyVersions(msgspec.Struct, frozen=True):
    key: PriceKey
    etag: str
    versions: list[PriceVersion]


#: what a price write answers
PriceWrite = VersionWrite[PriceVersion]


def check_price_key(session: Session, key: PriceKey) -> None:
    """InvalidInput / NotFound unless the key names an existing part, model, target and type."""
    scope, region_id, branch_id = key.scope, key.region_id, key.branch_id
    if scope not in PRICE_SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(PRICE_SCOPES)}", field="scope")
    if scope == "system" and (region_id is not None or branch_id is not None):
        raise InvalidInput("a system price has no region or branch", field="scope")
    if scope == "region" and (region_id is None or branch_id is not None):
        raise InvalidInput("a region price needs a region and no branch", field="region")
    if scope == "branch" and (branch_id is None or region_id is not None):
        raise InvalidInput("a branch price needs a branch and no region", field="branch")
    if session.get(Part, key.part_id) is None:
        raise NotFound(f"no part with id {key.part_id}", field="part_id")
    if key.model_id is not None and session.get(VehicleModel, key.model_id) is None:
        raise InvalidInput(f"no vehicle model with id {key.model_id}", field="model_id")
    if region_id is not None and session.get(Region, region_id) is None:
        raise InvalidInput(f"no region with id {region_id}", field="region")
    if branch_id is not None and session.get(Branch, branch_id) is None:
        raise InvalidInput(f"no branch with id {branch_id}", field="branch")
    if session.get(PriceType, key.price_type_id) is None:
        raise InvalidInput(f"no price type with id {key.price_type_id}", field="price_type")


def price_key(
    session: Session,
    *,
    part_id: int,
    model_id: int | None,
    scope: str,
    region: str | None,
    branch: str | None,
    price_type: str,
) -> PriceKey:
    """A price key from the codes the API speaks (region / branch / price type codes)."""
    region_id = branch_id = None
    if region:
        region_id = session.scalar(select(Region.id).where(Region.code == region))
        if region_id is None:
            raise InvalidInput(f"no region with code {region!r}", field="region")
    if branch:
        branch_id = session.scalar(select(Branch.id).where(Branch.code == branch))
        if branch_id is None:
            raise InvalidInput(f"no branch with code {branch!r}", field="branch")
    type_id = session.scalar(select(PriceType.id).where(PriceType.code == price_type))
    if type_id is None:
        raise InvalidInput(f"no price type with code {price_type!r}", field="price_type")
    key = PriceKey(part_id, model_id, scope, region_id, branch_id, type_id)
    check_price_key(session, key)
    return key


def price_key_versions(session: Session, key: PriceKey) -> PriceKeyVersions:
    rows, etag = key_versions(session, Price, key.columns())
    return PriceKeyVersions(key, etag, [PriceVersion.of(r) for r in rows])


KeyTuple = tuple[int | None, str, int | None, int | None, int]


def etags_by_key(session: Session, part_id: int) -> dict[KeyTuple, str]:
    """The ETag of every price key of a part, (model, scope, region, branch, price type) → ETag,
    in one statement (what an edit form sends back as `expected_etag`)."""
    rows: dict[KeyTuple, list[tuple[int, date, date | None]]] = defaultdict(list)
    stmt = select(
        Price.model_id,
        Price.scope,
        Price.region_id,
        Price.branch_id,
        Price.price_type_id,
        Price.id,
        Price.valid_from,
        Price.valid_to,
    ).where(Price.part_id == part_id)
    for model_id, scope, region_id, branch_id, type_id, id_, start, end in session.execute(stmt):
        rows[(model_id, scope, region_id, branch_id, type_id)].append((id_, start, end))
    return {key: etag_of(versions) for key, versions in rows.items()}


def _describe_price(row: Price) -> dict[str, Any]:
    return {
        "id": row.id,
        "amount": from_fen(row.amount_fen),
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "source": row.source,
        "source_ref": row.source_ref,
    }


def write_price(
    session: Session,
    key: PriceKey,
    *,
    amount: Decimal | str,
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    source: str = "staff",
    source_ref: str = "",
    expected_etag: ETagLike = None,
) -> PriceWrite:
    """A new version of a price key from `valid_from`, closing the one in force on that day (or
    closing it early when it has this amount and `valid_to` is earlier); unchanged when it
    already has this amount and period. Raises InvalidInput (amount, key, empty reason),
    StaleVersion (`expected_etag` no longer names the key) and Conflict (the period reaches
    into a later version's)."""
    require_reason(reason, actor)
    if source not in PRICE_SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(PRICE_SOURCES)}", field="source")
    yuan = yuan_field(amount, "amount")
    check_price_key(session, key)
    fen = to_fen(yuan)
    written = write_version(
        session,
        Price,
        key.columns(),
        value=fen,
        value_of=lambda r: r.amount_fen,
        record={"amount_fen": fen, "source": source, "source_ref": source_ref},
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=reason,
        expected_etag=expected_etag,
        describe=_describe_price,
        after={**key.columns(), "amount": yuan, "source": source, "source_ref": source_ref},
    )
    return write_answer(session, Price, written, PriceVersion.of)


end_price = version_ender(
    Price,
    PRICE_KEY_COLUMNS,
    lambda _, row: PriceVersion.of(row),
    "End a price version's validity on `valid_to` (never extended, never deleted).",
)
