"""The API as a client sees it: OpenAPI docs offline, 503 and recovery when the database goes
away and comes back, and schemathesis against the live spec on a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from pricebook import migrate
from pricebook.db import make_engine
from pricebook.settings import Settings
from tests.api_client import seed
from tests.ci import IN_CI, POSTGRES_URL, admin_engine, require_postgres
from tests.net import free_port
from tests.processes import uvicorn_command

ROOT = Path(__file__).resolve().parents[1]


async def test_docs_page_works_offline(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    async with AsyncTestClient(app) as client:
        page = await client.get("/schema")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        html = page.text
        assert "http://" not in html and "https://" not in html.replace("https://swagger.io", "")
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "preset.js", "favicon-32x32.png"):
            assert f"/static/swagger-ui/{asset}" in html
            served = await client.get(f"/static/swagger-ui/{asset}")
            assert served.status_code == 200, asset
        assert (
            b"SwaggerUIBundle"
            in (await client.get("/static/swagger-ui/swagger-ui-bundle.js")).content
        )
        spec = (await client.get("/schema/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "name": "X-API-Key",
        "in": "header",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert spec["paths"]["/api/v1/prices/resolve"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/health"]["get"]
    resolve = spec["paths"]["/api/v1/prices/resolve"]
    assert {"get", "post"} <= set(resolve)
    assert "application/problem+json" in resolve["get"]["responses"]["404"]["content"]


async def test_database_unreachable_is_503_problem():
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:9/none", pool_timeout=1)
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/api/v1/models", headers={"X-API-Key": "pbk_x"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    assert response.json()["status"] == 503


class Proxy:
    """A TCP proxy in front of PostgreSQL, on its own thread and event loop, that can be cut
    and restored on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

        self._call(start())

    def stop(self) -> None:
        async def stop() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self.writers):
                writer.close()
            await self.server.wait_closed()
            self.writers.clear()

        self._call(stop())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
def postgres_db(postgres_template: str) -> Iterator[str]:
    name = f"pricebook_t_{uuid.uuid4().hex[:10]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
async def test_recovers_by_itself_when_the_database_is_back(postgres_db: str):
    url = make_url(require_postgres()).set(database=postgres_db)
    made = seed(Settings(database_url=url.render_as_string(hide_password=False)))
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    headers = {"X-API-Key": made["estimate_tool"]}
    async with AsyncTestClient(
        create_app(Settings(database_url=via_proxy, pool_timeout=2))
    ) as client:
        assert (await client.get("/api/v1/models", headers=headers)).status_code == 200
        proxy.stop()
        down = await client.get("/api/v1/parts/1", headers=headers)
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("application/problem+json")
        health = (await client.get("/health")).json()
        assert health["database"] == "unreachable"
        proxy.start()
        back = await client.get("/api/v1/parts/1", headers=headers)
        assert back.status_code == 200, back.text
        assert (await client.get("/health")).json()["database"] == "ok"
    proxy.stop()
    proxy.close()


# ------------------------------------------------------------------------------------------------
# schemathesis against a live server
# ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(
    backend: str, directory: Path, template: str | None = None
) -> Iterator[tuple[str, str]]:
    """A uvicorn server of the app on a seeded database of `backend` (sqlite, or postgres: a
    copy of `template`): its base URL and an admin key."""
    db = directory / "pricebook.db"
    dropped: str | None = None
    if backend == "sqlite":
        settings = Settings(database_url=f"sqlite:///{db}")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        engine.dispose()
    else:
        dropped = f"pricebook_t_{uuid.uuid4().hex[:10]}"
        admin = admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dropped}" TEMPLATE "{template}"'))
        admin.dispose()
        url = make_url(require_postgres()).set(database=dropped)
        settings = Settings(database_url=url.render_as_string(hide_password=False))
    made = seed(settings)
    port = free_port()
    # a fuzzing run, not a rate-limit test: thousands of requests with one key
    env = {
        **os.environ,
        "PRICEBOOK_DATABASE_URL": settings.database_url,
        "PRICEBOOK_RATE_LIMIT": "0",
    }
    log_path = directory / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        uvicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.1)
        yield base, made["admin"]
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        if dropped:
            admin = admin_engine()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture
