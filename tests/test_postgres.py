"""What only the PostgreSQL store has: migrations, a schema check, pooled connections, read
routing, concurrent writers, and a full-text analyser that must read words as FTS5 does."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory

from trialatlas.ingest import prepare, prepare_unit
from trialatlas.records.readers import read_units
from trialatlas.search import SearchRequest, search
from trialatlas.store import open_store
from trialatlas.store.base import Change, PreparedStudy
from trialatlas.store.fts5_words import words
from trialatlas.store.postgres import (
    FIELD_CLASSES,
    FIELD_CODES,
    SCHEMA_REVISION,
    PostgresStore,
    SchemaError,
    _alembic_config,
    search_vector,
)

pytestmark = pytest.mark.postgres
CLI = [sys.executable, "-m", "trialatlas.cli"]


def study(nct_id: str, status: str = "RECRUITING", title: str = "A trial") -> PreparedStudy:
    document = {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": title},
            "statusModule": {"overallStatus": status},
            "conditionsModule": {"conditions": ["Amyotrophic Lateral Sclerosis", "ALS"]},
        },
        "derivedSection": {"conditionBrowseModule": {"meshes": [{"term": "Motor Neuron Disease"}]}},
    }
    prepared = prepare("test", document)
    assert isinstance(prepared, PreparedStudy)
    return prepared


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)


def test_db_upgrade_from_empty_then_current(empty_postgres_database: Callable[[str], str]) -> None:
    url = empty_postgres_database("migrate_me")
    before = cli("db", "current", "--database", url)
    assert before.returncode == 1 and "run `db upgrade`" in before.stderr
    refused = cli("stats", "--database", url)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "run `trialatlas db upgrade` first" in refused.stderr
    with pytest.raises(SchemaError, match="trialatlas db upgrade"):
        PostgresStore(url)
    first = cli("db", "upgrade", "--database", url)
    assert first.returncode == 0, first.stderr
    assert f"schema at revision {SCHEMA_REVISION}" in first.stdout
    again = cli("db", "upgrade", "--database", url)  # nothing left to do: a no-op
    assert again.returncode == 0 and SCHEMA_REVISION in again.stdout
    now = cli("db", "current", "--database", url)
    assert (now.returncode, now.stdout.strip()) == (0, f"{SCHEMA_REVISION} (head)")
    store = open_store(url)
    assert store.write([study("NCT00000001")]) == [Change.ADDED]
    store.close()


def test_the_store_needs_the_newest_migration() -> None:
    head = ScriptDirectory.from_config(_alembic_config("postgresql://unused")).get_current_head()
    assert head == SCHEMA_REVISION


def test_migrations_go_down_and_up_again(empty_postgres_database: Callable[[str], str]) -> None:
    from alembic import command

    url = empty_postgres_database("down_and_up")
    config = _alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        ).fetchone()
    assert tables == (0,)
    command.upgrade(config, "head")


def test_db_upgrade_brings_a_0001_database_to_head(
    empty_postgres_database: Callable[[str], str],
) -> None:
    """A database created by an earlier trialatlas keeps its data through `db upgrade`,
    gets the full-text index's larger pending list (0002), and takes writes after."""
    from alembic import command

    url = empty_postgres_database("from_0001")
    config = _alembic_config(url)
    command.upgrade(config, "0001")
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO study_search VALUES (999, 'a_heart:1A')")
    with pytest.raises(SchemaError, match="schema 0001"):
        PostgresStore(url)
    upgraded = cli("db", "upgrade", "--database", url)
    assert upgraded.returncode == 0, upgraded.stderr
    with psycopg.connect(url) as conn:
        (options,) = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'study_search_words'"
        ).fetchone()
        found = conn.execute("SELECT study_id FROM study_search WHERE search @@ 'a_heart'")
        assert found.fetchall() == [(999,)]
    assert options == ["gin_pending_list_limit=16384"]
    store = open_store(url)
    assert store.write([study("NCT00000001")]) == [Change.ADDED]
    store.optimize()  # merges the pending list
    store.close()
    command.downgrade(config, "0001")
    with psycopg.connect(url) as conn:
        (options,) = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'study_search_words'"
        ).fetchone()
    assert options is None


