"""The store contract, run against both backends: SQLite (embedded) and PostgreSQL.

Each test gets an empty store of each kind (`backend_store` in conftest.py); the last
tests ingest the same real records into both and compare everything a reader can see.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trialatlas.ingest import IngestReport, ingest, prepare
from trialatlas.store import Store, open_store
from trialatlas.store.base import COUNTABLE, Change, PreparedStudy

NCT = "NCT00000101"
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
# Small real inputs from ../shared/data/ctgov: legacy XML with results, and API v2 JSON
REAL_INPUTS = ("xml/als-5-2020-07.tar.gz", "xml/sample-65-2023-05.tar.gz")
REAL_JSON = "json/mixed-50-2023-06.ctg-studies.json.gz"


def record(
    status: str = "RECRUITING", updated: str = "2021-01-01", nct: str = NCT, **extra: Any
) -> dict[str, Any]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": "Versioned study"},
            "statusModule": {
                "overallStatus": status,
                "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"},
            },
            "designModule": {"phases": ["PHASE2"]},
            "conditionsModule": {"conditions": ["Amyotrophic Lateral Sclerosis", "ALS"]},
            **extra,
        },
        "hasResults": False,
    }


def prepared(document: dict[str, Any], where: str = "test") -> PreparedStudy:
    study = prepare(where, document)
    assert isinstance(study, PreparedStudy), study
    return study


def test_identical_content_is_unchanged(backend_store: Store) -> None:
    assert backend_store.write([prepared(record())]) == [Change.ADDED]
    assert backend_store.write([prepared(record(), "again")]) == [Change.UNCHANGED]
    assert [v.version for v in backend_store.versions(NCT)] == [1]
    assert backend_store.count() == 1


def test_a_change_is_the_next_version(backend_store: Store) -> None:
    backend_store.write([prepared(record(), "snapshot-1.json")])
    changes = backend_store.write([prepared(record("COMPLETED", "2022-01-01"), "snapshot-2.json")])
    assert changes == [Change.UPDATED]
    first, second = backend_store.versions(NCT)
    assert (first.version, first.source, first.changed_modules) == (1, "snapshot-1.json", ())
    assert (second.version, second.source) == (2, "snapshot-2.json")
    assert second.changed_modules == ("protocolSection.statusModule",)
    assert ISO_SECONDS.match(second.ingested_at), second.ingested_at
    assert first.content_hash != second.content_hash
    status = backend_store.document(NCT)["protocolSection"]["statusModule"]["overallStatus"]
    assert status == "COMPLETED"
    old = backend_store.document(NCT, 1)["protocolSection"]["statusModule"]["overallStatus"]
    assert old == "RECRUITING"
    assert backend_store.counts_by("overall_status") == [("COMPLETED", 1)]


def test_an_older_snapshot_is_kept_but_not_current(backend_store: Store) -> None:
    backend_store.write([prepared(record("COMPLETED", "2023-02-01"))])
    assert backend_store.write([prepared(record("RECRUITING", "2021-04-01"))]) == [Change.UPDATED]
    assert [v.version for v in backend_store.versions(NCT)] == [1, 2]
    assert backend_store.document(NCT)["protocolSection"]["statusModule"]["overallStatus"] == (
        "COMPLETED"
    )
    assert backend_store.counts_by("overall_status") == [("COMPLETED", 1)]
    # content stored under any version is not stored again
    assert backend_store.write([prepared(record("RECRUITING", "2021-04-01"))]) == [Change.UNCHANGED]
    assert backend_store.write([prepared(record("COMPLETED", "2023-02-01"))]) == [Change.UNCHANGED]


def test_one_study_several_times_in_one_batch(backend_store: Store) -> None:
    backend_store.write([prepared(record("RECRUITING", "2020-01-01"))])
    batch = [
        prepared(record("ACTIVE_NOT_RECRUITING", "2021-01-01"), "a"),
        prepared(record("COMPLETED", "2022-01-01"), "b"),
        prepared(record("COMPLETED", "2022-01-01"), "c"),
        prepared(record("TERMINATED", "2021-06-01"), "d"),  # older than b: history only
        prepared(record("RECRUITING", "2019-01-01", nct="NCT00000102"), "e"),
        prepared(record("COMPLETED", "2020-01-01", nct="NCT00000102"), "f"),
    ]
    assert backend_store.write(batch) == [
        Change.UPDATED, Change.UPDATED, Change.UNCHANGED, Change.UPDATED,
        Change.ADDED, Change.UPDATED,
    ]  # fmt: skip
    assert [(v.version, v.source) for v in backend_store.versions(NCT)] == [
        (1, "test"), (2, "a"), (3, "b"), (4, "d"),
    ]  # fmt: skip
    assert backend_store.versions(NCT)[3].changed_modules == ("protocolSection.statusModule",)
    assert backend_store.document(NCT)["protocolSection"]["statusModule"]["overallStatus"] == (
        "COMPLETED"
    )
    # one current row, terms and index entries per study, whatever happened in the batch
    assert backend_store.count() == 2
    assert backend_store.counts_by("phase") == [("PHASE2", 2)]
    assert backend_store.counts_by("overall_status") == [("COMPLETED", 2)]


def test_unknown_ids_and_bad_columns(backend_store: Store) -> None:
    assert backend_store.document("NCT09999999") is None
    assert backend_store.document(NCT, 1) is None
    assert backend_store.versions("NCT09999999") == []
    assert backend_store.count() == 0
    assert list(backend_store.iter_documents()) == []
    assert backend_store.write([]) == []
    with pytest.raises(ValueError, match="cannot count by"):
        backend_store.counts_by("sponsor")


def test_counts_and_documents_in_id_order(backend_store: Store) -> None:
    studies = [
        record("RECRUITING", nct="NCT00000103"),
        record("COMPLETED", nct="NCT00000101", designModule={"phases": ["PHASE1", "PHASE2"]}),
        record("COMPLETED", nct="NCT00000102", designModule={}),
    ]
    backend_store.write([prepared(s) for s in studies])
    ids = [d["protocolSection"]["identificationModule"]["nctId"] for d in
           backend_store.iter_documents()]  # fmt: skip
    assert ids == ["NCT00000101", "NCT00000102", "NCT00000103"]
    assert backend_store.counts_by("overall_status") == [("COMPLETED", 2), ("RECRUITING", 1)]
    assert dict(backend_store.counts_by("phase")) == {"PHASE2": 2, "PHASE1": 1, None: 1}
    assert dict(backend_store.counts_by("study_type")) == {None: 3}


def test_a_document_round_trips_byte_for_byte_in_key_order(backend_store: Store) -> None:
    document = record(zeta={"b": 1, "a": [3, 1, 2]}, alpha="é ü \u2028 \\ \t end")
    backend_store.write([prepared(document)])
    stored = backend_store.document(NCT)
    assert stored == document
    assert list(stored["protocolSection"]) == list(document["protocolSection"])


# ----- the same real records in both backends -------------------------------------------


@pytest.fixture(scope="module")
def twin_stores(
    ctgov_dir: Path,
    new_postgres_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """SQLite and PostgreSQL stores that ingested the same real records, twice over: the
    second pass changes some records (new versions) and repeats others (unchanged)."""
    stores = {
        "sqlite": open_store(str(tmp_path_factory.mktemp("twins") / "twins.db")),
        "postgres": open_store(new_postgres_database()),
    }
    paths = [ctgov_dir / name for name in (*REAL_INPUTS, REAL_JSON)]
    changed = tmp_path_factory.mktemp("changed") / "changed.jsonl"
    reports: dict[str, list[IngestReport]] = {}
    for name, store in stores.items():
        reports[name] = [ingest(store, paths)]
        if name == "sqlite":  # a later snapshot: every third study changed
            with changed.open("w") as out:
                for i, document in enumerate(store.iter_documents()):
                    if i % 3 == 0:
                        document = copy.deepcopy(document)
                        status = document["protocolSection"]["statusModule"]
                        status["overallStatus"] = "COMPLETED"
                        status["lastUpdatePostDateStruct"] = {"date": "2030-01-01"}
                    out.write(json.dumps(document) + "\n")
        reports[name].append(ingest(store, [changed]))
    yield stores, reports
    for store in stores.values():
        store.close()


def test_real_records_read_the_same_from_both(twin_stores: Any) -> None:
    stores, reports = twin_stores
    sqlite, postgres = stores["sqlite"], stores["postgres"]
    for first, second in zip(reports["sqlite"], reports["postgres"], strict=True):
        assert (first.added, first.updated, first.unchanged) == (
            second.added, second.updated, second.unchanged,
        )  # fmt: skip
        assert first.failures == second.failures
    assert reports["postgres"][0].added == 120
    assert reports["postgres"][1].updated == 40
    assert sqlite.count() == postgres.count() == 120
    for column in COUNTABLE:
        assert dict(sqlite.counts_by(column)) == dict(postgres.counts_by(column)), column
    documents = list(postgres.iter_documents())
    assert documents == list(sqlite.iter_documents())
    for document in documents[:40]:
        nct_id = document["protocolSection"]["identificationModule"]["nctId"]
        mine, theirs = postgres.versions(nct_id), sqlite.versions(nct_id)
        assert [(v.version, v.content_hash, v.source, v.changed_modules) for v in mine] == [
            (v.version, v.content_hash, v.source, v.changed_modules) for v in theirs
        ]
        for info in mine:
            assert postgres.document(nct_id, info.version) == sqlite.document(nct_id, info.version)
