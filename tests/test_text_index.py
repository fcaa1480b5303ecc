"""The SQLite store's full-text index lives in a file of its own and catches up with the
store whatever happened to it: a batch not yet indexed, a deleted file, another store's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from trialatlas.ingest import StoreForms, ingest, prepare
from trialatlas.search import SearchRequest, search
from trialatlas.search.sqlite import clear_caches
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.store.text_index import TextIndexer, text_index_path


def study(number: int, title: str, updated: str = "2021-01-01") -> dict[str, Any]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": f"NCT{number:08d}", "briefTitle": title},
            "statusModule": {
                "overallStatus": "RECRUITING",
                "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"},
            },
        },
        "hasResults": False,
    }


def write(store: SQLiteStore, *documents: dict[str, Any]) -> None:
    forms = StoreForms.of(store)
    store.write([prepare("test", d, forms) for d in documents])  # type: ignore[misc]


def found(store: SQLiteStore, words: str) -> list[str]:
    clear_caches()
    return sorted(h.nct_id for h in search(store, SearchRequest(term=words, page_size=50)).hits)


def generations(path: Path) -> tuple[int, int]:
    """(the store's generation, the text index's)."""
    db = sqlite3.connect(path)
    db.execute("ATTACH DATABASE ? AS fts", (str(text_index_path(path)),))
    try:
        store = db.execute("SELECT value FROM search_state WHERE key = 'generation'").fetchone()
        text = db.execute("SELECT value FROM fts.text_state WHERE key = 'generation'").fetchone()
        return store[0], text[0]
    finally:
        db.close()


def test_documents_are_stored_compressed_and_read_back_whole(store: SQLiteStore) -> None:
    document = study(1, "Narwhal tusk study " + "long text " * 500)
    write(store, document)
    (stored,) = store.connection.execute("SELECT document FROM study_version").fetchone()
    assert len(stored) < 1000 < len(str(document))
    assert store.document("NCT00000001") == document


def test_a_single_write_is_searchable_when_it_returns(store: SQLiteStore) -> None:
    write(store, study(1, "Narwhal study"))
    assert found(store, "narwhal") == ["NCT00000001"]
    assert generations(store.path)[0] == generations(store.path)[1]


def test_an_index_left_behind_catches_up_at_the_next_write(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(store, study(1, "Zebrafish study"))
    with monkeypatch.context() as patch:  # as if killed before the text was indexed
        patch.setattr(TextIndexer, "index_through", lambda self, generation, texts: None)
        write(store, study(1, "Narwhal study", updated="2022-01-01"), study(2, "Okapi study"))
    behind = generations(store.path)
    assert behind[1] < behind[0]
    # searches show the indexed generation: the old title, not yet the new study
    assert found(store, "zebrafish") == ["NCT00000001"]
    assert found(store, "okapi") == []
    write(store, study(3, "Quokka study"))
    assert found(store, "zebrafish") == []
    assert found(store, "narwhal OR okapi OR quokka") == [
        "NCT00000001", "NCT00000002", "NCT00000003",
    ]  # fmt: skip
    now = generations(store.path)
    assert now[0] == now[1]


def test_a_deleted_index_is_rebuilt_when_the_store_opens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    store = SQLiteStore(path)
    write(store, study(1, "Narwhal study"), study(2, "Okapi study"))
    store.close()
    assert not caplog.records
    for suffix in ("", "-wal", "-shm"):
        Path(f"{text_index_path(path)}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} had no text index of its own: indexing 2 studies (about 4,000 a second)"
    ]
    try:
        assert found(store, "narwhal OR okapi") == ["NCT00000001", "NCT00000002"]
    finally:
        store.close()


def test_an_index_of_another_store_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SQLiteStore(path)
    write(store, study(1, "Narwhal study"))
    store.close()
    for suffix in ("", "-wal", "-shm"):  # the store goes, its text index stays
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path)
    try:
        write(store, study(2, "Okapi study"))
        assert found(store, "narwhal") == []
        assert found(store, "okapi") == ["NCT00000002"]
    finally:
        store.close()


def test_an_indexing_failure_fails_the_ingest_and_keeps_the_records(
    store: SQLiteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "studies.jsonl"
    source.write_text("\n".join(json.dumps(study(n, "Okapi")) for n in (1, 2)))

    def fail(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(TextIndexer, "_catch_up", fail)
    with pytest.raises(RuntimeError, match="indexing the full text failed: disk I/O error"):
        ingest(store, [source])
    assert store.count() == 2
    monkeypatch.undo()
    write(store, study(3, "Okapi"))  # the next write indexes what was missed
    assert found(store, "okapi") == ["NCT00000001", "NCT00000002", "NCT00000003"]
