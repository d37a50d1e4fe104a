"""The estimate tools' hot statements keep their indexes under generic plans, on a catalogue big
enough for the planner to care, with and without statistics.

The API's connections run with `plan_cache_mode = force_generic_plan` (`pricebook.db`): every
statement is planned once without its parameters' values, so a shape the generic planner cannot
estimate (`part_id IN (SELECT … WHERE id = ANY($1))` on a table without statistics) turns into a
sequential scan of a million prices on every call. The test runs the estimate tools' calls —
resolve (by id, OE number, superseded OE number, with a model, through a channel, in a batch),
a validation, matching, labor rates, standard hours, OE search, a stored validation read — and
the pricing staff's audit log reads (a record's history, a week, an author) through the app on
PostgreSQL, records every SELECT they send, and has the server plan each one
as it would on a fresh connection: `PREPARE`, `SET plan_cache_mode = force_generic_plan`,
`EXPLAIN (FORMAT JSON) EXECUTE` with the recorded values. A Seq Scan of a large table in any plan
fails the test, naming the statement; so does a guarded table no statement reads. The parts the
calls read carry many market observations each, as a part the market quotes often does.
Deterministic: plans, not timings.

Twice: on statistics from ANALYZE, and with the tables' column statistics removed (a catalogue
just loaded, before autovacuum or an ANALYZE got to it: what every new user meets first).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url

from api.app import create_app
from pricebook import keys
from pricebook.db import make_engine, transaction
from pricebook.demo.scale import scale_demo
from pricebook.models import (
    Branch,
    Channel,
    OeSupersession,
    Part,
    PartAlias,
    Price,
    VehicleModel,
)
from pricebook.review_config import load_demo_review_config
from pricebook.settings import Settings
from tests.ci import admin_engine, require_postgres

pytestmark = pytest.mark.postgres

#: tables that grow with the catalogue or with use: a sequential scan of one is a defect
GUARDED = (
    "prices",
    "parts",
    "fitments",
    "market_observations",
    "estimate_validations",
    "audit_log",
)

#: the catalogue's size; PRICEBOOK_PLAN_GUARD_PRICES checks the plans on a larger one
PRICES = int(os.environ.get("PRICEBOOK_PLAN_GUARD_PRICES", "500000"))
PARTS = PRICES // 20
OBSERVATIONS, VALIDATIONS, AUDIT_ROWS = 40_000, 20_000, 50_000
#: matched observations of each part the workload reads, in its dates' windows: a part the
#: market quotes often is one the statistics call common, and its reads must keep the index too
HOT_OBSERVATIONS = 300


@dataclass
class Catalogue:
    settings: Settings
    key: str
    staff_key: str
    branches: list[str]
    part_ids: list[int]
    oe_numbers: list[str]
    old_oes: list[str]
    channel: str
    model_id: int
    demo_parts: list[int]
    aliases: list[str]


_OBSERVE = """INSERT INTO market_observations (source, item_key, url, fetched_at, first_seen,
    last_seen, raw_name, raw_price, raw_oe, raw_brand_text, raw_region, price_type_hint, part_id,
    region_id, price_type_id, amount_fen, confidence_bp, match_reason, status)"""


def _fill_history(url: str) -> None:
    """Market observations, stored validations and audit rows in the numbers a busy year leaves,
    spread over the scaled parts, and many observations of the parts the workload reads (one
    real validation is copied with new ids and VINs)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"""
            {_OBSERVE}
            SELECT 'shop' || (g % 7), 'item-' || g, 'http://127.0.0.1/item/' || g,
                now() - (g % 400) * interval '1 day', now() - (g % 400) * interval '1 day',
                now() - (g % 300) * interval '1 day', 'part ' || g, '100.00', '', '', '', '',
                p.id, (SELECT min(id) FROM regions) + g % 5, (SELECT min(id) FROM price_types),
                10000 + g, 9000, 'fuzzy',
                CASE WHEN g % 10 = 0 THEN 'unmatched' ELSE 'matched' END
            FROM generate_series(1, {OBSERVATIONS}) AS g
            JOIN parts p ON p.id = (SELECT min(id) FROM parts) + g % (SELECT count(*) FROM parts)
            """
        )
        conn.execute(
            f"""
            {_OBSERVE}
            SELECT 'shop' || (g % 7), 'hot-' || p.id || '-' || g, 'http://127.0.0.1/hot/' || g,
                seen, seen, seen + interval '30 days', 'part ' || p.id, '100.00', '', '', '',
                '', p.id, (SELECT min(id) FROM regions) + g % 5,
                (SELECT min(id) FROM price_types), 10000 + g, 9000, 'fuzzy', 'matched'
            FROM (SELECT id FROM parts WHERE code LIKE 'VW1-%'
                  UNION ALL (SELECT id FROM parts WHERE code LIKE 'SCALE-%' ORDER BY id LIMIT 20)
                 ) AS p,
                generate_series(1, {HOT_OBSERVATIONS}) AS g,
                LATERAL (SELECT timestamptz '2025-08-01' + (g % 180) * interval '1 day') AS t(seen)
            """
        )
        conn.execute(
            f"""
            INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after, reason)
            SELECT now() - g * interval '1 minute', 'staff' || (g % 20), 'update', 'price',
                g::text, NULL, '{{}}'::json, 'bulk'
            FROM generate_series(1, {AUDIT_ROWS}) AS g
            """
        )
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'estimate_validations' AND column_name NOT IN "
                "('id', 'estimate_id', 'vin', 'created_at')"
            )
        ]
        listed = ", ".join(columns)
        conn.execute(
            f"""
            INSERT INTO estimate_validations (estimate_id, vin, created_at, {listed})
            SELECT 'HIST-' || g, 'LHIST' || lpad(g::text, 12, '0'),
                now() - g * interval '10 minutes', {listed}
            FROM estimate_validations, generate_series(1, {VALIDATIONS}) AS g
            """
        )


