"""The catalogue: regions and branches, brands, series and vehicle models (with VIN prefixes),
categories, parts with their aliases, components, OE supersessions and fitment, price types
and the words that name them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pricebook.models.base import BRANCH_KINDS, REGION_LEVELS, VEHICLE_CLASSES, Base, CreatedAt, _in


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (CheckConstraint(_in("level", REGION_LEVELS), name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    level: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)


class Branch(Base):
    """分公司 / 中支: a region and a review authority (核损权限) above which estimates go up."""

    __tablename__ = "branches"
    __table_args__ = (
        CheckConstraint(_in("kind", BRANCH_KINDS), name="kind"),
        CheckConstraint("authority_limit_fen >= 0", name="authority_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    kind: Mapped[str]
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    authority_limit_fen: Mapped[int] = mapped_column(BigInteger)


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    country: Mapped[str] = mapped_column(default="")
    #: pinyin initials (大众 -> dz) for search as adjusters type it.
    initials: Mapped[str] = mapped_column(default="")


class Series(Base):
    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    name: Mapped[str]
    initials: Mapped[str] = mapped_column(default="")


class VehicleModel(Base):
    """车型: brand → series → model/configuration."""

    __tablename__ = "vehicle_models"
    __table_args__ = (CheckConstraint(_in("vehicle_class", VEHICLE_CLASSES), name="vehicle_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    name: Mapped[str]
    model_year: Mapped[int]
    body: Mapped[str] = mapped_column(default="")
    engine: Mapped[str] = mapped_column(default="")
    vehicle_class: Mapped[str]
    price_band: Mapped[str] = mapped_column(default="")
    manufacturer_code: Mapped[str] = mapped_column(default="", index=True)
    #: brand, series, model names, pinyin and initials, codes: one lower-case text to search.
    search_text: Mapped[str] = mapped_column(default="")

    series: Mapped[Series] = relationship(lazy="raise")


class VinPrefix(Base):
    """WMI + VDS prefix of a VIN (e.g. LSVAB4BR) mapped to a candidate model."""

    __tablename__ = "vin_prefixes"
    __table_args__ = (UniqueConstraint("prefix", "model_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("vehicle_models.id"), index=True)


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]


class Part(Base):
    """配件: standard name (标准名称), OE number, category, side, assembly flag."""

    __tablename__ = "parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    position: Mapped[str] = mapped_column(default="")
    unit: Mapped[str] = mapped_column(default="个")
    #: OE number as written by the manufacturer ("5G0 807 221 A").
    oe_number: Mapped[str] = mapped_column(default="")
    #: the same without spaces, dashes, dots, case: what searches compare.
    oe_normalized: Mapped[str] = mapped_column(default="", index=True)
    is_assembly: Mapped[bool] = mapped_column(default=False)
    #: fits every model (consumables, fluids); otherwise see `fitments`.
    universal: Mapped[bool] = mapped_column(default=False)

    category: Mapped[Category] = relationship(lazy="raise")


class PartAlias(Base):
    __tablename__ = "part_aliases"
    __table_args__ = (UniqueConstraint("part_id", "alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    alias: Mapped[str] = mapped_column(index=True)


class PartComponent(Base):
    """总成 ↔ component: the assembly's separately sold components (rule 第六条 4(4))."""

    __tablename__ = "part_components"
    __table_args__ = (
        CheckConstraint("assembly_id <> component_id", name="not_self"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    assembly_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), primary_key=True, index=True)
    quantity: Mapped[int] = mapped_column(default=1)


class OeSupersession(Base):
    """An older OE number that `part_id` supersedes: searching the old number finds the part."""

    __tablename__ = "oe_supersessions"
    __table_args__ = (UniqueConstraint("old_oe_normalized", "part_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    old_oe: Mapped[str]
    old_oe_normalized: Mapped[str] = mapped_column(index=True)


class Fitment(Base):
    __tablename__ = "fitments"

    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("vehicle_models.id"), primary_key=True, index=True
    )


class PriceType(Base):
    """4S/原厂件, 品牌件, 适用件, 再制造件, 拆车件 …; `rank` orders specs (低配高选)."""

    __tablename__ = "price_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    rank: Mapped[int]


class PriceTypeWord(Base):
    """The one price-type vocabulary (原厂件 → oem) read by the market ingest and imports;
    pricing staff edit it (`pricebook.price_words`). A code, not a key: a word may name a
    type the database does not have yet."""

    __tablename__ = "price_type_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(unique=True)
    price_type_code: Mapped[str]
    created_by: Mapped[str]
    created_at: Mapped[CreatedAt]
