"""The one versioned-write path: every versioned table is written by a path that leaves an audit
row with the change's reason; each path refuses an empty reason; one money limit everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pricebook import review_config
from pricebook.db import transaction
from pricebook.errors import ImportRejected, InvalidInput
from pricebook.feedback import accept_feedback, submit_feedback
from pricebook.io import import_rows
from pricebook.models import AuditEntry, Base, Branch, Part, Price, PriceType
from pricebook.money import MAX_YUAN
from pricebook.prices import PriceKey, write_price
from tests import catalog_rows

NEXT_YEAR = "2026-01-01"

#: rows that give each imported versioned table a new version of a key the catalogue has
IMPORTS: dict[str, list[dict[str, str]]] = {
    "prices": [
        {"part_code": "VW1-0002", "model_code": "VW-LAVIDA-2023", "scope": "440000",
         "price_type": "brand", "amount_yuan": "1600.00", "valid_from": NEXT_YEAR, "valid_to": ""},
    ],
    "labor_rates": [
        {"branch_code": "SZ01", "labor_kind": "paint", "shop_tier": "4s", "vehicle_class": "B",
         "rate_yuan": "120.00", "valid_from": NEXT_YEAR, "valid_to": ""},
    ],
    "standard_hours": [
        {"part_code": "VW1-0001", "operation": "replace", "vehicle_class": "B",
         "labor_kind": "sheet_metal", "hours": "3.0", "includes": "remove_refit",
         "valid_from": NEXT_YEAR},
    ],
    "rate_cards": [
        {**row, "valid_from": NEXT_YEAR, "pct_of_standard": row["pct_of_standard"] and "95"}
        for row in catalog_rows.BASE["rate_cards"]
    ],
}  # fmt: skip

CONFIG = {
    "rule_profiles": [
        {"code": "default", "valid_from": "2025-01-01", "settings": {}},
    ],
    "consumable_standards": [
        {"kind": "refrigerant", "name": "制冷剂R134a", "unit": "kg", "vehicle_class": "B",
         "max_quantity": "0.6", "max_unit_price": "220.00", "valid_from": "2025-01-01"},
    ],
    "rescue_tariffs": [
        {"region": "440300", "base_fee": "350.00", "included_km": 10, "per_km": "12.00",
         "valid_from": "2025-01-01"},
    ],
}  # fmt: skip


def _import(session: Session, table: str, reason: str) -> None:
    import_rows(session, table, IMPORTS[table], actor="pricing", reason=reason)


def _config(session: Session, table: str, reason: str) -> None:
    review_config.import_review_config(
        session, {table: CONFIG[table]}, actor="pricing", reason=reason
    )


#: the write path that covers each versioned table in this test
WRITERS: dict[str, Callable[[Session, str, str], None]] = {
    "prices": _import,
    "labor_rates": _import,
    "standard_hours": _import,
    "rate_cards": _import,
    "rule_profiles": _config,
    "consumable_standards": _config,
    "rescue_tariffs": _config,
}


def _versioned_tables() -> set[str]:
    return {
        table.name
        for table in Base.metadata.tables.values()
        if {"valid_from", "valid_to"} <= set(table.c.keys())
    }


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    with transaction(engine) as session:
        catalog_rows.load(session)
    return engine


def _audited(engine: Engine, entity: str, reason: str) -> list[tuple[str, str]]:
    with transaction(engine) as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.entity_id).where(
                AuditEntry.entity == entity, AuditEntry.reason == reason
            )
        )
        return sorted((action, str(entity_id)) for action, entity_id in rows)


def test_every_versioned_table_is_written_with_an_audit_row_carrying_the_reason(loaded):
    assert _versioned_tables() == set(WRITERS), "a versioned table without a write path here"
    for table, write in sorted(WRITERS.items()):
        reason = f"年度调价 {table}"
        with transaction(loaded) as session:
            write(session, table, reason)
        actions = [action for action, _ in _audited(loaded, table, reason)]
        assert actions and set(actions) <= {"create", "supersede", "close", "import"}, (
            table,
            actions,
        )
        if write is _import:
            # the key had a version in force: it is closed on the new version's first day,
            # and the import itself is recorded with the same reason
            assert {"close", "import"} <= set(actions), (table, actions)


def test_an_empty_reason_is_refused_by_imports_and_review_config(loaded):
    for table, write in sorted(WRITERS.items()):
        for reason in ("", "  "):
            with transaction(loaded) as session, pytest.raises(InvalidInput) as err:
                write(session, table, reason)
            assert err.value.field == "reason", table
    with transaction(loaded) as session:
        assert session.scalar(select(Price.id).where(Price.valid_from == date(2026, 1, 1))) is None


def _key(session: Session) -> PriceKey:
    part = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
    branch = session.scalar(select(Branch.id).where(Branch.code == "SZ01"))
    four_s = session.scalar(select(PriceType.id).where(PriceType.code == "4s"))
    assert part and branch and four_s
    return PriceKey(part, None, "branch", None, branch, four_s)


def test_a_staff_edit_audits_its_reason_and_refuses_an_empty_one(loaded):
    with transaction(loaded) as session:
        key = _key(session)
        for reason in ("", " "):
            with pytest.raises(InvalidInput) as err:
                write_price(
                    session, key, amount="1020.00", valid_from=date(2026, 3, 1), valid_to=date(2027, 1, 1),
                    actor="staff", reason=reason,
                )  # fmt: skip
            assert err.value.field == "reason"
        written = write_price(
            session, key, amount="1020.00", valid_from=date(2026, 3, 1), valid_to=date(2027, 1, 1),
            actor="staff", reason="4S店报价上调",
        )  # fmt: skip
    # 990.00 (2025-07-01 to 2027-01-01) is closed on 2026-03-01 by the 1,020.00 version
    actions = [action for action, _ in _audited(loaded, "prices", "4S店报价上调")]
    assert sorted(actions) == ["close", "supersede"]
    assert written.action == "superseded" and written.version.amount == Decimal("1020.00")


def test_a_feedback_accept_audits_its_reason(loaded):
    with transaction(loaded) as session:
        key = _key(session)
        item = submit_feedback(
            session, part_id=key.part_id, model_id=None, branch_id=key.branch_id,
            price_type_id=key.price_type_id, reference="990.00", observed="1030.00",
            actor="reviewer",
        )  # fmt: skip
        accept_feedback(
            session,
            item.id,
            actor="pricing",
            reason="核实门店报价",
            valid_from=date(2026, 2, 1),
            valid_to=date(2027, 1, 1),
        )
        new = session.scalar(select(Price).where(Price.valid_from == date(2026, 2, 1)))
        assert new is not None and new.amount_fen == 103000 and new.source == "feedback"
        assert new.reason == "核实门店报价"
    assert ("supersede", str(new.id)) in _audited(loaded, "prices", "核实门店报价")


def test_a_csv_price_above_the_staff_limit_is_refused_naming_the_row(loaded):
    too_much = str(MAX_YUAN + Decimal("0.01"))
    rows = [
        {**IMPORTS["prices"][0], "amount_yuan": "1600.00"},
        {**IMPORTS["prices"][0], "part_code": "VW1-0003", "amount_yuan": too_much},
    ]
    with transaction(loaded) as session, pytest.raises(ImportRejected) as err:
        import_rows(session, "prices", rows, actor="pricing", reason="批量调价")
    assert [(e.row, e.column) for e in err.value.errors] == [(3, "amount_yuan")]
    assert "at most 10000000.00" in err.value.errors[0].message
    with transaction(loaded) as session, pytest.raises(InvalidInput) as staff:
        write_price(
            session, _key(session), amount=too_much, valid_from=date(2026, 3, 1), valid_to=date(2027, 1, 1),
            actor="staff", reason="录入错误",
        )  # fmt: skip
    assert staff.value.field == "amount" and "at most 10000000.00" in staff.value.message


def test_a_feedback_accept_without_a_reason_records_the_item_as_its_reason(loaded):
    """An accept answers a feedback item, which is the why: an empty reason becomes
    "feedback #N accepted", so the audit row never lacks one."""
    with transaction(loaded) as session:
        key = _key(session)
        item = submit_feedback(
            session, part_id=key.part_id, model_id=None, branch_id=key.branch_id,
            price_type_id=key.price_type_id, reference="990.00", observed="1040.00",
            actor="reviewer",
        )  # fmt: skip
        accept_feedback(
            session, item.id, actor="pricing", reason="  ", valid_from=date(2026, 2, 1),
            valid_to=date(2027, 1, 1),
        )  # fmt: skip
    actions = sorted(
        action for action, _ in _audited(loaded, "prices", f"feedback #{item.id} accepted")
    )
    assert actions == ["close", "supersede"]
