"""Structured, explainable constraints from eligibility criteria.

Each criterion item yields typed constraints (age, sex, reproduction, conditions, lab and
vital thresholds, scores, time windows, treatments, study participation, administrative
items, lost comparators), and every constraint carries the span of the item text it was read
from and the name of the rule that read it, so a match can always be explained by pointing
at the words. Rules are tables and regular expressions (see ``lexicon``); nothing is learned.

Extraction is a pure function of the criteria text, so ``analyze_criteria`` caches results
by a hash of the text (``criteria_key``): a stored trial is analysed once, and the matcher's
cost per trial is the comparison alone.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from trialatlas.eligibility import lexicon, units
from trialatlas.eligibility.criteria import Criterion, Kind, ParsedCriteria, parse_criteria
from trialatlas.eligibility.negation import ContextFinder
from trialatlas.eligibility.terms import Key, canonical_token, concept_key, display_key, gazetteer

# Bump when rules change: cached analyses keyed by an older version are not reused.
EXTRACTOR_VERSION = 8

Span = tuple[int, int]


# --- constraint types ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    """What one rule read from one span of a criterion (offsets into the item text)."""

    type: ClassVar[str] = "constraint"
    span: Span
    text: str
    rule: str
    negated: bool = False
    hedged: bool = False
    ambiguous: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = display_key(value) if isinstance(value, frozenset) else value
        out["span"] = list(self.span)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AgeLimit(Constraint):
    """Age in years within [low, high]; either end may be open.

    ``qualifier``: the age says whom the item is for ("For subjects ≥ 6 months to < 5 years
    of age: ..."), it is not required of everyone.
    """

    type: ClassVar[str] = "age"
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    qualifier: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SexLimit(Constraint):
    type: ClassVar[str] = "sex"
    sex: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reproductive(Constraint):
    """pregnant, lactating, contraception, childbearing_potential or pregnancy_plans."""

    type: ClassVar[str] = "reproductive"
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition(Constraint):
    """A condition named in the criterion, with its concept key and narrowing words.

    ``excepted``: named as an exception ("other than basal cell carcinoma"); ``incidental``:
    named only as the object of a preposition ("chemotherapy for lymphoma", "allergy to
    penicillin") or as someone else's ("partner with HIV", "family history of X"), so the
    criterion is not about the patient having it. ``qualified_by``: the words that make
    having it not enough ("... if the intervention is planned", "... due to a mechanical
    valve", "... that in the opinion of the investigator would interfere"), empty if none.
    ``other``: named as another condition than the one the trial is about ("no other
    malignancy"), so the patient's main diagnosis does not count.
    """

    type: ClassVar[str] = "condition"
    phrase: str
    key: Key
    qualifiers: tuple[str, ...] = ()
    historical: bool = False
    excepted: bool = False
    incidental: bool = False
    qualified_by: str = ""
    other: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Treatment(Constraint):
    """A drug, class or procedure. ``current``: its clause asks about use now ("concurrent
    corticosteroids"), not ever; ``hedged`` also marks future use ("during the study")."""

    type: ClassVar[str] = "treatment"
    phrase: str
    key: Key
    qualifiers: tuple[str, ...] = ()
    excepted: bool = False
    incidental: bool = False
    current: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement(Constraint):
    """A lab, vital or score threshold: value in [low, high] (ends open when None).

    ``unit`` is the canonical unit key of ``low``/``high`` after conversion (or "ULN" for
    multiples of the upper limit of normal); ``written`` is what the criterion said.
    An ambiguous comparator ("=30", lost ≤/≥) leaves the direction unknown: ``low == high``.
    """

    type: ClassVar[str] = "measurement"
    name: str
    category: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    unit: str | None = None
    written: str = ""
    unit_assumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeWindow(Constraint):
    """ "within 2 months before enrollment" (within) or "at least 4 weeks since" (at_least)."""

    type: ClassVar[str] = "time_window"
    relation: str
    days: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Participation(Constraint):
    """Taking part in another study, or receiving investigational drugs."""

    type: ClassVar[str] = "participation"


@dataclass(frozen=True, slots=True, kw_only=True)
class Administrative(Constraint):
    """Consent, willingness, language: nothing a profile can answer."""

    type: ClassVar[str] = "administrative"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ambiguity(Constraint):
    """A comparator lost to encoding ("=1.0mg/kg/d" where ≤ or ≥ was meant)."""

    type: ClassVar[str] = "ambiguity"
    note: str


# --- text views ----------------------------------------------------------------------------

_FULLWIDTH = str.maketrans(
    {
        "＜": "<",
        "＞": ">",
        "≦": "≤",
        "≧": "≥",
        "⩽": "≤",
        "\uf0b3": "≥",  # the Symbol font's ≥ and ≤, pasted from word processors
        "\uf0a3": "≤",
        "⩾": "≥",
        "（": "(",
        "）": ")",
        "～": "~",
        "，": ",",
        "＝": "=",
        "Ⅰ": "i",
        "Ⅱ": "ii",
        "Ⅲ": "iii",
        "Ⅳ": "iv",
    }
)
_ESCAPE = re.compile(r"\\(?=[^\w\s])")


def view(text: str) -> str:
    """Lower-cased, markdown escapes ("\\>") blanked, same length as ``text``."""
    low = text.translate(_FULLWIDTH).lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text.translate(_FULLWIDTH))
        if len(low) != len(text):
            low = text
    return _ESCAPE.sub(" ", low)


# --- comparators and numbers ---------------------------------------------------------------

_COMPARATORS: tuple[tuple[str, str], ...] = (
    (
        r"greater than or equal to|more than or equal to|equal to or (?:greater|more|higher) than"
        r"|higher than or equal to|at least|no less than|not less than|not lower than|"
        r"not below|minimum(?: of)?|≥|>\s*=|=>|>\s*/\s*=|>\s*or\s*=",
        ">=",
    ),
    (
        r"less than or equal to|equal to or (?:less|lower) than|lower than or equal to|at most|"
        r"no more than|not more than|no greater than|not greater than|no higher than|"
        r"not higher than|not above|not exceeding|not to exceed|does not exceed|up to|"
        r"maximum(?: of)?|≤|<\s*=|=<|<\s*/\s*=|<\s*or\s*=",
        "<=",
    ),
    (
        r"greater than|more than|higher than|above|over|exceeding|exceeds?|in excess of|"
        r"elevated (?:to|above)|>",
        ">",
    ),
    (r"less than|lower than|below|under|fewer than|<", "<"),
    (r"(?<![<>≤≥=!])=(?!=)|\?(?=\s*\d)", "?"),
)
# Hard-wrapped text breaks a comparator over lines: "less than or equal\n     to 16".
_COMPARATORS = tuple((p.replace(" ", r"\s+"), c) for p, c in _COMPARATORS)
_COMPARATOR_OF = [(re.compile(p), c) for p, c in _COMPARATORS]
COMP = "|".join(f"(?:{p})" for p, _ in _COMPARATORS)
NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)"
_TRAILS: tuple[tuple[str, str], ...] = (
    (r"or (?:more|greater|higher|above|over|better)|and (?:above|over|higher|greater)|\+", ">="),
    (r"or (?:less|lower|below|fewer|under)|and (?:below|under|lower|less)", "<="),
    (r">(?=\s*[)\],;.]|\s*$)", ">"),
    (r"<(?=\s*[)\],;.]|\s*$)", "<"),
)
TRAIL = "|".join(f"(?:{p})" for p, _ in _TRAILS)
_TRAIL_OF = [(re.compile(p), c) for p, c in _TRAILS]


def comparator(written: str) -> str:
    """Canonical comparator of a written one (">=", "<=", ">", "<" or "?" when lost)."""
    written = written.strip()
    for pattern, canonical in _COMPARATOR_OF:
        if pattern.fullmatch(written):
            return canonical
    for pattern, canonical in _TRAIL_OF:
        if pattern.fullmatch(written):
            return canonical
    return "?"


def number(written: str) -> float:
    """ "80,000" -> 80000; "1,5" (decimal comma) -> 1.5."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", written):
        return float(written.replace(",", ""))
    return float(written.replace(",", "."))


def bounds(op: str, value: float) -> tuple[float | None, float | None, bool, bool]:
    """(low, high, low_inclusive, high_inclusive) for "op value"; "?" pins both ends."""
    return {
        ">=": (value, None, True, True),
        ">": (value, None, False, True),
        "<=": (None, value, True, True),
        "<": (None, value, True, False),
    }.get(op, (value, value, True, True))


# --- measurements --------------------------------------------------------------------------

_ANALYTE_RE = re.compile(
    r"\b(?:" + "|".join(alias for a in lexicon.ANALYTES for alias in a.aliases) + r")(?![\w])"
)
_ANALYTE_FORMS = [(re.compile("|".join(a.aliases)), a) for a in lexicon.ANALYTES]


@functools.lru_cache(maxsize=4096)
def _analyte_named(surface: str) -> lexicon.Analyte:
    """Which analyte a matched name is (one regex without groups finds them faster)."""
    return next(a for pattern, a in _ANALYTE_FORMS if pattern.fullmatch(surface))


_UNIT = units.UNIT_PATTERN
_THRESHOLD = re.compile(
    rf"(?P<fill>[^\d;<>≤≥=?]{{0,45}}?)"
    rf"(?:(?P<comp>{COMP})\s*)?(?P<v1>{NUM})(?:\s*(?P<u1>{_UNIT}))?"
    rf"(?:\s*(?P<sep>-|–|to|~|and)\s*(?:(?P<comp2>{COMP})\s*)?(?P<v2>{NUM})(?:\s*(?P<u2>{_UNIT}))?)?"
    rf"(?:\s*(?P<trail>{TRAIL}))?",
    re.IGNORECASE,
)
_BEFORE = re.compile(rf"(?P<comp>{COMP})\s*(?P<v1>{NUM})(?:\s*(?P<u1>{_UNIT}))?\s*$", re.I)
_UNIT_AFTER = re.compile(rf"\s*(?P<u>{_UNIT})", re.IGNORECASE)
_CLASS = r"iv|iii|ii|i|[0-4]"
_CLASS_VALUE = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_SCORE = re.compile(
    rf"(?P<fill>[^\d;<>≤≥=?]{{0,30}}?)(?:(?P<comp>{COMP})\s*)?"
    rf"(?P<vals>(?:{NUM}|{_CLASS})(?![a-z\d])%?(?:\s*(?:,\s*)?(?:,|-|–|~|to|or|and|/|and/or)\s*"
    rf"(?:{NUM}|{_CLASS})(?![a-z\d])%?)*)(?:\s*(?P<trail>{TRAIL}))?",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"\b(?:appendix|table|section|figure|item|version|page)\b")  # not values
_SCORE_VALUE = re.compile(rf"{NUM}|\b(?:{_CLASS})\b")
_GROUP_JOIN = re.compile(r"\s*(?:,|/|and/or|and|or|&)\s*[\"']?$")
_CLAUSE_END = re.compile(r";|\.(?:\s|$)|\n\s*\n")
_LOST_EQUALS = re.compile(r"(?<![<>≤≥=!\w])(?<![<>]/)=\s*(?=[\d.]|[a-z]{2,})|(?<![\w?])\?(?=\s*\d)")


@dataclass(frozen=True, slots=True)
class AnalyteMention:
    start: int
    end: int
    analyte: lexicon.Analyte


def analyte_mentions(low: str) -> list[AnalyteMention]:
    """Where labs, vitals and scores are named in lower-cased text."""
    return [
        AnalyteMention(m.start(), m.end(), _analyte_named(m.group()))
        for m in _ANALYTE_RE.finditer(low)
        if low[m.start() - 1 : m.start()] != "-"
    ]


def _groups(low: str, mentions: list[AnalyteMention]) -> list[list[AnalyteMention]]:
    """Mentions joined by "and", "/", "or" share the threshold that follows the last one."""
    groups: list[list[AnalyteMention]] = []
    for mention in mentions:
        if groups and _GROUP_JOIN.fullmatch(low[groups[-1][-1].end : mention.start] or " "):
            groups[-1].append(mention)
        else:
            groups.append([mention])
    return groups


def _unit(analyte: lexicon.Analyte, written: str | None, value: float) -> tuple[str | None, bool]:
    """Unit key of a threshold, guessed from the value's size when none is written."""
    if written:
        return units.for_analyte(units.unit_key(written), analyte.unit), False
    for low, high, key in analyte.bare:
        if low <= value <= high:
            return key, True
    return analyte.unit, True


def _measurement(
    analyte: lexicon.Analyte,
    text: str,
    span: Span,
    rule: str,
    op: str,
    values: tuple[float, float | None],
    written_unit: str | None,
    second_op: str | None = None,
) -> Measurement:
    """A Measurement in the analyte's canonical unit (kept as written if not convertible)."""
    first, second = values
    key, assumed = _unit(analyte, written_unit, max(first, second or first))
    target = analyte.unit if analyte.unit and key not in (None, "ULN") else key
    if key is not None and target is not None and key != target:
        low_c = units.convert(first, key, target, analyte.molar_mass)
        high_c = None if second is None else units.convert(second, key, target, analyte.molar_mass)
        if low_c is not None and (second is None or high_c is not None):
            first, second = low_c, high_c
        else:
            target = key  # not convertible: keep the unit as written
    if second is not None:
        low, high, lo_inc, hi_inc = first, second, op != ">", (second_op or "<=") != "<"
    else:
        low, high, lo_inc, hi_inc = bounds(op, first)
    return Measurement(
        span=span,
        text=text[span[0] : span[1]],
        rule=rule,
        ambiguous=op == "?",
        name=analyte.name,
        category=analyte.category,
        low=low,
        high=high,
        low_inclusive=lo_inc,
        high_inclusive=hi_inc,
        unit=target,
        written=(written_unit or "").strip(),
        unit_assumed=assumed,
    )


def _plausible(analyte: lexicon.Analyte, value: float, written: str | None) -> bool:
    """A bare number no size of the analyte allows is not its value ("more than 1 pulse of
    IV cyclophosphamide", "oxygen > 12 hr/day")."""
    return bool(written) or not analyte.bare or any(lo <= value <= hi for lo, hi, _ in analyte.bare)


def _threshold_after(
    text: str, low: str, group: list[AnalyteMention], stop: int
) -> list[Measurement] | None:
    m = _THRESHOLD.match(low, group[-1].end, stop)
    if m is None or not (m.group("comp") or m.group("v2") or m.group("trail")):
        return None
    if _ANALYTE_RE.search(m.group("fill")) or _CHANGE.search(m.group("fill")):
        return None
    op = comparator(m.group("comp") or m.group("trail") or "")
    if m.group("v2") is None and not m.group("comp"):
        op = comparator(m.group("trail"))
    rule = "measurement.threshold"
    if m.group("trail") and not m.group("comp"):
        rule = "measurement.trailing_comparator"
    values: tuple[float, float | None] = (number(m.group("v1")), None)
    second_op = None
    if m.group("v2") is not None:
        values = (number(m.group("v1")), number(m.group("v2")))
        if m.group("comp") and m.group("comp2"):
            second_op = comparator(m.group("comp2"))
            rule = "measurement.two_sided"
        elif m.group("comp"):
            return None  # "< 5 to 10" reads no clear way
        else:
            op, rule = ">=", "measurement.range"
    written = m.group("u2") or m.group("u1")
    return [
        _measurement(
            mention.analyte, text, (mention.start, m.end()), rule, op, values, written, second_op
        )
        for mention in group
        if _plausible(mention.analyte, values[1] or values[0], written)
    ]


def _threshold_before(text: str, low: str, group: list[AnalyteMention]) -> list[Measurement] | None:
    """Value first: "≥ 1,500 neutrophils/mm3", "less than 600 lymphocytes"."""
    first = group[0]
    m = _BEFORE.search(low, max(0, first.start - 45), first.start)
    if m is None:
        return None
    after = _UNIT_AFTER.match(low, group[-1].end)
    written = m.group("u1") or (after.group("u") if after else None)
    end = after.end() if after and not m.group("u1") else group[-1].end
    op = comparator(m.group("comp"))
    value = number(m.group("v1"))
    return [
        _measurement(
            mention.analyte,
            text,
            (m.start(), end),
            "measurement.value_first",
            op,
            (value, None),
            written,
        )
        for mention in group
        if _plausible(mention.analyte, value, written)
    ]


def _score(text: str, low: str, group: list[AnalyteMention], stop: int) -> list[Measurement] | None:
    """Scales written as lists or classes: "ECOG 0, 1 or 2", "NYHA class III or IV"."""
    m = _SCORE.match(low, group[-1].end, stop)
    if m is None or _ANALYTE_RE.search(m.group("fill")) or _REFERENCE.search(m.group("fill")):
        return None
    values = [
        _CLASS_VALUE.get(v) if v in _CLASS_VALUE else number(v)
        for v in _SCORE_VALUE.findall(m.group("vals"))
    ]
    if not values:
        return None
    before = low[max(0, group[0].start - 3) : group[0].start]
    written = m.group("comp") or m.group("trail")
    if written is None and "=" in before and not re.search(r"[<>≤≥]", before):
        written = "="
    op = comparator(written) if written else None
    start = group[0].start
    if op == "?" and "=" in before:
        start -= len(before) - before.index("=")
    span = (start, m.end())
    rule = "score.lost_comparator" if op == "?" else "score.threshold" if op else "score.values"
    out = []
    for mention in group:
        if op is None:
            low_v, high_v = float(min(values)), float(max(values))
            out.append(
                Measurement(
                    span=span,
                    text=text[span[0] : span[1]],
                    rule=rule,
                    name=mention.analyte.name,
                    category=mention.analyte.category,
                    low=low_v,
                    high=high_v,
                    unit=mention.analyte.unit,
                )
            )
        else:
            lo, hi, lo_inc, hi_inc = bounds(op, float(values[0]))
            out.append(
                Measurement(
                    span=span,
                    text=text[span[0] : span[1]],
                    rule=rule,
                    ambiguous=op == "?",
                    name=mention.analyte.name,
                    category=mention.analyte.category,
                    low=lo,
                    high=hi,
                    low_inclusive=lo_inc,
                    high_inclusive=hi_inc,
                    unit=mention.analyte.unit,
                )
            )
    return out


# Thresholds need a number or a class numeral; most criteria have neither.
_HAS_VALUE = re.compile(r"\d|\b(?:i{1,3}|iv)\b")
_HAS_DIGIT = re.compile(r"\d")
_HAS_TIME_UNIT = re.compile(r"\b(?:hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?)\b")


# A threshold on a change ("a decrease in systolic BP of ≥ 20 mmHg") is not a level.
_CHANGE = re.compile(
    r"\b(?:decreas\w*|drop\w*|fall\w*|reduc\w*|increas\w*|rise|rising|change\w*|gain\w*|"
    r"loss|lose|losing|lost|return\w*|variation|fluctuat\w*|ratio|nadir|peak|after)\b"
)
_CHANGE_REACH = 45  # characters before a lab name where a change word makes it a change
_SPACE_RUN = re.compile(r"\s{2,}")
# "no more than 5 pounds gained or lost": a change written after its amount.
_CHANGE_NEXT = re.compile(
    r"\s+(?:(?:of\s+)?(?:body\s+)?weight\s+)?(?:gain\w*|lost|loss|los(?:e|ing)|chang\w*|"
    r"increas\w*|decreas\w*|fluctuat\w*)\b"
)


def _changed(low: str, at: int) -> bool:
    """A change word within reach before ``at``; a line break and its indentation count as
    one space."""
    start = max(0, at - _CHANGE_REACH)
    extra = sum(len(m.group()) - 1 for m in _SPACE_RUN.finditer(low, start, at))
    return bool(_CHANGE.search(low, max(0, start - extra), at))


# A body weight said with its unit but without the word "weight": "Subject is < 74 pounds",
# "weighs at least 110 lbs", "≥ 40 kg".
_BARE_WEIGHT = re.compile(
    rf"(?P<comp>{COMP})\s*(?P<v1>{NUM})\s*(?P<u1>pounds?|lbs?|kg|kilograms?)\b(?!\s*/)", re.I
)
# What _BARE_WEIGHT needs somewhere: a cheap test that spares most items its slow scan.
_WEIGHT_UNIT = re.compile(r"pound|lb|kg|kilogram", re.I)


# Weeks of gestation said value first: "≥35 weeks gestation", "35 or more completed weeks of
# gestation", "32-42 weeks gestation" (a bare "32 weeks gestation" bounds nothing).
_GESTATION = re.compile(
    rf"(?:(?P<comp>{COMP})\s*)?(?P<v1>\d{{2}})(?:\s*(?:-|–|to|and)\s*(?P<v2>\d{{2}}))?"
    rf"(?:\s*(?P<trail>{TRAIL}))?\s*(?:completed\s+)?(?:weeks?|wks?)\.?'?\s*(?:of\s+)?"
    rf"(?:gestation(?:al age)?|ga)\b"
)


def _overlaps(m: re.Match[str], taken: Sequence[Constraint]) -> bool:
    """Whether the match shares characters with a constraint already read."""
    return any(t.span[0] < m.end() and m.start() < t.span[1] for t in taken)


def _gestation(text: str, low: str, taken: list[Measurement]) -> list[Measurement]:
    """Gestational ages said value first, where no named measurement covers the words."""
    if "week" not in low and "wk" not in low:  # _GESTATION needs one: spare its slow scan
        return []
    analyte = lexicon.ANALYTE_BY_NAME["gestational_age"]
    found = []
    for m in _GESTATION.finditer(low):
        written = m.group("comp") or m.group("trail")
        second = number(m.group("v2")) if m.group("v2") else None
        if _overlaps(m, taken) or (written is None and second is None):
            continue
        op = comparator(written) if written else ">="
        values = (number(m.group("v1")), second)
        found.append(
            _measurement(analyte, text, m.span(), "measurement.gestation", op, values, None)
        )
    return found


def _bare_weights(text: str, low: str, taken: list[Measurement]) -> list[Measurement]:
    """Weights by their unit alone, where no named measurement already covers the words
    (and not a change: "weight gain of > 5 kg")."""
    if not _WEIGHT_UNIT.search(low):
        return []
    weight = lexicon.ANALYTE_BY_NAME["weight"]
    return [
        _measurement(
            weight,
            text,
            m.span(),
            "measurement.weight_unit",
            comparator(m.group("comp")),
            (number(m.group("v1")), None),
            m.group("u1"),
        )
        for m in _BARE_WEIGHT.finditer(low)
        if not _overlaps(m, taken)
        and not _changed(low, m.start())
        and not _CHANGE_NEXT.match(low, m.end())
    ]


_ITEM_OF = re.compile(r"\bitem\s+[\w.]+\s+(?:of|on|in|from)\s+(?:the\s+)?$")
_VALUE_NEXT = re.compile(rf"\s*:?\s*(?:(?:{COMP})\s*)?\d")


def _measurements(text: str, low: str) -> list[Measurement]:
    if not _HAS_VALUE.search(low):
        return []
    mentions = analyte_mentions(low)
    found: list[Measurement] = []
    groups = _groups(low, mentions)
    for n, group in enumerate(groups):
        if _changed(low, group[0].start):
            continue
        clause = _CLAUSE_END.search(low, group[-1].end)
        stop = min(
            groups[n + 1][0].start if n + 1 < len(groups) else len(low),
            clause.start() if clause else len(low),
        )
        scale = group[0].analyte.category == "score" and group[0].analyte.unit != "kg/m2"
        if scale and _ITEM_OF.search(low, max(0, group[0].start - 25), group[0].start):
            continue  # "Item 1a on NIHSS > 1": one item's score, not the total
        # "≥160 mm Hg systolic and/or ≥100 mm Hg diastolic": a value with its unit right
        # before the name is the name's, not the next one's
        before = _BEFORE.search(low, max(0, group[0].start - 45), group[0].start)
        own_value = _VALUE_NEXT.match(low, group[-1].end)
        result = (
            (_score(text, low, group, stop) if scale else None)
            or (
                _threshold_before(text, low, group)
                if before and before.group("u1") and not own_value
                else None
            )
            or _threshold_after(text, low, group, stop)
            or _threshold_before(text, low, group)
        )
        found.extend(m for m in result or () if not _CHANGE_NEXT.match(low, m.span[1]))
    return found + _bare_weights(text, low, found) + _gestation(text, low, found)


_UNTIL_DELIMITER = re.compile(r"[^,;)\]]*")


def _lost_comparators(text: str, low: str, taken: list[Span]) -> list[Ambiguity]:
    """Every "=" or "?" that stands where ≤ or ≥ was meant, unless a rule already read it."""
    out = []
    for m in _LOST_EQUALS.finditer(low):
        if any(s <= m.start() < e for s, e in taken):
            continue
        tail = _UNTIL_DELIMITER.match(low, m.end())
        end = tail.end() if tail else m.end()
        out.append(
            Ambiguity(
                span=(m.start(), end),
                text=text[m.start() : end],
                rule="comparator.lost_encoding",
                ambiguous=True,
                note="'=' stands where ≤ or ≥ was probably meant; direction unknown",
            )
        )
    return out


# --- age and sex ---------------------------------------------------------------------------

_AGE_UNIT = r"(?P<u>years?|yrs?|y/?o|months?|mos?|weeks?|wks?|days?|hours?)"
_AGE_UNIT_YEARS = {"y": 1.0, "m": 1 / 12, "w": 7 / 365.25, "d": 1 / 365.25, "h": 1 / 8766}
_AGE_CUE_BEFORE = (  # not "bone age" or "gestational age": not the patient's age
    r"\b(?<!bone )(?<!skeletal )(?<!gestational )(?<!mental )"
    r"(?:age[ds]?\b|aged\b|ages\b|adults?|patients?|participants?|subjects?|men|women|"
    r"males?|females?|children|volunteers?|individuals?|persons?|people|boys?|girls?|"
    r"infants?|adolescents?)[\s:(]*(?:of|between|from|is|must be|at|range|:)?[\s:(]*"
)
_AGE_CUE_AFTER = r"\s*(?:of age|old|years? of age)"
_AGE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "age.range",
        re.compile(
            rf"(?:{_AGE_CUE_BEFORE}(?:between\s+)?(?P<lo>\d{{1,3}})\s*(?:{_AGE_UNIT}\s*)?"
            rf"(?:-|–|to|and|~)\s*(?P<hi>\d{{1,3}})\s*(?:{_AGE_UNIT.replace('<u>', '<u2>')})?)"
            rf"|(?:(?:between\s+)?(?P<lo2>\d{{1,3}})\s*(?:-|–|to|and|~)\s*(?P<hi2>\d{{1,3}})\s*"
            rf"{_AGE_UNIT.replace('<u>', '<u3>')}{_AGE_CUE_AFTER})"
        ),
    ),
    (
        "age.bound",
        re.compile(
            rf"(?:{_AGE_CUE_BEFORE}(?P<comp>{COMP}|older than|younger than)\s*(?P<v>\d{{1,3}})"
            rf"(?:\s*{_AGE_UNIT})?)"
            rf"|(?:(?P<comp2>{COMP}|older than|younger than)\s*(?P<v2>\d{{1,3}})(?![\d.,])\s*"
            rf"(?:{_AGE_UNIT.replace('<u>', '<u2>')})?(?:{_AGE_CUE_AFTER})?)"
        ),
    ),
    (
        "age.trailing",
        re.compile(
            rf"(?P<v>\d{{1,3}})\s*(?:{_AGE_UNIT}\s*)?(?:{_AGE_CUE_AFTER}\s*)?(?:or|and)\s+"
            r"(?P<dir>older|over|above|greater|more|up|younger|under|below|less)"
        ),
    ),
)
_AGE_DIRECTION = {
    "older": ">=",
    "over": ">=",
    "above": ">=",
    "greater": ">=",
    "more": ">=",
    "up": ">=",
    "younger": "<=",
    "under": "<=",
    "below": "<=",
    "less": "<=",
}


def _years(value: float, unit: str | None) -> float:
    return value * _AGE_UNIT_YEARS.get((unit or "y")[0], 1.0)


def _age_cue(low: str, m: re.Match[str], context: tuple[str, ...]) -> bool:
    """Numbers are ages only with a cue: "age", "years old", a person word, an "Age:" heading."""
    if any(re.match(r"\s*age\s*:", view(c)) for c in context):
        return True
    body = m.group()
    return bool(
        re.search(r"age|old|younger|y/?o\b", body)
        or re.search(_AGE_CUE_BEFORE, body)
        or (m.start() <= 3 and re.search(r"years?|yrs?", body))
    )


def _age_limit(rule: str, m: re.Match[str], text: str) -> AgeLimit | None:
    groups = m.groupdict()
    unit = groups.get("u") or groups.get("u2") or groups.get("u3")
    if rule == "age.range":
        lo = float(groups.get("lo") or groups["lo2"])
        hi = float(groups.get("hi") or groups["hi2"])
        span = (m.start("lo") if groups.get("lo") else m.start(), m.end())
        if lo > hi:
            return None
        return AgeLimit(
            span=span,
            text=text[span[0] : span[1]],
            rule=rule,
            low=_years(lo, unit),
            high=_years(hi, unit),
        )
    written = groups.get("comp") or groups.get("comp2") or ""
    if rule == "age.trailing":
        op = _AGE_DIRECTION[groups["dir"]]
    else:
        op = {"older than": ">", "younger than": "<"}.get(written) or comparator(written)
    low, high, low_inc, high_inc = bounds(op, _years(float(groups.get("v") or groups["v2"]), unit))
    return AgeLimit(
        span=m.span(),
        text=text[m.start() : m.end()],
        rule=rule,
        ambiguous=op == "?",
        low=low,
        high=high,
        low_inclusive=low_inc,
        high_inclusive=high_inc,
    )


_AGE_JOIN = re.compile(r"\s*(?:and|,|&)\s*")
# "Caregiver of a child aged 3 months to 4 years": someone else's age.
_OTHER_PERSON = re.compile(
    r"\b(?:of|with|has|have) (?:a |an |the |their |his |her |one |at least one )?"
    r"(?:child|children|infant|infants|baby|babies|son|daughter|kid|kids)"
    r"(?:\W+(?:aged?|ages|from|between|of))?\W*$"
)
_AGE_QUALIFIER = re.compile(r"^\W*(?:for|among|in|all|only for|applicable to)\b|:\s*\S")
# Items whose ages say who signs, or which cohort: "assent for children aged 12-17",
# "for subjects in age stratum B only", "required for patients 55 years and younger".
_AGE_SCOPE = re.compile(
    r"\b(?:assent|explained to|strat(?:um|a)|cohorts?|sub-?stud(?:y|ies)|"
    r"(?:group|arm|part) [a-z0-9]\b|(?:for|in all) (?:those|subjects|patients|participants)\b)"
)
_FIRST_DIGIT = re.compile(r"\d")
# "Subject is < 74 pounds": a weight, not an age.
_WEIGHT_AFTER = re.compile(r"\s*(?:pounds?|lbs?|kg|kilograms?)\b")


# "gestational age of no greater than 28 weeks", "36 weeks gestation": not the patient's age.
_GESTATION_NEAR = re.compile(r"gestation|post-?menstrual age|post-?conceptional age")


def _ages(text: str, low: str, context: tuple[str, ...]) -> list[AgeLimit]:
    """The age range of an item; "aged > 18 years and < 70 years" joins its two bounds."""
    if not _HAS_DIGIT.search(low):
        return []
    found: list[AgeLimit] = []
    for rule, pattern in _AGE_PATTERNS:
        for m in pattern.finditer(low):
            if _overlaps(m, found):
                continue
            number_at = m.start() + _FIRST_DIGIT.search(m.group()).start()
            if (
                _OTHER_PERSON.search(low, max(0, number_at - 40), number_at)
                or _WEIGHT_AFTER.match(low, m.end())
                or _GESTATION_NEAR.search(low, max(0, m.start() - 12), m.end() + 20)
            ):
                continue
            joined = bool(found) and _AGE_JOIN.fullmatch(low[found[-1].span[1] : m.start()])
            if joined or _age_cue(low, m, context) or low.lstrip().startswith("age"):
                limit = _age_limit(rule, m, text)
                if limit:
                    found.append(limit)
    found.sort(key=lambda a: a.span)
    scoped = _AGE_SCOPE.search(low) or _AGE_QUALIFIER.search(
        low[: found[0].span[0]] + low[found[-1].span[1] :][:3] if found else ""
    )
    if found and scoped:
        found = [replace(a, qualifier=True, rule=a.rule + ".qualifier") for a in found]
    lows = [a for a in found if a.high is None]
    highs = [a for a in found if a.low is None]
    if len(found) == 2 and len(lows) == 1 and len(highs) == 1:
        first, last = found
        return [
            AgeLimit(
                qualifier=first.qualifier,
                span=(first.span[0], last.span[1]),
                text=text[first.span[0] : last.span[1]],
                rule="age.bounds" + (".qualifier" if first.qualifier else ""),
                ambiguous=first.ambiguous or last.ambiguous,
                low=lows[0].low,
                low_inclusive=lows[0].low_inclusive,
                high=highs[0].high,
                high_inclusive=highs[0].high_inclusive,
            )
        ]
    return found  # several ranges are alternatives ("6-59 months or >50 years")


_SEX_START = re.compile(
    r"^\W*(?:(?:sex|gender)\s*:\s*)?(?:only\s+)?(?:healthy\s+|adult\s+|"
    r"post-?\s?menopausal\s+|pre-?\s?menopausal\s+|ambulatory\s+|non-?pregnant\s+)*"
    r"(?P<sex>wom[ae]n|females?|m[ae]n|males?|girls?|boys?)"
    r"(?:\s+(?:patients?|subjects?|participants?|volunteers?|only|individuals?))?"
    r"(?=\s*(?:$|[,.;:(]|aged?\b|age\b|between|\d|≥|>|with\b|diagnosed|of any|over\b|older|"
    r"from\b|who (?:have|has|had|were|are (?:diagnosed|at|scheduled|undergoing|receiving))))"
)
_BOTH_SEXES = re.compile(
    r"\b(?:m[ae]n|males?|boys?)\s*(?:or|and|/|&)\s*(?:wom[ae]n|females?|girls?)\b|"
    r"\b(?:wom[ae]n|females?|girls?)\s*(?:or|and|/|&)\s*(?:m[ae]n|males?|boys?)\b|"
    r"both (?:sexes|genders)"
)

_SEX_ALONE = re.compile(
    r"\W*(?:(?:sex|gender)\s*:\s*)?(?:only\s+)?(?:wom[ae]n|females?|m[ae]n|males?|girls?|boys?)"
    r"(?:\s+(?:patients?|subjects?|participants?|only))?\W*"
)


def _sex(text: str, low: str) -> list[SexLimit]:
    m = _SEX_START.match(low)
    if m is None or _BOTH_SEXES.search(low):
        return []
    word = m.group("sex")
    sex = "female" if word.startswith(("wom", "fem", "girl")) else "male"
    # "Female" alone asks for the sex; "Postmenopausal women with ..." says whom it is for
    alone = _SEX_ALONE.fullmatch(low) is not None
    return [
        SexLimit(
            span=m.span("sex"),
            text=text[m.start("sex") : m.end("sex")],
            rule="sex.only" if alone else "sex.subject",
            sex=sex,
        )
    ]


# --- reproduction, participation, administrative -------------------------------------------

_REPRODUCTIVE: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "pregnancy_plans",
        re.compile(
            r"(?:plan\w*|intend\w*|wish\w*|desir\w*|trying|attempting|want\w*)\s+(?:to\s+)?"
            r"(?:become\s+|get\s+)?(?:pregnan\w*|conceive|father)|become pregnant|"
            r"pregnancy (?:during|within)"
        ),
    ),
    (
        "pregnant",
        re.compile(
            rf"\b(?:{lexicon.PREGNANCY})(?!\w)(?<!pregnancies)(?! complicat| outcome| loss| induced"
            r"| related| history)|\b(?:beta[- ]?|β-?)?hcg\b"
        ),
    ),
    ("lactating", re.compile(rf"\b(?:{lexicon.LACTATION})")),
    ("contraception", re.compile(rf"\b(?:{lexicon.CONTRACEPTION})")),
    ("childbearing_potential", re.compile(rf"\b(?:{lexicon.CHILDBEARING})")),
)
_NOT_PREGNANT = re.compile(
    r"negative[^.;]{0,30}?(?:pregnancy|hcg)|(?:pregnancy|hcg)[^.;]{0,15}?negative|"
    r"non-?pregnant|non-?lactating|not (?:be )?(?:pregnant|lactating|breast[- ]?feeding|nursing)"
)
_POSITIVE_PREGNANCY = re.compile(
    r"positive[^.;]{0,30}?(?:pregnancy|hcg)|(?:pregnancy|hcg)[^.;]{0,15}?positive"
)
_PREGNANCY_TEST = re.compile(r"pregnancy test|hcg")


