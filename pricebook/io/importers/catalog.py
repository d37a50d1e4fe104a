"""The catalogue and organisation kinds: regions, branches, price types, categories, models,
parts, fitment and channels."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pricebook.catalog import model_search_text, pinyin_forms
from pricebook.io.importers.cells import (
    ImportContext,
    bool_cell,
    choice_cell,
    code_ids,
    int_cell,
    lookup_cell,
    money_cell,
    split_list,
    text_cell,
)
from pricebook.io.importers.plain import ensure_links, upsert
from pricebook.io.tables import Row
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    BRANCH_KINDS,
    CHANNEL_KINDS,
    REGION_LEVELS,
    VEHICLE_CLASSES,
    Branch,
    Brand,
    Category,
    Channel,
    Fitment,
    OeSupersession,
    Part,
    PartAlias,
    PartComponent,
    PriceType,
    Region,
    Series,
    VehicleModel,
    VinPrefix,
)
from pricebook.money import quote


def import_regions(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    existing = code_ids(ctx.session, Region)
    file_codes = {row.get("code", "").strip() for _, row in rows}
    desired: dict[str, dict[str, Any]] = {}
    parents: dict[str, str] = {}
    for n, row in rows:
        code = text_cell(ctx, n, row, "code")
        name = text_cell(ctx, n, row, "name")
        level = choice_cell(ctx, n, row, "level", REGION_LEVELS)
        parent = text_cell(ctx, n, row, "parent_code", required=False) or ""
        if parent and parent not in existing and parent not in file_codes:
            ctx.error(n, "parent_code", f"unknown region {quote(parent)}")
        if level and level != "country" and not parent:
            ctx.error(n, "parent_code", f"a {level} needs a parent region")
        if code and name and level:
            desired[code] = {"name": name, "level": level}
            parents[code] = parent
    ctx.raise_if_errors()
    # Parents first: country, then provinces, then cities.
    order = {level: i for i, level in enumerate(REGION_LEVELS)}
    ids = dict(existing)
    for level in sorted(order, key=order.__getitem__):
        batch = {c: v for c, v in desired.items() if v["level"] == level}
        for code, values in batch.items():
            values["parent_id"] = ids.get(parents[code]) if parents[code] else None
        ids.update(upsert(ctx, Region, batch))


def import_branches(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    regions = code_ids(ctx.session, Region)
    branches = code_ids(ctx.session, Branch)
    file_codes = {row.get("code", "").strip() for _, row in rows}
    desired: dict[str, dict[str, Any]] = {}
    parents: dict[str, str] = {}
    for n, row in rows:
        code = text_cell(ctx, n, row, "code")
        name = text_cell(ctx, n, row, "name")
        region_id = lookup_cell(ctx, n, row, "region_code", regions, "region")
        kind = choice_cell(ctx, n, row, "kind", BRANCH_KINDS)
        limit = money_cell(ctx, n, row, "authority_limit_yuan")
        parent = row.get("parent_code", "").strip()
        if parent and parent not in branches and parent not in file_codes:
            ctx.error(n, "parent_code", f"unknown branch {quote(parent)}")
        if code and name and region_id and kind and limit:
            desired[code] = {
                "name": name,
                "region_id": region_id,
                "kind": kind,
                "authority_limit_fen": limit,
            }
            parents[code] = parent
    ctx.raise_if_errors()
    top = {c: v for c, v in desired.items() if not parents[c]}
    ids = branches | upsert(ctx, Branch, {c: v | {"parent_id": None} for c, v in top.items()})
    rest = {c: v | {"parent_id": ids.get(parents[c])} for c, v in desired.items() if parents[c]}
    upsert(ctx, Branch, rest)


def import_price_types(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    desired = {}
    for n, row in rows:
        code, name, rank = (
            text_cell(ctx, n, row, "code"),
            text_cell(ctx, n, row, "name"),
            int_cell(ctx, n, row, "rank"),
        )
        if code and name and rank is not None:
            desired[code] = {"name": name, "rank": rank}
    ctx.raise_if_errors()
    upsert(ctx, PriceType, desired)


def import_categories(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    desired = {}
    for n, row in rows:
        code, name = text_cell(ctx, n, row, "code"), text_cell(ctx, n, row, "name")
        if code and name:
            desired[code] = {"name": name}
    ctx.raise_if_errors()
    upsert(ctx, Category, desired)


def import_models(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    brands: dict[str, dict[str, Any]] = {}
    series: dict[str, tuple[str, dict[str, Any]]] = {}
    models: dict[str, tuple[str, dict[str, Any]]] = {}
    prefixes: dict[str, list[str]] = {}
    for n, row in rows:
        code = text_cell(ctx, n, row, "model_code")
        brand_code, brand_name = (
            text_cell(ctx, n, row, "brand_code"),
            text_cell(ctx, n, row, "brand_name"),
        )
        series_code = text_cell(ctx, n, row, "series_code")
        series_name = text_cell(ctx, n, row, "series_name")
        name = text_cell(ctx, n, row, "name")
        year = int_cell(ctx, n, row, "model_year")
        if year is not None and not 1980 <= year <= 2100:
            ctx.error(n, "model_year", f"{year} is not a model year")
        vclass = choice_cell(ctx, n, row, "vehicle_class", VEHICLE_CLASSES)
        if not (code and brand_code and brand_name and series_code and series_name and name):
            continue
        if not (year and vclass):
            continue
        brands[brand_code] = {
            "name": brand_name,
            "country": row.get("brand_country", "").strip(),
            "initials": pinyin_forms(brand_name)[1],
        }
        series[series_code] = (
            brand_code,
            {"name": series_name, "initials": pinyin_forms(series_name)[1]},
        )
        manufacturer_code = row.get("manufacturer_code", "").strip()
        models[code] = (
            series_code,
            {
                "name": name,
                "model_year": year,
                "body": row.get("body", "").strip(),
                "engine": row.get("engine", "").strip(),
                "vehicle_class": vclass,
                "price_band": row.get("price_band", "").strip(),
                "manufacturer_code": manufacturer_code,
                "search_text": model_search_text(
                    brand_name, series_name, name, code, manufacturer_code, year
                ),
            },
        )
        prefixes[code] = [p.upper() for p in split_list(row.get("vin_prefixes", ""))]
        for prefix in prefixes[code]:
            if not 3 <= len(prefix) <= 11:
                ctx.error(n, "vin_prefixes", f"{quote(prefix)}: a prefix has 3 to 11 characters")
    ctx.raise_if_errors()
    brand_ids = upsert(ctx, Brand, brands)
    series_ids = upsert(
        ctx, Series, {c: v | {"brand_id": brand_ids[b]} for c, (b, v) in series.items()}
    )
    model_ids = upsert(
        ctx, VehicleModel, {c: v | {"series_id": series_ids[s]} for c, (s, v) in models.items()}
    )
    existing = set(ctx.session.execute(select(VinPrefix.prefix, VinPrefix.model_id)))
    wanted = {(p, model_ids[c]) for c, ps in prefixes.items() for p in ps}
    ensure_links(ctx, VinPrefix, wanted, ("prefix", "model_id"), existing)


def import_parts(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    categories = code_ids(ctx.session, Category)
    known_parts = code_ids(ctx.session, Part)
    file_codes = {row.get("part_code", "").strip() for _, row in rows}
    desired: dict[str, dict[str, Any]] = {}
    aliases: dict[str, list[str]] = {}
    components: dict[str, list[tuple[str, int]]] = {}
    superseded: dict[str, list[str]] = {}
    for n, row in rows:
        code = text_cell(ctx, n, row, "part_code")
        name = text_cell(ctx, n, row, "name")
        category = lookup_cell(ctx, n, row, "category", categories, "category")
        oe = row.get("oe_number", "").strip()
        is_assembly = bool_cell(ctx, n, row, "is_assembly")
        universal = bool_cell(ctx, n, row, "universal")
        links: list[tuple[str, int]] = []
        for item in split_list(row.get("components", "")):
            component, _, qty = item.partition("*")
            if component not in known_parts and component not in file_codes:
                ctx.error(n, "components", f"unknown part {quote(component)}")
            elif component == code:
                ctx.error(n, "components", "a part is not its own component")
            elif qty and not qty.isdigit():
                ctx.error(n, "components", f"{quote(item)}: quantity must be a whole number")
            else:
                links.append((component, int(qty or 1)))
        if links and not is_assembly:
            ctx.error(n, "is_assembly", "a part with components must be an assembly (1)")
        if code and name and category:
            desired[code] = {
                "name": name,
                "category_id": category,
                "oe_number": oe,
                "oe_normalized": normalize_oe(oe),
                "position": row.get("position", "").strip(),
                "unit": row.get("unit", "").strip() or "个",
                "is_assembly": is_assembly,
                "universal": universal,
            }
            aliases[code] = [a for a in split_list(row.get("aliases", "")) if a != name]
            components[code] = links
            superseded[code] = split_list(row.get("superseded_oe", ""))
    ctx.raise_if_errors()
    ids = known_parts | upsert(ctx, Part, desired)
    session = ctx.session

    # For a dry run, new parts have no id yet: plan their links by code instead.
    def ref(code: str) -> int | str:
        return ids.get(code) or code

    existing_aliases = set(session.execute(select(PartAlias.part_id, PartAlias.alias)))
    ensure_links(
        ctx,
        PartAlias,
        [(ref(c), a) for c, names in aliases.items() for a in names],
        ("part_id", "alias"),
        existing_aliases,
    )
    existing_links = set(
        session.execute(
            select(PartComponent.assembly_id, PartComponent.component_id, PartComponent.quantity)
        )
    )
    ensure_links(
        ctx,
        PartComponent,
        [(ref(c), ref(comp), qty) for c, links in components.items() for comp, qty in links],
        ("assembly_id", "component_id", "quantity"),
        existing_links,
    )
    existing_oe = set(session.execute(select(OeSupersession.part_id, OeSupersession.old_oe)))
    ensure_links(
        ctx,
        OeSupersession,
        [(ref(c), oe) for c, olds in superseded.items() for oe in olds],
        ("part_id", "old_oe"),
        existing_oe,
        extra=lambda link: {"old_oe_normalized": normalize_oe(link[1])},
    )


def import_fitment(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    parts = code_ids(ctx.session, Part)
    models = code_ids(ctx.session, VehicleModel)
    wanted = set()
    for n, row in rows:
        part = lookup_cell(ctx, n, row, "part_code", parts, "part")
        model = lookup_cell(ctx, n, row, "model_code", models, "model")
        if part and model:
            wanted.add((part, model))
    ctx.raise_if_errors()
    existing = set(ctx.session.execute(select(Fitment.part_id, Fitment.model_id)))
    ensure_links(ctx, Fitment, wanted, ("part_id", "model_id"), existing)


def import_channels(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    branches = code_ids(ctx.session, Branch)
    desired = {}
    for n, row in rows:
        code, name = text_cell(ctx, n, row, "code"), text_cell(ctx, n, row, "name")
        kind = choice_cell(ctx, n, row, "kind", CHANNEL_KINDS)
        branch = lookup_cell(ctx, n, row, "branch_code", branches, "branch", required=False)
        if code and name and kind:
            desired[code] = {"name": name, "kind": kind, "branch_id": branch}
    ctx.raise_if_errors()
    upsert(ctx, Channel, desired)
