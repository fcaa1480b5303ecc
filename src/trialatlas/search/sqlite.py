"""Search over the embedded SQLite store: FTS5 for text, in-memory columns for the rest.

All SQL of the search layer for SQLite lives here. Full-text parts of a query become one
FTS5 MATCH expression (ranked by bm25 with the per-column weights of INDEX_FIELDS); filters,
facets, sorting and pages run on a `ColumnIndex` that is loaded once per process and
database file and refreshed from the rows written since (`study.generation`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from trialatlas.records.document import decode, json_size
from trialatlas.records.index_text import FIELD_NAMES, INDEX_FIELDS, index_text
from trialatlas.search.columns import PLACE_DTYPE, ColumnIndex, Evaluator
from trialatlas.search.essie import And, Node, Not, Or, Pred, Text, normalize, tokenize
from trialatlas.search.plan import FACETS, build_plan
from trialatlas.search.postings import Postings
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
from trialatlas.store.fts5_words import words
from trialatlas.store.text_index import GENERATION_SQL

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
_SALIENT_COLUMNS = ("brief_title", "official_title", "summary")  # where `_rarity` counts
_TITLE_COLUMNS = ("brief_title", "official_title")
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
# Full-text matches beyond this many, or of a common word (Postings.common), are ranked
# by bm25 over their short fields (postings.py), not by FTS5's bm25 over every field
RANK_LIMIT = 10_000
# Where a long form finds its abbreviations written as words, and how many candidate
# studies (sharing the abbreviation's stem) are read to check
MENTION_COLUMNS = ("brief_title", "official_title", "acronym", "summary", "criteria")
MAX_MENTION_CANDIDATES = 500
FACET_CACHE_ENTRIES = 256
SALIENT_PROBES = 20  # words whose rarity `related` looks up, ~0.2 ms each


class _Shared:
    """What all connections of a process to one database file share: columns and caches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index = ColumnIndex()
        self.postings: Postings | None = None  # short text fields, as new as `index`
        self.text: OrderedDict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.text_rows = 0
        # (synonyms, is an abbreviation, stated abbreviations) per phrase, see `expand`
        self.synonyms: dict[tuple[int, str], tuple[tuple[str, ...], bool, tuple[str, ...]]] = {}
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
        self.generation = self._generation()
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
        """The store generation searches show: the one whose text is indexed (a bulk
        ingest indexes a batch's text after writing it, store/text_index.py)."""
        return self.db.execute(GENERATION_SQL).fetchone()[0]

    def _load(self, previous: ColumnIndex | None) -> ColumnIndex:
        """The column index (and the short-text postings, published to `shared` under its
        lock) from one snapshot: `previous` with the rows written since, or everything."""
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
            postings = self.shared.postings if previous else None
            self.shared.postings = Postings.load(self.db, postings, since)
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
            postings = self.shared.postings
            if postings is None:
                found = self._matches(expression)
            elif postings.covers(node):  # short fields only: all in memory
                found = postings.match(node, self.shared.index.size)
            else:  # FTS5 ranks when that is cheap, else the short fields rank
                found = None if postings.common(node) else self._ranked(expression)
                if found is None:
                    rows = self._match_rows(expression)
                    found = rows, postings.relevance(node, rows, self.shared.index.size)
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

    def expand(self, phrase: str) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
        """Condition synonyms of a phrase (stated long forms first, then co-occurring MeSH
        terms), whether the phrase is an abbreviation those long forms spell out, and the
        abbreviations records state for it when it is a long form ("ALS" for "amyotrophic
        lateral sclerosis")."""
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
            shorts = () if longs or " " not in phrase else tuple(
                short for short in self._abbreviations(phrase) if short not in COMMON_WORDS
            )  # fmt: skip
            found = (synonyms[:MAX_EXPANSIONS], bool(longs), shorts)
            self.shared.synonyms[key] = found
        if found[0] or found[2]:
            self.expansions[phrase] = (*found[0], *found[2])
        return found

    def expanded(self, node: Node) -> Node:
        """The tree with condition synonyms spelled out.

        An abbreviation with stated long forms is searched by those (and its synonyms) in
        the full text, and by itself only as an exact condition or keyword: the index stems
        words, and "ALS" stemmed is "al", as in "AL amyloidosis" or "et al.". The other way
        round, a long form also finds its stated abbreviations as an exact condition or
        keyword, or as a word: a full-text word, or when stemming changed it ("ALS" is "al")
        checked in the titles, summary and criteria's own text (`mentions`).
        """
        if isinstance(node, And | Or):
            return type(node)(tuple(self.expanded(item) for item in node.items))
        if isinstance(node, Not):
            return Not(self.expanded(node.item))
        if not isinstance(node, Text) or not node.expand:
            return node
        plain = Text(node.tokens, node.phrase, node.columns, expand=False)
        phrase = " ".join(node.tokens)
        synonyms, abbreviation, shorts = self.expand(phrase)
        if not synonyms and not shorts and len(node.tokens) > 1 and not node.phrase:
            return And(  # "ALS riluzole": each word, with its own synonyms
                tuple(self.expanded(Text((t,), False, node.columns, True)) for t in node.tokens)
            )
        alternatives = [Text(tokenize(s), True, node.columns, False) for s in synonyms]
        if abbreviation:
            return Or((*alternatives, Pred("term", "in", (phrase,))))
        if shorts:  # a long form: its stated abbreviations too
            alternatives.append(Pred("term", "in", shorts))
            # as a word: the index's, unless stemming changed it ("als" -> "al")
            stemmed = tuple(short for short in shorts if words(short) != short.split())
            alternatives += [
                Text(tokenize(short), True, node.columns, False)
                for short in shorts
                if short not in stemmed
            ]
            columns = tuple(c for c in MENTION_COLUMNS if not node.columns or c in node.columns)
            if stemmed and columns:  # (`low` carries the columns to look in)
                alternatives.append(Pred("mention", "in", stemmed, low=columns))
        return Or((plain, *alternatives)) if alternatives else plain

    def mentions(self, pred: Pred) -> np.ndarray:
        """Studies whose text in the columns `pred.low` has one of the abbreviations
        `pred.values` as a word. The full-text index finds candidates, which may only
        share the stem ("al" for "ALS", "et al."); each candidate's own text decides. A
        stem in more than MAX_MENTION_CANDIDATES studies is too common to check: then the
        abbreviation counts only as an exact condition or keyword."""
        index = self.shared.index
        key = (self.generation, f"mention {pred.low} {pred.values}")
        found = self.shared.cached_text(key)
        if found is None:
            words = Or(tuple(Text(tokenize(v), True, pred.low, False) for v in pred.values))
            rows = self.text(words)[0]
            rows = rows[rows < index.size]
            verified = []
            if len(rows) <= MAX_MENTION_CANDIDATES:
                pattern = re.compile(
                    "|".join(rf"(?<![^\W_]){_words_pattern(v)}(?![^\W_])" for v in pred.values),
                    re.IGNORECASE,
                )
                columns = [FIELD_NAMES.index(c) for c in pred.low]
                numbers = index.arrays["nct"][rows]
                by_nct = dict(zip((f"NCT{n:08d}" for n in numbers), rows, strict=True))
                for document in self.documents(list(by_nct)):
                    text = index_text(document)
                    if any(pattern.search(text[c]) for c in columns):
                        nct = document["protocolSection"]["identificationModule"]["nctId"]
                        verified.append(by_nct[nct])
            found = (np.array(verified, dtype=np.int64), np.zeros(len(verified)))
            self.shared.remember_text(key, found)
        return index.rows_mask(found[0])

    def external(self, pred: Pred) -> np.ndarray:
        """Predicates answered in SQL: cities, and MISSING on list and title fields."""
        index = self.shared.index
        if pred.field == "mention":
            return self.mentions(pred)
        marks = ", ".join("?" * len(pred.values))
        if pred.field == "term":  # exact conditions or keywords (no stemming)
            rows = self.db.execute(
                "SELECT study_rowid FROM study_term WHERE kind IN ('condition', 'keyword')"
                f" AND value IN ({marks})",
                pred.values,
            )
            return index.rows_mask(np.fromiter((r for (r,) in rows), np.int64))
        if pred.field == "city":
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
        # each facet counts the result without its own filter: the masks are shared (all
        # facets but the filtered ones count the full result)
        masks: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

        def result_without(name: str | None) -> tuple[np.ndarray, np.ndarray]:
            applied = tuple(i for i, (f, _) in enumerate(filters) if name is None or f != name)
            if applied not in masks:
                mask = base.copy()
                for i in applied:
                    mask &= filters[i][1]
                masks[applied] = (mask, np.flatnonzero(mask))
            return masks[applied]

        matching = result_without(None)[1]
        keys = index.sort_keys(plan.sort, evaluator.scores)
        rows, positions, more = index.page(matching, keys, request.page_size, after)
        token = encode_page_token(request, *positions[-1]) if more and positions else None
        counts: dict[str, Facet] = {}
        facet_key = (self.generation, request.fingerprint())
        if facets and facet_key in self.shared.facets:
            counts = self.shared.facets[facet_key]
        elif facets:
            groups: dict[int, list[str]] = {}  # facets that count the same result
            for name in FACETS:
                groups.setdefault(id(result_without(name)), []).append(name)
            values = {}
            for names in groups.values():
                values.update(index.facets(names, *result_without(names[0])))
            for name, label in FACETS.items():
                labels = _LABELS.get(name, {})
                counts[name] = Facet(name, label, tuple(
                    FacetValue(value, labels.get(value, value), n) for value, n in values[name]
                ))  # fmt: skip
            with self.shared.lock:
                self.shared.facets[facet_key] = counts
                while len(self.shared.facets) > FACET_CACHE_ENTRIES:
                    self.shared.facets.popitem(last=False)
        hits = self.hits(rows, evaluator.scores, evaluator.nearest)
        return SearchResult(hits, len(matching), token, counts, self.expansions)

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
        return [decode(found[n]) for n in nct_ids if n in found]

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
        """Trials like this one, in three tiers; among those chosen, trials still open to
        participants first. None if unknown.

        1. Trials filed under the same conditions and MeSH terms (a rarer shared term counts
           more). 2. Trials naming the study's conditions, or their synonyms, in their
           conditions, keywords or titles (for a record without conditions: the condition
           names its text mentions). 3. Trials whose titles share its first rare title and
           summary words. Equal scores: the most recently updated first.
        Tier 1 is one indexed lookup; the others cost full-text queries, so each runs only
        while fewer than `limit` trials have been found."""
        row = self._study_titles(nct_id)
        if row is None:
            return None
        rowid = row[0]
        index = self.columns()
        ranking = _Ranking(index.size, rowid)
        recorded = self._recorded_terms(rowid)
        ranking.add(3, *self._shared_terms(rowid, recorded, index.size))
        text = ""
        if ranking.found < limit:
            text = self._source_text(nct_id, row[1], row[2])
            # a record's MeSH terms are its conditions' synonyms; mentions need expanding
            terms = [normalize(v) for v in recorded] or self._condition_mentions(text)
            terms = list(dict.fromkeys(t for t in terms if t))
            if terms:
                expand = not recorded
                node = Or(tuple(Text(tokenize(t), True, _CONDITION_COLUMNS, expand) for t in terms))
                evaluator = Evaluator(index, self.text, self.external)
                matched = np.flatnonzero(evaluator.mask(self.expanded(node)))
                ranking.add(2, matched, evaluator.scores[matched])
        if ranking.found < limit:
            words = self._salient_words(text)
            if words:
                node = Or(tuple(Text((w,), False, _TITLE_COLUMNS, False) for w in words))
                ranking.add(1, *self.text(node))
        hits = self.hits(ranking.best(limit, index.arrays), ranking.score, None)
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

    def _shared_terms(
        self, rowid: int, terms: Sequence[str], studies: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Other studies filed under any of these conditions or MeSH terms, each scored by
        the sum over the terms it shares of log(studies / studies filed under the term):
        sharing "Amyotrophic Lateral Sclerosis" says more than sharing "Syndrome"."""
        pairs = self._term_sharers(rowid, terms) if terms else []
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0)
        rows = np.fromiter((row for row, _ in pairs), np.int64, len(pairs))
        _, term_of_pair = np.unique([term for _, term in pairs], return_inverse=True)
        filed = np.bincount(term_of_pair)  # < studies: the source is filed under each too
        others, study_of_pair = np.unique(rows, return_inverse=True)
        weights = np.log(studies / filed)[term_of_pair]
        return others, np.bincount(study_of_pair, weights)

    def _salient_words(self, text: str, count: int = 8) -> list[str]:
        """The first `count` rare words (in 2 to 2,000 studies' titles and summaries) of the
        source's titles, then summary: telling words, for text likeness. Each probe costs up
        to half a millisecond, so probing stops there or after SALIENT_PROBES words."""
        words = [w for w in dict.fromkeys(tokenize(text)) if len(w) > 2 and not w.isdigit()]
        found: list[str] = []
        for word in words[:SALIENT_PROBES]:
            if 1 < self._rarity(word, 2001) <= 2000:
                found.append(word)
                if len(found) == count:
                    break
        return found

    # ----- data access: SQLite's SQL (search/postgres.py answers these in PostgreSQL's) --

    def _matches(self, expression: str) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and scores of the studies an expression (from `fts`) matches."""
        matches = np.fromiter(
            self.db.execute(_MATCH_SQL, (expression,)),
            dtype=[("rowid", np.int64), ("score", np.float64)],
        )
        return matches["rowid"], matches["score"]

    def _ranked(self, expression: str) -> tuple[np.ndarray, np.ndarray] | None:
        """`_matches` when at most RANK_LIMIT studies match, else None (bm25() costs about
        a microsecond a row: a broad word matching 100k+ studies would take 100+ ms)."""
        matches = np.fromiter(
            self.db.execute(_MATCH_SQL + " LIMIT ?", (expression, RANK_LIMIT + 1)),
            dtype=[("rowid", np.int64), ("score", np.float64)],
        )
        return None if len(matches) > RANK_LIMIT else (matches["rowid"], matches["score"])

    def _match_rows(self, expression: str) -> np.ndarray:
        """Row ids an expression matches, unranked, as one string for numpy to parse."""
        (rows,) = self.db.execute(
            "SELECT group_concat(rowid) FROM study_fts WHERE study_fts MATCH ?", (expression,)
        ).fetchone()
        return np.fromstring(rows or "", dtype=np.int64, sep=",")

    def _abbreviations(self, phrase: str) -> list[str]:
        return [
            short
            for (short,) in self.db.execute(
                "SELECT a FROM term_link WHERE kind = ? AND b = ? ORDER BY n DESC, a LIMIT 4",
                (ABBREVIATION, phrase),
            )
        ]

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
        rows = self.db.execute(
            "SELECT s.nct_id, v.document FROM study s JOIN study_version v"
            " ON v.nct_id = s.nct_id AND v.version = s.version"
        )
        return [(nct_id, json_size(document)) for nct_id, document in rows]

    def _term_sharers(self, rowid: int, terms: Sequence[str]) -> list[tuple[int, str]]:
        """(other study, lower-cased term) for each of these conditions or MeSH terms it is
        filed under; terms compare without case, as the column's NOCASE collation does."""
        marks = ", ".join("?" * len(terms))
        return self.db.execute(
            "SELECT DISTINCT study_rowid, lower(value) FROM study_term"
            f" WHERE kind IN ('condition', 'mesh') AND value IN ({marks}) AND study_rowid != ?",
            (*terms, rowid),
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
            (f"{{{' '.join(_SALIENT_COLUMNS)}}} : {_phrase((word,))}", limit),
        ).fetchone()[0]


class _Ranking:
    """Related-trial candidates: a tier (higher = more related; 0 = not a candidate) and a
    score within the tier; a study enters at the first tier that finds it."""

    def __init__(self, size: int, source: int) -> None:
        self.tier = np.zeros(size, np.int8)
        self.score = np.zeros(size)
        self.source = source

    @property
    def found(self) -> int:
        return int(np.count_nonzero(self.tier))

    def add(self, tier: int, rows: np.ndarray, scores: np.ndarray) -> None:
        keep = rows < len(self.tier)
        rows, scores = rows[keep], scores[keep]
        keep = (self.tier[rows] == 0) & (rows != self.source)
        self.tier[rows[keep]] = tier
        self.score[rows[keep]] = scores[keep]

    def best(self, limit: int, columns: dict[str, np.ndarray]) -> np.ndarray:
        """The `limit` best rows: by tier, then score; equals (common when trials share
        the same terms) the most recently updated first, then by NCT number."""
        rows = np.flatnonzero(self.tier)
        updated, nct = columns["last_update"][rows], columns["nct"][rows]
        order = np.lexsort((nct, -updated, -self.score[rows], -self.tier[rows]))
        return rows[order[:limit]]


def _words_pattern(term: str) -> str:
    """A regular expression for a normalised term's words with anything between them."""
    return r"[\W_]+".join(re.escape(word) for word in term.split())


def _phrase(tokens: Sequence[str]) -> str:
    return '"' + " ".join(tokens) + '"'


def _distance(nearest: np.ndarray | None, rowid: int) -> float | None:
    if nearest is None or rowid >= len(nearest) or not np.isfinite(nearest[rowid]):
        return None
    return round(float(nearest[rowid]), 1)
