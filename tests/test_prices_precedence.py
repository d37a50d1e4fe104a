"""Price precedence as a table with dates: channel card, agreement, branch, parent branch, region
chain and system, each before and after a future-dated change, and after expiry; the batch
resolve costs the same number of SQL statements for 1 and 200 items."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, insert, select, text

from api.app import create_app
from pricebook.db import make_engine, session_factory, transaction
from pricebook.models import Branch, Part, Price, PriceType
from pricebook.prices import (
    CardTerms,
    MarketReference,
    PriceQuery,
    PriceTypeInfo,
    PriceVersion,
    ResolveRequest,
    ScopeStep,
    load_and_resolve,
    resolve,
)
from tests.api_client import seed
from tests.catalog_rows import BASE

D = date.fromisoformat


def matrix_rows() -> dict[str, list[dict[str, str]]]:
    rows = copy.deepcopy(BASE)
    rows["branches"].append(
        {"code": "GZ01", "name": "广州中心支公司", "region_code": "440100", "kind": "sub_branch",
         "authority_limit_yuan": "30000.00", "parent_code": "GD01"}
    )  # fmt: skip
    rows["price_types"] += [
        {"code": "oem", "name": "市场原厂件", "rank": "40"},
        {"code": "compatible", "name": "适用件", "rank": "20"},
    ]
    rows["categories"].append({"code": "glass", "name": "玻璃"})
    rows["parts"].append(
        {"part_code": "VW1-0005", "name": "前挡风玻璃", "aliases": "前挡", "category": "glass",
         "oe_number": "5G0 845 011"}
    )  # fmt: skip

    def price(part, scope, ptype, amount, start, end="", model=""):
        return {"part_code": part, "model_code": model, "scope": scope, "price_type": ptype,
                "amount_yuan": amount, "valid_from": start, "valid_to": end}  # fmt: skip

    body = "VW1-0003"  # a lamp part in BASE: give it its own history (category lamp)
    rows["prices"] = [
        price(body, "system", "4s", "1000.00", "2024-01-01"),
        price(body, "system", "brand", "600.00", "2024-01-01"),
        price(body, "CN", "4s", "1100.00", "2024-01-01", "2025-01-01"),  # expires
        price(body, "440000", "4s", "1200.00", "2025-07-01"),  # future-dated region
        price(body, "GD01", "4s", "1300.00", "2026-01-01"),  # future-dated parent branch
        price(body, "SZ01", "4s", "1400.00", "2026-07-01"),  # future-dated branch
        price(body, "SZ01", "4s", "1450.00", "2026-07-01", model="VW-LAVIDA-2023"),
        price(body, "SZ01", "brand", "700.00", "2024-01-01", "2025-06-01"),  # expires
        price("VW1-0005", "system", "4s", "3000.00", "2024-01-01"),
        price("VW1-0005", "system", "brand", "1500.00", "2024-01-01"),
        price("VW1-0005", "440000", "brand", "1400.00", "2024-01-01"),
        price("VW1-0005", "system", "compatible", "900.00", "2024-01-01"),
    ]
    card = {"channel_code": "CH-SHOP1", "line": "parts", "labor_kind": "", "rate_yuan": "",
            "pct_of_standard": "", "category": "lamp", "price_type": "brand"}  # fmt: skip
    rows["rate_cards"] = [
        {**card, "valid_from": "2025-01-01", "valid_to": "", "discount_pct": "12.5"},
        {**card, "valid_from": "2026-01-01", "valid_to": "", "discount_pct": "20"},  # future
    ]
    return rows


P, G = 3, 5  # VW1-0003 (lamp), VW1-0005 (glass)
# (part, date, branch, extra query) → (layer, scope, price type, amount)
MATRIX = [
    # region chain up the tree, then system; expiry and future-dated versions
    (P, "2024-06-01", "SZ01", {}, ("region", "CN", "4s", "1100.00")),
    (P, "2025-03-01", "SZ01", {}, ("system", "system", "4s", "1000.00")),  # CN expired
    (P, "2025-08-01", "SZ01", {}, ("region", "440000", "4s", "1200.00")),  # future took effect
    (P, "2025-06-30", "SZ01", {}, ("system", "system", "4s", "1000.00")),  # the day before
    # parent branch, then branch; model-specific beats all-models in the same layer
    (P, "2026-03-01", "SZ01", {}, ("parent_branch", "GD01", "4s", "1300.00")),
    (P, "2026-08-01", "SZ01", {}, ("branch", "SZ01", "4s", "1400.00")),
    (P, "2026-08-01", "SZ01", {"model_id": 1}, ("branch", "SZ01", "4s", "1450.00")),
    (P, "2026-08-01", "SZ01", {"model_id": 2}, ("branch", "SZ01", "4s", "1400.00")),
    (P, "2026-08-01", "GZ01", {}, ("parent_branch", "GD01", "4s", "1300.00")),
    (P, "2025-08-01", "GZ01", {}, ("region", "440000", "4s", "1200.00")),
    (P, "2026-08-01", None, {}, ("system", "system", "4s", "1000.00")),
    # a requested price type; the branch's brand price expires
    (P, "2025-03-01", "SZ01", {"price_type": "brand"}, ("branch", "SZ01", "brand", "700.00")),
    (P, "2025-08-01", "SZ01", {"price_type": "brand"}, ("system", "system", "brand", "600.00")),
    # channel card (brand less 12.5%, then less 20% from 2026) beats everything
    (P, "2025-03-01", "SZ01", {"channel": "CH-SHOP1"}, ("channel", "CH-SHOP1", "brand", "612.50")),
    (P, "2025-08-01", None, {"channel": "CH-SHOP1"}, ("channel", "CH-SHOP1", "brand", "525.00")),
    (P, "2026-03-01", "SZ01", {"channel": "CH-SHOP1", "price_type": "4s",
                               "agreement": "4s_repair"}, ("channel", "CH-SHOP1", "brand", "480.00")),
    (P, "2024-06-01", "SZ01", {"channel": "CH-SHOP1"}, ("region", "CN", "4s", "1100.00")),  # card not yet
    # agreements: 4S/专修厂 → 4s over a requested brand; glass domestic vs imported
    (P, "2025-08-01", "SZ01", {"agreement": "4s_repair", "price_type": "brand"},
     ("region", "440000", "4s", "1200.00")),
    (P, "2025-08-01", "SZ01", {"agreement": "glass_domestic"}, ("region", "440000", "4s", "1200.00")),
    (G, "2025-08-01", "SZ01", {"agreement": "glass_domestic"}, ("region", "440000", "brand", "1400.00")),
    (G, "2025-08-01", None, {"agreement": "glass_domestic"}, ("system", "system", "brand", "1500.00")),
    (G, "2025-08-01", "SZ01", {"agreement": "glass_imported", "channel": "CH-SHOP1"},
     ("system", "system", "4s", "3000.00")),  # the card does not cover glass
    (G, "2025-08-01", "SZ01", {"price_type": "compatible"}, ("system", "system", "compatible", "900.00")),
]  # fmt: skip


@pytest.fixture
async def matrix_api(settings):
    made = seed(settings, matrix_rows())
    # the reference tables are cached per process: keep them for the whole test
    steady = dataclasses.replace(settings, catalog_poll_seconds=3600)
    async with AsyncTestClient(create_app(steady)) as client:
        yield client, {"X-API-Key": made["estimate_tool"]}


async def test_precedence_matrix(matrix_api):
    client, headers = matrix_api
    failures = []
    for part, day, branch, extra, expected in MATRIX:
        params = {"part_id": part, "date": day, **extra}
        if branch:
            params["branch"] = branch
        response = await client.get("/api/v1/prices/resolve", params=params, headers=headers)
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        got = (body["layer"], body["winner"]["scope_code"], body["price_type"], body["amount"])
        if got != expected:
            failures.append((params, got, expected, body["price_type_reason"]))
        assert [c for c in body["candidates"] if c["won"]] == [body["winner"]]
    assert not failures, "\n".join(map(str, failures))


async def test_batch_matches_single_answers(matrix_api):
    client, headers = matrix_api
    items = []
    for part, day, branch, extra, _ in MATRIX:
        items.append(
            {"part_id": part, "date": day, **({"branch": branch} if branch else {}), **extra}
        )
    items.append({"part_id": 999})
    items.append({"oe": "5G0-845-011", "agreement": "nope"})
    response = await client.post("/api/v1/prices/resolve", json={"items": items}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    for (_, _, _, _, expected), result in zip(MATRIX, results, strict=False):
        r = result["result"]
        assert (r["layer"], r["winner"]["scope_code"], r["price_type"], r["amount"]) == expected
    assert results[-2]["status"] == 404 and results[-2]["error"]["field"] == "part_id"
    assert results[-1]["status"] == 422 and results[-1]["error"]["field"] == "agreement"
    assert body["resolved"] == len(MATRIX) and body["failed"] == 2


async def test_without_explanation_each_answer_lists_its_winner_alone(matrix_api):
    """`candidates` winner (batch and single): the same prices and reasons as the full answer,
    with the winner (a channel card's when one applies) as the only candidate."""
    client, headers = matrix_api
    url = "/api/v1/prices/resolve"
    items = [
        {"part_id": part, "date": day, **({"branch": branch} if branch else {}), **extra}
        for part, day, branch, extra, _ in MATRIX
    ]
    items.append({"part_id": 999})
    full = (await client.post(url, json={"items": items}, headers=headers)).json()
    body = {"items": items, "candidates": "winner"}
    lean = (await client.post(url, json=body, headers=headers)).json()
    counts = (lean["resolved"], lean["failed"])
    assert counts == (full["resolved"], full["failed"]) == (len(MATRIX), 1)
    for whole, alone in zip(full["results"], lean["results"], strict=True):
        assert alone["status"] == whole["status"] and alone["error"] == whole["error"]
        if whole["status"] != 200:
            continue
        w, a = whole["result"], alone["result"]
        assert a["candidates"] == [a["winner"]] == [w["winner"]]
        assert {**a, "candidates": None} == {**w, "candidates": None}
    assert sum(len(r["result"]["candidates"]) for r in full["results"] if r["result"]) > len(MATRIX)

    params = {"part_id": P, "date": "2026-08-01", "branch": "SZ01", "channel": "CH-SHOP1"}
    one = (await client.get(url, params={**params, "candidates": "winner"}, headers=headers)).json()
    assert one["candidates"] == [one["winner"]] and one["winner"]["layer"] == "channel"
    bad = await client.get(url, params={**params, "candidates": "some"}, headers=headers)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["field"] == "candidates"
    for value in (0, False, "WINNER"):  # only the two names: no coercion from other types
        body = {"items": items, "candidates": value}
        wrong = await client.post(url, json=body, headers=headers)
        assert wrong.status_code == 400 and wrong.json()["field"] == "candidates", wrong.text


async def test_provenance_lists_every_candidate_with_why(matrix_api):
    client, headers = matrix_api
    params = {"part_id": P, "date": "2026-08-01", "branch": "SZ01", "channel": "CH-SHOP1"}
    body = (await client.get("/api/v1/prices/resolve", params=params, headers=headers)).json()
    layers = [(c["layer"], c["scope_code"], c["price_type"], c["won"]) for c in body["candidates"]]
    assert layers[0] == ("channel", "CH-SHOP1", "brand", True)
    assert ("branch", "SZ01", "4s", False) in layers
    assert ("parent_branch", "GD01", "4s", False) in layers
    assert ("region", "440000", "4s", False) in layers
    assert ("system", "system", "brand", False) in layers
    channel = body["winner"]
    assert channel["base_amount"] == "600.00" and channel["discount_pct"] == "20.00"
    assert channel["valid_from"] == "2026-01-01" and channel["source"] == "rate_card"
    system_brand = next(
        c for c in body["candidates"] if c["price_type"] == "brand" and not c["won"]
    )
    assert "reference of the channel card" in system_brand["why"]
    for c in body["candidates"]:
        assert c["why"] and "valid_from" in c and c["source"]


async def test_no_price_is_404_and_bad_references_are_422(matrix_api):
    client, headers = matrix_api

    async def get(**params):
        return await client.get("/api/v1/prices/resolve", params=params, headers=headers)

    response = await get(part_id=4)  # VW1-0004 has no price anywhere
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await get(part_id=P, date="2023-01-01")).status_code == 404  # before any version
    assert (await get(part_id=404)).json()["field"] == "part_id"
    for field, value in [("branch", "XX"), ("channel", "XX"), ("price_type", "XX"),
                         ("agreement", "XX"), ("model_id", 77)]:  # fmt: skip
        response = await get(part_id=P, **{field: value})
        assert response.status_code == 422 and response.json()["field"] == field
    assert (await get()).json()["field"] == "part_id"
    assert (await get(part_id=P, oe="x")).status_code == 422
    assert (await get(oe="5G0845011")).json()["part"]["code"] == "VW1-0005"
    by_old = (await get(oe="5G1 941 005 A")).status_code
    assert by_old == 404  # the assembly is found by its old number but has no price here
    assert (await get(part_id=P, date="2025-02-30")).status_code == 400


