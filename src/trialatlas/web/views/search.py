"""The search page's state: ClinicalTrials.gov's search-page URL parameters, in and out.

The page reads the parameters ClinicalTrials.gov's own search page puts in its URLs (cond,
term, intr, titles, outc, spons, lead, id, locStr, country, state, city, distance,
aggFilters, start and the other date ranges, sort, page), turns them into a
``SearchRequest`` for the search layer, and writes every link back in the same
vocabulary, so a URL from either site opens the same search here and every state of the
page (filters, sort, page) is a shareable link that the back button returns to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from trialatlas.records.detail import STATUS_LABELS, enum_label, format_date, phase_label
from trialatlas.search import (
    DateRange,
    Facet,
    Hit,
    Near,
    QueryError,
    SearchRequest,
    SearchResult,
    search,
)
from trialatlas.search.geo import KM_PER_MILE, geocode, parse_distance_km
from trialatlas.search.params import AGG_FILTERS, parse_agg_filters, parse_sort
from trialatlas.search.query import MAX_PAGE_SIZE
from trialatlas.store import Store

PAGE_SIZE = 10
MAX_PAGE = MAX_PAGE_SIZE // PAGE_SIZE  # the search layer serves at most this deep
TEXT_PARAMS = ("term", "cond", "intr", "titles", "outc", "spons", "lead", "id")
# Date-range parameters ("2020-01-01_2020-12-31") -> SearchRequest field
DATE_PARAMS = {
    "start": "start",
    "primComp": "primary_completion",
    "studyComp": "completion",
    "firstPost": "first_posted",
    "lastUpdPost": "last_update",
}
LOCATION_PARAMS = ("locStr", "country", "state", "city", "distance")
# Every parameter the page reads, in the order links write them.
PARAMS = (*TEXT_PARAMS, *LOCATION_PARAMS, "aggFilters", *DATE_PARAMS, "sort", "page")
# The fields of the search form (partials/search_form.html); a new search keeps the others.
FORM_PARAMS = ("term", "cond", "intr", "titles", "outc", "spons", "locStr", "distance")
SORT_OPTIONS = (
    ("", "Relevance"),
    ("LastUpdatePostDate:desc", "Last updated, newest first"),
    ("StudyFirstPostDate:desc", "First posted, newest first"),
    ("StartDate:desc", "Start date, newest first"),
    ("StartDate:asc", "Start date, oldest first"),
    ("EnrollmentCount:desc", "Enrollment, largest first"),
)
FACET_SHOWN = 8  # values listed before "more"
_WORD = re.compile(r"[^\W_]+")
_OPERATORS = re.compile(r"\b(?:AREA|RANGE|SEARCH|EXPANSION|COVERAGE)\[[^\]]*\]|\b(?:AND|OR|NOT)\b")
# aggFilters codes for each (request field, value): how facet values become URL options
_AGG_CODES: dict[tuple[str, str], tuple[str, str]] = {
    (request_field, str(value).lower()): (filter_id, code)
    for filter_id, (request_field, options) in AGG_FILTERS.items()
    for code, values in options.items()
    for value in values
}
_AGG_ORDER = {filter_id: list(options) for filter_id, (_, options) in AGG_FILTERS.items()}


@dataclass(frozen=True)
class WebQuery:
    """One state of the search page: its parameters and what they ask of the search layer."""

    params: dict[str, str]  # non-empty known parameters, canonical spelling
    agg: dict[str, tuple[str, ...]]  # aggFilters: filter id -> option codes
    request: SearchRequest
    page: int

    def url(self, path: str = "/search", **changes: str | None) -> str:
        """This state with some parameters changed (None removes); new states start at page 1."""
        params = {**self.params, "page": None, **changes}
        ordered = [(k, params[k]) for k in PARAMS if params.get(k)]
        return f"{path}?{urlencode(ordered)}" if ordered else path

    def agg_url(self, filter_id: str, code: str, *, only: bool = False) -> str:
        """Toggle one aggFilters option (or, with ``only``, select just it in its filter)."""
        agg = {k: list(v) for k, v in self.agg.items()}
        chosen = agg.setdefault(filter_id, [])
        if only:
            agg[filter_id] = [code]
        elif code in chosen:
            chosen.remove(code)
        else:
            chosen.append(code)
        return self.url(aggFilters=format_agg(agg) or None)

    @property
    def hidden(self) -> list[tuple[str, str]]:
        """Parameters a new search keeps: those outside the form (filters, sort), not the page."""
        return [(k, v) for k, v in self.params.items() if k not in (*FORM_PARAMS, "page")]

    @property
    def without_filters(self) -> str:
        """This search with every filter removed (the text, location and sort kept)."""
        return self.url(**dict.fromkeys(("aggFilters", "country", "city", *DATE_PARAMS)))

    @property
    def summary(self) -> str:
        """What was searched for, in words, for the page title."""
        return ", ".join(self.params[k] for k in (*TEXT_PARAMS, "locStr") if k in self.params)

    @property
    def has_query(self) -> bool:
        return bool(self.summary)

    def highlighter(self, result: SearchResult) -> re.Pattern[str] | None:
        """A pattern matching the words searched for and the synonyms the search used."""
        phrases: set[str] = set()
        for name in ("term", "cond", "intr", "titles"):
            text = _OPERATORS.sub(" ", self.params.get(name, ""))
            phrases.update(w for w in _WORD.findall(text) if len(w) > 1)
        for source, synonyms in result.expansions.items():
            phrases.update((source, *synonyms))
        if not phrases:
            return None
        parts = sorted(
            (r"[\W_]+".join(map(re.escape, _WORD.findall(p))) for p in phrases if _WORD.search(p)),
            key=len,
            reverse=True,
        )
        return re.compile(r"(?<![^\W_])(?:" + "|".join(parts) + r")(?:e?s)?(?![^\W_])", re.I)


def format_agg(agg: Mapping[str, list[str] | tuple[str, ...]]) -> str:
    """{"status": ["rec"], "phase": ["2", "3"]} -> "status:rec,phase:2 3" (the site's form)."""
    groups = []
    for filter_id, codes in agg.items():
        if codes:
            ordered = sorted(set(codes), key=_AGG_ORDER[filter_id].index)
            groups.append(f"{filter_id}:{' '.join(ordered)}")
    return ",".join(groups)


def _agg_codes(text: str) -> dict[str, tuple[str, ...]]:
    """Validated aggFilters as filter id -> codes (what links toggle), in the site's order."""
    parse_agg_filters(text)  # raises QueryError naming a bad filter or option
    agg: dict[str, list[str]] = {}
    current = ""
    for token in re.split(r"[\s,|]+", text.strip()):
        if ":" in token:
            current, _, token = token.partition(":")
            agg.setdefault(current, [])
        if token and token not in agg[current]:
            agg[current].append(token)
    return {k: tuple(sorted(v, key=_AGG_ORDER[k].index)) for k, v in agg.items() if v}


def _date_range(text: str, param: str) -> DateRange:
    low, _, high = text.partition("_")
    return DateRange.parse(low.strip() or None, high.strip() or None, param)


def _near(place: str, distance: str) -> Near:
    """locStr with a distance: the place geocoded offline.

    Accepted forms: "City, Country", "City, State, Country" and, for the United States,
    "City, State" ("Boston, Massachusetts" or "Boston, MA")."""
    parts = [p.strip() for p in place.split(",") if p.strip()]
    point = None
    if len(parts) == 2:
        point = geocode(parts[0], None, parts[1]) or geocode(parts[0], parts[1], "United States")
    elif len(parts) > 2:
        point = geocode(parts[0], parts[1], parts[-1])
    if point is None:
        raise QueryError(
            f"no place called “{place}” is known; write it as “City, Country”", "locStr"
        )
    return Near(*point, parse_distance_km(distance, "distance"))


def parse_web_params(query: Mapping[str, str]) -> WebQuery:
    """The page state for these URL parameters; QueryError names the first bad one.

    Parameters the page does not know are ignored (as ClinicalTrials.gov ignores them)."""
    params = {k: query[k].strip() for k in PARAMS if query.get(k, "").strip()}
    fields: dict[str, Any] = {name: params.get(name, "") for name in TEXT_PARAMS}
    if "locStr" in params and "distance" in params:
        fields["near"] = _near(params["locStr"], params["distance"])
    elif "locStr" in params or "state" in params:
        fields["locn"] = " ".join(params.get(k, "") for k in ("locStr", "state")).strip()
    if "distance" in params and "locStr" not in params:
        raise QueryError("a distance needs a location (locStr)", "distance")
    for name in ("country", "city"):
        if name in params:
            fields[name] = frozenset({params[name]})
    agg = _agg_codes(params.get("aggFilters", ""))
    for name, values in parse_agg_filters(params.get("aggFilters", "")).items():
        if name in ("healthy_volunteers", "has_results"):
            fields[name] = next(iter(values)) if len(values) == 1 else None
        else:
            fields[name] = frozenset(values)
    for param, name in DATE_PARAMS.items():
        if param in params:
            fields[name] = _date_range(params[param], param)
    fields["sort"] = parse_sort(params.get("sort", ""))
    raw_page = params.get("page", "1")
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise QueryError(f"must be a page number from 1 to {MAX_PAGE}", "page")
    page = int(raw_page)
    fields["page_size"] = page * PAGE_SIZE
    return WebQuery(params, agg, SearchRequest(**fields), page)


@dataclass(frozen=True, slots=True)
class FacetLink:
    label: str
    count: int
    url: str
    selected: bool


@dataclass(frozen=True, slots=True)
class FacetView:
    key: str
    title: str
    links: tuple[FacetLink, ...]
    more: tuple[FacetLink, ...] = ()


@dataclass(frozen=True, slots=True)
class ActiveFilter:
    label: str
    remove_url: str


@dataclass(frozen=True, slots=True)
class PageLink:
    label: str
    url: str
    current: bool = False


@dataclass(frozen=True)
class Pager:
    pages: int
    previous: str
    next: str
    links: tuple[PageLink | None, ...]  # None marks a gap


@dataclass(frozen=True)
class SearchPage:
    query: WebQuery
    result: SearchResult
    hits: list[Hit]
    facets: tuple[FacetView, ...]
    active: tuple[ActiveFilter, ...]
    pager: Pager
    highlight: re.Pattern[str] | None
    sort_options: tuple[tuple[str, str], ...] = field(default=SORT_OPTIONS)

    @property
    def first(self) -> int:
        return (self.query.page - 1) * PAGE_SIZE + 1

    @property
    def capped(self) -> bool:
        """True when there are more results than pages can reach."""
        return self.result.total > MAX_PAGE * PAGE_SIZE


def agg_code(request_field: str, value: str) -> tuple[str, str] | None:
    """The aggFilters (filter id, option) that selects this facet value, if the site has one."""
    return _AGG_CODES.get((request_field, value.lower()))


def _facet_view(query: WebQuery, facet: Facet) -> FacetView | None:
    links: dict[str, FacetLink] = {}
    if facet.name == "country":
        chosen = query.params.get("country")
        for v in facet.values:
            selected = v.value == chosen
            url = query.url(country=None if selected else v.value)
            links[v.value] = FacetLink(v.label, v.count, url, selected)
        if chosen and chosen not in links:
            links[chosen] = FacetLink(chosen, 0, query.url(country=None), True)
    else:
        for v in facet.values:
            found = agg_code(facet.name, v.value)
            if found is None:  # e.g. "does not accept healthy volunteers": no site filter
                continue
            filter_id, code = found
            previous = links.get(code)
            count = v.count + (previous.count if previous else 0)
            label = previous.label if previous else v.label
            selected = code in query.agg.get(filter_id, ())
            links[code] = FacetLink(label, count, query.agg_url(filter_id, code), selected)
    if not links:
        return None
    ordered = sorted(links.values(), key=lambda link: (not link.selected, -link.count))
    shown = [link for i, link in enumerate(ordered) if i < FACET_SHOWN or link.selected]
    more = tuple(link for link in ordered if link not in shown)
    return FacetView(facet.name, facet.label, tuple(shown), more)


def _active_filters(query: WebQuery, facets: Mapping[str, Facet]) -> tuple[ActiveFilter, ...]:
    labels = {agg_code(name, v.value): v.label for name, f in facets.items() for v in f.values}
    active = [
        ActiveFilter(
            f"{facets[AGG_FILTERS[fid][0]].label}: {labels.get((fid, code), code)}"
            if AGG_FILTERS[fid][0] in facets
            else f"{fid}: {code}",
            query.agg_url(fid, code),
        )
        for fid, codes in query.agg.items()
        for code in codes
    ]
    for name, label in (("country", "Country"), ("city", "City")):
        if name in query.params:
            active.append(ActiveFilter(f"{label}: {query.params[name]}", query.url(**{name: None})))
    for param in DATE_PARAMS:
        if param in query.params:
            value = query.params[param].replace("_", " to ")
            active.append(ActiveFilter(f"{param}: {value}", query.url(**{param: None})))
    return tuple(active)


def _pager(query: WebQuery, total: int) -> Pager:
    pages = min(math.ceil(total / PAGE_SIZE), MAX_PAGE)
    current = query.page
    wanted = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    links: list[PageLink | None] = []
    for number in wanted:
        if links and links[-1] is not None and int(links[-1].label) < number - 1:
            links.append(None)
        links.append(PageLink(str(number), query.url(page=str(number)), number == current))
    previous = query.url(page=str(current - 1)) if 1 < current <= pages + 1 else ""
    following = query.url(page=str(current + 1)) if current < pages else ""
    return Pager(pages, previous, following, tuple(links))


def search_page(store: Store, query: WebQuery) -> SearchPage:
    """Run the search for one page state and lay out everything the template shows."""
    result = search(store, query.request, facets=True)
    hits = result.hits[(query.page - 1) * PAGE_SIZE :]
    facets = tuple(v for f in result.facets.values() if (v := _facet_view(query, f)) is not None)
    sort = query.params.get("sort", "")
    options = SORT_OPTIONS
    if sort and sort not in dict(SORT_OPTIONS):
        options = (*SORT_OPTIONS, (sort, sort))
    return SearchPage(
        query,
        result,
        hits,
        facets,
        _active_filters(query, result.facets),
        _pager(query, result.total),
        query.highlighter(result),
        options,
    )


@dataclass(frozen=True, slots=True)
class Listing:
    """A hit as the result list shows it: labels instead of codes."""

    nct_id: str
    title: str
    status: str
    phase: str
    study_type: str
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    sponsor: str
    enrollment: str
    start: str
    last_update: str
    has_results: bool
    distance: str


def listing(hit: Hit) -> Listing:
    return Listing(
        nct_id=hit.nct_id,
        title=hit.title or hit.nct_id,
        status=enum_label(hit.overall_status, STATUS_LABELS),
        phase=phase_label(list(hit.phases)),
        study_type=(hit.study_type or "").replace("_", " ").capitalize(),
        conditions=hit.conditions,
        interventions=hit.interventions,
        sponsor=hit.lead_sponsor or "",
        enrollment="" if hit.enrollment is None else f"{hit.enrollment:,}",
        start=format_date(hit.start_date),
        last_update=format_date(hit.last_update_date),
        has_results=hit.has_results,
        distance="" if hit.distance_km is None else f"{hit.distance_km / KM_PER_MILE:,.0f} mi",
    )


def status_url(status: str) -> str:
    """The search for every study with this overall status (home page counts)."""
    found = agg_code("status", status)
    return f"/search?{urlencode({'aggFilters': f'{found[0]}:{found[1]}'})}" if found else "/search"
