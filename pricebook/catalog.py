"""The catalogue: vehicle models, parts, aliases, assemblies, fitment, OE numbers.

Helpers here are shared by imports, the API and matching: how OE numbers are normalised, how a
model's search text is built (names, pinyin, initials, codes), how a VIN is checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from pricebook.db import in_select
from pricebook.errors import InvalidInput, NotFound

# One rule for OE numbers everywhere (imports, searches, matching): no spaces, dashes, dots or
# slashes, upper case, full-width folded to half-width.
from pricebook.matching.normalize import normalize_oe
from pricebook.paging import Page


@lru_cache(maxsize=4096)
def pinyin_forms(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of a Chinese text, lower case, no separators: 朗逸 → (langyi, ly)."""
    from pypinyin import Style, lazy_pinyin

    full = "".join(lazy_pinyin(text, errors="default")).lower()
    initials = "".join(s[0] for s in lazy_pinyin(text, style=Style.FIRST_LETTER, strict=False) if s)
    return re.sub(r"\W+", "", full), re.sub(r"\W+", "", initials.lower())


def model_search_text(
    brand: str, series: str, name: str, code: str, manufacturer_code: str, year: int
) -> str:
    """One lower-case text holding everything a user may type to find a model, including pinyin
    initials of brand+series (大众朗逸 → dzly) and of each word."""
    words = [brand, series, name, code, manufacturer_code, str(year)]
    full_bs, initials_bs = pinyin_forms(brand + series)
    full_b, initials_b = pinyin_forms(brand)
    full_s, initials_s = pinyin_forms(series)
    words += [full_bs, initials_bs, full_b, initials_b, full_s, initials_s]
    return " ".join(w.lower() for w in words if w)


# VIN (ISO 3779 / GB 16735): 17 characters, no I, O, Q; position 9 is a check digit in North
# America and in China (GB 16735 makes it mandatory).
_VIN_RE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_problem(vin: str) -> str | None:
    """Why `vin` is not a valid VIN, or None. Chinese-market VINs (WMI starting with L) must
    carry a correct check digit; others are checked for form only."""
    if len(vin) != 17:
        return f"a VIN has 17 characters, this one has {len(vin)}"
    if not _VIN_RE.match(vin):
        return "a VIN uses digits and capital letters except I, O and Q"
    if vin[0] == "L" and vin[8] != vin_check_digit(vin):
        return f"check digit (9th character) should be {vin_check_digit(vin)}"
    return None


# ------------------------------------------------------------------------------------------------
# Queries (sync Session; the API runs them through AsyncSession.run_sync)
# ------------------------------------------------------------------------------------------------

MODEL_SORTS = {
    "name": ("name", False),
    "-name": ("name", True),
    "year": ("model_year", False),
    "-year": ("model_year", True),
    "code": ("code", False),
    "-code": ("code", True),
}
PART_SORTS = ("relevance", "name", "-name", "code", "-code")


@dataclass(frozen=True, slots=True)
class Named:
    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ModelSummary:
    id: int
    code: str
    name: str
    brand: Named
    series: Named
    model_year: int
    body: str
    engine: str
    vehicle_class: str
    manufacturer_code: str


#: the characters of a normalised OE number, in the order every collation sorts them
_OE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _prefix(column: Any, prefix: str) -> Any:
    """`column LIKE 'prefix%'` for a normalised OE number, as a range the column's index can
    serve in a generic plan (a LIKE of a parameter cannot be turned into one): strings of
    digits and capital letters sort alike in every collation, so `prefix <= column < next`,
    `next` the prefix with its last character counted up. The LIKE stays as the exact test."""
    like = column.like(_like(prefix)[1:], escape="\\")
    if any(c not in _OE_ALPHABET for c in prefix):
        return like
    stem = prefix.rstrip(_OE_ALPHABET[-1])
    if not stem:
        return and_(column >= prefix, like)
    following = stem[:-1] + _OE_ALPHABET[_OE_ALPHABET.index(stem[-1]) + 1]
    return and_(column >= prefix, column < following, like)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _model_select() -> Any:
    from pricebook.models import Brand, Series, VehicleModel

    return (
        select(VehicleModel, Series, Brand)
        .join(Series, Series.id == VehicleModel.series_id)
        .join(Brand, Brand.id == Series.brand_id)
    )


