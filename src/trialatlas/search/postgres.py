"""Search over the PostgreSQL store: a GIN-indexed tsvector for text, the same columns after.

Everything but data access is the SQLite backend's (`SQLiteSearch`): parsing, synonym
expansion, the in-memory `ColumnIndex` for filters, facets, geo distance, sorting and page
tokens, and the related-trials scoring. So filters, counts and pages cannot differ between
the backends; this class only answers the same questions in PostgreSQL's SQL.

Full text: a text-only expression becomes a tsquery over the field-coded lexemes the store
indexes (store/postgres.py): a word in a set of fields is an OR of that word under each
field's code, a phrase is `<->` within one field, and the words are the store's own lexemes
(FTS5's tokenizer and Porter stemmer), so a query matches what SQLite matches.

Relevance is not ts_rank: ts_rank reads every matching study's vector from TOAST, some
20 µs a study, seconds for a broad query over 560k studies. Instead the same expression is
matched once more per weight class, restricted to that class's fields, and a study scores
the CLASS_WEIGHTS of the classes it matches in (a title match outranks a description
match). Every match is a GIN lookup returning ids only, packed into one binary value that
numpy reads as is. It ranks differently from FTS5's bm25, which the search contract allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import numpy as np
import orjson

from trialatlas.search.columns import PLACE_DTYPE, ColumnIndex
from trialatlas.search.essie import And, Node, Not, Or, Pred, Text
from trialatlas.search.sqlite import SQLiteSearch, _shared_for
from trialatlas.search.synonyms import ABBREVIATION
from trialatlas.store.fts5_words import words
from trialatlas.store.postgres import (
    CLASS_WEIGHTS,
    FIELD_CLASSES,
    FIELD_CODES,
    PostgresStore,
)

_NOTHING = "'_'"  # a lexeme the store never writes: every lexeme has a field code
# The ids a tsquery matches, as one bytea of 8-byte big-endian integers: a single value
# for numpy to read, where row by row (even a binary COPY) costs ten times the query
_MATCH_SQL = (
    "SELECT string_agg(int8send(study_id), ''::bytea) FROM study_search"
    " WHERE search @@ CAST(%s AS tsquery)"
)
_CLASS_FIELDS = {
    cls: frozenset(name for name, c in FIELD_CLASSES.items() if c == cls) for cls in CLASS_WEIGHTS
}
_ROW_SQL = (
    "SELECT id, nct_id, overall_status, phases, study_type, sex, healthy_volunteers,"
    " lead_sponsor_class, has_results, min_age_days, max_age_days, start_date,"
    " primary_completion_date, completion_date, first_posted_date, last_update_date,"
    " enrollment FROM study"
)
_HIT_SQL = (
    "SELECT id, nct_id, brief_title, official_title, acronym, overall_status, phases,"
    " study_type, lead_sponsor, enrollment, start_date, completion_date, last_update_date,"
    " has_results FROM study WHERE id = ANY(%s)"
)
_LINKS_SQL = (  # (synonym, pair records, condition records, MeSH records)
    "SELECT l.b, l.n, c.n, m.n FROM term_link l"
    " JOIN term_link c ON c.kind = 'c' AND c.a = l.a AND c.b = ''"
    " JOIN term_link m ON m.kind = 'm' AND m.a = l.b AND m.b = ''"
    " WHERE l.kind = 'cm' AND l.a = %(term)s",
    "SELECT l.a, l.n, c.n, m.n FROM term_link l"
    " JOIN term_link c ON c.kind = 'c' AND c.a = l.a AND c.b = ''"
    " JOIN term_link m ON m.kind = 'm' AND m.a = l.b AND m.b = ''"
    " WHERE l.kind = 'cm' AND l.b = %(term)s",
)
_MISSING_TERMS = {"conditions": "condition", "keywords": "keyword", "interventions": "intervention"}
_TITLE_COLUMNS = ("acronym", "official_title", "brief_title")


def _rows(cursor: Iterable[tuple[Any, ...]]) -> np.ndarray:
    return np.fromiter((row[0] for row in cursor), np.int64)


class PostgresSearch(SQLiteSearch):
    """The search backend for a PostgresStore; a connection is borrowed per query."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        with store.reading() as conn:
            state = dict(conn.execute("SELECT key, value FROM search_state").fetchall())
        self.shared = _shared_for(store.read_url, state.get("instance", 0))
        self.generation = state["generation"]
        self.expansions: dict[str, tuple[str, ...]] = {}

    def _query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.store.reading() as conn:
            return conn.execute(sql, params).fetchall()

    # ----- the column index --------------------------------------------------------------

    def _generation(self) -> int:
        return self._query("SELECT value FROM search_state WHERE key = 'generation'")[0][0]

    def _load(self, previous: ColumnIndex | None) -> ColumnIndex:
        since = previous.generation if previous else -1
        join = "JOIN study s ON s.id = x.study_id AND s.generation > %(since)s" if previous else ""
        with self.store.reading() as conn, conn.transaction():
            # one snapshot for the rows, their countries and places
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            generation = conn.execute(
                "SELECT value FROM search_state WHERE key = 'generation'"
            ).fetchone()[0]
            args = {"since": since}
            where = " WHERE generation > %(since)s" if previous else ""
            rows = conn.execute(_ROW_SQL + where, args).fetchall()
            countries = conn.execute(
                f"SELECT x.study_id, x.value FROM study_term x {join} WHERE x.kind = 'country'",
                args,
            ).fetchall()
            places = np.fromiter(
                conn.execute(
                    f"SELECT x.study_id, x.lat, x.lon FROM location x {join}"
                    " WHERE x.lat IS NOT NULL",
                    args,
                ),
                dtype=PLACE_DTYPE,
            )
        return ColumnIndex.build(generation, rows, countries, places, previous)

    # ----- full text ---------------------------------------------------------------------

    def fts(self, node: Node) -> str:
        """The tsqueries of a text-only expression, one per line: the whole expression, then
        per weight class its restriction to that class ("B:…"). Lexemes are quoted, so no
        input can change the syntax."""
        whole = tsquery(node)
        assert whole is not None  # unrestricted, every text has fields
        lines = [whole]
        for cls, fields in _CLASS_FIELDS.items():
            restricted = tsquery(node, fields)
            if restricted is not None:
                lines.append(f"{cls}:{restricted}")
        return "\n".join(lines)

    def _matches(self, expression: str) -> tuple[np.ndarray, np.ndarray]:
        full, *by_class = expression.split("\n")
        with self.store.reading() as conn, conn.transaction():
            # One snapshot for every match: a write committing between them would give a
            # class match ids past the whole expression's (IndexError on `scores`)
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # A scan reads every vector from TOAST; the planner, blind to that, would pick
            # one over the GIN index for small tables or broad queries.
            conn.execute("SET LOCAL enable_seqscan = off")
            rows = self._ids(conn, full)
            scores = np.zeros(int(rows.max()) + 1 if len(rows) else 0)
            for line in by_class:
                cls, query = line.split(":", 1)
                scores[self._ids(conn, query)] += CLASS_WEIGHTS[cls]
        return rows, scores[rows]

    @staticmethod
    def _ids(conn: Any, query: str) -> np.ndarray:
        """The ids of the studies a tsquery matches, sorted."""
        with conn.cursor(binary=True) as cur:
            packed = cur.execute(_MATCH_SQL, (query,)).fetchone()[0]
        return np.sort(np.frombuffer(packed or b"", ">i8").astype(np.int64))

    def _long_forms(self, phrase: str) -> list[str]:
        rows = self._query(
            "SELECT b FROM term_link WHERE kind = %s AND a = %s ORDER BY n DESC, b LIMIT 4",
            (ABBREVIATION, phrase),
        )
        return [long for (long,) in rows]

    def _abbreviations(self, phrase: str) -> list[str]:
        rows = self._query(
            "SELECT a FROM term_link WHERE kind = %s AND b = %s ORDER BY n DESC, a LIMIT 4",
            (ABBREVIATION, phrase),
        )
        return [short for (short,) in rows]

    def _synonym_links(self, term: str) -> list[tuple[str, int, int, int]]:
        return [row for sql in _LINKS_SQL for row in self._query(sql, {"term": term})]

    def external(self, pred: Pred) -> np.ndarray:
        """Predicates answered in SQL: exact terms, cities, MISSING on lists and titles.
        Values compare case-insensitively, as SQLite's NOCASE columns do."""
        index = self.shared.index
        if pred.field == "mention":
            return self.mentions(pred)
        if pred.field == "term":  # exact conditions or keywords (no stemming)
            rows = self._query(
                "SELECT study_id FROM study_term WHERE kind IN ('condition', 'keyword')"
                " AND lower(value) = ANY(%s)",
                ([str(v).lower() for v in pred.values],),
            )
            return index.rows_mask(_rows(rows))
        if pred.field == "city":
            rows = self._query(
                "SELECT DISTINCT study_id FROM location WHERE lower(city) = ANY(%s)",
                ([str(v).lower() for v in pred.values],),
            )
            return index.rows_mask(_rows(rows))
        if pred.op == "missing" and pred.field in _MISSING_TERMS:
            rows = self._query(
                "SELECT DISTINCT study_id FROM study_term WHERE kind = %s",
                (_MISSING_TERMS[pred.field],),
            )
            return ~index.rows_mask(_rows(rows))
        if pred.op == "missing" and pred.field in _TITLE_COLUMNS:
            rows = self._query(
                f"SELECT id FROM study WHERE coalesce({pred.field}, '') = ''"
            )  # the column name comes from essie.MISSING_TEXT, never from input
            return index.rows_mask(_rows(rows))
        raise ValueError(f"no way to evaluate {pred}")

    # ----- listings and documents --------------------------------------------------------

    def _listing(
        self, rows: list[int]
    ) -> tuple[dict[int, tuple[Any, ...]], list[tuple[int, str, str]]]:
        with self.store.reading() as conn:
            studies = {r[0]: r for r in conn.execute(_HIT_SQL, (rows,))}
            terms = conn.execute(
                "SELECT study_id, kind, value FROM study_term WHERE study_id = ANY(%s)"
                " AND kind IN ('condition', 'intervention') ORDER BY ctid",
                (rows,),
            ).fetchall()
        return studies, terms

    def documents(self, nct_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The current documents of these studies, in this order (unknown ids skipped)."""
        found = dict(
            self._query(
                "SELECT s.nct_id, v.document FROM study s JOIN study_version v"
                " ON v.nct_id = s.nct_id AND v.version = s.version WHERE s.nct_id = ANY(%s)",
                (list(nct_ids),),
            )
        )
        return [orjson.loads(found[n]) for n in nct_ids if n in found]

    def _document_sizes(self) -> list[tuple[str, int]]:
        return self._query(  # length() counts characters, as SQLite's does for text
            "SELECT s.nct_id, length(v.document) FROM study s JOIN study_version v"
            " ON v.nct_id = s.nct_id AND v.version = s.version"
        )

    def data_timestamp(self) -> str:
        (latest,) = self._query("SELECT max(ingested_at) FROM study_version")[0]
        return "" if latest is None else latest.astimezone(UTC).isoformat(timespec="seconds")[:19]

    # ----- related trials ----------------------------------------------------------------

    def _study_titles(self, nct_id: str) -> tuple[int, str | None, str | None] | None:
        rows = self._query(
            "SELECT id, brief_title, official_title FROM study WHERE nct_id = %s", (nct_id,)
        )
        return rows[0] if rows else None

    def _recorded_terms(self, rowid: int) -> list[str]:
        rows = self._query(
            "SELECT value FROM study_term WHERE study_id = %s AND kind IN ('condition', 'mesh')"
            " ORDER BY ctid",
            (rowid,),
        )
        return [value for (value,) in rows]

    def _known_terms(self, grams: list[str]) -> list[str]:
        rows = self._query(
            "SELECT a FROM term_link WHERE kind = 'ab' AND a = ANY(%(grams)s) UNION"
            " SELECT a FROM term_link WHERE kind = 'c' AND a = ANY(%(grams)s)"
            " AND a LIKE '%% %%' ORDER BY 1",
            {"grams": grams},
        )
        return [term for (term,) in rows]

    def _term_sharers(self, rowid: int, terms: Sequence[str]) -> list[tuple[int, str]]:
        """(other study, lower-cased term) for each of these conditions or MeSH terms it is
        filed under, compared without case as SQLite's NOCASE column compares them."""
        return self._query(
            "SELECT DISTINCT study_id, lower(value) FROM study_term"
            " WHERE kind IN ('condition', 'mesh') AND lower(value) = ANY(%s) AND study_id <> %s",
            ([t.lower() for t in terms], rowid),
        )

    def _rarity(self, word: str, limit: int) -> int:
        query = tsquery(Text((word,), True, ("brief_title", "official_title", "summary"), False))
        with self.store.reading() as conn, conn.transaction():
            conn.execute("SET LOCAL enable_seqscan = off")  # as in _matches
            return conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM study_search"
                " WHERE search @@ CAST(%s AS tsquery) LIMIT %s) x",
                (query, limit),
            ).fetchone()[0]