def indexes(url: str) -> dict[str, str]:
    """Every index of the store's tables: name -> definition."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    return dict(rows)


def test_0003_drops_unused_indexes_and_goes_down_again(
    empty_postgres_database: Callable[[str], str],
) -> None:
    """0003 drops the two indexes no statement uses; going down restores both."""
    from alembic import command

    url = empty_postgres_database("to_0003")
    config = _alembic_config(url)
    command.upgrade(config, "0002")
    before = indexes(url)
    command.upgrade(config, "0003")
    assert before.keys() - indexes(url).keys() == {"study_by_last_update", "location_by_point"}
    command.downgrade(config, "0002")
    assert indexes(url) == before


def numbered_studies(n: int, start: int = 0) -> list[PreparedStudy]:
    return [study(f"NCT{k:08d}", title=f"Heart trial {k}") for k in range(start, start + n)]


def test_searches_during_an_ingest_stay_right(postgres_url: str) -> None:
    """A reader searching while batches are written sees whole batches, in order, and never
    an error: each search reads one snapshot (its full-text matches were several, and a
    commit between them gave ids past the expression's)."""
    writer, reader = open_store(postgres_url), open_store(postgres_url)
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(search(reader, SearchRequest(term="heart")).total)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        with writer.bulk():
            for start in range(0, 100, 20):
                writer.write(numbered_studies(20, start))
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert seen == sorted(seen) and {n % 20 for n in seen} <= {0}
    assert search(reader, SearchRequest(term="heart")).total == 100
    writer.close()
    reader.close()


def test_upgrade_sql_is_printed_for_review(empty_postgres_database: Callable[[str], str]) -> None:
    printed = cli("db", "upgrade", "--sql", "--database", empty_postgres_database("for_sql"))
    assert printed.returncode == 0, printed.stderr
    assert "CREATE TABLE study_version" in printed.stdout
    assert "CREATE INDEX study_search_words ON study_search USING gin" in printed.stdout


def test_concurrent_writers_take_turns(postgres_url: str) -> None:
    """Four writers store conflicting versions of the same studies at once: every version
    number is used exactly once, no content is stored twice, none is lost."""
    ids = [f"NCT0000{n:04d}" for n in range(1, 41)]
    statuses = ["RECRUITING", "COMPLETED", "TERMINATED", "WITHDRAWN"]
    errors: list[BaseException] = []

    def writer(status: str) -> None:
        store = open_store(postgres_url)
        try:
            with store.bulk():
                for start in range(0, len(ids), 10):
                    store.write([study(n, status) for n in ids[start : start + 10]])
                    store.write([study(n, status) for n in ids[start : start + 10]])  # again
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(s,)) for s in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = open_store(postgres_url)
    for nct_id in ids:
        versions = store.versions(nct_id)
        assert [v.version for v in versions] == [1, 2, 3, 4], nct_id
        assert len({v.content_hash for v in versions}) == 4
    assert store.count() == len(ids)
    store.close()


def test_reads_go_to_the_read_database(new_postgres_database: Callable[[], str]) -> None:
    primary, replica = new_postgres_database(), new_postgres_database()
    store = PostgresStore(primary, read_url=replica)  # a replica that has not caught up
    store.write([study("NCT00000001")])
    assert store.document("NCT00000001") is None and store.count() == 0
    store.close()
    assert open_store(primary).count() == 1


TEXTS = (
    "Amyotrophic Lateral Sclerosis (ALS): COVID-19, H1N1 & Sjögren's syndrome; naïve café",
    "Ærø straße ﬁnal résumé 2,5-dihydroxy e.g. IL-2 patients' studies generously is as a",
    "Running runs ran; relational caresses ponies; 日本語 текст Ελληνικά 임상제도과 fϋr",
    "technology biology assembly µg/mL Gi̇resun İstanbul \uf06bb viagra\uf0d2",
    # all ASCII, so read by the fast path: every character, underscores, control characters
    "snake_case x_1 A1b2\tTAB\x1fUNIT " + "".join(map(chr, range(1, 128))),
)


