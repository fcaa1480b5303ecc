"""Stores: where study documents, their versions and their indexes live."""

from __future__ import annotations

import os
from pathlib import Path

from trialatlas.store.base import Change, PreparedStudy, Store, VersionInfo

DEFAULT_DATABASE = "trialatlas.db"
DATABASE_ENV = "TRIALATLAS_DATABASE"

__all__ = ["Change", "PreparedStudy", "Store", "VersionInfo", "database_url", "open_store"]


def database_url(explicit: str | None = None) -> str:
    """--database, else $TRIALATLAS_DATABASE, else ./trialatlas.db."""
    return explicit or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE


def open_store(url: str | None = None) -> Store:
    """A SQLite file path (the default) or a postgresql:// URL."""
    target = database_url(url)
    if target.startswith(("postgresql://", "postgres://")):
        from trialatlas.store.postgres import PostgresStore

        return PostgresStore(target)
    from trialatlas.store.sqlite import SQLiteStore

    return SQLiteStore(Path(target))
