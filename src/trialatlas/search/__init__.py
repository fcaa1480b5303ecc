"""Search: ClinicalTrials.gov-style queries, filters, facets, pages and related trials.

The public interface (what the CLI, the web pages and the JSON API call):

- `SearchRequest` — one search (query areas, filters, sort, page); `parse_api_params` builds
  one from ClinicalTrials.gov API v2 query parameters.
- `search(store, request, facets=False)` → `SearchResult` (hits, total, next page token,
  facet counts that ignore their own filter, synonyms used).
- `related(store, nct_id, limit=10)` → the "See also" list of a study.
- `documents(store, nct_ids)` → current API v2 documents, in order.
- `size_stats(store)`, `data_timestamp(store)` → what API v2's /stats/size and /version say.
- `warm(store)` → load what searching keeps in memory now rather than at the first search.
- `QueryError` — a bad request; `.param` names the offending input.

Each store backend has its executor beside this module (`sqlite.py`, `postgres.py`); parsing
and the request model (`query.py`, `essie.py`, `plan.py`, `params.py`) are backend-neutral.
"""

from __future__ import annotations

from typing import Any

from trialatlas.search.query import (
    AgeRange,
    DateRange,
    Facet,
    FacetValue,
    Hit,
    Near,
    QueryError,
    SearchRequest,
    SearchResult,
    SortKey,
)
from trialatlas.store import Store

__all__ = [
    "AgeRange",
    "DateRange",
    "Facet",
    "FacetValue",
    "Hit",
    "Near",
    "QueryError",
    "SearchRequest",
    "SearchResult",
    "SortKey",
    "data_timestamp",
    "documents",
    "related",
    "search",
    "size_stats",
    "warm",
]


def _backend(store: Store) -> Any:
    from trialatlas.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from trialatlas.search.sqlite import SQLiteSearch

        return SQLiteSearch(store.connection, str(store.path.resolve()))
    from trialatlas.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        from trialatlas.search.postgres import PostgresSearch

        return PostgresSearch(store)
    raise NotImplementedError(f"no search backend for {type(store).__name__}")


def search(store: Store, request: SearchRequest, *, facets: bool = False) -> SearchResult:
    """Run one search; raises QueryError (with the offending parameter) for bad input."""
    return _backend(store).search(request, facets=facets)


def warm(store: Store) -> None:
    """Load the column index and short-text postings a process keeps in memory, so its
    first search does not wait for them (a second or two on the shared corpus, about 30 s
    at 560,000 studies)."""
    _backend(store).columns()


def related(store: Store, nct_id: str, limit: int = 10) -> list[Hit] | None:
    """Studies like `nct_id` (shared conditions, then text), open ones first; None if unknown."""
    return _backend(store).related(nct_id, limit)


def documents(store: Store, nct_ids: list[str]) -> list[dict[str, Any]]:
    """Current documents of the given studies, in order; unknown ids are skipped."""
    return _backend(store).documents(nct_ids)


def size_stats(store: Store) -> dict[str, Any]:
    """Study count and JSON document sizes, in the shape of API v2's /stats/size."""
    return _backend(store).size_stats()


def data_timestamp(store: Store) -> str:
    """When the data last changed (UTC, ISO seconds), for API v2's /version."""
    return _backend(store).data_timestamp()
