"""Validation against a database (SQLite and PostgreSQL): the bulk load costs a constant number
of statements, results are stored and reused, profiles are versioned, earlier claims are found;
and over HTTP: status codes, problem+json naming the field, 413s, no 500 for any input."""

from __future__ import annotations

import gc
import json
import logging
import os
from datetime import date
from decimal import Decimal as D
from types import SimpleNamespace

import msgspec
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from pricebook import estimates, migrate, review_config
from pricebook.db import transaction
from pricebook.errors import InvalidInput, NotFound
from pricebook.estimates import memo, statements, validation
from pricebook.estimates import request as wire
from pricebook.models import (
    AuditEntry,
    EstimateValidation,
    Part,
    RuleProfileVersion,
    VehicleModel,
)
from tests import catalog_rows
from tests.estimate_data import CONFIG, URL, body, http_body


@pytest.fixture
def db(engine):
    with transaction(engine) as session:
        catalog_rows.load(session)
        review_config.import_review_config(session, CONFIG, actor="test", reason="test config")
    with transaction(engine) as session:
        ids = {p.code: p.id for p in session.scalars(select(Part))}
        model = session.scalar(select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023"))
    return SimpleNamespace(engine=engine, parts=ids, model=model)


def fake_matcher(table: dict[str, int]):
    """A matcher (`estimates.Matcher`): exact names from `table`, else unmatched."""

    none = SimpleNamespace(price_type=None)  # no quality words

    def match(names, model_id=None, brand_id=None):
        out = []
        for n in names:
            if n in table:
                c = SimpleNamespace(
                    part_id=table[n], part_code=f"P{table[n]}", name=n, score=100.0, confidence=1.0
                )
                matched = SimpleNamespace(
                    decision="matched", reason="alias_exact", candidates=[c], attributes=none
                )
                out.append(matched)
            else:
                unmatched = SimpleNamespace(
                    decision="unmatched", reason=None, candidates=[], attributes=none
                )
                out.append(unmatched)
        return out

    return SimpleNamespace(match=match)


def request(data: dict) -> estimates.EstimateRequest:
    return estimates.decode_request(json.dumps(data))


def fender_line(db, unit="1280.00", **kw) -> dict:
    return {
        "type": "part",
        "part_id": db.parts["VW1-0001"],
        "claimed_unit_price": unit,
        "price_type": "4s",
        **kw,
    }


def test_validate_stores_and_reuses(db):
    """claimed 1,280.00, reference 990.00 (SZ01 localized), tolerance 5% → allowed 1,039.50,
    cut 240.50."""
    data = body(db, [fender_line(db)])
    with transaction(db.engine) as s:
        first = estimates.validate(s, request(data), actor="tool")
    line = first.result["lines"][0]
    assert (line["claimed"], line["allowed"], line["cut"]) == ("1280.00", "1039.50", "240.50")
    flag = line["flags"][0]
    assert flag["code"] == "PART_PRICE_ABOVE_REFERENCE"
    assert flag["reference"]["provenance"]["scope"] == "SZ01"
    assert first.result["profile_code"] == "SZ01" and first.result["profile_version"] == 1
    assert not first.reused
    # the answer: who and when, then the result's members, as one JSON object
    answer = json.loads(first.to_json())
    assert answer["validation_id"] == first.id and answer["validated_by"] == "tool"
    assert answer["validated_at"].endswith("+00:00") and not answer["reused"]
    assert {k: v for k, v in answer.items() if k in first.result} == first.result
    with transaction(db.engine) as s:
        again = estimates.validate(s, request(data))
        assert again.reused and again.id == first.id and again.result == first.result
        changed = estimates.validate(s, request(body(db, [fender_line(db, "1000.00")])))
        assert changed.reused and changed.request_differs
        forced = estimates.validate(s, request(data), force=True)
        assert not forced.reused and forced.id != first.id
        listed = estimates.list_validations(s, "E-2025-0001")
        second_page = estimates.list_validations(s, "E-2025-0001", limit=1, offset=1)
        past_the_end = estimates.list_validations(s, "E-2025-0001", offset=5)
    assert [v["validation_id"] for v in listed.items] == [forced.id, first.id]
    assert (listed.total, listed.limit, listed.offset) == (2, 50, 0)
    assert listed.items[0]["totals"]["cut"] == "240.50"
    assert listed.items[0]["counts"] == {"PART_PRICE_ABOVE_REFERENCE": 1}
    assert [v["validation_id"] for v in second_page.items] == [first.id]
    assert past_the_end.items == [] and past_the_end.total == 2
    with transaction(db.engine) as s, pytest.raises(NotFound):
        estimates.list_validations(s, "nope")


def test_validations_worked_out_apart_are_stored_in_one_statement(db):
    """`store_validations`: three validations, one INSERT (PostgreSQL), ids and answers in
    their order."""
    unstored = []
    with transaction(db.engine) as s:
        for n, unit in enumerate(("1280.00", "1000.00", "900.00")):
            data = body(db, [fender_line(db, unit)], estimate_id=f"E-GROUP-{n}")
            outcome = estimates.validate_unstored(s, request(data), actor=f"tool {n}")
            assert isinstance(outcome, estimates.Unstored)
            unstored.append(outcome)
    inserts: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with transaction(db.engine) as s:
            stored = estimates.store_validations(s, unstored)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # SQLite: SQLAlchemy runs one per row there, to keep RETURNING in the rows' order
    assert len(inserts) == (1 if db.engine.dialect.name == "postgresql" else 3)
    assert [v.created_by for v in stored] == ["tool 0", "tool 1", "tool 2"]
    assert len({v.id for v in stored}) == 3 and all(v.created_at for v in stored)
    with transaction(db.engine) as s:
        for n, v in enumerate(stored):
            row = s.get(EstimateValidation, v.id)
            assert row is not None and row.estimate_id == f"E-GROUP-{n}" and row.result == v.result
        # 1280.00 and 1000.00 are above 1,039.50; 900.00 is not
        assert [s.get(EstimateValidation, v.id).cut_fen for v in stored] == [24050, 0, 0]
        again = estimates.validate(s, request(body(db, [fender_line(db)], estimate_id="E-GROUP-0")))
    assert again.reused and again.id == stored[0].id


@pytest.mark.postgres
def test_an_engine_that_does_not_wait_for_the_flush_says_so(empty_postgres_url: str):
    """The API stores validations on an engine of its own when
    PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT=off: its connections commit without waiting for
    the WAL flush; the main engine's wait."""
    import asyncio

    from pricebook.db import make_async_engine
    from pricebook.settings import Settings

    settings = Settings(database_url=empty_postgres_url)

    async def setting_of(engine) -> str:
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
        finally:
            await engine.dispose()

    async def both() -> tuple[str, str]:
        return (
            await setting_of(make_async_engine(settings)),
            await setting_of(make_async_engine(settings, pool_size=2, synchronous_commit=False)),
        )

    assert asyncio.run(both()) == ("on", "off")


def _unstored(name: str) -> estimates.Unstored:
    return estimates.Unstored({"estimate_id": name}, b"{}", actor=name)


async def test_the_writer_groups_what_arrives_while_a_store_is_in_flight():
    """The first validation is stored alone; the four that arrive while its INSERT runs go
    together in the next one; each request gets its own row back."""
    import asyncio

    from api.estimates import ValidationWriter

    release = asyncio.Event()
    calls: list[list[str]] = []

    async def store_batch(batch):
        calls.append([u.row["estimate_id"] for u in batch])
        if len(calls) == 1:
            await release.wait()  # the first INSERT is slow
        return [
            estimates.Validation(100 + len(calls) * 10 + i, None, u.actor, False, False, b"{}")
            for i, u in enumerate(batch)
        ]

    writer = ValidationWriter(store_batch)
    first = asyncio.create_task(writer.store(_unstored("A")))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(writer.store(_unstored(n))) for n in "BCDE"]
    await asyncio.sleep(0)
    release.set()
    stored = await asyncio.gather(first, *rest)
    assert calls == [["A"], ["B", "C", "D", "E"]]
    assert [(v.id, v.created_by) for v in stored] == [
        (110, "A"),
        (120, "B"),
        (121, "C"),
        (122, "D"),
        (123, "E"),
    ]
    assert (writer.rows, writer.inserts) == (5, 2)


async def test_a_row_that_cannot_be_stored_fails_only_its_own_request():
    import asyncio

    from api.estimates import ValidationWriter

    calls: list[list[str]] = []

    async def store_batch(batch):
        names = [u.row["estimate_id"] for u in batch]
        calls.append(names)
        if "BAD" in names:
            raise DBAPIError("INSERT", {}, Exception("value too long"))
        return [
            estimates.Validation(i, None, u.actor, False, False, b"{}") for i, u in enumerate(batch)
        ]

    writer = ValidationWriter(store_batch)
    tasks = [asyncio.create_task(writer.store(_unstored(n))) for n in ("OK1", "BAD", "OK2")]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(o).__name__ for o in outcomes] == ["Validation", "DBAPIError", "Validation"]
    # the batch failed as a whole, then each row was tried alone
    assert calls == [["OK1", "BAD", "OK2"], ["OK1"], ["BAD"], ["OK2"]]
    later = await writer.store(_unstored("LATER"))  # the writer goes on
    assert later.created_by == "LATER"