def _reproductive(text: str, low: str, finder: ContextFinder) -> list[Reproductive]:
    out: list[Reproductive] = []
    taken: list[Span] = []
    for status, pattern in _REPRODUCTIVE:
        for m in pattern.finditer(low):
            if any(s <= m.start() < e for s, e in taken):
                continue
            taken.append(m.span())
            ctx = finder.context(*m.span())
            if ctx.family:
                continue  # "partner is pregnant": someone else's status
            negated = ctx.negated
            if status in ("pregnant", "lactating"):
                near = low[max(0, m.start() - 40) : m.end() + 40]
                negated = negated or bool(_NOT_PREGNANT.search(near))
                is_test = _PREGNANCY_TEST.search(low, m.start(), m.end() + 6)
                if is_test and not (negated or _POSITIVE_PREGNANCY.search(near)):
                    continue  # "must have a pregnancy test": no status required
            out.append(
                Reproductive(
                    span=m.span(),
                    text=text[m.start() : m.end()],
                    rule=f"reproductive.{status}",
                    negated=negated,
                    hedged=ctx.hedged,
                    status=status,
                )
            )
    return out


_PATTERN_RULES: tuple[tuple[str, re.Pattern[str], type[Constraint]], ...] = (
    ("participation.other_study", re.compile(lexicon.OTHER_STUDY), Participation),
    ("participation.investigational", re.compile(lexicon.INVESTIGATIONAL), Participation),
    ("administrative", re.compile(lexicon.ADMINISTRATIVE), Administrative),
)


