"""reference_generation.catalog / catalog_build: commit-ordered catalogue counters for matching

Matching indexes (and market's catalogue cache) were rebuilt when ``max(catalog_versions.id)``
moved. Ids are taken at insert, not at commit: a catalogue change that commits after a newer
one (a long import and an alias edit, say) left the maximum where it was, and every process
kept an index without it until the next change. The counters here are moved at commit, like
the reference generation of 0007: ``catalog`` by every transaction that adds a
``catalog_versions`` row, ``catalog_build`` by those whose rows are not all match
confirmations (reason 'match confirmation…', `pricebook.matching.loader.LEARNED_REASON`),
which only need the learned mappings reloaded.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 06:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: `pricebook.matching.loader.LEARNED_REASON` when this was written (a test holds them equal)
LEARNED_REASON = "match confirmation"


def upgrade() -> None:
    # plain ALTER TABLE, also on SQLite: a batch copy of the table could not be renamed back
    # while 0007's triggers name it
    for column in ("catalog", "catalog_build"):
        op.add_column(
            "reference_generation",
            sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        )
    learned = f"'{LEARNED_REASON}%'"
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION pricebook_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF current_setting('pricebook.catalog_changed', true) IS DISTINCT FROM 'on' THEN
                UPDATE reference_generation SET catalog = catalog + 1 WHERE id = 1;
                PERFORM set_config('pricebook.catalog_changed', 'on', true);
              END IF;
              IF NEW.reason NOT LIKE {learned}
                 AND current_setting('pricebook.catalog_built', true) IS DISTINCT FROM 'on' THEN
                UPDATE reference_generation SET catalog_build = catalog_build + 1 WHERE id = 1;
                PERFORM set_config('pricebook.catalog_built', 'on', true);
              END IF;
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE CONSTRAINT TRIGGER catalog_versions_generation AFTER INSERT ON catalog_versions "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pricebook_catalog_changed()"
        )
    else:
        # one writer at a time: a row's own update is in commit order already
        op.execute(
            "CREATE TRIGGER catalog_versions_generation AFTER INSERT ON catalog_versions BEGIN "
            "UPDATE reference_generation SET catalog = catalog + 1, catalog_build = catalog_build "
            f"+ (CASE WHEN NEW.reason LIKE {learned} THEN 0 ELSE 1 END) WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS catalog_versions_generation ON catalog_versions")
        op.execute("DROP FUNCTION IF EXISTS pricebook_catalog_changed()")
    else:
        op.execute("DROP TRIGGER IF EXISTS catalog_versions_generation")
    op.drop_column("reference_generation", "catalog_build")
    op.drop_column("reference_generation", "catalog")