async def test_the_writer_stores_at_most_max_rows_per_insert():
    import asyncio

    from api.estimates import ValidationWriter

    release = asyncio.Event()
    calls: list[list[str]] = []

    async def store_batch(batch):
        calls.append([u.row["estimate_id"] for u in batch])
        if len(calls) == 1:
            await release.wait()
        return [
            estimates.Validation(i, None, u.actor, False, False, b"{}") for i, u in enumerate(batch)
        ]

    writer = ValidationWriter(store_batch, max_rows=2)
    tasks = [asyncio.create_task(writer.store(_unstored("A")))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(writer.store(_unstored(n))) for n in "BCDEF"]
    await asyncio.sleep(0)
    release.set()
    stored = await asyncio.gather(*tasks)
    assert calls == [["A"], ["B", "C"], ["D", "E"], ["F"]]
    assert [v.created_by for v in stored] == list("ABCDEF")
    assert (writer.rows, writer.inserts) == (6, 4)


async def test_closing_the_writer_drains_it_or_fails_what_it_cannot_store():
    """At shutdown: rows waiting are stored if their INSERT finishes in time; past the
    timeout, the requests still waiting get Unavailable (503) instead of hanging."""
    import asyncio

    from api.estimates import ValidationWriter
    from pricebook.errors import Unavailable

    release = asyncio.Event()

    async def store_batch(batch):
        await release.wait()
        return [
            estimates.Validation(i, None, u.actor, False, False, b"{}") for i, u in enumerate(batch)
        ]

    writer = ValidationWriter(store_batch)
    tasks = [asyncio.create_task(writer.store(_unstored(n))) for n in "AB"]
    await asyncio.sleep(0)
    closing = asyncio.create_task(writer.close(timeout=5))
    await asyncio.sleep(0)
    release.set()
    await closing
    assert [v.created_by for v in await asyncio.gather(*tasks)] == ["A", "B"]

    release.clear()  # the database hangs now
    writer = ValidationWriter(store_batch)
    tasks = [asyncio.create_task(writer.store(_unstored("C")))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(writer.store(_unstored("D"))))  # waits behind C
    await asyncio.sleep(0)
    await writer.close(timeout=0.05)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(o) for o in outcomes] == [Unavailable, Unavailable]
    assert "stopping" in str(outcomes[0])
    await writer.close()  # nothing left: returns at once


def test_validation_commit_setting():
    from pricebook.settings import Settings

    assert Settings.from_env({}).validation_synchronous_commit is True
    cases = (("off", False), ("FALSE", False), ("0", False), ("on", True), (" yes ", True))
    for raw, want in cases:
        env = {"PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT": raw}
        assert Settings.from_env(env).validation_synchronous_commit is want
    with pytest.raises(ValueError, match="PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT='sometimes'"):
        Settings.from_env({"PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT": "sometimes"})


def _lines(db, repeat: int) -> list[dict]:
    p = db.parts
    pattern = [
        {
            "type": "part",
            "part_id": p["VW1-0002"],
            "claimed_unit_price": "2000.00",
            "damaged_components": [{"part_id": p["VW1-0003"]}, {"oe_number": "5G0 805 071"}],
        },
        {"type": "part", "oe_number": "5G0-821-105-A", "claimed_unit_price": "1100.00"},
        {"type": "part", "custom_name": "左前叶子板", "claimed_unit_price": "1100.00"},
        {
            "type": "labor",
            "line_ref": 0,
            "operation": "replace",
            "labor_kind": "paint",
            "hours": "3",
            "claimed_rate": "150.00",
        },
        {
            "type": "consumable",
            "kind": "refrigerant",
            "quantity": "800",
            "unit": "g",
            "unit_price": "0.30",
        },
        {"type": "rescue", "distance_km": "25", "claimed_fee": "600.00"},
    ]
    return [dict(line) for _ in range(repeat) for line in pattern]


def _statements_of(db, data: dict, matcher, **kw) -> tuple[list[str], dict]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with transaction(db.engine) as s:
            result = estimates.validate(s, request(data), matcher=matcher, **kw).result
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statements, result


#: what a validation reads of the references this process keeps per generation
KEPT = (
    "FROM prices",
    "FROM fitments",
    "FROM standard_hours",
    "inclusion_closure",
    "FROM part_components",
    "FROM labor_rates",
    "FROM rule_profiles",
    "FROM vehicle_models",
    "FROM branches",
    "FROM regions",
    "FROM price_types",
    "FROM labor_kinds",
    "FROM channels",
    "FROM rate_card_labor",
    "FROM consumable_standards",
    "FROM rescue_tariffs",
)


CHANNEL_SHOP = {"tier": "4s", "channel_code": "CH-SHOP1"}


def test_statement_count_does_not_grow_with_lines(db):
    """Cold (nothing kept) and warm (the same references kept from a validation before): the
    count is the same for 6 and 240 lines (a channel shop; parts, labor, a consumable, a
    rescue); warm, only what is never kept is read."""
    matcher = fake_matcher({"左前叶子板": db.parts["VW1-0001"]})
    cold, warm = [], []
    for n, repeat in enumerate((1, 40)):
        estimates.clear_caches()
        data = body(
            db,
            _lines(db, repeat),
            estimate_id=f"E-COUNT-{n}",
            shop=CHANNEL_SHOP,
            vehicle={"model_id": db.model, "vin": f"LSVAB4BR5PN00000{n}"},
        )
        statements, result = _statements_of(db, data, matcher)
        assert len(result["lines"]) == 6 * repeat
        cold.append(len(statements))
        again = body(
            db,
            _lines(db, repeat),
            estimate_id=f"E-COUNT-WARM-{n}",
            shop=CHANNEL_SHOP,
            vehicle={"model_id": db.model, "vin": f"LSVAB4BR5PN00001{n}"},
        )
        statements, result_warm = _statements_of(db, again, matcher)
        assert result_warm["lines"] == result["lines"]
        warm.append(len(statements))
        read = " ".join(statements)
        assert not [kept for kept in KEPT if kept in read], read
    assert cold[0] == cold[1] and warm[0] == warm[1], (cold, warm)
    # PostgreSQL reads the static tables with the vehicle and the profiles, and fitment, prices,
    # standard hours and inclusions, one statement each (`_Statements.static`,
    # `_part_refs_statement`)
    most = 11 if db.engine.dialect.name == "postgresql" else 25
    assert cold[0] <= most and warm[0] < cold[0] - 7, (cold, warm)


def test_kept_answers_with_and_without_a_channel_card_stay_apart(db):
    """The memo keeps price resolutions per channel: CH-SHOP1's card prices body parts as
    brand, for which the fender has no price (SPEC_ABOVE_ORIGINAL, to be priced by hand, on
    top of the price cut); without the card only the price cut: 1,280.00 against SZ01's 990.00
    + 5% = 1,039.50. Interleaved, each answer is what a validation keeping nothing gives."""
    estimates.clear_caches()

    def fender(n: int, shop: dict, keep: int = estimates.MAX_REFERENCES) -> dict:
        data = body(
            db,
            [fender_line(db)],
            estimate_id=f"E-CARD-{n}",
            shop=shop,
            vehicle={"model_id": db.model, "vin": f"LSVAB4BR5PN0001{n:02d}"},
        )
        with transaction(db.engine) as s:
            line = estimates.validate(s, request(data), keep=keep).result["lines"][0]
        return {k: line[k] for k in ("allowed", "cut", "flags")}

    plain = {"tier": "4s"}
    answers = [fender(n, CHANNEL_SHOP if n % 2 else plain) for n in range(4)]
    assert answers[0] == answers[2] == fender(4, plain, keep=0)
    assert answers[1] == answers[3] == fender(5, CHANNEL_SHOP, keep=0)
    assert [f["code"] for f in answers[0]["flags"]] == ["PART_PRICE_ABOVE_REFERENCE"]
    assert (answers[0]["allowed"], answers[0]["cut"]) == ("1039.50", "240.50")
    spec, price = answers[1]["flags"]
    assert spec["code"] == "SPEC_ABOVE_ORIGINAL" and "CH-SHOP1" in spec["message_zh"]
    assert spec["reference"] is None and spec["cut"] == "0.00"
    assert price["code"] == "PART_PRICE_ABOVE_REFERENCE" and answers[1]["allowed"] == "1039.50"


def test_an_unknown_channel_is_422_until_it_exists(db):
    """ "No such channel" is kept like any reference, and goes with the generation: once the
    channel is added (here by hand, as in psql), the next validation finds it."""
    estimates.clear_caches()
    data = body(db, [fender_line(db)], shop={"tier": "4s", "channel_code": "CH-NEW"})
    for _ in range(2):
        with transaction(db.engine) as s, pytest.raises(InvalidInput) as err:
            estimates.validate(s, request(data))
        assert err.value.field == "shop.channel_code"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO channels (code, name, kind) VALUES ('CH-NEW', '新渠道', 'repair_shop')"
            )
        )
    with transaction(db.engine) as s:
        line = estimates.validate(s, request(data)).result["lines"][0]
    assert line["allowed"] == "1039.50"  # no card in force: the branch's price, as without one