def test_words_are_read_as_fts5_reads_them(ctgov_dir: Path) -> None:
    """The store's analyser gives FTS5's `porter unicode61 remove_diacritics 2` terms, so
    both backends match the same studies for the same words: made-up edge cases, and every
    indexed field of 700 real records."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab (t, 'instance')")
    texts = list(TEXTS)
    for unit in read_units(ctgov_dir / "json"):
        studies = [s for s in prepare_unit(unit)[1] if isinstance(s, PreparedStudy)]
        texts += ["\n".join(study.index_text) for study in studies]
    assert len(texts) > 700
    for text in texts:
        db.execute("DELETE FROM t")
        db.execute("INSERT INTO t VALUES (?)", (text,))
        theirs = [term for (term,) in db.execute("SELECT term FROM v ORDER BY offset")]
        assert words(text) == theirs


def copied_vectors(url: str, vectors: list[bytes]) -> list[str]:
    """search_vector's binary vectors as PostgreSQL reads them in (binary COPY), as text."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE v (k integer, search tsvector)")
        with cur.copy("COPY v FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "bytea"])
            for row in enumerate(vectors):
                copy.write_row(row)
        return [text for (text,) in cur.execute("SELECT search::text FROM v ORDER BY k")]


def test_search_vector_codes_fields_and_positions(postgres_url: str) -> None:
    fields = ["" for _ in range(16)]
    fields[0] = "Heart failure, heart"  # brief_title: class A
    fields[15] = "Failure " * 300  # criteria: class D, past 256 positions
    fields[14] = "x " * 16390 + "heart"  # description: class D, past position 16383
    (vector,) = copied_vectors(postgres_url, [search_vector(fields)])
    entries = dict(item.split(":") for item in vector.split(" "))
    assert entries.keys() == {"'a_failur'", "'a_heart'", "'o_x'", "'o_heart'", "'p_failur'"}
    assert (entries["'a_heart'"], entries["'a_failur'"]) == ("1A,3A", "2A")
    assert entries["'p_failur'"] == ",".join(map(str, range(1, 257)))  # D is left unwritten
    assert entries["'o_x'"] == ",".join(map(str, range(1, 257)))
    assert entries["'o_heart'"] == "16383"  # clamped, as tsvector input clamps


def text_vector(index_text: tuple[str, ...]) -> str:
    """The same vector as tsvector text input, one entry per occurrence: PostgreSQL merges
    repeats, sorts, clamps and cuts; search_vector must give exactly what that gives."""
    return " ".join(
        f"'{FIELD_CODES[name]}{word}':{position}{FIELD_CLASSES[name]}"
        for name, text in zip(FIELD_CODES, index_text, strict=True)
        for position, word in enumerate(words(text), 1)
    )


def test_binary_vectors_are_what_text_input_makes(postgres_url: str, ctgov_dir: Path) -> None:
    """Over real records and the limits' edge cases, the binary vector the store copies in
    is the very value (same lexemes, positions, weights and size) the text form casts to."""
    texts = [tuple([""] * 16), tuple(TEXTS + ("",) * 11)]
    texts.append(tuple(["word other " * 9000, *[""] * 14, "tail"]))  # past both limits
    for unit in read_units(ctgov_dir / "json"):
        texts += [s.index_text for s in prepare_unit(unit)[1] if isinstance(s, PreparedStudy)]
    assert len(texts) > 700
    with psycopg.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE v (k integer, search tsvector)")
        with cur.copy("COPY v FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "bytea"])
            for k, text in enumerate(texts):
                copy.write_row((k, search_vector(text)))
        cur.execute("CREATE TEMP TABLE t (k integer, search tsvector)")
        with cur.copy("COPY t FROM STDIN") as copy:
            for k, text in enumerate(texts):
                copy.write_row((k, text_vector(text)))
        differing = cur.execute(
            "SELECT v.k FROM v JOIN t USING (k) WHERE v.search <> t.search"
            " OR v.search::text <> t.search::text"
            " OR pg_column_size(v.search) <> pg_column_size(t.search)"
        ).fetchall()
        assert cur.execute("SELECT count(*) FROM v JOIN t USING (k)").fetchone() == (len(texts),)
    assert differing == []


def test_one_pool_per_database_shared_by_store_objects(postgres_url: str) -> None:
    stores: list[Any] = [open_store(postgres_url) for _ in range(5)]
    assert len({id(s._primary) for s in stores}) == 1
    for store in stores[1:]:
        store.close()
    assert stores[0].count() == 0  # the pool stays while a store uses it
    stores[0].close()
    assert stores[0]._primary.closed