def _model_summary(model: Any, series: Any, brand: Any) -> ModelSummary:
    return ModelSummary(
        id=model.id,
        code=model.code,
        name=model.name,
        brand=Named(brand.id, brand.code, brand.name),
        series=Named(series.id, series.code, series.name),
        model_year=model.model_year,
        body=model.body,
        engine=model.engine,
        vehicle_class=model.vehicle_class,
        manufacturer_code=model.manufacturer_code,
    )


def search_models(
    session: Session,
    *,
    q: str = "",
    brand: str = "",
    year: int | None = None,
    sort: str = "name",
    limit: int = 50,
    offset: int = 0,
) -> Page[ModelSummary]:
    """Models whose search text holds every word of `q` (names, pinyin, initials such as dzly
    for 大众朗逸, model and manufacturer codes); `brand` is a brand code or name."""
    from pricebook.models import Brand, VehicleModel

    stmt = _model_select()
    for word in q.lower().split():
        stmt = stmt.where(VehicleModel.search_text.like(_like(word), escape="\\"))
    if brand:
        stmt = stmt.where(or_(func.lower(Brand.code) == brand.lower(), Brand.name == brand))
    if year is not None:
        stmt = stmt.where(VehicleModel.model_year == year)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column, desc = MODEL_SORTS[sort]
    order = getattr(VehicleModel, column)
    stmt = stmt.order_by(order.desc() if desc else order, VehicleModel.id)
    rows = session.execute(stmt.limit(limit).offset(offset)).all()
    return Page([_model_summary(*row) for row in rows], total, limit, offset)


def get_model(session: Session, model_id: int) -> ModelSummary:
    from pricebook.models import VehicleModel

    row = session.execute(_model_select().where(VehicleModel.id == model_id)).first()
    if row is None:
        raise NotFound(f"no vehicle model with id {model_id}", field="id")
    return _model_summary(*row)


@dataclass(frozen=True, slots=True)
class VinCandidate:
    prefix: str
    model: ModelSummary


@dataclass(frozen=True, slots=True)
class VinLookup:
    vin: str
    wmi: str
    check_digit: str
    candidates: list[VinCandidate]


def models_by_vin(session: Session, vin: str) -> VinLookup:
    """Check a VIN and map it to candidate models by its WMI/VDS prefix, longest prefix first."""
    from pricebook.models import VehicleModel, VinPrefix

    vin = vin.strip().upper()
    problem = vin_problem(vin)
    if problem:
        raise InvalidInput(problem, field="vin")
    prefixes = [vin[:n] for n in range(3, 12)]
    stmt = (
        _model_select()
        .add_columns(VinPrefix.prefix)
        .join(VinPrefix, VinPrefix.model_id == VehicleModel.id)
        .where(VinPrefix.prefix.in_(prefixes))
    )
    rows = session.execute(stmt).all()
    candidates = [VinCandidate(prefix, _model_summary(m, s, b)) for m, s, b, prefix in rows]
    candidates.sort(key=lambda c: (-len(c.prefix), c.model.code))
    return VinLookup(vin, vin[:3], vin_check_digit(vin), candidates)


@dataclass(frozen=True, slots=True)
class PartSummary:
    id: int
    code: str
    name: str
    category: Named
    position: str
    unit: str
    oe_number: str
    is_assembly: bool
    universal: bool
    #: how a search found it: oe | superseded_oe | name | alias (None when not searched)
    matched_by: str | None = None


def _part_summary(part: Any, category: Any, matched_by: str | None = None) -> PartSummary:
    return PartSummary(
        id=part.id,
        code=part.code,
        name=part.name,
        category=Named(category.id, category.code, category.name),
        position=part.position,
        unit=part.unit,
        oe_number=part.oe_number,
        is_assembly=part.is_assembly,
        universal=part.universal,
        matched_by=matched_by,
    )


_MATCH_NAMES = {0: "oe", 1: "superseded_oe", 2: "name", 3: "alias"}


