"""Search over the embedded SQLite store: FTS5 for text, in-memory columns for the rest.

All SQL of the search layer for SQLite lives here. Full-text parts of a query become one
FTS5 MATCH expression (ranked by bm25 with the per-column weights of INDEX_FIELDS); filters,
facets, sorting and pages run on a `ColumnIndex` that is loaded once per process and
database file and refreshed from the rows written since (`study.generation`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson

from trialatlas.records.index_text import INDEX_FIELDS
from trialatlas.search.columns import PLACE_DTYPE, ColumnIndex, Evaluator
from trialatlas.search.essie import And, Node, Not, Or, Pred, Text, normalize, tokenize
from trialatlas.search.plan import FACETS, build_plan
from trialatlas.search.query import (
    AGE_GROUP_LABELS,
    BOOL_LABELS,
    FUNDER_LABELS,
    OPEN_STATUSES,
    PHASE_LABELS,
    SEX_LABELS,
    STATUS_LABELS,
    STUDY_TYPE_LABELS,
    Facet,
    FacetValue,
    Hit,
    SearchRequest,
    SearchResult,
    decode_page_token,
    encode_page_token,
)
from trialatlas.search.synonyms import (
    ABBREVIATION,
    COMMON_WORDS,
    MAX_EXPANSIONS,
    is_synonym,
)

_BM25 = f"bm25(study_fts, {', '.join(str(w) for _, w in INDEX_FIELDS)})"
_MATCH_SQL = f"SELECT rowid, -{_BM25} FROM study_fts WHERE study_fts MATCH ?"
# Dates as columns.date_number computes them ('2020-05' -> 20200501), done by SQLite:
# half a million Python calls fewer when the column index loads.
_DATE_NUMBER = (
    "CASE length({0}) WHEN 10 THEN CAST(replace({0}, '-', '') AS INTEGER)"
    " WHEN 7 THEN CAST(replace({0}, '-', '') AS INTEGER) * 100 + 1"
    " WHEN 4 THEN CAST({0} AS INTEGER) * 10000 + 101 ELSE 0 END"
)
_ROW_SQL = (
    "SELECT rowid, nct_id, overall_status, phases, study_type, sex, healthy_volunteers,"
    " lead_sponsor_class, has_results, min_age_days, max_age_days, "
    + ", ".join(
        _DATE_NUMBER.format(column)
        for column in (
            "start_date",
            "primary_completion_date",
            "completion_date",
            "first_posted_date",
            "last_update_date",
        )
    )
    + ", enrollment FROM study"
)
_HIT_SQL = (
    "SELECT rowid, nct_id, brief_title, official_title, acronym, overall_status, phases,"
    " study_type, lead_sponsor, enrollment, start_date, completion_date, last_update_date,"
    " has_results FROM study WHERE rowid IN ({marks})"
)
_LINKS_SQL = {  # (synonym, pair records, condition records, MeSH records)
    "mesh": (
        "SELECT l.b, l.n, c.n, m.n FROM term_link l"
        " JOIN term_link c ON c.kind = 'c' AND c.a = l.a AND c.b = ''"
        " JOIN term_link m ON m.kind = 'm' AND m.a = l.b AND m.b = ''"
        " WHERE l.kind = 'cm' AND l.a = ?"
    ),
    "condition": (
        "SELECT l.a, l.n, c.n, m.n FROM term_link l"
        " JOIN term_link c ON c.kind = 'c' AND c.a = l.a AND c.b = ''"
        " JOIN term_link m ON m.kind = 'm' AND m.a = l.b AND m.b = ''"
        " WHERE l.kind = 'cm' AND l.b = ?"
    ),
}
_MISSING_TERMS = {"conditions": "condition", "keywords": "keyword", "interventions": "intervention"}
_CONDITION_COLUMNS = (
    "conditions", "condition_mesh", "keywords", "brief_title", "official_title", "acronym",
)  # fmt: skip
_LABELS = {
    "status": STATUS_LABELS,
    "phase": PHASE_LABELS,
    "study_type": STUDY_TYPE_LABELS,
    "age_group": AGE_GROUP_LABELS,
    "sex": SEX_LABELS,
    "healthy_volunteers": BOOL_LABELS,
    "funder_type": FUNDER_LABELS,
    "has_results": {"true": "With results", "false": "Without results"},
}
TEXT_CACHE_ENTRIES = 64
TEXT_CACHE_ROWS = 8_000_000
SYNONYM_CACHE_ENTRIES = 10_000
FACET_CACHE_ENTRIES = 256


class _Shared:
    """What all connections of a process to one database file share: columns and caches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index = ColumnIndex()
        self.text: OrderedDict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.text_rows = 0
        self.synonyms: dict[tuple[int, str], tuple[str, ...]] = {}
        self.size_stats: tuple[int, dict[str, Any]] | None = None
        # facet counts of recent searches (all their pages share them)
        self.facets: OrderedDict[tuple[int, str], dict[str, Facet]] = OrderedDict()

    def cached_text(self, key: tuple[int, str]) -> tuple[np.ndarray, np.ndarray] | None:
        with self.lock:
            found = self.text.get(key)
            if found is not None:
                self.text.move_to_end(key)
            return found

    def remember_text(self, key: tuple[int, str], value: tuple[np.ndarray, np.ndarray]) -> None:
        with self.lock:
            self.text[key] = value
            self.text_rows += len(value[0])
            while len(self.text) > TEXT_CACHE_ENTRIES or self.text_rows > TEXT_CACHE_ROWS:
                _, (rows, _) = self.text.popitem(last=False)
                self.text_rows -= len(rows)


