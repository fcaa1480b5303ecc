"""The landscape page's view: counts by status, phase, start year and country as charts.

Status, phase and country counts are the search layer's facet counts for the page's query;
start years are counted with one date-range search per year (fast: the search layer keeps
its filter columns in memory), between the earliest and latest start the query matches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trialatlas.search import DateRange, SearchRequest, SortKey, search
from trialatlas.search.query import PHASE_LABELS
from trialatlas.store import Store
from trialatlas.web.views.charts import Chart, Datum, bar_chart, column_chart
from trialatlas.web.views.search import WebQuery, agg_code

MAX_YEARS = 40  # years charted one by one; earlier starts share one "Earlier" column
TOP_COUNTRIES = 15


@dataclass(frozen=True)
class Landscape:
    query: WebQuery
    total: int
    charts: tuple[Chart, ...]


def _agg_data(query: WebQuery, name: str, values: list[tuple[str, str, int]]) -> list[Datum]:
    data = []
    for value, label, count in values:
        found = agg_code(name, value)
        url = query.agg_url(*found, only=True) if found else query.url()
        data.append(Datum(label, count, url))
    return data


def _count(store: Store, request: SearchRequest) -> int:
    return search(store, replace(request, page_size=1)).total


def _start_year(store: Store, request: SearchRequest, descending: bool) -> int | None:
    ordered = replace(request, page_size=1, sort=(SortKey("start", descending),))
    hits = search(store, ordered).hits
    date = hits[0].start_date if hits else None
    return int(date[:4]) if date and date[:4].isdigit() else None


def _clip(request: SearchRequest, low: str | None, high: str | None) -> SearchRequest:
    """The request with its start-date range narrowed to [low, high]."""
    given = request.start or DateRange()
    lows = [d for d in (low, given.start) if d]
    highs = [d for d in (high, given.end) if d]
    return replace(request, start=DateRange(max(lows, default=None), min(highs, default=None)))


def _years(store: Store, query: WebQuery) -> list[Datum]:
    request = query.request
    first, last = _start_year(store, request, False), _start_year(store, request, True)
    if first is None or last is None:
        return []
    data = []
    if last - first >= MAX_YEARS:
        first = last - MAX_YEARS + 1
        earlier = _count(store, _clip(request, None, f"{first - 1}-12-31"))
        data.append(Datum(f"< {first}", earlier, query.url(start=f"_{first - 1}-12-31")))
    for year in range(first, last + 1):
        low, high = f"{year}-01-01", f"{year}-12-31"
        count = _count(store, _clip(request, low, high))
        data.append(Datum(str(year), count, query.url(start=f"{low}_{high}")))
    return data


def landscape(store: Store, query: WebQuery) -> Landscape:
    """Every chart of the landscape page for one search."""
    result = search(store, replace(query.request, page_size=1), facets=True)
    facets = {
        name: [(v.value, v.label, v.count) for v in facet.values]
        for name, facet in result.facets.items()
    }
    phase_order = list(PHASE_LABELS)
    phases = sorted(facets.get("phase", []), key=lambda v: phase_order.index(v[0]))
    countries = [
        Datum(label, count, query.url(country=value))
        for value, label, count in facets.get("country", [])[:TOP_COUNTRIES]
    ]
    charts = (
        bar_chart("status", "Overall status", _agg_data(query, "status", facets.get("status", []))),
        bar_chart("phase", "Phase", _agg_data(query, "phase", phases)),
        column_chart("start-year", "Start year", _years(store, query)),
        bar_chart("country", f"Countries (top {TOP_COUNTRIES})", countries),
    )
    return Landscape(query, result.total, charts)
