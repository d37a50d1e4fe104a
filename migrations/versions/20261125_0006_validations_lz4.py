"""validations: stored requests and results compressed with lz4 on PostgreSQL

A stored validation's result runs to ~60 KB of JSON for a 40-line estimate. PostgreSQL's
default TOAST compression (pglz) made its INSERT the costliest statement of a validation
(0.88 ms of server CPU of ~1.8 ms in all); lz4 compresses it in a third of the time, smaller.
Rows already stored keep their compression until rewritten; both read the same. Servers built
without lz4 (or older than 14) and SQLite are left as they are.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("request", "result")


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    methods = bind.scalar(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    )
    if not methods or method not in methods:
        return
    clauses = ", ".join(f"ALTER COLUMN {c} SET COMPRESSION {method}" for c in COLUMNS)
    op.execute(f"ALTER TABLE estimate_validations {clauses}")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
