"""Search on PostgreSQL: the search tests of test_search_engine.py, and SQLite as the oracle.

The contract: ranking may differ between backends; filters, counts, facets and pages may
not. So the brute-force checks of test_search_engine.py run unchanged against the
PostgreSQL corpus, and a mix of requests must give SQLite's totals, facet counts and
result sets (in SQLite's order wherever the sort is not relevance).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import test_search_engine as engine
from trialatlas.search import Near, SearchRequest, SortKey, related, search
from trialatlas.store import Store
from trialatlas.store.sqlite import SQLiteStore

pytestmark = pytest.mark.postgres
docs = engine.docs  # the expected answers, brute-forced from the stored documents


def _params(test: Any) -> pytest.MarkDecorator:
    """The parametrisation of one of test_search_engine's tests, to reuse as is."""
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    return pytest.mark.parametrize(*mark.args, **mark.kwargs)


@_params(engine.test_filter_matches_brute_force)
def test_filter(pg_corpus_store: Store, docs: dict, name: str, request_: Any, keep: Any) -> None:
    engine.test_filter_matches_brute_force(pg_corpus_store, docs, name, request_, keep)


@_params(engine.test_facet_counts_match_brute_force)
def test_facet_counts(pg_corpus_store: Store, docs: dict, request_: SearchRequest) -> None:
    engine.test_facet_counts_match_brute_force(pg_corpus_store, docs, request_)


@_params(engine.test_sorted_pages_give_every_result_once_in_order)
def test_sorted_pages(pg_corpus_store: Store, docs: dict, sort: tuple[SortKey, ...]) -> None:
    engine.test_sorted_pages_give_every_result_once_in_order(pg_corpus_store, docs, sort)


def test_small_pages(pg_corpus_store: Store) -> None:
    engine.test_small_pages_agree_with_one_big_page(pg_corpus_store)


def test_distance(pg_corpus_store: Store, docs: dict) -> None:
    engine.test_distance_is_reported_for_the_nearest_site(pg_corpus_store, docs)


def test_condition_synonyms(pg_corpus_store: Store, docs: dict) -> None:
    engine.test_condition_synonyms_find_als_under_both_names(pg_corpus_store, docs)


@_params(engine.test_relevance_puts_on_topic_trials_first)
def test_relevance(
    pg_corpus_store: Store, docs: dict, request_: SearchRequest, words: tuple[str, ...]
) -> None:
    engine.test_relevance_puts_on_topic_trials_first(pg_corpus_store, docs, request_, words)


def test_title_matches_first(pg_corpus_store: Store) -> None:
    engine.test_title_matches_rank_above_description_matches(pg_corpus_store)


def test_related_trials(pg_corpus_store: Store, docs: dict) -> None:
    engine.test_related_trials_of_the_seed_are_all_als(pg_corpus_store, docs)
    engine.test_related_trials_share_conditions(pg_corpus_store, docs)


SAME_AS_SQLITE = {
    "word in every field": SearchRequest(term="exercise"),
    "phrase": SearchRequest(term='"heart failure"'),
    "hyphenated and accented": SearchRequest(term="COVID-19 OR Sjögren"),
    "area and NOT": SearchRequest(advanced="AREA[InterventionName]placebo NOT AREA[Phase]PHASE3"),
    "title area": SearchRequest(titles="amyotrophic lateral sclerosis"),
    "sponsor": SearchRequest(spons="National Cancer Institute"),
    "ids": SearchRequest(id="NCT04952155 OR NCT00005674"),
    "synonyms": SearchRequest(cond="ALS", sort=(SortKey("last_update", True),)),
    "city": SearchRequest(advanced="AREA[LocationCity]boston", status=frozenset({"COMPLETED"})),
    "missing": SearchRequest(advanced="AREA[Keyword]MISSING AND AREA[Acronym]MISSING"),
    "near": SearchRequest(cond="cancer", near=Near(42.36, -71.06, 50.0)),
    "dates and ages": SearchRequest(
        advanced="AREA[StartDate]RANGE[2015-01-01, MAX]", age_group=frozenset({"OLDER_ADULT"})
    ),
    "browse by enrollment": SearchRequest(sort=(SortKey("enrollment", False),), page_size=100),
}


@pytest.mark.parametrize("request_", SAME_AS_SQLITE.values(), ids=SAME_AS_SQLITE.keys())
def test_same_results_as_sqlite(
    corpus_store: SQLiteStore, pg_corpus_store: Store, request_: SearchRequest
) -> None:
    theirs = search(corpus_store, request_, facets=True)
    mine = search(pg_corpus_store, request_, facets=True)
    assert theirs.total, "a request that matches nothing would prove nothing"
    assert mine.total == theirs.total
    assert mine.facets == theirs.facets
    assert mine.expansions == theirs.expansions
    ordered = request_.sort and request_.sort[0].field != "relevance"
    mine_ids, theirs_ids = (
        engine.all_ids(pg_corpus_store, request_),
        engine.all_ids(corpus_store, request_),
    )
    assert (mine_ids if ordered else set(mine_ids)) == (theirs_ids if ordered else set(theirs_ids))
    if ordered:  # pages split at the same places, tokens included
        small = replace(request_, page_size=7)
        assert search(pg_corpus_store, small).next_page_token == (
            search(corpus_store, small).next_page_token
        )


def test_related_trials_are_found_either_way(
    corpus_store: SQLiteStore, pg_corpus_store: Store
) -> None:
    assert related(pg_corpus_store, "NCT09999999") is None
    mine = related(pg_corpus_store, "NCT00005674", limit=10)
    theirs = related(corpus_store, "NCT00005674", limit=10)
    assert mine and theirs and len(mine) == len(theirs)