def live_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[str, str]]]:
    """A live server on SQLite and, when PostgreSQL is configured (always under CI), one on
    PostgreSQL, side by side: backend → (base URL, admin key)."""
    backends = ["sqlite"]
    if POSTGRES_URL or IN_CI:
        require_postgres()  # under CI without a URL: fails the test
        backends.append("postgres")
    with contextlib.ExitStack() as stack:
        servers = {}
        for backend in backends:
            template = (
                request.getfixturevalue("postgres_template") if backend == "postgres" else None
            )
            directory = tmp_path_factory.mktemp(f"live-{backend}")
            servers[backend] = stack.enter_context(serving(backend, directory, template))
        yield servers


#: what schemathesis's checks count as a failure that is the server being right: check →
#: status → why. Every other failure of every check fails the test.
ACCEPTED: dict[str, dict[int, str]] = {
    "missing_required_header": {
        428: "a write without If-Match is 428 Precondition Required (RFC 6585), not a 400",
    },
    "negative_data_rejection": {
        412: "an If-Match that is not a list of entity-tags names no current ETag: 412 as any",
    },
    "positive_data_acceptance": {
        412: "a well-formed If-Match the fuzzer made up (or a stateful step has since made "
        "stale) is not the key's current ETag: 412 Precondition Failed",
    },
}
#: operations where a schema-valid request can break a rule on values no schema can state: a
#: 422 naming the field (positive_data_acceptance accepts it there, and only there)
RULES_422: dict[str, str] = {
    "GET /api/v1/feedback": "a branch code that names no branch",
    "GET /api/v1/indicators": "a branch code that names no branch",
    "GET /api/v1/labor-rates": "a labor kind or branch the catalogue does not have",
    "GET /api/v1/labor-rates/versions": "a branch or labor kind the catalogue does not have",
    "GET /api/v1/models/by-vin/{vin}": "a Chinese VIN's check digit (9th character) is wrong",
    "GET /api/v1/parts/{part_id}/price-history": "a branch or price type that names nothing",
    "GET /api/v1/prices/resolve": "neither part_id nor oe (one of them is required)",
    "GET /api/v1/prices/versions": "a region, branch or price type that names nothing",
    "GET /api/v1/standard-hours": "a part id the catalogue does not have",
    "POST /api/v1/channels": "a branch code that names no branch",
    "POST /api/v1/channels/{code}/rate-cards": "a card needs at least one labor or parts line",
    "POST /api/v1/estimates/validate": "a branch, model or channel the catalogue does not have",
    "POST /api/v1/feedback": "a part, branch or price type the catalogue does not have",
    "POST /api/v1/feedback/{item_id}/answer": "an answer needs a note or a url",
    "POST /api/v1/feedback/{item_id}/accept": "an item without an observed price needs `amount`",
    "POST /api/v1/imports/{kind}": "applying needs a reason; rows that break the kind's rules",
    "POST /api/v1/labor-rates/versions": "a branch or labor kind the catalogue does not have",
    "POST /api/v1/market/unmatched/{observation_id}/confirm": "a part code the catalogue does "
    "not have, a listing without a suggestion, or a part on the other side of the title's",
    "POST /api/v1/market/unmatched/{observation_id}/reject": "a listing without a suggestion",
    "POST /api/v1/market/unmatched/{observation_id}/not-a-part": "a reason of only spaces",
    "POST /api/v1/match": "a brand the catalogue does not have",
    "POST /api/v1/match/confirmations": "a name of nothing but spaces or punctuation",
    "POST /api/v1/prices/versions": "a region, branch or price type that names nothing",
    "POST /api/v1/standard-hours/versions": "hours above 0 with at most two decimals; a labor kind",
    "PUT /api/v1/price-type-words/{word}": "a price type the catalogue does not have",
}
#: operations left out, and why
LEFT_OUT = {
    "DELETE /api/v1/keys/{key_id}": "would revoke the key the run uses (tests/test_api_keys.py)",
}


