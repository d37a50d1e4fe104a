"""No 500 from input: bad amounts on every write path, JSON nested too deep, files over the
import limits, formula-leading cells in exports, imports racing imports and staff edits."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from api.app import create_app
from pricebook.db import make_engine, transaction
from pricebook.errors import ImportRejected
from pricebook.io import export_file, import_file
from pricebook.io.tables import TableLimits, read_table, write_table
from pricebook.models import Part, Price
from pricebook.settings import Settings
from pricebook.versioned import EMPTY_ETAG
from tests import catalog_rows
from tests.api_client import Api, db_scalars, part_id_of, seed
from tests.api_writes import PRICES_CSV, STAFF, gd01_key, post, upload
from tests.net import free_port
from tests.processes import uvicorn_command
from tests.ui_client import Ui

TODAY = date.today()
PROBLEM = "application/problem+json"
#: what testers sent: exponent, 29 digits, full-width digits, `_`, spaces around
BAD_AMOUNTS = ["1e30", "9" * 29, "１２３", "1_000", " 12 "]


@pytest.fixture(name="api")
async def api_fixture(settings: Settings) -> AsyncIterator[Api]:
    # small import limits, so that going past them needs no big file
    settings = replace(settings, import_max_rows=50, import_max_cell_chars=100)
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, made, settings)


def _problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return r.json()


# --- money on every write path --------------------------------------------------------------


async def test_every_api_money_field_answers_422_naming_it(api: Api) -> None:
    pid = part_id_of(api)
    labor_key = {"branch": "SZ01", "labor_kind": "paint", "shop_tier": "4s", "vehicle_class": "B"}
    r = await api.client.get("/api/v1/labor-rates/versions", headers=api.h(STAFF), params=labor_key)
    labor_etag = r.json()["etag"]
    r = await api.client.get("/api/v1/channels/CH-SHOP1/rate-cards", headers=api.h(STAFF))
    card_etag = r.json()["etag"]
    r = await api.client.post(
        "/api/v1/feedback",
        headers=api.h("reviewer"),
        json={"part_id": pid, "branch": "SZ01", "price_type": "4s", "observed": "900.00"},
    )
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    before = db_scalars(api, select(func.count()).select_from(Price))
    for value in BAD_AMOUNTS:
        price = {**gd01_key(pid), "amount": value, "valid_from": str(TODAY), "reason": "x"}
        r = await post(api, "/api/v1/prices/versions", price, EMPTY_ETAG)
        assert _problem(r, 422)["field"] == "amount", value
        labor = {**labor_key, "rate": value, "valid_from": str(TODAY), "reason": "x"}
        r = await post(api, "/api/v1/labor-rates/versions", labor, labor_etag)
        assert _problem(r, 422)["field"] == "rate", (value, r.text)
        card = {
            "valid_from": str(TODAY),
            "reason": "x",
            "labor": [{"labor_kind": "paint", "rate": value}],
            "parts": [],
        }
        r = await post(api, "/api/v1/channels/CH-SHOP1/rate-cards", card, card_etag)
        assert _problem(r, 422)["field"] == "labor[0].rate", (value, r.text)
        for field in ("observed", "reference"):
            body = {
                "part_id": pid,
                "branch": "SZ01",
                "price_type": "4s",
                "observed": "900.00",
                field: value,
            }
            r = await api.client.post("/api/v1/feedback", json=body, headers=api.h("reviewer"))
            assert _problem(r, 422)["field"] == field, (value, r.text)
        r = await api.client.post(
            f"/api/v1/feedback/{item}/accept", json={"amount": value}, headers=api.h(STAFF)
        )
        assert _problem(r, 422)["field"] == "amount", (value, r.text)
    assert db_scalars(api, select(func.count()).select_from(Price)) == before


@pytest.mark.parametrize("value", BAD_AMOUNTS)
def test_an_import_with_one_bad_amount_reports_the_row_and_writes_nothing(
    engine, tmp_path, value: str
) -> None:
    with transaction(engine) as session:
        catalog_rows.load(session)
        before = session.scalar(select(func.count()).select_from(Price))
    columns = (
        "part_code",
        "model_code",
        "scope",
        "price_type",
        "amount_yuan",
        "valid_from",
        "valid_to",
    )
    rows = [
        dict(zip(columns, line.split(","), strict=True))
        for line in PRICES_CSV.strip().splitlines()[1:]
    ]
    rows[1]["amount_yuan"] = value
    for suffix in ("csv", "xlsx"):
        path = tmp_path / f"prices.{suffix}"
        write_table(path, columns, rows)
        with pytest.raises(ImportRejected) as caught:
            import_file(engine, "prices", path, actor="tester", reason="x")
        assert [(e.row, e.column) for e in caught.value.errors] == [(3, "amount_yuan")]
    labor = tmp_path / "labor.csv"
    write_table(
        labor,
        (
            "branch_code",
            "labor_kind",
            "shop_tier",
            "vehicle_class",
            "rate_yuan",
            "valid_from",
            "valid_to",
        ),
        [
            {
                "branch_code": "SZ01",
                "labor_kind": "paint",
                "shop_tier": "4s",
                "vehicle_class": "B",
                "rate_yuan": value,
                "valid_from": "2027-01-01",
            }
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        import_file(engine, "labor_rates", labor, actor="tester", reason="x")
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "rate_yuan")]
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Price)) == before


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "1e30", "9" * 29, "１"])
def test_hours_and_percentages_in_imports_follow_the_same_rules(engine, tmp_path, value) -> None:
    with transaction(engine) as session:
        catalog_rows.load(session)
    hours = tmp_path / "hours.csv"
    write_table(
        hours,
        ("part_code", "operation", "vehicle_class", "labor_kind", "hours"),
        [
            {
                "part_code": "VW1-0001",
                "operation": "replace",
                "vehicle_class": "B",
                "labor_kind": "sheet_metal",
                "hours": value,
            }
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        import_file(engine, "standard_hours", hours, actor="tester", reason="x")
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "hours")]
    cards = tmp_path / "cards.csv"
    write_table(
        cards,
        (
            "channel_code",
            "valid_from",
            "valid_to",
            "line",
            "labor_kind",
            "rate_yuan",
            "pct_of_standard",
            "category",
            "price_type",
            "discount_pct",
        ),
        [
            {
                "channel_code": "CH-SHOP1",
                "valid_from": "2027-01-01",
                "line": "parts",
                "category": "body",
                "price_type": "brand",
                "discount_pct": value,
            }
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        import_file(engine, "rate_cards", cards, actor="tester", reason="x")
    assert (2, "discount_pct") in [(e.row, e.column) for e in caught.value.errors]


async def test_an_api_import_with_a_bad_amount_is_a_row_report(api: Api) -> None:
    for value in BAD_AMOUNTS:
        bad = PRICES_CSV + f"VW1-0001,,GD01,4s,{value},2026-01-01,\n"
        r = await upload(api, "prices", bad.encode(), "bad.csv", dry_run=False)
        errors = _problem(r, 422)["errors"]
        assert [(e["row"], e["field"]) for e in errors] == [(4, "amount_yuan")], value
    assert db_scalars(api, select(Price.id).where(Price.source_ref == "bad.csv")) == []


@pytest.fixture(name="ui")
async def ui_fixture(settings: Settings) -> AsyncIterator[Ui]:
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        client.follow_redirects = False
        yield Ui(client, made, settings)


async def test_ui_forms_refuse_bad_amounts_in_chinese(ui: Ui) -> None:
    await ui.login("pricing_staff")
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            pid = session.scalars(select(Part.id).where(Part.code == "VW1-0001")).one()
            before = session.scalar(select(func.count()).select_from(Price))
    finally:
        engine.dispose()
    base = {
        "target": "branch:GD01",
        "price_type": "4s",
        "valid_from": str(TODAY),
        "reason": "x",
        "seen": await ui.seen(pid),
    }
    for value in BAD_AMOUNTS:
        r = await ui.post(f"/parts/{pid}/prices", {**base, "amount": value})
        assert r.status_code == 422 and "金额须为" in r.text, value
        r = await ui.post(
            "/feedback/",
            {"part_id": str(pid), "branch": "SZ01", "price_type": "4s", "observed": value},
            page="/feedback/new",
        )
        assert r.status_code == 422 and "金额须为" in r.text, value
    r = await ui.post(f"/parts/{pid}/prices", {**base, "amount": "12.00"})
    assert r.status_code == 303, r.text
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            assert session.scalar(select(func.count()).select_from(Price)) == before + 1
    finally:
        engine.dispose()


# --- JSON nested too deep -------------------------------------------------------------------


async def test_json_nested_deeper_than_the_limit_is_400_on_every_json_route(api: Api) -> None:
    deep = b'{"a":' * 1000 + b"1" + b"}" * 1000
    deep_list = b"[" * 100_000 + b"]" * 100_000
    routes = [
        ("/api/v1/estimates/validate", "estimate_tool"), ("/api/v1/prices/resolve", "estimate_tool"),
        ("/api/v1/feedback", "reviewer"), ("/api/v1/match", "estimate_tool"),
        ("/api/v1/prices/versions", STAFF), ("/api/v1/channels", STAFF),
    ]  # fmt: skip
    for url, role in routes:
        for body in (deep, deep_list):
            r = await api.client.post(
                url, content=body, headers=api.h(role, **{"content-type": "application/json"})
            )
            problem = _problem(r, 400)
            assert "nested deeper than 32" in problem["detail"], (url, r.text)
    # the import reads a form whatever the Content-Type says: a JSON body lacks its file
    for body in (deep, deep_list):
        r = await api.client.post(
            "/api/v1/imports/prices",
            content=body,
            headers=api.h(STAFF, **{"content-type": "application/json"}),
        )
        assert _problem(r, 400)["field"] == "file", r.text


async def test_depth_is_counted_outside_strings_only(api: Api) -> None:
    # brackets inside a string (escaped quotes too) are text: this body is 2 levels deep
    names = ["[[[[" * 10 + '"\\"{{{' * 10]
    r = await api.client.post(
        "/api/v1/match", json={"names": names, "brand": "VW"}, headers=api.h()
    )
    assert r.status_code == 200, r.text
    ok = {"names": ["左前叶子板"], "brand": "VW", "x": [[[[1]]]]}
    r = await api.client.post("/api/v1/match", json=ok, headers=api.h())
    assert r.status_code < 500 and "nested" not in r.text


def test_depth_from_quotes_alone_agrees_with_the_string_pattern() -> None:
    """`json_too_deep` cuts strings out by splitting at quotes when no quote is escaped; on
    random documents (brackets, quotes, backslashes inside strings) it answers as the
    pattern that reads every escape does, at every limit."""
    import json
    import random

    from api import controllers

    def reference(body: bytes, limit: int) -> bool:
        brackets = controllers._JSON_STRING.sub(b"", body).translate(
            controllers._SQUARE, controllers._NOT_BRACKET
        )
        depth = deepest = 0
        for b in brackets:
            depth += 1 if b == ord("[") else -1
            deepest = max(deepest, depth)
        return deepest > limit

    rng = random.Random(17)
    alphabet = 'ab[]{}\\"左前\n'

    def value(depth: int) -> object:
        kind = rng.random()
        if depth > 12 or kind < 0.3:
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if kind < 0.4:
            return rng.randint(-5, 5)
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {str(value(99)): value(depth + 1) for _ in range(rng.randint(0, 3))}

    quoted_only = 0
    for n in range(3000):
        body = json.dumps(value(0), ensure_ascii=n % 2 == 0).encode()
        quoted_only += b'\\"' not in body
        for limit in (1, 2, 3, 5, 8, 13):
            assert controllers.json_too_deep(body, limit) == reference(body, limit), (body, limit)
    assert quoted_only > 1000  # the split at quotes, not only the pattern, was checked


# --- import limits ----------------------------------------------------------------------------


async def test_import_limits(api: Api) -> None:
    big = PRICES_CSV.encode() + b"#" * (api.settings.import_max_bytes + 1)
    problem = _problem(await upload(api, "prices", big, "big.csv", dry_run=True), 413)
    assert "20 MB" in problem["detail"]

    many = PRICES_CSV + "VW1-0001,,GD01,4s,1.00,2026-01-01,\n" * 60
    problem = _problem(await upload(api, "prices", many.encode(), "many.csv", dry_run=True), 422)
    assert problem["field"] == "file" and "many.csv has more than 50 rows" in problem["detail"]

    huge = "x" * 5_000_000
    for name, content in (
        ("huge.csv", (PRICES_CSV + f"VW1-0005,,GD01,4s,1.00,2026-01-01,{huge}\n").encode()),
        (
            "huge.xlsx",
            _xlsx(
                [
                    PRICES_CSV.splitlines()[0].split(","),
                    ["VW1-0001", "", "GD01", "4s", "1.00", "2026-01-01", huge],
                ]
            ),
        ),
    ):
        r = await upload(api, "prices", content, name, dry_run=True)
        problem = _problem(r, 422)
        assert len(r.content) < 2000, name
        assert problem["field"] == "file" and "longer than 100 characters" in problem["detail"]
        assert "x" * 81 not in r.text


def _xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_that_unpacks_too_big_is_refused_before_it_is_parsed(tmp_path) -> None:
    import zipfile

    from pricebook.io.tables import TooLarge

    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_xlsx([["part_code", "amount_yuan"], ["VW1-0001", "12.00"]]))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/padding.bin", b"\0" * 3_000_000)
    assert path.stat().st_size < 100_000  # a few KB zipped
    assert read_table(path)[0] == ["part_code", "amount_yuan"]  # a readable XLSX
    with pytest.raises(TooLarge):
        read_table(path, TableLimits(max_unpacked_bytes=1_000_000))


@pytest.mark.serial  # a latency bound: alone (Makefile)
def test_health_is_answered_while_a_large_import_parses(settings: Settings, tmp_path) -> None:
    """On a real server (the test client runs a request to its end before anything else): the
    import is parsed and checked in a worker thread, so /health keeps being answered."""
    if not settings.is_sqlite:
        pytest.skip("the event loop does not depend on the database: SQLite is enough")
    keys = seed(settings)
    port = free_port()
    env = {
        **os.environ,
        "PRICEBOOK_DATABASE_URL": settings.database_url,
        "PRICEBOOK_IMPORT_MAX_ROWS": "1000000",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        uvicorn_command(port),
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline and process.poll() is None, "server did not start"
            time.sleep(0.1)
        # a category per row: cheap to check each, the time goes to reading and checking rows
        content = ("code,name\n" + "".join(f"C{i:07d},分类{i}\n" for i in range(300_000))).encode()
        result: list[httpx.Response] = []

        def run_import() -> None:
            result.append(
                httpx.post(
                    f"{base}/api/v1/imports/categories",
                    params={"dry_run": "true"},
                    files={"file": ("large.csv", content)},
                    data={"reason": "x"},
                    headers={"X-API-Key": keys[STAFF]},
                    timeout=120,
                )
            )

        started = time.monotonic()
        importer = threading.Thread(target=run_import)
        importer.start()
        time.sleep(0.3)  # the upload is sent and the import under way
        answered = []
        with httpx.Client(base_url=base, timeout=10) as client:
            while importer.is_alive():
                asked = time.monotonic()
                assert client.get("/health").status_code == 200
                answered.append(time.monotonic() - asked)
                time.sleep(0.1)
        importer.join()
        took = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    (r,) = result
    assert r.status_code == 200 and r.json()["created"] == 300_000, r.text[:500]
    assert took > 1 and len(answered) >= 3, (took, answered)  # the import did take a while
    assert max(answered) < 1.0, answered  # and /health was answered within 1 s meanwhile


# --- exports that cannot hurt ---------------------------------------------------------------

FORMULAS = ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)"]


@pytest.mark.parametrize(
    ("value", "written"),
    [('=HYPERLINK("x")', "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "-2"), ("-3.50", "-3.50"),
     ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
     ("'=quoted", "''=quoted"), ("''+x", "'''+x"), ("'plain", "'plain"), ("a=b", "a=b"), ("", "")],
)  # fmt: skip
def test_neutralise_is_undone_exactly(value: str, written: str) -> None:
    from pricebook.io.tables import neutralise, unneutralise

    assert neutralise(value) == written
    assert unneutralise(written) == value


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_formula_leading_text_is_neutralised_and_imports_back_unchanged(
    engine, tmp_path, suffix: str
) -> None:
    with transaction(engine) as session:
        catalog_rows.load(session)
        parts = session.scalars(select(Part).order_by(Part.code).limit(len(FORMULAS))).all()
        for part, name in zip(parts, FORMULAS, strict=True):
            part.name = name
        codes = {p.code: p.name for p in parts}
    path = tmp_path / f"parts.{suffix}"
    export_file(engine, "parts", path)
    if suffix == "csv":
        text = path.read_text(encoding="utf-8-sig")
        assert ',"\'=HYPERLINK(""x"")",' in text and ",'+1," in text and ",'@SUM(A1)," in text
        assert ",'-2," not in text and ",-2," in text  # a number is not a formula
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(path).worksheets[0]
        cells = [c for row in sheet.iter_rows() for c in row if c.value]
        assert all(c.data_type == "s" for c in cells)  # strings, never formulas
        assert '\'=HYPERLINK("x")' in {c.value for c in cells}
    _, rows = read_table(path)
    names = {r["part_code"]: r["name"] for _, r in rows}
    assert {code: names[code] for code in codes} == codes
    report = import_file(engine, "parts", path, actor="tester", reason="round trip")
    assert report.changed == 0, report.summary()
