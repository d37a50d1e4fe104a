"""Exports in the import formats (docs/import-formats.md): what is exported imports back as is.

Versioned kinds export every version, closed ones included, so an export is the full history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from pricebook.db import session_factory
from pricebook.errors import InvalidInput
from pricebook.history import withdrawn
from pricebook.io.tables import Row, write_table
from pricebook.models import (
    Branch,
    Brand,
    Category,
    Channel,
    Fitment,
    LaborKind,
    LaborRate,
    OeSupersession,
    OperationInclusion,
    Part,
    PartAlias,
    PartComponent,
    Price,
    PriceType,
    RateCard,
    RateCardLabor,
    RateCardParts,
    Region,
    Series,
    StandardHours,
    SynonymTerm,
    VehicleModel,
    VinPrefix,
)
from pricebook.money import from_fen


def _d(value: date | datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _pct(bp: int | None) -> str:
    if bp is None:
        return ""
    text = f"{bp / 100:.2f}" if bp % 100 else str(bp // 100)
    return text


def _hours(centi: int) -> str:
    return f"{centi // 100}.{centi % 100:02d}"


def _regions(s: Session) -> Iterator[Row]:
    parent = aliased(Region)
    stmt = select(Region, parent.code).outerjoin(parent, Region.parent_id == parent.id)
    for region, parent_code in s.execute(stmt.order_by(Region.id)):
        yield {
            "code": region.code,
            "name": region.name,
            "level": region.level,
            "parent_code": parent_code or "",
        }


def _branches(s: Session) -> Iterator[Row]:
    parent = aliased(Branch)
    stmt = (
        select(Branch, Region.code, parent.code)
        .join(Region, Branch.region_id == Region.id)
        .outerjoin(parent, Branch.parent_id == parent.id)
        .order_by(Branch.id)
    )
    for branch, region_code, parent_code in s.execute(stmt):
        yield {
            "code": branch.code,
            "name": branch.name,
            "region_code": region_code,
            "kind": branch.kind,
            "authority_limit_yuan": str(from_fen(branch.authority_limit_fen)),
            "parent_code": parent_code or "",
        }


def _price_types(s: Session) -> Iterator[Row]:
    for t in s.scalars(select(PriceType).order_by(PriceType.id)):
        yield {"code": t.code, "name": t.name, "rank": str(t.rank)}


def _categories(s: Session) -> Iterator[Row]:
    for c in s.scalars(select(Category).order_by(Category.id)):
        yield {"code": c.code, "name": c.name}


def _models(s: Session) -> Iterator[Row]:
    prefixes: dict[int, list[str]] = defaultdict(list)
    for prefix, model_id in s.execute(
        select(VinPrefix.prefix, VinPrefix.model_id).order_by(VinPrefix.id)
    ):
        prefixes[model_id].append(prefix)
    stmt = (
        select(VehicleModel, Series, Brand)
        .join(Series, VehicleModel.series_id == Series.id)
        .join(Brand, Series.brand_id == Brand.id)
        .order_by(VehicleModel.id)
    )
    for m, series, brand in s.execute(stmt):
        yield {
            "model_code": m.code,
            "brand_code": brand.code,
            "brand_name": brand.name,
            "brand_country": brand.country,
            "series_code": series.code,
            "series_name": series.name,
            "name": m.name,
            "model_year": str(m.model_year),
            "body": m.body,
            "engine": m.engine,
            "vehicle_class": m.vehicle_class,
            "price_band": m.price_band,
            "manufacturer_code": m.manufacturer_code,
            "vin_prefixes": "|".join(prefixes[m.id]),
        }


def _parts(s: Session) -> Iterator[Row]:
    codes = dict(s.execute(select(Part.id, Part.code)).all())
    aliases: dict[int, list[str]] = defaultdict(list)
    for part_id, alias in s.execute(
        select(PartAlias.part_id, PartAlias.alias).order_by(PartAlias.id)
    ):
        aliases[part_id].append(alias)
    components: dict[int, list[str]] = defaultdict(list)
    for a, c, q in s.execute(
        select(
            PartComponent.assembly_id, PartComponent.component_id, PartComponent.quantity
        ).order_by(PartComponent.component_id)
    ):
        components[a].append(codes[c] if q == 1 else f"{codes[c]}*{q}")
    superseded: dict[int, list[str]] = defaultdict(list)
    for part_id, old in s.execute(
        select(OeSupersession.part_id, OeSupersession.old_oe).order_by(OeSupersession.id)
    ):
        superseded[part_id].append(old)
    stmt = select(Part, Category.code).join(Category).order_by(Part.id)
    for p, category in s.execute(stmt):
        yield {
            "part_code": p.code,
            "name": p.name,
            "aliases": "|".join(aliases[p.id]),
            "category": category,
            "oe_number": p.oe_number,
            "position": p.position,
            "unit": p.unit,
            "is_assembly": "1" if p.is_assembly else "0",
            "components": "|".join(components[p.id]),
            "superseded_oe": "|".join(superseded[p.id]),
            "universal": "1" if p.universal else "0",
        }


def _fitment(s: Session) -> Iterator[Row]:
    stmt = (
        select(Part.code, VehicleModel.code)
        .select_from(Fitment)
        .join(Part, Fitment.part_id == Part.id)
        .join(VehicleModel, Fitment.model_id == VehicleModel.id)
        .order_by(Part.id, VehicleModel.id)
    )
    for part_code, model_code in s.execute(stmt):
        yield {"part_code": part_code, "model_code": model_code}


def _prices(s: Session) -> Iterator[Row]:
    parts = dict(s.execute(select(Part.id, Part.code)).all())
    models = dict(s.execute(select(VehicleModel.id, VehicleModel.code)).all())
    regions = dict(s.execute(select(Region.id, Region.code)).all())
    branches = dict(s.execute(select(Branch.id, Branch.code)).all())
    types = dict(s.execute(select(PriceType.id, PriceType.code)).all())
    stmt = select(Price).order_by(Price.id).execution_options(yield_per=10000)
    for p in s.scalars(stmt):
        if withdrawn(p.valid_from, p.valid_to):
            continue  # withdrawn before it took effect: nothing to re-import
        scope = {
            "system": "system",
            "region": regions.get(p.region_id or 0, ""),
            "branch": branches.get(p.branch_id or 0, ""),
        }[p.scope]
        yield {
            "part_code": parts[p.part_id],
            "model_code": models.get(p.model_id or 0, ""),
            "scope": scope,
            "price_type": types[p.price_type_id],
            "amount_yuan": str(from_fen(p.amount_fen)),
            "valid_from": _d(p.valid_from),
            "valid_to": _d(p.valid_to),
            "source": p.source,
            "reason": p.reason,
        }


def _labor_rates(s: Session) -> Iterator[Row]:
    branches = dict(s.execute(select(Branch.id, Branch.code)).all())
    kinds = dict(s.execute(select(LaborKind.id, LaborKind.code)).all())
    for r in s.scalars(select(LaborRate).order_by(LaborRate.id)):
        if withdrawn(r.valid_from, r.valid_to):
            continue
        yield {
            "branch_code": branches[r.branch_id],
            "labor_kind": kinds[r.labor_kind_id],
            "shop_tier": r.shop_tier,
            "vehicle_class": r.vehicle_class,
            "rate_yuan": str(from_fen(r.rate_fen)),
            "valid_from": _d(r.valid_from),
            "valid_to": _d(r.valid_to),
        }


def _standard_hours(s: Session) -> Iterator[Row]:
    parts = dict(s.execute(select(Part.id, Part.code)).all())
    kinds = dict(s.execute(select(LaborKind.id, LaborKind.code)).all())
    includes: dict[tuple[int, str], list[str]] = defaultdict(list)
    for inc in s.scalars(select(OperationInclusion).order_by(OperationInclusion.id)):
        same = inc.included_part_id == inc.part_id
        text = (
            inc.included_operation
            if same
            else f"{inc.included_operation}@{parts[inc.included_part_id]}"
        )
        includes[(inc.part_id, inc.operation)].append(text)
    for h in s.scalars(select(StandardHours).order_by(StandardHours.id)):
        if withdrawn(h.valid_from, h.valid_to):
            continue
        yield {
            "part_code": parts[h.part_id],
            "operation": h.operation,
            "vehicle_class": h.vehicle_class,
            "labor_kind": kinds[h.labor_kind_id],
            "hours": _hours(h.hours_centi),
            "valid_from": _d(h.valid_from),
            "valid_to": _d(h.valid_to),
            "includes": "|".join(includes[(h.part_id, h.operation)]),
        }


def _channels(s: Session) -> Iterator[Row]:
    stmt = select(Channel, Branch.code).outerjoin(Branch, Channel.branch_id == Branch.id)
    for c, branch_code in s.execute(stmt.order_by(Channel.id)):
        yield {"code": c.code, "name": c.name, "kind": c.kind, "branch_code": branch_code or ""}


def _rate_cards(s: Session) -> Iterator[Row]:
    channels = dict(s.execute(select(Channel.id, Channel.code)).all())
    kinds = dict(s.execute(select(LaborKind.id, LaborKind.code)).all())
    categories = dict(s.execute(select(Category.id, Category.code)).all())
    types = dict(s.execute(select(PriceType.id, PriceType.code)).all())
    labor: dict[int, list[RateCardLabor]] = defaultdict(list)
    for line in s.scalars(select(RateCardLabor).order_by(RateCardLabor.id)):
        labor[line.rate_card_id].append(line)
    parts: dict[int, list[RateCardParts]] = defaultdict(list)
    for pline in s.scalars(select(RateCardParts).order_by(RateCardParts.id)):
        parts[pline.rate_card_id].append(pline)
    for card in s.scalars(select(RateCard).order_by(RateCard.id)):
        if withdrawn(card.valid_from, card.valid_to):
            continue
        base = {
            "channel_code": channels[card.channel_id],
            "valid_from": _d(card.valid_from),
            "valid_to": _d(card.valid_to),
        }
        for line in labor[card.id]:
            yield base | {
                "line": "labor",
                "labor_kind": kinds[line.labor_kind_id],
                "rate_yuan": str(from_fen(line.rate_fen)) if line.rate_fen else "",
                "pct_of_standard": _pct(line.pct_of_standard_bp),
            }
        for pline in parts[card.id]:
            yield base | {
                "line": "parts",
                "category": categories[pline.category_id],
                "price_type": types[pline.price_type_id],
                "discount_pct": _pct(pline.discount_bp),
            }


def _synonyms(s: Session) -> Iterator[Row]:
    """Group by group, canonical first. While the table is empty the matcher uses the shipped
    dictionary, and that is what is exported: a file to edit and import back."""
    groups: dict[str, list[str]] = {}
    for canonical, term in s.execute(
        select(SynonymTerm.canonical, SynonymTerm.term).order_by(SynonymTerm.id)
    ):
        group = groups.setdefault(canonical, [canonical])
        if term != canonical:
            group.append(term)
    if not groups:
        from pricebook.matching.synonyms import default_synonym_groups

        groups = {g[0]: g for g in default_synonym_groups()}
    for canonical, terms in groups.items():
        for term in terms:
            yield {"canonical": canonical, "term": term}


EXPORTERS: dict[str, tuple[tuple[str, ...], Callable[[Session], Iterator[Row]]]] = {
    "regions": (("code", "name", "level", "parent_code"), _regions),
    "branches": (("code", "name", "region_code", "kind", "authority_limit_yuan", "parent_code"), _branches),
    "price_types": (("code", "name", "rank"), _price_types),
    "categories": (("code", "name"), _categories),
    "models": (
        ("model_code", "brand_code", "brand_name", "brand_country", "series_code", "series_name",
         "name", "model_year", "body", "engine", "vehicle_class", "price_band",
         "manufacturer_code", "vin_prefixes"),
        _models,
    ),
    "parts": (
        ("part_code", "name", "aliases", "category", "oe_number", "position", "unit",
         "is_assembly", "components", "superseded_oe", "universal"),
        _parts,
    ),
    "fitment": (("part_code", "model_code"), _fitment),
    "prices": (
        ("part_code", "model_code", "scope", "price_type", "amount_yuan", "valid_from",
         "valid_to", "source", "reason"),
        _prices,
    ),
    "labor_rates": (
        ("branch_code", "labor_kind", "shop_tier", "vehicle_class", "rate_yuan", "valid_from",
         "valid_to"),
        _labor_rates,
    ),
    "standard_hours": (
        ("part_code", "operation", "vehicle_class", "labor_kind", "hours", "valid_from",
         "valid_to", "includes"),
        _standard_hours,
    ),
    "channels": (("code", "name", "kind", "branch_code"), _channels),
    "rate_cards": (
        ("channel_code", "valid_from", "valid_to", "line", "labor_kind", "rate_yuan",
         "pct_of_standard", "category", "price_type", "discount_pct"),
        _rate_cards,
    ),
    "synonyms": (("canonical", "term"), _synonyms),
}  # fmt: skip
EXPORT_KINDS = tuple(EXPORTERS)


def export_rows(session: Session, kind: str) -> tuple[tuple[str, ...], Iterator[Row]]:
    if kind not in EXPORTERS:
        raise InvalidInput(f"unknown kind {kind!r}: one of {', '.join(EXPORT_KINDS)}", field="kind")
    columns, rows = EXPORTERS[kind]
    return columns, rows(session)


def export_file(engine: Engine, kind: str, path: Path) -> int:
    with session_factory(engine)() as session:
        columns, rows = export_rows(session, kind)
        return write_table(path, columns, rows)
