"""Dates at the calendar's ends, 0001-01-01 and 9999-12-31, are valid input: every window
reckoned from one stops at the end (`pricebook.days`) instead of overflowing into a 500, and
PostgreSQL's `infinity` (what asyncpg writes for 9999-12-31) reads back as that day through
either driver. Each case of the first part was a 500 before. The second part writes and reads
every request body's dates at the ends (the OpenAPI document says which bodies take one); it
found an open version that could not be withdrawn on 9999-12-31 (a 409)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import text

from pricebook import indicators, prices
from pricebook.days import day_end, day_start, days_from, from_iso
from pricebook.db import make_engine, transaction
from tests.api_client import Api, part_id_of
from tests.api_writes import STAFF, gd01_key, post
from tests.ui_client import Ui

LAST, FIRST = date.max, date.min
PROBLEM = "application/problem+json"


def estimate(n: int, day: str, **extra: object) -> dict:
    return {
        "estimate_id": f"EDGE-{n}",
        "version": 1,
        "date": day,
        "branch": "SZ01",
        "vehicle": {"model_id": 1, "vin": "LSVAB4BR5PN000099", "vehicle_class": "B"},
        "shop": {"tier": "4s"},
        "lines": [{"type": "part", "custom_name": "前保险杠", "claimed_unit_price": "100"}],
        **extra,
    }


def test_day_arithmetic_stops_at_the_calendars_ends():
    assert days_from(date(2026, 1, 31), 1) == date(2026, 2, 1)
    assert days_from(LAST, 1) == LAST and days_from(date(9999, 12, 1), 60) == LAST
    assert days_from(FIRST, -180) == FIRST and days_from(date(1, 3, 1), -365) == FIRST
    assert day_start(date(2026, 1, 31)) == datetime(2026, 1, 31, tzinfo=UTC)
    assert day_end(date(2026, 1, 31)) == datetime(2026, 2, 1, tzinfo=UTC)
    assert day_end(LAST) == datetime.combine(LAST, time.max, tzinfo=UTC)
    assert from_iso("infinity") == LAST and from_iso("-infinity") == FIRST
    assert from_iso("2026-01-02") == date(2026, 1, 2)


def test_trend_buckets_end_with_the_calendar():
    """9999-12-31 is a Friday: its week starts on Monday the 27th; there is no next one."""
    weeks = indicators._buckets(date(9999, 12, 15), LAST, "week")
    assert weeks == [date(9999, 12, 13), date(9999, 12, 20), date(9999, 12, 27)]
    months = indicators._buckets(date(9999, 11, 15), LAST, "month")
    assert months == [date(9999, 11, 1), date(9999, 12, 1)]


async def test_an_estimate_on_the_calendars_first_day_reads_its_repeat_claims(api: Api):
    """The repeat-claim window reaches back from the estimate's day (180 days by default):
    from 0001-01-01 it stopped the validation with a 500."""
    for n, day in enumerate(("0001-01-01", "0001-02-01", "9999-12-31")):
        r = await api.client.post(
            "/api/v1/estimates/validate", json=estimate(n, day), headers=api.h()
        )
        assert r.status_code == 201, r.text
        assert r.json()["estimate_date"] == day


@pytest.mark.parametrize(
    "day,submitted_at",
    [
        ("9999-12-31", "9999-12-31T20:00:00Z"),  # already 10000-01-01 in China
        ("9999-12-31", "9999-12-31T10:00:00"),  # a naive time is China time: no next day
        ("0001-01-01", "0001-01-01T00:00:00+14:00"),  # still year 0 in China
    ],
)
async def test_a_review_deadline_past_the_calendar_is_a_422_naming_submitted_at(
    api: Api, day: str, submitted_at: str
):
    body = estimate(9, day, submitted_at=submitted_at)
    r = await api.client.post("/api/v1/estimates/validate", json=body, headers=api.h())
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["field"] == "submitted_at"


async def test_a_deadline_inside_the_calendar_is_counted_to_the_end(api: Api):
    """Submitted on Monday 9999-12-27 (China time): the deadline's working days still fit."""
    body = estimate(10, "9999-12-27", submitted_at="9999-12-27T09:00:00+08:00")
    r = await api.client.post("/api/v1/estimates/validate", json=body, headers=api.h())
    assert r.status_code == 201, r.text
    assert r.json()["deadline"]["due_at"].startswith("9999-12-")


