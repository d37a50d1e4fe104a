"""market_runs.status 'suspicious'; price_type_words, the one price-type vocabulary

A crawl that finishes with far fewer pages or listings than the source's recent runs (or none,
or with pagination stopping before the page count the site declares) is recorded as
``suspicious`` with its reasons in ``stats``, instead of ``finished``.

``price_type_words`` (word → price type code) replaces the two vocabularies the market used
(price type names, and a hint table in code); seeded with that hint table's words, as
`pricebook.price_words.DEFAULT_WORDS` had them when this was written.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('running', 'finished', 'failed')"
_NEW = "status IN ('running', 'finished', 'suspicious', 'failed')"

WORDS = {
    "4s": "4s",
    "4s店": "4s",
    "4s店价": "4s",
    "4s价": "4s",
    "4s店件": "4s",
    "oem": "oem",
    "市场原厂": "oem",
    "市场原厂件": "oem",
    "原厂": "oem",
    "原厂件": "oem",
    "原装": "oem",
    "原装件": "oem",
    "正厂": "oem",
    "正厂件": "oem",
    "纯正": "oem",
    "纯正件": "oem",
    "品牌": "brand",
    "品牌件": "brand",
    "副厂": "brand",
    "副厂件": "brand",
    "适用": "compatible",
    "适用件": "compatible",
    "同质": "compatible",
    "同质件": "compatible",
    "配套": "compatible",
    "配套件": "compatible",
    "再制造": "reman",
    "再制造件": "reman",
    "翻新": "reman",
    "翻新件": "reman",
    "拆车": "salvage",
    "拆车件": "salvage",
    "二手": "salvage",
    "二手件": "salvage",
}


def upgrade() -> None:
    with op.batch_alter_table("market_runs") as batch_op:
        batch_op.drop_constraint(op.f("ck_market_runs_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_market_runs_status"), _NEW)
    table = op.create_table(
        "price_type_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(), nullable=False),
        sa.Column("price_type_code", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_type_words")),
        sa.UniqueConstraint("word", name=op.f("uq_price_type_words_word")),
    )
    op.bulk_insert(
        table,
        [
            {"word": w, "price_type_code": c, "created_by": "migration 0013"}
            for w, c in WORDS.items()
        ],
    )


def downgrade() -> None:
    op.drop_table("price_type_words")
    # a suspicious run did finish: that is what the older schema can say
    op.execute("UPDATE market_runs SET status = 'finished' WHERE status = 'suspicious'")
    with op.batch_alter_table("market_runs") as batch_op:
        batch_op.drop_constraint(op.f("ck_market_runs_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_market_runs_status"), _OLD)
