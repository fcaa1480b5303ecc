"""A subset of ClinicalTrials.gov's Essie query syntax, parsed into a backend-neutral tree.

Supported: words (adjacent words must all match), "phrases", AND / OR / NOT (upper case),
parentheses, AREA[Field] or AREA[SearchArea] before a term, phrase or group,
RANGE[low, high] with MIN / MAX (dates, ages with units, numbers), and MISSING. Other Essie
operators (SEARCH[…], EXPANSION[…], COVERAGE[…], …) are refused with a reason rather than
silently misread. Nothing here builds SQL: text leaves carry normalised word tokens (letters
and digits only), structured leaves carry typed values, and each backend compiles the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from trialatlas.records.document import age_in_days
from trialatlas.search.query import (
    AGE_GROUP_LABELS,
    FUNDER_LABELS,
    PHASE_LABELS,
    STATUS_LABELS,
    STUDY_TYPE_LABELS,
    DateRange,
    QueryError,
)

MAX_QUERY_CHARS = 4000
MAX_DEPTH = 32
MAX_LEAVES = 200

_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased runs of letters and digits: what the full-text tokenizer indexes."""
    return tuple(_TOKEN.findall(text.casefold()))


@lru_cache(maxsize=200_000)
def normalize(text: str) -> str:
    """The comparable form of a term (condition names, synonyms): tokens joined by spaces.

    Cached: ingest normalises every condition and MeSH term, and they repeat a lot."""
    return " ".join(_TOKEN.findall(text.casefold()))


@dataclass(frozen=True, slots=True)
class Text:
    """Full-text match: all tokens (adjacent and in order when `phrase`) in `columns`."""

    tokens: tuple[str, ...]
    phrase: bool
    columns: tuple[str, ...]
    expand: bool  # also match the condition synonyms of the whole group of words


@dataclass(frozen=True, slots=True)
class Pred:
    """A structured condition on one field: op "in" (values), "range" (low..high) or "missing"."""

    field: str
    op: str
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Text | Pred | And | Or | Not

# Full-text index columns (records.index_text.INDEX_FIELDS) grouped as ClinicalTrials.gov's
# search areas; the areas that cover condition fields also match condition synonyms.
_TITLES = ("brief_title", "official_title", "acronym")
_CONDITIONS = ("conditions", "condition_mesh", "keywords")
AREAS: dict[str, tuple[str, ...]] = {
    "BasicSearch": (),  # () = every column
    "ConditionSearch": (*_TITLES, *_CONDITIONS),
    "InterventionSearch": ("interventions", "intervention_mesh"),
    "OutcomeSearch": ("outcomes",),
    "TitleSearch": _TITLES,
    "SponsorSearch": ("lead_sponsor", "collaborators"),
    "LeadSponsorName": ("lead_sponsor",),
    "LocationSearch": ("locations",),
    "IdSearch": ("ids",),
    "PatientSearch": (*_TITLES, *_CONDITIONS, "interventions", "summary", "criteria"),
}
EXPANDING_AREAS = frozenset({"BasicSearch", "ConditionSearch", "PatientSearch", "Condition"})
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "NCTId": ("ids",),
    "NCTIdAlias": ("ids",),
    "OrgStudyId": ("ids",),
    "SecondaryId": ("ids",),
    "BriefTitle": ("brief_title",),
    "OfficialTitle": ("official_title",),
    "Acronym": ("acronym",),
    "Condition": ("conditions",),
    "ConditionMeshTerm": ("condition_mesh",),
    "Keyword": ("keywords",),
    "InterventionName": ("interventions",),
    "InterventionOtherName": ("interventions",),
    "InterventionMeshTerm": ("intervention_mesh",),
    "PrimaryOutcomeMeasure": ("outcomes",),
    "SecondaryOutcomeMeasure": ("outcomes",),
    "OtherOutcomeMeasure": ("outcomes",),
    "CollaboratorName": ("collaborators",),
    "LocationFacility": ("locations",),
    "LocationState": ("locations",),
    "BriefSummary": ("summary",),
    "DetailedDescription": ("description",),
    "EligibilityCriteria": ("criteria",),
}
_YES = {"TRUE", "YES", "Y"}
_NO = {"FALSE", "NO", "N"}
# Structured fields: Essie name -> (predicate field, value kind, allowed enum values)
STRUCTURED: dict[str, tuple[str, str, frozenset[str]]] = {
    "OverallStatus": ("status", "enum", frozenset(STATUS_LABELS)),
    "Phase": ("phase", "enum", frozenset(PHASE_LABELS)),
    "StudyType": ("study_type", "enum", frozenset(STUDY_TYPE_LABELS)),
    "Sex": ("sex", "enum", frozenset({"ALL", "FEMALE", "MALE"})),
    "StdAge": ("age_group", "enum", frozenset(AGE_GROUP_LABELS)),
    "LeadSponsorClass": ("funder_type", "enum", frozenset(FUNDER_LABELS)),
    "HealthyVolunteers": ("healthy_volunteers", "bool", frozenset()),
    "HasResults": ("has_results", "bool", frozenset()),
    "MinimumAge": ("min_age", "age", frozenset()),
    "MaximumAge": ("max_age", "age", frozenset()),
    "StartDate": ("start", "date", frozenset()),
    "PrimaryCompletionDate": ("primary_completion", "date", frozenset()),
    "CompletionDate": ("completion", "date", frozenset()),
    "StudyFirstPostDate": ("first_posted", "date", frozenset()),
    "LastUpdatePostDate": ("last_update", "date", frozenset()),
    "EnrollmentCount": ("enrollment", "int", frozenset()),
    "LocationCountry": ("country", "name", frozenset()),
    "LocationCity": ("city", "name", frozenset()),
}
UNGROUPED = frozenset({*STRUCTURED, "IdSearch"})
_FIELD_NAMES = {name.casefold(): name for name in (*AREAS, *TEXT_FIELDS, *STRUCTURED)}
# Text fields that MISSING can test, by the predicate field the store answers it with
MISSING_TEXT = {
    "Condition": "conditions",
    "Keyword": "keywords",
    "InterventionName": "interventions",
    "Acronym": "acronym",
    "OfficialTitle": "official_title",
    "BriefTitle": "brief_title",
}