async def test_indicators_and_the_audit_log_take_the_whole_calendar(api: Api):
    """`to=9999-12-31` reaches past the calendar as `to`'s next day; the whole calendar still
    holds today's audit entries (the API key's creation among them)."""
    for query in ("from=0001-01-01&to=9999-12-31", "to=9999-12-31", "from=9999-12-31"):
        r = await api.client.get(f"/api/v1/indicators?{query}", headers=api.h("reviewer"))
        assert r.status_code == 200, (query, r.text)
    everything = await api.client.get("/api/v1/audit?limit=1", headers=api.h("admin"))
    whole = await api.client.get(
        "/api/v1/audit?from=0001-01-01&to=9999-12-31&limit=1", headers=api.h("admin")
    )
    assert whole.status_code == 200, whole.text
    assert whole.json()["total"] == everything.json()["total"] > 0
    none = await api.client.get("/api/v1/audit?to=0001-01-01", headers=api.h("admin"))
    assert none.status_code == 200 and none.json()["total"] == 0


async def test_the_ui_indicators_and_audit_pages_take_the_calendars_ends(ui: Ui):
    await ui.login("admin")
    for page in ("/indicators", "/audit", "/validations"):
        for query in ("from=0001-01-01&to=0001-01-01", "from=0001-01-01&to=9999-12-31", ""):
            r = await ui.client.get(f"{page}?{query}")
            assert r.status_code == 200, (page, query, r.text[:300])


async def _write_price(api: Api, pid: int, valid_from: str, valid_to: str | None = None):
    key = gd01_key(pid)
    found = await api.client.get("/api/v1/prices/versions", params=key, headers=api.h(STAFF))
    body = {**key, "amount": "100.00", "valid_from": valid_from, "reason": "日历边界"}
    if valid_to:
        body["valid_to"] = valid_to
    r = await post(api, "/api/v1/prices/versions", body, found.json()["etag"])
    assert r.status_code == 201, r.text


async def test_a_price_to_the_calendars_last_day_reads_back_everywhere(ui: Ui):
    """Written by the API (asyncpg: `infinity` in PostgreSQL), the version from 9999-12-30 to
    9999-12-31 reads back through psycopg as that day, the estimate of 9999-12-31 validates
    (its references come as JSON text: "infinity" was a 500), and the part's page draws a
    chart over ten thousand years with at most twelve dates on its axis."""
    api = Api(ui.client, ui.keys, ui.settings)
    pid = part_id_of(ui)
    await _write_price(api, pid, "0001-01-01", "0001-01-02")
    await _write_price(api, pid, "9999-12-30", "9999-12-31")
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            key = prices.price_key(session, model_id=None, region=None, **gd01_key(pid))
            found = prices.price_key_versions(session, key).versions
            assert [(v.valid_from, v.valid_to) for v in found][-1] == (date(9999, 12, 30), LAST)
            assert (found[0].valid_from, found[0].valid_to) == (FIRST, date(1, 1, 2))
            if engine.dialect.name == "postgresql":  # as asyncpg stored it
                stored = session.execute(
                    text("SELECT valid_to::text FROM prices WHERE id = :id"), {"id": found[-1].id}
                ).scalar_one()
                assert stored == "infinity"
    finally:
        engine.dispose()
    body = estimate(11, "9999-12-30", branch="GD01")
    body["lines"] = [
        {"type": "part", "part_id": pid, "claimed_unit_price": "150", "price_type": "4s"}
    ]
    r = await api.client.post("/api/v1/estimates/validate", json=body, headers=api.h())
    assert r.status_code == 201, r.text
    # 150.00 against the reference 100.00 in force to 9999-12-31, 5% tolerance: 105.00, cut 45.00
    line = r.json()["lines"][0]
    assert (line["allowed"], line["cut"]) == ("105.00", "45.00"), line
    reference = line["flags"][0]["reference"]
    assert reference["value"] == "100.00"
    assert reference["provenance"]["valid_to"] == "9999-12-31"
    await ui.login("pricing_staff")
    page = await ui.client.get(f"/parts/{pid}")
    assert page.status_code == 200, page.text[:300]
    chart = page.text[page.text.index('id="history-chart"') :]
    labels = re.findall(
        r'text-anchor="middle">(\d{4}-\d{2})</text>', chart[: chart.index("</svg>")]
    )
    assert 0 < len(labels) <= 12, labels