def _patterned(text: str, low: str, finder: ContextFinder) -> list[Constraint]:
    out: list[Constraint] = []
    for rule, pattern, cls in _PATTERN_RULES:
        m = pattern.search(low)
        if m and not any(isinstance(c, cls) for c in out):
            ctx = finder.context(*m.span())
            out.append(
                cls(span=m.span(), text=text[m.start() : m.end()], rule=rule, negated=ctx.negated)
            )
    return out


# --- time windows --------------------------------------------------------------------------

_WORD_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "eighteen": 18,
}
_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "m": 30.4375, "y": 365.25}
_TIME = re.compile(
    r"(?P<rel>within|in|during|over|for at least|for|at least|more than|less than or equal to|"
    r"less than|greater than|"
    r"no less than|minimum of|≥|>|<|≤)\s+(?:the\s+)?(?:(?:past|last|previous|prior|preceding|"
    r"recent)\s+)?(?P<n>\d+(?:\.\d+)?|"
    + "|".join(_WORD_NUMBERS)
    + r")?\s*(?:\(\d+\)\s*)?(?P<u>hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?)\b"
    r"(?P<anchor>\s+(?:prior to|before|preceding|of|since|after|following|from)\b"
    r"(?:(?!\s(?:or|and)\s)[^,;.)]){0,40})?"
)


