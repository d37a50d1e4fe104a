"""Imports racing imports and staff edits on the same price keys: they take the staff edits' key
locks (in ascending order), so the later one waits and plans against what the earlier one
committed; nothing answers 500 and the history keeps no overlapping versions.

Each writer is a thread on its own connection; a hook makes the import hold its locks a moment,
so the other writer always arrives while they are held."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from pricebook.db import transaction
from pricebook.io import import_file, importers
from pricebook.io.tables import write_table
from pricebook.models import AuditEntry, Branch, Part, Price, PriceType
from pricebook.prices import PriceKey, write_price
from pricebook.settings import Settings
from tests import catalog_rows

COLUMNS = (
    "part_code",
    "model_code",
    "scope",
    "price_type",
    "amount_yuan",
    "valid_from",
    "valid_to",
)
CODES = ("VW1-0001", "VW1-0002", "VW1-0003", "VW1-0004")


@pytest.fixture
def loaded(settings: Settings, engine: Engine) -> Engine:
    if settings.is_sqlite:
        pytest.skip("SQLite has one writer at a time: the race is PostgreSQL's")
    with transaction(engine) as session:
        catalog_rows.load(session)
    return engine


def _file(path: Path, amount: int, valid_from: str, valid_to: str = "") -> Path:
    rows = [
        {
            "part_code": code,
            "scope": "GD01",
            "price_type": "4s",
            "amount_yuan": f"{amount + i}.00",
            "valid_from": valid_from,
            "valid_to": valid_to,
        }
        for i, code in enumerate(CODES)
    ]
    write_table(path, COLUMNS, rows)
    return path


def _hold_import_locks(monkeypatch, seconds: float = 0.5) -> list[tuple[str, float]]:
    """The import holds its key locks `seconds` after taking them; records when."""
    original = importers.versions.lock_version_keys
    events: list[tuple[str, float]] = []

    def slow(session: Any, table: str, keys: Any) -> None:
        events.append(("try", time.monotonic()))
        original(session, table, keys)
        events.append(("got", time.monotonic()))
        time.sleep(seconds)

    monkeypatch.setattr(importers.versions, "lock_version_keys", slow)
    return events


def _run_together(*jobs: Any) -> list[Any]:
    """Run each job in its own thread, the later ones a moment after the first; results or
    the exception each raised."""
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # the test looks at what each got
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for i, thread in enumerate(threads):
        thread.start()
        if i == 0:
            time.sleep(0.15)  # the first holds its locks when the others arrive
    for thread in threads:
        thread.join(30)
    return results


def _assert_history_consistent(engine: Engine) -> dict[tuple[Any, ...], list[Price]]:
    by_key: dict[tuple[Any, ...], list[Price]] = defaultdict(list)
    with transaction(engine) as session:
        for p in session.scalars(select(Price).order_by(Price.valid_from)):
            by_key[
                (p.part_id, p.model_id, p.scope, p.region_id, p.branch_id, p.price_type_id)
            ].append(p)
    for key, versions in by_key.items():
        for earlier, later in itertools.pairwise(versions):
            assert earlier.valid_to is not None and earlier.valid_to <= later.valid_from, key
    return by_key


def test_two_imports_on_overlapping_keys_both_apply_one_after_the_other(
    loaded: Engine, tmp_path: Path, monkeypatch
) -> None:
    import_file(
        loaded,
        "prices",
        _file(tmp_path / "base.csv", 100, "2026-01-01"),
        actor="tester",
        reason="base",
    )
    first = _file(tmp_path / "first.csv", 200, "2027-01-01", "2027-03-01")
    second = _file(tmp_path / "second.csv", 300, "2027-03-01")
    events = _hold_import_locks(monkeypatch)
    results = _run_together(
        lambda: import_file(loaded, "prices", first, actor="a", reason="first"),
        lambda: import_file(loaded, "prices", second, actor="b", reason="second"),
    )
    assert all(isinstance(r, importers.ImportReport) for r in results), results
    assert [r.changed for r in results] == [4, 4]
    # the second asked while the first held the locks, and got them only after
    (try1, _), (got1, t_got1), (try2, t_try2), (got2, t_got2) = events
    assert (try1, got1, try2, got2) == ("try", "got", "try", "got")
    assert t_try2 < t_got1 + 0.5 < t_got2
    by_key = _assert_history_consistent(loaded)
    amounts = sorted(
        [(str(v.valid_from), v.amount_fen // 100) for v in versions]
        for versions in by_key.values()
        if any(v.source_ref == "second.csv" for v in versions)
    )
    assert amounts[0] == [("2026-01-01", 100), ("2027-01-01", 200), ("2027-03-01", 300)]
    with transaction(loaded) as session:
        audited = session.scalars(
            select(AuditEntry.entity_id).where(AuditEntry.action == "import")
        ).all()
        closes = session.scalars(
            select(AuditEntry.entity_id).where(AuditEntry.action == "close")
        ).all()
    assert {"base.csv", "first.csv", "second.csv"} <= set(audited)
    assert len(closes) == 4  # the first closed the 4 base versions, audited; the second follows


def test_an_import_and_a_staff_edit_on_one_key_both_apply(
    loaded: Engine, tmp_path: Path, monkeypatch
) -> None:
    import_file(
        loaded,
        "prices",
        _file(tmp_path / "base.csv", 100, "2026-01-01"),
        actor="tester",
        reason="base",
    )
    with transaction(loaded) as session:
        part = session.scalar(select(Part.id).where(Part.code == CODES[0]))
        branch = session.scalar(select(Branch.id).where(Branch.code == "GD01"))
        type_ = session.scalar(select(PriceType.id).where(PriceType.code == "4s"))
    key = PriceKey(part, None, "branch", None, branch, type_)  # type: ignore[arg-type]
    imported = _file(tmp_path / "import.csv", 200, "2027-01-01", "2027-06-01")
    _hold_import_locks(monkeypatch)

    def staff_edit() -> Any:
        from datetime import date

        with transaction(loaded) as session:
            return write_price(
                session,
                key,
                amount="555.00",
                valid_from=date(2027, 6, 1),
                valid_to=None,
                actor="staff",
                reason="协议价",
            )

    started = time.monotonic()
    results = _run_together(
        lambda: import_file(loaded, "prices", imported, actor="a", reason="import"), staff_edit
    )
    assert isinstance(results[0], importers.ImportReport), results
    assert results[1].action == "created", results  # after the import's version ends
    assert time.monotonic() - started > 0.5  # the edit waited for the import's locks
    by_key = _assert_history_consistent(loaded)
    versions = next(v for v in by_key.values() if v[0].part_id == part and v[0].branch_id == branch)
    assert [(str(v.valid_from), v.amount_fen // 100) for v in versions] == [
        ("2026-01-01", 100),
        ("2027-01-01", 200),
        ("2027-06-01", 555),
    ]
    with transaction(loaded) as session:
        edit_audit = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.entity == "prices", AuditEntry.entity_id == str(versions[-1].id)
            )
        ).all()
    assert edit_audit  # the staff edit's version has its audit row


def test_a_collision_the_locks_did_not_prevent_is_a_conflict_not_a_crash(
    engine: Engine, tmp_path: Path, monkeypatch
) -> None:
    """Should the database still refuse an overlap (a writer that takes no lock), the import
    answers Conflict (409 over HTTP) with nothing written."""
    from sqlalchemy.exc import IntegrityError

    from pricebook.errors import Conflict

    with transaction(engine) as session:
        catalog_rows.load(session)

    def collide(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("INSERT INTO prices …", {}, Exception("prices_no_overlap"))

    monkeypatch.setattr(importers, "import_rows", collide)
    with pytest.raises(Conflict, match="nothing was written"):
        import_file(
            engine,
            "prices",
            _file(tmp_path / "p.csv", 100, "2026-01-01"),
            actor="tester",
            reason="x",
        )
