"""The multi-user store: PostgreSQL through psycopg 3, with the embedded store's behaviour.

Same tables and rules as the SQLite store (store/batch.py decides versions for both); what
differs is how a batch gets in and how writers meet:

- Each `write` is one transaction. It starts by bumping `search_state.generation`, whose
  row lock makes concurrent writers (two ingests, an ingest and a re-ingest) take turns per
  batch, as SQLite's single writer does; so the same NCT id can never get two version 2s or
  lose one, and the search layer sees generations commit in order. Readers never wait.
- Everything goes in with COPY; a replaced current row is deleted and copied in again under
  its old id. COPY streams, so the server parses and indexes rows while this process builds
  the next ones. The full-text vectors go in binary form, built by the ingest's workers
  (`search_vector`), so the server does not parse them.
- Full text: the store analyses the text itself rather than calling to_tsvector, for two
  reasons. Matching must be identical to SQLite's FTS5 (`porter unicode61
  remove_diacritics 2`: split on non-alphanumerics, lower-cased, diacritics removed, the
  original Porter stemmer, which PostgreSQL does not ship), since filters and counts may
  not differ between backends. And a query may name fields (search areas), which one
  tsvector can only answer if each word carries its field: every lexeme is prefixed with
  its field's code (`FIELD_CODES`, 'a_' for brief_title …). Positions count from 1 in each
  field. PostgreSQL has four weight classes where FTS5 has a weight per column, so fields
  map onto classes by weight (`weight_class`): titles, acronym and ids A; conditions, their
  MeSH terms, keywords and interventions B; intervention MeSH terms, outcomes, sponsors and
  summary C; places, description and criteria D. Each class counts with its mean field
  weight relative to A (`CLASS_WEIGHTS`); search/postgres.py scores with them.
- Connections come from one pool per database URL and process, shared by every store
  object (the web app opens one per thread), so a worker holds at most POOL_SIZE
  connections. Reads go to $TRIALATLAS_READ_DATABASE when set (a replica), writes and the
  schema check to the primary.

The schema is created and upgraded by Alembic (`trialatlas db upgrade`, migrations/), never
implicitly: app servers of a deployment share one database and should not race to alter it.
"""

from __future__ import annotations

import atexit
import os
import struct
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from trialatlas.records.document import study_columns
from trialatlas.records.index_text import FIELD_NAMES, INDEX_FIELDS
from trialatlas.search.synonyms import link_rows
from trialatlas.store.base import Change, PreparedStudy, VersionInfo, count_sql
from trialatlas.store.batch import (
    STUDY_COLUMNS,
    NewVersion,
    Stored,
    plan_batch,
    study_row,
)
from trialatlas.store.fts5_words import words

SCHEMA_REVISION = "0003"  # the newest migration under migrations/versions
READ_DATABASE_ENV = "TRIALATLAS_READ_DATABASE"
POOL_SIZE_ENV = "TRIALATLAS_PG_POOL_SIZE"
POOL_SIZE = 8


def weight_class(weight: float) -> str:
    """The tsvector weight class (A-D) a full-text field of this BM25 weight falls into."""
    return "A" if weight >= 8 else "B" if weight >= 4 else "C" if weight >= 1.5 else "D"


# Field name -> the lexeme prefix of its words; changing one means re-indexing every study.
FIELD_CODES = {name: f"{chr(ord('a') + i)}_" for i, name in enumerate(FIELD_NAMES)}
FIELD_CLASSES = {name: weight_class(weight) for name, weight in INDEX_FIELDS}


def _class_weight(cls: str) -> float:
    weights = [w for _, w in INDEX_FIELDS if weight_class(w) == cls]
    return sum(weights) / len(weights)


# Each class's mean field weight relative to A: what a match in that class scores
CLASS_WEIGHTS = {c: round(_class_weight(c) / _class_weight("A"), 3) for c in "ABCD"}


# A position's weight class sits in its top two bits (tsvector.h, WEP_SETWEIGHT)
_WEIGHT_BITS = {"A": 3 << 14, "B": 2 << 14, "C": 1 << 14, "D": 0}
_FIELD_BITS = tuple((code, _WEIGHT_BITS[FIELD_CLASSES[name]]) for name, code in FIELD_CODES.items())
MAX_POSITION = 16383  # tsvector input clamps later positions to this one (MAXENTRYPOS - 1)
MAX_POSITIONS = 256  # and keeps this many of a lexeme's positions, the first (MAXNUMPOS)
# A lexeme's terminating NUL, then its position count and positions as network-order uint16s
_POSITIONS = [struct.Struct(f">x{n + 1}H").pack for n in range(MAX_POSITIONS + 1)]
# The same for a lexeme found once, by its position (weight bits included): most are, and
# looking them up cut search_vector's time by 7% (448 -> 415 us a synthetic study; 2.5 MB)
_ONCE = [_POSITIONS[1](1, p) for p in range(1 << 16)]


