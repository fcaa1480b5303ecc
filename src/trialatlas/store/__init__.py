"""Stores: where study documents, their versions and their indexes live."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from trialatlas.store.base import Change, PreparedStudy, Store, VersionInfo

DEFAULT_DATABASE = "trialatlas.db"
DATABASE_ENV = "TRIALATLAS_DATABASE"

__all__ = [
    "Change",
    "PreparedStudy",
    "Store",
    "StoreUnavailable",
    "VersionInfo",
    "database_url",
    "open_store",
]


class StoreUnavailable(RuntimeError):
    """The database cannot be opened as a trialatlas store; the message says which and why."""


def database_url(explicit: str | None = None) -> str:
    """--database, else $TRIALATLAS_DATABASE, else ./trialatlas.db."""
    return explicit or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE


def open_store(url: str | None = None) -> Store:
    """A SQLite file path (the default) or a postgresql:// URL.

    StoreUnavailable when it cannot be opened: an unreachable server, a path that cannot be
    created, a file that is not a database, or a schema this trialatlas does not read.
    """
    target = database_url(url)
    if target.startswith(("postgresql://", "postgres://")):
        import psycopg

        from trialatlas.store.postgres import PostgresStore, SchemaError

        try:
            return PostgresStore(target)
        except (psycopg.Error, SchemaError) as exc:
            raise StoreUnavailable(f"cannot open the PostgreSQL store: {exc}") from exc
    from trialatlas.store.sqlite import SQLiteStore

    try:
        return SQLiteStore(Path(target))
    except (sqlite3.Error, RuntimeError) as exc:
        raise StoreUnavailable(f"cannot open {target} as a trialatlas store: {exc}") from exc
