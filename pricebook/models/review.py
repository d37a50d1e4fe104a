"""The estimate review's versioned configuration (rule profiles, consumable standards, rescue
tariffs) and stored validations."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pricebook.models.base import VEHICLE_CLASSES, Base, CreatedAt, Period, Recorded, _in


class RuleProfileVersion(Period, Recorded, Base):
    """One version of a review rule profile (tolerances, windows, deadlines, holidays …).

    A profile `code` belongs to one branch (NULL: the default profile every branch without its
    own falls back to). Versions are append-only like prices: a new version closes the one in
    force (`valid_to`), `version` counts 1, 2, 3 … per code, and `settings` is the complete
    document (`pricebook.review.ProfileSettings`), never a patch.
    """

    __tablename__ = "rule_profiles"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        Index("ix_rule_profiles_lookup", "branch_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str]
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    version: Mapped[int]
    settings: Mapped[dict[str, Any]]


class ConsumableStandardVersion(Period, Recorded, Base):
    """Standard quantity (and optionally unit price) of a consumable or fluid per vehicle class
    (NULL: every class): 冷媒, 防冻液, 机油 … (第六条 4(7)). Versioned like prices."""

    __tablename__ = "consumable_standards"
    __table_args__ = (
        CheckConstraint("max_quantity_milli > 0", name="quantity_positive"),
        CheckConstraint(
            "max_unit_price_fen IS NULL OR max_unit_price_fen > 0", name="price_positive"
        ),
        CheckConstraint(
            f"vehicle_class IS NULL OR {_in('vehicle_class', VEHICLE_CLASSES)}",
            name="vehicle_class",
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        Index("ix_consumable_standards_lookup", "kind", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]
    name: Mapped[str]
    unit: Mapped[str]
    vehicle_class: Mapped[str | None]
    #: thousandths of `unit` (0.8 L = 800)
    max_quantity_milli: Mapped[int] = mapped_column(BigInteger)
    max_unit_price_fen: Mapped[int | None] = mapped_column(BigInteger)


class RescueTariffVersion(Period, Recorded, Base):
    """A region's rescue/towing tariff (施救收费标准, 第六条 9(1)): a base fee covering the first
    `included_km`, then a fee per km. The nearest region up the tree applies."""

    __tablename__ = "rescue_tariffs"
    __table_args__ = (
        CheckConstraint("base_fen >= 0 AND per_km_fen >= 0", name="fees"),
        CheckConstraint("included_km >= 0", name="included_km"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        Index("ix_rescue_tariffs_lookup", "region_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    base_fen: Mapped[int] = mapped_column(BigInteger)
    included_km: Mapped[int]
    per_km_fen: Mapped[int] = mapped_column(BigInteger)


class EstimateValidation(Base):
    """One validation of one estimate version: the request, the result, the profile used, and
    the figures the indicators need (配件自定义率, 系统车型点选率). Append-only."""

    __tablename__ = "estimate_validations"
    __table_args__ = (
        Index("ix_estimate_validations_estimate", "estimate_id", "estimate_version"),
        Index("ix_estimate_validations_vin", "vin", "estimate_date"),
        Index("ix_estimate_validations_branch", "branch_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    estimate_id: Mapped[str]
    estimate_version: Mapped[int]
    estimate_date: Mapped[date]
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    vin: Mapped[str] = mapped_column(default="")
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    model_selected: Mapped[bool]
    part_lines: Mapped[int]
    custom_part_lines: Mapped[int]
    custom_matched: Mapped[int]
    claimed_fen: Mapped[int] = mapped_column(BigInteger)
    allowed_fen: Mapped[int] = mapped_column(BigInteger)
    cut_fen: Mapped[int] = mapped_column(BigInteger)
    #: NULL when the built-in default profile applied (no profile in the database)
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("rule_profiles.id"))
    profile_code: Mapped[str]
    profile_version: Mapped[int]
    #: parts replaced and paid for: what REPEAT_CLAIM looks for in later estimates of the VIN
    replaced_part_ids: Mapped[list[int]] = mapped_column(JSON)
    #: the catalogue part of each part line, in line order, as often as claimed (the
    #: indicators' top parts); with the next two, what is read without reading `result`
    part_ids: Mapped[list[int]] = mapped_column(JSON, server_default=text("'[]'"))
    #: flags by code (the result's `counts`)
    flag_counts: Mapped[dict[str, int]] = mapped_column(JSON, server_default=text("'{}'"))
    flagged_lines: Mapped[int] = mapped_column(server_default=text("0"))
    request: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(default="")
    #: the API key that stored it (NULL: stored from the CLI, or before migration 0012): an
    #: estimate_tool key reads, and reuses, only the validations of its own key
    created_by_key_id: Mapped[int | None]
    created_at: Mapped[CreatedAt]
