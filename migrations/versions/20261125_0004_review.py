"""review: rule profiles, consumable standards, rescue tariffs, stored estimate validations

Rule profiles, consumable standards and rescue tariffs are versioned like prices: append-only,
only `valid_to` may be shortened, periods of one key never overlap (the guards of 0001, reused:
the same trigger functions on PostgreSQL, the same triggers on SQLite). Stored validations are
append-only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:39:06.658395
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consumable_standards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("vehicle_class", sa.String(), nullable=True),
        sa.Column("max_quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("max_unit_price_fen", sa.BigInteger(), nullable=True),
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
            "vehicle_class IS NULL OR vehicle_class IN ('A', 'B', 'C', 'D', 'E')",
            name=op.f("ck_consumable_standards_vehicle_class"),
        ),
        sa.CheckConstraint(
            "max_quantity_milli > 0", name=op.f("ck_consumable_standards_quantity_positive")
        ),
        sa.CheckConstraint(
            "max_unit_price_fen IS NULL OR max_unit_price_fen > 0",
            name=op.f("ck_consumable_standards_price_positive"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from",
            name=op.f("ck_consumable_standards_period"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumable_standards")),
    )
    with op.batch_alter_table("consumable_standards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consumable_standards_lookup", ["kind", "valid_from"], unique=False
        )

    op.create_table(
        "rescue_tariffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("base_fen", sa.BigInteger(), nullable=False),
        sa.Column("included_km", sa.Integer(), nullable=False),
        sa.Column("per_km_fen", sa.BigInteger(), nullable=False),
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
            "base_fen >= 0 AND per_km_fen >= 0", name=op.f("ck_rescue_tariffs_fees")
        ),
        sa.CheckConstraint("included_km >= 0", name=op.f("ck_rescue_tariffs_included_km")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_rescue_tariffs_period")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_rescue_tariffs_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rescue_tariffs")),
    )
    with op.batch_alter_table("rescue_tariffs", schema=None) as batch_op:
        batch_op.create_index("ix_rescue_tariffs_lookup", ["region_id", "valid_from"], unique=False)

    op.create_table(
        "rule_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_rule_profiles_period")
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_rule_profiles_version_positive")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_rule_profiles_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_profiles")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_rule_profiles_code_version")),
    )
    with op.batch_alter_table("rule_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_rule_profiles_lookup", ["branch_id", "valid_from"], unique=False)

    op.create_table(
        "estimate_validations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("estimate_id", sa.String(), nullable=False),
        sa.Column("estimate_version", sa.Integer(), nullable=False),
        sa.Column("estimate_date", sa.Date(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("vin", sa.String(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("model_selected", sa.Boolean(), nullable=False),
        sa.Column("part_lines", sa.Integer(), nullable=False),
        sa.Column("custom_part_lines", sa.Integer(), nullable=False),
        sa.Column("custom_matched", sa.Integer(), nullable=False),
        sa.Column("claimed_fen", sa.BigInteger(), nullable=False),
        sa.Column("allowed_fen", sa.BigInteger(), nullable=False),
        sa.Column("cut_fen", sa.BigInteger(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("profile_code", sa.String(), nullable=False),
        sa.Column("profile_version", sa.Integer(), nullable=False),
        sa.Column("replaced_part_ids", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_estimate_validations_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["vehicle_models.id"],
            name=op.f("fk_estimate_validations_model_id_vehicle_models"),
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["rule_profiles.id"],
            name=op.f("fk_estimate_validations_profile_id_rule_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_estimate_validations")),
    )
    with op.batch_alter_table("estimate_validations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_estimate_validations_branch", ["branch_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_estimate_validations_estimate", ["estimate_id", "estimate_version"], unique=False
        )
        batch_op.create_index("ix_estimate_validations_vin", ["vin", "estimate_date"], unique=False)

    _create_guards()


def downgrade() -> None:
    # Dropping a table drops its triggers and constraints (both backends).
    with op.batch_alter_table("estimate_validations", schema=None) as batch_op:
        batch_op.drop_index("ix_estimate_validations_vin")
        batch_op.drop_index("ix_estimate_validations_estimate")
        batch_op.drop_index("ix_estimate_validations_branch")

    op.drop_table("estimate_validations")
    with op.batch_alter_table("rule_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_profiles_lookup")

    op.drop_table("rule_profiles")
    with op.batch_alter_table("rescue_tariffs", schema=None) as batch_op:
        batch_op.drop_index("ix_rescue_tariffs_lookup")

    op.drop_table("rescue_tariffs")
    with op.batch_alter_table("consumable_standards", schema=None) as batch_op:
        batch_op.drop_index("ix_consumable_standards_lookup")

    op.drop_table("consumable_standards")


#: table -> the columns that identify one versioned key
VERSIONED_KEYS: dict[str, tuple[str, ...]] = {
    "rule_profiles": ("code",),
    "consumable_standards": ("kind", "vehicle_class"),
    "rescue_tariffs": ("region_id",),
}
NULLABLE_TEXT_KEYS = {"vehicle_class"}
FROZEN_COLUMNS: dict[str, tuple[str, ...]] = {
    "rule_profiles": (
        "id", "code", "branch_id", "version", "valid_from", "settings", "created_by", "reason",
        "created_at",
    ),
    "consumable_standards": (
        "id", "kind", "name", "unit", "vehicle_class", "max_quantity_milli", "max_unit_price_fen",
        "valid_from", "created_by", "reason", "created_at",
    ),
    "rescue_tariffs": (
        "id", "region_id", "base_fen", "included_km", "per_km_fen", "valid_from", "created_by",
        "reason", "created_at",
    ),
}  # fmt: skip
APPEND_ONLY = ("estimate_validations",)


def _create_guards() -> None:
    if op.get_context().dialect.name == "postgresql":
        # pricebook_history_guard() and pricebook_append_only() come from 0001.
        for table, key in VERSIONED_KEYS.items():
            parts = [
                f"(coalesce({c}, '')) WITH =" if c in NULLABLE_TEXT_KEYS else f"{c} WITH ="
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
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION pricebook_append_only()"
            )
        return
    for table, key in VERSIONED_KEYS.items():
        same_key = " AND ".join(
            f"o.{c} IS NEW.{c}" if c in NULLABLE_TEXT_KEYS else f"o.{c} = NEW.{c}" for c in key
        )
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
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
