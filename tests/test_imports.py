"""Imports: all-or-nothing, every bad row reported, idempotent, superseding, round trips."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pricebook.db import transaction
from pricebook.errors import ImportRejected, InvalidInput
from pricebook.io import export_file, import_file, import_rows, read_table
from pricebook.models import AuditEntry, Branch, OperationInclusion, Part, Price, RateCardParts
from pricebook.prices import history, versions_in_force
from tests import catalog_rows


def _count(engine, model) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _write_csv(path, columns, rows, *, bom=True):
    import csv

    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


@pytest.fixture
def loaded(engine):
    with transaction(engine) as session:
        catalog_rows.load(session)
    return engine


def test_a_bad_row_in_the_middle_writes_nothing_and_every_bad_row_is_reported(loaded, tmp_path):
    before = _count(loaded, Price)
    rows = [
        {"part_code": "VW1-0003", "model_code": "", "scope": "system", "price_type": "4s",
         "amount_yuan": "88.00", "valid_from": "2025-01-01", "valid_to": ""},
        {"part_code": "NOPE", "model_code": "", "scope": "system", "price_type": "4s",
         "amount_yuan": "12.345", "valid_from": "2025-01-01", "valid_to": ""},
        {"part_code": "VW1-0004", "model_code": "", "scope": "ZZ99", "price_type": "4s",
         "amount_yuan": "50", "valid_from": "2025-13-01", "valid_to": ""},
        {"part_code": "VW1-0004", "model_code": "", "scope": "system", "price_type": "4s",
         "amount_yuan": "60.00", "valid_from": "2025-01-01", "valid_to": ""},
    ]  # fmt: skip
    path = _write_csv(tmp_path / "prices.csv", catalog_rows.BASE["prices"][0].keys(), rows)
    with pytest.raises(ImportRejected) as caught:
        import_file(loaded, "prices", path, actor="tester", reason="test import")
    errors = {(e.row, e.column) for e in caught.value.errors}
    assert errors == {(3, "part_code"), (3, "amount_yuan"), (4, "scope"), (4, "valid_from")}
    assert _count(loaded, Price) == before


def test_missing_columns_unknown_kind_and_missing_file_are_clear_errors(loaded, tmp_path):
    path = _write_csv(tmp_path / "p.csv", ["part_code", "name"], [{"part_code": "X", "name": "Y"}])
    with pytest.raises(ImportRejected) as caught:
        import_file(loaded, "parts", path, reason="test import")
    assert {e.column for e in caught.value.errors} == {"aliases", "category", "oe_number"}
    with pytest.raises(InvalidInput, match="unknown kind"):
        import_file(loaded, "widgets", path, reason="test import")
    with pytest.raises(InvalidInput, match="no such file"):
        import_file(loaded, "parts", tmp_path / "missing.csv", reason="test import")


def test_reimporting_the_same_rows_changes_nothing(loaded):
    audit_before = _count(loaded, AuditEntry)
    prices_before = _count(loaded, Price)
    with transaction(loaded) as session:
        for kind, rows in catalog_rows.BASE.items():
            report = import_rows(session, kind, rows, actor="again", reason="test import")
            assert report.changed == 0, (kind, report.summary())
    assert _count(loaded, Price) == prices_before
    assert _count(loaded, AuditEntry) == audit_before


def test_a_new_amount_supersedes_the_version_in_force_and_history_is_kept(loaded):
    row = {"part_code": "VW1-0001", "model_code": "", "scope": "system", "price_type": "4s",
           "amount_yuan": "1100.00", "valid_from": "2026-03-01", "valid_to": ""}  # fmt: skip
    with transaction(loaded) as session:
        report = import_rows(session, "prices", [row], actor="staff1", reason="new list price")
        assert report.superseded == 1
    with transaction(loaded) as session:
        part = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
        system = [v for v in history(session, part) if v.scope == "system"]
        assert [(v.amount, v.valid_from, v.valid_to) for v in system] == [
            (Decimal("980.00"), date(2024, 1, 1), date(2025, 7, 1)),
            (Decimal("1050.00"), date(2025, 7, 1), date(2026, 3, 1)),
            (Decimal("1100.00"), date(2026, 3, 1), None),
        ]
        assert system[-1].created_by == "staff1" and system[-1].reason == "new list price"
        closes = session.scalars(select(AuditEntry).where(AuditEntry.action == "close")).all()
        assert [(c.before, c.after) for c in closes] == [
            ({"valid_to": None}, {"valid_to": "2026-03-01"})
        ]


def test_as_of_lookup_returns_the_version_in_force_including_future_dated(loaded):
    with transaction(loaded) as session:
        part = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
        sz = session.scalar(select(Branch.id).where(Branch.code == "SZ01"))

        def local(on: str) -> Decimal | None:
            found = [v for v in versions_in_force(session, [part], date.fromisoformat(on))
                     if v.branch_id == sz]  # fmt: skip
            return found[0].amount if found else None

        assert local("2025-06-30") is None
        assert local("2025-07-01") == Decimal("990.00")
        assert local("2026-12-31") == Decimal("990.00")
        assert local("2027-01-01") == Decimal("1010.00")  # future-dated takes effect on its day


def test_dry_run_reports_changes_and_writes_nothing(loaded, tmp_path):
    rows = copy.deepcopy(catalog_rows.BASE["prices"])
    rows[1]["amount_yuan"] = "1060.00"
    rows[1]["valid_from"] = "2026-01-01"
    path = _write_csv(tmp_path / "prices.csv", rows[0].keys(), rows)
    before = _count(loaded, Price)
    report = import_file(loaded, "prices", path, dry_run=True)
    assert report.dry_run and report.superseded == 1 and report.unchanged == 4
    assert _count(loaded, Price) == before


def test_components_links_inclusions_and_rate_card_lines_are_stored(loaded):
    with transaction(loaded) as session:
        assert session.scalar(select(func.count()).select_from(OperationInclusion)) == 1
        line = session.scalar(select(RateCardParts))
        assert line.discount_bp == 1250


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_every_kind_round_trips_through_export_and_import(loaded, tmp_path, suffix):
    for kind in catalog_rows.ORDER:
        path = tmp_path / f"{kind}{suffix}"
        written = export_file(loaded, kind, path)
        assert written >= len(catalog_rows.BASE[kind]) - (kind == "fitment") * 0, kind
        header, rows = read_table(path)
        exported = [row for _, row in rows]
        # importing the export into the same database changes nothing ...
        assert import_file(loaded, kind, path, reason="test import").changed == 0, kind
        # ... and it holds what was imported, cell for cell where the source gave a value
        for source in catalog_rows.BASE[kind]:
            key_columns = [c for c in header if c in source][:3]
            match = [r for r in exported if all(r[c] == source[c] for c in key_columns)]
            assert match, (kind, source)


def test_csv_with_and_without_bom_reads_the_same(tmp_path):
    rows = catalog_rows.BASE["categories"]
    with_bom = _write_csv(tmp_path / "a.csv", ["code", "name"], rows, bom=True)
    without = _write_csv(tmp_path / "b.csv", ["code", "name"], rows, bom=False)
    assert [r for _, r in read_table(with_bom)[1]] == [r for _, r in read_table(without)[1]]
    assert read_table(with_bom)[0] == ["code", "name"]


EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_the_documented_example_files_import_in_order(engine):
    for kind in catalog_rows.ORDER:
        report = import_file(engine, kind, EXAMPLES / f"{kind}.csv", actor="docs", reason="docs")
        assert report.created > 0, kind


def test_the_documented_example_files_import_onto_the_demo_catalogue(engine):
    """What a new user tries first: the docs' files onto `make run`'s demo. They add to it
    (two 2025 朗逸 models, a tail-lamp assembly with its components, their prices, a channel)
    and change none of the demo's own rows except the labor rate they supersede from 2027."""
    from pricebook.demo import load_demo

    load_demo(engine)
    reports = {
        kind: import_file(engine, kind, EXAMPLES / f"{kind}.csv", actor="docs", reason="docs")
        for kind in catalog_rows.ORDER
    }
    for kind in ("regions", "categories", "price_types", "branches"):
        assert reports[kind].changed == 0, (kind, reports[kind])
    for kind in (
        "models",
        "parts",
        "fitment",
        "prices",
        "standard_hours",
        "channels",
        "rate_cards",
    ):
        assert reports[kind].created > 0 and reports[kind].updated == 0, (kind, reports[kind])
    assert reports["labor_rates"].superseded == 1
    with transaction(engine) as session:
        lamp = session.scalars(select(Part).where(Part.code == "VW9-0001")).one()
        (sz,) = [v for v in versions_in_force(session, [lamp.id], date(2026, 1, 1))
                 if v.scope == "branch"]  # fmt: skip
        assert sz.amount == Decimal("880.00")
