"""`pricebook demo load`: the demo catalogue through the same import path as staff files."""

from __future__ import annotations

from sqlalchemy import Engine

from pricebook.db import analyze, transaction
from pricebook.demo.catalog import demo_rows
from pricebook.io import ImportReport, import_rows
from pricebook.io.importers import TABLES_WRITTEN
from pricebook.models import (
    AuditEntry,
    CatalogVersion,
    ConsumableStandardVersion,
    RescueTariffVersion,
    RuleProfileVersion,
)
from pricebook.review_config import ConfigReport, load_demo_review_config


def load_demo(engine: Engine, *, actor: str = "demo") -> list[ImportReport | ConfigReport]:
    """Import every kind of the demo catalogue in one transaction; loading twice changes nothing.
    Then ANALYZE every table written (PostgreSQL; `pricebook.db.analyze`)."""
    reports: list[ImportReport | ConfigReport] = []
    rows_by_kind = demo_rows()
    with transaction(engine) as session:
        for kind, rows in rows_by_kind.items():
            report = import_rows(
                session, kind, rows, actor=actor, reason="demo catalogue", source_ref="demo"
            )
            reports.append(report)
        reports.append(load_demo_review_config(session, actor=actor))
    written = [t for kind in rows_by_kind for t in TABLES_WRITTEN[kind]]
    written += [RuleProfileVersion, ConsumableStandardVersion, RescueTariffVersion]
    analyze(engine, [*written, AuditEntry, CatalogVersion])
    return reports
