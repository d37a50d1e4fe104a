"""market: the label a price was read with; listings that are not catalogue parts

``market_observations`` gains ``price_label`` (nullable): the label the page gave the stored
amount (会员价, 含税价, 现价 …), preceded by ``约`` when the page says the amount is approximate
(``约``, ``约 会员价``). NULL: the page wrote a bare price, or the row predates the column.

Its status check gains ``not_part``: pricing staff said the listing is not a catalogue part
(不是目录配件), so re-crawls keep it out of the unmatched queue. On SQLite the table is copied
(batch mode keeps the named checks). A downgrade turns those listings back into unmatched ones.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("matched", "unmatched")
NEW_STATUSES = (*OLD_STATUSES, "not_part")


def _status_check(batch_op: BatchOperations, statuses: tuple[str, ...]) -> None:
    batch_op.drop_constraint(op.f("ck_market_observations_status"), type_="check")
    batch_op.create_check_constraint(
        op.f("ck_market_observations_status"),
        "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")",
    )


def upgrade() -> None:
    with op.batch_alter_table("market_observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_label", sa.String(), nullable=True))
        _status_check(batch_op, NEW_STATUSES)


def downgrade() -> None:
    op.execute(
        sa.text("UPDATE market_observations SET status = 'unmatched' WHERE status = 'not_part'")
    )
    with op.batch_alter_table("market_observations", schema=None) as batch_op:
        _status_check(batch_op, OLD_STATUSES)
        batch_op.drop_column("price_label")