async def test_psycopg_writes_the_last_day_as_asyncpg_does(ui: Ui):
    """An import or the CLI (psycopg) writing 9999-12-31 stores what the API would: one day,
    not two spellings of it (a second version "from 9999-12-31" beside the API's)."""
    pid = part_id_of(ui)
    engine = make_engine(ui.settings)
    try:
        with transaction(engine) as session:
            key = prices.price_key(session, model_id=None, region=None, **gd01_key(pid))
            prices.write_price(
                session,
                key,
                amount=Decimal("100.00"),
                valid_from=LAST,
                valid_to=None,
                source="staff",
                actor="test",
                reason="日历边界",
            )
        with transaction(engine) as session:
            on_last = session.execute(
                text("SELECT count(*) FROM prices WHERE part_id = :p AND valid_from = :d"),
                {"p": pid, "d": LAST},
            ).scalar_one()
            assert on_last == 1
    finally:
        engine.dispose()
    api = Api(ui.client, ui.keys, ui.settings)
    r = await api.client.get("/api/v1/prices/versions", params=gd01_key(pid), headers=api.h(STAFF))
    assert r.status_code == 200, r.text
    assert r.json()["versions"][-1]["valid_from"] == "9999-12-31"


def _date_parameters(operation: dict) -> list[str]:
    """The query parameters of an operation that take a date."""
    names = []
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        formats = {schema.get("format"), *(s.get("format") for s in schema.get("oneOf", []))}
        if parameter["in"] == "query" and "date" in formats:
            names.append(parameter["name"])
    return names


async def test_every_date_parameter_of_the_api_takes_the_calendars_ends(api: Api):
    """Read from the OpenAPI document, so that a route added later is covered too: each date
    query parameter at each end, and the whole calendar where a route takes two."""
    spec = (await api.client.get("/schema/openapi.json")).json()
    asked = []
    for path, methods in spec["paths"].items():
        operation = methods.get("get")
        names = _date_parameters(operation) if operation else []
        if not names:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        queries = [{name: day} for name in names for day in ("0001-01-01", "9999-12-31")]
        if len(names) == 2:
            queries.append({names[0]: "0001-01-01", names[1]: "9999-12-31"})
        for query in queries:
            r = await api.client.get(url, params=query, headers=api.h("admin"))
            assert r.status_code < 500, (url, query, r.text)
            asked.append(url)
    assert {"/api/v1/prices/resolve", "/api/v1/indicators", "/api/v1/audit"} <= set(asked)


async def test_every_ui_page_shows_versions_at_the_calendars_ends(ui: Ui):
    """Every page of the staff UI, with versions of every family (prices, labor rates,
    standard hours, rate cards) from 0001-01-01 and from 9999-12-31 stored and the calendar's
    ends in its usual date filters, answers without a 500."""
    api = Api(ui.client, ui.keys, ui.settings)
    pid = part_id_of(ui)
    written = await _write_at_both_ends(api, pid)
    validations = []
    for n, day in enumerate(("0001-01-01", "9999-12-31")):
        body = estimate(30 + n, day)
        r = await api.client.post("/api/v1/estimates/validate", json=body, headers=api.h())
        assert r.status_code == 201, r.text
        validations.append(r.json()["validation_id"])
    await ui.login("admin")
    queries = ("", "?from=0001-01-01&to=9999-12-31", "?to=0001-01-01", "?from=9999-12-31")
    # the page of each version and validation written (a version's history runs to both ends)
    ids = {
        "/labor-rates/": written["labor-rates"],
        "/standard-hours/": written["standard-hours"],
        "/channels/": ["CH-SHOP1"],
        "/validations/": validations,
    }
    pages = 0
    for route in ui.client.app.routes:
        if route.path.startswith(("/api/", "/schema", "/static")) or "GET" not in route.methods:
            continue
        values = next((v for p, v in ids.items() if route.path.startswith(p)), [pid])
        for value in values:
            url = re.sub(r"\{[^}]+\}", str(value), route.path)
            for query in queries:
                r = await ui.client.get(url + query)
                assert r.status_code < 500, (url + query, r.text[:300])
            if "{" in route.path:
                assert r.status_code == 200, (url, r.text[:300])
        pages += 1
    assert pages > 20


# --- dates in request bodies ------------------------------------------------------------------


