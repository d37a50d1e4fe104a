"""The Litestar application: `create_app(settings)` assembles it; nothing happens at import.

Run: `litestar --app api.app:create_app run` or `uvicorn --factory api.app:create_app`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Response, Router, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import HEADER
from api.caching import SingleFlight, etag_middleware
from api.controllers import (
    V1_DEPENDENCIES,
    V1_EXCEPTION_HANDLERS,
    check_query,
    read_your_writes_middleware,
)
from api.controllers.aliases import AliasController
from api.controllers.channels import ChannelController
from api.controllers.feedback import FeedbackController
from api.controllers.imports import ImportController
from api.controllers.indicators import AuditController, IndicatorController
from api.controllers.keys import KeyController, MeController
from api.controllers.labor_rates import LaborRateController
from api.controllers.market import MarketController
from api.controllers.match import MatchController, match_index_lifespan
from api.controllers.models import ModelController
from api.controllers.parts import PartController
from api.controllers.price_words import PriceTypeWordController
from api.controllers.prices import PriceController
from api.controllers.standard_hours import StandardHoursController
from api.controllers.synonyms import SynonymController
from api.estimates import EstimateController, ValidationWriter, store_on
from api.metrics import RequestStats, metrics, metrics_lifespan
from api.problems import EXCEPTION_HANDLERS, RETRY_AFTER
from api.ratelimit import RateLimiter
from api.rebalance import rebalance_middleware
from api.security import security_headers
from api.serve import redact_access_log
from api.spec import SpecJson, SpecSwagger
from api.timing import time_statements, timing_middleware
from api.ui import routing_error, template_config, ui_router
from pricebook.db import async_session_factory, make_async_engine
from pricebook.replicas import ReplicaSet, display_name
from pricebook.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER = "/static/swagger-ui"

log = logging.getLogger("pricebook.api")


class ReplicaHealth(msgspec.Struct):
    #: host:port/database
    name: str
    #: in_use | lagging (behind by more than PRICEBOOK_REPLICA_MAX_LAG_SECONDS) | down |
    #: not_a_replica (not in recovery) | unchecked (not checked yet)
    state: str
    #: seconds behind the primary at most, as last measured (null: not measured)
    lag_seconds: float | None


class Health(msgspec.Struct, omit_defaults=True):
    #: ok | unavailable (the database does not answer)
    status: str
    #: ok | unreachable
    database: str
    #: the read replicas (PRICEBOOK_DATABASE_REPLICA_URLS), when there are any; one that is
    #: not in use leaves the status ok: the primary serves its reads
    replicas: list[ReplicaHealth] = []
    #: this node's name (PRICEBOOK_NODE_NAME), when it has one
    node: str = ""


@get(
    "/health",
    summary="Liveness and database reachability",
    tags=["health"],
    responses={503: ResponseSpec(Health, description="The database does not answer")},
)
async def health(state: State) -> Response[Health]:
    """200 while the process serves and the database answers `SELECT 1` within
    `PRICEBOOK_HEALTH_TIMEOUT` seconds; 503 (with Retry-After) and `"database": "unreachable"`
    when it does not — refused, failing, or stalled (a frozen server would otherwise hold the
    check as long as the statement timeout)."""
    engine: AsyncEngine = state.engine
    settings: Settings = state.settings
    replicas = [ReplicaHealth(**r) for r in state.replicas.report()]
    try:
        async with asyncio.timeout(settings.health_timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach it is "unreachable" to a health check
        log.warning("health: database unreachable: %s: %s", type(exc).__name__, exc)
        return Response(
            Health(
                status="unavailable",
                database="unreachable",
                replicas=replicas,
                node=settings.node_name,
            ),
            status_code=503,
            headers={"Retry-After": RETRY_AFTER},
        )
    return Response(Health(status="ok", database="ok", replicas=replicas, node=settings.node_name))


async def allow_every_method(message: Message, scope: Scope) -> None:
    """`Allow` of an OPTIONS answer: every method of the path. Litestar's own OPTIONS handler
    lists the methods of the handlers registered first on a path, not those a later
    controller added to it (GET and POST of /api/v1/prices/resolve: `GET, OPTIONS`)."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler = scope.get("route_handler")
    headers = MutableScopeHeaders.from_message(message)
    if handler is None or "allow" not in headers:
        return
    methods = {
        method
        for route in scope["app"].routes
        if isinstance(route, HTTPRoute) and any(h is handler for h in route.route_handlers)
        for method in route.methods
    }
    if methods:
        headers["Allow"] = ", ".join(sorted(methods))


NODE_HEADER = "X-Pricebook-Node"


