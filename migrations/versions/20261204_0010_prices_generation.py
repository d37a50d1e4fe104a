"""reference_generation.prices: price changes move a counter of their own

Prices change all day (staff edits, accepted feedback, imports); the rest of what validation
keeps (parts, fitment, standard hours, inclusions, labor rates, profiles, cards) seldom does.
With prices moving 0007's `value`, every price edit flushed all of it in every process. Now the
`prices` table's triggers move `prices` instead, and a process keeps everything else across a
price change (`pricebook.estimates._references`). Same mechanism as 0007: on PostgreSQL a
deferred constraint trigger per row moves the counter once per transaction at commit (a
transaction-local setting remembers it did), plus a TRUNCATE trigger; on SQLite a trigger per
row and operation.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPERATIONS = ("insert", "update", "delete")


def _prices_triggers(function: str, column: str) -> None:
    """(Re)create the `prices` table's triggers: on PostgreSQL calling `function`, on SQLite
    moving `column`."""
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS prices_reference_changed ON prices")
        op.execute("DROP TRIGGER IF EXISTS prices_reference_truncated ON prices")
        op.execute(
            "CREATE CONSTRAINT TRIGGER prices_reference_changed AFTER INSERT OR UPDATE OR DELETE "
            "ON prices DEFERRABLE INITIALLY DEFERRED "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        op.execute(
            "CREATE TRIGGER prices_reference_truncated AFTER TRUNCATE ON prices "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    else:
        for operation in OPERATIONS:
            op.execute(f"DROP TRIGGER IF EXISTS prices_reference_{operation}")
            op.execute(
                f"CREATE TRIGGER prices_reference_{operation} AFTER {operation.upper()} ON prices "
                f"BEGIN UPDATE reference_generation SET {column} = {column} + 1 WHERE id = 1; END"
            )


def upgrade() -> None:
    op.add_column(
        "reference_generation",
        sa.Column("prices", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION pricebook_prices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF current_setting('pricebook.prices_changed', true) IS DISTINCT FROM 'on' THEN
                UPDATE reference_generation SET prices = prices + 1 WHERE id = 1;
                PERFORM set_config('pricebook.prices_changed', 'on', true);
              END IF;
              RETURN NULL;
            END $$
            """
        )
    _prices_triggers("pricebook_prices_changed", "prices")


def downgrade() -> None:
    _prices_triggers("pricebook_reference_changed", "value")
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pricebook_prices_changed()")
    op.drop_column("reference_generation", "prices")
