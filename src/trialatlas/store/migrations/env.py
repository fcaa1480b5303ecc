"""Alembic's entry point for trialatlas: run the raw-SQL migrations against one database.

`trialatlas db upgrade` builds the Alembic config in code (no alembic.ini) and passes the
libpq URL in `config.attributes`; the connection is made by psycopg itself, so every libpq
URL form (sockets, several hosts, service files) works unchanged. The whole upgrade is one
transaction holding an advisory lock, so app servers that all run `db upgrade` at start-up
migrate once, one after the other, instead of racing.
"""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool, text

MIGRATION_LOCK = 0x7472_6961_6C61_7473  # pg_advisory_xact_lock key: "trialats"

config = context.config
url: str = config.attributes["url"]

if context.is_offline_mode():
    context.configure(dialect_name="postgresql", transactional_ddl=True, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, transactional_ddl=True)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
