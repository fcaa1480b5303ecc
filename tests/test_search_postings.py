"""The in-memory index of the short fields answers exactly as FTS5 would.

Condition and title searches are answered from `search.postings`, not FTS5: the same
studies must match, with the same bm25 scores, or results would depend on which engine
ran; and a later write must show in the next search.
"""

from __future__ import annotations

import numpy as np
import pytest

from trialatlas.search import SearchRequest, search
from trialatlas.search import sqlite as sqlite_search
from trialatlas.search.essie import parse
from trialatlas.search.sqlite import SQLiteSearch
from trialatlas.store.sqlite import SQLiteStore

QUERIES = [
    "cancer", "breast cancer", '"breast cancer"', '"type 2 diabetes"', "diabetes NOT type",
    "asthma OR copd", "hiv AND (vaccine OR prevention)", "non-small cell lung cancer",
    "Alzheimer's disease", "covid-19", "café", "AREA[Keyword]exercise", "AREA[Acronym]ALS",
    "AREA[BriefTitle]insulin", "sclerosis", "pain",
]  # fmt: skip


def engines(store: SQLiteStore, text: str, area: str) -> tuple[tuple, tuple]:
    """(rows, scores) from the in-memory index and from FTS5, rows sorted."""
    engine = SQLiteSearch(store.connection, str(store.path))
    engine.columns()
    postings = engine.shared.postings
    node = parse(text, area)
    assert postings is not None and node is not None and postings.covers(node)
    mine = postings.match(node, engine.shared.index.size)
    rows, scores = engine._matches(engine.fts(node))
    order = np.argsort(rows)
    return mine, (rows[order], scores[order])


@pytest.mark.parametrize("area", ["ConditionSearch", "TitleSearch"])
@pytest.mark.parametrize("text", QUERIES)
def test_same_matches_and_scores_as_fts5(corpus_store: SQLiteStore, text: str, area: str) -> None:
    (rows, scores), (fts_rows, fts_scores) = engines(corpus_store, text, area)
    assert rows.tolist() == fts_rows.tolist()
    assert np.allclose(scores, fts_scores, rtol=1e-9, atol=1e-12)


def test_some_queries_match_many(corpus_store: SQLiteStore) -> None:
    """(So that the comparisons above are not of empty results.)"""
    assert len(engines(corpus_store, "cancer", "ConditionSearch")[0][0]) > 1000
    assert len(engines(corpus_store, '"type 2 diabetes"', "ConditionSearch")[0][0]) > 20


def test_broad_free_text_ranks_title_matches_first(
    corpus_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond RANK_LIMIT matches, free text is ranked by its short fields, not FTS5: the
    same studies match, and one with the words in its title comes before one without."""
    monkeypatch.setattr(sqlite_search, "RANK_LIMIT", 10)
    sqlite_search.clear_caches(columns=False)
    request = SearchRequest(term="vaccine", page_size=1000)
    result = search(corpus_store, request)
    monkeypatch.setattr(sqlite_search, "RANK_LIMIT", 1_000_000)
    sqlite_search.clear_caches(columns=False)
    exact = search(corpus_store, request)
    sqlite_search.clear_caches(columns=False)
    assert result.total == exact.total > 10
    assert {h.nct_id for h in result.hits} == {h.nct_id for h in exact.hits}
    titled = [("vaccin" in (h.title or "").lower()) for h in result.hits]
    positions = {flag: [i for i, t in enumerate(titled) if t == flag] for flag in (True, False)}
    assert all(titled[:50]) and np.mean(positions[True]) < np.mean(positions[False])