def test_withdrawn_and_future_versions_never_apply_in_the_database(engine):
    with transaction(engine) as session:
        from tests import catalog_rows

        catalog_rows.load(session, matrix_rows())
        sz = session.scalar(select(Branch.id).where(Branch.code == "SZ01"))
        four_s = session.scalar(select(PriceType.id).where(PriceType.code == "4s"))
        glass = session.scalar(select(Part.id).where(Part.code == "VW1-0005"))
        session.execute(
            insert(Price).values(
                part_id=glass, scope="branch", branch_id=sz, price_type_id=four_s,
                amount_fen=1, valid_from=D("2025-08-01"), valid_to=D("2025-08-01"),
                source="staff", created_by="test", reason="withdrawn",
            )
        )  # fmt: skip
    with session_factory(engine)() as session:
        (out,) = load_and_resolve(
            session, [ResolveRequest(on=D("2025-08-01"), part_id=glass, branch="SZ01")]
        )
    assert out.resolution.winner.amount == Decimal("3000.00")
    assert all(c.amount != Decimal("0.01") for c in out.resolution.candidates)


def _requests(n: int) -> list[ResolveRequest]:
    """n items, each using the OE lookup, a branch, a channel and a model (and with n > 1 every
    other kind of input too: part ids, agreements, price types, unknown parts, other dates)."""
    first = ResolveRequest(
        oe="5G0-845-011", branch="SZ01", channel="CH-SHOP1", model_id=1, on=D("2025-08-01")
    )
    shapes = [
        dict(part_id=P, branch="SZ01", channel="CH-SHOP1", model_id=1, on=D("2025-03-01")),
        dict(oe="5G1 941 005 A", branch="GZ01", agreement="glass_domestic", on=D("2026-08-01")),
        dict(part_id=G, price_type="compatible", on=D("2024-06-01"), model_id=2),
        dict(part_id=999, on=D("2025-08-01")),
        dict(part_id=P, branch="GD01", agreement="4s_repair", on=D("2026-03-01")),
    ]
    return [first] + [ResolveRequest(**shapes[i % len(shapes)]) for i in range(n - 1)]


