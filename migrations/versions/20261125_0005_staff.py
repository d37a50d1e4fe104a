"""staff: linked reviewer feedback stays outside the one-unresolved-item-per-key indexes

A reviewer's feedback on a part × branch × price type that already has an unresolved item is
stored linked to it (`linked_to_id`) and follows its decision. The two partial unique indexes of
0003 now leave linked items out (`AND linked_to_id IS NULL`), so "at most one unresolved
primary item per key and kind" still holds under concurrency. Autogenerate does not compare
index predicates: written by hand.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESOLVED = "status IN ('open', 'need_info')"
INDEXES = {
    "uq_feedback_items_open_branch": (
        ["kind", "part_id", "branch_id", "price_type_id"],
        "branch_id IS NOT NULL",
    ),
    "uq_feedback_items_open_system": (["kind", "part_id", "price_type_id"], "branch_id IS NULL"),
}


def _recreate(linked_clause: str) -> None:
    with op.batch_alter_table("feedback_items", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
    with op.batch_alter_table("feedback_items", schema=None) as batch_op:
        for name, (columns, branch) in INDEXES.items():
            where = sa.text(f"{UNRESOLVED} AND {branch}{linked_clause}")
            batch_op.create_index(
                name, columns, unique=True, sqlite_where=where, postgresql_where=where
            )


def upgrade() -> None:
    _recreate(" AND linked_to_id IS NULL")


def downgrade() -> None:
    linked = op.get_bind().scalar(
        sa.text(
            f"SELECT count(*) FROM feedback_items WHERE {UNRESOLVED} AND linked_to_id IS NOT NULL"
        )
    )
    if linked:
        raise RuntimeError(
            f"{linked} unresolved feedback item(s) are linked to another: decide them first "
            "(the 0004 indexes allow one unresolved item per key)"
        )
    _recreate("")