_shared: dict[tuple[str, int], _Shared] = {}
_shared_lock = threading.Lock()


def _shared_for(path: str, instance: int) -> _Shared:
    with _shared_lock:
        return _shared.setdefault((path, instance), _Shared())


def clear_caches(*, columns: bool = True) -> None:
    """Forget cached full-text matches and synonyms, and unless told otherwise the loaded
    columns too (benchmarks measure cold queries with it)."""
    with _shared_lock:
        if columns:
            _shared.clear()
        for shared in _shared.values():
            with shared.lock:
                shared.text.clear()
                shared.text_rows = 0
                shared.synonyms.clear()
                shared.facets.clear()


class SQLiteSearch:
    """The search backend for one SQLiteStore connection (one per thread)."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self.db = connection
        state = dict(self.db.execute("SELECT key, value FROM search_state"))
        self.shared = _shared_for(path, state.get("instance", 0))
        self.generation = state["generation"]
        self.expansions: dict[str, tuple[str, ...]] = {}

    # ----- the column index --------------------------------------------------------------

    def columns(self) -> ColumnIndex:
        """The column index, refreshed with whatever was written since it was loaded."""
        shared = self.shared
        if shared.index.generation >= self.generation:  # as new as this search, or newer
            return shared.index
        with shared.lock:
            previous = shared.index
            if previous.generation < self.generation:
                shared.index = self._load(previous if previous.generation >= 0 else None)
            return shared.index

    def _generation(self) -> int:
        row = self.db.execute("SELECT value FROM search_state WHERE key = 'generation'").fetchone()
        return row[0]

    def _load(self, previous: ColumnIndex | None) -> ColumnIndex:
        since = previous.generation if previous else -1
        self.db.execute("BEGIN")  # one snapshot for the rows, their countries and places
        try:
            generation = self._generation()
            join = "JOIN study s ON s.rowid = x.study_rowid AND s.generation > ?"
            args = (since,) if previous else ()
            join = join if previous else ""
            rows = self.db.execute(
                _ROW_SQL + (" WHERE generation > ?" if previous else ""), args
            ).fetchall()
            countries = self.db.execute(
                f"SELECT x.study_rowid, x.value FROM study_term x {join} WHERE x.kind = 'country'",
                args,
            ).fetchall()
            # millions of places: one string per column, parsed by numpy, beats a row each
            columns = self.db.execute(
                "SELECT group_concat(x.study_rowid), group_concat(x.lat), group_concat(x.lon)"
                f" FROM location x {join} WHERE x.lat IS NOT NULL",
                args,
            ).fetchone()
            parsed = [np.fromstring(c or "", sep=",") for c in columns]
            places = np.zeros(len(parsed[0]), dtype=PLACE_DTYPE)
            places["row"], places["lat"], places["lon"] = parsed
        finally:
            self.db.execute("COMMIT")
        return ColumnIndex.build(generation, rows, countries, places, previous)

    # ----- full text ---------------------------------------------------------------------

    def text(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and relevance (bm25, higher is better) of a text-only expression."""
        expression = self.fts(node)
        key = (self.generation, expression)
        found = self.shared.cached_text(key)
        if found is None:
            found = self._matches(expression)
            self.shared.remember_text(key, found)
        return found

    def fts(self, node: Node) -> str:
        """The FTS5 MATCH expression: quoted tokens only, so no input can change its syntax."""
        if isinstance(node, Text):  # (synonyms were spelled out by `expanded`)
            body = _phrase(node.tokens) if node.phrase else " AND ".join(map(_phrase, [
                (t,) for t in node.tokens
            ]))  # fmt: skip
            return f"{{{' '.join(node.columns)}}} : ({body})" if node.columns else f"({body})"
        if isinstance(node, Or):
            return " OR ".join(f"({self.fts(item)})" for item in node.items)
        assert isinstance(node, And)
        positive = [i for i in node.items if not isinstance(i, Not)]
        expression = " AND ".join(f"({self.fts(item)})" for item in positive)
        for item in node.items:
            if isinstance(item, Not):
                expression = f"({expression}) NOT ({self.fts(item.item)})"
        return expression

    def expand(self, phrase: str) -> tuple[tuple[str, ...], bool]:
        """Condition synonyms of a phrase (stated long forms first, then co-occurring MeSH
        terms) and whether the phrase is an abbreviation those long forms spell out."""
        key = (self.generation, phrase)
        found = self.shared.synonyms.get(key)
        if found is None:
            if len(self.shared.synonyms) > SYNONYM_CACHE_ENTRIES:
                self.shared.synonyms.clear()
            longs = []
            if phrase not in COMMON_WORDS:
                longs = self._long_forms(phrase)
            related: list[str] = []
            for term in [phrase, *longs]:
                related += [
                    other
                    for other, pair, conditions, meshes in self._synonym_links(term)
                    if is_synonym(pair, conditions, meshes)
                ]
            synonyms = tuple(t for t in dict.fromkeys([*longs, *related]) if t != phrase)
            found = (synonyms[:MAX_EXPANSIONS], bool(longs))
            self.shared.synonyms[key] = found
        if found[0]:
            self.expansions[phrase] = found[0]
        return found

    def expanded(self, node: Node) -> Node:
        """The tree with condition synonyms spelled out.

        An abbreviation with stated long forms is searched by those (and its synonyms) in
        the full text, and by itself only as an exact condition or keyword: the index stems
        words, and "ALS" stemmed is "al", as in "AL amyloidosis".
        """
        if isinstance(node, And | Or):
            return type(node)(tuple(self.expanded(item) for item in node.items))
        if isinstance(node, Not):
            return Not(self.expanded(node.item))
        if not isinstance(node, Text) or not node.expand:
            return node
        plain = Text(node.tokens, node.phrase, node.columns, expand=False)
        phrase = " ".join(node.tokens)
        synonyms, abbreviation = self.expand(phrase)
        if not synonyms and len(node.tokens) > 1 and not node.phrase:  # "ALS riluzole"
            return And(
                tuple(self.expanded(Text((t,), False, node.columns, True)) for t in node.tokens)
            )
        if not synonyms:
            return plain
        alternatives = [Text(tokenize(s), True, node.columns, False) for s in synonyms]
        if abbreviation:
            return Or((*alternatives, Pred("term", "in", (phrase,))))
        return Or((plain, *alternatives))

    def external(self, pred: Pred) -> np.ndarray:
        """Predicates answered in SQL: cities, and MISSING on list and title fields."""
        index = self.shared.index
        if pred.field == "term":  # an exact condition or keyword (no stemming)
            rows = self.db.execute(
                "SELECT study_rowid FROM study_term WHERE kind IN ('condition', 'keyword')"
                " AND value = ?",
                pred.values,
            )
            return index.rows_mask(np.fromiter((r for (r,) in rows), np.int64))
        if pred.field == "city":
            marks = ", ".join("?" * len(pred.values))
            rows = self.db.execute(
                f"SELECT DISTINCT study_rowid FROM location WHERE city IN ({marks})", pred.values
            )
            return index.rows_mask(np.fromiter((r for (r,) in rows), np.int64))
        if pred.op == "missing" and pred.field in _MISSING_TERMS:
            rows = self.db.execute(
                "SELECT DISTINCT study_rowid FROM study_term WHERE kind = ?",
                (_MISSING_TERMS[pred.field],),
            )
            return ~index.rows_mask(np.fromiter((r for (r,) in rows), np.int64))
        if pred.op == "missing" and pred.field in ("acronym", "official_title", "brief_title"):
            rows = self.db.execute(
                f"SELECT rowid FROM study WHERE coalesce({pred.field}, '') = ''"
            )  # the column name comes from essie.MISSING_TEXT, never from input
            return index.rows_mask(np.fromiter((r for (r,) in rows), np.int64))
        raise ValueError(f"no way to evaluate {pred}")

    # ----- search ------------------------------------------------------------------------

    def search(self, request: SearchRequest, *, facets: bool = False) -> SearchResult:
        plan = build_plan(request)
        after = decode_page_token(request)
        index = self.columns()
        evaluator = Evaluator(index, self.text, self.external)
        ranked = None if plan.ranked is None else self.expanded(plan.ranked)
        base = evaluator.mask(ranked) if ranked is not None else index.all_rows()
        filters = [
            (name, evaluator.mask(self.expanded(node), scored=False)) for name, node in plan.filters
        ]
        mask = base.copy()
        for _, filter_mask in filters:
            mask &= filter_mask
        keys = index.sort_keys(plan.sort, evaluator.scores)
        rows, positions, more = index.page(mask, keys, request.page_size, after)
        token = encode_page_token(request, *positions[-1]) if more and positions else None
        counts: dict[str, Facet] = {}
        facet_key = (self.generation, request.fingerprint())
        if facets and facet_key in self.shared.facets:
            counts = self.shared.facets[facet_key]
        elif facets:
            for name, label in FACETS.items():
                facet_mask = base.copy()
                for filter_name, filter_mask in filters:
                    if filter_name != name:
                        facet_mask &= filter_mask
                labels = _LABELS.get(name, {})
                values = tuple(
                    FacetValue(value, labels.get(value, value), n)
                    for value, n in index.facet(name, facet_mask)
                )
                counts[name] = Facet(name, label, values)
            with self.shared.lock:
                self.shared.facets[facet_key] = counts
                while len(self.shared.facets) > FACET_CACHE_ENTRIES:
                    self.shared.facets.popitem(last=False)
        hits = self.hits(rows, evaluator.scores, evaluator.nearest)
        return SearchResult(hits, int(np.count_nonzero(mask)), token, counts, self.expansions)

    def hits(
        self, rows: Sequence[int], scores: np.ndarray, nearest: np.ndarray | None
    ) -> list[Hit]:
        """Listing rows for the given row ids, in that order."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        studies, listed_terms = self._listing(rows)
        terms: dict[tuple[int, str], list[str]] = {}
        for rowid, kind, value in listed_terms:
            terms.setdefault((rowid, kind), []).append(value)
        hits = []
        for rowid in rows:
            r = studies.get(rowid)
            if r is None:  # replaced by a concurrent write: its new row shows next time
                continue
            hits.append(Hit(
                nct_id=r[1], brief_title=r[2], official_title=r[3], acronym=r[4],
                overall_status=r[5], phases=tuple(p for p in (r[6] or "").split("|") if p),
                study_type=r[7], conditions=tuple(terms.get((rowid, "condition"), ())),
                interventions=tuple(terms.get((rowid, "intervention"), ())),
                lead_sponsor=r[8], enrollment=r[9], start_date=r[10], completion_date=r[11],
                last_update_date=r[12], has_results=bool(r[13]),
                score=float(scores[rowid]) if rowid < len(scores) else 0.0,
                distance_km=_distance(nearest, rowid),
            ))  # fmt: skip
        return hits

    def documents(self, nct_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The current documents of these studies, in this order (unknown ids skipped)."""
        found: dict[str, bytes] = {}
        for start in range(0, len(nct_ids), 500):
            chunk = list(nct_ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            found.update(self.db.execute(
                "SELECT s.nct_id, v.document FROM study s JOIN study_version v"
                f" ON v.nct_id = s.nct_id AND v.version = s.version WHERE s.nct_id IN ({marks})",
                chunk,
            ))  # fmt: skip
        return [orjson.loads(found[n]) for n in nct_ids if n in found]

    def size_stats(self) -> dict[str, Any]:
        """Count, mean, percentiles and largest of the current documents' JSON sizes."""
        generation = self._generation()
        cached = self.shared.size_stats
        if cached is not None and cached[0] == generation:
            return cached[1]
        rows = self._document_sizes()
        sizes = np.array([n for _, n in rows] or [0], dtype=np.int64)
        stats = {
            "totalStudies": len(rows),
            "averageSizeBytes": int(sizes.mean()),
            "percentiles": {
                str(p): int(np.percentile(sizes, p)) for p in (5, 10, 25, 50, 75, 90, 95)
            },
            "largestStudies": [
                {"id": nct_id, "sizeBytes": n}
                for nct_id, n in sorted(rows, key=lambda r: -r[1])[:10]
            ],
        }
        self.shared.size_stats = (generation, stats)
        return stats

    def data_timestamp(self) -> str:
        row = self.db.execute("SELECT max(ingested_at) FROM study_version").fetchone()
        return (row[0] or "")[:19]

    # ----- related trials ----------------------------------------------------------------

    def related(self, nct_id: str, limit: int) -> list[Hit] | None:
        """Trials like this one: shared conditions and MeSH terms first, then shared text;
        among those chosen, trials still open to participants first. None if unknown."""
        row = self._study_titles(nct_id)
        if row is None:
            return None
        rowid = row[0]
        index = self.columns()
        recorded = self._recorded_terms(rowid)
        text = self._source_text(nct_id, row[1], row[2])
        # no conditions on record: the condition names its text mentions
        terms = [normalize(v) for v in recorded] or self._condition_mentions(text)
        terms = list(dict.fromkeys(t for t in terms if t))
        scores = np.zeros(index.size)
        if terms:
            node = Or(tuple(Text(tokenize(t), True, _CONDITION_COLUMNS, True) for t in terms))
            evaluator = Evaluator(index, self.text, self.external)
            matched = evaluator.mask(self.expanded(node))
            scores[matched] = 1000.0 + evaluator.scores[matched]  # outranks text likeness
            for other, n in self._shared_term_counts(rowid, recorded):
                if other < index.size:
                    scores[other] += 100.0 * n
        scores[rowid] = 0
        if np.count_nonzero(scores) < limit:
            words = self._salient_words(text)
            if words:
                rows, bm25 = self.text(Or(tuple(Text((w,), False, (), False) for w in words)))
                keep = (rows < index.size) & (scores[np.minimum(rows, index.size - 1)] == 0)
                scores[rows[keep]] = bm25[keep]
                scores[rowid] = 0
        candidates = np.flatnonzero(scores > 0)
        chosen = candidates[np.lexsort((index.arrays["nct"][candidates], -scores[candidates]))]
        chosen = chosen[:limit]
        hits = self.hits(chosen, scores, None)
        return sorted(hits, key=lambda h: h.overall_status not in OPEN_STATUSES)

    def _source_text(self, nct_id: str, brief: str | None, official: str | None) -> str:
        document = self.documents([nct_id])[0]
        description = (document.get("protocolSection") or {}).get("descriptionModule") or {}
        parts = [brief, official, description.get("briefSummary")]
        return "\n".join(p for p in parts if isinstance(p, str))

    def _condition_mentions(self, text: str) -> list[str]:
        """Condition names and stated abbreviations that occur in the text (1–5 words)."""
        words = tokenize(text)
        grams = {" ".join(words[i : i + n]) for n in range(1, 6) for i in range(len(words) - n + 1)}
        found: list[str] = []
        grams_list = sorted(grams)
        for start in range(0, len(grams_list), 400):
            for term in self._known_terms(grams_list[start : start + 400]):
                if term not in COMMON_WORDS:
                    found.append(term)
        return found

    def _shared_term_counts(self, rowid: int, terms: Iterable[str]) -> list[tuple[int, int]]:
        """Other studies filed under the same conditions or MeSH terms, and how many."""
        values = list(terms)
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        return self.db.execute(
            "SELECT study_rowid, count(*) FROM study_term WHERE kind IN ('condition', 'mesh')"
            f" AND value IN ({marks}) AND study_rowid != ? GROUP BY study_rowid",
            (*values, rowid),
        ).fetchall()

    def _salient_words(self, text: str, count: int = 8) -> list[str]:
        """The source's rarest title and summary words (rare = telling), for text likeness."""
        words = [w for w in dict.fromkeys(tokenize(text)) if len(w) > 2 and not w.isdigit()]
        if not words:
            return []
        rarity = []
        for word in words[:60]:
            matches = self._rarity(word, 2001)
            if 1 < matches <= 2000:
                rarity.append((matches, word))
        return [word for _, word in sorted(rarity)[:count]]

    # ----- data access: SQLite's SQL (search/postgres.py answers these in PostgreSQL's) --

    def _matches(self, expression: str) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and scores of the studies an expression (from `fts`) matches."""
        matches = np.fromiter(
            self.db.execute(_MATCH_SQL, (expression,)),
            dtype=[("rowid", np.int64), ("score", np.float64)],
        )
        return matches["rowid"], matches["score"]

    def _long_forms(self, phrase: str) -> list[str]:
        return [
            long
            for (long,) in self.db.execute(
                "SELECT b FROM term_link WHERE kind = ? AND a = ? ORDER BY n DESC LIMIT 4",
                (ABBREVIATION, phrase),
            )
        ]

    def _synonym_links(self, term: str) -> list[tuple[str, int, int, int]]:
        return [row for sql in _LINKS_SQL.values() for row in self.db.execute(sql, (term,))]

    def _listing(
        self, rows: list[int]
    ) -> tuple[dict[int, tuple[Any, ...]], list[tuple[int, str, str]]]:
        marks = ", ".join("?" * len(rows))
        studies = {r[0]: r for r in self.db.execute(_HIT_SQL.format(marks=marks), rows)}
        terms = self.db.execute(
            "SELECT study_rowid, kind, value FROM study_term"
            f" WHERE study_rowid IN ({marks}) AND +kind IN ('condition', 'intervention')",
            rows,
        ).fetchall()
        return studies, terms

    def _document_sizes(self) -> list[tuple[str, int]]:
        return self.db.execute(
            "SELECT s.nct_id, length(v.document) FROM study s JOIN study_version v"
            " ON v.nct_id = s.nct_id AND v.version = s.version"
        ).fetchall()

    def _study_titles(self, nct_id: str) -> tuple[int, str | None, str | None] | None:
        return self.db.execute(
            "SELECT rowid, brief_title, official_title FROM study WHERE nct_id = ?", (nct_id,)
        ).fetchone()

    def _recorded_terms(self, rowid: int) -> list[str]:
        return [
            value
            for (value,) in self.db.execute(
                "SELECT value FROM study_term WHERE study_rowid = ?"
                " AND +kind IN ('condition', 'mesh')",
                (rowid,),
            )
        ]

    def _known_terms(self, grams: list[str]) -> list[str]:
        """Which of these n-grams are stated abbreviations or multi-word conditions."""
        marks = ", ".join("?" * len(grams))
        return [
            term
            for (term,) in self.db.execute(
                f"SELECT a FROM term_link WHERE kind = 'ab' AND a IN ({marks}) UNION"
                f" SELECT a FROM term_link WHERE kind = 'c' AND a IN ({marks}) AND a LIKE '% %'",
                grams * 2,
            )
        ]

    def _rarity(self, word: str, limit: int) -> int:
        """In how many studies' titles and summaries a word occurs, counted up to `limit`."""
        return self.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM study_fts WHERE study_fts MATCH ? LIMIT ?)",
            (f"{{brief_title official_title summary}} : {_phrase((word,))}", limit),
        ).fetchone()[0]


def _phrase(tokens: Sequence[str]) -> str:
    return '"' + " ".join(tokens) + '"'


def _distance(nearest: np.ndarray | None, rowid: int) -> float | None:
    if nearest is None or rowid >= len(nearest) or not np.isfinite(nearest[rowid]):
        return None
    return round(float(nearest[rowid]), 1)