def _time_windows(text: str, low: str) -> list[TimeWindow]:
    if not _HAS_TIME_UNIT.search(low):
        return []
    out = []
    for m in _TIME.finditer(low):
        rel = m.group("rel")
        anchor = m.group("anchor") or ""
        if rel in ("in", "during", "over", "for") and not re.search(
            r"past|last|previous|prior|preceding|recent", m.group()
        ):
            continue
        if rel == "for at least":
            relation = "duration"
        elif rel in (
            "within",
            "in",
            "for",
            "during",
            "over",
            "less than",
            "less than or equal to",
            "<",
            "≤",
        ):
            relation = "within"
        else:
            relation = (
                "at_least"
                if re.search(
                    r"since|prior|before|preceding|ago|from", anchor + low[m.end() : m.end() + 12]
                )
                else "duration"
            )
        amount = m.group("n")
        count = _WORD_NUMBERS.get(amount) if amount else 1
        days = (float(amount) if count is None else float(count)) * _UNIT_DAYS[m.group("u")[0]]
        out.append(
            TimeWindow(
                span=m.span(),
                text=text[m.start() : m.end()],
                rule=f"time.{relation}",
                relation=relation,
                days=days,
            )
        )
    return out


# --- conditions and treatments -------------------------------------------------------------

# "in situ" is part of a name: "ductal carcinoma in situ" is not a ductal carcinoma.
_PREPOSITIONS = (
    r"due to|secondary to|because of|related to|unrelated to|caused by|within|for|"
    r"in(?!\s+situ\b)|at|after|"
    "before|during|since|while|on|by|to|from|as"
)
_CHUNK_SPLIT = re.compile(
    r"[,;:()\[\]{}]|\.(?:\s|$)|\s(?:or|and|and/or|nor|such as|including|include|includes|"
    r"specifically|namely|particularly|especially|"
    r"e\.g\.?|i\.e\.?|etc\.?|except(?: for)?|other than|with the exception of|excluding|"
    r"defined as|as well as|versus|vs\.?|plus|unless|if|when|requiring|that|which|who|whose|"
    rf"where|while|{_PREPOSITIONS}|is|are|was|were|will|must|should|may|can|could|has|have|"
    r"had)(?=\s)|/|\s-\s"
)
_AFTER_PREPOSITION = re.compile(rf"\s(?:{_PREPOSITIONS})\s*$")
_LIST_SEPARATOR = re.compile(r"\s*(?:,|/|\s(?:or|and|and/or))\s*")
_STARTS_WITH_PREPOSITION = re.compile(rf"\s*(?:{_PREPOSITIONS})\s")
# "history of or therapy for X": the patient has had X, not only a treatment of it; and
# "requirement for dopaminergic drugs" is the patient's need of them.
_PATIENTS_AFTER_FOR = re.compile(
    r"\b(?:(?:history of|h/o) or (?:therapy|treatment)|requirements?|needs?) for$"
)
_PATIENTS_AFTER_FOR_REACH = 40  # its longest match and a character: it ends at the end
_LEAD = re.compile(
    r"\s*(?:(?:history of|h/o|hx of|diagnosis of|diagnoses of|diagnosed with|diagnosed|known|"
    r"co-?infect(?:ion|ed) with|infect(?:ion|ed) with|"
    r"documented|confirmed|clinically|clinical|presence of|evidence of|any|other|patients?|"
    r"subjects?|participants?|with|without|no|not|having|current|currently|prior|previous|"
    r"previously|suspected|suffering from|signs? of|symptoms? of|complicated(?: with)?|"
    r"newly|histologically|cytologically|pathologically|proven|established|"
    r"acute or chronic|the|a|an|of|history|concomitant|concurrent|ongoing|existing|"
    r"pre-existing|underlying|major|mild|moderate|use of|treatment with|therapy with|"
    r"treated with|receiving|received|receive|taking|take|dose of|doses of|stable|oral|"
    r"intravenous|systemic|topical|chronic use of|previous use of|routine|standard|"
    r"conventional|equivalent|using|use|poor|permitted|allowed|accompanying|"
    + "|".join(re.escape(q) for q in lexicon.QUALIFIERS)
    + r")\s+)+"
)
_QUALIFIER_RE = re.compile(r"\b(?:" + "|".join(re.escape(q) for q in lexicon.QUALIFIERS) + r")\b")
_HEADS = frozenset(lexicon.CONDITION_HEADS)
_TREATMENT_HEADS = frozenset(lexicon.TREATMENT_HEADS)
# Words that make a phrase a treatment without saying which one.
_TREATMENT_NOISE = frozenset(
    concept_key(" ".join(lexicon.TREATMENT_HEADS))
    - concept_key(
        "chemotherapy radiotherapy radiation immunotherapy surgery transplant transplantation "
        "vaccine dialysis"
    )
) | frozenset(("concomitant", "therapeutic", "standard", "non", "treat", "treated"))
# Keys of treatments named on their own: a class, a drug, a kind of therapy. "chemotherapy
# treatment" or "corticosteroid therapy" is that treatment; its head word adds nothing.
_NAMED_TREATMENTS = frozenset(
    concept_key(name)
    for name in (
        *lexicon.DRUG_CLASSES,
        *(m for members in lexicon.DRUG_CLASSES.values() for m in members),
        *lexicon.DRUG_NAMES,
        *lexicon.DRUG_NAMES.values(),
        *lexicon.TREATMENT_HEADS,
    )
)
_MAX_CHUNK_WORDS = 8
# "Margins of the resected specimen must be free of invasive carcinoma": the tumour named
# after "margins" is the specimen's, not a condition the patient must be free of (a "costal
# margin" is a landmark of the body).
_MARGINS = re.compile(r"(?<!costal )\bmargins?\b")
_OTHER = re.compile(r"\b(?:other|another|additional|second)\b")
# "No other prior or concurrent malignancy": "other" before a list of modifiers reaches the
# condition after them, across the "or" that split the list.
_OTHER_BEFORE = re.compile(
    r"\b(?:other|another|additional|second)(?:\W+(?:prior|previous|concurrent|current|active|"
    r"known|primary|invasive|or|and|and/or))*\W*$"
)
# "interferon intolerance", "ribavirin allergy": the drug is what reacted, not what is taken.
_ADVERSE_AFTER = re.compile(
    r"\s*(?:(?:and/or|and|or)\s+[\w-]+\s+)?(?:intolerance|allerg\w*|hypersensitivity|"
    r"contraindicat\w*|toxicity|reactions?)\b"
)
# "hypersensitivity to any beta2-agonist, ... or systemic corticosteroid therapy": every drug
# of the list after it reacted, unless the clause turns to using one. So did the drugs of
# "toxicity >= grade 3 with prior treatment with either temozolomide or imatinib".
_ADVERSE_TO = re.compile(
    r"\b(?:(?:hypersensitivity|allerg(?:y|ies|ic reactions?)|intolerance|sensitivity|"
    r"adverse reactions?|contraindications?) (?:to|against)|toxicit(?:y|ies)\b[^.;]{0,30}?"
    r"\b(?:to|from|with|of)(?: (?:prior|previous))?(?: (?:treatment|therapy) with)?)\b"
)
_USE = re.compile(r"\b(?:use|using|used|taking|receiv\w*|requir\w*|treated|treatment with)\b")
# A clause about use now, and words that make it about use ever.
_CURRENT = re.compile(
    r"\b(?:concurrent\w*|concomitant\w*|current(?:ly)?|ongoing|presently|at (?:the )?time of "
    r"(?:screening|enrol\w*|randomi[sz]ation|entry)|at (?:screening|entry))\b"
)
_EVER = re.compile(r"\b(?:prior|previous\w*|history|past|ever|before|preceding|within|since)\b")
# Treatment the item speaks of as future ("during the study", "plan to use", "will be asked
# to withhold levodopa"): a record of past or current use does not decide it.
_FUTURE = re.compile(
    r"\b(?:during (?:the )?(?:study|trial|treatment period|course of the study|run-in)|"
    r"(?:asked|required|willing|able|agrees?) to (?:withhold|stop|discontinue|hold|abstain)|"
    r"throughout the study|while (?:on|in|participating in) (?:the )?study|"
    r"after (?:administration|enrol\w*|randomi[sz]ation|the first dose)|"
    r"plan(?:s|ned|ning)? to|intend\w* to|(?:will|would) (?:require|need|receive)|"
    r"anticipated|expected to (?:require|need|receive))\b"
)
# Words after a condition, in its clause, that make having it not enough on its own; so does
# where it reaches ("pituitary adenoma within 3mm of optic chiasm", "tumor invading ...").
_CONDITIONAL = re.compile(
    r"\b(?:if|when|whenever|unless|provided|requir\w+|precludes?|precluding|prevents?|"
    r"due to|secondary to|caused by|resulting from|attributable to|associated with|related to|"
    r"within \d+(?:\.\d+)?\s*(?:mm|cm|millimet\w+|centimet\w+) of|invading|abutting|encasing|"
    r"(?:that|which) (?:would|could|may|might|will|needs?|precludes?)|"
    r"as (?:demonstrated|defined|evidenced|determined|judged|assessed) by)\b"
)
# An item left to clinical judgement: what it names excludes only if judged so.
_JUDGEMENT = re.compile(
    r"\b(?:(?:opinion|judge?ment|discretion) of|investigator'?s? (?:opinion|judge?ment|discretion)|"
    r"(?:would|could|may|might) (?:interfere|compromise|jeopardi[sz]e|preclude|confound|"
    r"make|put|limit|affect|prevent)|(?:makes?|making|renders?) (?:the )?(?:patient|subject|"
    r"participant)s? (?:ineligible|ineligeble|unsuitable|inappropriate))"
)
_PERMISSION = re.compile(rf"\b(?:{lexicon.PERMISSION})\b")
_PERMISSION_LAST = re.compile(rf"\b(?:{lexicon.PERMISSION})\W*$")  # "Concurrent steroids allowed"


