"""catalogue, prices, labor, channels, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-25 12:21:01.841814
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _create_tables()
    _create_history_guards()


def _create_tables() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('estimate_tool', 'reviewer', 'pricing_staff', 'admin')",
            name=op.f("ck_api_keys_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("entity_id", sa.String(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_entity", ["entity", "entity_id"], unique=False)

    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("initials", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("code", name=op.f("uq_brands_code")),
    )
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_versions")),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_categories_code")),
    )
    op.create_table(
        "labor_kinds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labor_kinds")),
        sa.UniqueConstraint("code", name=op.f("uq_labor_kinds_code")),
    )
    op.create_table(
        "price_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_types")),
        sa.UniqueConstraint("code", name=op.f("uq_price_types_code")),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "level IN ('country', 'province', 'city')", name=op.f("ck_regions_level")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["regions.id"], name=op.f("fk_regions_parent_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    with op.batch_alter_table("regions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regions_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "branches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("authority_limit_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('branch', 'sub_branch')", name=op.f("ck_branches_kind")),
        sa.CheckConstraint("authority_limit_fen >= 0", name=op.f("ck_branches_authority_limit")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["branches.id"], name=op.f("fk_branches_parent_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_branches_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
        sa.UniqueConstraint("code", name=op.f("uq_branches_code")),
    )
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branches_region_id"), ["region_id"], unique=False)

    op.create_table(
        "parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("oe_number", sa.String(), nullable=False),
        sa.Column("oe_normalized", sa.String(), nullable=False),
        sa.Column("is_assembly", sa.Boolean(), nullable=False),
        sa.Column("universal", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_parts_category_id_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parts")),
        sa.UniqueConstraint("code", name=op.f("uq_parts_code")),
    )
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parts_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_parts_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_parts_oe_normalized"), ["oe_normalized"], unique=False)

    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("initials", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_series_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("code", name=op.f("uq_series_code")),
    )
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_series_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('repair_shop', 'dealer_group', 'parts_platform')",
            name=op.f("ck_channels_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_channels_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("code", name=op.f("uq_channels_code")),
    )
    op.create_table(
        "labor_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("labor_kind_id", sa.Integer(), nullable=False),
        sa.Column("shop_tier", sa.String(), nullable=False),
        sa.Column("vehicle_class", sa.String(), nullable=False),
        sa.Column("rate_fen", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "shop_tier IN ('4s', 'class1', 'class2', 'class3')",
            name=op.f("ck_labor_rates_shop_tier"),
        ),
        sa.CheckConstraint(
            "source IN ('system', 'staff', 'import', 'feedback', 'market')",
            name=op.f("ck_labor_rates_source"),
        ),
        sa.CheckConstraint(
            "vehicle_class IN ('A', 'B', 'C', 'D', 'E')", name=op.f("ck_labor_rates_vehicle_class")
        ),
        sa.CheckConstraint("rate_fen > 0", name=op.f("ck_labor_rates_rate_positive")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_labor_rates_period")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_labor_rates_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["labor_kind_id"],
            ["labor_kinds.id"],
            name=op.f("fk_labor_rates_labor_kind_id_labor_kinds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labor_rates")),
    )
    with op.batch_alter_table("labor_rates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_labor_rates_lookup", ["branch_id", "labor_kind_id", "valid_from"], unique=False
        )

    op.create_table(
        "oe_supersessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("old_oe", sa.String(), nullable=False),
        sa.Column("old_oe_normalized", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_oe_supersessions_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oe_supersessions")),
        sa.UniqueConstraint(
            "old_oe_normalized",
            "part_id",
            name=op.f("uq_oe_supersessions_old_oe_normalized_part_id"),
        ),
    )
    with op.batch_alter_table("oe_supersessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oe_supersessions_old_oe_normalized"), ["old_oe_normalized"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_oe_supersessions_part_id"), ["part_id"], unique=False)

    op.create_table(
        "operation_inclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("included_part_id", sa.Integer(), nullable=False),
        sa.Column("included_operation", sa.String(), nullable=False),
        sa.CheckConstraint(
            "included_operation IN ('replace', 'repair', 'paint', 'remove_refit')",
            name=op.f("ck_operation_inclusions_included_operation"),
        ),
        sa.CheckConstraint(
            "operation IN ('replace', 'repair', 'paint', 'remove_refit')",
            name=op.f("ck_operation_inclusions_operation"),
        ),
        sa.ForeignKeyConstraint(
            ["included_part_id"],
            ["parts.id"],
            name=op.f("fk_operation_inclusions_included_part_id_parts"),
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_operation_inclusions_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation_inclusions")),
        sa.UniqueConstraint(
            "part_id",
            "operation",
            "included_part_id",
            "included_operation",
            name=op.f(
                "uq_operation_inclusions_part_id_operation_included_part_id_included_operation"
            ),
        ),
    )
    with op.batch_alter_table("operation_inclusions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_operation_inclusions_part_id"), ["part_id"], unique=False
        )

    op.create_table(
        "part_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_part_aliases_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_aliases")),
        sa.UniqueConstraint("part_id", "alias", name=op.f("uq_part_aliases_part_id_alias")),
    )
    with op.batch_alter_table("part_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_part_aliases_alias"), ["alias"], unique=False)
        batch_op.create_index(batch_op.f("ix_part_aliases_part_id"), ["part_id"], unique=False)

    op.create_table(
        "part_components",
        sa.Column("assembly_id", sa.Integer(), nullable=False),
        sa.Column("component_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("assembly_id <> component_id", name=op.f("ck_part_components_not_self")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_part_components_quantity")),
        sa.ForeignKeyConstraint(
            ["assembly_id"], ["parts.id"], name=op.f("fk_part_components_assembly_id_parts")
        ),
        sa.ForeignKeyConstraint(
            ["component_id"], ["parts.id"], name=op.f("fk_part_components_component_id_parts")
        ),
        sa.PrimaryKeyConstraint("assembly_id", "component_id", name=op.f("pk_part_components")),
    )
    with op.batch_alter_table("part_components", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_part_components_component_id"), ["component_id"], unique=False
        )

    op.create_table(
        "standard_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("vehicle_class", sa.String(), nullable=False),
        sa.Column("labor_kind_id", sa.Integer(), nullable=False),
        sa.Column("hours_centi", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "operation IN ('replace', 'repair', 'paint', 'remove_refit')",
            name=op.f("ck_standard_hours_operation"),
        ),
        sa.CheckConstraint(
            "vehicle_class IN ('A', 'B', 'C', 'D', 'E')",
            name=op.f("ck_standard_hours_vehicle_class"),
        ),
        sa.CheckConstraint("hours_centi > 0", name=op.f("ck_standard_hours_hours_positive")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_standard_hours_period")
        ),
        sa.ForeignKeyConstraint(
            ["labor_kind_id"],
            ["labor_kinds.id"],
            name=op.f("fk_standard_hours_labor_kind_id_labor_kinds"),
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_standard_hours_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standard_hours")),
    )
    with op.batch_alter_table("standard_hours", schema=None) as batch_op:
        batch_op.create_index(
            "ix_standard_hours_lookup", ["part_id", "operation", "vehicle_class"], unique=False
        )

    op.create_table(
        "vehicle_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("model_year", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("engine", sa.String(), nullable=False),
        sa.Column("vehicle_class", sa.String(), nullable=False),
        sa.Column("price_band", sa.String(), nullable=False),
        sa.Column("manufacturer_code", sa.String(), nullable=False),
        sa.Column("search_text", sa.String(), nullable=False),
        sa.CheckConstraint(
            "vehicle_class IN ('A', 'B', 'C', 'D', 'E')",
            name=op.f("ck_vehicle_models_vehicle_class"),
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_vehicle_models_series_id_series")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_models")),
        sa.UniqueConstraint("code", name=op.f("uq_vehicle_models_code")),
    )
    with op.batch_alter_table("vehicle_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vehicle_models_manufacturer_code"), ["manufacturer_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vehicle_models_series_id"), ["series_id"], unique=False
        )

    op.create_table(
        "fitments",
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["vehicle_models.id"], name=op.f("fk_fitments_model_id_vehicle_models")
        ),
        sa.ForeignKeyConstraint(["part_id"], ["parts.id"], name=op.f("fk_fitments_part_id_parts")),
        sa.PrimaryKeyConstraint("part_id", "model_id", name=op.f("pk_fitments")),
    )
    with op.batch_alter_table("fitments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fitments_model_id"), ["model_id"], unique=False)

    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("price_type_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_ref", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(scope = 'system' AND region_id IS NULL AND branch_id IS NULL) OR (scope = 'region' AND region_id IS NOT NULL AND branch_id IS NULL) OR (scope = 'branch' AND branch_id IS NOT NULL AND region_id IS NULL)",
            name=op.f("ck_prices_scope_target"),
        ),
        sa.CheckConstraint("scope IN ('system', 'region', 'branch')", name=op.f("ck_prices_scope")),
        sa.CheckConstraint(
            "source IN ('system', 'staff', 'import', 'feedback', 'market')",
            name=op.f("ck_prices_source"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_prices_amount_positive")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_prices_period")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_prices_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["vehicle_models.id"], name=op.f("fk_prices_model_id_vehicle_models")
        ),
        sa.ForeignKeyConstraint(["part_id"], ["parts.id"], name=op.f("fk_prices_part_id_parts")),
        sa.ForeignKeyConstraint(
            ["price_type_id"], ["price_types.id"], name=op.f("fk_prices_price_type_id_price_types")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_prices_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
    )
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prices_lookup", ["part_id", "price_type_id", "valid_from"], unique=False
        )

    op.create_table(
        "rate_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_rate_cards_period")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_rate_cards_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_cards")),
    )
    with op.batch_alter_table("rate_cards", schema=None) as batch_op:
        batch_op.create_index("ix_rate_cards_lookup", ["channel_id", "valid_from"], unique=False)

    op.create_table(
        "vin_prefixes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["vehicle_models.id"],
            name=op.f("fk_vin_prefixes_model_id_vehicle_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vin_prefixes")),
        sa.UniqueConstraint("prefix", "model_id", name=op.f("uq_vin_prefixes_prefix_model_id")),
    )
    with op.batch_alter_table("vin_prefixes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vin_prefixes_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vin_prefixes_prefix"), ["prefix"], unique=False)

    op.create_table(
        "rate_card_labor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_card_id", sa.Integer(), nullable=False),
        sa.Column("labor_kind_id", sa.Integer(), nullable=False),
        sa.Column("rate_fen", sa.BigInteger(), nullable=True),
        sa.Column("pct_of_standard_bp", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(rate_fen IS NOT NULL AND pct_of_standard_bp IS NULL AND rate_fen > 0) OR (rate_fen IS NULL AND pct_of_standard_bp IS NOT NULL AND pct_of_standard_bp > 0)",
            name=op.f("ck_rate_card_labor_rate_or_pct"),
        ),
        sa.ForeignKeyConstraint(
            ["labor_kind_id"],
            ["labor_kinds.id"],
            name=op.f("fk_rate_card_labor_labor_kind_id_labor_kinds"),
        ),
        sa.ForeignKeyConstraint(
            ["rate_card_id"],
            ["rate_cards.id"],
            name=op.f("fk_rate_card_labor_rate_card_id_rate_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_card_labor")),
        sa.UniqueConstraint(
            "rate_card_id",
            "labor_kind_id",
            name=op.f("uq_rate_card_labor_rate_card_id_labor_kind_id"),
        ),
    )
    with op.batch_alter_table("rate_card_labor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rate_card_labor_rate_card_id"), ["rate_card_id"], unique=False
        )

    op.create_table(
        "rate_card_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_card_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("price_type_id", sa.Integer(), nullable=False),
        sa.Column("discount_bp", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "discount_bp >= 0 AND discount_bp < 10000", name=op.f("ck_rate_card_parts_discount")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_rate_card_parts_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["price_type_id"],
            ["price_types.id"],
            name=op.f("fk_rate_card_parts_price_type_id_price_types"),
        ),
        sa.ForeignKeyConstraint(
            ["rate_card_id"],
            ["rate_cards.id"],
            name=op.f("fk_rate_card_parts_rate_card_id_rate_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_card_parts")),
        sa.UniqueConstraint(
            "rate_card_id", "category_id", name=op.f("uq_rate_card_parts_rate_card_id_category_id")
        ),
    )
    with op.batch_alter_table("rate_card_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rate_card_parts_rate_card_id"), ["rate_card_id"], unique=False
        )


def downgrade() -> None:
    _drop_history_guards()
    with op.batch_alter_table("rate_card_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_card_parts_rate_card_id"))

    op.drop_table("rate_card_parts")
    with op.batch_alter_table("rate_card_labor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_card_labor_rate_card_id"))

    op.drop_table("rate_card_labor")
    with op.batch_alter_table("vin_prefixes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vin_prefixes_prefix"))
        batch_op.drop_index(batch_op.f("ix_vin_prefixes_model_id"))

    op.drop_table("vin_prefixes")
    with op.batch_alter_table("rate_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_cards_lookup")

    op.drop_table("rate_cards")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_index("ix_prices_lookup")

    op.drop_table("prices")
    with op.batch_alter_table("fitments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fitments_model_id"))

    op.drop_table("fitments")
    with op.batch_alter_table("vehicle_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_models_series_id"))
        batch_op.drop_index(batch_op.f("ix_vehicle_models_manufacturer_code"))

    op.drop_table("vehicle_models")
    with op.batch_alter_table("standard_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_standard_hours_lookup")

    op.drop_table("standard_hours")
    with op.batch_alter_table("part_components", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_part_components_component_id"))

    op.drop_table("part_components")
    with op.batch_alter_table("part_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_part_aliases_part_id"))
        batch_op.drop_index(batch_op.f("ix_part_aliases_alias"))

    op.drop_table("part_aliases")
    with op.batch_alter_table("operation_inclusions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operation_inclusions_part_id"))

    op.drop_table("operation_inclusions")
    with op.batch_alter_table("oe_supersessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oe_supersessions_part_id"))
        batch_op.drop_index(batch_op.f("ix_oe_supersessions_old_oe_normalized"))

    op.drop_table("oe_supersessions")
    with op.batch_alter_table("labor_rates", schema=None) as batch_op:
        batch_op.drop_index("ix_labor_rates_lookup")

    op.drop_table("labor_rates")
    op.drop_table("channels")
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_series_brand_id"))

    op.drop_table("series")
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parts_oe_normalized"))
        batch_op.drop_index(batch_op.f("ix_parts_name"))
        batch_op.drop_index(batch_op.f("ix_parts_category_id"))

    op.drop_table("parts")
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branches_region_id"))

    op.drop_table("branches")
    with op.batch_alter_table("regions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regions_parent_id"))

    op.drop_table("regions")
    op.drop_table("price_types")
    op.drop_table("labor_kinds")
    op.drop_table("categories")
    op.drop_table("catalog_versions")
    op.drop_table("brands")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor"))

    op.drop_table("audit_log")
    op.drop_table("api_keys")


# History guards ---------------------------------------------------------------------------
# Versioned tables are append-only: a row may only have its validity shortened (that is how a new
# version supersedes it), never rewritten or deleted, and two periods of one key never overlap.
# The database enforces this, so no code path (or psql session) can rewrite history by mistake.

#: table -> the columns that identify one versioned key (NULLs compare equal).
VERSIONED_KEYS: dict[str, tuple[str, ...]] = {
    "prices": ("part_id", "model_id", "scope", "region_id", "branch_id", "price_type_id"),
    "labor_rates": ("branch_id", "labor_kind_id", "shop_tier", "vehicle_class"),
    "standard_hours": ("part_id", "operation", "vehicle_class"),
    "rate_cards": ("channel_id",),
}
NULLABLE_KEY_COLUMNS = {"model_id", "region_id", "branch_id"}
#: every column but valid_to, per table: an UPDATE that names one of them is refused (SQLite).
FROZEN_COLUMNS: dict[str, tuple[str, ...]] = {
    "prices": (
        "id",
        "part_id",
        "model_id",
        "scope",
        "region_id",
        "branch_id",
        "price_type_id",
        "amount_fen",
        "valid_from",
        "source",
        "source_ref",
        "created_by",
        "reason",
        "created_at",
    ),
    "labor_rates": (
        "id",
        "branch_id",
        "labor_kind_id",
        "shop_tier",
        "vehicle_class",
        "rate_fen",
        "valid_from",
        "source",
        "created_by",
        "reason",
        "created_at",
    ),
    "standard_hours": (
        "id",
        "part_id",
        "operation",
        "vehicle_class",
        "labor_kind_id",
        "hours_centi",
        "valid_from",
        "created_by",
        "reason",
        "created_at",
    ),
    "rate_cards": ("id", "channel_id", "valid_from", "created_by", "reason", "created_at"),
}


def _create_history_guards() -> None:
    if op.get_context().dialect.name == "postgresql":
        _create_postgresql_guards()
    else:
        _create_sqlite_guards()


def _drop_history_guards() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in VERSIONED_KEYS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_history_guard ON {table}")
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_no_overlap")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS pricebook_history_guard()")
        op.execute("DROP FUNCTION IF EXISTS pricebook_append_only()")
    else:
        for table in VERSIONED_KEYS:
            for suffix in ("no_overlap", "no_rewrite", "only_shorten", "no_delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _create_postgresql_guards() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        """
        CREATE FUNCTION pricebook_history_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'history of % is never deleted (row %)', TG_TABLE_NAME, OLD.id
              USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          IF (to_jsonb(NEW) - 'valid_to') IS DISTINCT FROM (to_jsonb(OLD) - 'valid_to')
             OR NEW.valid_to IS NULL
             OR (OLD.valid_to IS NOT NULL AND NEW.valid_to > OLD.valid_to) THEN
            RAISE EXCEPTION 'history of % is never rewritten: row % may only have its validity shortened', TG_TABLE_NAME, OLD.id
              USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION pricebook_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
        END $$
        """
    )
    for table, key in VERSIONED_KEYS.items():
        parts = [
            f"(coalesce({c}, 0)) WITH =" if c in NULLABLE_KEY_COLUMNS else f"{c} WITH ="
            for c in key
        ]
        parts.append("daterange(valid_from, valid_to, '[)') WITH &&")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_no_overlap "
            f"EXCLUDE USING gist ({', '.join(parts)})"
        )
        op.execute(
            f"CREATE TRIGGER {table}_history_guard BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pricebook_history_guard()"
        )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION pricebook_append_only()"
    )


def _create_sqlite_guards() -> None:
    for table, key in VERSIONED_KEYS.items():
        same_key = " AND ".join(
            f"o.{c} IS NEW.{c}" if c in NULLABLE_KEY_COLUMNS else f"o.{c} = NEW.{c}" for c in key
        )
        # Empty periods (valid_to = valid_from: a future version withdrawn before its day)
        # overlap nothing, as in PostgreSQL's daterange.
        op.execute(
            f"""
            CREATE TRIGGER {table}_no_overlap BEFORE INSERT ON {table}
            WHEN EXISTS (
              SELECT 1 FROM {table} o
              WHERE {same_key}
                AND o.valid_from < coalesce(o.valid_to, '9999-12-31')
                AND NEW.valid_from < coalesce(NEW.valid_to, '9999-12-31')
                AND o.valid_from < coalesce(NEW.valid_to, '9999-12-31')
                AND NEW.valid_from < coalesce(o.valid_to, '9999-12-31')
            )
            BEGIN
              SELECT RAISE(ABORT, 'overlapping validity: {table} already has a version of this key in that period');
            END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {table}_no_rewrite BEFORE UPDATE OF {", ".join(FROZEN_COLUMNS[table])}
            ON {table}
            BEGIN
              SELECT RAISE(ABORT, 'history of {table} is never rewritten: only valid_to may be shortened');
            END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {table}_only_shorten BEFORE UPDATE OF valid_to ON {table}
            WHEN NEW.valid_to IS NULL OR (OLD.valid_to IS NOT NULL AND NEW.valid_to > OLD.valid_to)
            BEGIN
              SELECT RAISE(ABORT, 'history of {table} is never rewritten: only valid_to may be shortened');
            END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN
              SELECT RAISE(ABORT, 'history of {table} is never deleted');
            END
            """
        )
    op.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
