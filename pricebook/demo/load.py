"""`pricebook demo load`: the demo catalogue through the same import path as staff files."""

from __future__ import annotations

from sqlalchemy import Engine

from pricebook.db import transaction
from pricebook.demo.catalog import demo_rows
from pricebook.estimates import ConfigReport, load_demo_review_config
from pricebook.io import ImportReport, import_rows


def load_demo(engine: Engine, *, actor: str = "demo") -> list[ImportReport | ConfigReport]:
    """Import every kind of the demo catalogue in one transaction; loading twice changes nothing."""
    reports = []
    with transaction(engine) as session:
        for kind, rows in demo_rows().items():
            report = import_rows(
                session, kind, rows, actor=actor, reason="demo catalogue", source_ref="demo"
            )
            reports.append(report)
        reports.append(load_demo_review_config(session, actor=actor))
    return reports
