"""market: crawl runs, market observations (change-only history), the feedback/drift queue

The queue's "one unresolved item per part x branch x price type x kind" rule is two partial
unique indexes (one for branch prices, one for the system price where branch_id is NULL), on
SQLite and PostgreSQL alike, so concurrent writers cannot open duplicates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:33:56.930957
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("spider", sa.String(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed')", name=op.f("ck_market_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_runs")),
    )
    with op.batch_alter_table("market_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_market_runs_source"), ["source"], unique=False)

    op.create_table(
        "market_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("item_key", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw_name", sa.String(), nullable=False),
        sa.Column("raw_price", sa.String(), nullable=False),
        sa.Column("raw_oe", sa.String(), nullable=False),
        sa.Column("raw_brand_text", sa.String(), nullable=False),
        sa.Column("raw_region", sa.String(), nullable=False),
        sa.Column("price_type_hint", sa.String(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=True),
        sa.Column("suggested_part_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("price_type_id", sa.Integer(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("confidence_bp", sa.Integer(), nullable=False),
        sa.Column("match_reason", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('matched', 'unmatched')", name=op.f("ck_market_observations_status")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_market_observations_amount_positive")),
        sa.CheckConstraint(
            "confidence_bp >= 0 AND confidence_bp <= 10000",
            name=op.f("ck_market_observations_confidence"),
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["market_runs.id"],
            name=op.f("fk_market_observations_last_run_id_market_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["vehicle_models.id"],
            name=op.f("fk_market_observations_model_id_vehicle_models"),
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_market_observations_part_id_parts")
        ),
        sa.ForeignKeyConstraint(
            ["price_type_id"],
            ["price_types.id"],
            name=op.f("fk_market_observations_price_type_id_price_types"),
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_market_observations_region_id_regions")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["market_runs.id"], name=op.f("fk_market_observations_run_id_market_runs")
        ),
        sa.ForeignKeyConstraint(
            ["suggested_part_id"],
            ["parts.id"],
            name=op.f("fk_market_observations_suggested_part_id_parts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_observations")),
    )
    with op.batch_alter_table("market_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_market_observations_listing", ["item_key", "source"], unique=False
        )
        batch_op.create_index("ix_market_observations_part", ["part_id", "last_seen"], unique=False)
        batch_op.create_index(batch_op.f("ix_market_observations_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_market_observations_status"), ["status"], unique=False)

    op.create_table(
        "feedback_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("price_type_id", sa.Integer(), nullable=False),
        sa.Column("reference_fen", sa.BigInteger(), nullable=True),
        sa.Column("observed_fen", sa.BigInteger(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("estimate_ref", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_reason", sa.String(), nullable=False),
        sa.Column("linked_to_id", sa.Integer(), nullable=True),
        sa.Column("resulting_price_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('reviewer', 'drift')", name=op.f("ck_feedback_items_kind")),
        sa.CheckConstraint(
            "status IN ('open', 'need_info', 'accepted', 'rejected')",
            name=op.f("ck_feedback_items_status"),
        ),
        sa.CheckConstraint(
            "observed_fen IS NULL OR observed_fen > 0",
            name=op.f("ck_feedback_items_observed_positive"),
        ),
        sa.CheckConstraint(
            "reference_fen IS NULL OR reference_fen > 0",
            name=op.f("ck_feedback_items_reference_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_feedback_items_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["linked_to_id"],
            ["feedback_items.id"],
            name=op.f("fk_feedback_items_linked_to_id_feedback_items"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["vehicle_models.id"],
            name=op.f("fk_feedback_items_model_id_vehicle_models"),
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_feedback_items_part_id_parts")
        ),
        sa.ForeignKeyConstraint(
            ["price_type_id"],
            ["price_types.id"],
            name=op.f("fk_feedback_items_price_type_id_price_types"),
        ),
        sa.ForeignKeyConstraint(
            ["resulting_price_id"],
            ["prices.id"],
            name=op.f("fk_feedback_items_resulting_price_id_prices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_items")),
    )
    with op.batch_alter_table("feedback_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_items_queue", ["status", "branch_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_feedback_items_open_branch",
            ["kind", "part_id", "branch_id", "price_type_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NOT NULL"),
            postgresql_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_feedback_items_open_system",
            ["kind", "part_id", "price_type_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NULL"),
            postgresql_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback_items", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_feedback_items_open_system",
            sqlite_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NULL"),
            postgresql_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NULL"),
        )
        batch_op.drop_index(
            "uq_feedback_items_open_branch",
            sqlite_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NOT NULL"),
            postgresql_where=sa.text("status IN ('open', 'need_info') AND branch_id IS NOT NULL"),
        )
        batch_op.drop_index("ix_feedback_items_queue")

    op.drop_table("feedback_items")
    with op.batch_alter_table("market_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_observations_status"))
        batch_op.drop_index(batch_op.f("ix_market_observations_run_id"))
        batch_op.drop_index("ix_market_observations_part")
        batch_op.drop_index("ix_market_observations_listing")

    op.drop_table("market_observations")
    with op.batch_alter_table("market_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_runs_source"))

    op.drop_table("market_runs")