def test_keeping_no_references_reads_them_all_every_time(db):
    """`PRICEBOOK_REFERENCE_CACHE_ENTRIES=0` (keep=0): nothing is kept between validations."""
    from pricebook.settings import Settings

    assert (
        Settings.from_env({"PRICEBOOK_REFERENCE_CACHE_ENTRIES": "0"}).reference_cache_entries == 0
    )
    assert Settings.from_env({}).reference_cache_entries == estimates.MAX_REFERENCES
    estimates.clear_caches()
    matcher = fake_matcher({"左前叶子板": db.parts["VW1-0001"]})
    counts = []
    for n in range(2):
        data = body(
            db,
            _lines(db, 1),
            estimate_id=f"E-KEEP0-{n}",
            vehicle={"model_id": db.model, "vin": f"LSVAB4BR5PN00002{n}"},
        )
        statements, _ = _statements_of(db, data, matcher, keep=0)
        read = " ".join(statements)
        for kept in (
            "FROM prices",
            "FROM fitments",
            "inclusion_closure",
            "FROM labor_rates",
            "FROM rule_profiles",
            "FROM branches",
            "FROM vehicle_models",
        ):
            assert kept in read, (n, kept)
        counts.append(len(statements))
    assert counts[0] == counts[1]
    assert not memo._REFERENCES


def _flag(line: dict, code: str) -> dict:
    return next(f for f in line["flags"] if f["code"] == code)


def test_a_change_made_elsewhere_is_seen_by_the_next_validation(db):
    """The references kept in this process follow the database's reference generation, moved
    by triggers: a price version closed by hand (as in psql, not through pricebook) is seen at
    once. Fender: SZ01's 990.00 → allowed 1,039.50 (5%); with it closed, the system's 1,050.00
    → allowed 1,102.50. A price change moves only the generation's `prices`: the next
    validation (a channel shop's, with labor, a consumable and a rescue: everything kept is
    used) reads prices again and nothing else it keeps."""
    estimates.clear_caches()
    first = body(
        db, [fender_line(db), *_lines(db, 1)[3:]], estimate_id="E-GEN-1", shop=CHANNEL_SHOP
    )
    with transaction(db.engine) as s:
        before = estimates.validate(s, request(first)).result["lines"][0]
    reference = _flag(before, "PART_PRICE_ABOVE_REFERENCE")["reference"]
    assert (reference["value"], before["allowed"]) == ("990.00", "1039.50")

    def counters() -> tuple[int, int]:
        with db.engine.connect() as conn:
            return tuple(conn.execute(text("SELECT value, prices FROM reference_generation")).one())

    start = counters()
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE prices SET valid_to = '2025-09-01' WHERE id = :id"),
            {"id": reference["provenance"]["price_id"]},
        )
    moved = counters()
    assert moved[0] == start[0] and moved[1] > start[1]
    second = body(
        db,
        [fender_line(db), *_lines(db, 1)[3:]],
        estimate_id="E-GEN-2",
        shop=CHANNEL_SHOP,
        vehicle={"model_id": db.model, "vin": "LSVAB4BR5PN000002"},
    )
    statements, result = _statements_of(db, second, None)
    after = result["lines"][0]
    reference = _flag(after, "PART_PRICE_ABOVE_REFERENCE")["reference"]
    assert (reference["value"], reference["provenance"]["scope"]) == ("1050.00", "system")
    assert (after["allowed"], after["cut"]) == ("1102.50", "177.50")
    read = " ".join(statements)
    assert "FROM prices" in read
    assert not [kept for kept in KEPT if kept != "FROM prices" and kept in read], read


#: the tables whose rows move the reference generation (migrations 0007 and 0009)
GENERATION_TABLES: tuple[str, ...] = tuple(
    table
    for revision in ("0007", "0009")
    for table in ScriptDirectory.from_config(migrate.alembic_config())
    .get_revision(revision)
    .module.TABLES
)


def test_every_table_whose_rows_validation_keeps_moves_the_generation():
    """The kept references are only as fresh as the generation: every table a kept statement
    reads (and the small static tables) must have the triggers of migration 0007 or 0009."""
    from sqlalchemy.sql.util import find_tables

    from pricebook.models import Base

    q = statements._Statements("postgresql")
    kept = [
        q.vehicle,
        q.profiles,
        q.parts,
        q.components,
        q.fitment,
        q.prices,
        q.labor_rates,
        q.hours,
        q.inclusions,
        q.card_parts,
        q.card_labor,
        q.consumables,
        q.rescue,
        q.static,
    ]
    read = {
        t.name
        for st in kept
        for t in find_tables(st, include_joins=True, include_aliases=True)
        if getattr(t, "name", None) in Base.metadata.tables
    }
    read |= {"branches", "regions", "price_types", "labor_kinds"}  # memo._load_static
    assert {"operation_inclusions", "prices", "rate_card_parts", "rescue_tariffs"} <= read
    assert read <= set(GENERATION_TABLES), read - set(GENERATION_TABLES)


@pytest.mark.parametrize("table", GENERATION_TABLES)
def test_every_kept_table_moves_the_generation_once_per_transaction(db, table):
    """A write to any table whose rows validation keeps moves the generation when it commits
    (once per transaction on PostgreSQL, however many rows); a rolled-back one does not."""
    versioned = table in (
        "prices",
        "labor_rates",
        "standard_hours",
        "rule_profiles",
        "rate_cards",
        "consumable_standards",
        "rescue_tariffs",
    )
    key = {"part_components": "assembly_id", "fitments": "part_id"}.get(table, "id")
    # versioned rows may only be shortened; every other row is rewritten as it was
    change = (
        f"UPDATE {table} SET valid_to = '2999-01-01' WHERE valid_to IS NULL AND id IN "
        f"(SELECT id FROM {table} WHERE valid_to IS NULL ORDER BY id LIMIT 2)"
        if versioned
        else f"UPDATE {table} SET {key} = {key} WHERE {key} IN "
        f"(SELECT {key} FROM {table} ORDER BY {key} LIMIT 2)"
    )

    counter = "prices" if table == "prices" else "value"  # migration 0010

    def generation() -> int:
        with db.engine.connect() as conn:
            return conn.execute(text(f"SELECT {counter} FROM reference_generation")).scalar_one()

    start = generation()
    with db.engine.connect() as conn, conn.begin() as tx:
        assert conn.execute(text(change)).rowcount >= 1
        tx.rollback()
    assert generation() == start
    with db.engine.begin() as conn:
        rows = conn.execute(text(change)).rowcount
    moved = generation() - start
    assert moved == (1 if db.engine.dialect.name == "postgresql" else rows)


def test_a_request_reading_an_older_generation_does_not_fill_the_shared_memo(db):
    """Under snapshot isolation a request may read the generation before a write commits and
    load after: it gets a memo of its own, the process keeps the newer one. A newer generation
    replaces the memo; when only prices moved, the new memo keeps everything but prices."""
    estimates.clear_caches()
    with transaction(db.engine) as s:
        current = memo._references(s.connection())
        assert memo._references(s.connection()) is current  # the same generation: shared
        url = str(s.get_bind().url)
        now = current.generation
        for newer in (now._replace(value=now.value + 1), now._replace(prices=now.prices + 1)):
            memo._REFERENCES[url] = memo._References(newer)
            older = memo._references(s.connection())
            assert older is not memo._REFERENCES[url] and older.generation == now
            assert memo._REFERENCES[url].generation == newer
        # a newer generation replaces the older memo …
        memo._REFERENCES[url] = memo._References(now._replace(value=now.value - 1))
        assert memo._references(s.connection()).generation == now
        # … keeping what prices do not decide when only they moved
        kept = memo._References(now._replace(prices=now.prices - 1))
        kept.fitted[(1, 2)] = True
        kept.prices[(2, "where")] = ()
        kept.entries = 2
        memo._REFERENCES[url] = kept
        fresh = memo._references(s.connection())
        assert fresh is memo._REFERENCES[url] and fresh.generation == now
        assert fresh.fitted is kept.fitted and fresh.prices == {} and fresh.entries == 1
    estimates.clear_caches()


def _walked(container) -> list:
    """What of `container` (a memo dict, or any nesting of dicts, tuples and structs) the
    cyclic garbage collector still tracks after a collection."""
    gc.collect()
    tracked, todo = [], [container]
    while todo:
        x = todo.pop()
        if isinstance(x, dict):
            todo.extend(x.keys())
            todo.extend(x.values())
        elif isinstance(x, (tuple, list)):
            if gc.is_tracked(x):
                tracked.append(x)
            todo.extend(x)
        elif isinstance(x, msgspec.Struct):
            if gc.is_tracked(x):
                tracked.append(x)
            todo.extend(getattr(x, f) for f in x.__struct_fields__)
    return tracked


def test_what_a_process_keeps_between_validations_is_nothing_the_collector_walks(db):
    """A server keeps ~100,000 references (`memo._References`), the matcher's answers and the
    blocks it builds on first use. Walked by every full collection they were a pause of
    100–200 ms in whichever request was running (the open loop's tail); held in untracked
    containers of `gc=False` structs, the collector never visits them."""
    from pricebook.matching.loader import refresh_snapshot

    estimates.clear_caches()
    with transaction(db.engine) as s:
        index = refresh_snapshot(s, None).index
    data = body(
        db,
        [
            *_lines(db, 2),
            {"type": "part", "custom_name": "左前大灯总成", "claimed_unit_price": "900"},
        ],
        shop=CHANNEL_SHOP,
        vehicle={"model_id": db.model, "vin": "LSVAB4BR5PN000099"},
    )
    with transaction(db.engine) as s:
        result = estimates.validate(s, request(data), matcher=index).result
    assert result["lines"][-1]["match"]["decision"] in ("matched", "suggested")
    (kept,) = memo._REFERENCES.values()
    assert kept.prices and kept.parts and kept.resolved  # the memo is filled …
    for kind in ("vehicles", "parts", "components", "fitted", "prices", "hours", "resolved"):
        assert _walked(getattr(kept, kind)) == [], kind  # … and nothing in it is walked
    assert index._memo and _walked(index._memo) == []
    blocks = list(index._blocks.values())
    assert blocks
    for block in blocks:
        assert [f for f in block.__slots__ if gc.is_tracked(getattr(block, f))] == []


