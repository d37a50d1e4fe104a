"""Imports: every row is checked before anything is written; one bad row and nothing is.

Each kind is imported in two phases. Phase one parses and validates every row against the
catalogue (codes looked up in bulk, never row by row) and plans what would change; any bad row
raises `ImportRejected` listing all of them. Phase two writes the plan in the caller's transaction
(skipped for a dry run). Versioned kinds follow `pricebook.history.plan_version`, so re-importing
a file changes nothing and a new amount supersedes the version in force.
"""

from __future__ import annotations

import getpass
from collections import defaultdict
from collections.abc import Callable, Container, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.catalog import model_search_text, pinyin_forms
from pricebook.db import analyze, session_factory
from pricebook.errors import Conflict, ImportRejected, InvalidInput, RowError
from pricebook.history import Version, plan_version
from pricebook.io.tables import Row, TableLimits, read_table
from pricebook.labor import MAX_HOURS, MAX_RATE
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    BRANCH_KINDS,
    CHANNEL_KINDS,
    OPERATIONS,
    PRICE_SOURCES,
    REGION_LEVELS,
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Base,
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
from pricebook.money import MAX_YUAN, MoneyError, parse_money, parse_plain, quote, to_fen
from pricebook.prices import lock_version_keys

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "level", "parent_code"),
    "branches": ("code", "name", "region_code", "kind", "authority_limit_yuan"),
    "price_types": ("code", "name", "rank"),
    "categories": ("code", "name"),
    "models": (
        "model_code", "brand_code", "brand_name", "series_code", "series_name", "name",
        "model_year", "body", "engine", "vehicle_class",
    ),
    "parts": ("part_code", "name", "aliases", "category", "oe_number"),
    "fitment": ("part_code", "model_code"),
    "prices": (
        "part_code", "model_code", "scope", "price_type", "amount_yuan", "valid_from", "valid_to",
    ),
    "labor_rates": (
        "branch_code", "labor_kind", "shop_tier", "vehicle_class", "rate_yuan", "valid_from",
        "valid_to",
    ),
    "standard_hours": ("part_code", "operation", "vehicle_class", "labor_kind", "hours"),
    "channels": ("code", "name", "kind"),
    "rate_cards": (
        "channel_code", "valid_from", "valid_to", "line", "labor_kind", "rate_yuan",
        "pct_of_standard", "category", "price_type", "discount_pct",
    ),
    "synonyms": ("canonical", "term"),
}  # fmt: skip
IMPORT_KINDS = tuple(REQUIRED_COLUMNS)
#: kinds whose change moves the catalogue version (matching indexes rebuild).
CATALOG_KINDS = {"models", "parts", "fitment", "categories", "synonyms"}
#: labor kinds are fixed by the review rules (钣金, 喷漆, 机修, 电工, 拆装).
LABOR_KINDS = {
    "sheet_metal": "钣金",
    "paint": "喷漆",
    "mechanical": "机修",
    "electrical": "电工",
    "remove_refit": "拆装",
}
#: standard hours without a validity column hold from this day (a fixed day keeps re-imports
#: idempotent).
STANDARD_HOURS_EPOCH = date(2000, 1, 1)
CHUNK = 5000
#: an import that changed at least this many rows ANALYZEs the tables it wrote after its commit
#: (PostgreSQL): the first queries after it are planned on statistics of the new data. Below
#: it, autovacuum's statistics stay close enough, and no ANALYZE (~0.1 s for a table of a
#: million rows, and every API connection re-plans its statements) runs for a handful of edits.
ANALYZE_MIN_ROWS = 1000

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    superseded: int = 0
    closed: int = 0
    unchanged: int = 0
    #: rows deleted (only the synonym dictionary deletes: it is not history).
    removed: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.superseded + self.closed + self.removed

    def summary(self) -> str:
        verb = "would change" if self.dry_run else "changed"
        removed = f", removed {self.removed}" if self.removed else ""
        return (
            f"{self.kind}: {self.rows} rows; {verb} {self.changed} "
            f"(created {self.created}, updated {self.updated}, superseded {self.superseded}, "
            f"closed {self.closed}{removed}); unchanged {self.unchanged}"
        )


@dataclass
class _Context:
    session: Session
    kind: str
    actor: str
    reason: str
    source_ref: str
    dry_run: bool
    report: ImportReport
    errors: list[RowError] = field(default_factory=list)

    def error(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(row, column, message))

    def raise_if_errors(self) -> None:
        if self.errors:
            self.errors.sort(key=lambda e: (e.row, e.column))
            raise ImportRejected(self.kind, self.errors)


# Cell parsing: each returns None after recording an error, so every bad cell of a row is reported.


def _text(ctx: _Context, n: int, row: Row, column: str, *, required: bool = True) -> str | None:
    value = row.get(column, "").strip()
    if required and not value:
        ctx.error(n, column, "required")
        return None
    return value


def _choice(ctx: _Context, n: int, row: Row, column: str, allowed: Iterable[str]) -> str | None:
    value = _text(ctx, n, row, column)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        ctx.error(n, column, f"{quote(value)} is not one of {', '.join(allowed)}")
        return None
    return value


def _lookup(
    ctx: _Context, n: int, row: Row, column: str, codes: dict[str, int], what: str,
    *, required: bool = True,
) -> int | None:  # fmt: skip
    value = _text(ctx, n, row, column, required=required)
    if not value:
        return None
    found = codes.get(value)
    if found is None:
        ctx.error(n, column, f"unknown {what} {quote(value)}")
    return found


def _money_fen(
    ctx: _Context, n: int, row: Row, column: str, *, required: bool = True,
    maximum: Decimal = MAX_YUAN,
) -> int | None:  # fmt: skip
    """An amount cell, exactly as written (`pricebook.money.parse_money`: no spaces around it)."""
    raw = row.get(column, "")
    if not raw.strip():
        if required:
            ctx.error(n, column, "required")
        return None
    try:
        amount = parse_money(raw, maximum=maximum)
    except MoneyError as exc:
        ctx.error(n, column, str(exc))
        return None
    return to_fen(amount)


