"""What the store's write path keeps for search: places, synonym evidence, generations.

A new version replaces its study's places and synonym counts (old ones subtracted), and a
search after any write sees it: the in-memory columns refresh from the changed rows.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from trialatlas.ingest import prepare
from trialatlas.search import Near, SearchRequest, search
from trialatlas.search.geo import geocode, location_rows
from trialatlas.store.base import PreparedStudy, Store
from trialatlas.store.sqlite import SQLiteStore


def study(nct_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": f"Trial {nct_id}"},
            "statusModule": {
                "overallStatus": "RECRUITING",
                "lastUpdatePostDateStruct": {"date": "2024-01-01", "type": "ACTUAL"},
            },
            "conditionsModule": {
                "conditions": ["Amyotrophic Lateral Sclerosis"],
                "keywords": ["ALS"],
            },
            "contactsLocationsModule": {
                "locations": [
                    {"facility": "A", "city": "Lyon", "country": "France", "status": "RECRUITING"},
                    {
                        "facility": "B",
                        "city": "Boston",
                        "state": "Massachusetts",
                        "country": "United States",
                        "geoPoint": {"lat": 42.0, "lon": -71.0},
                    },
                    {"facility": "C", "city": "Lyon", "country": "France"},
                ]
            },
        },
        "derivedSection": {
            "conditionBrowseModule": {
                "meshes": [
                    {"term": "Amyotrophic Lateral Sclerosis"},
                    {"term": "Motor Neuron Disease"},
                ]
            }
        },
    }
    for path, value in changes.items():
        node = document
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return document


def prepared(document: dict[str, Any]) -> PreparedStudy:
    item = prepare("test", document)
    assert isinstance(item, PreparedStudy), item
    return item


def links(store: SQLiteStore) -> dict[tuple[str, str, str], int]:
    rows = store.connection.execute("SELECT kind, a, b, n FROM term_link")
    return {(kind, a, b): n for kind, a, b, n in rows}


def test_places_are_distinct_and_geocoded() -> None:
    rows = location_rows(study("NCT00000001"))
    assert len(rows) == 2  # two sites in Lyon are one place
    lyon = next(r for r in rows if r[0] == "Lyon")
    assert lyon[3] == "RECRUITING" and (lyon[4], lyon[5]) == geocode("Lyon", None, "France")
    boston = next(r for r in rows if r[0] == "Boston")
    assert (boston[4], boston[5]) == (42.0, -71.0)  # the record's own geoPoint wins
    assert geocode("Atlantis", None, "France") is None


def test_new_version_replaces_places_and_synonym_evidence(store: SQLiteStore) -> None:
    store.write([prepared(study("NCT00000001")), prepared(study("NCT00000002"))])
    before = links(store)
    assert before[("ab", "als", "amyotrophic lateral sclerosis")] == 2
    assert before[("cm", "amyotrophic lateral sclerosis", "motor neuron disease")] == 2
    changed = study(
        "NCT00000001",
        **{
            "protocolSection.conditionsModule": {"conditions": ["Asthma"]},
            "protocolSection.contactsLocationsModule": {
                "locations": [{"city": "Paris", "country": "France"}]
            },
            "derivedSection.conditionBrowseModule": {"meshes": [{"term": "Asthma"}]},
        },
    )
    store.write([prepared(changed)])
    after = links(store)
    assert after[("ab", "als", "amyotrophic lateral sclerosis")] == 1
    assert after[("cm", "amyotrophic lateral sclerosis", "motor neuron disease")] == 1
    assert after[("cm", "asthma", "asthma")] == 1
    assert all(n > 0 for n in after.values())
    cities = store.connection.execute(
        "SELECT l.city FROM location l JOIN study s ON s.rowid = l.study_rowid"
        " WHERE s.nct_id = 'NCT00000001'"
    ).fetchall()
    assert cities == [("Paris",)]


def test_search_sees_every_write(store: SQLiteStore) -> None:
    store.write([prepared(study("NCT00000001"))])
    request = SearchRequest(cond="ALS", status=frozenset({"RECRUITING"}))
    assert search(store, request).total == 1
    store.write([prepared(study("NCT00000002"))])
    assert search(store, request).total == 2
    completed = study("NCT00000001")
    completed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    completed["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2024-06-01"
    store.write([prepared(completed)])
    result = search(store, request, facets=True)
    assert [h.nct_id for h in result.hits] == ["NCT00000002"]
    statuses = {v.value: v.count for v in result.facets["status"].values}
    assert statuses == {"RECRUITING": 1, "COMPLETED": 1}
    near_lyon = search(store, SearchRequest(near=Near(45.76, 4.84, 10.0)))
    assert near_lyon.total == 2 and near_lyon.hits[0].distance_km is not None


def test_a_recreated_database_is_not_confused_with_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    first = SQLiteStore(path)
    first.write([prepared(study("NCT00000001"))])
    assert search(first, SearchRequest()).total == 1
    first.close()
    for leftover in tmp_path.glob("again.db*"):
        leftover.unlink()
    second = SQLiteStore(path)
    other = copy.deepcopy(study("NCT00000009"))
    second.write([prepared(other)])  # same path, same generation number, different data
    assert [h.nct_id for h in search(second, SearchRequest()).hits] == ["NCT00000009"]
    second.close()


def test_an_old_schema_is_refused_with_advice(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 1")
    with pytest.raises(RuntimeError, match="ingest into a new database file"):
        SQLiteStore(path)


def test_a_long_form_finds_its_stated_abbreviation(backend_store: Store) -> None:
    """ "amyotrophic lateral sclerosis" also finds "ALS" (stated as its abbreviation by the
    first record) as a condition, and as a word in free text; never the "al" that the
    index's stemmer makes of it, as in "AL amyloidosis" or "et al."."""

    def without_conditions(**more: Any) -> dict[str, Any]:
        empty = {"protocolSection.conditionsModule": {}, "derivedSection.conditionBrowseModule": {}}
        return study(more.pop("nct_id"), **{**empty, **more})

    summary = "protocolSection.descriptionModule.briefSummary"
    backend_store.write([
        prepared(study("NCT00000001")),  # lists both, so states the abbreviation
        prepared(without_conditions(nct_id="NCT00000002", **{
            "protocolSection.conditionsModule": {"conditions": ["ALS"]}})),
        prepared(without_conditions(nct_id="NCT00000003", **{
            summary: "Low-dose IL-2 in immunorelated ALS syndrome."})),
        prepared(without_conditions(nct_id="NCT00000004", **{
            summary: "AL amyloidosis, treated as Smith et al. did."})),
    ])  # fmt: skip

    def found(**query: str) -> set[str]:
        return {h.nct_id for h in search(backend_store, SearchRequest(**query)).hits}

    long_form = "amyotrophic lateral sclerosis"
    assert found(term=long_form) == {"NCT00000001", "NCT00000002", "NCT00000003"}
    assert found(cond=long_form) == {"NCT00000001", "NCT00000002"}  # no text search there
    assert found(term="ALS") >= {"NCT00000001", "NCT00000002"}  # and as before, ALS finds both


