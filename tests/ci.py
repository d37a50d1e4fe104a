"""What the environment asks of a test run: CI (where nothing may skip) and the PostgreSQL
server that PostgreSQL tests use.

PostgreSQL tests run when PRICEBOOK_TEST_POSTGRES_URL points at a server (any database on it;
the tests create and drop their own). Without it they skip, except under CI=true, where a
skipped PostgreSQL test fails the run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine

from pricebook.db import sync_url

POSTGRES_URL = os.environ.get("PRICEBOOK_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def cannot_run(reason: str) -> NoReturn:
    """Skip a test this machine cannot run, saying why; under CI fail it: nothing skips there."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require_postgres() -> str:
    """The PostgreSQL server's URL; skips the test without one (fails it under CI)."""
    if not POSTGRES_URL:
        cannot_run("PRICEBOOK_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
    return POSTGRES_URL


def admin_engine() -> Engine:
    """An autocommit engine on the server's `postgres` database, to create and drop others."""
    url = sync_url(require_postgres()).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")