def _date(ctx: _Context, n: int, row: Row, column: str, *, required: bool = True) -> date | None:
    value = _text(ctx, n, row, column, required=required)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        ctx.error(n, column, f"{quote(value)} is not a date YYYY-MM-DD")
        return None


def _int(ctx: _Context, n: int, row: Row, column: str, *, required: bool = True) -> int | None:
    value = _text(ctx, n, row, column, required=required)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        ctx.error(n, column, f"{quote(value)} is not a whole number")
        return None


def _basis_points(ctx: _Context, n: int, row: Row, column: str, *, upper: int) -> int | None:
    """'15' or '12.5' percent → basis points (1500, 1250)."""
    value = _text(ctx, n, row, column)
    if not value:
        return None
    try:
        pct = parse_plain(value, places=2, maximum=Decimal(upper) / 100, allow_zero=True)
    except MoneyError as exc:
        ctx.error(n, column, f"a percentage between 0 and {upper // 100}: {exc}")
        return None
    bp = pct * 100
    return int(bp)


def _bool(ctx: _Context, n: int, row: Row, column: str) -> bool:
    value = row.get(column, "").strip().lower()
    if value in {"", "0", "false", "no", "否"}:
        return False
    if value in {"1", "true", "yes", "是"}:
        return True
    ctx.error(n, column, f"{quote(value)} is not 1 or 0")
    return False


def _date_range(
    ctx: _Context, n: int, row: Row, *, default_from: date | None = None
) -> tuple[date | None, date | None]:
    valid_from = _date(ctx, n, row, "valid_from", required=default_from is None) or default_from
    valid_to = _date(ctx, n, row, "valid_to", required=False)
    if valid_from and valid_to and valid_to <= valid_from:
        ctx.error(n, "valid_to", f"must be after valid_from {valid_from}")
        return None, None
    return valid_from, valid_to


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


def _codes(session: Session, model: type[Base], column: str = "code") -> dict[str, int]:
    attr = getattr(model, column)
    return {code: id_ for code, id_ in session.execute(select(attr, model.id))}  # type: ignore[attr-defined]


def _price_type_codes(session: Session) -> dict[str, int]:
    """Price type codes, and the words of the one vocabulary (`pricebook.price_words`: 原厂件,
    品牌件 …) a file may write instead; a code wins over a word spelled the same."""
    from pricebook.price_words import load_words

    codes = _codes(session, PriceType)
    words = {w: codes[c] for w, c in load_words(session).items() if c in codes}
    return {**words, **codes}


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Plain (code-keyed) entities: created, or updated in place with before/after in the audit log.


def _upsert(
    ctx: _Context, model: type[Base], desired: dict[str, dict[str, Any]], *, key: str = "code"
) -> dict[str, int]:
    """Create or update rows by code; returns code → id for all of them (0 for a dry run's new)."""
    session = ctx.session
    attr = getattr(model, key)
    existing: dict[str, Any] = {}
    for chunk in _chunks(list(desired)):
        for stored in session.scalars(select(model).where(attr.in_(chunk))):
            existing[getattr(stored, key)] = stored
    entity = model.__tablename__
    entries: list[dict[str, Any]] = []
    new_objects: list[Any] = []  # instances of `model`, whose columns mypy cannot see
    for code, values in desired.items():
        obj = existing.get(code)
        if obj is None:
            ctx.report.created += 1
            if not ctx.dry_run:
                new_objects.append(model(**{key: code}, **values))
            continue
        diff = {k: v for k, v in values.items() if getattr(obj, k) != v}
        if not diff:
            ctx.report.unchanged += 1
            continue
        ctx.report.updated += 1
        if not ctx.dry_run:
            before = {k: getattr(obj, k) for k in diff}
            for k, v in diff.items():
                setattr(obj, k, v)
            entries.append(_entry(ctx, "update", entity, code, before, diff))
    if ctx.dry_run:
        return {code: getattr(obj, "id", 0) for code, obj in existing.items()} | {
            code: 0 for code in desired if code not in existing
        }
    session.add_all(new_objects)
    session.flush()
    entries += [
        _entry(
            ctx, "create", entity, getattr(o, key), None, {"id": o.id, **desired[getattr(o, key)]}
        )
        for o in new_objects
    ]
    audit.record_many(session, entries)
    return {getattr(o, key): o.id for o in [*existing.values(), *new_objects]}


def _entry(
    ctx: _Context, action: str, entity: str, entity_id: object, before: Any, after: Any
) -> dict[str, Any]:
    return {
        "actor": ctx.actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "reason": ctx.reason,
    }


def _ensure_links(
    ctx: _Context, model: type[Base], wanted: Iterable[tuple[Any, ...]], columns: tuple[str, ...],
    existing: Container[Any], *, extra: Callable[[tuple[Any, ...]], dict[str, Any]] | None = None,
) -> None:  # fmt: skip
    """Add link rows (aliases, fitment, components …) that are missing; existing ones stay."""
    ordered = list(dict.fromkeys(wanted))  # the file's order, so exports list links as imported
    missing = [link for link in ordered if link not in existing]
    ctx.report.created += len(missing)
    ctx.report.unchanged += len(ordered) - len(missing)
    if ctx.dry_run or not missing:
        return
    rows = [
        dict(zip(columns, link, strict=True)) | (extra(link) if extra else {}) for link in missing
    ]
    for chunk in _chunks(rows):
        ctx.session.execute(insert(model), list(chunk))
    ctx.report.notes.append(f"{model.__tablename__}: {len(missing)} added")


# Kind by kind.


