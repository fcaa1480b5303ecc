"""The storage interface every backend implements, and the values that cross it.

The ingest pipeline hands a store fully prepared studies (validated, serialised, hashed,
every row computed), so a backend only decides how to write them atomically and how to
read them back. Versions: a changed document for a known NCT id becomes version N+1; an
identical one (same content hash) is not stored again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol


class PreparedStudy(NamedTuple):
    """A validated study with every row the store writes for it, computed in a worker.

    All of it is a pure function of the document, so the serial writer only runs SQL. A
    NamedTuple of plain values because thousands a second cross from worker processes to
    the writer: pickling nested dataclasses cost several times more than this.
    """

    location: str
    nct_id: str
    document: bytes  # encoded JSON, after the store's document_form (records.document.decode)
    content_hash: str
    last_update: str | None  # lastUpdatePostDate, which decides the current version
    values: tuple[Any, ...]  # `study` columns brief_title .. synthetic (store.batch)
    index_text: tuple[str, ...]  # one text per records.index_text.INDEX_FIELDS
    terms: tuple[tuple[str, str], ...]  # (kind, value) facet terms
    places: tuple[tuple[Any, ...], ...]  # search.geo.LocationRow of each distinct place
    links: tuple[tuple[str, str, str], ...]  # (kind, a, b) synonym evidence
    index_form: Any = None  # Store.index_form of index_text, when the store has one


class Change(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class VersionInfo:
    nct_id: str
    version: int
    content_hash: str
    source: str
    ingested_at: str
    changed_modules: tuple[str, ...]


# The columns `stats` may count by, and the SQL (the same for every backend) that counts.
_COUNT_SQL = {
    "overall_status": "SELECT overall_status, count(*) FROM study GROUP BY 1 ORDER BY 2 DESC",
    "phase": (
        "SELECT value, count(*) FROM study_term WHERE kind = 'phase' GROUP BY 1 "
        "UNION ALL SELECT NULL, count(*) FROM study WHERE phases = '' "
        "ORDER BY 2 DESC"
    ),
    "study_type": "SELECT study_type, count(*) FROM study GROUP BY 1 ORDER BY 2 DESC",
}
COUNTABLE = tuple(_COUNT_SQL)


def count_sql(column: str) -> str:
    """The statement counting studies by `column`; ValueError naming the choices if unknown."""
    if column not in _COUNT_SQL:
        raise ValueError(f"cannot count by {column!r}; choose one of {', '.join(COUNTABLE)}")
    return _COUNT_SQL[column]


class Store(Protocol):
    """What the rest of trialatlas may ask of a store; backends live beside this module."""

    # A pure function of a study's index text that the store would otherwise run in its
    # serial write (PostgreSQL: the tsvector), run instead where studies are prepared, in
    # the ingest's worker processes; a module-level function, so it pickles. None: none.
    index_form: Callable[[tuple[str, ...]], Any] | None
    # Likewise for the stored document's bytes (SQLite: compressed); None: the JSON as is.
    document_form: Callable[[bytes], bytes] | None

    def write(self, studies: Sequence[PreparedStudy]) -> list[Change]:
        """Store a batch in one transaction; one Change per study, in order.

        A new version records the study's location as its source."""
        ...

    def bulk(self) -> AbstractContextManager[None]:
        """A run of writes (an ingest): the store may finish work of each write later, by
        the end of the run (SQLite: indexing the text, on a second core)."""
        ...

    def document(self, nct_id: str, version: int | None = None) -> dict[str, Any] | None:
        """The current document, or the given version; None when unknown."""
        ...

    def versions(self, nct_id: str) -> list[VersionInfo]:
        """Every stored version of a study, oldest first."""
        ...

    def iter_documents(self) -> Iterator[dict[str, Any]]:
        """Every current document, in NCT id order."""
        ...

    def count(self) -> int: ...

    def optimize(self) -> None:
        """Refresh the planner's statistics after a bulk change, so queries pick good plans."""
        ...

    def counts_by(self, column: str) -> list[tuple[str | None, int]]:
        """Study counts by one of COUNTABLE, most frequent first."""
        ...

    def close(self) -> None: ...