def test_custom_names_go_through_the_matcher_first(db):
    matcher = fake_matcher({"左前叶子板": db.parts["VW1-0001"]})
    data = body(
        db,
        [
            {"type": "part", "custom_name": "左前叶子板", "claimed_unit_price": "1000.00"},
            {"type": "part", "custom_name": "不存在的件", "claimed_unit_price": "10.00"},
        ],
    )
    with transaction(db.engine) as s:
        result = estimates.validate(s, request(data), matcher=matcher).result
    matched, unmatched = result["lines"]
    assert matched["part"]["code"] == "VW1-0001" and matched["match"]["decision"] == "matched"
    assert matched["status"] == "ok" and matched["flags"][0]["severity"] == "info"
    assert unmatched["flags"][0]["code"] == "CUSTOM_PART" and unmatched["status"] == "flagged"
    assert result["indicators"] == {
        "part_lines": 2,
        "custom_part_lines": 2,
        "custom_matched": 1,
        "model_selected": True,
    }


def test_repeat_claim_across_estimates(db):
    with transaction(db.engine) as s:
        estimates.validate(
            s, request(body(db, [fender_line(db, "990.00")], estimate_id="E-A", date="2025-08-01"))
        )
        later = estimates.validate(
            s, request(body(db, [fender_line(db, "990.00")], estimate_id="E-B"))
        )
    flag = later.result["lines"][0]["flags"][0]
    assert flag["code"] == "REPEAT_CLAIM" and flag["details"]["earlier_estimate_id"] == "E-A"
    assert later.result["lines"][0]["allowed"] == "0.00"


def test_repeat_claim_only_within_the_window_and_on_the_same_vin(db):
    """SZ01's window is 365 days. The fender was replaced on this VIN (typed in lower case: VINs
    compare normalized) on 2025-01-02, 368 days before 2026-01-05: not a repeat claim; nor is
    another VIN's replacement on 2025-12-01. Then one on 2026-01-04, a day before, is: allowed
    0.00."""
    vin = {"model_id": db.model, "vin": "LSVAB4BR5PN000077"}

    def fender(estimate_id: str, date: str, vehicle: dict = vin, **kw):
        data = body(
            db,
            [fender_line(db, "990.00")],
            estimate_id=estimate_id,
            date=date,
            submitted_at=f"{date}T10:00:00+08:00",
            vehicle=vehicle,
            **kw,
        )
        return estimates.validate(s, request(data)).result["lines"][0]

    with transaction(db.engine) as s:
        fender("E-OLD", "2025-01-02", {"model_id": db.model, "vin": "lsvab4br5pn000077"})
        fender("E-OTHER", "2025-12-01", {"model_id": db.model, "vin": "LSVAB4BR5PN000078"})
        alone = fender("E-NOW", "2026-01-05")
        fender("E-IN", "2026-01-04")  # 367 days after E-OLD: paid, not a repeat itself
        again = fender(
            "E-NOW", "2026-01-05", {"model_id": db.model, "vin": "lsvab4br5pn000077"}, version=2
        )
        replaced = dict(
            s.execute(
                select(EstimateValidation.estimate_id, EstimateValidation.replaced_part_ids)
            ).all()
        )
    # the earlier ones did replace the fender and were paid: only the window and VIN keep them out
    assert replaced["E-OLD"] == replaced["E-OTHER"] == replaced["E-IN"] == [db.parts["VW1-0001"]]
    assert "REPEAT_CLAIM" not in {f["code"] for f in alone["flags"]}
    assert alone["allowed"] == "990.00"
    flag = next(f for f in again["flags"] if f["code"] == "REPEAT_CLAIM")
    assert flag["details"]["earlier_estimate_id"] == "E-IN" and flag["details"]["days"] == 1
    assert (again["allowed"], again["cut"]) == ("0.00", "990.00")


def test_rescue_consumable_and_labor_from_the_database(db):
    data = body(
        db,
        [
            {"type": "part", "part_id": db.parts["VW1-0001"], "claimed_unit_price": "990.00"},
            {
                "type": "labor",
                "line_ref": 0,
                "operation": "replace",
                "labor_kind": "paint",
                "hours": "2",
                "claimed_rate": "150.00",
            },
            {"type": "rescue", "distance_km": "25", "claimed_fee": "650.00"},
            {
                "type": "consumable",
                "kind": "refrigerant",
                "quantity": "0.9",
                "unit": "kg",
                "unit_price": "300.00",
            },
        ],
    )
    with transaction(db.engine) as s:
        lines = estimates.validate(s, request(data)).result["lines"]
    # paint 2 h × 150.00: SZ01 standard paint 4s class B 110.00 → 220.00, cut 80.00
    assert (lines[1]["allowed"], lines[1]["flags"][0]["code"]) == (
        "220.00",
        "LABOR_RATE_ABOVE_STANDARD",
    )
    assert (lines[2]["allowed"], lines[2]["cut"]) == ("530.00", "120.00")
    assert (lines[3]["allowed"], lines[3]["cut"]) == ("132.00", "138.00")


#: the headlamp assembly's components priced (system 4S), and a chain of inclusions through a
#: part no line names: replacing the bumper beam includes R&I of the bumper cover, whose R&I
#: includes R&I of the fog lamp (and, a data loop, the fog lamp's R&I includes the cover's)
ASSEMBLY_AND_CHAIN = {
    "parts": [
        {
            "part_code": "VW1-0011",
            "name": "前保险杠骨架",
            "aliases": "",
            "category": "body",
            "oe_number": "5G0 807 109",
        },
        {
            "part_code": "VW1-0012",
            "name": "前保险杠皮",
            "aliases": "",
            "category": "body",
            "oe_number": "5G0 807 217",
        },
        {
            "part_code": "VW1-0013",
            "name": "左前雾灯",
            "aliases": "",
            "category": "lamp",
            "oe_number": "5G0 941 661",
        },
    ],
    "prices": [
        {
            "part_code": code,
            "model_code": "",
            "scope": "system",
            "price_type": "4s",
            "amount_yuan": amount,
            "valid_from": "2025-01-01",
            "valid_to": "",
        }
        for code, amount in (("VW1-0002", "1800.00"), ("VW1-0003", "120.00"), ("VW1-0004", "85.00"))
    ],
    "standard_hours": [
        {
            "part_code": "VW1-0011",
            "operation": "replace",
            "vehicle_class": "B",
            "labor_kind": "sheet_metal",
            "hours": "2.0",
            "includes": "remove_refit@VW1-0012",
        },
        {
            "part_code": "VW1-0012",
            "operation": "remove_refit",
            "vehicle_class": "B",
            "labor_kind": "remove_refit",
            "hours": "1.0",
            "includes": "remove_refit@VW1-0013",
        },
        {
            "part_code": "VW1-0013",
            "operation": "remove_refit",
            "vehicle_class": "B",
            "labor_kind": "remove_refit",
            "hours": "0.3",
            "includes": "remove_refit@VW1-0012",
        },
    ],
}


def headlamp_line(db, *damaged, qty="1") -> dict:
    return {
        "type": "part",
        "part_id": db.parts["VW1-0002"],
        "claimed_unit_price": "1800.00",
        "price_type": "4s",
        "quantity": qty,
        "damaged_components": list(damaged),
    }


def test_assembly_with_damaged_components_from_the_database(db):
    """前大灯总成（左） claimed 1,800.00 (its 4S reference 1,800.00: within the price rule);
    components: bulb 120.00 ×1, bracket 85.00 ×2. Without names: 120.00 + 170.00 = 290.00, cut
    1,510.00. Naming the bulb by its OE number: allowed 120.00, cut 1,680.00. Two headlamps with
    damaged brackets (by part id): 2 × 85.00 × 2 = 340.00 of 3,600.00, cut 3,260.00."""
    with transaction(db.engine) as s:
        catalog_rows.load(s, {"prices": ASSEMBLY_AND_CHAIN["prices"]})
    p = db.parts
    cases = [
        ([headlamp_line(db)], "290.00", "all_components"),
        ([headlamp_line(db, {"oe_number": "N 105 182 02"})], "120.00", "damaged_components"),
        ([headlamp_line(db, {"part_id": p["VW1-0004"]}, qty="2")], "340.00", "damaged_components"),
    ]
    for n, (lines, allowed, basis) in enumerate(cases):
        with transaction(db.engine) as s:
            res = estimates.validate(
                s, request(body(db, lines, estimate_id="E-ASM", version=n + 1))
            ).result
        line = res["lines"][0]
        flag = line["flags"][0]
        assert flag["code"] == "ASSEMBLY_WHERE_COMPONENT_AVAILABLE", flag
        assert (line["allowed"], flag["details"]["basis"]) == (allowed, basis)
    assert "大灯支架（左）×2 170.00" in flag["message_zh"] and line["cut"] == "3260.00"
    # a damaged component the catalogue lacks: not an error; all the components, with a note
    lines = [headlamp_line(db, {"part_id": p["VW1-0003"]}, {"oe_number": "NO-SUCH-OE"})]
    with transaction(db.engine) as s:
        res = estimates.validate(s, request(body(db, lines, estimate_id="E-ASM", version=9))).result
    assert res["lines"][0]["allowed"] == "290.00"
    assert [n for n in res["notes"] if n["code"] == "DAMAGED_COMPONENT_UNKNOWN"] == [
        {
            "code": "DAMAGED_COMPONENT_UNKNOWN",
            "message_zh": "第 1 行 damaged_components[1] NO-SUCH-OE 不在目录中：总成规则按全部组件核定。",
            "message_en": "line 1: damaged_components[1] 'NO-SUCH-OE' is not in the catalogue: the "
            "assembly rule allows all the components.",
            "field": "lines[0].damaged_components[1]",
            "index": 0,
            "line_no": 1,
        }
    ]