def _import_regions(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    existing = _codes(ctx.session, Region)
    file_codes = {row.get("code", "").strip() for _, row in rows}
    desired: dict[str, dict[str, Any]] = {}
    parents: dict[str, str] = {}
    for n, row in rows:
        code = _text(ctx, n, row, "code")
        name = _text(ctx, n, row, "name")
        level = _choice(ctx, n, row, "level", REGION_LEVELS)
        parent = _text(ctx, n, row, "parent_code", required=False) or ""
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
        ids.update(_upsert(ctx, Region, batch))


def _import_branches(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    regions = _codes(ctx.session, Region)
    branches = _codes(ctx.session, Branch)
    file_codes = {row.get("code", "").strip() for _, row in rows}
    desired: dict[str, dict[str, Any]] = {}
    parents: dict[str, str] = {}
    for n, row in rows:
        code = _text(ctx, n, row, "code")
        name = _text(ctx, n, row, "name")
        region_id = _lookup(ctx, n, row, "region_code", regions, "region")
        kind = _choice(ctx, n, row, "kind", BRANCH_KINDS)
        limit = _money_fen(ctx, n, row, "authority_limit_yuan")
        parent = row.get("parent_code", "").strip()
        if parent and parent not in branches and parent not in file_codes:
            ctx.error(n, "parent_code", f"unknown branch {quote(parent)}")
        if code and name and region_id and kind and limit:
            desired[code] = {
                "name": name, "region_id": region_id, "kind": kind, "authority_limit_fen": limit,
            }  # fmt: skip
            parents[code] = parent
    ctx.raise_if_errors()
    top = {c: v for c, v in desired.items() if not parents[c]}
    ids = branches | _upsert(ctx, Branch, {c: v | {"parent_id": None} for c, v in top.items()})
    rest = {c: v | {"parent_id": ids.get(parents[c])} for c, v in desired.items() if parents[c]}
    _upsert(ctx, Branch, rest)


def _import_price_types(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    desired = {}
    for n, row in rows:
        code, name, rank = (
            _text(ctx, n, row, "code"), _text(ctx, n, row, "name"), _int(ctx, n, row, "rank"),
        )  # fmt: skip
        if code and name and rank is not None:
            desired[code] = {"name": name, "rank": rank}
    ctx.raise_if_errors()
    _upsert(ctx, PriceType, desired)


def _import_categories(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    desired = {}
    for n, row in rows:
        code, name = _text(ctx, n, row, "code"), _text(ctx, n, row, "name")
        if code and name:
            desired[code] = {"name": name}
    ctx.raise_if_errors()
    _upsert(ctx, Category, desired)


def _import_models(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    brands: dict[str, dict[str, Any]] = {}
    series: dict[str, tuple[str, dict[str, Any]]] = {}
    models: dict[str, tuple[str, dict[str, Any]]] = {}
    prefixes: dict[str, list[str]] = {}
    for n, row in rows:
        code = _text(ctx, n, row, "model_code")
        brand_code, brand_name = _text(ctx, n, row, "brand_code"), _text(ctx, n, row, "brand_name")
        series_code = _text(ctx, n, row, "series_code")
        series_name = _text(ctx, n, row, "series_name")
        name = _text(ctx, n, row, "name")
        year = _int(ctx, n, row, "model_year")
        if year is not None and not 1980 <= year <= 2100:
            ctx.error(n, "model_year", f"{year} is not a model year")
        vclass = _choice(ctx, n, row, "vehicle_class", VEHICLE_CLASSES)
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
            brand_code, {"name": series_name, "initials": pinyin_forms(series_name)[1]},
        )  # fmt: skip
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
        prefixes[code] = [p.upper() for p in _split(row.get("vin_prefixes", ""))]
        for prefix in prefixes[code]:
            if not 3 <= len(prefix) <= 11:
                ctx.error(n, "vin_prefixes", f"{quote(prefix)}: a prefix has 3 to 11 characters")
    ctx.raise_if_errors()
    brand_ids = _upsert(ctx, Brand, brands)
    series_ids = _upsert(
        ctx, Series, {c: v | {"brand_id": brand_ids[b]} for c, (b, v) in series.items()}
    )
    model_ids = _upsert(
        ctx, VehicleModel, {c: v | {"series_id": series_ids[s]} for c, (s, v) in models.items()}
    )
    existing = set(ctx.session.execute(select(VinPrefix.prefix, VinPrefix.model_id)))
    wanted = {(p, model_ids[c]) for c, ps in prefixes.items() for p in ps}
    _ensure_links(ctx, VinPrefix, wanted, ("prefix", "model_id"), existing)


def _import_parts(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    categories = _codes(ctx.session, Category)
    known_parts = _codes(ctx.session, Part)
    file_codes = {row.get("part_code", "").strip() for _, row in rows}
    desired: dict[str, dict[str, Any]] = {}
    aliases: dict[str, list[str]] = {}
    components: dict[str, list[tuple[str, int]]] = {}
    superseded: dict[str, list[str]] = {}
    for n, row in rows:
        code = _text(ctx, n, row, "part_code")
        name = _text(ctx, n, row, "name")
        category = _lookup(ctx, n, row, "category", categories, "category")
        oe = row.get("oe_number", "").strip()
        is_assembly = _bool(ctx, n, row, "is_assembly")
        universal = _bool(ctx, n, row, "universal")
        links: list[tuple[str, int]] = []
        for item in _split(row.get("components", "")):
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
            aliases[code] = [a for a in _split(row.get("aliases", "")) if a != name]
            components[code] = links
            superseded[code] = _split(row.get("superseded_oe", ""))
    ctx.raise_if_errors()
    ids = known_parts | _upsert(ctx, Part, desired)
    session = ctx.session

    # For a dry run, new parts have no id yet: plan their links by code instead.
    def ref(code: str) -> Any:
        return ids.get(code) or code

    existing_aliases = set(session.execute(select(PartAlias.part_id, PartAlias.alias)))
    _ensure_links(
        ctx, PartAlias, [(ref(c), a) for c, names in aliases.items() for a in names],
        ("part_id", "alias"), existing_aliases,
    )  # fmt: skip
    existing_links = set(
        session.execute(
            select(PartComponent.assembly_id, PartComponent.component_id, PartComponent.quantity)
        )
    )
    _ensure_links(
        ctx, PartComponent,
        [(ref(c), ref(comp), qty) for c, links in components.items() for comp, qty in links],
        ("assembly_id", "component_id", "quantity"), existing_links,
    )  # fmt: skip
    existing_oe = set(session.execute(select(OeSupersession.part_id, OeSupersession.old_oe)))
    _ensure_links(
        ctx, OeSupersession, [(ref(c), oe) for c, olds in superseded.items() for oe in olds],
        ("part_id", "old_oe"), existing_oe,
        extra=lambda link: {"old_oe_normalized": normalize_oe(link[1])},
    )  # fmt: skip


def _import_fitment(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    parts = _codes(ctx.session, Part)
    models = _codes(ctx.session, VehicleModel)
    wanted = set()
    for n, row in rows:
        part = _lookup(ctx, n, row, "part_code", parts, "part")
        model = _lookup(ctx, n, row, "model_code", models, "model")
        if part and model:
            wanted.add((part, model))
    ctx.raise_if_errors()
    existing = set(ctx.session.execute(select(Fitment.part_id, Fitment.model_id)))
    _ensure_links(ctx, Fitment, wanted, ("part_id", "model_id"), existing)


def _import_channels(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    branches = _codes(ctx.session, Branch)
    desired = {}
    for n, row in rows:
        code, name = _text(ctx, n, row, "code"), _text(ctx, n, row, "name")
        kind = _choice(ctx, n, row, "kind", CHANNEL_KINDS)
        branch = _lookup(ctx, n, row, "branch_code", branches, "branch", required=False)
        if code and name and kind:
            desired[code] = {"name": name, "kind": kind, "branch_id": branch}
    ctx.raise_if_errors()
    _upsert(ctx, Channel, desired)


# Versioned kinds.


@dataclass
class _NewVersion:
    row: int
    key: tuple[Any, ...]
    valid_from: date
    valid_to: date | None
    value: Hashable
    record: dict[str, Any]


def _apply_versions(
    ctx: _Context,
    model: type[Base],
    key_columns: tuple[str, ...],
    value_of: Callable[[Any], Hashable],
    items: list[_NewVersion],
    *,
    load_column: str,
    on_insert: Callable[[list[_NewVersion]], None] | None = None,
) -> None:
    """Plan every new version against the stored ones (and earlier rows of the same file), then
    close superseded versions and insert new ones in bulk."""
    session = ctx.session
    table = model.metadata.tables[model.__tablename__]
    if not ctx.dry_run:  # the locks staff edits take, before the versions are read
        lock_version_keys(
            session, table.name, [dict(zip(key_columns, i.key, strict=True)) for i in items]
        )
    versions: dict[tuple[Any, ...], list[Version]] = defaultdict(list)
    load_values = sorted({item.key[key_columns.index(load_column)] for item in items})
    columns = [table.c.id, *(table.c[c] for c in key_columns), table.c.valid_from, table.c.valid_to]
    value_columns = [c for c in table.c if c.name not in {"id", "valid_from", "valid_to"}]
    for chunk in _chunks(load_values):
        stmt = select(*columns, *value_columns).where(table.c[load_column].in_(chunk))
        for row in session.execute(stmt).mappings():
            key = tuple(row[c] for c in key_columns)
            versions[key].append(
                Version(row["id"], row["valid_from"], row["valid_to"], value_of(row))
            )

    inserts: list[_NewVersion] = []
    pending: dict[int, _NewVersion] = {}  # id(Version) of a pending version → its item
    closes: dict[int, date] = {}
    entries: list[dict[str, Any]] = []
    for item in sorted(items, key=lambda i: (repr(i.key), i.valid_from)):
        key_versions = versions[item.key]
        try:
            plan = plan_version(key_versions, item.valid_from, item.valid_to, item.value)
        except Conflict as exc:
            ctx.error(item.row, exc.field or "valid_from", exc.message)
            continue
        if plan.unchanged:
            ctx.report.unchanged += 1
            continue
        if plan.close is not None:
            closed, day = plan.close
            if closed.id is None:  # an earlier row of this same file
                pending[id(closed)].valid_to = day
            else:
                closes[closed.id] = day
                entries.append(
                    _entry(ctx, "close", table.name, closed.id,
                           {"valid_to": closed.valid_to}, {"valid_to": day})
                )  # fmt: skip
            closed.valid_to = day
        if plan.insert:
            ctx.report.superseded += plan.close is not None
            ctx.report.created += plan.close is None
            version = Version(None, item.valid_from, item.valid_to, item.value)
            key_versions.append(version)
            pending[id(version)] = item
            inserts.append(item)
        else:
            ctx.report.closed += 1
    ctx.raise_if_errors()
    if ctx.dry_run:
        return
    if closes:
        for chunk in _chunks(list(closes.items())):
            session.execute(update(model), [{"id": i, "valid_to": d} for i, d in chunk])
    records = [
        item.record | {"valid_from": item.valid_from, "valid_to": item.valid_to} for item in inserts
    ]
    _bulk_insert(session, table, records)
    if on_insert is not None:
        on_insert(inserts)
    audit.record_many(session, entries)


def _bulk_insert(session: Session, table: Any, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(records) > 1000:
        # COPY is several times faster than multi-row INSERT for large imports.
        columns = list(records[0])
        raw = connection.connection.driver_connection
        assert raw is not None  # a pooled connection is open
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for record in records:
                copy.write_row([record[c] for c in columns])
        return
    for chunk in _chunks(records):
        session.execute(insert(table), list(chunk))


def _scope_codes(session: Session) -> dict[str, tuple[str, int | None]]:
    """Scope cell → (scope, region or branch id); region and branch codes share one namespace."""
    scopes: dict[str, tuple[str, int | None]] = {"system": ("system", None)}
    scopes |= {code: ("region", id_) for code, id_ in _codes(session, Region).items()}
    scopes |= {code: ("branch", id_) for code, id_ in _codes(session, Branch).items()}
    return scopes


def _import_prices(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    session = ctx.session
    parts = _codes(session, Part)
    models = _codes(session, VehicleModel)
    price_types = _price_type_codes(session)
    scopes = _scope_codes(session)
    items: list[_NewVersion] = []
    for n, row in rows:
        part = _lookup(ctx, n, row, "part_code", parts, "part")
        model = _lookup(ctx, n, row, "model_code", models, "model", required=False)
        scope_cell = _text(ctx, n, row, "scope")
        scope = scopes.get(scope_cell or "")
        if scope_cell and scope is None:
            ctx.error(
                n, "scope", f"{quote(scope_cell)} is not system, a region code or a branch code"
            )
        price_type = _lookup(ctx, n, row, "price_type", price_types, "price type")
        amount = _money_fen(ctx, n, row, "amount_yuan")
        valid_from, valid_to = _date_range(ctx, n, row)
        source = row.get("source", "").strip() or "import"
        if source not in PRICE_SOURCES:
            ctx.error(n, "source", f"{quote(source)} is not one of {', '.join(PRICE_SOURCES)}")
        if not (part and scope and price_type and amount and valid_from):
            continue
        scope_name, target = scope
        region_id = target if scope_name == "region" else None
        branch_id = target if scope_name == "branch" else None
        key = (part, model, scope_name, region_id, branch_id, price_type)
        items.append(
            _NewVersion(n, key, valid_from, valid_to, amount, {
                "part_id": part, "model_id": model, "scope": scope_name, "region_id": region_id,
                "branch_id": branch_id, "price_type_id": price_type, "amount_fen": amount,
                "source": source, "source_ref": ctx.source_ref, "created_by": ctx.actor,
                "reason": row.get("reason", "").strip() or ctx.reason,
            })
        )  # fmt: skip
    ctx.raise_if_errors()
    _apply_versions(
        ctx, Price, ("part_id", "model_id", "scope", "region_id", "branch_id", "price_type_id"),
        lambda r: r["amount_fen"], items, load_column="part_id",
    )  # fmt: skip


def _labor_kinds(ctx: _Context) -> dict[str, int]:
    """Labor kinds are fixed: created on first use so every database has the same five."""
    kinds = _codes(ctx.session, LaborKind)
    missing = {c: {"name": n} for c, n in LABOR_KINDS.items() if c not in kinds}
    if missing and not ctx.dry_run:
        for code, values in missing.items():
            ctx.session.add(LaborKind(code=code, **values))
        ctx.session.flush()
        kinds = _codes(ctx.session, LaborKind)
    return kinds | {c: 0 for c in missing if c not in kinds}


def _import_labor_rates(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    branches = _codes(ctx.session, Branch)
    kinds = _labor_kinds(ctx)
    items = []
    for n, row in rows:
        branch = _lookup(ctx, n, row, "branch_code", branches, "branch")
        kind = _lookup(ctx, n, row, "labor_kind", kinds, "labor kind")
        tier = _choice(ctx, n, row, "shop_tier", SHOP_TIERS)
        vclass = _choice(ctx, n, row, "vehicle_class", VEHICLE_CLASSES)
        rate = _money_fen(ctx, n, row, "rate_yuan", maximum=MAX_RATE)
        valid_from, valid_to = _date_range(ctx, n, row)
        if not (branch and kind is not None and tier and vclass and rate and valid_from):
            continue
        key = (branch, kind, tier, vclass)
        items.append(
            _NewVersion(n, key, valid_from, valid_to, rate, {
                "branch_id": branch, "labor_kind_id": kind, "shop_tier": tier,
                "vehicle_class": vclass, "rate_fen": rate, "source": "import",
                "created_by": ctx.actor, "reason": ctx.reason,
            })
        )  # fmt: skip
    ctx.raise_if_errors()
    _apply_versions(
        ctx, LaborRate, ("branch_id", "labor_kind_id", "shop_tier", "vehicle_class"),
        lambda r: r["rate_fen"], items, load_column="branch_id",
    )  # fmt: skip


def _hours_centi(ctx: _Context, n: int, row: Row) -> int | None:
    value = _text(ctx, n, row, "hours")
    if not value:
        return None
    try:
        hours = parse_plain(value, places=2, maximum=MAX_HOURS)
    except MoneyError as exc:
        ctx.error(n, "hours", f"hours: {exc}")
        return None
    centi = hours * 100
    return int(centi)


def _import_standard_hours(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    parts = _codes(ctx.session, Part)
    kinds = _labor_kinds(ctx)
    items = []
    inclusions: set[tuple[int, str, int, str]] = set()
    for n, row in rows:
        part = _lookup(ctx, n, row, "part_code", parts, "part")
        operation = _choice(ctx, n, row, "operation", OPERATIONS)
        vclass = _choice(ctx, n, row, "vehicle_class", VEHICLE_CLASSES)
        kind = _lookup(ctx, n, row, "labor_kind", kinds, "labor kind")
        centi = _hours_centi(ctx, n, row)
        valid_from, valid_to = _date_range(ctx, n, row, default_from=STANDARD_HOURS_EPOCH)
        for included in _split(row.get("includes", "")):
            op, _, other = included.partition("@")
            if op not in OPERATIONS:
                ctx.error(n, "includes", f"{quote(op)} is not one of {', '.join(OPERATIONS)}")
            elif other and other not in parts:
                ctx.error(n, "includes", f"unknown part {quote(other)}")
            elif part and operation:
                inclusions.add((part, operation, parts[other] if other else part, op))
        if not (part and operation and vclass and kind is not None and centi and valid_from):
            continue
        items.append(
            _NewVersion(n, (part, operation, vclass), valid_from, valid_to, (centi, kind), {
                "part_id": part, "operation": operation, "vehicle_class": vclass,
                "labor_kind_id": kind, "hours_centi": centi, "created_by": ctx.actor,
                "reason": ctx.reason,
            })
        )  # fmt: skip
    ctx.raise_if_errors()
    _apply_versions(
        ctx, StandardHours, ("part_id", "operation", "vehicle_class"),
        lambda r: (r["hours_centi"], r["labor_kind_id"]), items, load_column="part_id",
    )  # fmt: skip
    existing = set(
        ctx.session.execute(
            select(
                OperationInclusion.part_id, OperationInclusion.operation,
                OperationInclusion.included_part_id, OperationInclusion.included_operation,
            )
        )
    )  # fmt: skip
    _ensure_links(
        ctx, OperationInclusion, inclusions,
        ("part_id", "operation", "included_part_id", "included_operation"), existing,
    )  # fmt: skip


def _card_line(
    ctx: _Context,
    n: int,
    row: Row,
    kinds: dict[str, int],
    categories: dict[str, int],
    price_types: dict[str, int],
) -> tuple[Any, ...] | None:
    """A rate card row's line as stored: ("labor", kind, rate fen, pct bp) or ("parts",
    category, price type, discount bp); None (with the errors noted) when it is not one."""
    line = _choice(ctx, n, row, "line", ("labor", "parts"))
    if line == "labor":
        kind = _lookup(ctx, n, row, "labor_kind", kinds, "labor kind")
        rate = _money_fen(ctx, n, row, "rate_yuan", required=False, maximum=MAX_RATE)
        pct = (
            _basis_points(ctx, n, row, "pct_of_standard", upper=100000)
            if row.get("pct_of_standard", "").strip()
            else None
        )
        if (rate is None) == (pct is None):
            ctx.error(n, "rate_yuan", "give exactly one of rate_yuan and pct_of_standard")
        elif kind is not None:
            return ("labor", kind, rate, pct)
    elif line == "parts":
        category = _lookup(ctx, n, row, "category", categories, "category")
        price_type = _lookup(ctx, n, row, "price_type", price_types, "price type")
        discount = _basis_points(ctx, n, row, "discount_pct", upper=9999)
        if category and price_type and discount is not None:
            return ("parts", category, price_type, discount)
    return None


def _import_rate_cards(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    session = ctx.session
    channels = _codes(session, Channel)
    kinds = _labor_kinds(ctx)
    categories = _codes(session, Category)
    price_types = _price_type_codes(session)
    cards: dict[tuple[int, date], dict[str, Any]] = {}
    for n, row in rows:
        channel = _lookup(ctx, n, row, "channel_code", channels, "channel")
        valid_from, valid_to = _date_range(ctx, n, row)
        entry = _card_line(ctx, n, row, kinds, categories, price_types)
        if not (channel and valid_from and entry):
            continue
        card = cards.setdefault(
            (channel, valid_from), {"row": n, "valid_to": valid_to, "lines": {}}
        )
        if card["valid_to"] != valid_to:
            ctx.error(n, "valid_to", f"differs from row {card['row']} of the same card")
        line_key = entry[:2]
        if line_key in card["lines"]:
            ctx.error(n, "line", "the card already has this line")
        card["lines"][line_key] = entry
    ctx.raise_if_errors()

    stored_lines: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
    for r in session.execute(select(RateCardLabor)).scalars():
        stored_lines[r.rate_card_id].add(
            ("labor", r.labor_kind_id, r.rate_fen, r.pct_of_standard_bp)
        )
    for rp in session.execute(select(RateCardParts)).scalars():
        stored_lines[rp.rate_card_id].add(
            ("parts", rp.category_id, rp.price_type_id, rp.discount_bp)
        )
    items = [
        _NewVersion(card["row"], (channel,), valid_from, card["valid_to"],
                    frozenset(card["lines"].values()),
                    {"channel_id": channel, "created_by": ctx.actor, "reason": ctx.reason})
        for (channel, valid_from), card in cards.items()
    ]  # fmt: skip

    def insert_lines(inserted: list[_NewVersion]) -> None:
        card_ids = {
            (c, f): i
            for i, c, f in session.execute(
                select(RateCard.id, RateCard.channel_id, RateCard.valid_from)
            )
        }
        labor, parts = [], []
        for item in inserted:
            card_id = card_ids[(item.key[0], item.valid_from)]
            for line in item.value:  # type: ignore[attr-defined]
                if line[0] == "labor":
                    labor.append({"rate_card_id": card_id, "labor_kind_id": line[1],
                                  "rate_fen": line[2], "pct_of_standard_bp": line[3]})  # fmt: skip
                else:
                    parts.append({"rate_card_id": card_id, "category_id": line[1],
                                  "price_type_id": line[2], "discount_bp": line[3]})  # fmt: skip
        if labor:
            session.execute(insert(RateCardLabor), labor)
        if parts:
            session.execute(insert(RateCardParts), parts)

    _apply_versions(
        ctx, RateCard, ("channel_id",), lambda r: frozenset(stored_lines[r["id"]]), items,
        load_column="channel_id", on_insert=insert_lines,
    )  # fmt: skip


#: Longest synonym term (characters).
MAX_TERM = 50


def _import_synonyms(ctx: _Context, rows: list[tuple[int, Row]]) -> None:
    """The colloquial dictionary of the matcher: one row per term, ``canonical`` names its group
    (叶子板 → 翼子板). A row sets the term's group (moving it from another group); with
    ``remove=1`` it takes the term out. While the table is empty the matcher uses the shipped
    dictionary, so the first import starts from it: the shipped terms are stored first, then
    the file applies — importing one new group never loses the rest."""
    stored = {
        term: (id_, canonical)
        for id_, canonical, term in ctx.session.execute(
            select(SynonymTerm.id, SynonymTerm.canonical, SynonymTerm.term)
        )
    }
    desired = _synonyms_to_start_from(ctx, stored)
    seen = _apply_synonym_rows(ctx, rows, desired)
    _check_synonym_groups(ctx, rows, desired, seen)
    ctx.raise_if_errors()
    _write_synonyms(ctx, stored, desired, seen)


#: a term given in the file: (row, canonical, remove)
_SynonymRows = dict[str, tuple[int, str, bool]]


def _synonyms_to_start_from(ctx: _Context, stored: dict[str, tuple[int, str]]) -> dict[str, str]:
    from pricebook.matching.synonyms import default_synonym_groups

    desired: dict[str, str] = {term: canonical for term, (_, canonical) in stored.items()}
    if not stored:
        for group in default_synonym_groups():
            for member in group:
                desired.setdefault(member, group[0])
        ctx.report.notes.append(
            f"synonym_terms was empty: started from the {len(desired)} shipped terms"
        )
    return desired


def _apply_synonym_rows(
    ctx: _Context, rows: list[tuple[int, Row]], desired: dict[str, str]
) -> _SynonymRows:
    """Apply each row to `desired` (term → canonical), refusing a term given twice differently
    and a removal of a term not in the group named."""
    seen: _SynonymRows = {}
    for n, row in rows:
        canonical = _text(ctx, n, row, "canonical")
        term = _text(ctx, n, row, "term")
        remove = _bool(ctx, n, row, "remove")
        bad = False
        for column, value in (("canonical", canonical), ("term", term)):
            if value and (len(value) > MAX_TERM or any(c in value for c in "\t\r\n\x00")):
                ctx.error(n, column, f"at most {MAX_TERM} characters, no tabs or line breaks")
                bad = True
        if not canonical or not term or bad:
            continue
        if term in seen and seen[term][1:] != (canonical, remove):
            ctx.error(
                n, "term", f"{quote(term)} is already given differently in row {seen[term][0]}"
            )
            continue
        seen[term] = (n, canonical, remove)
        if remove:
            if desired.get(term) != canonical:
                ctx.error(n, "term", f"{quote(term)} is not in the group of {quote(canonical)}")
            else:
                del desired[term]
        else:
            desired[term] = canonical
    for _, canonical, remove in seen.values():
        if not remove:
            desired.setdefault(canonical, canonical)  # a canonical word is in its own group
    return seen


def _check_synonym_groups(
    ctx: _Context, rows: list[tuple[int, Row]], desired: dict[str, str], seen: _SynonymRows
) -> None:
    """The groups the file leaves: a canonical word names one group and is no other group's
    term, a group is removed with its terms, and no two terms read the same once cleaned."""
    from pricebook.matching.synonyms import SynonymTable

    canonicals = set(desired.values())
    for term, (n, canonical, remove) in seen.items():
        if remove:
            if term == canonical and canonical in canonicals:
                ctx.error(
                    n, "term", f"the group of {quote(canonical)} still has terms: remove them too"
                )
        elif desired.get(canonical) != canonical:
            ctx.error(
                n, "canonical",
                f"{quote(canonical)} is a term of the group of {desired.get(canonical)!r}, "
                "so it cannot name a group",
            )  # fmt: skip
        elif term != canonical and term in canonicals:
            ctx.error(n, "term", f"{quote(term)} names a group of its own: move its terms first")
    if not ctx.errors:
        groups: dict[str, list[str]] = {}
        for term, canonical in desired.items():
            groups.setdefault(canonical, [canonical])
            if term != canonical:
                groups[canonical].append(term)
        try:
            SynonymTable(groups.values())
        except ValueError as exc:  # two terms that read the same once cleaned (ｆｕｌｌ-width …)
            ctx.error(rows[0][0] if rows else 2, "term", str(exc))


def _write_synonyms(
    ctx: _Context,
    stored: dict[str, tuple[int, str]],
    desired: dict[str, str],
    seen: _SynonymRows,
) -> None:
    """Count, then (unless a dry run) delete, update and insert the terms that differ, with
    an audit entry each."""
    session = ctx.session
    inserts = [(t, c) for t, c in desired.items() if t not in stored]
    updates = [(t, c) for t, c in desired.items() if t in stored and stored[t][1] != c]
    removals = [t for t in stored if t not in desired]
    ctx.report.created += len(inserts)
    ctx.report.updated += len(updates)
    ctx.report.removed += len(removals)
    ctx.report.unchanged += sum(
        1 for t, (_, c, r) in seen.items() if not r and t in stored and stored[t][1] == c
    )
    if ctx.dry_run:
        return
    entries = []
    for term in removals:
        id_, canonical = stored[term]
        session.execute(delete(SynonymTerm).where(SynonymTerm.id == id_))
        entries.append(_entry(ctx, "delete", "synonym_terms", term, {"canonical": canonical}, None))
    for term, canonical in updates:
        id_, before = stored[term]
        session.execute(
            update(SynonymTerm).where(SynonymTerm.id == id_).values(canonical=canonical)
        )
        entries.append(
            _entry(ctx, "update", "synonym_terms", term, {"canonical": before},
                   {"canonical": canonical})
        )  # fmt: skip
    session.flush()
    # Groups in order, canonical first, so an export reads like the dictionary.
    order: dict[str, int] = {}
    for canonical in desired.values():
        order.setdefault(canonical, len(order))
    inserts.sort(key=lambda tc: (order[tc[1]], tc[0] != tc[1]))
    for chunk in _chunks(inserts):
        session.execute(
            insert(SynonymTerm),
            [{"canonical": c, "term": t, "created_by": ctx.actor} for t, c in chunk],
        )
    entries += [
        _entry(ctx, "create", "synonym_terms", t, None, {"canonical": c}) for t, c in inserts
    ]
    audit.record_many(session, entries)


IMPORTERS: dict[str, Callable[[_Context, list[tuple[int, Row]]], None]] = {
    "regions": _import_regions,
    "branches": _import_branches,
    "price_types": _import_price_types,
    "categories": _import_categories,
    "models": _import_models,
    "parts": _import_parts,
    "fitment": _import_fitment,
    "prices": _import_prices,
    "labor_rates": _import_labor_rates,
    "standard_hours": _import_standard_hours,
    "channels": _import_channels,
    "rate_cards": _import_rate_cards,
    "synonyms": _import_synonyms,
}


#: the tables each kind writes, besides the audit log and the catalogue version.
TABLES_WRITTEN: dict[str, tuple[type[Base], ...]] = {
    "regions": (Region,),
    "branches": (Branch,),
    "price_types": (PriceType,),
    "categories": (Category,),
    "models": (Brand, Series, VehicleModel, VinPrefix),
    "parts": (Part, PartAlias, PartComponent, OeSupersession),
    "fitment": (Fitment,),
    "prices": (Price,),
    "labor_rates": (LaborKind, LaborRate),
    "standard_hours": (LaborKind, StandardHours, OperationInclusion),
    "channels": (Channel,),
    "rate_cards": (LaborKind, RateCard, RateCardLabor, RateCardParts),
    "synonyms": (SynonymTerm,),
}


def analyze_import(bind: Engine | Connection, kind: str, *, changed: int) -> bool:
    """After an import's commit: ANALYZE the tables of `kind` if it changed at least
    `ANALYZE_MIN_ROWS` rows (PostgreSQL; see `pricebook.db.analyze`). True if it did."""
    check_kind(kind)
    if changed < ANALYZE_MIN_ROWS:
        return False
    analyze(bind, TABLES_WRITTEN[kind])
    return bind.dialect.name == "postgresql"


def check_kind(kind: str) -> None:
    if kind not in IMPORTERS:
        raise InvalidInput(
            f"unknown kind {quote(kind)}: one of {', '.join(IMPORT_KINDS)}", field="kind"
        )


def check_columns(kind: str, header: Sequence[str]) -> None:
    """Each missing column is a row-1 error; a header sharing at most one of the kind's (three
    or more) columns is one error saying the file is not of this kind (another kind's, or no
    table at all) rather than a list of every column."""
    required = REQUIRED_COLUMNS[kind]
    missing = [c for c in required if c not in header]
    if len(required) > 2 and len(required) - len(missing) <= 1:
        message = f"not a {kind} file: its header lacks most of the columns {', '.join(required)}"
        raise ImportRejected(kind, [RowError(1, "", message)])
    if missing:
        raise ImportRejected(kind, [RowError(1, c, "missing column") for c in missing])


def import_rows(
    session: Session,
    kind: str,
    rows: Iterable[tuple[int, Row]] | Iterable[Row],
    *,
    actor: str,
    reason: str = "",
    source_ref: str = "",
    dry_run: bool = False,
    header: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import rows of `kind` in the caller's transaction. Rows are dicts (numbered from 2) or
    (row number, dict) pairs. Raises ImportRejected, writing nothing, if any row is bad."""
    check_kind(kind)
    numbered: list[tuple[int, Row]] = []
    for i, item in enumerate(rows, start=2):
        numbered.append(item if isinstance(item, tuple) else (i, item))
        if progress is not None and len(numbered) % 50000 == 0:
            progress(len(numbered))
    if header is None:
        header = list(numbered[0][1]) if numbered else list(REQUIRED_COLUMNS[kind])
    check_columns(kind, header)
    report = ImportReport(kind=kind, rows=len(numbered), dry_run=dry_run)
    ctx = _Context(session, kind, actor, reason, source_ref, dry_run, report)
    IMPORTERS[kind](ctx, numbered)
    if not dry_run and report.changed:
        audit.record(
            session, actor=actor, action="import", entity=kind, entity_id=source_ref,
            after={"rows": report.rows, "created": report.created, "updated": report.updated,
                   "superseded": report.superseded, "closed": report.closed},
            reason=reason,
        )  # fmt: skip
        if kind in CATALOG_KINDS:
            audit.bump_catalog_version(session, actor=actor, reason=f"import {kind}")
    return report


def import_file(
    engine: Engine,
    kind: str,
    path: Path,
    *,
    actor: str | None = None,
    reason: str = "",
    dry_run: bool = False,
    progress: Progress | None = None,
    limits: TableLimits | None = None,
    source_ref: str | None = None,
) -> ImportReport:
    """Import a CSV or XLSX file in one transaction (rolled back for a dry run); a big import
    then ANALYZEs the tables it wrote (`analyze_import`). Blocking from start to end: the API
    runs it in a worker thread. A write that still collides with a concurrent one (the
    database refuses an overlap) raises Conflict, with nothing written."""
    check_kind(kind)
    header, rows = read_table(path, limits)
    check_columns(kind, header)
    with session_factory(engine)() as session:  # closing without commit rolls back
        try:
            report = import_rows(
                session, kind, rows, actor=actor or getpass.getuser(), reason=reason,
                source_ref=source_ref or path.name, dry_run=dry_run, header=header,
                progress=progress,
            )  # fmt: skip
            if dry_run:
                session.rollback()
                return report
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise Conflict(
                f"{kind}: a concurrent change to the same keys collided with this import; "
                "nothing was written: run it again"
            ) from exc
    analyze_import(engine, kind, changed=report.changed)
    return report
