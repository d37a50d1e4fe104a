"""ui_sessions: server-side staff UI sessions; estimate_validations.created_by_key_id

A staff UI session was only an encrypted cookie: a copy taken before logout kept working until
it expired (8 h). A login now stores a row (the SHA-256 of a random token the cookie carries)
and a logout deletes it, so every process refuses the copy on its next request.

`created_by_key_id` names the API key that stored a validation (`created_by` holds only the
key's name): an estimate_tool key reads and reuses only its own. Rows stored before this
revision have NULL there, which no estimate_tool key owns (reviewers and up still read them).
No foreign key: keys are never deleted, and SQLite cannot add one to an existing table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 00:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_ui_sessions_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_ui_sessions_token_hash")),
    )
    op.create_index(op.f("ix_ui_sessions_expires_at"), "ui_sessions", ["expires_at"])
    op.add_column(
        "estimate_validations", sa.Column("created_by_key_id", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("estimate_validations", "created_by_key_id")
    op.drop_index(op.f("ix_ui_sessions_expires_at"), table_name="ui_sessions")
    op.drop_table("ui_sessions")