def oe_lookup(
    match: Callable[[QueryableAttribute[str]], ColumnElement[bool]], *, postgresql: bool
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The two ways a part answers an OE number: its current one, or one it superseded.
    `match(column)` is the test on a normalized OE column (one number or a list parameter);
    returns (current, superseded) conditions on `Part`, kept apart so a search can rank them."""
    from pricebook.models import OeSupersession, Part

    superseded = select(OeSupersession.part_id).where(match(OeSupersession.old_oe_normalized))
    return match(Part.oe_normalized), in_select(Part.id, superseded, postgresql=postgresql)


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def search_parts(
    session: Session,
    *,
    q: str = "",
    oe: str = "",
    model_id: int | None = None,
    category: str = "",
    brand: str = "",
    sort: str = "relevance",
    limit: int = 50,
    offset: int = 0,
) -> Page[PartSummary]:
    """Parts by OE number first (normalised; superseded numbers find their successor), then by
    standard name, then by alias. `q` is tried both as an OE number (a partial one from 5
    characters with a digit) and as text; `oe` only as an OE number (partial from 4).
    `model_id` keeps parts that fit the model, `brand` (a brand code) parts that fit one of the
    brand's models; both keep universal parts."""
    from pricebook.models import Category, Part

    rank_cases, oe_conds, text_conds = _search_conditions(session, q.strip(), oe)
    rank = case(*rank_cases, else_=4) if rank_cases else literal(4)
    stmt = select(Part, Category, rank.label("rank")).join(
        Category, Category.id == Part.category_id
    )
    if oe and q.strip():
        # both given: the OE number must match, the text narrows by name or alias
        stmt = stmt.where(or_(*oe_conds)).where(or_(*text_conds))
    elif oe_conds or text_conds:
        stmt = stmt.where(or_(*oe_conds, *text_conds))
    if category:
        stmt = stmt.where(Category.code == category)
    stmt = _fitting(stmt, model_id, brand)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    orders = _part_order(sort, rank, Category.name)
    rows = session.execute(stmt.order_by(*orders).limit(limit).offset(offset)).all()
    searched = bool(oe_conds or text_conds)
    items = [
        _part_summary(part, cat, _MATCH_NAMES.get(r) if searched else None) for part, cat, r in rows
    ]
    return Page(items, total, limit, offset)


def _search_conditions(
    session: Session, text: str, oe: str
) -> tuple[list[tuple[Any, int]], list[Any], list[Any]]:
    """(rank per condition, OE conditions, name/alias conditions) of a part search."""
    from pricebook.models import Part, PartAlias

    # `oe` is an OE number only; without it, `q` is tried as an OE number too
    oe_norm = normalize_oe(oe) if oe else (normalize_oe(text) if text else "")
    rank_cases: list[tuple[Any, int]] = []
    oe_conds: list[Any] = []
    text_conds: list[Any] = []
    if oe_norm:
        postgresql = session.get_bind().dialect.name == "postgresql"
        exact, superseded = oe_lookup(lambda column: column == oe_norm, postgresql=postgresql)
        rank_cases += [(exact, 0), (superseded, 1)]
        oe_conds += [exact, superseded]
        # a partial OE number (18G805 of 18G805615B): prefix match ranks as oe; typed in the
        # search box it needs a digit and 5 characters, so words such as ABS stay text
        partial = len(oe_norm) >= 4 if oe else (len(oe_norm) >= 5 and _has_digit(oe_norm))
        if partial:
            prefix = _prefix(Part.oe_normalized, oe_norm)
            rank_cases.append((prefix, 0))
            oe_conds.append(prefix)
    if text:
        by_name = Part.name.like(_like(text), escape="\\")
        by_alias = Part.id.in_(
            select(PartAlias.part_id).where(PartAlias.alias.like(_like(text), escape="\\"))
        )
        rank_cases += [(by_name, 2), (by_alias, 3)]
        text_conds += [by_name, by_alias]
    return rank_cases, oe_conds, text_conds


def _fitting(stmt: Any, model_id: int | None, brand: str) -> Any:
    """Parts that fit the model, or one of the brand's models; universal parts always."""
    from pricebook.models import Brand, Fitment, Part, Series, VehicleModel

    if model_id is not None:
        stmt = stmt.where(
            or_(
                Part.universal.is_(True),
                Part.id.in_(select(Fitment.part_id).where(Fitment.model_id == model_id)),
            )
        )
    if brand:
        of_brand = (
            select(Fitment.part_id)
            .join(VehicleModel, VehicleModel.id == Fitment.model_id)
            .join(Series, Series.id == VehicleModel.series_id)
            .join(Brand, Brand.id == Series.brand_id)
            .where(Brand.code == brand)
        )
        stmt = stmt.where(or_(Part.universal.is_(True), Part.id.in_(of_brand)))
    return stmt


#: what part search sorts by besides relevance (`col` ascending, `-col` descending)
PART_SORTS = ("name", "code", "category", "oe", "position")


def _part_order(sort: str, rank: Any, category_name: Any) -> tuple[Any, ...]:
    """ORDER BY of a part search: relevance (rank, name), or one of `PART_SORTS`; the id
    last, so pages never repeat or skip a part among equal values."""
    from pricebook.models import Part

    if sort == "relevance":
        return (rank, Part.name, Part.id)
    column = {
        "name": Part.name,
        "code": Part.code,
        "category": category_name,
        "oe": Part.oe_number,
        "position": Part.position,
    }[sort.removeprefix("-")]
    return (column.desc() if sort.startswith("-") else column, Part.id)


@dataclass(frozen=True, slots=True)
class ComponentLine:
    part: PartSummary
    quantity: int


@dataclass(frozen=True, slots=True)
class PartDetail:
    part: PartSummary
    aliases: list[str]
    components: list[ComponentLine]
    assemblies: list[ComponentLine]
    superseded_oe: list[str]
    fitment: list[ModelSummary]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What part search can be narrowed by: categories and brands, as (code, name)."""

    categories: list[tuple[str, str]]
    brands: list[tuple[str, str]]


def search_filters(session: Session) -> SearchFilters:
    from pricebook.models import Brand, Category

    return SearchFilters(
        categories=[
            (c, n)
            for c, n in session.execute(
                select(Category.code, Category.name).order_by(Category.code)
            )
        ],
        brands=[
            (c, n) for c, n in session.execute(select(Brand.code, Brand.name).order_by(Brand.name))
        ],
    )


def fitment_names(session: Session, part_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each part's vehicles as people name them (品牌 车系, once each, by brand and series
    name), for a page of search results: one statement, whatever the number of parts."""
    from pricebook.models import Brand, Fitment, Series, VehicleModel

    if not part_ids:
        return {}
    rows = session.execute(
        select(Fitment.part_id, Brand.name, Series.name)
        .join(VehicleModel, VehicleModel.id == Fitment.model_id)
        .join(Series, Series.id == VehicleModel.series_id)
        .join(Brand, Brand.id == Series.brand_id)
        .where(Fitment.part_id.in_(sorted(set(part_ids))))
        .distinct()
        .order_by(Fitment.part_id, Brand.name, Series.name)
    )
    names: dict[int, list[str]] = {}
    for part_id, brand, series in rows:
        names.setdefault(part_id, []).append(f"{brand} {series}")
    return names


def get_part(session: Session, part_id: int) -> PartDetail:
    from pricebook.models import (
        Category,
        Fitment,
        OeSupersession,
        Part,
        PartAlias,
        PartComponent,
        VehicleModel,
    )

    row = session.execute(
        select(Part, Category)
        .join(Category, Category.id == Part.category_id)
        .where(Part.id == part_id)
    ).first()
    if row is None:
        raise NotFound(f"no part with id {part_id}", field="id")
    aliases = list(
        session.scalars(
            select(PartAlias.alias).where(PartAlias.part_id == part_id).order_by(PartAlias.alias)
        )
    )
    other = select(Part, Category, PartComponent.quantity).join(
        Category, Category.id == Part.category_id
    )
    components = [
        ComponentLine(_part_summary(p, c), q)
        for p, c, q in session.execute(
            other.join(PartComponent, PartComponent.component_id == Part.id)
            .where(PartComponent.assembly_id == part_id)
            .order_by(Part.code)
        )
    ]
    assemblies = [
        ComponentLine(_part_summary(p, c), q)
        for p, c, q in session.execute(
            other.join(PartComponent, PartComponent.assembly_id == Part.id)
            .where(PartComponent.component_id == part_id)
            .order_by(Part.code)
        )
    ]
    superseded = list(
        session.scalars(
            select(OeSupersession.old_oe)
            .where(OeSupersession.part_id == part_id)
            .order_by(OeSupersession.old_oe)
        )
    )
    fitment = [
        _model_summary(*r)
        for r in session.execute(
            _model_select()
            .join(Fitment, Fitment.model_id == VehicleModel.id)
            .where(Fitment.part_id == part_id)
            .order_by(VehicleModel.code)
        )
    ]
    return PartDetail(_part_summary(*row), aliases, components, assemblies, superseded, fitment)
