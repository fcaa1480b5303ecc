"""An in-memory inverted index of the short text fields, for condition and title searches.

Why: FTS5's bm25() costs about a microsecond per matching row, so ranking a broad query
("cancer": 190,000 matches among 560,000 studies) took half a second before any facet was
counted. Condition and title searches, the most frequent and the broadest, only look at
short fields (titles, acronym, conditions, condition MeSH terms, keywords). Those fields
hold ~50 words a study, so their postings fit in memory (one sorted uint64 per word
occurrence: ~8 bytes × 26 M at 560,000 studies), and BM25 over them is a few vectorised
numpy passes.

The index reproduces what FTS5 indexed for those columns, so results do not depend on
which engine answers:

- the text comes from the store's rows (`study` titles, `study_term` conditions, MeSH
  terms and keywords, in record order, joined as the full-text index joins them);
- words are cut and stemmed by the store's own FTS5 tokenizer (an in-memory FTS5 table with
  the same `tokenize=` option), never by a Python re-implementation;
- scores use FTS5's bm25 formula with the same column weights, document lengths (the FTS
  table's `docsize`, all columns) and phrase document frequencies.

Long text (summaries, descriptions, criteria, outcomes, …) stays in FTS5.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress

import numpy as np

from trialatlas.records.index_text import FIELD_NAMES, INDEX_FIELDS
from trialatlas.search.essie import And, Node, Not, Or, Text

# The columns held in memory: what ConditionSearch and TitleSearch cover.
COLUMNS = ("brief_title", "official_title", "acronym", "conditions", "condition_mesh", "keywords")
_TERM_KINDS = {"condition": "conditions", "mesh": "condition_mesh", "keyword": "keywords"}
_STUDY_SQL = "SELECT rowid, brief_title, official_title, acronym FROM study"
# The conditions, MeSH terms and keywords in record order (a record's terms are written
# together): table order, or for the records changed since a generation, by study. LIMIT -1
# keeps SQLite from dropping the ORDER BY of a subquery that feeds group_concat.
_KINDS = "t.kind IN ('condition', 'mesh', 'keyword')"
_ALL_TERMS = (
    f"SELECT t.study_rowid, t.kind, t.value FROM study_term t NOT INDEXED WHERE {_KINDS}"
    " ORDER BY t.rowid LIMIT -1"
)
_CHANGED_TERMS = (
    "SELECT t.study_rowid, t.kind, t.value FROM study s CROSS JOIN study_term t"
    f" ON t.study_rowid = s.rowid WHERE s.generation > ? AND {_KINDS}"
    " ORDER BY t.study_rowid, t.rowid LIMIT -1"
)
_WEIGHTS = np.array([w for _, w in INDEX_FIELDS])
_COLUMN = {name: FIELD_NAMES.index(name) for name in COLUMNS}
# One posting = word id | row id | column | position, packed so that sorting groups a
# word's occurrences by row, column and position (what phrase matching needs).
_POS_BITS, _COL_BITS, _ROW_BITS = 16, 4, 22
_ROW_SHIFT = _POS_BITS + _COL_BITS
_WORD_SHIFT = _ROW_SHIFT + _ROW_BITS
MAX_ROWID = (1 << _ROW_BITS) - 1
MAX_WORDS = 1 << (64 - _WORD_SHIFT)
_KEY_MASK = np.uint64((1 << _WORD_SHIFT) - 1)
_POS_MASK = np.uint64((1 << _POS_BITS) - 1)
# FTS5's bm25 constants (fts5_aux.c)
K1, B = 1.2, 0.75
COMMON_OCCURRENCES = 20_000
BATCH_ITEMS = 200_000
_MARK = "\x07"  # joins items: a piece for str.split, a separator (no token) for FTS5


class Tokenizer:
    """The store's FTS5 tokenizer (unicode61 + porter, as its schema says), run by SQLite.

    Text is cut at white space first (never inside a token for unicode61), and each
    distinct piece is tokenized once: `piece_ids` numbers the pieces, `piece_tokens[i]`
    holds piece i's stemmed tokens.
    """

    def __init__(self, option: str) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(f"CREATE VIRTUAL TABLE piece USING fts5 (x, tokenize = {option})")
        self.db.execute("CREATE VIRTUAL TABLE piece_token USING fts5vocab (piece, 'instance')")
        self.lock = threading.Lock()
        self.piece_ids: dict[str, int] = {}
        self.piece_tokens: list[tuple[str, ...]] = []

    @classmethod
    def of_store(cls, db: sqlite3.Connection) -> Tokenizer:
        (sql,) = db.execute("SELECT sql FROM fts.sqlite_master WHERE name = 'study_fts'").fetchone()
        match = re.search(r"tokenize\s*=\s*('[^']*')", sql)
        return cls(match.group(1) if match else "'unicode61'")

    def learn(self, pieces: Iterable[str]) -> None:
        """Tokenize the pieces not seen before."""
        with self.lock:
            new = [p for p in set(pieces) if p not in self.piece_ids]
            if not new:
                return
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO piece (rowid, x) VALUES (?, ?)", enumerate(new))
            tokens: list[list[tuple[int, str]]] = [[] for _ in new]
            for doc, offset, term in self.db.execute("SELECT doc, offset, term FROM piece_token"):
                tokens[doc].append((offset, term))
            self.db.execute("DELETE FROM piece")
            self.db.execute("COMMIT")
            for piece, found in zip(new, tokens, strict=True):
                self.piece_ids[piece] = len(self.piece_tokens)
                self.piece_tokens.append(tuple(term for _, term in sorted(found)))

    def tokens(self, text: str) -> tuple[str, ...]:
        """The stemmed tokens of one text, as FTS5 indexes them."""
        pieces = text.split()
        self.learn(pieces)
        return tuple(chain.from_iterable(self.piece_tokens[self.piece_ids[p]] for p in pieces))


@dataclass
class Postings:
    """Sorted packed postings of COLUMNS plus each row's FTS5 document length."""

    tokenizer: Tokenizer
    words: dict[str, int] = field(default_factory=dict)
    entries: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    doc_length: np.ndarray = field(default_factory=lambda: np.zeros(0))  # all 16 columns
    rows: int = 0  # rows in the full-text table (FTS5's N)
    average_length: float = 1.0
    # word ids of each tokenizer piece, flattened: piece i -> words[start[i]:start[i] + count[i]]
    piece_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    piece_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    piece_words: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    # ----- building ----------------------------------------------------------------------

    @classmethod
    def load(cls, db: sqlite3.Connection, previous: Postings | None, since: int) -> Postings | None:
        """The index of the store, or `previous` with the rows written after generation
        `since` replaced. None when row ids or words outgrow the packing."""
        where, args = ("", ()) if previous is None else (" WHERE generation > ?", (since,))
        studies = db.execute(_STUDY_SQL + where, args).fetchall()
        changed = np.fromiter((r[0] for r in studies), np.int64, len(studies))
        if changed.max(initial=0) > MAX_ROWID:
            return None
        postings = cls(previous.tokenizer if previous else Tokenizer.of_store(db))
        if previous is not None:  # word and piece ids only grow: old entries stay valid
            postings.words = previous.words
            postings.piece_start = previous.piece_start
            postings.piece_count = previous.piece_count
            postings.piece_words = previous.piece_words
        fresh = []
        for c, name in enumerate(COLUMNS[:3]):
            titled = [(row[0], row[c + 1]) for row in studies if row[c + 1]]
            rows = np.array([r for r, _ in titled], np.int64)
            fresh.append(postings._encode(name, rows, [t for _, t in titled]))
        rows, kinds, values = _terms(db, where, args)
        for kind, name in _TERM_KINDS.items():
            of_kind = kinds == ord(kind[0])
            fresh.append(
                postings._encode(name, rows[of_kind], list(compress(values, of_kind.tolist())))
            )
        if len(postings.words) > MAX_WORDS:
            return None
        new = np.sort(np.concatenate(fresh))
        if previous is None:
            postings.entries = new
        else:
            old = previous.entries
            stale = np.zeros(MAX_ROWID + 1, dtype=bool)
            stale[changed] = True
            kept = old[~stale[_rows(old)]]
            postings.entries = np.insert(kept, np.searchsorted(kept, new), new)
        postings._load_lengths(db, where, args, previous)
        return postings

    def _encode(self, column: str, rows: np.ndarray, items: list[str]) -> np.ndarray:
        """Packed postings of one column's items (a record's items consecutive, in order),
        as FTS5 reads them joined by new lines: positions count from the record's first.
        Items repeat (conditions, MeSH terms), so each distinct one is tokenized once."""
        distinct = list(dict.fromkeys(items))
        code = {item: i for i, item in enumerate(distinct)}
        ids = np.fromiter(map(code.__getitem__, items), np.int64, len(items))
        start, count, words = self._item_words(distinct)
        counts = count[ids]
        total = int(counts.sum())
        token_words = _gather(words, start[ids], counts)
        token_rows = np.repeat(rows, counts)
        run_starts = np.flatnonzero(np.diff(token_rows, prepend=-1))
        positions = np.arange(total) - np.repeat(run_starts, np.diff(run_starts, append=total))
        keep = positions < (1 << _POS_BITS)
        return (
            (token_words[keep] << np.uint64(_WORD_SHIFT))
            | (token_rows[keep].astype(np.uint64) << np.uint64(_ROW_SHIFT))
            | np.uint64(_COLUMN[column] << _POS_BITS)
            | positions[keep].astype(np.uint64)
        )

    def _item_words(self, items: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Word ids of each item, flattened: item i -> words[start[i]:start[i] + count[i]]."""
        counts, words = [np.zeros(0, np.int64)], [np.zeros(0, np.uint64)]
        for at in range(0, len(items), BATCH_ITEMS):
            batch = items[at : at + BATCH_ITEMS]
            text = f" {_MARK} ".join(batch)
            if text.count(_MARK) != len(batch) - 1:  # the mark occurs in the text itself
                text = f" {_MARK} ".join(i.replace(_MARK, " ") for i in batch)
            pieces = text.split()
            self._learn(pieces)
            ids = np.fromiter(
                map(self.tokenizer.piece_ids.__getitem__, pieces), np.int64, len(pieces)
            )
            item_of_piece = np.cumsum(ids == self.tokenizer.piece_ids.get(_MARK, -1))
            per_piece = self.piece_count[ids]
            words.append(_gather(self.piece_words, self.piece_start[ids], per_piece))
            counts.append(np.bincount(np.repeat(item_of_piece, per_piece), minlength=len(batch)))
        count = np.concatenate(counts)
        return np.cumsum(count) - count, count, np.concatenate(words)

    def _learn(self, pieces: list[str]) -> None:
        """Tokenize new pieces and extend the piece -> word ids table."""
        known = len(self.piece_start)
        self.tokenizer.learn(pieces)
        added = self.tokenizer.piece_tokens[known:]
        if not added:
            return
        counts = np.fromiter(map(len, added), np.int64, len(added))
        words = np.fromiter(
            (self._word(t) for t in chain.from_iterable(added)), np.uint64, int(counts.sum())
        )
        starts = len(self.piece_words) + np.cumsum(counts) - counts
        self.piece_start = np.concatenate([self.piece_start, starts])
        self.piece_count = np.concatenate([self.piece_count, counts])
        self.piece_words = np.concatenate([self.piece_words, words])

    def _word(self, term: str) -> int:
        found = self.words.get(term)
        if found is None:
            found = self.words[term] = len(self.words)
        return found

    def _load_lengths(
        self, db: sqlite3.Connection, where: str, args: tuple[int, ...], previous: Postings | None
    ) -> None:
        """Document lengths (tokens over all columns) from FTS5's docsize records, fetched
        as one hex string (a tuple per row would take a second at 560k rows)."""
        ids, sizes = db.execute(
            "SELECT group_concat(id), group_concat(hex(sz), '') FROM study_fts_docsize"
            + (" WHERE id IN (SELECT rowid FROM study" + where + ")" if where else ""),
            args,
        ).fetchone()
        rows = np.fromstring(ids or "", dtype=np.int64, sep=",")
        size = max(int(rows.max(initial=0)) + 1, len(previous.doc_length) if previous else 0)
        self.doc_length = np.zeros(size)
        if previous is not None:
            self.doc_length[: len(previous.doc_length)] = previous.doc_length
        self.doc_length[rows] = _varint_sums(bytes.fromhex(sizes or ""), len(FIELD_NAMES))
        self.rows = db.execute("SELECT count(*) FROM study_fts_docsize").fetchone()[0]
        self.average_length = float(self.doc_length.sum()) / max(self.rows, 1)

    # ----- querying ----------------------------------------------------------------------

    def covers(self, node: Node) -> bool:
        """Whether every text leaf of `node` searches only columns held here."""
        if isinstance(node, Text):
            return bool(node.columns) and all(c in _COLUMN for c in node.columns)
        if isinstance(node, And | Or):
            return all(self.covers(i) for i in node.items)
        if isinstance(node, Not):
            return self.covers(node.item)
        return False

    def match(self, node: Node, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and bm25 relevance (higher is better) of a text-only expression whose
        leaves `covers` accepts; the same rows FTS5 would return."""
        scores = np.zeros(size)
        mask = self._mask(node, scores, size)
        rows = np.flatnonzero(mask)
        return rows, scores[rows]

    def relevance(self, node: Node, rows: np.ndarray, size: int) -> np.ndarray:
        """bm25 at `rows` of the expression's words as far as they occur in the short
        fields (for matches found by FTS5 but too many to rank there)."""
        scores = np.zeros(size)
        self._score(node, scores, size)
        return scores[rows[rows < size]] if len(rows) else np.zeros(0)

    def _score(self, node: Node, scores: np.ndarray, size: int) -> None:
        if isinstance(node, Text):
            columns = [_COLUMN[c] for c in node.columns or COLUMNS if c in _COLUMN]
            for phrase in self._phrases(node) if columns else ():
                self._phrase(phrase, columns, scores, size)
        elif isinstance(node, And | Or):
            for item in node.items:
                self._score(item, scores, size)

    def _mask(self, node: Node, scores: np.ndarray | None, size: int) -> np.ndarray:
        if isinstance(node, Text):
            mask = np.ones(size, dtype=bool)
            columns = [_COLUMN[c] for c in node.columns]
            for phrase in self._phrases(node):
                mask &= self._phrase(phrase, columns, scores, size)
            return mask
        if isinstance(node, Not):  # (only as "a AND NOT b": And applies it)
            return self._mask(node.item, None, size)
        assert isinstance(node, And | Or)
        positive = [i for i in node.items if not isinstance(i, Not)]
        masks = [self._mask(i, scores, size) for i in positive]
        mask = (
            np.logical_and.reduce(masks) if isinstance(node, And) else np.logical_or.reduce(masks)
        )
        for item in node.items:
            if isinstance(item, Not):
                mask &= ~self._mask(item, None, size)
        return mask

    def _phrases(self, node: Text) -> list[tuple[str, ...]]:
        """What a leaf asks for, stemmed: its words as one phrase, or each word alone."""
        if node.phrase:
            return [self._stems(node.tokens)]
        return [self._stems((t,)) for t in node.tokens]

    def _stems(self, tokens: Sequence[str]) -> tuple[str, ...]:
        return tuple(chain.from_iterable(self.tokenizer.tokens(t) for t in tokens))

    def common(self, node: Node) -> bool:
        """Whether a word of the expression occurs more than COMMON_OCCURRENCES times in
        the short fields alone. FTS5's bm25() first counts the documents of every word for
        its IDF: for such a word ("heart", "vaccine") that is a pass over 100k+ documents,
        tens of ms, however few studies the whole query matches."""
        if isinstance(node, Text):
            stems = self._stems(node.tokens)
            return any(np.subtract(*self._span(s)[::-1]) > COMMON_OCCURRENCES for s in stems)
        if isinstance(node, Not):
            return self.common(node.item)
        return isinstance(node, And | Or) and any(self.common(i) for i in node.items)

    def _span(self, stem: str) -> tuple[int, int]:
        """Where one word's postings are in `entries`."""
        word = self.words.get(stem)
        if word is None:
            return 0, 0
        low, high = np.searchsorted(
            self.entries, [np.uint64(word) << np.uint64(_WORD_SHIFT),
                           np.uint64(word + 1) << np.uint64(_WORD_SHIFT)],
        )  # fmt: skip
        return int(low), int(high)

    def _occurrences(self, stem: str) -> np.ndarray:
        """Packed (row, column, position) of one word, sorted."""
        low, high = self._span(stem)
        return self.entries[low:high] & _KEY_MASK

    def _phrase(
        self, stems: Sequence[str], columns: list[int], scores: np.ndarray | None, size: int
    ) -> np.ndarray:
        """Rows where the words occur in a row in one of `columns`; adds their bm25 term."""
        mask = np.zeros(size, dtype=bool)
        if not stems:
            return mask
        starts = self._occurrences(stems[0])
        if len(columns) < len(COLUMNS):
            starts = starts[np.isin(_columns(starts), columns)]
        for offset, stem in enumerate(stems[1:], start=1):
            following = self._occurrences(stem)
            following = following[(following & _POS_MASK) >= offset] - np.uint64(offset)
            if not len(following):
                starts = starts[:0]
                break
            found = np.minimum(np.searchsorted(following, starts), len(following) - 1)
            starts = starts[following[found] == starts]
        rows = _rows(starts)  # ascending: a row's occurrences are adjacent
        inside = rows < size
        starts, rows = starts[inside], rows[inside].astype(np.int64)
        first = np.flatnonzero(np.diff(rows, prepend=-1))
        hits = rows[first]
        mask[hits] = True
        if scores is not None and len(hits):
            frequency = np.add.reduceat(_WEIGHTS[_columns(starts)], first)
            scores[hits] += self._bm25(frequency, hits)
        return mask

    def _bm25(self, frequency: np.ndarray, rows: np.ndarray) -> float:
        """FTS5's bm25 term for one phrase (fts5_aux.c), as a positive number."""
        n = max(self.rows, 1)
        idf = float(np.log((n - len(rows) + 0.5) / (len(rows) + 0.5)))
        idf = idf if idf > 0 else 1e-6
        lengths = self.doc_length[np.minimum(rows, len(self.doc_length) - 1)]
        norm = K1 * (1 - B + B * lengths / self.average_length)
        return idf * frequency * (K1 + 1) / (frequency + norm)


def _terms(
    db: sqlite3.Connection, where: str, args: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Row ids, kinds (first letter's code) and values of the conditions, MeSH terms and
    keywords, in record order. Fetched as three long strings: millions of terms, one
    Python tuple each, would take seconds."""
    sql = _CHANGED_TERMS if where else _ALL_TERMS
    rows, kinds, values = db.execute(
        "SELECT group_concat(study_rowid), group_concat(substr(kind, 1, 1), ''),"
        f" group_concat(value, char(7)) FROM ({sql})",
        args,
    ).fetchone()
    ids = np.fromstring(rows or "", dtype=np.int64, sep=",")
    items = values.split(_MARK) if values else []
    if len(items) != len(ids):  # a value holds the separator: take the slow way
        triples = db.execute(sql, args).fetchall()
        ids = np.array([r for r, _, _ in triples], np.int64)
        kinds, items = "".join(k[0] for _, k, _ in triples), [v for _, _, v in triples]
    return ids, np.frombuffer((kinds or "").encode(), dtype=np.uint8), items


def _gather(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """values[starts[0]:starts[0] + counts[0]], then the next slice, ... as one array."""
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return values[offsets + np.arange(total)]


def _rows(entries: np.ndarray) -> np.ndarray:
    return (entries & _KEY_MASK) >> np.uint64(_ROW_SHIFT)


def _columns(entries: np.ndarray) -> np.ndarray:
    return (entries >> np.uint64(_POS_BITS)) & np.uint64((1 << _COL_BITS) - 1)


def _varint_sums(data: bytes, per_record: int) -> np.ndarray:
    """Sums of each record's `per_record` SQLite varints (FTS5 docsize), vectorised: a
    byte adds its low 7 bits, shifted by 7 per byte after it in its varint."""
    raw = np.frombuffer(data, dtype=np.uint8)
    last = raw < 0x80  # the last byte of each varint (lengths stay far below 2^56)
    varint = np.cumsum(last) - last  # which varint each byte belongs to
    ends = np.flatnonzero(last)
    shift = 7 * (ends[varint] - np.arange(len(raw)))
    values = (raw & 0x7F).astype(np.float64) * np.exp2(shift)
    records = len(ends) // per_record
    return np.bincount(varint // per_record, weights=values, minlength=records)[:records]