def test_batch_resolve_statement_count_is_constant(engine):
    with transaction(engine) as session:
        from tests import catalog_rows

        catalog_rows.load(session, matrix_rows())
    counts = {}
    for n in (1, 200):
        statements: list[str] = []

        def count(conn, cursor, statement, *args, log=statements):
            log.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            with session_factory(engine)() as session:
                outcomes = load_and_resolve(session, _requests(n))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(outcomes) == n and outcomes[0].resolution is not None
        counts[n] = len(
            [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "SAVEPOINT"))]
        )
    assert counts[1] == counts[200], counts
    assert counts[1] <= 5


async def test_batch_resolve_over_http_costs_the_same_statements(matrix_api):
    client, headers = matrix_api
    engine = client.app.state.engine.sync_engine

    def body(n: int) -> dict:
        items = []
        for r in _requests(n):
            fields = ("part_id", "oe", "model_id", "branch", "price_type", "channel", "agreement")
            item = {k: getattr(r, k) for k in fields if getattr(r, k) is not None}
            item["date"] = r.on.isoformat()
            items.append(item)
        return {"items": items}

    await client.post("/api/v1/prices/resolve", json=body(1), headers=headers)  # warm-up
    counts = {}
    for n in (1, 200, 500):
        statements: list[str] = []

        def count(conn, cursor, statement, *args, log=statements):
            log.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            response = await client.post("/api/v1/prices/resolve", json=body(n), headers=headers)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        assert len(response.json()["results"]) == n
        counts[n] = len(statements)
    assert counts[1] == counts[200] == counts[500], counts
    too_many = await client.post("/api/v1/prices/resolve", json=body(501), headers=headers)
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["field"] == "items"


