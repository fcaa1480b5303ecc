"""A bulk run into an empty SQLite store builds its by-value indexes at the end, sorted,
instead of entry by entry; searches stay right meanwhile, and an interrupted load's indexes
are built by whichever write comes next."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from trialatlas.ingest import StoreForms, prepare
from trialatlas.search import SearchRequest, search
from trialatlas.search.sqlite import clear_caches
from trialatlas.store.sqlite import SQLiteStore

BY_VALUE = {"study_term_by_value", "location_by_city"}


def study(number: int, city: str) -> dict[str, Any]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": f"NCT{number:08d}", "briefTitle": f"Study {number}"},
            "statusModule": {"overallStatus": "RECRUITING"},
            "conditionsModule": {"conditions": ["Amyotrophic Lateral Sclerosis"]},
            "contactsLocationsModule": {"locations": [{"city": city, "country": "France"}]},
        },
        "hasResults": False,
    }


def write(store: SQLiteStore, *documents: dict[str, Any]) -> None:
    forms = StoreForms.of(store)
    store.write([prepare("test", d, forms) for d in documents])  # type: ignore[misc]


def by_value_indexes(store: SQLiteStore) -> set[str]:
    rows = store.connection.execute("SELECT name FROM main.sqlite_master WHERE type = 'index'")
    return BY_VALUE & {name for (name,) in rows}


def in_city(store: SQLiteStore, city: str) -> list[str]:
    clear_caches()
    request = SearchRequest(city=frozenset({city}), page_size=50)
    return sorted(hit.nct_id for hit in search(store, request).hits)


def test_a_load_into_an_empty_store_builds_them_at_its_end(store: SQLiteStore) -> None:
    with store.bulk():
        write(store, study(1, "Paris"), study(2, "Lyon"))
        assert by_value_indexes(store) == set()
        assert in_city(store, "Paris") == ["NCT00000001"]  # found without the index
        write(store, study(3, "Paris"))
    assert by_value_indexes(store) == BY_VALUE
    assert in_city(store, "Paris") == ["NCT00000001", "NCT00000003"]
    plan = store.connection.execute(
        "EXPLAIN QUERY PLAN SELECT study_rowid FROM location WHERE city = 'Paris'"
    ).fetchall()
    assert "location_by_city" in str(plan)


def test_a_bulk_run_into_a_store_with_studies_keeps_them(store: SQLiteStore) -> None:
    write(store, study(1, "Paris"))
    with store.bulk():
        write(store, study(2, "Paris"))
        assert by_value_indexes(store) == BY_VALUE
    assert in_city(store, "Paris") == ["NCT00000001", "NCT00000002"]


def test_a_failed_load_still_builds_them_when_it_ends(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError, match="reader gave up"), store.bulk():
        write(store, study(1, "Paris"))
        raise RuntimeError("reader gave up")
    assert by_value_indexes(store) == BY_VALUE
    assert in_city(store, "Paris") == ["NCT00000001"]


def test_the_next_write_builds_what_a_killed_load_left_out(store: SQLiteStore) -> None:
    write(store, study(1, "Paris"))
    other = sqlite3.connect(store.path)  # as a load killed before its end leaves the file
    other.executescript("DROP INDEX study_term_by_value; DROP INDEX location_by_city;")
    other.close()
    assert in_city(store, "Paris") == ["NCT00000001"]
    write(store, study(2, "Lyon"))
    assert by_value_indexes(store) == BY_VALUE
