"""The database itself keeps history: no overlap, no rewrite, no delete — on both backends."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from pricebook.db import transaction
from pricebook.models import AuditEntry, Part, Price, PriceType
from tests import catalog_rows

REFUSED = (IntegrityError, DBAPIError)


@pytest.fixture
def loaded(engine):
    with transaction(engine) as session:
        catalog_rows.load(session)
    return engine


def _price_row(session, **overrides):
    part = session.scalar(select(Part.id).where(Part.code == "VW1-0003"))
    price_type = session.scalar(select(PriceType.id).where(PriceType.code == "4s"))
    row = {
        "part_id": part, "model_id": None, "scope": "system", "region_id": None,
        "branch_id": None, "price_type_id": price_type, "amount_fen": 12000,
        "valid_from": date(2025, 1, 1), "valid_to": None, "source": "staff",
        "created_by": "test", "reason": "",
    }  # fmt: skip
    return row | overrides


def test_overlapping_validity_is_rejected_by_the_database(loaded):
    with transaction(loaded) as session:
        session.execute(insert(Price).values(**_price_row(session, valid_to=date(2026, 1, 1))))
    with pytest.raises(REFUSED), transaction(loaded) as session:
        session.execute(insert(Price).values(**_price_row(session, valid_from=date(2025, 6, 1))))
    # adjacent periods are fine: [2025-01-01, 2026-01-01) then [2026-01-01, …)
    with transaction(loaded) as session:
        session.execute(insert(Price).values(**_price_row(session, valid_from=date(2026, 1, 1))))
        assert session.scalar(select(Price.id).where(Price.valid_from == date(2026, 1, 1)))


def test_price_rows_are_never_rewritten_or_deleted(loaded):
    with transaction(loaded) as session:
        price_id = session.scalar(select(Price.id).order_by(Price.id).limit(1))
    with pytest.raises(REFUSED), transaction(loaded) as session:
        session.execute(update(Price).where(Price.id == price_id).values(amount_fen=1))
    with pytest.raises(REFUSED), transaction(loaded) as session:
        session.execute(delete(Price).where(Price.id == price_id))
    with transaction(loaded) as session:
        open_id = session.scalar(select(Price.id).where(Price.valid_to.is_(None)).limit(1))
        # shortening validity is how a version is superseded: allowed
        session.execute(update(Price).where(Price.id == open_id).values(valid_to=date(2030, 1, 1)))
    with pytest.raises(REFUSED), transaction(loaded) as session:
        # ... but never lengthened again
        session.execute(update(Price).where(Price.id == open_id).values(valid_to=date(2031, 1, 1)))


def test_audit_log_is_append_only(loaded):
    with transaction(loaded) as session:
        entry = session.scalar(select(AuditEntry.id).limit(1))
        assert entry is not None
    with pytest.raises(REFUSED), transaction(loaded) as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == entry).values(actor="x"))
    with pytest.raises(REFUSED), transaction(loaded) as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == entry))
