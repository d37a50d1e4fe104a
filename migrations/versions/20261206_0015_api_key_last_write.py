"""api_keys.last_write_at: read-your-writes across API nodes

A write through the API records when its key last wrote (with read replicas in use), so that
every node, not only the one that took the write, reads that key's requests from the primary
for the read-your-writes window.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("last_write_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_write_at")