def test_pure_resolution_rules():
    types = {1: PriceTypeInfo(1, "4s", "4S", 50), 2: PriceTypeInfo(2, "brand", "品牌", 30)}
    chain = [ScopeStep("branch", "branch", 10, "SZ01"), ScopeStep("region", "region", 20, "440300"),
             ScopeStep("system", "system", None, "system")]  # fmt: skip

    def v(id_, scope, amount, start, end=None, model=None, ptype=1, target=None):
        return PriceVersion(
            id=id_, part_id=1, model_id=model, scope=scope,
            region_id=target if scope == "region" else None,
            branch_id=target if scope == "branch" else None, price_type_id=ptype,
            amount=Decimal(amount), valid_from=D(start), valid_to=D(end) if end else None,
            source="staff", source_ref="", created_by="t", reason="",
        )  # fmt: skip

    versions = [
        v(1, "system", "100.00", "2024-01-01"),
        v(2, "branch", "90.00", "2025-01-01", "2025-01-01", target=10),  # withdrawn
        v(3, "branch", "80.00", "2025-01-01", target=99),  # another branch
        v(4, "region", "95.00", "2025-01-01", model=7, target=20),  # another model
        v(5, "region", "96.00", "2026-01-01", target=20),  # future
    ]
    q = PriceQuery(part_id=1, category_id=1, category="body", on=D("2025-06-01"))
    market = [MarketReference(Decimal("10.00"), D("2025-05-01"), "site-a", "4s")]
    res = resolve(q, versions, chain, types, market=market)
    assert res.winner.price_id == 1 and res.amount == Decimal("100.00")
    assert [c.price_id for c in res.candidates] == [1, None]
    assert res.candidates[-1].layer == "market" and not res.candidates[-1].won
    q_model = PriceQuery(part_id=1, category_id=1, category="body", on=D("2026-01-01"), model_id=7)
    res = resolve(q_model, versions, chain, types)
    assert res.winner.price_id == 4 and res.winner.model_specific  # model beats all-models
    assert next(c for c in res.candidates if c.price_id == 5).why.startswith("an all-models")
    card = CardTerms("CH", 1, 1, 2, 1250, D("2025-01-01"), None, "t", "")
    res = resolve(q, versions, chain, types, card)  # card's type has no price: falls back
    assert res.winner.price_id == 1 and "not applied" in res.price_type_reason
    applies = CardTerms("CH", 1, 1, 1, 1250, D("2025-01-01"), None, "t", "")
    res = resolve(q, versions, chain, types, applies)
    assert res.winner.layer == "channel" and res.amount == Decimal("87.50")  # 100.00 less 12.5%

    # without `explain` (what the review rules ask): the same decision, only the winner listed
    for query, card_terms, market_refs in [(q, None, market), (q_model, None, ()),
                                           (q, card, ()), (q, applies, market)]:  # fmt: skip
        full = resolve(query, versions, chain, types, card_terms, market_refs)
        lean = resolve(query, versions, chain, types, card_terms, market_refs, explain=False)
        assert (lean.winner, lean.price_type, lean.price_type_reason) == (
            full.winner, full.price_type, full.price_type_reason)  # fmt: skip
        assert lean.candidates == (full.winner,)


