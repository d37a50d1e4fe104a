"""matching: learned mappings and synonym dictionary

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:30:58.355378
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "synonym_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canonical", sa.String(), nullable=False),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synonym_terms")),
        sa.UniqueConstraint("term", name=op.f("uq_synonym_terms_term")),
    )
    with op.batch_alter_table("synonym_terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_synonym_terms_canonical"), ["canonical"], unique=False)

    op.create_table(
        "match_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_normalized", sa.String(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_match_mappings_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["vehicle_models.id"],
            name=op.f("fk_match_mappings_model_id_vehicle_models"),
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_match_mappings_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_mappings")),
    )
    with op.batch_alter_table("match_mappings", schema=None) as batch_op:
        batch_op.create_index("ix_match_mappings_name", ["name_normalized"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("match_mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_match_mappings_name")

    op.drop_table("match_mappings")
    with op.batch_alter_table("synonym_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_synonym_terms_canonical"))

    op.drop_table("synonym_terms")