@pytest.fixture(scope="module")
def catalogue(request: pytest.FixtureRequest) -> Iterator[Catalogue]:
    template = request.getfixturevalue("postgres_template")
    name = f"pricebook_plan_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = make_url(require_postgres()).set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    try:
        scale_demo(engine, parts=PARTS, prices=PRICES)
        with transaction(engine) as session:
            load_demo_review_config(session)
            _, key = keys.create_key(session, name="plan guard", role="estimate_tool", actor="t")
            _, staff_key = keys.create_key(session, name="staff", role="pricing_staff", actor="t")
            branches = list(session.scalars(select(Branch.code).order_by(Branch.id)))
            scaled = session.execute(
                select(Part.id, Part.oe_number)
                .where(Part.code.like("SCALE-%"))
                .order_by(Part.id)
                .limit(500)
            ).all()
            old_oes = list(session.scalars(select(OeSupersession.old_oe).limit(5)))
            channel = session.scalar(select(Channel.code).order_by(Channel.id))
            model_id = session.scalar(
                select(VehicleModel.id).where(VehicleModel.code.like("VW-LAVIDA%"))
            )
            demo_parts = list(
                session.scalars(select(Part.id).where(Part.code.like("VW1-%")).order_by(Part.id))
            )
            aliases = list(
                session.scalars(
                    select(PartAlias.alias)
                    .join(Part, Part.id == PartAlias.part_id)
                    .where(Part.code.like("VW1-%"))
                    .order_by(PartAlias.id)
                    .limit(40)
                )
            )
            assert session.scalar(select(Price.id).limit(1)) is not None
    finally:
        engine.dispose()
    assert channel is not None and model_id is not None
    yield Catalogue(
        settings,
        key,
        staff_key,
        branches,
        [p for p, _ in scaled],
        [o for _, o in scaled if o],
        old_oes,
        channel,
        model_id,
        demo_parts,
        aliases,
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _estimate(c: Catalogue, rng: random.Random, n: int) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    for pid in rng.sample(c.demo_parts, 8):
        lines.append(
            {
                "type": "part",
                "part_id": pid,
                "price_type": "4s",
                "claimed_unit_price": f"{rng.randint(100, 3000)}.00",
            }
        )
    for pid in rng.sample(c.part_ids, 4):
        lines.append(
            {"type": "part", "part_id": pid, "claimed_unit_price": f"{rng.randint(100, 3000)}.00"}
        )
    for alias in rng.sample(c.aliases, 4):
        lines.append(
            {
                "type": "part",
                "custom_name": alias,
                "claimed_unit_price": f"{rng.randint(100, 3000)}.00",
            }
        )
    for i in range(3):
        lines.append(
            {
                "type": "labor",
                "line_ref": i,
                "operation": "replace",
                "labor_kind": "sheet_metal",
                "hours": "1.5",
                "claimed_rate": "120.00",
            }
        )
    return {
        "estimate_id": f"PLAN-{n}",
        "version": 1,
        "date": "2025-09-10",
        "branch": "SZ01",
        "vehicle": {"model_id": c.model_id, "vin": f"LSVPLAN{n:010d}"},
        "shop": {"tier": "class1"},
        "lines": lines,
    }


async def _workload(c: Catalogue) -> list[tuple[str, Any]]:
    """The estimate tools' calls, through the app; returns every SELECT it sent."""
    sent: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    rng = random.Random(3)
    headers = {"X-API-Key": c.key}
    async with AsyncTestClient(create_app(c.settings)) as client:
        engine = client.app.state.engine
        event.listen(engine.sync_engine, "before_cursor_execute", record)

        async def ok(method: str, url: str, **kwargs: Any) -> Any:
            kwargs.setdefault("headers", headers)
            answer = await client.request(method, url, **kwargs)
            assert answer.status_code in (200, 201), f"{method} {url}: {answer.text[:500]}"
            return answer.json()

        day = "2026-01-15"
        for pid in c.part_ids[:3]:
            await ok(
                "GET", f"/api/v1/prices/resolve?part_id={pid}&branch={c.branches[3]}&date={day}"
            )
        await ok("GET", f"/api/v1/prices/resolve?oe={c.oe_numbers[5]}&branch=SZ01&date={day}")
        await client.get(f"/api/v1/prices/resolve?oe={c.old_oes[0]}&date={day}", headers=headers)
        await ok("GET", f"/api/v1/prices/resolve?part_id={c.demo_parts[0]}&model_id={c.model_id}")
        await client.get(
            f"/api/v1/prices/resolve?part_id={c.demo_parts[1]}&channel={c.channel}",
            headers=headers,
        )
        items = [{"part_id": p, "branch": rng.choice(c.branches)} for p in c.part_ids[:90]]
        # by part id only, over several branches: (part, branch) pairs (`prices.union.union_statement`)
        await ok("POST", "/api/v1/prices/resolve", json={"items": items, "date": day})
        items += [{"oe": o} for o in c.oe_numbers[100:110]]
        await ok("POST", "/api/v1/prices/resolve", json={"items": items, "date": day})
        stored = await ok("POST", "/api/v1/estimates/validate", json=_estimate(c, rng, 1))
        await ok("POST", "/api/v1/estimates/validate", json=_estimate(c, rng, 2))
        await ok("GET", "/api/v1/estimates/PLAN-1/validations")
        await ok("GET", f"/api/v1/estimates/PLAN-1/validations/{stored['validation_id']}")
        await ok("POST", "/api/v1/match", json={"names": c.aliases[:5], "model_id": c.model_id})
        await ok("GET", "/api/v1/labor-rates?branch=SZ01")
        await ok("GET", f"/api/v1/standard-hours?part_id={c.demo_parts[0]}")
        await ok("GET", f"/api/v1/parts?oe={c.oe_numbers[7][:8]}")
        await ok("GET", f"/api/v1/parts/{c.part_ids[9]}")
        # the pricing staff's audit log: a record's history, a week, an author (the unfiltered
        # first page is left out: its total counts the whole log, by definition)
        staff = {"X-API-Key": c.staff_key}
        for query in ("entity=prices&entity_id=17", "from=2026-11-30&to=2026-12-06", "who=staff3"):
            await ok("GET", f"/api/v1/audit/?{query}", headers=staff)
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return sent


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield plan["Node Type"], plan.get("Relation Name", "")
    for child in plan.get("Plans", ()):
        yield from _scans(child)


def _literal(value: Any) -> Any:
    if isinstance(value, (dict, list)) and not (
        isinstance(value, list) and all(isinstance(v, (int, str)) for v in value)
    ):
        return json.dumps(value)
    return value


def generic_plan_scans(url: str, statement: str, parameters: Any) -> list[tuple[str, str]]:
    """The node types and relations of `statement`'s generic plan, as a connection of the API
    would run it (prepared, `force_generic_plan`), with the recorded values."""
    values = list(parameters or ())
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = psycopg.ClientCursor(conn)
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE guarded AS {statement}".replace("%", "%%"))
        args = ", ".join(["%s"] * len(values))
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) EXECUTE guarded({args})"
            if values
            else "EXPLAIN (FORMAT JSON) EXECUTE guarded",
            [_literal(v) for v in values],
        )
        (document,) = cursor.fetchone()
    plan = document[0]["Plan"] if isinstance(document, list) else json.loads(document)[0]["Plan"]
    return list(_scans(plan))