def _bracket_head(low: str, start: int, stop: int) -> bool:
    """A lone head word after a bracket ("human immunodeficiency virus (HIV) infection") is
    the tail of the bracketed name, not a condition of its own."""
    return low[start:stop].strip() in _HEADS and low[:start].rstrip().endswith((")", "]"))


def _clause(low: str, start: int, stop: int) -> Span:
    """The sentence or ";" clause around ``low[start:stop]``."""
    ends = [m.end() for m in _CLAUSE_END.finditer(low, 0, start)]
    after = _CLAUSE_END.search(low, stop)
    return (ends[-1] if ends else 0), (after.start() if after else len(low))


_SITE_AFTER = re.compile(r"\s+(?:to|in|involving|of)\s+(?:the\s+)?[a-z]")


def _metastasis_site(low: str, stop: int, key: Key) -> str:
    """ "Metastatic disease to the brain": only metastases at that site, which a patient's
    "metastatic breast cancer" does not say."""
    found = _SITE_AFTER.match(low, stop) if "metastasis" in key else None
    return found.group().strip() if found else ""


def _qualified_by(low: str, start: int, stop: int, judgements: list[int]) -> str:
    """A conditional after the mention in its clause, or a judgement call anywhere in it."""
    clause_start, clause_end = _clause(low, start, stop)
    if any(clause_start <= at < clause_end for at in judgements):
        found = _JUDGEMENT.search(low, clause_start, clause_end)
    else:
        found = _CONDITIONAL.search(low, stop, clause_end)
    return found.group() if found else ""


