"""The schema: SQLAlchemy 2.0 typed tables. Alembic migrations create it; nothing else does.

Conventions
- Money is integer fen (`*_fen`), hours are integer hundredths (`hours_centi`), percentages are
  integer basis points (`*_bp`, 10000 = 100%): no float and no `Numeric` (SQLite stores it as float).
- Versioned tables (`prices`, `labor_rates`, `standard_hours`, `rate_cards`) are append-only: a
  row's only permitted change is to shorten its validity (`valid_to`), which is how a new version
  supersedes it. Periods are half-open `[valid_from, valid_to)`, `valid_to` NULL = open-ended.
  The database enforces both (triggers on SQLite, triggers and exclusion constraints on
  PostgreSQL, see the first migration); `pricebook.history` is the code path that writes them.
- Every change is written to `audit_log` in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PRICE_SCOPES = ("system", "region", "branch")
PRICE_SOURCES = ("system", "staff", "import", "feedback", "market")
OPERATIONS = ("replace", "repair", "paint", "remove_refit")
SHOP_TIERS = ("4s", "class1", "class2", "class3")
VEHICLE_CLASSES = ("A", "B", "C", "D", "E")
REGION_LEVELS = ("country", "province", "city")
BRANCH_KINDS = ("branch", "sub_branch")
CHANNEL_KINDS = ("repair_shop", "dealer_group", "parts_platform")
ROLES = ("estimate_tool", "reviewer", "pricing_staff", "admin")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {str: String(), dict[str, Any]: JSON()}


def _now() -> Any:
    return func.current_timestamp()


#: when a row was written, by the database's clock
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=_now())]


class Period:
    """A version's validity: in force from `valid_from`, until `valid_to` (None: open-ended)."""

    valid_from: Mapped[date]
    valid_to: Mapped[date | None]


class Recorded:
    """Who wrote a row, why and when: the audit columns of every staff-edited table."""

    created_by: Mapped[str]
    reason: Mapped[str] = mapped_column(default="")
    created_at: Mapped[CreatedAt]


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


class AuditEntry(Base):
    """Who changed what, when, from what to what, and why. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now(), index=True)
    actor: Mapped[str] = mapped_column(index=True)
    action: Mapped[str]
    entity: Mapped[str]
    entity_id: Mapped[str] = mapped_column(default="")
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str] = mapped_column(default="")


class CatalogVersion(Base):
    """Append-only change counter: every process compares max(id) with the version its
    in-memory indexes were built from, and rebuilds when it moved."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor: Mapped[str]
    reason: Mapped[str] = mapped_column(default="")


