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

One module per concept: `base` (the metadata, value lists, the version and audit mixins),
`catalog`, `pricing` (prices, labor, channels and rate cards), `service` (audit, generations,
keys, sessions, learned matches, synonyms), `market` (crawls, observations, feedback) and
`review` (its versioned configuration, stored validations). Import tables from here.
"""

from __future__ import annotations

from pricebook.models.base import (
    BRANCH_KINDS,
    CHANNEL_KINDS,
    NAMING_CONVENTION,
    OPERATIONS,
    PRICE_SCOPES,
    PRICE_SOURCES,
    REGION_LEVELS,
    ROLES,
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Base,
    CreatedAt,
    Period,
    Recorded,
)
from pricebook.models.catalog import (
    Branch,
    Brand,
    Category,
    Fitment,
    OeSupersession,
    Part,
    PartAlias,
    PartComponent,
    PriceType,
    PriceTypeWord,
    Region,
    Series,
    VehicleModel,
    VinPrefix,
)
from pricebook.models.market import (
    FEEDBACK_KINDS,
    FEEDBACK_STATUSES,
    FEEDBACK_UNRESOLVED,
    MARKET_RUN_STATUSES,
    OBSERVATION_STATUSES,
    FeedbackItem,
    MarketObservation,
    MarketRun,
)
from pricebook.models.pricing import (
    Channel,
    LaborKind,
    LaborRate,
    OperationInclusion,
    Price,
    RateCard,
    RateCardLabor,
    RateCardParts,
    StandardHours,
)
from pricebook.models.review import (
    ConsumableStandardVersion,
    EstimateValidation,
    RescueTariffVersion,
    RuleProfileVersion,
)
from pricebook.models.service import (
    ApiKey,
    AuditEntry,
    CatalogVersion,
    MatchMapping,
    ReferenceGeneration,
    SynonymTerm,
    UiSession,
)

__all__ = [
    "BRANCH_KINDS",
    "CHANNEL_KINDS",
    "FEEDBACK_KINDS",
    "FEEDBACK_STATUSES",
    "FEEDBACK_UNRESOLVED",
    "MARKET_RUN_STATUSES",
    "NAMING_CONVENTION",
    "OBSERVATION_STATUSES",
    "OPERATIONS",
    "PRICE_SCOPES",
    "PRICE_SOURCES",
    "REGION_LEVELS",
    "ROLES",
    "SHOP_TIERS",
    "VEHICLE_CLASSES",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Branch",
    "Brand",
    "CatalogVersion",
    "Category",
    "Channel",
    "ConsumableStandardVersion",
    "CreatedAt",
    "EstimateValidation",
    "FeedbackItem",
    "Fitment",
    "LaborKind",
    "LaborRate",
    "MarketObservation",
    "MarketRun",
    "MatchMapping",
    "OeSupersession",
    "OperationInclusion",
    "Part",
    "PartAlias",
    "PartComponent",
    "Period",
    "Price",
    "PriceType",
    "PriceTypeWord",
    "RateCard",
    "RateCardLabor",
    "RateCardParts",
    "Recorded",
    "ReferenceGeneration",
    "Region",
    "RescueTariffVersion",
    "RuleProfileVersion",
    "Series",
    "StandardHours",
    "SynonymTerm",
    "UiSession",
    "VehicleModel",
    "VinPrefix",
]