def _chunks(low: str) -> Iterator[tuple[int, int, bool]]:
    """(start, end, incidental) of each stretch between separators.

    A stretch after or starting with a preposition is incidental ("allergy to X", "(for CLL
    patients)"), and so are the ones listed with it ("allergy to X or Y") until a lead word
    starts a new subject.
    """
    start, incidental = 0, False
    for m in _CHUNK_SPLIT.finditer(low):
        yield start, m.start(), incidental
        listed = incidental and _LIST_SEPARATOR.fullmatch(m.group())
        incidental = bool(_AFTER_PREPOSITION.search(m.group() + " ")) or bool(listed)
        if _PATIENTS_AFTER_FOR.search(low, max(0, m.end() - _PATIENTS_AFTER_FOR_REACH), m.end()):
            incidental = False
        start = m.end()
        incidental = incidental or bool(_STARTS_WITH_PREPOSITION.match(low, start))
        if listed and _LEAD.match(low, start):
            incidental = False
    yield start, len(low), incidental


def _looks_like_condition(words: list[str]) -> bool:
    return any(w in _HEADS or w.endswith(lexicon.CONDITION_SUFFIXES) for w in words)


def _is_treatment(words: list[str], kind: str | None, kinds: set[str]) -> bool:
    if kind is not None:
        return kind == "treatment"
    if "treatment" in kinds and "condition" not in kinds:
        return True
    return any(w in _TREATMENT_HEADS for w in words) and not _looks_like_condition(words)


