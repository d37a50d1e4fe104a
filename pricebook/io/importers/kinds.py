"""The import kinds as data: each kind's columns, which kinds move the catalogue version, the
fixed labor kinds and the tables each kind writes."""

from __future__ import annotations

from datetime import date

from pricebook import models

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


#: the tables each kind writes, besides the audit log and the catalogue version.
TABLES_WRITTEN: dict[str, tuple[type[models.Base], ...]] = {
    "regions": (models.Region,),
    "branches": (models.Branch,),
    "price_types": (models.PriceType,),
    "categories": (models.Category,),
    "models": (models.Brand, models.Series, models.VehicleModel, models.VinPrefix),
    "parts": (models.Part, models.PartAlias, models.PartComponent, models.OeSupersession),
    "fitment": (models.Fitment,),
    "prices": (models.Price,),
    "labor_rates": (models.LaborKind, models.LaborRate),
    "standard_hours": (models.LaborKind, models.StandardHours, models.OperationInclusion),
    "channels": (models.Channel,),
    "rate_cards": (models.LaborKind, models.RateCard, models.RateCardLabor, models.RateCardParts),
    "synonyms": (models.SynonymTerm,),
}