def test_the_api_encodes_the_core_records_as_its_own():
    """`api.controllers.prices._out` puts the core's PartRef and Candidates in the answer as
    they are: they must encode as the API's types do (same fields, order and defaults)."""
    import msgspec

    from api import schemas
    from pricebook import prices

    for core, api in ((prices.PartRef, schemas.PartRef), (prices.Candidate, schemas.Candidate)):
        assert core.__struct_fields__ == api.__struct_fields__
        assert core.__struct_defaults__ == api.__struct_defaults__
        assert core.__struct_config__.omit_defaults == api.__struct_config__.omit_defaults
        assert core.__struct_encode_fields__ == api.__struct_encode_fields__
    c = prices.Candidate(
        "branch", "SZ01", "4s", False, Decimal("990.00"), D("2025-01-01"), None, "import",
        "f.csv", "x", "r", 7, True, "why",
    )  # fmt: skip
    as_api = msgspec.convert(c, schemas.Candidate, from_attributes=True)
    assert msgspec.json.encode(c) == msgspec.json.encode(as_api)


async def test_the_branch_and_region_trees_are_read_again_only_when_the_generation_moves(settings):
    """The price API keeps price types and the branch and region trees while the database's
    reference generation stays put (checked every `catalog_poll_seconds`, here every request):
    an unchanged database costs one small read, a new branch is known at the next request."""
    made = seed(settings, matrix_rows())
    eager = dataclasses.replace(settings, catalog_poll_seconds=0)
    async with AsyncTestClient(create_app(eager)) as client:
        headers = {"X-API-Key": made["estimate_tool"]}
        engine = client.app.state.engine.sync_engine
        seen: list[str] = []

        def record(conn, cursor, statement, *args) -> None:
            seen.append(statement)

        async def resolve(branch: str) -> int:
            params = {"part_id": P, "date": "2025-08-01", "branch": branch}
            response = await client.get("/api/v1/prices/resolve", params=params, headers=headers)
            return response.status_code

        assert await resolve("SZ01") == 200
        event.listen(engine, "before_cursor_execute", record)
        try:
            seen.clear()
            assert await resolve("SZ01") == 200
            assert not [s for s in seen if "FROM branches" in s], seen
            assert [s for s in seen if "FROM reference_generation" in s]
            assert await resolve("SZ02") == 422  # no such branch yet
            writer = make_engine(settings)
            with writer.begin() as conn:
                conn.execute(text(
                    "INSERT INTO branches (code, name, region_id, kind, authority_limit_fen) "
                    "SELECT 'SZ02', '深圳第二支公司', region_id, 'sub_branch', 100 FROM branches "
                    "WHERE code = 'SZ01'"
                ))  # fmt: skip
            writer.dispose()
            seen.clear()
            assert await resolve("SZ02") == 200
            assert [s for s in seen if "FROM branches" in s]  # read again: the generation moved
        finally:
            event.remove(engine, "before_cursor_execute", record)
