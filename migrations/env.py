"""Alembic environment: the URL comes from pricebook's Settings (PRICEBOOK_DATABASE_URL).

Tests and the CLI pass an open connection in `config.attributes["connection"]`, so migrations
run on the caller's connection (and its database or schema) instead of opening their own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from pricebook.db import make_engine
from pricebook.models import Base
from pricebook.settings import Settings

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER constraints: batch mode copies the table, which needs named
        # constraints (the naming convention on Base.metadata gives every one a name).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=Settings.from_env().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(Settings.from_env())
    try:
        with engine.connect() as connection:
            _configure(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