class ReferenceGeneration(Base):
    """One row that the database itself moves forward (triggers, migration 0007) in every
    transaction that changes what a validation reads: the catalogue, prices, labor rates and
    standard hours, operation inclusions, branches and regions, rule profiles. A process keys
    its in-memory copy of that data on (`token`, `value`) and reads the row once per validation:
    a write by any process, or by hand, is seen at once. `token` is drawn when the database is
    created, so two databases (tests recreate them) never share a key.

    `prices` moves instead of `value` for the `prices` table (migration 0010): a price edit
    leaves the rest of what a process keeps in place.

    `catalog` and `catalog_build` do the same for the matching indexes (migration 0008): every
    committed transaction that adds a `catalog_versions` row moves `catalog`, and
    `catalog_build` too unless all its rows are match confirmations (learned mappings only:
    no re-indexing needed). Unlike ``max(catalog_versions.id)`` — ids are taken at insert, not
    at commit — they never miss a change that commits after a newer one."""

    __tablename__ = "reference_generation"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger)
    catalog: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    catalog_build: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    prices: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    role: Mapped[str]
    key_hash: Mapped[str] = mapped_column(unique=True)
    prefix: Mapped[str]
    created_at: Mapped[CreatedAt]
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: when a request with this key last wrote (with read replicas in use): for the
    #: read-your-writes window every API node reads that key's requests from the primary
    last_write_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UiSession(Base):
    """A staff UI login: the session cookie holds a random token, the row only its SHA-256.
    Logging out deletes the row, so a copy of the cookie stops working in every process at
    once; a row past `expires_at` is refused and removed at a later login (migration 0012)."""

    __tablename__ = "ui_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class MatchMapping(Recorded, Base):
    """A person's verdict that custom name X is (accepted) or is not (rejected) part Y,
    optionally only for a brand or a model. The latest verdict per (name, scope, part) counts."""

    __tablename__ = "match_mappings"
    __table_args__ = (Index("ix_match_mappings_name", "name_normalized"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    name_normalized: Mapped[str]
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    accepted: Mapped[bool]


class SynonymTerm(Base):
    """The colloquial dictionary (叶子板 → 翼子板): one row per term, grouped by canonical term.
    Pricing staff import and edit it; the matching index reads it."""

    __tablename__ = "synonym_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    canonical: Mapped[str] = mapped_column(index=True)
    term: Mapped[str] = mapped_column(unique=True)
    created_by: Mapped[str]
    created_at: Mapped[CreatedAt]


# --- Market prices ---------------------------------------------------------------

#: ``suspicious``: finished, but far below the source's usual pages or listings, or pagination
#: stopped early (`pricebook.market.health.assess_run`).
MARKET_RUN_STATUSES = ("running", "finished", "suspicious", "failed")
OBSERVATION_STATUSES = ("matched", "unmatched", "not_part")
FEEDBACK_KINDS = ("reviewer", "drift")
FEEDBACK_STATUSES = ("open", "need_info", "accepted", "rejected", "resolved_by_market")
#: Statuses that still wait for pricing staff: at most one such item per key and kind.
FEEDBACK_UNRESOLVED = ("open", "need_info")


class MarketRun(Base):
    """One crawl of one source (`pricebook crawl`), with its report in `stats`."""

    __tablename__ = "market_runs"
    __table_args__ = (CheckConstraint(_in("status", MARKET_RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(index=True)
    spider: Mapped[str] = mapped_column(default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(default="running")
    #: pages, items, matched, unmatched, new, updated_last_seen, dropped {reason: n}, errors …
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(default="")


class MarketObservation(Base):
    """A market price as seen on a source: evidence, never a price layer.

    History records changes only: while a listing (source + `item_key` + region + price type)
    shows the same amount, its latest row's `last_seen` moves; a new amount adds a row. A
    listing is the source's item id, else its own page (`listing_url`), else title + OE +
    fitment + `seller` (`pricebook.market.listing_key`): the same title from several sellers is
    several listings. No unique constraint: a listing has one row per price it showed; ingests
    of a source take turns (a lock), so its latest row is never inserted twice.
    """

    __tablename__ = "market_observations"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", OBSERVATION_STATUSES), name="status"),
        CheckConstraint("confidence_bp >= 0 AND confidence_bp <= 10000", name="confidence"),
        Index("ix_market_observations_listing", "item_key", "source"),
        Index("ix_market_observations_part", "part_id", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str]
    #: what identifies the listing within its source (`pricebook.market.listing_key`).
    item_key: Mapped[str]
    #: the page the listing was found on
    url: Mapped[str]
    #: the listing's own page and the source's id of it, where the source gives them
    listing_url: Mapped[str] = mapped_column(default="", server_default="")
    item_id: Mapped[str] = mapped_column(default="", server_default="")
    #: the shop or seller offering it, where the source names one
    seller: Mapped[str] = mapped_column(default="", server_default="")
    #: when the page showing this amount was first fetched; `first_seen`/`last_seen` bound the
    #: period the amount was seen unchanged.
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raw_name: Mapped[str]
    raw_price: Mapped[str]
    raw_oe: Mapped[str] = mapped_column(default="")
    raw_brand_text: Mapped[str] = mapped_column(default="")
    raw_region: Mapped[str] = mapped_column(default="")
    price_type_hint: Mapped[str] = mapped_column(default="")
    #: the label the page gave the amount (会员价, 含税价 …), after ``约`` when it said the amount
    #: is approximate (``约``, ``约 会员价``); None for a bare price (`market.price_text`).
    price_label: Mapped[str | None]
    part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"))
    #: the best candidate when the match was not confident enough (for review).
    suggested_part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    price_type_id: Mapped[int | None] = mapped_column(ForeignKey("price_types.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    confidence_bp: Mapped[int] = mapped_column(default=0)
    #: oe_exact, oe_superseded, learned, alias_exact, fuzzy, pinyin, or '' (no candidate).
    match_reason: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("market_runs.id"), index=True)
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("market_runs.id"))


class FeedbackItem(Base):
    """The shared review queue: reviewers' price-mismatch feedback and market drift tasks.

    At most one unresolved (open / need_info) item per part × branch × price type × kind: two
    partial unique indexes (branch NULL = the system price) make that hold under concurrency.
    A reviewer's feedback on a key that already has an unresolved item is stored linked to it
    (`linked_to_id`, migration 0005): linked items are outside the indexes and follow their
    primary item's status.
    """

    __tablename__ = "feedback_items"
    __table_args__ = (
        CheckConstraint(_in("kind", FEEDBACK_KINDS), name="kind"),
        CheckConstraint(_in("status", FEEDBACK_STATUSES), name="status"),
        CheckConstraint("reference_fen IS NULL OR reference_fen > 0", name="reference_positive"),
        CheckConstraint("observed_fen IS NULL OR observed_fen > 0", name="observed_positive"),
        Index(
            "uq_feedback_items_open_branch",
            "kind",
            "part_id",
            "branch_id",
            "price_type_id",
            unique=True,
            sqlite_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NOT NULL AND linked_to_id IS NULL"
            ),
            postgresql_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NOT NULL AND linked_to_id IS NULL"
            ),
        ),
        Index(
            "uq_feedback_items_open_system",
            "kind",
            "part_id",
            "price_type_id",
            unique=True,
            sqlite_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NULL AND linked_to_id IS NULL"
            ),
            postgresql_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NULL AND linked_to_id IS NULL"
            ),
        ),
        Index("ix_feedback_items_queue", "status", "branch_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    #: NULL: the system (national) price.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    price_type_id: Mapped[int] = mapped_column(ForeignKey("price_types.id"))
    #: the reference price as the reviewer saw it / the price in force that drifted.
    reference_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: the market price the reviewer observed / the market median (drift).
    observed_fen: Mapped[int | None] = mapped_column(BigInteger)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(default="")
    url: Mapped[str] = mapped_column(default="")
    estimate_ref: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(default="open")
    created_by: Mapped[str]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    resolved_by: Mapped[str | None]
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_reason: Mapped[str] = mapped_column(default="")
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_items.id"))
    resulting_price_id: Mapped[int | None] = mapped_column(ForeignKey("prices.id"))


# --- Estimate review -------------------------------------------------------------


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
