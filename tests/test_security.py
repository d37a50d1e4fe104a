"""Sessions and keys at the edges (issue 18): logout ends a session in every process, security
headers, a revoked key refused at once everywhere, estimate tools reading only their own
validations, per-key rate limits. The server-level parts (access log, header timeout) are in
test_serve_security.py."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from api.app import create_app
from api.ratelimit import RateLimiter, retry_after
from api.security import API_CSP, UI_CSP
from pricebook import keys, review_config
from pricebook.db import make_engine, transaction
from pricebook.models import Part, UiSession, VehicleModel
from pricebook.settings import Settings, parse_rate
from tests.api_client import Api, seed
from tests.estimate_data import CONFIG, http_body

CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')
SECRET = "a session secret shared by every worker"


def _shared(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, session_secret=SECRET, **changes)


async def _login(client: AsyncTestClient, key: str) -> None:
    page = await client.get("/login")
    token = CSRF_FIELD.search(page.text)
    assert token
    r = await client.post(
        "/login", data={"api_key": key, "next": "/parts", "_csrf_token": token.group(1)}
    )
    assert r.status_code == 303, r.text


# --- UI sessions ---------------------------------------------------------------------------


async def test_a_copied_session_cookie_stops_working_in_every_worker_after_logout(settings):
    """Two app instances on one database stand for two workers: the cookie copied before the
    logout on worker A works on worker B until then, and not after."""
    settings = _shared(settings)
    made = seed(settings)
    async with (
        AsyncTestClient(create_app(settings)) as a,
        AsyncTestClient(create_app(settings)) as b,
    ):
        a.follow_redirects = b.follow_redirects = False
        await _login(a, made["reviewer"])
        copied = {"Cookie": "; ".join(f"{k}={v}" for k, v in a.cookies.items())}
        assert (await b.get("/parts", headers=copied)).status_code == 200
        page = await a.get("/parts")
        token = CSRF_FIELD.search(page.text)
        assert token
        assert (await a.post("/logout", data={"_csrf_token": token.group(1)})).status_code == 303
        r = await b.get("/parts", headers=copied)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert (await a.get("/parts", headers=copied)).status_code == 303
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            assert session.scalars(select(UiSession)).all() == []
    finally:
        engine.dispose()


async def test_a_session_row_past_its_expiry_is_refused(settings):
    settings = _shared(settings)
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        client.follow_redirects = False
        await _login(client, made["reviewer"])
        assert (await client.get("/parts")).status_code == 200
        engine = make_engine(settings)
        try:
            with transaction(engine) as session:
                row = session.scalars(select(UiSession)).one()
                row.expires_at = row.created_at  # type: ignore[assignment]
        finally:
            engine.dispose()
        assert (await client.get("/parts")).status_code == 303


# --- headers and cookies -------------------------------------------------------------------


async def test_security_headers_on_ui_static_api_and_error_answers(api: Api):
    client = api.client
    client.follow_redirects = False
    answers = {
        "login page": (await client.get("/login"), UI_CSP),
        "redirect to login": (await client.get("/parts"), UI_CSP),
        "static file": (await client.get("/static/ui/pricebook.css"), UI_CSP),
        "unknown page": (await client.get("/no-such-page"), UI_CSP),
        "API answer": (await api.get("/api/v1/me"), API_CSP),
        "API 401": (await client.get("/api/v1/me"), API_CSP),
        "API 404": (await api.get("/api/v1/parts/999999"), API_CSP),
    }
    for what, (r, csp) in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", what
        assert r.headers.get("referrer-policy") == "same-origin", what
        assert r.headers.get("x-frame-options") == "DENY", what
        assert r.headers.get("content-security-policy") == csp, what
    assert "'unsafe-inline'" not in UI_CSP and "script-src 'self'" in UI_CSP
    assert "frame-ancestors 'none'" in UI_CSP


async def test_ui_pages_hold_no_inline_script_or_style(api: Api):
    """What the CSP would block: an inline <script>, a style attribute or a <style> element."""
    api.client.follow_redirects = False
    pages = [await api.client.get("/login")]
    await _login(api.client, api.keys["pricing_staff"])
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            part_id = session.scalars(select(Part.id).where(Part.code == "VW1-0001")).one()
    finally:
        engine.dispose()
    for path in ("/parts?q=VW", f"/parts/{part_id}", "/feedback", "/indicators",
                 "/import"):  # fmt: skip
        pages.append(await api.client.get(path))
    for page in pages:
        path = page.url.path
        assert page.status_code == 200, path
        html = page.text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        assert '"includeIndicatorStyles": false' in html, path
    assert 'class="swatch"' in pages[2].text  # the price chart's legend, once a style attribute


@pytest.mark.parametrize("secure", [False, True])
async def test_cookie_secure_setting(settings, secure: bool):
    settings = dataclasses.replace(settings, cookie_secure=secure)
    made = seed(settings)
    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as c:
        c.follow_redirects = False
        page = await c.get("/login")
        token = CSRF_FIELD.search(page.text)
        assert token
        r = await c.post(
            "/login", data={"api_key": made["reviewer"], "_csrf_token": token.group(1)}
        )
        cookies = page.headers.get_list("set-cookie") + r.headers.get_list("set-cookie")
    named = {c.split("=", 1)[0]: c for c in cookies}
    assert {"pricebook_csrf", "pricebook_session"} <= set(named)
    for name in ("pricebook_csrf", "pricebook_session"):
        assert ("; secure" in named[name].lower()) is secure, named[name]


def test_settings_from_env():
    default = Settings.from_env({})
    assert (default.cookie_secure, default.header_timeout) == (False, 10.0)
    assert default.rate == (600, 60.0)
    env = {"PRICEBOOK_COOKIE_SECURE": "on", "PRICEBOOK_HEADER_TIMEOUT": "2.5",
           "PRICEBOOK_RATE_LIMIT": "20/second"}  # fmt: skip
    s = Settings.from_env(env)
    assert (s.cookie_secure, s.header_timeout, s.rate) == (True, 2.5, (20, 1.0))
    assert Settings.from_env({"PRICEBOOK_RATE_LIMIT": "0"}).rate is None
    assert default.gil_switch_interval == 0.001
    assert (
        Settings.from_env({"PRICEBOOK_GIL_SWITCH_INTERVAL": "0.005"}).gil_switch_interval == 0.005
    )
    assert Settings.from_env({"PRICEBOOK_RATE_LIMIT": ""}).rate is None
    assert parse_rate("5/hour") == (5, 3600.0)
    for name, bad in [("PRICEBOOK_RATE_LIMIT", "lots"), ("PRICEBOOK_RATE_LIMIT", "5/week"),
                      ("PRICEBOOK_HEADER_TIMEOUT", "0"), ("PRICEBOOK_HEADER_TIMEOUT", "soon"),
                      ("PRICEBOOK_COOKIE_SECURE", "maybe"),
                      ("PRICEBOOK_GIL_SWITCH_INTERVAL", "0")]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: bad})


# --- API keys: revocation --------------------------------------------------------------------


async def test_a_key_revoked_on_one_worker_is_refused_by_the_other_on_its_next_request(settings):
    made = seed(settings)
    async with (
        AsyncTestClient(create_app(settings)) as a,
        AsyncTestClient(create_app(settings)) as b,
    ):
        tool = {"X-API-Key": made["estimate_tool"]}
        admin = {"X-API-Key": made["admin"]}
        assert (await b.get("/api/v1/me", headers=tool)).status_code == 200
        me = (await a.get("/api/v1/me", headers=tool)).json()
        listed = (await a.get("/api/v1/keys", headers=admin)).json()
        key_id = next(k["id"] for k in listed if k["name"] == me["name"])
        assert (await a.delete(f"/api/v1/keys/{key_id}", headers=admin)).status_code == 200
        r = await b.get("/api/v1/me", headers=tool)
        assert r.status_code == 401 and r.headers["content-type"].startswith(
            "application/problem+json"
        )


async def test_a_key_revoked_from_the_database_is_refused_at_once(api: Api):
    assert (await api.get("/api/v1/me")).status_code == 200
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            info = keys.authenticate(session, api.keys["estimate_tool"])
            assert info is not None
            keys.revoke_key(session, info.id, actor="test")
    finally:
        engine.dispose()
    assert (await api.get("/api/v1/me")).status_code == 401


# --- validations: an estimate tool reads only its own -----------------------------------------


@pytest.fixture
async def tools(api: Api) -> AsyncIterator[SimpleNamespace]:
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as s:
            review_config.import_review_config(s, CONFIG, actor="test", reason="test config")
            parts = {p.code: p.id for p in s.scalars(select(Part))}
            model = s.scalar(select(VehicleModel.id).where(VehicleModel.code == "VW-LAVIDA-2023"))
            other = keys.create_key(s, name="other tool", role="estimate_tool", actor="test")[1]
    finally:
        engine.dispose()
    line = {"type": "part", "part_id": parts["VW1-0001"], "claimed_unit_price": "1280.00",
            "price_type": "4s"}  # fmt: skip
    yield SimpleNamespace(
        api=api,
        data=http_body(parts, model, [line], estimate_id="E-SEC-1"),
        mine={"X-API-Key": api.keys["estimate_tool"]},
        other={"X-API-Key": other},
        reviewer={"X-API-Key": api.keys["reviewer"]},
    )


async def test_an_estimate_tool_reads_only_the_validations_it_stored(tools):
    client = tools.api.client
    url = "/api/v1/estimates/validate"
    stored = await client.post(url, json=tools.data, headers=tools.mine)
    assert stored.status_code == 201, stored.text
    vid = stored.json()["validation_id"]
    one, listing = (
        f"/api/v1/estimates/E-SEC-1/validations/{vid}",
        "/api/v1/estimates/E-SEC-1/validations",
    )

    for path in (one, listing):
        assert (await client.get(path, headers=tools.mine)).status_code == 200, path
        assert (await client.get(path, headers=tools.reviewer)).status_code == 200, path
        hidden = await client.get(path, headers=tools.other)
        assert hidden.status_code == 404, path
        assert "LSVAB4BR5PN000001" not in hidden.text and "1280" not in hidden.text

    # the other tool posting the same estimate id and version gets a validation of its own
    theirs = await client.post(url, json=tools.data, headers=tools.other)
    assert theirs.status_code == 201 and theirs.json()["reused"] is False
    assert theirs.json()["validation_id"] != vid
    again = await client.post(url, json=tools.data, headers=tools.other)
    assert again.status_code == 200 and again.json()["reused"] is True
    assert again.json()["validation_id"] == theirs.json()["validation_id"]
    mine_again = await client.post(url, json=tools.data, headers=tools.mine)
    assert mine_again.status_code == 200 and mine_again.json()["validation_id"] == vid

    def ids(r) -> list[int]:
        return [item["validation_id"] for item in r.json()["items"]]

    assert ids(await client.get(listing, headers=tools.mine)) == [vid]
    assert ids(await client.get(listing, headers=tools.other)) == [theirs.json()["validation_id"]]
    everyone = await client.get(listing, headers=tools.reviewer)
    assert ids(everyone) == [theirs.json()["validation_id"], vid]
    assert everyone.json()["total"] == 2


# --- rate limits -----------------------------------------------------------------------------


def test_rate_limiter_allows_a_burst_then_the_rate():
    now = [100.0]
    limiter = RateLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.hit("k") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("k")
    assert wait == pytest.approx(20.0)
    assert limiter.hit("other") is None  # counted apart
    now[0] += 19.9
    assert limiter.hit("k") == pytest.approx(0.1)
    now[0] += 0.1
    assert limiter.hit("k") is None and limiter.hit("k") is not None
    assert retry_after(0.1) == "1" and retry_after(20.0) == "20" and retry_after(20.2) == "21"


async def test_a_key_past_its_rate_limit_gets_429_problem_with_retry_after(settings):
    settings = dataclasses.replace(settings, rate_limit="3/minute")
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        tool = {"X-API-Key": made["estimate_tool"]}
        for _ in range(3):
            assert (await client.get("/api/v1/me", headers=tool)).status_code == 200
        r = await client.get("/api/v1/me", headers=tool)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 429 and "3 per 60 s" in r.json()["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= 20
        # another key is counted apart
        other = {"X-API-Key": made["reviewer"]}
        assert (await client.get("/api/v1/me", headers=other)).status_code == 200
        # requests without a valid key are counted by address
        for _ in range(3):
            assert (await client.get("/api/v1/me")).status_code == 401
        assert (
            await client.get("/api/v1/me", headers={"X-API-Key": "pbk_guess"})
        ).status_code == 429


async def test_a_route_guarded_twice_counts_its_key_once(settings):
    # a staff route under a controller open to every role passes two guards: one lookup, one hit
    settings = dataclasses.replace(settings, rate_limit="3/minute")
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        staff = {"X-API-Key": made["pricing_staff"]}
        cards = "/api/v1/channels/NOPE/rate-cards"
        statuses = [(await client.get(cards, headers=staff)).status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]


async def test_the_spec_documents_429_wherever_a_key_is_needed(api: Api):
    spec = (await api.client.get("/schema/openapi.json")).json()
    keyed = [
        (path, method, answers["responses"])
        for path, item in spec["paths"].items()
        for method, answers in item.items()
        if "401" in answers.get("responses", {})
    ]
    assert len(keyed) > 20
    for path, method, responses in keyed:
        assert "429" in responses, (method, path)
    assert "429" not in spec["paths"]["/health"]["get"]["responses"]


async def test_no_rate_limit_when_off(settings):
    settings = dataclasses.replace(settings, rate_limit="0")
    made = seed(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        tool = {"X-API-Key": made["estimate_tool"]}
        for _ in range(30):
            assert (await client.get("/api/v1/me", headers=tool)).status_code == 200