def _mentions(text: str, low: str, finder: ContextFinder) -> list[Constraint]:
    """Conditions and treatments: phrases around a head word, and known vocabulary terms.

    A chunk (a stretch between commas, "or", "such as" ...) of a few words with a condition
    head word or a vocabulary term in it becomes one mention, lead words ("history of",
    "known", "severe") stripped; in longer chunks each vocabulary term is a mention.
    """
    chunks = list(_chunks(low))
    starts = [start for start, _, _ in chunks]
    hits: dict[int, list[tuple[int, int, str]]] = {}
    for hit in gazetteer().find(text):
        n = bisect.bisect_right(starts, hit.start) - 1
        hits.setdefault(n, []).append((hit.start, hit.end, hit.kind))
    qualifier_spans = [(m.start(), m.group()) for m in _QUALIFIER_RE.finditer(low)]
    judgements = [m.start() for m in _JUDGEMENT.finditer(low)]
    future = bool(_FUTURE.search(low))
    out: list[Constraint] = []
    for n, (chunk_start, chunk_end, incidental) in enumerate(chunks):
        lead = _LEAD.match(low, chunk_start, chunk_end)
        body_start = lead.end() if lead else chunk_start
        while body_start < chunk_end and low[body_start].isspace():
            body_start += 1
        end = chunk_start + len(low[chunk_start:chunk_end].rstrip())
        chunk_hits = hits.get(n, [])
        named_by_lead = ""  # "metastatic disease": a vocabulary term starts in the lead
        if lead and body_start < end and not concept_key(low[body_start:end]):
            last = max(low.rfind(" ", chunk_start, body_start - 1) + 1, chunk_start)
            if any(start <= last < stop for start, stop, _ in chunk_hits):
                body_start = last
                named_by_lead = low[body_start:end].split()[0]
        words = low[body_start:end].split()
        if not words or (len(words) > _MAX_CHUNK_WORDS and not chunk_hits):
            continue
        kinds = {kind for _, _, kind in chunk_hits}
        whole = len(words) <= _MAX_CHUNK_WORDS and (
            bool(chunk_hits)
            or _looks_like_condition(words)
            or any(w in _TREATMENT_HEADS for w in words)
        )
        spans = [(body_start, end, None)] if whole else chunk_hits
        qualifiers = tuple(
            q for at, q in qualifier_spans if chunk_start <= at < end and q != named_by_lead
        )
        for start, stop, kind in spans:
            phrase = text[start:stop]
            key = concept_key(phrase)
            treatment = _is_treatment(low[start:stop].split(), kind, kinds)
            if not key or (treatment and kind is None and not key - _TREATMENT_NOISE):
                continue
            if _bracket_head(low, start, stop):
                continue
            ctx = finder.context(start, stop)
            source = "phrase" if kind is None else "vocabulary"
            common: dict[str, Any] = dict(
                span=(start, stop),
                text=phrase,
                negated=ctx.negated,
                hedged=ctx.hedged,
                phrase=phrase,
                key=key,
                qualifiers=qualifiers,
                excepted=ctx.excepted,
                incidental=incidental,
            )
            if treatment:
                if _names_treatment(low[start:stop], key):
                    common["key"] = key - _TREATMENT_NOISE
                common["incidental"] = (
                    incidental or bool(_ADVERSE_AFTER.match(low, stop)) or _reacted(low, start)
                )
                common["hedged"] = ctx.hedged or future
                clause = low[_clause(low, start, stop)[0] : stop]
                current = bool(_CURRENT.search(clause)) and not _EVER.search(clause)
                out.append(Treatment(rule=f"treatment.{source}", current=current, **common))
            else:
                clause_start = _clause(low, start, stop)[0]
                common["incidental"] = (
                    incidental or ctx.family or bool(_MARGINS.search(low, clause_start, start))
                )
                out.append(
                    Condition(
                        rule=f"condition.{source}",
                        historical=ctx.historical,
                        qualified_by=_qualified_by(low, start, stop, judgements)
                        or _metastasis_site(low, stop, key),
                        other=bool(lead and _OTHER.search(lead.group()))
                        or bool(_OTHER_BEFORE.search(low, clause_start, start)),
                        **common,
                    )
                )
    return [c for c in out if not _restates(c, out, low)]