def search_vector(index_text: Sequence[str]) -> bytes:
    """The tsvector of a study's INDEX_FIELDS in PostgreSQL's binary form (tsvectorrecv):
    each word with its field's code, and its positions in the field carrying the field's
    weight class. Exactly the value the text `'a_word':1A,3A …` gives, built as tsvector
    input builds it: lexemes sorted bytewise and each once, positions ascending, clamped
    and cut. Binary because parsing the text was a quarter of the server's work per study;
    this runs in the ingest's worker processes instead (tests compare the two)."""
    names: list[str] = []  # each field's lexemes in order, NUL-separated
    positions: list[bytes] = []
    for (code, weight), text in zip(_FIELD_BITS, index_text, strict=True):
        field_words = words(text)
        if not field_words:
            continue
        found: dict[str, list[int]] = {}
        for position, word in enumerate(field_words, weight + 1):
            found.setdefault(word, []).append(position)
        if len(field_words) >= MAX_POSITION or len(found) < len(field_words) - MAX_POSITIONS:
            for word, kept in found.items():  # some lexeme may be past either limit
                if len(kept) > MAX_POSITIONS or kept[-1] - weight >= MAX_POSITION:
                    found[word] = _kept_positions(kept, weight)
        # field codes differ in their first letter, so field by field is tsvector's order,
        # and str order (code points) is its bytewise order of the UTF-8
        ordered = sorted(found)
        names.append(code + f"\0{code}".join(ordered))
        positions += [
            _ONCE[p[0]] if len(p) == 1 else _POSITIONS[len(p)](len(p), *p)
            for p in map(found.__getitem__, ordered)
        ]
    vector = [b""] * (2 * len(positions) + 1)  # the count, then each lexeme and its positions
    vector[0] = len(positions).to_bytes(4, "big")
    if positions:
        vector[1::2] = "\0".join(names).encode().split(b"\0")
        vector[2::2] = positions
    return b"".join(vector)


def _kept_positions(positions: list[int], weight: int) -> list[int]:
    """What tsvector input keeps of a lexeme's ascending positions: those past MAX_POSITION
    as one at MAX_POSITION, then the first MAX_POSITIONS (tsvectorrecv rejects the rest)."""
    kept = [p for p in positions if p - weight < MAX_POSITION]
    if len(kept) < len(positions):
        kept.append(weight + MAX_POSITION)
    return kept[:MAX_POSITIONS]


_STUDY_COPY = f"COPY study (id, {', '.join(STUDY_COLUMNS)}) FROM STDIN"
_ADD_LINKS = """
INSERT INTO term_link AS t (kind, a, b, n)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::integer[])
ON CONFLICT (kind, a, b) DO UPDATE SET n = t.n + excluded.n
RETURNING kind, a, b, n
"""
_STORED = """
SELECT s.nct_id, s.id, s.version, s.last_update_date, v.version, v.content_hash
FROM study s JOIN study_version v ON v.nct_id = s.nct_id
WHERE s.nct_id = ANY(%s)
"""
_CURRENT_DOCUMENT = """
SELECT v.document FROM study s
JOIN study_version v ON v.nct_id = s.nct_id AND v.version = s.version
"""