#: what the max_response_time check allows a request (seconds): a hang, not a slow machine
MAX_RESPONSE_SECONDS = 30


def schemathesis_config(base: str, key: str, examples: int) -> str:
    """schemathesis.toml for the run: every check, both generation modes, `examples` per
    operation, with ACCEPTED and RULES_422 as above."""

    def statuses(values: list[str | int]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    lines = [
        f'base-url = "{base}"',
        "workers = 1",
        'suppress-health-check = ["all"]',
        f'headers = {{ "X-API-Key" = "{key}" }}',
        "[generation]",
        'mode = "all"',
        f"max-examples = {examples}",
        "[checks]",
        # `--checks all` includes max_response_time (10 s unless set): a request that hangs is
        # a failure, but this run shares a 2-core machine with the other tests, and a commit
        # once waited 11.6 s while a neighbour's bulk load was being checkpointed
        f"max_response_time = {MAX_RESPONSE_SECONDS}",
        "missing_required_header.expected-statuses = "
        + statuses(
            ["400", "401", "403", "406", "415", "422", *ACCEPTED["missing_required_header"]]
        ),
        "negative_data_rejection.expected-statuses = "
        + statuses(
            [
                "400",
                "401",
                "403",
                "404",
                "405",
                "406",
                "409",
                "413",
                "415",
                "422",
                "428",
                "429",
                "5xx",
                *ACCEPTED["negative_data_rejection"],
            ]
        ),
        "positive_data_acceptance.expected-statuses = "
        + statuses(
            ["2xx", "401", "403", "404", "409", "429", *ACCEPTED["positive_data_acceptance"]]
        ),
    ]
    for label in RULES_422:
        method, path = label.split(" ", 1)
        lines += [
            "[[operations]]",
            f'include-path = "{path}"',
            f'include-method = "{method}"',
            "checks.positive_data_acceptance.expected-statuses = "
            + statuses(
                [
                    "2xx",
                    "401",
                    "403",
                    "404",
                    "409",
                    "429",
                    *ACCEPTED["positive_data_acceptance"],
                    "422",
                ]
            ),
        ]
    for label in LEFT_OUT:
        method, path = label.split(" ", 1)
        lines += [
            "[[operations]]",
            f'include-path = "{path}"',
            f'include-method = "{method}"',
            "enabled = false",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_servers, tmp_path):
    """Every schemathesis check (`--checks all`: not_a_server_error, status_code_,
    content_type_, response_headers_ and response_schema_conformance, negative_data_rejection,
    positive_data_acceptance, missing_required_header, unsupported_method,
    allow_header_conformance, use_after_free, ensure_resource_availability, ignored_auth,
    object_level_authorization), positive and negative data, every phase (examples, coverage,
    fuzzing, stateful), `PRICEBOOK_FUZZ_EXAMPLES` (60) examples per operation, against a live
    server of each backend; what it may report that is right is listed above with why.

    Cost at 100 examples: ~8,500 cases a backend, ~140 s of schemathesis CPU (its generation holds the GIL:
    one core whatever its workers) and ~45 s of the server's. The two backends' runs therefore
    go side by side, one a core. Measured on 2 cores with another job benchmarking on them: one
    after the other 363 s (SQLite) + 331 s (PostgreSQL); side by side (this test) 440–470 s."""
    examples = int(os.environ.get("PRICEBOOK_FUZZ_EXAMPLES", "60"))
    runs = {}
    for backend, (base, key) in live_servers.items():
        directory = tmp_path / backend
        directory.mkdir()
        config = directory / "schemathesis.toml"
        config.write_text(schemathesis_config(base, key, examples))
        runs[backend] = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{base}/schema/openapi.json",
                "--checks",
                "all",
            ],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    failed = []
    for backend, run in runs.items():
        output, _ = run.communicate(timeout=1800)
        if run.returncode != 0:
            failed.append(f"== {backend}\n{output[-20000:]}")
    assert not failed, "\n\n".join(failed)
