"""From a SearchRequest to what a backend executes: one ranked expression plus filters.

Filters are kept apart, each under the facet it belongs to, because facet counts exclude
their own facet's filter: with "status = Recruiting" selected, the status facet still shows
how many Completed trials match everything else (the usual faceted-search behaviour, which
lets a user widen a selection as well as narrow it).
"""

from __future__ import annotations

from dataclasses import dataclass

from trialatlas.search.essie import And, Node, Or, Pred, parse
from trialatlas.search.query import DATE_FIELDS, QueryError, SearchRequest, SortKey

# query.* request fields -> the search area each is parsed in
QUERY_AREAS = {
    "cond": "ConditionSearch",
    "term": "BasicSearch",
    "intr": "InterventionSearch",
    "titles": "TitleSearch",
    "outc": "OutcomeSearch",
    "spons": "SponsorSearch",
    "lead": "LeadSponsorName",
    "locn": "LocationSearch",
    "id": "IdSearch",
    "patient": "PatientSearch",
}
API_PARAM = {name: f"query.{name}" for name in QUERY_AREAS}
# Facets, in display order: request field -> label
FACETS = {
    "status": "Status",
    "phase": "Phase",
    "study_type": "Study type",
    "age_group": "Age group",
    "sex": "Sex",
    "healthy_volunteers": "Accepts healthy volunteers",
    "funder_type": "Funder type",
    "has_results": "Results",
    "country": "Country",
}


@dataclass(frozen=True)
class Plan:
    ranked: Node | None  # the query.* expressions (AND-ed): they decide relevance
    filters: tuple[tuple[str | None, Node], ...]  # (facet name or None, condition)
    sort: tuple[SortKey, ...]


def _parse_area(request: SearchRequest, name: str) -> Node | None:
    text = getattr(request, name)
    if not text.strip():
        return None
    try:
        node = parse(text, QUERY_AREAS[name])
    except QueryError as exc:
        raise QueryError(exc.message, API_PARAM[name]) from None
    if name == "id" and isinstance(node, And):  # "Study IDs" query: any of the ids
        node = Or(node.items)
    return node


def build_plan(request: SearchRequest) -> Plan:
    """Parse and type-check every part of the request; raises QueryError naming the input."""
    ranked_items = [_parse_area(request, name) for name in QUERY_AREAS]
    ranked_items = [node for node in ranked_items if node is not None]
    ranked = None
    if ranked_items:
        ranked = ranked_items[0] if len(ranked_items) == 1 else And(tuple(ranked_items))
    sort = request.sort or (SortKey("relevance", True),)
    if request.ignore_filters:
        return Plan(ranked, (), sort)
    filters: list[tuple[str | None, Node]] = []
    if request.advanced.strip():
        try:
            advanced = parse(request.advanced)
        except QueryError as exc:
            raise QueryError(exc.message, "filter.advanced") from None
        if advanced is not None:
            filters.append((None, advanced))
    for name in ("status", "phase", "study_type", "age_group", "funder_type", "country"):
        values = getattr(request, name)
        if values:
            filters.append((name, Pred(name, "in", tuple(sorted(values)))))
    if request.sex:  # "accepts": a study open to all sexes accepts either
        filters.append(("sex", Pred("sex", "in", tuple(sorted({*request.sex, "ALL"})))))
    for name in ("healthy_volunteers", "has_results"):
        value = getattr(request, name)
        if value is not None:
            filters.append((name, Pred(name, "in", (value,))))
    if request.ids:
        filters.append((None, Pred("ids", "in", tuple(sorted(request.ids)))))
    if request.city:
        filters.append((None, Pred("city", "in", tuple(sorted(request.city)))))
    if request.age is not None:
        filters.append(
            (None, Pred("age", "range", low=request.age.min_days, high=request.age.max_days))
        )
    if request.near is not None:
        near = request.near
        filters.append((None, Pred("near", "within", (near.lat, near.lon, near.km))))
    for name in DATE_FIELDS:
        span = getattr(request, name)
        if span is not None and (span.start or span.end):
            filters.append((None, Pred(name, "range", low=span.start, high=span.end)))
    return Plan(ranked, tuple(filters), sort)
