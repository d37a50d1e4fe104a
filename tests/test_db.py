"""The engines' connection settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pricebook.db import make_async_engine
from pricebook.settings import Settings


@pytest.mark.postgres
async def test_api_connections_plan_prepared_statements_once(empty_postgres_url: str):
    """The API's statements are prepared per connection; PostgreSQL must not re-plan them on
    every execution (see `make_async_engine`)."""
    engine = make_async_engine(Settings(database_url=empty_postgres_url))
    try:
        async with engine.connect() as connection:
            mode = await connection.scalar(text("SHOW plan_cache_mode"))
    finally:
        await engine.dispose()
    assert mode == "force_generic_plan"
