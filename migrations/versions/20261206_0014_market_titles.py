"""market: sellers kept apart; drift tasks the market closed (`resolved_by_market`)

``market_observations`` gains ``listing_url``, ``item_id`` and ``seller``: a listing's identity
(``item_key``) is now the source's item id, else the listing's own page, else title + OE +
fitment + seller, so listings with the same title from several sellers are stored apart and a
re-crawl of one listing moves its own ``last_seen``. Listings of sources that give none of these
keep the key they had. Drift counts distinct sellers.

A drift task whose price came back within the threshold of the market median is closed by the
next drift run as ``resolved_by_market`` (and reopened if the gap widens again), so the queue
shows what still needs a person. The status check of ``feedback_items`` gains that value; on
SQLite the table is copied (batch mode keeps the named checks and the partial indexes).
A downgrade turns those tasks into ``rejected`` ones with the reason kept.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("open", "need_info", "accepted", "rejected")
NEW_STATUSES = (*OLD_STATUSES, "resolved_by_market")


def _status_check(statuses: tuple[str, ...]) -> None:
    with op.batch_alter_table("feedback_items", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_feedback_items_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_feedback_items_status"),
            "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")",
        )


LISTING_COLUMNS = ("listing_url", "item_id", "seller")


def upgrade() -> None:
    _status_check(NEW_STATUSES)
    with op.batch_alter_table("market_observations", schema=None) as batch_op:
        for name in LISTING_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("market_observations", schema=None) as batch_op:
        for name in reversed(LISTING_COLUMNS):
            batch_op.drop_column(name)
    op.execute(
        sa.text(
            "UPDATE feedback_items SET status = 'rejected', "
            "resolution_reason = 'resolved_by_market: ' || resolution_reason "
            "WHERE status = 'resolved_by_market'"
        )
    )
    _status_check(OLD_STATUSES)
