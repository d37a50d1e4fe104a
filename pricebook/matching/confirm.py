"""Confirmations: a person says "custom name X is (not) part Y", optionally for a brand or model.

Each verdict is a new ``match_mappings`` row with who and why, plus an audit row, and bumps the
catalogue version (reason `LEARNED_REASON`) so every process's index picks it up — the cache
reloads only the learned mappings for such a change. Nothing is updated or deleted: a later
verdict on the same (name, brand, model, part) supersedes the earlier one when the index loads
(`load_learned`), and the history stays.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.errors import InvalidInput
from pricebook.matching.index import MatchIndex, learned_key
from pricebook.matching.loader import LEARNED_REASON, catalog_version
from pricebook.matching.sides import contradicts
from pricebook.models import Brand, MatchMapping, Part, Series, VehicleModel

__all__ = ["MAX_NAME", "Confirmation", "confirm"]

#: Longest custom name accepted (characters).
MAX_NAME = 200


class Confirmation(msgspec.Struct, frozen=True):
    """A stored verdict on a custom name."""

    id: int
    name: str
    name_normalized: str
    part_id: int
    part_code: str
    part_name: str
    accepted: bool
    model_id: int | None
    brand_id: int | None
    created_by: str
    reason: str
    catalog_version: int


def check_name(name: str, field: str = "name") -> str:
    """A custom name as typed, or InvalidInput naming ``field``."""
    text = name.strip()
    if not text:
        raise InvalidInput("a part name is required", field=field)
    if len(text) > MAX_NAME:
        raise InvalidInput(f"at most {MAX_NAME} characters", field=field)
    if "\x00" in text:
        raise InvalidInput("NUL characters are not allowed", field=field)
    return text


def confirm(
    session: Session,
    *,
    name: str,
    accepted: bool,
    actor: str,
    part_id: int | None = None,
    part_code: str | None = None,
    model_id: int | None = None,
    brand: str | None = None,
    reason: str = "",
    index: MatchIndex | None = None,
) -> Confirmation:
    """Store a verdict in the caller's transaction. ``brand`` is a brand code or name; a
    model-scoped verdict records the model's brand too. With ``index``, an acceptance whose part
    sits on a side the name contradicts (左 for 右) is refused: the index would never use it."""
    name = check_name(name)
    key = learned_key(name)
    if not key:
        raise InvalidInput(
            "nothing is left of the name once quality and quantity words are removed",
            field="name",
        )
    if len(reason) > 500:
        raise InvalidInput("at most 500 characters", field="reason")
    if (part_id is None) == (part_code is None or not part_code.strip()):
        raise InvalidInput("give exactly one of part_id and part_code", field="part_id")
    part = _part_of(session, part_id, part_code)
    brand_id = _brand_of(session, brand, model_id)
    if accepted and index is not None:
        _check_side(index, name, part, "part_code" if part_id is None else "part_id")

    mapping = MatchMapping(
        name=name,
        name_normalized=key,
        part_id=part.id,
        brand_id=brand_id,
        model_id=model_id,
        accepted=accepted,
        created_by=actor,
        reason=reason,
    )
    session.add(mapping)
    session.flush()
    after = {
        "name": name,
        "name_normalized": key,
        "part_id": part.id,
        "part_code": part.code,
        "brand_id": brand_id,
        "model_id": model_id,
        "accepted": accepted,
    }
    audit.record(
        session,
        actor=actor,
        action="confirm" if accepted else "reject",
        entity="match_mappings",
        entity_id=mapping.id,
        after=after,
        reason=reason,
    )
    audit.bump_catalog_version(session, actor=actor, reason=f"{LEARNED_REASON}: {key}")
    return Confirmation(
        id=mapping.id,
        name=name,
        name_normalized=key,
        part_id=part.id,
        part_code=part.code,
        part_name=part.name,
        accepted=accepted,
        model_id=model_id,
        brand_id=brand_id,
        created_by=actor,
        reason=reason,
        catalog_version=catalog_version(session),
    )


def _part_of(session: Session, part_id: int | None, part_code: str | None) -> Part:
    if part_id is not None:
        part = session.get(Part, part_id)
        if part is None:
            raise InvalidInput(f"unknown part {part_id}", field="part_id")
        return part
    assert part_code is not None
    found = session.scalars(select(Part).where(Part.code == part_code.strip())).first()
    if found is None:
        raise InvalidInput(f"unknown part {part_code!r}", field="part_code")
    return found


def _brand_of(session: Session, brand: str | None, model_id: int | None) -> int | None:
    """The verdict's brand: the one named (code or name), else the model's; a model of
    another brand than the one named is refused."""
    brand_id: int | None = None
    if brand is not None and brand.strip():
        brand_id = session.scalar(
            select(Brand.id).where(or_(Brand.code == brand.strip(), Brand.name == brand.strip()))
        )
        if brand_id is None:
            raise InvalidInput(f"unknown brand {brand!r}", field="brand")
    if model_id is None:
        return brand_id
    model_brand = session.scalar(
        select(Series.brand_id)
        .join(VehicleModel, VehicleModel.series_id == Series.id)
        .where(VehicleModel.id == model_id)
    )
    if model_brand is None:
        raise InvalidInput(f"unknown model {model_id}", field="model_id")
    if brand_id is not None and brand_id != model_brand:
        raise InvalidInput("the model belongs to another brand", field="brand")
    return int(model_brand)


def _check_side(index: MatchIndex, name: str, part: Part, field: str) -> None:
    part_side = index.side_of(part.code)
    query_side = index.parse(name).side
    if part_side is not None and contradicts(query_side, part_side):
        raise InvalidInput(
            f"the name says {query_side.label()}, part {part.code} {part.name} is "
            f"{part_side.label()}: a part on the other side is never the match",
            field=field,
        )
