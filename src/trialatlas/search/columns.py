"""Per-study columns held in memory as numpy arrays indexed by row id.

Why: facet counts over 100k+ matching studies are the expensive part of faceted search. A
SQL GROUP BY per facet re-reads every matching row once per facet; here a result set is a
boolean mask over all studies, a filter is a vectorised comparison, and a facet count is
one `bincount` over the mask. At 560k studies the arrays take ~30 MB and a full set of
facets costs a few milliseconds. The backend loads the rows (and refreshes the ones a later
write changed); full-text matching stays in the backend's index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialatlas.search.essie import And, Node, Not, Or, Pred, Text
from trialatlas.search.query import AGE_GROUPS, DATE_FIELDS, PHASE_LABELS, QueryError, SortKey

PHASES = tuple(PHASE_LABELS)  # bit i of `phase_bits` = PHASES[i]
_SINGLE = ("status", "study_type", "sex", "funder_type")  # coded text columns
# facets counted together from `flat_codes`, in their radix order: two groups, so that
# each group's table stays small (15 × 4 × 4 × 10 × 2 × 3 and 64 × 8 counts)
_FLAT = ((*_SINGLE, "has_results", "healthy_volunteers"), ("phase", "age_group"))
# The row shape a backend loads, in this order
ROW_FIELDS = (
    "rowid", "nct_id", "status", "phases", "study_type", "sex", "healthy_volunteers",
    "funder_type", "has_results", "min_age", "max_age", *DATE_FIELDS, "enrollment",
)  # fmt: skip
MISSING_NUMBER = -1
PLACE_DTYPE = np.dtype([("row", np.int64), ("lat", np.float64), ("lon", np.float64)])


class Vocabulary:
    """Codes for the values of one column; 0 is "missing"; lookups ignore case."""

    def __init__(self) -> None:
        self.values: list[str | None] = [None]
        self._codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return 0
        key = value.casefold()
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self.values)
            self.values.append(value)
        return code

    def find(self, value: str) -> int | None:
        return self._codes.get(value.casefold())

    def lookup(self, values: Iterable[Any]) -> np.ndarray:
        """A boolean table over codes, true for the given values."""
        table = np.zeros(len(self.values), dtype=bool)
        for value in values:
            code = self.find(str(value))
            if code is not None:
                table[code] = True
        return table


def date_number(iso: str | int | None) -> int:
    """'2020-05-17' -> 20200517, '2020-05' -> 20200501 (first day: the record's precision);
    a number is taken as already converted (a backend may convert in SQL)."""
    if isinstance(iso, int):
        return iso
    if not iso:
        return 0
    parts = iso.split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 1
        day = int(parts[2]) if len(parts) > 2 else 1
    except ValueError:
        return 0
    return year * 10000 + month * 100 + day


@dataclass
class ColumnIndex:
    """The arrays; replaced, never mutated, once published (readers need no lock)."""

    generation: int = -1
    size: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: dict[str, Vocabulary] = field(default_factory=dict)
    country_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    country_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    place_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    place_lat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    place_lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # facets counted together: per group of _FLAT, one code per row and the radixes
    flat_codes: list[np.ndarray] = field(default_factory=list)
    flat_shapes: list[tuple[int, ...]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        generation: int,
        rows: Sequence[Sequence[Any]],
        countries: Iterable[tuple[int, str]],
        places: np.ndarray,
        previous: ColumnIndex | None = None,
    ) -> ColumnIndex:
        """A new index: `previous` with `rows` (and their countries and places) replaced.

        `places` is a structured array of PLACE_DTYPE (row id, latitude, longitude)."""
        index = cls(generation)
        index.vocab = {name: Vocabulary() for name in (*_SINGLE, "country")}
        if previous is not None:
            index.vocab = previous.vocab  # codes only grow, so old arrays stay valid
        max_rowid = max((row[0] for row in rows), default=0)
        index.size = max(previous.size if previous else 0, max_rowid + 1)
        index.arrays = _blank_arrays(index.size)
        if previous is not None:
            for name, array in previous.arrays.items():
                index.arrays[name][: previous.size] = array
        if rows:
            index._set_rows(rows)
        changed = np.fromiter((row[0] for row in rows), np.int64, len(rows))
        index._set_countries(previous, changed, countries)
        index._set_places(previous, changed, places)
        index._set_flat_codes()
        return index

    def _set_flat_codes(self) -> None:
        """Per group of facets, one mixed-radix code per row: a group's facets are then one
        gather and one `bincount`, each facet a sum over the others' axes (a pass per
        facet over 100k+ rows cost ~1 ms each)."""
        a = self.arrays
        columns = {name: a[name] for name in _SINGLE}
        columns["has_results"] = a["has_results"].astype(np.int64)
        columns["healthy_volunteers"] = a["healthy_volunteers"] + 1  # -1 (missing), 0, 1
        columns["phase"], columns["age_group"] = a["phase_bits"], a["age_bits"]
        radixes = {name: len(self.vocab[name].values) for name in _SINGLE}
        radixes.update(has_results=2, healthy_volunteers=3, phase=1 << len(PHASES))
        radixes["age_group"] = 1 << len(AGE_GROUPS)
        self.flat_codes, self.flat_shapes = [], []
        for group in _FLAT:
            codes = np.zeros(self.size, dtype=np.int64)
            for name in group:
                codes = codes * radixes[name] + columns[name]
            self.flat_codes.append(codes)
            self.flat_shapes.append(tuple(radixes[name] for name in group))

    def _set_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        columns = list(zip(*rows, strict=True))
        named = dict(zip(ROW_FIELDS, columns, strict=True))
        at = np.asarray(named["rowid"], np.int64)
        a = self.arrays
        a["present"][at] = True
        a["nct"][at] = [int(n[3:]) for n in named["nct_id"]]
        for name in _SINGLE:
            vocab = self.vocab[name]
            a[name][at] = [vocab.code(v) for v in named[name]]
        bit = {phase: 1 << i for i, phase in enumerate(PHASES)}
        a["phase_bits"][at] = [
            sum(bit.get(p, 0) for p in (v or "").split("|")) for v in named["phases"]
        ]
        a["healthy_volunteers"][at] = [
            MISSING_NUMBER if v is None else int(v) for v in named["healthy_volunteers"]
        ]
        a["has_results"][at] = [bool(v) for v in named["has_results"]]
        for name in ("min_age", "max_age", "enrollment"):
            a[name][at] = [MISSING_NUMBER if v is None else v for v in named[name]]
        for name in DATE_FIELDS:
            a[name][at] = [date_number(v) for v in named[name]]
        bits = np.zeros(len(at), dtype=np.uint8)
        for i, (low, high) in enumerate(AGE_GROUPS.values()):
            bits |= self._age_overlap(low, high, at).astype(np.uint8) << i
        a["age_bits"][at] = bits

    def _set_countries(
        self, previous: ColumnIndex | None, changed: np.ndarray, entries: Iterable[tuple[int, str]]
    ) -> None:
        vocab = self.vocab["country"]
        pairs = [(rowid, vocab.code(value)) for rowid, value in entries]
        rows = np.array([p[0] for p in pairs], np.int64)
        codes = np.array([p[1] for p in pairs], np.int32)
        if previous is not None:
            keep = ~np.isin(previous.country_rows, changed)
            rows = np.concatenate([previous.country_rows[keep], rows])
            codes = np.concatenate([previous.country_codes[keep], codes])
        self.country_rows, self.country_codes = rows, codes

    def _set_places(
        self, previous: ColumnIndex | None, changed: np.ndarray, places: np.ndarray
    ) -> None:
        rows, lat, lon = places["row"], places["lat"], places["lon"]
        if previous is not None:
            keep = ~np.isin(previous.place_rows, changed)
            rows = np.concatenate([previous.place_rows[keep], rows])
            lat = np.concatenate([previous.place_lat[keep], lat])
            lon = np.concatenate([previous.place_lon[keep], lon])
        order = np.argsort(lat, kind="stable")  # sorted by latitude: a distance is a band
        self.place_rows, self.place_lat, self.place_lon = rows[order], lat[order], lon[order]

    # ----- filters -----------------------------------------------------------------------

    def all_rows(self) -> np.ndarray:
        return self.arrays["present"].copy()

    def rows_mask(self, rowids: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        mask[rowids[rowids < self.size]] = True
        return mask & self.arrays["present"]

    def predicate(self, pred: Pred) -> np.ndarray | None:
        """The rows a structured predicate selects; None for fields this index lacks."""
        a, name, op = self.arrays, pred.field, pred.op
        if name in _SINGLE:
            codes = a[name]
            if op == "missing":
                return codes == 0
            return self.vocab[name].lookup(pred.values)[codes]
        if name == "phase":
            wanted = sum(1 << PHASES.index(p) for p in pred.values) if op == "in" else 0
            return (a["phase_bits"] & wanted) != 0 if op == "in" else a["phase_bits"] == 0
        if name == "age_group":
            wanted = sum(1 << list(AGE_GROUPS).index(group) for group in pred.values)
            return (a["age_bits"] & wanted) != 0
        if name == "age":
            return self._age_overlap(pred.low, pred.high)
        if name in ("healthy_volunteers", "has_results"):
            values = a[name]
            if op == "missing":
                return values == MISSING_NUMBER if name == "healthy_volunteers" else ~a["present"]
            return np.isin(values, [int(v) for v in pred.values])
        if name in ("min_age", "max_age", "enrollment"):
            return self._range(a[name], op, pred.low, pred.high, MISSING_NUMBER)
        if name in DATE_FIELDS:
            low = date_number(pred.low) if pred.low else None
            high = date_number(pred.high) if pred.high else None
            return self._range(a[name], op, low, high, 0)
        if name == "country":
            mask = np.zeros(self.size, dtype=bool)
            if op == "missing":
                mask[self.country_rows] = True
                return ~mask
            table = self.vocab["country"].lookup(pred.values)
            mask[self.country_rows[table[self.country_codes]]] = True
            return mask
        if name == "ids":
            numbers = [int(v[3:]) for v in pred.values]
            return np.isin(a["nct"], numbers)
        return None

    def _age_overlap(
        self, low: int | None, high: int | None, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Whether each study's eligible ages overlap [low, high] (a missing bound is open)."""
        lo, hi = self.arrays["min_age"], self.arrays["max_age"]
        if rows is not None:
            lo, hi = lo[rows], hi[rows]
        ok = np.ones(len(lo), dtype=bool)
        if high is not None:
            ok &= (lo == MISSING_NUMBER) | (lo <= high)
        if low is not None:
            ok &= (hi == MISSING_NUMBER) | (hi >= low)
        return ok

    @staticmethod
    def _range(values: np.ndarray, op: str, low: Any, high: Any, missing: int) -> np.ndarray:
        if op == "missing":
            return values == missing
        ok = values != missing
        if low is not None:
            ok &= values >= low
        if high is not None:
            ok &= values <= high
        return ok

    def near(self, lat: float, lon: float, km: float) -> tuple[np.ndarray, np.ndarray]:
        """Rows with a place within `km`, and each row's nearest distance (inf elsewhere)."""
        band = km / 111.0 + 1e-9
        start, stop = np.searchsorted(self.place_lat, [lat - band, lat + band])
        rows, plat, plon = (
            self.place_rows[start:stop],
            self.place_lat[start:stop],
            self.place_lon[start:stop],
        )
        if abs(lat) + band < 89:  # and a longitude band: the latitude band circles the globe
            # (widest longitude offset of a point within angular distance `band`)
            spread = (
                math.degrees(math.asin(math.sin(math.radians(band)) / math.cos(math.radians(lat))))
                + 1e-9
            )
            offset = np.abs(plon - lon)
            inside = (offset <= spread) | (offset >= 360 - spread)  # (across ±180°)
            rows, plat, plon = rows[inside], plat[inside], plon[inside]
        plat, plon = np.radians(plat), np.radians(plon)
        p0, l0 = math.radians(lat), math.radians(lon)
        h = (
            np.sin((plat - p0) / 2) ** 2
            + math.cos(p0) * np.cos(plat) * np.sin((plon - l0) / 2) ** 2
        )
        dist = 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        close = dist <= km
        rows, dist = rows[close], dist[close]
        order = np.lexsort((dist, rows))  # each row's nearest place first
        rows, dist = rows[order], dist[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        nearest = np.full(self.size, np.inf)
        nearest[rows[first]] = dist[first]
        return np.isfinite(nearest), nearest

    # ----- facets ------------------------------------------------------------------------

    def facets(
        self, names: Iterable[str], mask: np.ndarray, rows: np.ndarray
    ) -> dict[str, list[tuple[str, int]]]:
        """(value, count) of each facet over one result (its mask and row ids), most
        frequent first."""
        names = list(names)
        counts: dict[str, list[tuple[Any, int]]] = {}
        for group, codes, shape in zip(_FLAT, self.flat_codes, self.flat_shapes, strict=True):
            if not set(group) & set(names):
                continue
            table = np.bincount(codes[rows], minlength=math.prod(shape)).reshape(shape)
            for axis, name in enumerate(group):
                if name in names:
                    others = tuple(a for a in range(len(shape)) if a != axis)
                    counts[name] = self._values(name, table.sum(axis=others))
        if "country" in names:
            codes = self.country_codes[mask[self.country_rows]]
            totals = np.bincount(codes, minlength=len(self.vocab["country"].values))
            values = self.vocab["country"].values
            counts["country"] = [(values[c], int(totals[c])) for c in np.flatnonzero(totals)]
        unknown = set(names) - set(counts)
        if unknown:
            raise ValueError(f"no facet {sorted(unknown)[0]!r}")
        return {
            name: sorted(
                ((str(v), n) for v, n in counts[name] if n and v is not None),
                key=lambda p: (-p[1], p[0]),
            )
            for name in names
        }

    def _values(self, name: str, totals: np.ndarray) -> list[tuple[Any, int]]:
        """A facet's (value, count) pairs from its counts per code."""
        if name in ("status", "study_type", "funder_type"):
            return [(self.vocab[name].values[c], int(n)) for c, n in enumerate(totals) if c]
        if name == "sex":  # studies that accept each sex
            sexes = self.vocab["sex"]
            return [
                (sex, int(totals[sexes.lookup([sex, "ALL"])].sum())) for sex in ("FEMALE", "MALE")
            ]
        if name in ("has_results", "healthy_volunteers"):
            offset = 1 if name == "healthy_volunteers" else 0
            return [("true", int(totals[1 + offset])), ("false", int(totals[offset]))]
        labels = PHASES if name == "phase" else tuple(AGE_GROUPS)  # counts per bit pattern
        patterns = np.arange(len(totals))
        return [
            (label, int(totals[(patterns & (1 << i)) != 0].sum())) for i, label in enumerate(labels)
        ]

    # ----- order and pages ---------------------------------------------------------------

    def sort_keys(self, sort: Sequence[SortKey], scores: np.ndarray) -> list[np.ndarray]:
        """Per-row float keys, ascending = wanted order; missing values (inf) always last."""
        keys = []
        for key in sort:
            if key.field == "relevance":
                values, missing = scores, None
            elif key.field == "enrollment":
                raw = self.arrays["enrollment"]
                values, missing = raw.astype(np.float64), raw == MISSING_NUMBER
            elif key.field in DATE_FIELDS:
                raw = self.arrays[key.field]
                values, missing = raw.astype(np.float64), raw == 0
            else:
                raise QueryError(f"cannot sort by {key.field}", "sort")
            ordered = -values if key.descending else values.copy()
            if missing is not None:
                ordered[missing] = np.inf
            keys.append(ordered)
        return keys

    def page(
        self,
        rows: np.ndarray,
        keys: list[np.ndarray],
        page_size: int,
        after: tuple[tuple[float, ...], int] | None,
    ) -> tuple[np.ndarray, list[tuple[tuple[float, ...], int]], bool]:
        """The next `page_size` of these rows (ids, ascending) in key order after the cursor.

        Returns the row ids, each row's (keys, NCT number) for a cursor, and whether more
        rows follow. Ties break on the NCT number, so the order is total and stable.
        """
        nct = self.arrays["nct"][rows]
        cols = [k[rows] for k in keys]
        if after is not None:
            cursor_keys, cursor_nct = after
            if len(cursor_keys) != len(cols):
                raise QueryError("page token belongs to a different sort", "pageToken")
            later = nct > cursor_nct
            for col, value in zip(reversed(cols), reversed(cursor_keys), strict=True):
                later = (col > value) | ((col == value) & later)
            rows, nct, cols = rows[later], nct[later], [c[later] for c in cols]
        order = _smallest(np.arange(len(rows)), [*cols, nct], page_size)
        positions = [(tuple(float(c[i]) for c in cols), int(nct[i])) for i in order]
        return rows[order], positions, len(rows) > page_size


def _smallest(positions: np.ndarray, keys: list[np.ndarray], k: int) -> np.ndarray:
    """The `k` positions with the smallest keys (compared in order), sorted.

    A partial selection, not a full sort: a page of 10 out of 500,000 rows costs a couple
    of linear passes. The last key must be unique (the NCT number), which ends the ties.
    """
    if len(positions) <= k:
        return positions[np.lexsort(keys[::-1])] if len(positions) > 1 else positions
    first = keys[0]
    threshold = np.partition(first, k - 1)[k - 1]
    less = first < threshold
    ahead = positions[less][np.lexsort([key[less] for key in keys[::-1]])]
    tied = first == threshold
    rest = _smallest(positions[tied], [key[tied] for key in keys[1:]], k - len(ahead))
    return np.concatenate([ahead, rest])


class Evaluator:
    """Evaluates an expression tree to a row mask, sending full-text parts to the backend.

    `text(node)` gets a text-only subtree (Text leaves under And/Or, with NOT only as
    "a AND NOT b") and returns (row ids, scores); `external(pred)` answers predicates the
    index has no column for. Scores of positive text matches add up into `scores`.
    """

    def __init__(
        self,
        index: ColumnIndex,
        text: Callable[[Node], tuple[np.ndarray, np.ndarray]],
        external: Callable[[Pred], np.ndarray],
    ) -> None:
        self.index = index
        self.text = text
        self.external = external
        self.scores = np.zeros(index.size)
        self.nearest: np.ndarray | None = None

    def mask(self, node: Node, *, scored: bool = True) -> np.ndarray:
        index = self.index
        if _text_only(node):
            rowids, scores = self.text(node)
            keep = rowids < index.size
            rowids = rowids[keep]
            if scored:  # row ids of one query are distinct, so plain indexing adds correctly
                self.scores[rowids] += scores[keep]
            return index.rows_mask(rowids)
        if isinstance(node, Pred):
            return self.predicate(node)
        if isinstance(node, Not):
            return ~self.mask(node.item, scored=False) & index.arrays["present"]
        if isinstance(node, Or):
            result = np.zeros(index.size, dtype=bool)
            for item in node.items:
                result |= self.mask(item, scored=scored)
            return result
        assert isinstance(node, And)
        texts = [i for i in node.items if _text_only(i)]
        negated = [i for i in node.items if isinstance(i, Not) and _text_only(i.item)]
        rest = [i for i in node.items if i not in texts and i not in negated]
        if texts:  # one full-text query for all text parts, so they rank together
            combined = And((*texts, *negated)) if len(texts) + len(negated) > 1 else texts[0]
            rest.insert(0, combined)
        else:
            rest.extend(negated)
        result = index.all_rows()
        for item in rest:
            result &= self.mask(item, scored=scored)
        return result

    def predicate(self, pred: Pred) -> np.ndarray:
        if pred.field == "near":
            lat, lon, km = pred.values
            mask, nearest = self.index.near(lat, lon, km)
            self.nearest = nearest if self.nearest is None else np.minimum(self.nearest, nearest)
            return mask
        mask = self.index.predicate(pred)
        if mask is None:
            mask = self.external(pred)
        return mask & self.index.arrays["present"]


def _text_only(node: Node) -> bool:
    """Whether a full-text engine can answer `node` in one query (no unary NOT there)."""
    if isinstance(node, Text):
        return True
    if isinstance(node, Or):
        return all(_text_only(i) for i in node.items)
    if isinstance(node, And):
        positive = [i for i in node.items if not isinstance(i, Not)]
        return bool(positive) and all(
            _text_only(i.item if isinstance(i, Not) else i) for i in node.items
        )
    return False


def _blank_arrays(size: int) -> dict[str, np.ndarray]:
    arrays = {
        "present": np.zeros(size, dtype=bool),
        "nct": np.zeros(size, dtype=np.int64),
        "phase_bits": np.zeros(size, dtype=np.uint8),
        "age_bits": np.zeros(size, dtype=np.uint8),  # bit i: overlaps AGE_GROUPS' i-th group
        "healthy_volunteers": np.full(size, MISSING_NUMBER, dtype=np.int8),
        "has_results": np.zeros(size, dtype=bool),
    }
    for name in _SINGLE:
        arrays[name] = np.zeros(size, dtype=np.int32)
    for name in ("min_age", "max_age", "enrollment"):
        arrays[name] = np.full(size, MISSING_NUMBER, dtype=np.int64)
    for name in DATE_FIELDS:
        arrays[name] = np.zeros(size, dtype=np.int64)
    return arrays