def test_damaged_component_not_of_the_assembly_is_422(db):
    p = db.parts
    cases = [
        # the fender is in the catalogue but not a component of the headlamp
        (
            [
                fender_line(db),
                headlamp_line(db, {"part_id": p["VW1-0003"]}, {"part_id": p["VW1-0001"]}),
            ],
            "lines[1].damaged_components[1]",
        ),
        ([headlamp_line(db, {"oe_number": "5G0 821 105 A"})], "lines[0].damaged_components[0]"),
        # the fender has no components at all
        (
            [fender_line(db, damaged_components=[{"part_id": p["VW1-0003"]}])],
            "lines[0].damaged_components[0]",
        ),
        (
            [headlamp_line(db, {"part_id": p["VW1-0003"], "oe_number": "N 105 182 02"})],
            "lines[0].damaged_components[0].part_id",
        ),
        ([headlamp_line(db, {"oe_number": " "})], "lines[0].damaged_components[0].part_id"),
        (
            [headlamp_line(db, {"part_id": p["VW1-0003"], "qty": 1})],
            "lines[0].damaged_components[0].qty",
        ),
    ]
    for lines, field in cases:
        with transaction(db.engine) as s, pytest.raises(InvalidInput) as err:
            estimates.validate(s, request_or_raise(body(db, lines)))
        assert err.value.field == field, (lines, err.value.message)
    with transaction(db.engine) as s, pytest.raises(InvalidInput) as err:
        estimates.validate(s, request(body(db, cases[0][0])))
    assert err.value.message.startswith(
        "line 2: part VW1-0001 左前翼子板 is not a component of VW1-0002"
    )


def test_a_request_stored_before_damaged_components_reads_the_same(db):
    # stored requests predating the field lack it: the same estimate must not look different
    data = body(db, [fender_line(db)])
    now = validation._json(request(data))
    before = json.loads(json.dumps(now))
    del before["lines"][0]["damaged_components"]
    assert validation._canonical(validation._as_now(before)) == validation._canonical(now)


def test_labor_overlap_through_a_part_no_line_names(db):
    """Replace 前保险杠骨架 2.00 h × 90.00 = 180.00 and R&I 左前雾灯 0.30 h × 60.00 = 18.00: the
    fog lamp's R&I is in the beam's hours through the bumper cover's R&I, which no line names
    (loaded by the recursive query; the cover ↔ fog lamp loop ends) → cut 18.00."""
    with transaction(db.engine) as s:
        catalog_rows.load(s, {k: ASSEMBLY_AND_CHAIN[k] for k in ("parts", "standard_hours")})
        ids = {p.code: p.id for p in s.scalars(select(Part))}
    lines = [
        {
            "type": "labor",
            "part_id": ids["VW1-0011"],
            "operation": "replace",
            "labor_kind": "sheet_metal",
            "hours": "2.0",
            "claimed_rate": "90.00",
        },
        {
            "type": "labor",
            "part_id": ids["VW1-0013"],
            "operation": "remove_refit",
            "labor_kind": "remove_refit",
            "hours": "0.3",
            "claimed_rate": "60.00",
        },
    ]
    with transaction(db.engine) as s:
        res = estimates.validate(s, request(body(db, lines))).result
    beam, fog = res["lines"]
    assert (beam["status"], beam["cut"]) == ("ok", "0.00")
    assert beam["includes"] == [
        {
            "part_id": ids["VW1-0012"],
            "part_name": "前保险杠皮",
            "operation": "remove_refit",
            "claimed_on_line": None,
            "claimed_on_line_no": None,
        }
    ]
    assert (fog["claimed"], fog["allowed"], fog["cut"]) == ("18.00", "0.00", "18.00")
    flag = fog["flags"][0]
    assert flag["code"] == "LABOR_OVERLAP" and flag["details"]["included_in_line"] == 0
    assert [(s["part_name"], s["operation"]) for s in flag["details"]["path"]] == [
        ("前保险杠骨架", "replace"),
        ("前保险杠皮", "remove_refit"),
        ("左前雾灯", "remove_refit"),
    ]
    assert "更换前保险杠骨架 → 拆装前保险杠皮 → 拆装左前雾灯" in flag["message_zh"]


def test_errors_name_the_field(db):
    cases = [
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "abc"}],
            "lines[0].claimed_unit_price",
        ),
        (
            [fender_line(db), {"type": "part", "part_id": 1, "claimed_unit_price": "1.001"}],
            "lines[1].claimed_unit_price",
        ),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "NaN"}],
            "lines[0].claimed_unit_price",
        ),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "1e999999"}],
            "lines[0].claimed_unit_price",
        ),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "-5"}],
            "lines[0].claimed_unit_price",
        ),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "5", "repair_cost": "3"}],
            "lines[0].repair_cost",
        ),
        ([{"type": "part", "part_id": 1, "action": "repair"}], "lines[0].repair_cost"),
        ([{"type": "part", "claimed_unit_price": "5"}], "lines[0].part_id"),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "5", "quantity": "0"}],
            "lines[0].quantity",
        ),
        (
            [
                {
                    "type": "labor",
                    "line_ref": 5,
                    "operation": "paint",
                    "labor_kind": "paint",
                    "hours": "1",
                    "claimed_rate": "1",
                }
            ],
            "lines[0].line_ref",
        ),
        (
            [
                {
                    "type": "labor",
                    "operation": "paint",
                    "labor_kind": "painting",
                    "hours": "1",
                    "claimed_rate": "1",
                }
            ],
            "lines[0].labor_kind",
        ),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "5", "price_type": "gold"}],
            "lines[0].price_type",
        ),
        (
            [{"type": "part", "part_id": 1, "claimed_unit_price": "5", "colour": "red"}],
            "lines[0].colour",
        ),
        ([{"type": "nope"}], "lines[0].type"),
        ([], "lines"),
    ]
    for lines, field in cases:
        with transaction(db.engine) as s, pytest.raises(InvalidInput) as err:
            estimates.validate(s, request_or_raise(body(db, lines)))
        assert err.value.field == field, (lines, err.value.message)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"lines": []}, "lines", "lines: an estimate needs at least one line"),
        ({"branch": None}, "branch", "branch is required"),
        ({"vehicle": None}, "vehicle", "vehicle is required"),
        (
            {"date": "2025/09/10"},
            "date",
            "date: Invalid RFC3339 encoded date; expected a date as YYYY-MM-DD",
        ),
        (
            {"submitted_at": "yesterday"},
            "submitted_at",
            "expected a date-time as YYYY-MM-DDTHH:MM:SS",
        ),
        (
            {"shop": {"tier": "5s"}},
            "shop.tier",
            "shop.tier: '5s' is not one of 4s, class1, class2, class3",
        ),
        (
            {"policy": {"glass": "plastic"}},
            "policy.glass",
            "'plastic' is not one of domestic, imported",
        ),
        ({"shop": {"grade": 1}}, "shop.grade", "shop.grade is not a known field"),
    ],
)
def test_422s_name_the_field_with_a_hint(db, change, field, message):
    """Every 422 names its field (a missing one too) and says what was expected."""
    data = body(db, [fender_line(db)])
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with transaction(db.engine) as s, pytest.raises(InvalidInput) as err:
        estimates.validate(s, request_or_raise(data))
    assert err.value.field == field and message in err.value.message, err.value.message


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (
            {"type": "part", "part_id": 1, "claimed_unit_price": "5", "action": "swap"},
            "lines[1].action",
            "line 2: lines[1].action: 'swap' is not one of repair, replace",
        ),
        (
            {"type": "labour"},
            "lines[1].type",
            "line 2: lines[1].type: 'labour' is not one of consumable, labor, part, rescue",
        ),
        (
            {"type": "part", "part_id": 1, "claimed_unit_price": "5", "quantity": "0"},
            "lines[1].quantity",
            "line 2: lines[1].quantity must be more than 0",
        ),
        (
            {
                "type": "labor",
                "line_ref": 5,
                "operation": "paint",
                "labor_kind": "paint",
                "hours": "1",
                "claimed_rate": "1",
            },
            "lines[1].line_ref",
            "line 2: line_ref 5 (line 6) is not a part line",
        ),
        (
            {
                "type": "labor",
                "operation": "paint",
                "labor_kind": "painting",
                "hours": "1",
                "claimed_rate": "1",
            },
            "lines[1].labor_kind",
            "line 2: labor_kind must be one of",
        ),
    ],
)
def test_line_errors_number_lines_from_1(db, line, field, message):
    """The field stays the 0-based JSON path; the message counts lines as adjusters do."""
    with transaction(db.engine) as s, pytest.raises(InvalidInput) as err:
        estimates.validate(s, request_or_raise(body(db, [fender_line(db), line])))
    assert err.value.field == field and err.value.message.startswith(message), err.value.message