def _body_dates(schema: dict, components: dict, path: str = "", seen: frozenset = frozenset()):
    """The fields of a request body's schema that take a date or a time (`items[].date`)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _body_dates(components[name], components, path, seen | {name})
        return
    for key in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(key, []):
            yield from _body_dates(option, components, path, seen)
    if schema.get("format") in ("date", "date-time"):
        yield path
    for name, field in schema.get("properties", {}).items():
        yield from _body_dates(field, components, f"{path}.{name}" if path else name, seen)
    if "items" in schema:
        yield from _body_dates(schema["items"], components, f"{path}[]", seen)


#: each versioned family's writes: where its versions are listed (with the key's parameters),
#: a new version's body but for its dates, and what a version's end is posted to
FAMILIES = {
    "prices": (
        "/api/v1/prices/versions",
        {"scope": "branch", "branch": "SZ01", "price_type": "4s"},
        {"amount": "100.00"},
        "/api/v1/prices/versions/{id}/end",
    ),
    "labor-rates": (
        "/api/v1/labor-rates/versions",
        {"branch": "SZ01", "labor_kind": "paint", "shop_tier": "4s", "vehicle_class": "B"},
        {"rate": "120.00"},
        "/api/v1/labor-rates/versions/{id}/end",
    ),
    "standard-hours": (
        "/api/v1/standard-hours/versions",
        {"operation": "replace", "vehicle_class": "B"},
        {"labor_kind": "sheet_metal", "hours": "2.2"},
        "/api/v1/standard-hours/versions/{id}/end",
    ),
    "rate-cards": (
        "/api/v1/channels/CH-SHOP1/rate-cards",
        {},
        {"labor": [{"labor_kind": "paint", "rate": "95.00"}]},
        "/api/v1/channels/CH-SHOP1/rate-cards/{id}/end",
    ),
}


def _family_key(family: str, pid: int) -> dict:
    """The key of `family`'s versions in `FAMILIES`, on part `pid` where it names a part."""
    key = FAMILIES[family][1]
    return {**key, "part_id": pid} if family in ("prices", "standard-hours") else key


async def _write_at_both_ends(api: Api, pid: int) -> dict[str, list[int]]:
    """In each family (`FAMILIES`): a version from 0001-01-01 to 0001-01-02, and one from
    9999-12-31 superseding the current one there; their ids, by family."""
    written: dict[str, list[int]] = {}
    for family, (url, _, fields, _) in FAMILIES.items():
        key = _family_key(family, pid)
        etag = (await api.client.get(url, params=key, headers=api.h(STAFF))).json()["etag"]
        for valid_from, valid_to, action in (
            ("0001-01-01", "0001-01-02", "created"),
            ("9999-12-31", None, "superseded"),
        ):
            body = {**key, **fields, "valid_from": valid_from, "reason": "日历边界"}
            if valid_to:
                body["valid_to"] = valid_to
            r = await post(api, url, body, etag)
            assert r.status_code == 201, (family, body, r.text)
            assert r.json()["action"] == action, (family, r.json())
            etag = r.json()["etag"]
            written.setdefault(family, []).append(r.json()["version"]["id"])
    return written


async def test_every_versioned_write_takes_the_calendars_ends(api: Api):
    """Each family's versions written from the calendar's first day and from its last (the
    current one superseded there), read by a validation on either day, and withdrawn on their
    first days. Ending the version from 9999-12-31 on that day was a 409 ("never extended"):
    an open version's end was taken to be 9999-12-31 itself."""
    pid = part_id_of(api)
    await _write_at_both_ends(api, pid)
    # on either day: the part at 100.00 (5% tolerance: 105.00), 2.2 h of paint at 120.00
    for n, day in enumerate(("0001-01-01", "9999-12-31")):
        body = estimate(20 + n, day)
        body["lines"] = [
            {"type": "part", "part_id": pid, "claimed_unit_price": "150", "price_type": "4s"},
            {"type": "labor", "line_ref": 0, "operation": "replace", "labor_kind": "paint",
             "hours": "2.2", "claimed_rate": "130"},
        ]  # fmt: skip
        r = await api.client.post("/api/v1/estimates/validate", json=body, headers=api.h())
        assert r.status_code == 201, (day, r.text)
        part, labor = r.json()["lines"]
        assert (part["allowed"], part["cut"]) == ("105.00", "45.00"), (day, part)
        assert (labor["claimed"], labor["allowed"], labor["cut"]) == ("286.00", "264.00", "22.00")
    for family, (url, _, _, end_url) in FAMILIES.items():
        key = _family_key(family, pid)
        listed = (await api.client.get(url, params=key, headers=api.h(STAFF))).json()
        first, last = listed["versions"][0], listed["versions"][-1]
        assert (first["valid_from"], first["valid_to"]) == ("0001-01-01", "0001-01-02"), family
        assert (last["valid_from"], last["valid_to"]) == ("9999-12-31", None), family
        etag = listed["etag"]
        for version in (last, first):
            body = {"valid_to": version["valid_from"], "reason": "日历边界"}
            r = await post(api, end_url.format(id=version["id"]), body, etag)
            assert r.status_code == 200, (family, version, r.text)
            assert r.json()["action"] == "withdrawn", (family, r.json())
            etag = r.json()["etag"]


