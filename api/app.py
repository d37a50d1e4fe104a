"""The Litestar application: `create_app(settings)` assembles it; nothing happens at import.

Run: `litestar --app api.app:create_app run` or `uvicorn --factory api.app:create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.problems import EXCEPTION_HANDLERS
from pricebook.db import async_session_factory, make_async_engine
from pricebook.settings import Settings

log = logging.getLogger("pricebook.api")


@get("/health", summary="Liveness and database reachability", tags=["health"])
async def health(state: State) -> dict[str, Any]:
    """Always 200 while the process serves; `database` says whether the database answers."""
    engine: AsyncEngine = state.engine
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any failure to reach it is "unreachable" to a health check
        log.warning("health: database unreachable: %s", exc)
        database = "unreachable"
    return {"status": "ok", "database": database}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        engine = make_async_engine(settings)
        app.state.engine = engine
        app.state.sessions = async_session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    return Litestar(
        route_handlers=[health],
        lifespan=[database],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        state=State({"settings": settings}),
    )