def request_or_raise(data):
    return estimates.decode_request(json.dumps(data))


def test_profiles_are_versioned(db):
    with transaction(db.engine) as s:
        again = review_config.import_review_config(s, CONFIG, actor="test", reason="test config")
        assert again.inserted["rule_profiles"] == 0 and again.unchanged["rule_profiles"] == 2
        doc = {
            "rule_profiles": [
                {
                    "code": "SZ01",
                    "branch": "SZ01",
                    "valid_from": "2025-09-01",
                    "settings": {"price_tolerance_pct": "10"},
                }
            ]
        }
        report = review_config.import_review_config(s, doc, actor="staff", reason="更宽容差")
        assert report.inserted["rule_profiles"] == 1 and report.closed["rule_profiles"] == 1
        rows = s.scalars(
            select(RuleProfileVersion)
            .where(RuleProfileVersion.code == "SZ01")
            .order_by(RuleProfileVersion.version)
        ).all()
        assert [(r.version, r.valid_to) for r in rows] == [(1, date(2025, 9, 1)), (2, None)]
        assert rows[1].settings["price_tolerance_pct"] == "10"
        assert rows[1].settings["repeat_claim_window_days"] == 365  # defaults filled in
        # 1,280.00 vs 990.00 + 10% = 1,089.00 from the new version on
        res = estimates.validate(s, request(body(db, [fender_line(db)], estimate_id="E-V2"))).result
        assert res["profile_version"] == 2 and res["lines"][0]["allowed"] == "1089.00"
        old = estimates.validate(
            s, request(body(db, [fender_line(db)], estimate_id="E-V1", date="2025-08-15"))
        ).result
        assert old["profile_version"] == 1 and old["lines"][0]["allowed"] == "1039.50"
        with pytest.raises(InvalidInput) as err:
            review_config.import_review_config(
                s,
                {
                    "rule_profiles": [
                        {
                            "code": "x",
                            "valid_from": "2025-01-01",
                            "settings": {"price_tolerance_pct": "abc"},
                        }
                    ]
                },
                actor="t",
            )
        assert err.value.field == "rule_profiles[0].settings.price_tolerance_pct"
        with pytest.raises(InvalidInput):
            review_config.import_review_config(
                s,
                {
                    "rule_profiles": [
                        {"code": "x", "valid_from": "2025-01-01", "settings": {"typo": 1}}
                    ]
                },
                actor="t",
            )


def test_a_review_config_change_needs_a_reason_and_closing_is_audited(db):
    doc = {
        "rule_profiles": [
            {
                "code": "SZ01",
                "branch": "SZ01",
                "valid_from": "2025-09-01",
                "settings": {"price_tolerance_pct": "10"},
            }
        ]
    }
    with transaction(db.engine) as s:
        for reason in ("", "   "):
            with pytest.raises(InvalidInput) as err:
                review_config.import_review_config(s, doc, actor="staff", reason=reason)
            assert err.value.field == "reason"
        # the one versioned-write rule: a reason even when nothing would change
        with pytest.raises(InvalidInput) as err:
            review_config.import_review_config(s, CONFIG, actor="staff", reason="")
        assert err.value.field == "reason"
    with transaction(db.engine) as s:
        assert (
            s.scalar(
                select(RuleProfileVersion.valid_to).where(
                    RuleProfileVersion.code == "SZ01", RuleProfileVersion.version == 1
                )
            )
            is None
        )
        report = review_config.import_review_config(s, doc, actor="staff", reason="更宽容差")
        assert report.closed["rule_profiles"] == 1
        first = s.scalar(
            select(RuleProfileVersion.id).where(
                RuleProfileVersion.code == "SZ01", RuleProfileVersion.version == 1
            )
        )
        entries = s.scalars(select(AuditEntry).where(AuditEntry.actor == "staff")).all()
    assert {(e.action, e.entity) for e in entries} == {
        ("close", "rule_profiles"),
        ("supersede", "rule_profiles"),
    }
    (closing,) = [e for e in entries if e.action == "close"]
    assert closing.entity_id == str(first) and closing.reason == "更宽容差"
    assert closing.after == {"valid_to": "2025-09-01"} and closing.before == {"valid_to": None}


def test_default_profile_when_the_branch_has_none(db):
    with transaction(db.engine) as s:
        res = estimates.validate(s, request(body(db, [fender_line(db)], branch="GD01"))).result
    assert res["profile_code"] == "default"


def test_stored_validations_are_append_only(db):
    with transaction(db.engine) as s:
        estimates.validate(s, request(body(db, [fender_line(db)])))
    for sql in (
        "UPDATE estimate_validations SET cut_fen = 0",
        "DELETE FROM estimate_validations",
        "DELETE FROM rule_profiles",
        "UPDATE rule_profiles SET code = 'x'",
    ):
        with pytest.raises((IntegrityError, DBAPIError)), transaction(db.engine) as s:
            s.execute(text(sql))


def test_stored_summary_columns_and_their_fill_by_migration_0011(db):
    """What the indicators and the validations list read without reading the result: the part
    of each part line (as often as claimed, not the labor line's), flags by code, flagged
    lines. Rows stored before 0011 get the same from their results when it runs."""
    matcher = fake_matcher({"左前叶子板": db.parts["VW1-0001"]})
    lines = [
        fender_line(db),  # 1,280.00 over 1,039.50: flagged
        {"type": "part", "custom_name": "左前叶子板", "claimed_unit_price": "500.00"},  # ok
        {"type": "part", "part_id": 999_999, "claimed_unit_price": "10.00"},  # unknown
        {
            "type": "labor",
            "line_ref": 0,
            "operation": "replace",
            "labor_kind": "sheet_metal",
            "hours": "1.5",
            "claimed_rate": "120.00",
        },
    ]
    with transaction(db.engine) as s:
        result = estimates.validate(s, request(body(db, lines)), matcher=matcher).result
    columns = (
        EstimateValidation.part_ids,
        EstimateValidation.flag_counts,
        EstimateValidation.flagged_lines,
    )

    def stored() -> tuple:
        with transaction(db.engine) as s:
            return tuple(s.execute(select(*columns)).one())

    fender = db.parts["VW1-0001"]
    part_ids, counts, flagged = stored()
    assert part_ids == [fender, fender]
    assert counts == result["counts"] and counts["PART_PRICE_ABOVE_REFERENCE"] == 1
    assert flagged == sum(1 for line in result["lines"] if line["status"] == "flagged") >= 1
    migrate.downgrade(db.engine, "0010")
    migrate.upgrade(db.engine)
    assert stored() == (part_ids, counts, flagged)
    with pytest.raises((IntegrityError, DBAPIError)), transaction(db.engine) as s:
        s.execute(text("UPDATE estimate_validations SET flagged_lines = 0"))  # guarded again


def test_demo_review_config_loads_twice_without_change(engine):
    from pricebook.demo import load_demo

    first = load_demo(engine)[-1]  # `demo load` ends with the review configuration
    with transaction(engine) as s:
        second = review_config.load_demo_review_config(s)
    assert isinstance(first, review_config.ConfigReport)
    assert sum(first.inserted.values()) > 0 and sum(second.inserted.values()) == 0


# ------------------------------------------------------------------------------------------------
# Over HTTP
# ------------------------------------------------------------------------------------------------