def _columns(rows: Iterable[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column, for unnest() over array parameters."""
    return [list(column) for column in zip(*rows, strict=True)]


class SchemaError(RuntimeError):
    """The database is not at the schema this trialatlas needs."""


def schema_revision(conn: psycopg.Connection[Any]) -> str | None:
    """The Alembic revision a database is at; None when it has never been migrated."""
    exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


_pools: dict[str, tuple[ConnectionPool, int]] = {}  # url -> (pool, stores using it)
_pools_lock = threading.Lock()


def _acquire(url: str, *, check_schema: bool) -> ConnectionPool:
    """The process's pool for `url`, created (and the schema checked) on first use."""
    with _pools_lock:
        pool, users = _pools.get(url, (None, 0))
        if pool is None:
            if check_schema:
                with psycopg.connect(url, connect_timeout=10) as conn:
                    found = schema_revision(conn)
                if found != SCHEMA_REVISION:
                    raise SchemaError(
                        f"the database is at schema {found or '(empty)'}; this trialatlas needs"
                        f" {SCHEMA_REVISION}: run `trialatlas db upgrade` first"
                    )
            size = int(os.environ.get(POOL_SIZE_ENV) or POOL_SIZE)
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=size,
                kwargs={"autocommit": True},
                open=True,
                name="trialatlas",
            )
        _pools[url] = (pool, users + 1)
        return pool


def _release(url: str) -> None:
    """Close the pool for `url` when its last store closes."""
    with _pools_lock:
        pool, users = _pools.pop(url)
        if users > 1:
            _pools[url] = (pool, users - 1)
        else:
            pool.close()


@atexit.register
def _close_pools() -> None:
    for pool, _ in _pools.values():
        pool.close()


class PostgresStore:
    """A store in a PostgreSQL database migrated by `trialatlas db upgrade`. Thread-safe."""

    # Building the tsvector is most of the client's work per study: the ingest runs it
    # in its worker processes (a staticmethod, so it pickles as the function alone).
    index_form = staticmethod(search_vector)
    document_form = None  # jsonb, which PostgreSQL compresses itself (TOAST)

    def __init__(self, url: str, read_url: str | None = None) -> None:
        self.url = url
        self.read_url = read_url or os.environ.get(READ_DATABASE_ENV) or url
        self._primary = _acquire(url, check_schema=True)
        self._replica = _acquire(self.read_url, check_schema=False)

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for queries (a replica's when configured), for the search layer."""
        with self._replica.connection() as conn:
            yield conn

    def write(self, studies: Sequence[PreparedStudy]) -> list[Change]:
        if not studies:
            return []
        with self._primary.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "UPDATE search_state SET value = value + 1 WHERE key = 'generation' RETURNING value"
            )
            generation = cur.fetchone()[0]
            stored = self._stored(cur, [study.nct_id for study in studies])
            documents: dict[tuple[str, int], dict[str, Any]] = {}

            def document(nct_id: str, version: int) -> dict[str, Any]:
                if (nct_id, version) not in documents:
                    documents[nct_id, version] = self._version(cur, nct_id, version)
                return documents[nct_id, version]

            plan = plan_batch(studies, stored, document)
            with cur.copy(
                "COPY study_version (nct_id, version, content_hash, source, changed_modules,"
                " document) FROM STDIN"
            ) as copy:
                for entry in plan.versions:
                    study = entry.study
                    copy.write_row((
                        study.nct_id, entry.version, study.content_hash, study.location,
                        list(entry.changed_modules), study.document.decode(),
                    ))  # fmt: skip
            links: Counter[tuple[str, str, str]] = Counter()
            for nct_id, (_, version) in plan.replaced.items():
                links.subtract(link_rows(study_columns(document(nct_id, version))))
            ids = {nct_id: key for nct_id, (key, _) in plan.replaced.items()}
            if ids:  # replaced rows go, and come back below under the same ids
                stale = list(ids.values())
                for table in ("study_term", "location", "study_search"):
                    cur.execute(f"DELETE FROM {table} WHERE study_id = ANY(%s)", (stale,))
                cur.execute("DELETE FROM study WHERE id = ANY(%s)", (stale,))
            self._write_current(cur, list(plan.current.values()), ids, generation, links)
        return plan.changes

    @staticmethod
    def _write_current(
        cur: psycopg.Cursor[Any],
        entries: list[NewVersion],
        ids: dict[str, int],
        generation: int,
        links: Counter[tuple[str, str, str]],
    ) -> None:
        """Copy in the rows of new current versions, their terms and places; count links."""
        new = [e.study.nct_id for e in entries if e.study.nct_id not in ids]
        if new:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('study', 'id')) FROM generate_series(1, %s)",
                (len(new),),
            )
            ids.update(zip(new, (key for (key,) in cur.fetchall()), strict=True))
        with cur.copy(_STUDY_COPY) as copy:
            for e in entries:
                study = e.study
                copy.write_row((ids[study.nct_id], *study_row(study, e.version, generation)))
        with cur.copy("COPY study_search (study_id, search) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea"])  # the vector's bytes are tsvectorrecv's input
            for e in entries:
                vector = e.study.index_form or search_vector(e.study.index_text)
                copy.write_row((ids[e.study.nct_id], vector))
        with cur.copy("COPY study_term (study_id, kind, value) FROM STDIN") as copy:
            for e in entries:
                for kind, value in e.study.terms:
                    copy.write_row((ids[e.study.nct_id], kind, value))
        with cur.copy(
            "COPY location (study_id, city, state, country, status, lat, lon) FROM STDIN"
        ) as copy:
            for e in entries:
                for place in e.study.places:
                    copy.write_row((ids[e.study.nct_id], *place))
        for e in entries:
            links.update(e.study.links)
        changed = [(*key, n) for key, n in links.items() if n]
        if changed:
            cur.execute(_ADD_LINKS, _columns(changed))
            gone = [row[:3] for row in cur.fetchall() if row[3] <= 0]
            if gone:
                cur.execute(
                    "DELETE FROM term_link WHERE (kind, a, b) IN"
                    " (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
                    _columns(gone),
                )

    @staticmethod
    def _stored(cur: psycopg.Cursor[Any], nct_ids: list[str]) -> dict[str, Stored]:
        """What is stored of these studies: current row, latest version, every hash."""
        found: dict[str, Stored] = {}
        for nct_id, key, current, last_update, version, digest in cur.execute(
            _STORED, (nct_ids,)
        ).fetchall():
            state = found.get(nct_id)
            if state is None:
                state = found[nct_id] = Stored(key, current, current, last_update)
            state.record(version, digest)
        return found

    @staticmethod
    def _version(cur: psycopg.Cursor[Any], nct_id: str, version: int) -> dict[str, Any]:
        row = cur.execute(
            "SELECT document FROM study_version WHERE nct_id = %s AND version = %s",
            (nct_id, version),
        ).fetchone()
        assert row is not None, f"{nct_id} version {version} vanished during a write"
        return orjson.loads(row[0])

    def document(self, nct_id: str, version: int | None = None) -> dict[str, Any] | None:
        with self.reading() as conn:
            if version is None:
                row = conn.execute(f"{_CURRENT_DOCUMENT} WHERE s.nct_id = %s", (nct_id,))
            else:
                row = conn.execute(
                    "SELECT document FROM study_version WHERE nct_id = %s AND version = %s",
                    (nct_id, version),
                )
            found = row.fetchone()
        return None if found is None else orjson.loads(found[0])

    def versions(self, nct_id: str) -> list[VersionInfo]:
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT nct_id, version, content_hash, source, ingested_at, changed_modules"
                " FROM study_version WHERE nct_id = %s ORDER BY version",
                (nct_id,),
            ).fetchall()
        return [
            VersionInfo(n, v, h, s, t.astimezone(UTC).isoformat(timespec="seconds"), tuple(m))
            for n, v, h, s, t, m in rows
        ]

    def iter_documents(self) -> Iterator[dict[str, Any]]:
        with (
            self.reading() as conn,
            conn.transaction(),
            conn.cursor(name="trialatlas_documents") as cur,
        ):
            cur.itersize = 500
            cur.execute(f"{_CURRENT_DOCUMENT} ORDER BY s.nct_id")
            for (document,) in cur:
                yield orjson.loads(document)

    def count(self) -> int:
        with self.reading() as conn:
            return conn.execute("SELECT count(*) FROM study").fetchone()[0]

    def counts_by(self, column: str) -> list[tuple[str | None, int]]:
        sql = count_sql(column)
        with self.reading() as conn:
            return [(value, n) for value, n in conn.execute(sql) if n]

    def bulk(self) -> AbstractContextManager[None]:
        return nullcontext()  # each write is complete when it returns

    def optimize(self) -> None:
        """After an ingest: merge the full-text index's pending list, which every search
        would otherwise scan until autovacuum merged it (migration 0002), and analyse."""
        with self._primary.connection() as conn:
            # only the index's owner may merge; for another role autovacuum still will
            with suppress(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT gin_clean_pending_list('study_search_words')")
            conn.execute("ANALYZE")

    def close(self) -> None:
        _release(self.read_url)
        _release(self.url)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "trialatlas.store:migrations")
    config.attributes["url"] = url
    return config


def upgrade(url: str, *, sql: bool = False) -> None:
    """Migrate the database at `url` to the newest schema (or print the SQL, when `sql`)."""
    from alembic import command
    from sqlalchemy.exc import DBAPIError

    try:
        command.upgrade(_alembic_config(url), "head", sql=sql)
    except DBAPIError as exc:  # Alembic runs through SQLAlchemy: report psycopg's own error
        raise exc.orig from None


def current_revision(url: str) -> str | None:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return schema_revision(conn)
