"""Prices and labor: price versions, labor kinds, branch standard labor rates, standard hours
and what operations include, special channels and their rate cards."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pricebook.models.base import (
    CHANNEL_KINDS,
    OPERATIONS,
    PRICE_SCOPES,
    PRICE_SOURCES,
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Base,
    Period,
    Recorded,
    _in,
)


class Price(Period, Recorded, Base):
    """One version of a price for a key (part, model, scope, price type) over a period."""

    __tablename__ = "prices"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        CheckConstraint(_in("scope", PRICE_SCOPES), name="scope"),
        CheckConstraint(_in("source", PRICE_SOURCES), name="source"),
        CheckConstraint(
            "(scope = 'system' AND region_id IS NULL AND branch_id IS NULL)"
            " OR (scope = 'region' AND region_id IS NOT NULL AND branch_id IS NULL)"
            " OR (scope = 'branch' AND branch_id IS NOT NULL AND region_id IS NULL)",
            name="scope_target",
        ),
        Index("ix_prices_lookup", "part_id", "price_type_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    scope: Mapped[str]
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    price_type_id: Mapped[int] = mapped_column(ForeignKey("price_types.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str]
    #: what caused it beyond `source`: a feedback id, an import file, a market run.
    source_ref: Mapped[str] = mapped_column(default="")


class LaborKind(Base):
    """钣金, 喷漆, 机修, 电工, 拆装."""

    __tablename__ = "labor_kinds"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]


class LaborRate(Period, Recorded, Base):
    """分公司标准工时费: per branch × labor kind × shop tier × vehicle class, per hour."""

    __tablename__ = "labor_rates"
    __table_args__ = (
        CheckConstraint("rate_fen > 0", name="rate_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        CheckConstraint(_in("shop_tier", SHOP_TIERS), name="shop_tier"),
        CheckConstraint(_in("vehicle_class", VEHICLE_CLASSES), name="vehicle_class"),
        CheckConstraint(_in("source", PRICE_SOURCES), name="source"),
        Index("ix_labor_rates_lookup", "branch_id", "labor_kind_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    labor_kind_id: Mapped[int] = mapped_column(ForeignKey("labor_kinds.id"))
    shop_tier: Mapped[str]
    vehicle_class: Mapped[str]
    rate_fen: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str]


class StandardHours(Period, Recorded, Base):
    """Standard hours of an operation on a part for a vehicle class."""

    __tablename__ = "standard_hours"
    __table_args__ = (
        CheckConstraint("hours_centi > 0", name="hours_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        CheckConstraint(_in("operation", OPERATIONS), name="operation"),
        CheckConstraint(_in("vehicle_class", VEHICLE_CLASSES), name="vehicle_class"),
        Index("ix_standard_hours_lookup", "part_id", "operation", "vehicle_class"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    operation: Mapped[str]
    vehicle_class: Mapped[str]
    labor_kind_id: Mapped[int] = mapped_column(ForeignKey("labor_kinds.id"))
    hours_centi: Mapped[int]


class OperationInclusion(Base):
    """Operation A on a part already includes operation B on (another) part: claiming both is
    counting hours twice (拆装次序重复累加, 第六条 6(1))."""

    __tablename__ = "operation_inclusions"
    __table_args__ = (
        UniqueConstraint("part_id", "operation", "included_part_id", "included_operation"),
        CheckConstraint(_in("operation", OPERATIONS), name="operation"),
        CheckConstraint(_in("included_operation", OPERATIONS), name="included_operation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    operation: Mapped[str]
    included_part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    included_operation: Mapped[str]


class Channel(Base):
    """特殊合作渠道: cooperating repair shops, 4S groups, parts direct-supply platforms."""

    __tablename__ = "channels"
    __table_args__ = (CheckConstraint(_in("kind", CHANNEL_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    kind: Mapped[str]
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))


class RateCard(Period, Recorded, Base):
    """A channel's negotiated terms over a period; lines in `rate_card_labor` / `_parts`."""

    __tablename__ = "rate_cards"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        Index("ix_rate_cards_lookup", "channel_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))


class RateCardLabor(Base):
    __tablename__ = "rate_card_labor"
    __table_args__ = (
        UniqueConstraint("rate_card_id", "labor_kind_id"),
        CheckConstraint(
            "(rate_fen IS NOT NULL AND pct_of_standard_bp IS NULL AND rate_fen > 0)"
            " OR (rate_fen IS NULL AND pct_of_standard_bp IS NOT NULL AND pct_of_standard_bp > 0)",
            name="rate_or_pct",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"), index=True)
    labor_kind_id: Mapped[int] = mapped_column(ForeignKey("labor_kinds.id"))
    rate_fen: Mapped[int | None] = mapped_column(BigInteger)
    pct_of_standard_bp: Mapped[int | None]


class RateCardParts(Base):
    __tablename__ = "rate_card_parts"
    __table_args__ = (
        UniqueConstraint("rate_card_id", "category_id"),
        CheckConstraint("discount_bp >= 0 AND discount_bp < 10000", name="discount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    price_type_id: Mapped[int] = mapped_column(ForeignKey("price_types.id"))
    discount_bp: Mapped[int] = mapped_column(default=0)