async def test_http_validate_end_to_end(http):
    api, parts = http.api, http.parts
    lines = [
        {
            "type": "part",
            "part_id": parts["VW1-0001"],
            "claimed_unit_price": "1280.00",
            "price_type": "4s",
        },
        {"type": "part", "custom_name": "左前叶子板", "claimed_unit_price": "1000.00"},
        {"type": "part", "part_id": 999999, "claimed_unit_price": "10.00"},
        {"type": "rescue", "distance_km": "25", "claimed_fee": "650.00"},
    ]
    data = http_body(parts, http.model, lines)
    r = await api.client.post(URL, json=data, headers=api.h("estimate_tool"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["reused"] is False and out["validated_by"] == "test estimate_tool"
    fender, custom, unknown, rescue = out["lines"]
    assert (fender["allowed"], fender["cut"]) == ("1039.50", "240.50")
    # the custom name is matched to the same fender as line 0: a duplicate
    assert custom["part"]["code"] == "VW1-0001" and custom["match"]["decision"] == "matched"
    assert [f["code"] for f in custom["flags"]] == ["CUSTOM_PART", "DUPLICATE_LINE"]
    assert unknown["status"] == "unknown"
    assert rescue["cut"] == "120.00"
    assert out["totals"] == {"claimed": "2940.00", "allowed": "1579.50", "cut": "1360.50"}
    assert out["deadline"]["due_at"] == "2025-09-15T17:00:00+08:00"
    assert out["escalation"]["required"] is False
    assert (out["profile_code"], out["profile_version"]) == ("SZ01", 1)

    again = await api.client.post(URL, json=data, headers=api.h("reviewer"))
    assert again.status_code == 200 and again.json()["reused"] is True
    forced = await api.client.post(URL + "?force=true", json=data, headers=api.h())
    assert forced.status_code == 201
    listed = await api.get("/api/v1/estimates/E-2025-0001/validations")
    assert listed.status_code == 200
    assert [v["validation_id"] for v in listed.json()["items"]] == [
        forced.json()["validation_id"],
        out["validation_id"],
    ]
    assert listed.json()["items"][1]["totals"] == out["totals"]
    page = await api.get("/api/v1/estimates/E-2025-0001/validations?limit=1&offset=1")
    assert page.json() == {
        **listed.json(),
        "items": listed.json()["items"][1:],
        "limit": 1,
        "offset": 1,
    }
    too_big = await api.get("/api/v1/estimates/E-2025-0001/validations?limit=500")
    assert too_big.status_code == 400 and "limit" in too_big.text
    missing = await api.get("/api/v1/estimates/nope/validations")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    # one stored validation: the answer as it was given, and the request it answered
    one = await api.get(f"/api/v1/estimates/E-2025-0001/validations/{out['validation_id']}")
    assert one.status_code == 200, one.text
    stored = one.json()
    request_stored = stored.pop("request")  # the request as decoded: defaults filled in
    assert (request_stored["estimate_id"], request_stored["version"]) == ("E-2025-0001", 1)
    assert [
        line["claimed_unit_price"] if line["type"] == "part" else line["claimed_fee"]
        for line in request_stored["lines"]
    ] == ["1280.00", "1000.00", "10.00", "650.00"]
    assert request_stored["lines"][1]["custom_name"] == "左前叶子板"
    answered = {k: v for k, v in out.items() if k not in ("reused", "request_differs")}
    assert stored == answered
    other = await api.get(f"/api/v1/estimates/E-OTHER/validations/{out['validation_id']}")
    assert other.status_code == 404 and other.json()["field"] == "validation_id"
    too_large = await api.get(f"/api/v1/estimates/E-2025-0001/validations/{2**40}")
    assert too_large.status_code == 400 and "validation_id" in too_large.text


async def test_http_validate_without_waiting_for_the_flush(http):
    """PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT=off: the same answers, stored and reused."""
    from dataclasses import replace

    from litestar.testing import AsyncTestClient

    from api.app import create_app

    api, parts = http.api, http.parts
    data = http_body(
        parts,
        http.model,
        [
            {
                "type": "part",
                "part_id": parts["VW1-0001"],
                "claimed_unit_price": "1280.00",
                "price_type": "4s",
            }
        ],
        estimate_id="E-ASYNC-HTTP",
    )
    settings = replace(api.settings, validation_synchronous_commit=False)
    # Litestar's logging setup replaces the root handlers (caplog's too): listen on the logger
    records: list[logging.LogRecord] = []
    listener = logging.Handler(logging.WARNING)
    listener.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("pricebook.api").addHandler(listener)
    try:
        async with AsyncTestClient(create_app(settings)) as client:
            first = await client.post(URL, json=data, headers=api.h())
            again = await client.post(URL, json=data, headers=api.h())
    finally:
        logging.getLogger("pricebook.api").removeHandler(listener)
    warned = [r.getMessage() for r in records if "SYNCHRONOUS_COMMIT=off" in r.getMessage()]
    assert len(warned) == (0 if settings.is_sqlite else 1)  # said at start, where it applies
    assert first.status_code == 201, first.text
    assert first.json()["totals"] == {"claimed": "1280.00", "allowed": "1039.50", "cut": "240.50"}
    assert again.status_code == 200 and again.json()["reused"] is True
    listed = await api.get("/api/v1/estimates/E-ASYNC-HTTP/validations")
    assert [v["validation_id"] for v in listed.json()["items"]] == [first.json()["validation_id"]]


async def test_http_concurrent_validations_each_get_their_own_stored_row(http):
    """Sent together (the writer may store them in one INSERT): six answers, six rows, each
    its own estimate's."""
    import asyncio

    api, parts = http.api, http.parts
    units = ["1280.00", "1000.00", "1100.00", "900.00", "1500.00", "1039.50"]
    sent = [
        http_body(
            parts,
            http.model,
            [
                {
                    "type": "part",
                    "part_id": parts["VW1-0001"],
                    "claimed_unit_price": u,
                    "price_type": "4s",
                }
            ],
            estimate_id=f"E-TOGETHER-{n}",
        )
        for n, u in enumerate(units)
    ]
    answers = await asyncio.gather(*(api.client.post(URL, json=d, headers=api.h()) for d in sent))
    assert [a.status_code for a in answers] == [201] * 6
    ids = [a.json()["validation_id"] for a in answers]
    assert len(set(ids)) == 6
    for n, (a, u) in enumerate(zip(answers, units, strict=True)):
        assert a.json()["estimate_id"] == f"E-TOGETHER-{n}" and a.json()["totals"]["claimed"] == u
        listed = (await api.get(f"/api/v1/estimates/E-TOGETHER-{n}/validations")).json()
        assert [v["validation_id"] for v in listed["items"]] == [ids[n]]
        assert listed["items"][0]["totals"] == a.json()["totals"]


async def test_http_auth(http):
    api = http.api
    data = http_body(http.parts, http.model, [])
    assert (await api.client.post(URL, json=data)).status_code == 401
    assert (
        await api.client.post(URL, json=data, headers={"X-API-Key": "pbk_nope"})
    ).status_code == 401


async def test_http_422_names_the_line_and_field(http):
    api = http.api
    lines = [{"type": "part", "part_id": 1, "claimed_unit_price": "1.00"}] * 3
    lines = [*lines, {"type": "part", "part_id": 1, "claimed_unit_price": "12.345"}]
    r = await api.client.post(URL, json=http_body(http.parts, http.model, lines), headers=api.h())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "lines[3].claimed_unit_price"
    lines = [{"type": "part", "part_id": 1, "claimed_unit_price": None}]
    r = await api.client.post(URL, json=http_body(http.parts, http.model, lines), headers=api.h())
    assert r.status_code == 422 and r.json()["field"] == "lines[0].claimed_unit_price"


async def test_http_422_names_a_damaged_component_not_of_the_assembly(http):
    api, parts = http.api, http.parts
    line = {
        "type": "part",
        "part_id": parts["VW1-0002"],
        "claimed_unit_price": "1800.00",
        "damaged_components": [{"part_id": parts["VW1-0004"]}, {"part_id": parts["VW1-0001"]}],
    }
    r = await api.client.post(URL, json=http_body(parts, http.model, [line]), headers=api.h())
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "lines[0].damaged_components[1]"
    assert "not a component of VW1-0002" in r.json()["detail"]


async def test_http_413(http):
    api = http.api
    line = {"type": "part", "part_id": 1, "claimed_unit_price": "1.00"}
    r = await api.client.post(
        URL, json=http_body(http.parts, http.model, [line] * 501), headers=api.h()
    )
    assert r.status_code == 413 and r.json()["status"] == 413
    huge = (
        json.dumps(http_body(http.parts, http.model, [line], estimate_id="x" * 10))
        + " " * 1_000_001
    )
    r = await api.client.post(
        URL, content=huge, headers=api.h(**{"content-type": "application/json"})
    )
    assert r.status_code == 413


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b"{",
        b'{"lines": "x"}',
        b"\xff\xfe",
        b'{"estimate_id": "\\u0000"}',
        json.dumps({"estimate_id": "E", "version": 10**30}).encode(),
        b"1e999999",
    ],
)
async def test_http_no_input_yields_500(http, raw):
    api = http.api
    r = await api.client.post(
        URL, content=raw, headers=api.h(**{"content-type": "application/json"})
    )
    assert 400 <= r.status_code < 500, r.text


async def test_http_odd_but_valid_values_are_not_500(http):
    api = http.api
    odd = [
        # (NUL is refused, 400: tests/test_api_spec.py)
        {"type": "part", "custom_name": "\u0007\t 左前叶子板\u200b", "claimed_unit_price": "0"},
        {"type": "part", "oe_number": "----", "claimed_unit_price": "99999999.99"},
        {
            "type": "labor",
            "part_id": 2**31 - 1,
            "operation": "paint",
            "labor_kind": "paint",
            "hours": "0.01",
            "claimed_rate": "0",
        },
        {
            "type": "consumable",
            "kind": "x" * 64,
            "quantity": "0.001",
            "unit": "桶",
            "unit_price": "0",
        },
        {"type": "rescue", "distance_km": "0", "claimed_fee": "0"},
    ]
    data = http_body(http.parts, http.model, odd, vehicle={"brand": "大众", "model": "朗逸"})
    r = await api.client.post(URL, json=data, headers=api.h())
    assert r.status_code in (201, 422), r.text


def test_money_in_requests_is_never_float():
    with pytest.raises(InvalidInput):
        wire._amount(D("1.005"), "x")
    assert wire._amount(D("1.5"), "x") == D("1.50")


