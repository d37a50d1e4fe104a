"""reference_generation: a counter the database moves whenever what validation reads changes

Validation reads the same reference rows (parts, their prices, fitment, standard hours,
inclusions, the branch's labor rates and profile) for estimate after estimate; a process keeps
them in memory keyed on this row's (token, value) and reads only the row per validation. The
counter is moved by triggers, not by the code that writes, so that no write path — an import,
a staff edit, an accepted feedback, a statement typed into psql — can leave a process with
stale references.

PostgreSQL: a deferred constraint trigger per row fires at commit, and moves the counter once
per transaction (a transaction-local setting remembers it did). Taking the counter's row lock
at commit, the last lock a writer takes, keeps writers from deadlocking on it, and readers see
the new value exactly when they see the rows it covers. TRUNCATE, which fires no row trigger,
has a statement trigger. SQLite (one writer at a time): a plain trigger per row and statement.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 05:10:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: every table `pricebook.estimates.load_refs` keeps in memory
TABLES = (
    "regions", "branches", "brands", "series", "vehicle_models", "categories", "parts",
    "part_components", "fitments", "price_types", "prices", "labor_kinds", "labor_rates",
    "standard_hours", "operation_inclusions", "rule_profiles",
)  # fmt: skip
OPERATIONS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "reference_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_reference_generation_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_generation")),
    )
    op.execute(
        sa.text(
            "INSERT INTO reference_generation (id, token, value) VALUES (1, :token, 0)"
        ).bindparams(token=uuid.uuid4().hex)
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION pricebook_reference_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF current_setting('pricebook.reference_changed', true) IS DISTINCT FROM 'on' THEN
                UPDATE reference_generation SET value = value + 1 WHERE id = 1;
                PERFORM set_config('pricebook.reference_changed', 'on', true);
              END IF;
              RETURN NULL;
            END $$
            """
        )
        for table in TABLES:
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
        for table in TABLES:
            for operation in OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER {table}_reference_{operation} AFTER {operation.upper()} "
                    f"ON {table} BEGIN "
                    "UPDATE reference_generation SET value = value + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_changed ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_truncated ON {table}")
        op.execute("DROP FUNCTION IF EXISTS pricebook_reference_changed()")
    else:
        for table in TABLES:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_{operation}")
    op.drop_table("reference_generation")