def _seq_scans(url: str, sent: list[tuple[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    for statement, parameters in sent:
        if statement in seen:
            continue
        seen.add(statement)
        bad = [
            relation
            for node, relation in generic_plan_scans(url, statement, parameters)
            if node == "Seq Scan" and relation in GUARDED
        ]
        if bad:
            found[statement] = bad
    return found


def _report(found: dict[str, list[str]]) -> str:
    return "\n\n".join(f"Seq Scan on {', '.join(t)} in:\n{s[:1500]}" for s, t in found.items())


def _analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def _forget_statistics(url: str) -> None:
    """The tables as right after a bulk load: no column statistics (superuser only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM pg_statistic WHERE starelid = ANY(%s::regclass[])", [list(GUARDED)]
        )


@pytest.fixture(scope="module")
def workload(catalogue: Catalogue) -> list[tuple[str, Any]]:
    import asyncio

    sent = asyncio.run(_workload(catalogue))
    _fill_history(_plain_url(catalogue))  # copies a validation the workload stored
    assert len({s for s, _ in sent}) >= 10, "the workload reached too few statements"
    unread = [t for t in GUARDED if not any(t in statement for statement, _ in sent)]
    assert not unread, f"no statement of the workload reads {unread}: nothing guards them"
    return sent


def _plain_url(c: Catalogue) -> str:
    return (
        make_url(c.settings.database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def test_hot_statements_use_indexes_on_analyzed_tables(catalogue, workload):
    url = _plain_url(catalogue)
    _analyze(url)
    found = _seq_scans(url, workload)
    assert not found, _report(found)


def test_hot_statements_use_indexes_without_statistics(catalogue, workload):
    url = _plain_url(catalogue)
    _forget_statistics(url)
    try:
        found = _seq_scans(url, workload)
    finally:
        _analyze(url)
    assert not found, _report(found)


def test_the_guard_sees_a_sequential_scan(catalogue, workload):
    """The guard can fail: the shape that collapsed resolve (prices by `part_id IN (SELECT …)`)
    plans as a sequential scan of prices without statistics."""
    url = _plain_url(catalogue)
    collapsed = (
        "SELECT prices.id FROM prices WHERE prices.part_id IN "
        "(SELECT parts.id FROM parts WHERE parts.id = ANY ($1::INTEGER[])) "
        "AND prices.valid_from <= $2::DATE"
    )
    _forget_statistics(url)
    try:
        scans = generic_plan_scans(url, collapsed, [catalogue.part_ids[:1], "2026-01-15"])
    finally:
        _analyze(url)
    assert ("Seq Scan", "prices") in scans