_WITH_LAST = re.compile(r"\b(?:with|of|using)\s+[\w-]+\W*$")


def _names_treatment(phrase: str, key: Key) -> bool:
    """Whether a treatment phrase is a named treatment and words that only say it is one:
    "chemotherapy treatment", "treated with levodopa" (not "other medications than
    levodopa")."""
    if key - _TREATMENT_NOISE not in _NAMED_TREATMENTS:
        return False
    head = canonical_token(phrase.split()[-1].strip(".,;:()"))
    return head in _TREATMENT_NOISE or bool(_WITH_LAST.search(phrase))


def _reacted(low: str, start: int) -> bool:
    """Whether the treatment at ``start`` is in a list of what the patient reacts to."""
    triggers = list(_ADVERSE_TO.finditer(low, _clause(low, start, start)[0], start))
    return bool(triggers) and not _USE.search(low, triggers[-1].end(), start)


def _restates(c: Constraint, found: list[Constraint], low: str) -> bool:
    """A bare head word in brackets after a condition explains it, it is not another one: the
    "tumors" of "No multicentric carcinoma (tumors in different quadrants)"."""
    opened = low.rfind("(", 0, c.span[0])
    if not isinstance(c, Condition) or len(c.key) > 1 or c.text.isupper():
        return False
    if opened < 0 or ")" in low[opened : c.span[0]]:
        return False
    return any(isinstance(d, Condition) and d.span[1] <= opened and c.key < d.key for d in found)


# --- items and whole texts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemAnalysis:
    """One criterion with its constraints.

    ``permitted``: the item allows rather than requires ("Permitted concomitant treatment",
    under an "Allowed:" lead-in); ``any_of``: its thresholds are alternatives ("… or …").
    ``context``: the lead-in lines it sits under, outermost first.
    """

    criterion: Criterion
    constraints: tuple[Constraint, ...]
    permitted: bool
    any_of: bool
    context: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        c = self.criterion
        return {
            "index": c.index,
            "kind": c.kind.value,
            "kind_inferred": c.inferred,
            "text": c.text,
            "position": [c.start, c.end],
            "context": list(self.context),
            "permitted": self.permitted,
            "any_of": self.any_of,
            "constraints": [k.to_dict() for k in self.constraints],
        }


# An old NCI template line that only points elsewhere or says nothing asks nothing:
# "Biologic therapy: See Disease Characteristics", "Endocrine: Not specified".
_FILLER = re.compile(r"(?:[a-z ]{1,40}:\s*)?(?:see disease characteristics|not specified)\W*")


def extract_item(text: str, context: tuple[str, ...] = ()) -> tuple[Constraint, ...]:
    """All constraints of one criterion text (spans are offsets into ``text``)."""
    return _extract(text, view(text), context)


def _extract(text: str, low: str, context: tuple[str, ...]) -> tuple[Constraint, ...]:
    """`extract_item` given ``low = view(text)``, which `_item` needs too."""
    if _FILLER.fullmatch(" ".join(low.split())):
        return ()
    finder = ContextFinder(low, terminate_on_with=False)
    measures = _measurements(text, low)
    found: list[Constraint] = [
        *_ages(text, low, context),
        *_sex(text, low),
        *_reproductive(text, low, finder),
        *measures,
        *_time_windows(text, low),
        *_patterned(text, low, finder),
    ]
    taken = [c.span for c in found]
    found.extend(_lost_comparators(text, low, [c.span for c in measures if c.ambiguous]))
    found.extend(
        m
        for m in _mentions(text, low, finder)
        if not any(s <= m.span[0] < e and m.span[1] <= e for s, e in taken)
    )
    return tuple(found)


def _item(parsed: ParsedCriteria, criterion: Criterion) -> ItemAnalysis:
    context = tuple(a.clean_text for a in parsed.ancestors(criterion))
    low = view(criterion.text)
    constraints = _extract(criterion.text, low, context)
    permitted = bool(_PERMISSION.search(low[:40]) or _PERMISSION_LAST.search(low)) or any(
        _PERMISSION.search(view(c)) for c in context
    )
    spans = sorted(c.span for c in constraints if isinstance(c, Measurement))
    any_of = any(re.search(r"\bor\b", low[a[1] : b[0]]) for a, b in itertools.pairwise(spans))
    return ItemAnalysis(criterion, constraints, permitted, any_of, context)


@dataclass(frozen=True, slots=True)
class CriteriaAnalysis:
    """Every criterion of one eligibility text with its constraints; ``key`` names the text."""

    key: str
    parsed: ParsedCriteria
    items: tuple[ItemAnalysis, ...]
    # Derived data consumers keep with the cached analysis (the matcher's per-item plans).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version": EXTRACTOR_VERSION,
            "has_headers": self.parsed.has_headers,
            "items": [item.to_dict() for item in self.items],
        }


def criteria_key(text: str) -> str:
    """Cache key of a criteria text under the current rules (sha256, hex)."""
    return hashlib.sha256(f"{EXTRACTOR_VERSION}\0{text}".encode()).hexdigest()


_CACHE: OrderedDict[str, CriteriaAnalysis] = OrderedDict()
_CACHE_SIZE = 8192
_CACHE_LOCK = threading.Lock()  # the web server matches in several threads


def analysis_key(text: str, default_kind: Kind = Kind.INCLUSION) -> str:
    """The key `analyze_criteria` files the analysis of ``text`` under (`CriteriaAnalysis.key`)."""
    return criteria_key(f"{default_kind.value}\0{text}")


def cached(key: str) -> CriteriaAnalysis | None:
    """The analysis in the in-process LRU under ``key`` (`analysis_key`), if it is there."""
    with _CACHE_LOCK:
        analysis = _CACHE.get(key)
        if analysis is not None:
            _CACHE.move_to_end(key)
        return analysis


def remember(analysis: CriteriaAnalysis) -> None:
    """Put an analysis in the in-process LRU (newest last, oldest evicted), so that
    `analyze_criteria` returns it: how a persistent cache (eligibility.cache) primes it."""
    with _CACHE_LOCK:
        _CACHE.pop(analysis.key, None)
        _CACHE[analysis.key] = analysis
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def analyze_criteria(text: str, default_kind: Kind = Kind.INCLUSION) -> CriteriaAnalysis:
    """Parse and extract one criteria text; cached by `analysis_key` (LRU, in process)."""
    key = analysis_key(text, default_kind)
    analysis = cached(key)
    if analysis is None:
        analysis = fresh_analysis(text, default_kind)
        remember(analysis)
    return analysis


def fresh_analysis(text: str, default_kind: Kind = Kind.INCLUSION) -> CriteriaAnalysis:
    """Parse and extract one criteria text, bypassing the LRU (for worker processes, whose
    analyses go back to the process that asked)."""
    parsed = parse_criteria(text, default_kind)
    items = tuple(_item(parsed, c) for c in parsed.criteria)
    return CriteriaAnalysis(analysis_key(text, default_kind), parsed, items)