def node_header(name: str) -> Any:
    """A `before_send` hook naming this node on every answer (errors and the UI included):
    behind a load balancer the answer alone must say which node gave it, since every node
    serves the same data and nothing else tells them apart."""
    value = name.encode("latin-1", "replace").decode("latin-1")

    async def name_the_node(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            MutableScopeHeaders.from_message(message)[NODE_HEADER] = value

    return name_the_node


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    redact_access_log()
    stats = RequestStats()

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        sys.setswitchinterval(settings.gil_switch_interval)
        engine = make_async_engine(settings)
        time_statements(engine)
        app.state.engine = engine
        app.state.sessions = async_session_factory(engine)
        # validations are stored by one writer per process (group commit), on this engine or,
        # when they need not wait for the WAL flush, on a small one of their own that says so
        writes_on = engine
        if not settings.validation_synchronous_commit and not settings.is_sqlite:
            log.warning(
                "PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT=off: stored validations do not wait "
                "for their WAL flush; a crash of PostgreSQL can lose the last ~0.6 s of them"
            )
            writes_on = make_async_engine(settings, pool_size=2, synchronous_commit=False)
        app.state.validation_writer = ValidationWriter(store_on(writes_on))
        replica_engines = [
            (display_name(url), make_async_engine(settings, url=url))
            for url in settings.database_replica_urls
        ]
        for _, replica in replica_engines:
            time_statements(replica)
        app.state.replicas = replicas = ReplicaSet(
            engine,
            replica_engines,
            max_lag=settings.replica_max_lag_seconds,
            read_your_writes=settings.read_your_writes_seconds,
            check_timeout=settings.health_timeout,
        )
        replicas.start()
        try:
            yield
        finally:
            await replicas.close()
            writer = app.state.validation_writer
            await writer.close()
            if writer.inserts:
                log.info("validations stored: %d in %d INSERTs", writer.rows, writer.inserts)
            if writes_on is not engine:
                await writes_on.dispose()
            await engine.dispose()

    v1 = Router(
        path="/api/v1",
        route_handlers=[
            ModelController,
            PartController,
            AliasController,
            PriceController,
            LaborRateController,
            StandardHoursController,
            ChannelController,
            SynonymController,
            PriceTypeWordController,
            EstimateController,
            MatchController,
            MarketController,
            FeedbackController,
            ImportController,
            IndicatorController,
            AuditController,
            KeyController,
            MeController,
            metrics,
        ],
        dependencies=V1_DEPENDENCIES,
        exception_handlers=V1_EXCEPTION_HANDLERS,
        security=[{"ApiKey": []}],
        middleware=[etag_middleware, read_your_writes_middleware],
        before_request=check_query,
    )
    openapi = OpenAPIConfig(
        title="Pricebook",
        version="1",
        description="Parts-and-labor price reference for motor-insurance loss review (车险核损). "
        f"Every /api/v1 route needs an API key in the `{HEADER}` header; errors are RFC 9457 "
        "problem+json; money is a decimal string of yuan.",
        path="/schema",
        render_plugins=[
            SpecJson(),
            SpecSwagger(
                path="/",
                js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER}/preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{SWAGGER}/favicon-32x32.png'>",
            ),
        ],
        components=Components(
            security_schemes={
                "ApiKey": SecurityScheme(
                    type="apiKey",
                    name=HEADER,
                    security_scheme_in="header",
                    description="`pricebook keys create --role ROLE --name NAME` prints one; "
                    "roles: estimate_tool < reviewer < pricing_staff < admin",
                )
            }
        ),
        tags=[
            Tag(name="catalogue", description="vehicle models and parts"),
            Tag(name="prices", description="reference prices with provenance"),
            Tag(name="labor", description="labor rates and standard hours"),
            Tag(name="keys", description="API keys"),
            Tag(name="channels", description="special channels and their rate cards"),
            Tag(name="feedback", description="price-mismatch feedback and drift review queue"),
            Tag(name="indicators", description="the loss-review desk's indicators"),
            Tag(name="audit", description="who changed what, when and why"),
            Tag(name="imports", description="CSV/XLSX imports with a dry-run preview"),
            Tag(name="market", description="market price crawls and their reports"),
        ],
    )
    return Litestar(
        route_handlers=[
            health,
            v1,
            create_static_files_router(path="/static", directories=[STATIC]),
            ui_router(settings),  # the staff web UI at /, with its own session and CSRF
        ],
        lifespan=[database, match_index_lifespan, metrics_lifespan],
        middleware=[
            timing_middleware(settings.slow_request_ms, stats),
            rebalance_middleware(settings.connection_max_requests, settings.connection_max_seconds),
        ],
        exception_handlers={  # type: ignore[arg-type]
            **EXCEPTION_HANDLERS,
            NotFoundException: routing_error,
            MethodNotAllowedException: routing_error,
        },
        before_send=[
            security_headers,
            allow_every_method,
            *([node_header(settings.node_name)] if settings.node_name else []),
        ],
        state=State(
            {
                "settings": settings,
                "single_flight": SingleFlight(),
                "request_stats": stats,
                "started_at": time.time(),
                "rate_limiter": RateLimiter(*rate) if (rate := settings.rate) else None,
            }
        ),
        openapi_config=openapi,
        template_config=template_config(),
        type_encoders={Decimal: str},
    )