@pytest.mark.parametrize("channel", [None, "CH-SHOP1"])
def test_labor_rate_reference_agrees_with_the_labor_rate_listing(db, channel):
    """Review loads labor rates with its own prebuilt statement; which rate applies and why is
    one rule (`labor.applied_rate`), so the validation's reference and GET /labor-rates agree.
    SZ01 paint, 4S, class B: standard 110.00; CH-SHOP1's card pays 90% of it → 99.00."""
    from pricebook import labor

    shop = {"tier": "4s", **({"channel_code": channel} if channel else {})}
    data = body(
        db,
        [
            {"type": "part", "part_id": db.parts["VW1-0001"], "claimed_unit_price": "990.00"},
            {
                "type": "labor",
                "line_ref": 0,
                "operation": "replace",
                "labor_kind": "paint",
                "hours": "1",
                "claimed_rate": "500.00",
            },
        ],
        shop=shop,
    )
    with transaction(db.engine) as s:
        line = estimates.validate(s, request(data)).result["lines"][1]
        listed = labor.labor_rates(
            s,
            on=date(2025, 9, 10),
            branch="SZ01",
            kind="paint",
            shop_tier="4s",
            vehicle_class="B",
            channel=channel or "",
        ).items
    (flag,) = [f for f in line["flags"] if f["code"] == "LABOR_RATE_ABOVE_STANDARD"]
    (row,) = listed
    assert flag["reference"]["value"] == str(row.rate) == ("99.00" if channel else "110.00")
    assert flag["reference"]["provenance"]["why"] == row.why
    if channel:
        assert row.why == "channel CH-SHOP1 card: 90.00% of the branch SZ01 standard rate"


def test_shop_left_out_is_assumed_class2_and_said_so(db):
    """The testers' case: a 4S-priced fender claimed at 1,000.00 with no `shop`. The service
    assumes a class-2 shop (二类修理厂), whose parts are allowed at most at the brand price
    (SZ01 brand 621.00 + 5% = 652.05): allowed 652.05, cut 347.95 — and `notes` now says it
    assumed that, zh and en, naming the field. The same claim from a 4S shop (tier given):
    nothing assumed, its 4S reference applies (990.00 + 5% = 1,039.50): allowed 1,000.00."""
    with transaction(db.engine) as s:
        catalog_rows.load(
            s,
            {
                "prices": [
                    {
                        "part_code": "VW1-0001",
                        "model_code": "",
                        "scope": "SZ01",
                        "price_type": "brand",
                        "amount_yuan": "621.00",
                        "valid_from": "2025-01-01",
                        "valid_to": "",
                    }
                ]
            },
        )
    data = body(db, [fender_line(db, unit="1000.00")])
    del data["shop"]
    with transaction(db.engine) as s:
        res = estimates.validate(s, request(data)).result
    line = res["lines"][0]
    assert (line["claimed"], line["allowed"], line["cut"]) == ("1000.00", "652.05", "347.95")
    assert (line["index"], line["line_no"]) == (0, 1)
    (note,) = res["notes"]
    assert note["code"] == "DEFAULT_APPLIED" and note["field"] == "shop.tier"
    assert note["details"] == {"assumed": "class2", "max_price_type": "brand"}
    assert note["message_zh"].startswith(
        "未提供修理厂类型（shop.tier），按默认 二类修理厂（class2）核损"
    )
    assert note["message_en"].startswith(
        "shop.tier was not given: assumed class2: parts are allowed up to the brand price"
    )
    given = body(
        db, [fender_line(db, unit="1000.00")], estimate_id="E-4S", vehicle={"model_id": db.model}
    )  # another vehicle: no repeat claim
    with transaction(db.engine) as s:
        res = estimates.validate(s, request(given)).result
    assert res["notes"] == [] and res["lines"][0]["allowed"] == "1000.00"


def test_unknown_part_id_and_consumable_kind_are_flagged_not_silently_allowed(db):
    """Part id 999999 (no such part) 2 × 150.00 = 300.00 and 3 L of 'nitrogen' (no standard)
    at 20.00 = 60.00: neither can be checked, so neither is cut (allowed 360.00 of 360.00),
    and each carries UNCHECKED with its reason; status unknown; counts say 2."""
    lines = [
        {"type": "part", "part_id": 999999, "quantity": "2", "claimed_unit_price": "150.00"},
        {
            "type": "consumable",
            "kind": "nitrogen",
            "quantity": "3",
            "unit": "L",
            "unit_price": "20.00",
        },
    ]
    with transaction(db.engine) as s:
        res = estimates.validate(s, request(body(db, lines))).result
    part, gas = res["lines"]
    assert (part["status"], part["claimed"], part["allowed"], part["cut"]) == (
        "unknown",
        "300.00",
        "300.00",
        "0.00",
    )
    assert (gas["status"], gas["claimed"], gas["allowed"], gas["line_no"]) == (
        "unknown",
        "60.00",
        "60.00",
        2,
    )
    assert [(f["code"], f["details"]) for f in part["flags"]] == [
        ("UNCHECKED", {"reason": "unknown_part_id", "value": 999999})
    ]
    assert [(f["code"], f["details"]) for f in gas["flags"]] == [
        ("UNCHECKED", {"reason": "unknown_consumable_kind", "value": "nitrogen"})
    ]
    assert res["counts"] == {"UNCHECKED": 2}
    assert res["totals"] == {"claimed": "360.00", "allowed": "360.00", "cut": "0.00"}


# The reference memo's hit and miss counters (`pricebook.estimates.REFERENCE_STATS`) and
# GET /api/v1/estimates/reference-cache, which bench/validate.py reads them from.


def _stats() -> dict[str, int]:
    return dict(estimates.reference_cache_stats())


def _validate(db, n: int, **kw) -> dict[str, int]:
    """Validate the same lines (a channel shop: parts, an assembly's components, labor, a
    consumable, a rescue) as a new estimate; the counters' change."""
    matcher = fake_matcher({"左前叶子板": db.parts["VW1-0001"]})
    data = body(
        db,
        _lines(db, 1),
        estimate_id=f"E-STATS-{n}",
        shop=CHANNEL_SHOP,
        vehicle={"model_id": db.model, "vin": f"LSVAB4BR5PN0009{n:02d}"},
    )
    before = _stats()
    _statements_of(db, data, matcher, **kw)
    after = _stats()
    return {k: after[k] - before[k] for k in ("hits", "misses", "dropped")}


def test_first_validation_misses_the_next_hits_every_one(db):
    estimates.clear_caches()
    first = _validate(db, 1)
    # static tables, place, vehicle, profile, parts, components, fitment, prices, card, labor
    # rates, hours, inclusions, the consumable, the rescue tariff: at least one of each
    assert first["hits"] == 0 and first["misses"] >= 14, first
    assert estimates.reference_cache_stats()["entries"] > 0
    second = _validate(db, 2)
    assert second == {"hits": first["misses"], "misses": 0, "dropped": 0}, (first, second)
    # keeping nothing: every reference read again, none found
    cold = _validate(db, 3, keep=0)
    assert cold == {"hits": 0, "misses": first["misses"], "dropped": 0}, (first, cold)


def test_a_memo_over_its_bound_lets_go_of_its_parts_and_keeps_the_rest(db):
    estimates.clear_caches()
    first = _validate(db, 4, keep=1)
    assert first["dropped"] == 0
    again = _validate(db, 5, keep=1)  # over the bound of 1: the part entries go (newest(0))
    assert again["dropped"] == 1
    # the branch's place, the profile, the static tables, the card, the labor rates and the
    # rescue tariff are not part entries: still found; every part entry read again
    assert 0 < again["hits"] < first["misses"], (first, again)
    assert again["hits"] + again["misses"] == first["misses"], (first, again)


def test_newest_keeps_the_entries_read_last_in_new_dicts():
    from pricebook.estimates.memo import Generation, _References

    memo = _References(Generation("t", 1, 1))
    memo.parts.update({pid: None for pid in range(10)})
    memo.prices.update({(pid, "chain"): () for pid in range(10)})
    memo.components[3] = ()
    memo.inclusions[3] = ()
    memo.entries = 20
    kept = memo.newest(10)
    assert list(kept.parts) == [5, 6, 7, 8, 9]
    assert list(kept.prices) == [(pid, "chain") for pid in (5, 6, 7, 8, 9)]
    assert kept.components == {} and kept.inclusions == {} and kept.entries == 10
    # a validation still reading the old memo finds everything it had
    assert len(memo.parts) == 10 and memo.components == {3: ()} and memo.entries == 20
    assert kept.generation == memo.generation and kept.places is memo.places


async def test_http_reference_cache_counts_this_process(http):
    api = http.api
    estimates.clear_caches()
    r = await api.get("/api/v1/estimates/reference-cache")
    assert r.status_code == 200, r.text
    before = r.json()
    assert before["pid"] == os.getpid()
    assert before["limit"] == api.settings.reference_cache_entries
    assert before["entries"] == 0
    lines = [{"type": "part", "part_id": http.parts["VW1-0001"], "claimed_unit_price": "1280.00"}]
    for n in range(2):
        data = http_body(http.parts, http.model, lines, estimate_id=f"E-STATS-HTTP-{n}")
        posted = await api.client.post(URL, json=data, headers=api.h("estimate_tool"))
        assert posted.status_code == 201, posted.text
    after = (await api.get("/api/v1/estimates/reference-cache")).json()
    misses, hits = after["misses"] - before["misses"], after["hits"] - before["hits"]
    assert misses > 0 and hits == misses, (before, after)  # the second found what the first read
    assert after["entries"] > 0
    assert (await api.client.get("/api/v1/estimates/reference-cache")).status_code == 401
