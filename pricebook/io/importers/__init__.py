"""Imports: every row is checked before anything is written; one bad row and nothing is.

Each kind is imported in two phases. Phase one parses and validates every row against the
catalogue (codes looked up in bulk, never row by row) and plans what would change; any bad row
raises `ImportRejected` listing all of them. Phase two writes the plan in the caller's transaction
(skipped for a dry run). Versioned kinds follow `pricebook.history.plan_version`, so re-importing
a file changes nothing and a new amount supersedes the version in force.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.db import analyze, session_factory
from pricebook.errors import Conflict, ImportRejected, InvalidInput, RowError
from pricebook.io.importers.catalog import (
    import_branches,
    import_categories,
    import_channels,
    import_fitment,
    import_models,
    import_parts,
    import_price_types,
    import_regions,
)
from pricebook.io.importers.cells import ImportContext
from pricebook.io.importers.kinds import (
    CATALOG_KINDS,
    IMPORT_KINDS,
    LABOR_KINDS,
    REQUIRED_COLUMNS,
    TABLES_WRITTEN,
)
from pricebook.io.importers.labor import (
    import_labor_rates,
    import_rate_cards,
    import_standard_hours,
)
from pricebook.io.importers.prices import import_prices
from pricebook.io.importers.report import ImportReport, RowChange
from pricebook.io.importers.synonyms import import_synonyms
from pricebook.io.tables import Row, TableLimits, read_table
from pricebook.money import quote
from pricebook.versioned import require_reason

__all__ = [
    "ANALYZE_MIN_ROWS",
    "CATALOG_KINDS",
    "IMPORT_KINDS",
    "LABOR_KINDS",
    "REQUIRED_COLUMNS",
    "TABLES_WRITTEN",
    "ImportReport",
    "RowChange",
    "analyze_import",
    "check_columns",
    "check_kind",
    "import_file",
    "import_rows",
]

#: an import that changed at least this many rows ANALYZEs the tables it wrote after its commit
#: (PostgreSQL): the first queries after it are planned on statistics of the new data. Below
#: it, autovacuum's statistics stay close enough, and no ANALYZE (~0.1 s for a table of a
#: million rows, and every API connection re-plans its statements) runs for a handful of edits.
ANALYZE_MIN_ROWS = 1000

Progress = Callable[[int], None]


IMPORTERS: dict[str, Callable[[ImportContext, list[tuple[int, Row]]], None]] = {
    "regions": import_regions,
    "branches": import_branches,
    "price_types": import_price_types,
    "categories": import_categories,
    "models": import_models,
    "parts": import_parts,
    "fitment": import_fitment,
    "prices": import_prices,
    "labor_rates": import_labor_rates,
    "standard_hours": import_standard_hours,
    "channels": import_channels,
    "rate_cards": import_rate_cards,
    "synonyms": import_synonyms,
}


def analyze_import(bind: Engine | Connection, kind: str, *, changed: int) -> bool:
    """After an import's commit: ANALYZE the tables of `kind` if it changed at least
    `ANALYZE_MIN_ROWS` rows (PostgreSQL; see `pricebook.db.analyze`). True if it did."""
    check_kind(kind)
    if changed < ANALYZE_MIN_ROWS:
        return False
    analyze(bind, TABLES_WRITTEN[kind])
    return bind.dialect.name == "postgresql"


def check_kind(kind: str) -> None:
    if kind not in IMPORTERS:
        raise InvalidInput(
            f"unknown kind {quote(kind)}: one of {', '.join(IMPORT_KINDS)}", field="kind"
        )


def check_columns(kind: str, header: Sequence[str]) -> None:
    """Each missing column is a row-1 error; a header sharing at most one of the kind's (three
    or more) columns is one error saying the file is not of this kind (another kind's, or no
    table at all) rather than a list of every column."""
    required = REQUIRED_COLUMNS[kind]
    missing = [c for c in required if c not in header]
    if len(required) > 2 and len(required) - len(missing) <= 1:
        message = f"not a {kind} file: its header lacks most of the columns {', '.join(required)}"
        raise ImportRejected(kind, [RowError(1, "", message)])
    if missing:
        raise ImportRejected(kind, [RowError(1, c, "missing column") for c in missing])


def import_rows(
    session: Session,
    kind: str,
    rows: Iterable[tuple[int, Row]] | Iterable[Row],
    *,
    actor: str,
    reason: str = "",
    source_ref: str = "",
    dry_run: bool = False,
    header: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import rows of `kind` in the caller's transaction. Rows are dicts (numbered from 2) or
    (row number, dict) pairs. Raises ImportRejected, writing nothing, if any row is bad."""
    check_kind(kind)
    if not dry_run:  # a dry run writes nothing, so it needs no reason
        reason = require_reason(reason, actor)
    numbered: list[tuple[int, Row]] = []
    for i, item in enumerate(rows, start=2):
        numbered.append(item if isinstance(item, tuple) else (i, item))
        if progress is not None and len(numbered) % 50000 == 0:
            progress(len(numbered))
    if header is None:
        header = list(numbered[0][1]) if numbered else list(REQUIRED_COLUMNS[kind])
    check_columns(kind, header)
    report = ImportReport(kind=kind, rows=len(numbered), dry_run=dry_run)
    ctx = ImportContext(session, kind, actor, reason, source_ref, dry_run, report)
    IMPORTERS[kind](ctx, numbered)
    if not dry_run and report.changed:
        audit.record(
            session,
            actor=actor,
            action="import",
            entity=kind,
            entity_id=source_ref,
            after={
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "superseded": report.superseded,
                "closed": report.closed,
            },
            reason=reason,
        )
        if kind in CATALOG_KINDS:
            audit.bump_catalog_version(session, actor=actor, reason=f"import {kind}")
    return report


def import_file(
    engine: Engine,
    kind: str,
    path: Path,
    *,
    actor: str | None = None,
    reason: str = "",
    dry_run: bool = False,
    progress: Progress | None = None,
    limits: TableLimits | None = None,
    source_ref: str | None = None,
) -> ImportReport:
    """Import a CSV or XLSX file in one transaction (rolled back for a dry run); a big import
    then ANALYZEs the tables it wrote (`analyze_import`). Blocking from start to end: the API
    runs it in a worker thread. A write that still collides with a concurrent one (the
    database refuses an overlap) raises Conflict, with nothing written."""
    check_kind(kind)
    header, rows = read_table(path, limits)
    check_columns(kind, header)
    with session_factory(engine)() as session:  # closing without commit rolls back
        try:
            report = import_rows(
                session,
                kind,
                rows,
                actor=actor or getpass.getuser(),
                reason=reason,
                source_ref=source_ref or path.name,
                dry_run=dry_run,
                header=header,
                progress=progress,
            )
            if dry_run:
                session.rollback()
                return report
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise Conflict(
                f"{kind}: a concurrent change to the same keys collided with this import; "
                "nothing was written: run it again"
            ) from exc
    analyze_import(engine, kind, changed=report.changed)
    return report
