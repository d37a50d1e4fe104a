"""Shared by the benchmarks: a throw-away PostgreSQL database per run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pricebook.db import sync_url

SERVER_URL = os.environ.get(
    "PRICEBOOK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _admin():
    return create_engine(
        sync_url(SERVER_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


@contextmanager
def scratch_database(prefix: str = "pricebook_bench", template: str | None = None) -> Iterator[str]:
    """A new database (optionally a copy of `template`), dropped on exit; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    with admin.connect() as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_name(url: str) -> str:
    return make_url(url).database or ""
