"""Versions: identical content stores nothing, a change stores version N+1, history and diff."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

from trialatlas.ingest import ingest
from trialatlas.ingest import prepare as prepare_one
from trialatlas.store.base import Change
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.store.versions import diff_documents

NCT = "NCT00000101"


def record(status: str = "RECRUITING", updated: str = "2021-01-01", **extra: Any) -> dict[str, Any]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": NCT, "briefTitle": "Versioned study"},
            "statusModule": {
                "overallStatus": status,
                "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"},
            },
            **extra,
        },
        "derivedSection": {"miscInfoModule": {"versionHolder": updated}},
        "hasResults": False,
    }


def write(store: SQLiteStore, document: dict[str, Any], where: str = "test") -> Change:
    prepared = prepare_one(where, document)
    return store.write([prepared])[0]  # type: ignore[list-item]


def test_identical_content_is_not_stored_twice(store: SQLiteStore) -> None:
    assert write(store, record()) is Change.ADDED
    assert write(store, record()) is Change.UNCHANGED
    assert [v.version for v in store.versions(NCT)] == [1]


def test_download_provenance_alone_is_not_a_change(store: SQLiteStore) -> None:
    write(store, record())
    again = record()
    again["derivedSection"]["miscInfoModule"]["versionHolder"] = "2030-01-01"
    again["trialatlas"] = {"source": {"format": "api-v2-json", "downloadDate": "2030-01-01"}}
    assert write(store, again) is Change.UNCHANGED


def test_a_change_becomes_version_two_with_its_modules(store: SQLiteStore) -> None:
    write(store, record(), "snapshot-1.json")
    assert write(store, record("COMPLETED", "2022-01-01"), "snapshot-2.json") is Change.UPDATED
    first, second = store.versions(NCT)
    assert (first.version, first.source) == (1, "snapshot-1.json")
    assert (second.version, second.source) == (2, "snapshot-2.json")
    assert second.changed_modules == (
        "protocolSection.statusModule",
        "derivedSection.miscInfoModule",
    )
    assert store.document(NCT)["protocolSection"]["statusModule"]["overallStatus"] == "COMPLETED"
    assert (
        store.document(NCT, 1)["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"
    )
    changes = {
        c.path: (c.old, c.new)
        for c in diff_documents(store.document(NCT, 1), store.document(NCT, 2))
    }
    assert changes["protocolSection.statusModule.overallStatus"] == ("RECRUITING", "COMPLETED")


def test_an_older_snapshot_is_kept_but_does_not_become_current(store: SQLiteStore) -> None:
    write(store, record("COMPLETED", "2023-02-01"))
    assert write(store, record("RECRUITING", "2021-04-01")) is Change.UPDATED
    assert [v.version for v in store.versions(NCT)] == [1, 2]
    assert store.document(NCT)["protocolSection"]["statusModule"]["overallStatus"] == "COMPLETED"
    status = store.connection.execute("SELECT overall_status FROM study").fetchone()[0]
    assert status == "COMPLETED"
    # and ingesting either snapshot again stores nothing
    assert write(store, record("RECRUITING", "2021-04-01")) is Change.UNCHANGED
    assert write(store, record("COMPLETED", "2023-02-01")) is Change.UNCHANGED


def test_search_index_follows_the_current_version(store: SQLiteStore) -> None:
    old = record()
    old["protocolSection"]["identificationModule"]["briefTitle"] = "Zebrafish study"
    new = record(updated="2022-01-01")
    new["protocolSection"]["identificationModule"]["briefTitle"] = "Narwhal study"
    write(store, old)
    write(store, new)
    hits = "SELECT count(*) FROM study_fts WHERE study_fts MATCH ?"
    assert store.connection.execute(hits, ("zebrafish",)).fetchone()[0] == 0
    assert store.connection.execute(hits, ("narwhal",)).fetchone()[0] == 1


def _two_snapshot_ids(ctgov: Path) -> set[str]:
    """NCT ids present in more than one legacy XML archive (read from member names)."""
    seen: dict[str, int] = {}
    for archive in sorted((ctgov / "xml").glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            names = {m for m in re.findall(r"NCT\d{8}", "\n".join(tar.getnames()))}
        for nct in names:
            seen[nct] = seen.get(nct, 0) + 1
    return {nct for nct, count in seen.items() if count > 1}


def test_trials_in_two_real_snapshots_keep_both_versions(
    corpus_store: SQLiteStore, ctgov_dir: Path
) -> None:
    twice = _two_snapshot_ids(ctgov_dir)
    assert len(twice) == 108
    db = corpus_store.connection
    changed = 0
    for nct in sorted(twice):
        versions = corpus_store.versions(nct)
        xml_versions = [v for v in versions if "/xml/" in v.source]
        assert 1 <= len(xml_versions) <= 2, nct
        if len(xml_versions) == 2:
            changed += 1
            old, new = (corpus_store.document(nct, v.version) for v in xml_versions)
            assert diff_documents(old, new), f"{nct}: two versions but no difference"
            assert xml_versions[1].changed_modules
        # the current version is the most recently updated record, whatever the ingest order
        current = db.execute(
            "SELECT last_update_date FROM study WHERE nct_id = ?", (nct,)
        ).fetchone()[0]
        dates = [
            corpus_store.document(nct, v.version)["protocolSection"]["statusModule"]
            .get("lastUpdatePostDateStruct", {})
            .get("date")
            for v in versions
        ]
        assert current == max(d for d in dates if d), nct
    assert changed > 50, "most of the 108 trials changed between 2021 and 2023"


def test_demo_record_round_trips(store: SQLiteStore) -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "demo" / "NCT04952155.json"
    report = ingest(store, [path])
    assert report.failures == []
    assert store.document("NCT04952155") == json.loads(path.read_text())
