"""What the SQLite store's two files (the store and its text index) share: how a connection
to them is set up and how their schema scripts run."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from importlib import resources
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode (readers never wait for a writer), autocommitting unless a
    statement opens a transaction."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    # Checkpoint every ~40 MB of WAL rather than every 4 MB: a bulk ingest rewrites the
    # same index pages into the database file less often (about 5% of its write time).
    # Only a connection that commits checkpoints, so readers are unaffected.
    db.execute("PRAGMA wal_autocheckpoint = 10000")
    db.execute("PRAGMA journal_size_limit = 67108864")
    return db


def run_schema(db: sqlite3.Connection, name: str, **fill: str) -> None:
    """Run a schema script of this package statement by statement, inside the caller's
    transaction (executescript would commit it first); `fill` replaces {placeholders}."""
    sql = resources.files("trialatlas.store").joinpath(name).read_text()
    for key, value in fill.items():
        sql = sql.replace(f"{{{key}}}", value)
    for statement in sql.split(";\n"):
        if statement.strip():
            db.execute(statement)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
    """Commit what the block does, or roll all of it back."""
    db.execute(begin)
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
