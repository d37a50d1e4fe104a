"""estimate_validations: what the indicators and the validations list read, in columns of their own

The indicators' top parts and the validations list's counts were read out of each stored
result (~70 KB of JSON for a 40-line estimate): the indicators over a period read every result
in it (68,000 validations: 161 s). Three small columns now carry what they need:
`part_ids` (the catalogue part of each part line, in line order, repeated as often as claimed),
`flag_counts` (flags by code, as the result's `counts`) and `flagged_lines`.

Rows stored before this revision are filled in from their results: on PostgreSQL by one
UPDATE that reads the JSON in the server (68,000 rows of ~70 KB: 92 s; the table is locked
meanwhile, and every row gets a new version for autovacuum to clear), on SQLite a batch at a
time in Python (`summary`; both give the same, a test checks it on each). The table is
append-only: its guard is lifted for the fill and put back, in the same transaction. The fill
reads the stored JSON itself rather than calling the application's code, so that this revision
keeps doing what it did when the code moves on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:10:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500

validations = sa.table(
    "estimate_validations",
    sa.column("id", sa.Integer()),
    sa.column("result", sa.JSON()),
    sa.column("part_ids", sa.JSON()),
    sa.column("flag_counts", sa.JSON()),
    sa.column("flagged_lines", sa.Integer()),
)


def summary(result: Any) -> dict[str, Any]:
    """The three columns of one stored result (a dict; anything else counts as empty)."""
    result = result if isinstance(result, dict) else {}
    lines = [line for line in result.get("lines") or () if isinstance(line, dict)]
    part_ids = []
    for line in lines:
        part = line.get("part") if line.get("kind") == "part" else None
        if isinstance(part, dict) and type(part.get("id")) is int:  # not a bool
            part_ids.append(part["id"])
    counts = result.get("counts")
    return {
        "part_ids": part_ids,
        "flag_counts": counts if isinstance(counts, dict) else {},
        "flagged_lines": sum(1 for line in lines if line.get("status") == "flagged"),
    }


def _guard(enabled: bool) -> None:
    """The append-only guard of 0004, off for the fill and on again after it."""
    if op.get_context().dialect.name == "postgresql":
        state = "ENABLE" if enabled else "DISABLE"
        op.execute(
            f"ALTER TABLE estimate_validations {state} TRIGGER estimate_validations_append_only"
        )
    elif enabled:
        op.execute(
            "CREATE TRIGGER estimate_validations_no_update BEFORE UPDATE ON estimate_validations "
            "BEGIN SELECT RAISE(ABORT, 'estimate_validations is append-only'); END"
        )
    else:
        op.execute("DROP TRIGGER estimate_validations_no_update")


#: `summary` in SQL: each result parsed once, as jsonb (`json` operators parse the text again at
#: every step; `OFFSET 0` keeps the planner from folding the subqueries into the outer query,
#: which made it parse a result once per mention); a `lines` or `counts` of another JSON type
#: counts as empty, a part without an integer id is left out
_FILL_POSTGRESQL = """
UPDATE estimate_validations AS v
SET part_ids = s.part_ids, flag_counts = s.flag_counts, flagged_lines = s.flagged_lines
FROM (
  SELECT id,
    coalesce((
      SELECT jsonb_agg((line->'part'->>'id')::bigint ORDER BY n)
      FROM jsonb_array_elements(lines) WITH ORDINALITY AS t(line, n)
      WHERE jsonb_typeof(line) = 'object' AND line->>'kind' = 'part'
        AND jsonb_typeof(line->'part'->'id') = 'number'
        AND line->'part'->>'id' ~ '^-?[0-9]{1,18}$'
    ), '[]')::json AS part_ids,
    (CASE WHEN jsonb_typeof(r->'counts') = 'object' THEN r->'counts' ELSE '{}' END)::json
      AS flag_counts,
    (SELECT count(*) FROM jsonb_array_elements(lines) AS t(line)
     WHERE jsonb_typeof(line) = 'object' AND line->>'status' = 'flagged') AS flagged_lines
  FROM (
    SELECT id, r,
      CASE WHEN jsonb_typeof(r->'lines') = 'array' THEN r->'lines' ELSE '[]' END AS lines
    FROM (SELECT id, result::jsonb AS r FROM estimate_validations OFFSET 0) AS parsed
    OFFSET 0
  ) AS j
) AS s
WHERE s.id = v.id
"""


def _fill() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(_FILL_POSTGRESQL)
        return
    update = (
        validations.update()
        .where(validations.c.id == sa.bindparam("row_id"))
        .values(
            part_ids=sa.bindparam("part_ids", type_=sa.JSON()),
            flag_counts=sa.bindparam("flag_counts", type_=sa.JSON()),
            flagged_lines=sa.bindparam("flagged_lines"),
        )
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(validations.c.id, validations.c.result)
            .where(validations.c.id > last)
            .order_by(validations.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(update, [{"row_id": r.id, **summary(r.result)} for r in rows])
        last = rows[-1].id


def upgrade() -> None:
    op.add_column(
        "estimate_validations",
        sa.Column("part_ids", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column(
        "estimate_validations",
        sa.Column("flag_counts", sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    )
    op.add_column(
        "estimate_validations",
        sa.Column("flagged_lines", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    _guard(False)
    _fill()
    _guard(True)


def downgrade() -> None:
    for column in ("flagged_lines", "flag_counts", "part_ids"):
        op.drop_column("estimate_validations", column)
