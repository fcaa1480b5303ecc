"""The embedded store: one SQLite file in WAL mode, so readers never wait for an ingest.

Each `write` is one IMMEDIATE transaction covering documents, versions, columns, facet
terms and the full-text index; a process killed mid-ingest leaves the last committed
batch and nothing half-written. The full-text table is contentless (the text lives in the
documents), so replacing a study's index row needs the old document's text, which the
version history provides.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from trialatlas.records.document import StudyColumns
from trialatlas.records.index_text import FIELD_NAMES, index_text
from trialatlas.store.base import COUNTABLE, Change, PreparedStudy, VersionInfo
from trialatlas.store.versions import changed_modules

_STUDY_COLUMNS = (
    "nct_id", "version", "content_hash", "brief_title", "official_title", "acronym",
    "overall_status", "phases", "study_type",
    "start_date", "start_date_type", "primary_completion_date", "primary_completion_date_type",
    "completion_date", "completion_date_type", "first_posted_date", "first_posted_date_type",
    "last_update_date", "last_update_date_type", "enrollment", "enrollment_type", "sex",
    "min_age_days", "max_age_days", "healthy_volunteers", "lead_sponsor", "lead_sponsor_class",
    "has_results", "synthetic",
)  # fmt: skip
_UPSERT_STUDY = (
    f"INSERT INTO study ({', '.join(_STUDY_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_STUDY_COLUMNS))}) "
    "ON CONFLICT (nct_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _STUDY_COLUMNS[1:])
    + " RETURNING rowid"
)
_FTS_INSERT = (
    f"INSERT INTO study_fts (rowid, {', '.join(FIELD_NAMES)}) "
    f"VALUES (?, {', '.join('?' * len(FIELD_NAMES))})"
)
_FTS_DELETE = (
    f"INSERT INTO study_fts (study_fts, rowid, {', '.join(FIELD_NAMES)}) "
    f"VALUES ('delete', ?, {', '.join('?' * len(FIELD_NAMES))})"
)
_INSERT_VERSION = (
    "INSERT INTO study_version (nct_id, version, content_hash, source, ingested_at,"
    " changed_modules, document) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_COUNT_SQL = {
    "overall_status": "SELECT overall_status, count(*) FROM study GROUP BY 1 ORDER BY 2 DESC",
    "study_type": "SELECT study_type, count(*) FROM study GROUP BY 1 ORDER BY 2 DESC",
    "phase": (
        "SELECT value, count(*) FROM study_term WHERE kind = 'phase' GROUP BY 1 "
        "UNION ALL SELECT NULL, count(*) FROM study WHERE phases = '' "
        "ORDER BY 2 DESC"
    ),
}
assert set(_COUNT_SQL) == set(COUNTABLE)


def _study_row(c: StudyColumns, version: int, content_hash: str) -> tuple[Any, ...]:
    return (
        c.nct_id, version, content_hash, c.brief_title, c.official_title, c.acronym,
        c.overall_status, "|".join(c.phases), c.study_type,
        c.start.date, c.start.type, c.primary_completion.date, c.primary_completion.type,
        c.completion.date, c.completion.type, c.first_posted.date, c.first_posted.type,
        c.last_update.date, c.last_update.type, c.enrollment, c.enrollment_type, c.sex,
        c.min_age_days, c.max_age_days, c.healthy_volunteers, c.lead_sponsor,
        c.lead_sponsor_class, c.has_results, c.synthetic,
    )  # fmt: skip


def _term_rows(rowid: int, c: StudyColumns) -> Iterator[tuple[int, str, str]]:
    for kind, values in (
        ("condition", c.conditions),
        ("keyword", c.keywords),
        ("mesh", c.mesh_terms),
        ("intervention", c.interventions),
        ("country", c.countries),
        ("phase", c.phases),
    ):
        for value in dict.fromkeys(values):
            yield rowid, kind, value


@dataclass(slots=True)
class _Known:
    """A stored study during a write: which version is current, which is latest, all hashes."""

    rowid: int
    current: int
    latest: int
    last_update: str | None
    hashes: set[str]

    def record(self, version: int, digest: str) -> None:
        self.hashes.add(digest)
        self.latest = max(self.latest, version)

    def superseded_by(self, incoming: StudyColumns) -> bool:
        """A new version becomes current unless the record says it was updated earlier."""
        date = incoming.last_update.date
        return not (date and self.last_update and date < self.last_update)


class SQLiteStore:
    """The embedded default store. Safe to open from many processes at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA cache_size = -262144")  # 256 MiB
        self._db.execute("PRAGMA foreign_keys = ON")
        if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
            self._create_schema()

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
            known = self._known(study.nct_id for study in studies)
            changes: list[Change] = []
            term_rows: list[tuple[int, str, str]] = []
            fts_rows: list[tuple[Any, ...]] = []
            stale_rowids: list[tuple[int]] = []
            for study in studies:
                state = known.get(study.nct_id)
                if state is not None and study.content_hash in state.hashes:
                    changes.append(Change.UNCHANGED)
                    continue
                version = 1 if state is None else state.latest + 1
                modules: tuple[str, ...] = ()
                if state is not None:
                    previous = orjson.loads(self._version_document(study.nct_id, state.latest))
                    modules = changed_modules(previous, orjson.loads(study.document_json))
                db.execute(_INSERT_VERSION, (
                    study.nct_id, version, study.content_hash, study.location, now,
                    orjson.dumps(modules).decode(), study.document_json.decode(),
                ))  # fmt: skip
                changes.append(Change.ADDED if state is None else Change.UPDATED)
                last_update = study.columns.last_update.date
                if state is not None:
                    state.record(version, study.content_hash)
                    if not state.superseded_by(study.columns):
                        continue  # kept as an older version; the current one stays
                    current = orjson.loads(self._version_document(study.nct_id, state.current))
                    db.execute(_FTS_DELETE, (state.rowid, *index_text(current)))
                    stale_rowids.append((state.rowid,))
                    state.current, state.last_update = version, last_update
                rowid = db.execute(
                    _UPSERT_STUDY, _study_row(study.columns, version, study.content_hash)
                ).fetchone()[0]
                if state is None:
                    known[study.nct_id] = _Known(
                        rowid, version, version, last_update, {study.content_hash}
                    )
                term_rows.extend(_term_rows(rowid, study.columns))
                fts_rows.append((rowid, *study.index_text))
            db.executemany("DELETE FROM study_term WHERE study_rowid = ?", stale_rowids)
            db.executemany("INSERT INTO study_term VALUES (?, ?, ?)", term_rows)
            db.executemany(_FTS_INSERT, fts_rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return changes

    def _known(self, nct_ids: Iterator[str]) -> dict[str, _Known]:
        """What is stored of these studies: current row, latest version, every hash."""
        ids = list(nct_ids)
        found: dict[str, _Known] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for nct_id, rowid, version, last_update in self._db.execute(
                "SELECT nct_id, rowid, version, last_update_date FROM study"
                f" WHERE nct_id IN ({marks})",
                chunk,
            ):
                found[nct_id] = _Known(rowid, version, version, last_update, set())
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

    def _version_document(self, nct_id: str, version: int) -> str:
        return self._db.execute(
            "SELECT document FROM study_version WHERE nct_id = ? AND version = ?",
            (nct_id, version),
        ).fetchone()[0]

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
        if column not in _COUNT_SQL:
            raise ValueError(f"cannot count by {column!r}; choose one of {', '.join(COUNTABLE)}")
        return [(value, n) for value, n in self._db.execute(_COUNT_SQL[column]) if n]

    def close(self) -> None:
        self._db.close()
