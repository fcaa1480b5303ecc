"""The backend-neutral search request, its result, and the vocabularies filters accept.

A `SearchRequest` is what the CLI, the web pages and the JSON API build (the API through
`params.parse_api_params`); each store backend executes it. Everything here is plain data,
so a PostgreSQL backend can execute the same request without touching the parsing.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import math
import re
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any

import orjson

from trialatlas.records import detail
from trialatlas.records.detail import STATUS_LABELS
from trialatlas.records.document import NCT_ID, age_in_days


class QueryError(ValueError):
    """A request the search layer refuses; `param` names the offending input (for HTTP 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def __str__(self) -> str:
        return self.message


# Vocabularies, in ClinicalTrials.gov API v2 spelling, with display labels (statuses:
# records.detail.STATUS_LABELS, the one table pages and filters share).
# Statuses in which a trial may still take participants: "See also" lists these first.
OPEN_STATUSES = frozenset(
    {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"}
)
# The detail page's labels, but a filter spells out "Not Applicable" as ClinicalTrials.gov's does
PHASE_LABELS = {**detail.PHASE_LABELS, "NA": "Not Applicable"}
STUDY_TYPE_LABELS = detail.STUDY_TYPE_LABELS
SEX_LABELS = {"FEMALE": "Female", "MALE": "Male"}
AGE_GROUP_LABELS = {
    "CHILD": "Child (birth–17)",
    "ADULT": "Adult (18–64)",
    "OLDER_ADULT": "Older adult (65+)",
}
FUNDER_LABELS = {
    "NIH": "NIH",
    "FED": "Other U.S. federal agency",
    "INDUSTRY": "Industry",
    "OTHER": "Other",
    "OTHER_GOV": "Other government",
    "NETWORK": "Network",
    "INDIV": "Individual",
    "AMBIG": "Ambiguous",
    "UNKNOWN": "Unknown",
}
BOOL_LABELS = {"true": "Yes", "false": "No"}

# ClinicalTrials.gov age groups, by eligible age in days, as age_in_days computes them: a
# study belongs to every group its [minimumAge, maximumAge] range overlaps.
ADULT_FROM_DAYS = age_in_days("18 Years") or 0
OLDER_FROM_DAYS = age_in_days("65 Years") or 0
AGE_GROUPS: dict[str, tuple[int, int | None]] = {
    "CHILD": (0, ADULT_FROM_DAYS - 1),
    "ADULT": (ADULT_FROM_DAYS, OLDER_FROM_DAYS - 1),
    "OLDER_ADULT": (OLDER_FROM_DAYS, None),
}

# Sortable fields: API v2 piece name -> (request field, descending by default)
SORT_FIELDS: dict[str, tuple[str, bool]] = {
    "@relevance": ("relevance", True),
    "LastUpdatePostDate": ("last_update", True),
    "StudyFirstPostDate": ("first_posted", True),
    "StartDate": ("start", True),
    "PrimaryCompletionDate": ("primary_completion", True),
    "CompletionDate": ("completion", True),
    "EnrollmentCount": ("enrollment", False),
}
DATE_FIELDS = ("start", "primary_completion", "completion", "first_posted", "last_update")
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive bounds as ISO dates; either may be None (open)."""

    start: str | None = None
    end: str | None = None

    @classmethod
    def parse(cls, low: str | None, high: str | None, param: str) -> DateRange:
        """Bounds like '2020', '2020-05' or '2020-05-17'; a partial date covers its whole span."""
        return cls(
            _bound(low, param, first=True) if low else None,
            _bound(high, param, first=False) if high else None,
        )


_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def _bound(text: str, param: str, *, first: bool) -> str:
    match = _PARTIAL_DATE.match(text.strip())
    if not match:
        raise QueryError(f"{text!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)", param)
    year, month, day = int(match[1]), match[2], match[3]
    m = int(month) if month else (1 if first else 12)
    try:
        d = int(day) if day else (1 if first else calendar.monthrange(year, m)[1])
        return date(year, m, d).isoformat()
    except ValueError:
        raise QueryError(f"{text!r} is not a valid date", param) from None


@dataclass(frozen=True, slots=True)
class AgeRange:
    """A participant age range in days; a study matches when its eligible ages overlap it."""

    min_days: int | None = None
    max_days: int | None = None


@dataclass(frozen=True, slots=True)
class Near:
    """Studies with a site within `km` of (lat, lon)."""

    lat: float
    lon: float
    km: float


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str  # "relevance", one of DATE_FIELDS, or "enrollment"
    descending: bool


@dataclass(frozen=True)
class SearchRequest:
    """One search: ClinicalTrials.gov's query areas, filters, sort and page.

    The text fields hold Essie expressions (words, "phrases", AND/OR/NOT, parentheses,
    AREA[Field]…) searched in ClinicalTrials.gov's search areas and ranked by BM25;
    `advanced` (filter.advanced) filters without ranking. Set-valued filters match any of
    their values; different filters must all match.
    """

    cond: str = ""  # conditions, condition MeSH terms, keywords, titles (+ synonyms)
    term: str = ""  # "other terms": every indexed field (+ condition synonyms)
    intr: str = ""  # intervention names, other names, intervention MeSH terms
    titles: str = ""  # brief title, official title, acronym
    outc: str = ""  # outcome measures
    spons: str = ""  # lead sponsor and collaborators
    lead: str = ""  # lead sponsor only
    locn: str = ""  # facility, city, state, country
    id: str = ""  # NCT id, org study id, secondary ids, aliases (words OR-ed)
    patient: str = ""  # what a patient would type: conditions, titles, summary, criteria
    advanced: str = ""  # filter.advanced
    ids: frozenset[str] = frozenset()  # filter.ids: NCT ids
    status: frozenset[str] = frozenset()  # overall status
    phase: frozenset[str] = frozenset()
    study_type: frozenset[str] = frozenset()
    sex: frozenset[str] = frozenset()  # FEMALE/MALE: studies that accept them
    age_group: frozenset[str] = frozenset()  # CHILD/ADULT/OLDER_ADULT
    age: AgeRange | None = None
    healthy_volunteers: bool | None = None
    country: frozenset[str] = frozenset()
    city: frozenset[str] = frozenset()
    near: Near | None = None
    funder_type: frozenset[str] = frozenset()  # lead sponsor class
    has_results: bool | None = None
    start: DateRange | None = None
    primary_completion: DateRange | None = None
    completion: DateRange | None = None
    first_posted: DateRange | None = None
    last_update: DateRange | None = None
    sort: tuple[SortKey, ...] = ()  # default: relevance, then NCT id
    page_size: int = 10
    page_token: str | None = None
    ignore_filters: bool = False  # set when a query is only NCT ids, as ClinicalTrials.gov does

    def __post_init__(self) -> None:
        if not 0 < self.page_size <= MAX_PAGE_SIZE:
            raise QueryError(f"page size must be 1..{MAX_PAGE_SIZE}", "pageSize")
        if len(self.sort) > 2:
            raise QueryError("at most two sort keys", "sort")
        _check_values("status", self.status, STATUS_LABELS)
        _check_values("phase", self.phase, PHASE_LABELS)
        _check_values("study_type", self.study_type, STUDY_TYPE_LABELS)
        _check_values("sex", self.sex, SEX_LABELS)
        _check_values("age_group", self.age_group, AGE_GROUP_LABELS)
        _check_values("funder_type", self.funder_type, FUNDER_LABELS)
        malformed = sorted(i for i in self.ids if not NCT_ID.match(i))
        if malformed:
            raise QueryError(f"{malformed[0]!r} is not an NCT id (NCT + 8 digits)", "ids")
        if self.near is not None and not (
            -90 <= self.near.lat <= 90 and -180 <= self.near.lon <= 180 and self.near.km >= 0
        ):
            raise QueryError("latitude -90..90, longitude -180..180, distance ≥ 0", "near")

    def text_queries(self) -> dict[str, str]:
        """The non-empty query areas (query.* parameters), by request field name."""
        return {name: getattr(self, name) for name in TEXT_AREAS if getattr(self, name).strip()}

    def fingerprint(self) -> str:
        """Identifies the result set (not the page), so a page token fits only its query."""
        skip = {"page_size", "page_token"}
        state = [
            (f.name, _jsonable(getattr(self, f.name))) for f in fields(self) if f.name not in skip
        ]
        return hashlib.blake2b(orjson.dumps(state), digest_size=6).hexdigest()

    def with_page(self, page_token: str | None) -> SearchRequest:
        return replace(self, page_token=page_token)


# query.* areas in request-field order
TEXT_AREAS = ("cond", "term", "intr", "titles", "outc", "spons", "lead", "locn", "id", "patient")


def _check_values(name: str, values: frozenset[str], allowed: dict[str, str]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise QueryError(
            f"unknown {name} value {unknown[0]!r}; expected one of {', '.join(allowed)}", name
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return [_jsonable(getattr(value, f.name)) for f in fields(value)]
    return value


@dataclass(frozen=True, slots=True)
class Hit:
    """One study in a result list, with what a listing shows."""

    nct_id: str
    brief_title: str | None
    official_title: str | None
    acronym: str | None
    overall_status: str | None
    phases: tuple[str, ...]
    study_type: str | None
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    lead_sponsor: str | None
    enrollment: int | None
    start_date: str | None
    completion_date: str | None
    last_update_date: str | None
    has_results: bool
    score: float  # relevance (higher is better; 0 without a text query)
    distance_km: float | None = None  # nearest site, when the request has `near`

    @property
    def title(self) -> str | None:
        return self.brief_title or self.official_title or self.acronym


@dataclass(frozen=True, slots=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Facet:
    """Counts for one filter over the current result, ignoring that filter's own selection."""

    name: str  # the SearchRequest field it filters
    label: str
    values: tuple[FacetValue, ...]


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    total: int
    next_page_token: str | None
    facets: dict[str, Facet] = field(default_factory=dict)
    expansions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # synonyms used


# Page tokens: opaque to clients; they carry the last row's sort key so the next page starts
# strictly after it (keyset pagination: stable while the data does not change).
def encode_page_token(request: SearchRequest, keys: tuple[float, ...], nct_number: int) -> str:
    # +inf marks a missing value (sorted last); JSON has no infinity, so it travels as null
    wire = [None if math.isinf(k) else k for k in keys]
    payload = orjson.dumps([request.fingerprint(), wire, nct_number])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_page_token(request: SearchRequest) -> tuple[tuple[float, ...], int] | None:
    """The position after which the requested page starts; None for the first page."""
    token = request.page_token
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fingerprint, keys, nct_number = orjson.loads(raw)
        keys = tuple(math.inf if k is None else float(k) for k in keys)
        if not isinstance(nct_number, int) or not isinstance(fingerprint, str):
            raise TypeError
    except (ValueError, TypeError):
        raise QueryError("malformed page token", "pageToken") from None
    if fingerprint != request.fingerprint():
        raise QueryError("page token belongs to a different query", "pageToken")
    return keys, nct_number
