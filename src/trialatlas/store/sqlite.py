"""The embedded store: one SQLite file in WAL mode, so readers never wait for an ingest.

Each `write` is one IMMEDIATE transaction covering documents, versions, columns, facet
terms and the full-text index; a process killed mid-ingest leaves the last committed
batch and nothing half-written. The full-text table is contentless (the text lives in the
documents), so replacing a study's index row needs the old document's text, which the
version history provides.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from trialatlas.records.document import study_columns
from trialatlas.records.index_text import FIELD_NAMES, index_text
from trialatlas.search.synonyms import link_rows
from trialatlas.store.base import Change, PreparedStudy, VersionInfo, count_sql
from trialatlas.store.batch import STUDY_COLUMNS, BatchPlan, Stored, plan_batch, study_row

SCHEMA_VERSION = 2  # PRAGMA user_version of schema_sqlite.sql
_INSERT_STUDY = (
    f"INSERT INTO study (rowid, {', '.join(STUDY_COLUMNS)}) "
    f"VALUES (?, {', '.join('?' * len(STUDY_COLUMNS))})"
)
_FTS_INSERT = (
    f"INSERT INTO study_fts (rowid, {', '.join(FIELD_NAMES)}) "
    f"VALUES (?, {', '.join('?' * len(FIELD_NAMES))})"
)
_FTS_DELETE = (
    f"INSERT INTO study_fts (study_fts, rowid, {', '.join(FIELD_NAMES)}) "
    f"VALUES ('delete', ?, {', '.join('?' * len(FIELD_NAMES))})"
)
_INSERT_TERM = "INSERT INTO study_term VALUES (?, ?, ?)"
_INSERT_LOCATION = "INSERT INTO location VALUES (?, ?, ?, ?, ?, ?, ?)"
_ADD_LINKS = (
    "INSERT INTO term_link VALUES (?, ?, ?, ?)"
    " ON CONFLICT (kind, a, b) DO UPDATE SET n = n + excluded.n"
)
_INSERT_VERSION = (
    "INSERT INTO study_version (nct_id, version, content_hash, source, ingested_at,"
    " changed_modules, document) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore:
    """The embedded default store. Safe to open from many processes at once."""

    index_form = None  # FTS5 analyses the index text itself

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~40 MB of WAL rather than every 4 MB: a bulk ingest rewrites the
        # same index pages into the database file less often (about 5% of its write time).
        # Only a connection that commits checkpoints, so readers are unaffected.
        self._db.execute("PRAGMA wal_autocheckpoint = 10000")
        self._db.execute("PRAGMA journal_size_limit = 67108864")
        self._db.execute("PRAGMA cache_size = -262144")  # 256 MiB
        self._db.execute("PRAGMA foreign_keys = ON")
        schema = self._db.execute("PRAGMA user_version").fetchone()[0]
        if schema == 0:
            self._create_schema()
        elif schema != SCHEMA_VERSION:
            self._db.close()
            raise RuntimeError(
                f"{self.path} has store schema {schema}; this trialatlas reads schema"
                f" {SCHEMA_VERSION}: ingest into a new database file"
            )

    def _create_schema(self) -> None:
        sql = resources.files("trialatlas.store").joinpath("schema_sqlite.sql").read_text()
        sql = sql.replace("{fts_columns}", ",\n    ".join(FIELD_NAMES))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the search layer's SQL."""
        return self._db

    def write(self, studies: Sequence[PreparedStudy]) -> list[Change]:
        db = self._db
        now = datetime.now(UTC).isoformat(timespec="seconds")
        db.execute("BEGIN IMMEDIATE")
        try:
            generation = db.execute(
                "UPDATE search_state SET value = value + 1 WHERE key = 'generation' RETURNING value"
            ).fetchone()[0]
            known = self._known(study.nct_id for study in studies)
            plan = plan_batch(studies, known, self._version)
            db.executemany(_INSERT_VERSION, [(
                e.study.nct_id, e.version, e.study.content_hash, e.study.location, now,
                orjson.dumps(e.changed_modules).decode(), e.study.document_json.decode(),
            ) for e in plan.versions])  # fmt: skip
            self._write_current(plan, generation)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return plan.changes

    def _write_current(self, plan: BatchPlan, generation: int) -> None:
        """Replace the rows of studies whose current version changed; all rows precomputed,
        so this is one executemany per table.

        A replaced study's rows go and come back under its rowid; new studies take the
        rowids after the largest, as SQLite itself would give them.
        """
        db = self._db
        rowids = {nct_id: rowid for nct_id, (rowid, _) in plan.replaced.items()}
        last = db.execute("SELECT coalesce(max(rowid), 0) FROM study").fetchone()[0]
        links: Counter[tuple[str, str, str]] = Counter()
        for nct_id, (rowid, version) in plan.replaced.items():
            current = self._version(nct_id, version)
            db.execute(_FTS_DELETE, (rowid, *index_text(current)))
            links.subtract(link_rows(study_columns(current)))
        stale = [(rowid,) for rowid in rowids.values()]
        for table, key in (("study_term", "study_rowid"), ("location", "study_rowid"),
                           ("study", "rowid")):  # fmt: skip
            db.executemany(f"DELETE FROM {table} WHERE {key} = ?", stale)
        entries = list(plan.current.values())
        new = (e.study.nct_id for e in entries if e.study.nct_id not in rowids)
        rowids.update(zip(new, itertools.count(last + 1)))
        rows = [(rowids[e.study.nct_id], e.study, e.version) for e in entries]
        db.executemany(
            _INSERT_STUDY,
            [(rowid, *study_row(s, version, generation)) for rowid, s, version in rows],
        )
        db.executemany(_INSERT_TERM, [(rowid, *t) for rowid, s, _ in rows for t in s.terms])
        db.executemany(_INSERT_LOCATION, [(rowid, *p) for rowid, s, _ in rows for p in s.places])
        for _, study, _ in rows:
            links.update(study.links)
        db.executemany(_ADD_LINKS, [(*key, n) for key, n in links.items() if n])
        if stale:
            db.execute("DELETE FROM term_link WHERE n <= 0")
        db.executemany(_FTS_INSERT, [(rowid, *s.index_text) for rowid, s, _ in rows])

    def _known(self, nct_ids: Iterator[str]) -> dict[str, Stored]:
        """What is stored of these studies: current row, latest version, every hash."""
        ids = list(nct_ids)
        found: dict[str, Stored] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for nct_id, rowid, version, last_update in self._db.execute(
                "SELECT nct_id, rowid, version, last_update_date FROM study"
                f" WHERE nct_id IN ({marks})",
                chunk,
            ):
                found[nct_id] = Stored(rowid, version, version, last_update)
            if not found:
                continue
            for nct_id, version, digest in self._db.execute(
                "SELECT nct_id, version, content_hash FROM study_version"
                f" WHERE nct_id IN ({marks})",
                chunk,
            ):
                if nct_id in found:
                    found[nct_id].record(version, digest)
        return found

    def _version(self, nct_id: str, version: int) -> dict[str, Any]:
        """A stored version's document (versions of a write in progress included)."""
        return orjson.loads(
            self._db.execute(
                "SELECT document FROM study_version WHERE nct_id = ? AND version = ?",
                (nct_id, version),
            ).fetchone()[0]
        )

    def document(self, nct_id: str, version: int | None = None) -> dict[str, Any] | None:
        if version is None:
            row = self._db.execute(
                "SELECT v.document FROM study s JOIN study_version v"
                " ON v.nct_id = s.nct_id AND v.version = s.version WHERE s.nct_id = ?",
                (nct_id,),
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT document FROM study_version WHERE nct_id = ? AND version = ?",
                (nct_id, version),
            ).fetchone()
        return None if row is None else orjson.loads(row[0])

    def versions(self, nct_id: str) -> list[VersionInfo]:
        rows = self._db.execute(
            "SELECT nct_id, version, content_hash, source, ingested_at, changed_modules"
            " FROM study_version WHERE nct_id = ? ORDER BY version",
            (nct_id,),
        )
        return [VersionInfo(n, v, h, s, t, tuple(orjson.loads(m))) for n, v, h, s, t, m in rows]

    def iter_documents(self) -> Iterator[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT v.document FROM study s JOIN study_version v"
            " ON v.nct_id = s.nct_id AND v.version = s.version ORDER BY s.nct_id"
        )
        for (document,) in rows:
            yield orjson.loads(document)

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM study").fetchone()[0]

    def counts_by(self, column: str) -> list[tuple[str | None, int]]:
        return [(value, n) for value, n in self._db.execute(count_sql(column)) if n]

    def optimize(self) -> None:
        # Statistics from a sample of each index are all the planner needs here; a full
        # ANALYZE reads every index, 5 s at 100,000 studies, after every ingest however small.
        self._db.execute("PRAGMA analysis_limit = 1000")
        self._db.execute("ANALYZE")

    def close(self) -> None:
        self._db.close()
