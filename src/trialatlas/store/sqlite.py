"""The embedded store: a SQLite file in WAL mode, so readers never wait for an ingest,
with its full-text index in a second file beside it (store/text_index.py).

Each `write` is one transaction covering documents, versions, columns, facet terms and
synonym evidence; a process killed mid-ingest leaves the last committed batch and nothing
half-written. The text index follows: at once for a single write, and during a `bulk` run
(an ingest) on a thread of its own, a batch behind. A `bulk` run into an empty store builds
the indexes that take entries in random order at its end instead (see `_LOAD_DEFERRED`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from trialatlas.records.document import compress, decode, study_columns
from trialatlas.search.synonyms import link_rows
from trialatlas.store.base import Change, PreparedStudy, VersionInfo, count_sql
from trialatlas.store.batch import STUDY_COLUMNS, BatchPlan, Stored, plan_batch, study_row
from trialatlas.store.sqlite_files import connect, run_schema, transaction
from trialatlas.store.text_index import TextIndexer, Texts, prepare_text_index, text_index_path

SCHEMA_VERSION = 3  # PRAGMA user_version of schema_sqlite.sql
log = logging.getLogger(__name__)
_INSERT_STUDY = (
    f"INSERT INTO study (rowid, {', '.join(STUDY_COLUMNS)}) "
    f"VALUES (?, {', '.join('?' * len(STUDY_COLUMNS))})"
)
_INSERT_TERM = "INSERT INTO study_term VALUES (?, ?, ?)"
_INSERT_LOCATION = "INSERT INTO location VALUES (?, ?, ?, ?, ?, ?, ?)"
# Indexes whose entries arrive in random order (by facet value, by city), so that each
# insert lands on a page of its own. A bulk load into an empty store drops them and builds
# them, sorted, at its end: at 91,244 studies the load took 34.2 s plus 2.5 s for the build,
# against 41.4 s keeping them. Queries stay right meanwhile, only slower; whichever write
# comes next after an interrupted load builds them (the schema script creates what's missing).
_LOAD_DEFERRED = ("study_term_by_value", "location_by_city")
_DEFERRED_MISSING = (
    "(SELECT count(*) FROM main.sqlite_master WHERE type = 'index' AND name IN"
    f" ({', '.join(repr(name) for name in _LOAD_DEFERRED)})) < {len(_LOAD_DEFERRED)}"
)
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
    document_form = staticmethod(compress)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = connect(self.path)
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
        instance = self._db.execute(
            "SELECT value FROM search_state WHERE key = 'instance'"
        ).fetchone()[0]
        studies = self.count()
        rebuild = prepare_text_index(self.path, instance) and studies > 0
        self._db.execute("ATTACH DATABASE ? AS fts", (str(text_index_path(self.path)),))
        self._indexer: TextIndexer | None = None
        self._bulk = False
        self._loading = False  # in a bulk load into an empty store, its indexes dropped
        if rebuild:  # the file was missing or another store's: index every study now
            log.warning(  # a store restored from a backup waits here: minutes at 500k studies
                "%s had no text index of its own: indexing %s studies (about 4,000 a second)",
                self.path, f"{studies:,}",
            )  # fmt: skip
            (generation,) = self._db.execute(
                "SELECT value FROM search_state WHERE key = 'generation'"
            ).fetchone()
            self._index_text(generation, {})

    def _create_schema(self) -> None:
        with transaction(self._db, "BEGIN IMMEDIATE") as db:
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                run_schema(db, "schema_sqlite.sql")

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the search layer's SQL."""
        return self._db

    def write(self, studies: Sequence[PreparedStudy]) -> list[Change]:
        db = self._db
        now = datetime.now(UTC).isoformat(timespec="seconds")
        # Deferred, with a write first: BEGIN IMMEDIATE would also lock the attached text
        # index, which the indexer thread writes meanwhile.
        with transaction(self._db):
            if not self._loading:
                self._build_deferred_indexes()
            generation = db.execute(
                "UPDATE search_state SET value = value + 1 WHERE key = 'generation' RETURNING value"
            ).fetchone()[0]
            known = self._known(study.nct_id for study in studies)
            plan = plan_batch(studies, known, self._version)
            db.executemany(_INSERT_VERSION, [(
                e.study.nct_id, e.version, e.study.content_hash, e.study.location, now,
                orjson.dumps(e.changed_modules).decode(), e.study.document,
            ) for e in plan.versions])  # fmt: skip
            texts = self._write_current(plan, generation)
        self._index_text(generation, texts)
        return plan.changes

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Writes in this context return before their text is indexed: the indexer thread
        indexes one batch while the next is written. Into an empty store, the indexes of
        `_LOAD_DEFERRED` are built at the end. Leaving waits for both."""
        self._loading = self._drop_deferred_indexes()
        self._bulk = True
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the run's own error is the one to see
                self._end_bulk()
            raise
        self._end_bulk()

    def _end_bulk(self) -> None:
        self._bulk = self._loading = False
        try:
            with transaction(self._db):
                self._build_deferred_indexes()
        finally:
            self._await_text_index()  # it indexes the last batch meanwhile, on its thread

    def _drop_deferred_indexes(self) -> bool:
        """Drop the `_LOAD_DEFERRED` indexes if the store is empty; True when dropped."""
        with transaction(self._db) as db:
            empty = not db.execute("SELECT EXISTS (SELECT 1 FROM study)").fetchone()[0]
            for name in _LOAD_DEFERRED if empty else ():
                db.execute(f"DROP INDEX IF EXISTS main.{name}")
        return empty

    def _build_deferred_indexes(self) -> None:
        """Inside a transaction: build whichever `_LOAD_DEFERRED` index is missing."""
        if self._db.execute(f"SELECT {_DEFERRED_MISSING}").fetchone()[0]:
            run_schema(self._db, "schema_sqlite.sql")  # idempotent: creates only what's missing

    def _index_text(self, generation: int, texts: Texts) -> None:
        """Bring the text index up to `generation` (outside `bulk`, before returning),
        reusing the index texts a write already has."""
        if self._indexer is None:
            self._indexer = TextIndexer(self.path)
        self._indexer.index_through(generation, texts)
        if not self._bulk:
            self._await_text_index()

    def _await_text_index(self) -> None:
        if self._indexer is not None:
            indexer, self._indexer = self._indexer, None
            indexer.close()

    def _write_current(self, plan: BatchPlan, generation: int) -> Texts:
        """Replace the rows of studies whose current version changed; all rows precomputed,
        so this is one executemany per table.

        A replaced study's rows go and come back under its rowid; new studies take the
        rowids after the largest, as SQLite itself would give them. Returns the index
        texts of the new current versions, for the text index.
        """
        db = self._db
        rowids = {nct_id: rowid for nct_id, (rowid, _) in plan.replaced.items()}
        last = db.execute("SELECT coalesce(max(rowid), 0) FROM study").fetchone()[0]
        links: Counter[tuple[str, str, str]] = Counter()
        for nct_id, (_, version) in plan.replaced.items():
            links.subtract(link_rows(study_columns(self._version(nct_id, version))))
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
        return {rowid: (version, s.index_text) for rowid, s, version in rows}

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
        return decode(
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
        return None if row is None else decode(row[0])

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
            yield decode(document)

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM study").fetchone()[0]

    def counts_by(self, column: str) -> list[tuple[str | None, int]]:
        return [(value, n) for value, n in self._db.execute(count_sql(column)) if n]

    def optimize(self) -> None:
        self._await_text_index()
        # Statistics from a sample of each index are all the planner needs here; a full
        # ANALYZE reads every index, 5 s at 100,000 studies, after every ingest however small.
        self._db.execute("PRAGMA analysis_limit = 1000")
        self._db.execute("ANALYZE main")

    def close(self) -> None:
        try:
            self._await_text_index()
        finally:
            self._db.close()