async def test_an_accepted_price_on_the_calendars_ends_resolves_in_a_batch(api: Api):
    """Feedback accepted as a price from 0001-01-01 to 0001-01-02 (900.00) and one from
    9999-12-31 (901.00); a batch resolve dated either day, its items dated both, finds each."""
    pid = part_id_of(api)
    for n, dates in enumerate(
        ({"valid_from": "0001-01-01", "valid_to": "0001-01-02"}, {"valid_from": "9999-12-31"})
    ):
        body = {
            "part_id": pid,
            "branch": "SZ01",
            "price_type": "4s",
            "reference": "990.00",
            "observed": f"90{n}.00",
            "note": "日历边界",
        }
        r = await api.client.post("/api/v1/feedback", json=body, headers=api.h("reviewer"))
        assert r.status_code == 201, r.text
        r = await api.client.post(
            f"/api/v1/feedback/{r.json()['id']}/accept", json=dates, headers=api.h(STAFF)
        )
        assert r.status_code == 200, (dates, r.text)
        assert r.json()["status"] == "accepted"
    item = {"part_id": pid, "branch": "SZ01", "price_type": "4s"}
    items = [{**item, "date": day} for day in ("0001-01-01", "9999-12-31")]
    for day in ("0001-01-01", "9999-12-31"):
        r = await api.client.post(
            "/api/v1/prices/resolve", json={"date": day, "items": items}, headers=api.h()
        )
        assert r.status_code == 200, r.text
        found = [(x["status"], x["result"]["amount"]) for x in r.json()["results"]]
        assert found == [(200, "900.00"), (200, "901.00")], r.json()


async def test_every_body_date_of_the_api_is_probed_at_the_calendars_ends(api: Api):
    """The OpenAPI document's request bodies that take a date are exactly the ones the tests
    above post at the calendar's ends: a route added later with one fails here until it is."""
    spec = (await api.client.get("/schema/openapi.json")).json()
    components = spec["components"]["schemas"]
    taking = set()
    for path, methods in spec["paths"].items():
        for operation in methods.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if any(_body_dates(media.get("schema", {}), components)):
                    taking.add(path)
    probed = {url for url, *_ in FAMILIES.values()} | {
        end.replace("{id}", "{version_id}") for *_, end in FAMILIES.values()
    }
    # the estimate's `date` and `submitted_at`: the named tests at the top of this file
    probed |= {
        "/api/v1/prices/resolve",
        "/api/v1/feedback/{item_id}/accept",
        "/api/v1/estimates/validate",
    }
    probed = {p.replace("CH-SHOP1", "{code}") for p in probed}
    assert taking == probed


async def test_the_ui_supersedes_and_withdraws_on_the_calendars_last_day(ui: Ui):
    """Staff on the labor rate's page: a new version from 9999-12-31, then withdrawn on that
    day (the API's 409 of an open version's end on 9999-12-31 was the UI's too)."""
    await ui.login("pricing_staff")
    listed = (await ui.client.get("/labor-rates?branch=SZ01&kind=paint")).text
    url = re.search(r'href="(/labor-rates/\d+)"', listed).group(1)
    page = (await ui.client.get(url)).text
    etag = re.search(r'<section id="edit">.*?name="etag" value="([^"]*)"', page, re.S).group(1)
    form = {"rate": "130", "valid_from": "9999-12-31", "reason": "日历边界", "etag": etag}
    r = await ui.post(f"{url}/versions", {k: html.unescape(v) for k, v in form.items()}, page=url)
    assert r.status_code == 303, r.text[:300]
    page = (await ui.client.get(r.headers["location"])).text
    version = re.search(r'<option value="(\d+)"[^>]*>9999-12-31 起', page).group(1)
    etag = re.search(r'<section id="end">.*?name="etag" value="([^"]*)"', page, re.S).group(1)
    form = {"version": version, "valid_to": "9999-12-31", "reason": "录入错误", "etag": etag}
    r = await ui.post(f"{url}/end", {k: html.unescape(v) for k, v in form.items()}, page=url)
    assert r.status_code == 303, r.text[:300]
    after = (await ui.client.get(r.headers["location"])).text
    assert "已撤销版本" in after