_LEX = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<phrase>"[^"]*")
  | (?P<badquote>")
  | (?P<area>AREA\[(?P<area_name>[^\]]*)\])
  | (?P<range>RANGE\[(?P<range_body>[^\]]*)\])
  | (?P<operator>(?:AREA|RANGE|SEARCH|EXPANSION|COVERAGE|TILT|DIST(?:ANCE)?)\[)
  | (?P<word>[^\s()"]+)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "MISSING"}


def _lex(text: str) -> Iterator[tuple[str, str]]:
    for match in _LEX.finditer(text):
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "space":
            continue
        if kind == "badquote":
            raise QueryError('unbalanced " (a phrase needs a closing quote)')
        if kind == "operator":
            if value in ("AREA[", "RANGE["):
                raise QueryError(f"{value}… needs a closing ]")
            raise QueryError(f"Essie operator {value}…] is not supported")
        if kind == "area":
            yield "area", match.group("area_name").strip()
        elif kind == "range":
            yield "range", match.group("range_body")
        elif kind == "phrase":
            yield "phrase", value[1:-1]
        elif kind == "word" and value in _KEYWORDS:
            yield value.lower(), value
        else:
            yield kind, value


class _Parser:
    def __init__(self, text: str, area: str) -> None:
        self.tokens = list(_lex(text))
        self.pos = 0
        self.area = area
        self.leaves = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.or_(self.area, 0)
        if self.peek() is not None:
            kind, value = self.take()
            raise QueryError(f"unexpected {value!r}" if kind != "rparen" else "unbalanced )")
        return node

    def or_(self, area: str, depth: int) -> Node | None:
        items = [self.and_(area, depth)]
        while self.peek() == "or":
            self.take()
            items.append(self.and_(area, depth))
        return _combine(Or, items)

    def and_(self, area: str, depth: int) -> Node | None:
        items = [self.unary(area, depth)]
        while self.peek() not in (None, "or", "rparen"):
            if self.peek() == "and":
                self.take()
            items.append(self.unary(area, depth))
        return _combine(And, items)

    def unary(self, area: str, depth: int) -> Node | None:
        if self.peek() == "not":
            self.take()
            item = self.unary(area, depth)
            return None if item is None else Not(item)
        return self.primary(area, depth, group_words=True)

    def primary(self, area: str, depth: int, *, group_words: bool) -> Node | None:
        if depth > MAX_DEPTH:
            raise QueryError(f"expression nested deeper than {MAX_DEPTH} levels")
        kind = self.peek()
        if kind is None:
            raise QueryError("expression ends where a term was expected")
        if kind in ("and", "or"):
            raise QueryError(f"{self.take()[1]} needs a term on each side")
        if kind == "rparen":
            raise QueryError("unbalanced ) or empty ( )")
        _, value = self.take()
        if kind == "lparen":
            node = self.or_(area, depth + 1)
            if self.peek() != "rparen":
                raise QueryError("unbalanced ( (missing closing parenthesis)")
            self.take()
            return node
        if kind == "area":
            name = _FIELD_NAMES.get(value.casefold())
            if name is None:
                raise QueryError(f"unknown field AREA[{value}]")
            if self.peek() == "not":
                self.take()
                item = self.primary(name, depth + 1, group_words=False)
                return None if item is None else Not(item)
            return self.primary(name, depth + 1, group_words=False)
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise QueryError(f"more than {MAX_LEAVES} terms")
        if kind == "range":
            return _range(area, value)
        if kind == "missing":
            return _missing(area)
        if kind == "phrase":
            return _leaf(area, value, phrase=True)
        words = [value]
        # adjacent words are one group (synonyms expand a group), except study ids: each
        # is its own term, so that "NCT04952155 NCT04998305" can mean either (plan.py)
        while group_words and area not in UNGROUPED and self.peek() == "word":
            words.append(self.take()[1])
        return _leaf(area, " ".join(words), phrase=False)


def _combine(kind: type[And] | type[Or], items: list[Node | None]) -> Node | None:
    """Drops empty items (terms with no searchable characters) and flattens single items."""
    kept = [item for item in items if item is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else kind(tuple(kept))


def _leaf(area: str, text: str, *, phrase: bool) -> Node | None:
    if area in STRUCTURED:
        return _structured_value(area, text)
    tokens = tokenize(text)
    if not tokens:
        return None
    columns = AREAS.get(area) or TEXT_FIELDS.get(area, ())
    return Text(tokens, phrase and len(tokens) > 1, columns, area in EXPANDING_AREAS)


def _structured_value(area: str, text: str) -> Pred:
    field, kind, allowed = STRUCTURED[area]
    if kind == "date":
        span = DateRange.parse(text, text, f"AREA[{area}]")
        return Pred(field, "range", low=span.start, high=span.end)
    if kind in ("age", "int"):
        value = _number(area, kind, text)
        return Pred(field, "range", low=value, high=value)
    return Pred(field, "in", (_enum_value(area, kind, allowed, text),))


def _enum_value(area: str, kind: str, allowed: frozenset[str], text: str) -> Any:
    value = text.strip().upper().replace(" ", "_").replace("-", "_")
    if kind == "bool":
        if value in _YES | _NO:
            return value in _YES
        raise QueryError(f"AREA[{area}] takes true or false, not {text!r}")
    if kind == "name":
        if not tokenize(text):
            raise QueryError(f"AREA[{area}] needs a name, not {text!r}")
        return text.strip()
    if value not in allowed:
        raise QueryError(
            f"unknown value {text!r} for AREA[{area}]; expected one of {', '.join(sorted(allowed))}"
        )
    return value


def _number(area: str, kind: str, text: str) -> int:
    text = text.strip()
    if kind == "age":
        days = age_in_days(text if " " in text else f"{text} years")
        if days is None:
            raise QueryError(
                f"AREA[{area}] takes an age like '16 years' or '6 months', not {text!r}"
            )
        return days
    try:
        return int(text)
    except ValueError:
        raise QueryError(f"AREA[{area}] takes a whole number, not {text!r}") from None


def _range(area: str, body: str) -> Pred:
    if area not in STRUCTURED or STRUCTURED[area][1] not in ("date", "age", "int"):
        raise QueryError(f"RANGE[…] needs a date, age or number field, not AREA[{area}]")
    parts = body.split(",")
    if len(parts) != 2:
        raise QueryError(f"RANGE[{body}] needs two bounds: RANGE[low, high] (MIN / MAX for open)")
    low, high = (part.strip() for part in parts)
    field, kind, _ = STRUCTURED[area]
    if kind == "date":
        span = DateRange.parse(
            None if low.upper() == "MIN" else low,
            None if high.upper() == "MAX" else high,
            f"AREA[{area}]",
        )
        return Pred(field, "range", low=span.start, high=span.end)
    return Pred(
        field,
        "range",
        low=None if low.upper() == "MIN" else _number(area, kind, low),
        high=None if high.upper() == "MAX" else _number(area, kind, high),
    )


def _missing(area: str) -> Pred:
    if area in STRUCTURED:
        return Pred(STRUCTURED[area][0], "missing")
    if area in MISSING_TEXT:
        return Pred(MISSING_TEXT[area], "missing")
    raise QueryError(f"MISSING is not supported for AREA[{area}]")


def parse(text: str, area: str = "BasicSearch") -> Node | None:
    """Parse one Essie expression searched in `area`; None when it has nothing to search."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query longer than {MAX_QUERY_CHARS} characters")
    return _Parser(text, area).parse()


def only_nct_ids(text: str) -> bool:
    """True for a query that is just NCT ids (comma- and/or space-separated)."""
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    return bool(parts) and all(re.fullmatch(r"(?i)NCT\d{1,8}", p) for p in parts)
