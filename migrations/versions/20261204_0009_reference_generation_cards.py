"""reference_generation also follows channels' rate cards, consumable standards, rescue tariffs

Validation read these afresh for every estimate that named a channel or claimed consumables or
a rescue (up to four statements each time). With the tables under 0007's generation, a process
keeps them like the other references. The triggers call 0007's function: one counter, moved
once per transaction at commit on PostgreSQL, per row and statement on SQLite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the tables `pricebook.estimates.load_refs` keeps in memory since this revision (with 0007's)
TABLES = (
    "channels", "rate_cards", "rate_card_parts", "rate_card_labor", "consumable_standards",
    "rescue_tariffs",
)  # fmt: skip
OPERATIONS = ("insert", "update", "delete")


def upgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "postgresql":
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_reference_changed "
                f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
                "FOR EACH ROW EXECUTE FUNCTION pricebook_reference_changed()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_reference_truncated AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION pricebook_reference_changed()"
            )
        else:
            for operation in OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER {table}_reference_{operation} AFTER {operation.upper()} "
                    f"ON {table} BEGIN "
                    "UPDATE reference_generation SET value = value + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_changed ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_truncated ON {table}")
        else:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_{operation}")