def test_a_long_form_with_several_abbreviations(backend_store: Store) -> None:
    """Records may state more than one abbreviation of a long form (initials of every word,
    or of the words that are not stop words); each finds its records as a condition."""

    def listing(nct_id: str, *conditions: str) -> PreparedStudy:
        return prepared(study(nct_id, **{
            "protocolSection.conditionsModule": {"conditions": list(conditions)},
            "derivedSection.conditionBrowseModule": {},
        }))  # fmt: skip

    backend_store.write([
        listing("NCT00000001", "Disease of the Heart", "DH"),
        listing("NCT00000002", "Disease of the Heart", "DOTH"),
        listing("NCT00000003", "DOTH"),
        listing("NCT00000004", "DH"),
        listing("NCT00000005", "Asthma"),
    ])  # fmt: skip
    hits = search(backend_store, SearchRequest(term="disease of the heart")).hits
    assert {h.nct_id for h in hits} == {f"NCT0000000{n}" for n in range(1, 5)}


def test_a_condition_search_sees_every_write(store: SQLiteStore) -> None:
    """Condition searches run on an in-memory index (search/postings.py), refreshed too."""
    store.write([prepared(study("NCT00000001")), prepared(study("NCT00000002"))])
    assert search(store, SearchRequest(cond="amyotrophic")).total == 2
    changed = study(
        "NCT00000001",
        **{
            "protocolSection.conditionsModule": {"conditions": ["Severe Asthma"]},
            "derivedSection.conditionBrowseModule": {"meshes": [{"term": "Asthma"}]},
        },
    )
    store.write([prepared(changed)])
    assert [h.nct_id for h in search(store, SearchRequest(cond="amyotrophic")).hits] == [
        "NCT00000002"
    ]
    assert [h.nct_id for h in search(store, SearchRequest(cond='"severe asthma"')).hits] == [
        "NCT00000001"
    ]