def _phrase(code: str, words: list[str]) -> str:
    return " <-> ".join(f"'{code}{word}'" for word in words)


def tsquery(node: Node, within: frozenset[str] | None = None) -> str | None:
    """The tsquery of a text-only expression, its words sought only in the fields `within`
    (None: wherever the expression says); None when it cannot match there. Negated parts
    keep their fields: restricting them would let more studies through."""
    if isinstance(node, Text):
        fields = node.columns or FIELD_CODES.keys()
        codes = [FIELD_CODES[f] for f in fields if within is None or f in within]
        if not codes:
            return None
        # each token as FTS5 re-reads a query token: usually one word, else a phrase
        groups = [lexemes for lexemes in map(words, node.tokens) if lexemes]
        if not groups:
            return _NOTHING
        if node.phrase:
            groups = [[word for group in groups for word in group]]
        return " & ".join(
            "(" + " | ".join(_phrase(code, group) for code in codes) + ")" for group in groups
        )
    if isinstance(node, Or):
        parts = [tsquery(item, within) for item in node.items]
        kept = [f"({part})" for part in parts if part is not None]
        return " | ".join(kept) if kept else None
    assert isinstance(node, And)
    parts = []
    for item in node.items:
        if isinstance(item, Not):
            parts.append(f"!({tsquery(item.item)})")
            continue
        part = tsquery(item, within)
        if part is None:
            return None
        parts.append(f"({part})")
    return " & ".join(parts)
