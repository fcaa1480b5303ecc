"""The SQLite store's full-text index, in a file of its own beside the store ({store}-fts).

Why a second file: SQLite lets one connection at a time write a file, and tokenising,
flushing and merging the full text took a third of a bulk ingest's serial write. In its
own file, a thread of its own writes it (SQLite releases the GIL while it works) on the
second core while the store writes the next batch.

What it holds is derived: the text of every study the store had at generation
`text_state.generation`, each at its version then (the store's own search_state counts
generations). `TextIndexer` catches up from the store's documents with whatever the file
lacks (the batches a killed ingest had not indexed yet, another process's writes, a
deleted file), so text is never lost, only late. Readers show the file's generation
(search/sqlite.py): a study turns up in text searches once its text is indexed.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from trialatlas.records.document import decode
from trialatlas.records.index_text import FIELD_NAMES, index_text
from trialatlas.store.sqlite_files import connect, run_schema, transaction

SUFFIX = "-fts"
SCHEMA_VERSION = 1  # PRAGMA user_version of schema_text.sql
# What readers show: the store generation whose text is indexed.
GENERATION_SQL = "SELECT value FROM fts.text_state WHERE key = 'generation'"
# Studies indexed per transaction when catching up: bounds the memory a rebuild takes.
CHUNK = 4000

_FTS_INSERT = (
    f"INSERT INTO study_fts (rowid, {', '.join(FIELD_NAMES)}) "
    f"VALUES (?, {', '.join('?' * len(FIELD_NAMES))})"
)
_FTS_DELETE = (
    f"INSERT INTO study_fts (study_fts, rowid, {', '.join(FIELD_NAMES)}) "
    f"VALUES ('delete', ?, {', '.join('?' * len(FIELD_NAMES))})"
)
_MARK_INDEXED = (
    "INSERT INTO indexed VALUES (?, ?) ON CONFLICT (rowid) DO UPDATE SET version = excluded.version"
)
# (rowid -> (version, index text)) of studies a write just stored: what the writer already
# has, so indexing them needs no document read.
Texts = dict[int, tuple[int, tuple[str, ...]]]


def text_index_path(store: Path) -> Path:
    return store.with_name(store.name + SUFFIX)


def prepare_text_index(store: Path, instance: int) -> bool:
    """Create the index file of the store with this instance number, or empty one left by
    another store; True when it was (re)made empty."""
    db = connect(text_index_path(store))
    try:
        if _belongs_to(db, instance):  # the usual case, without taking the write lock
            return False
        with transaction(db, "BEGIN IMMEDIATE"):
            if _belongs_to(db, instance):  # another process made it meanwhile
                return False
            for table in ("study_fts", "indexed", "text_state"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            run_schema(db, "schema_text.sql", fts_columns=", ".join(FIELD_NAMES))
            db.execute(
                "INSERT INTO text_state VALUES ('instance', ?), ('generation', 0)", (instance,)
            )
            return True
    finally:
        db.close()


def _belongs_to(db: sqlite3.Connection, instance: int) -> bool:
    if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        return False
    state = dict(db.execute("SELECT key, value FROM text_state"))
    return state.get("instance") == instance


class TextIndexer:
    """Brings a store's text index up to the store's generations, in a thread of its own.

    `index_through` queues a generation and returns at once (a second call waits while one
    is still queued, so memory stays flat); `close` returns when the queued work is done.
    Both raise what went wrong in the thread.
    """

    def __init__(self, store: Path) -> None:
        self._store_path = store
        self._jobs: queue.Queue[tuple[int, Texts] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        # a daemon: should its store never be closed, exiting still works (and SQLite rolls
        # back the transaction it may be in)
        self._thread = threading.Thread(target=self._run, name="trialatlas-text-index")
        self._thread.daemon = True
        self._thread.start()

    def index_through(self, generation: int, texts: Texts) -> None:
        self._raise_error()
        self._jobs.put((generation, texts))

    def close(self) -> None:
        """Finish the queued work and stop."""
        self._jobs.put(None)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"indexing the full text failed: {self._error}") from self._error

    def _run(self) -> None:
        """Take jobs until told to stop; after an error only drain them, so no caller
        blocks on a full queue."""
        connections: tuple[sqlite3.Connection, sqlite3.Connection] | None = None
        try:
            while (job := self._jobs.get()) is not None:
                if self._error is not None:
                    continue
                try:
                    connections = connections or self._connect()
                    self._catch_up(*connections, *job)
                except BaseException as exc:  # raised to the writer by index_through / close
                    self._error = exc
        finally:
            for db in connections or ():
                db.close()

    def _connect(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """A connection to the store, to read it, and one to the text index, to write it."""
        store = connect(self._store_path)
        fts = connect(text_index_path(self._store_path))
        fts.execute("PRAGMA cache_size = -262144")  # 256 MiB: segment merges reread pages
        return store, fts

    def _catch_up(
        self, store: sqlite3.Connection, fts: sqlite3.Connection, generation: int, texts: Texts
    ) -> None:
        """Index every study changed after the file's generation, up to `generation`."""
        (done,) = fts.execute("SELECT value FROM text_state WHERE key = 'generation'").fetchone()
        if done >= generation:
            return
        store.execute("BEGIN")  # one snapshot of the store for the whole catch-up
        try:
            rows = store.execute(
                "SELECT rowid, nct_id, version FROM study"
                " WHERE generation > ? AND generation <= ? ORDER BY rowid",
                (done, generation),
            ).fetchall()
            for start in range(0, max(len(rows), 1), CHUNK):
                with transaction(fts, "BEGIN IMMEDIATE"):
                    self._index(store, fts, rows[start : start + CHUNK], texts)
                    if start + CHUNK >= len(rows):  # max: another process may be further
                        fts.execute(
                            "UPDATE text_state SET value = max(value, ?) WHERE key = 'generation'",
                            (generation,),
                        )
        finally:
            store.execute("COMMIT")

    @staticmethod
    def _index(
        store: sqlite3.Connection,
        fts: sqlite3.Connection,
        rows: Sequence[tuple[int, str, int]],
        texts: Texts,
    ) -> None:
        """Replace the text of these (rowid, nct_id, version) studies, unless the file
        already holds that version or a newer one (a concurrent writer's)."""

        def text_of(nct_id: str, version: int) -> tuple[str, ...]:
            (document,) = store.execute(
                "SELECT document FROM study_version WHERE nct_id = ? AND version = ?",
                (nct_id, version),
            ).fetchone()
            return index_text(decode(document))

        marks = ", ".join("?" * len(rows))
        held = dict(
            fts.execute(
                f"SELECT rowid, version FROM indexed WHERE rowid IN ({marks})",
                [rowid for rowid, _, _ in rows],
            )
        )
        deletes, inserts, indexed = [], [], []
        for rowid, nct_id, version in rows:
            old = held.get(rowid)
            if old is not None and old >= version:
                continue
            if old is not None:
                deletes.append((rowid, *text_of(nct_id, old)))
            given = texts.get(rowid)
            text = given[1] if given and given[0] == version else text_of(nct_id, version)
            inserts.append((rowid, *text))
            indexed.append((rowid, version))
        fts.executemany(_FTS_DELETE, deletes)
        fts.executemany(_FTS_INSERT, inserts)
        fts.executemany(_MARK_INDEXED, indexed)
