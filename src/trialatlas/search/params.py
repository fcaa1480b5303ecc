"""ClinicalTrials.gov API v2 query parameters -> SearchRequest, refusing what it cannot honour.

Unknown parameters and bad values raise QueryError naming the parameter, as the original
answers HTTP 400 ("`filter.phase` is unknown parameter"). Accepted but without effect here:
`geoDecay` (validated; distance does not change ranking) and `markupFormat=markdown` (the
stored text is already markdown). Refused: `filter.synonyms` (there are no synonym ids).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trialatlas.search.essie import only_nct_ids
from trialatlas.search.geo import parse_distance_km, parse_point
from trialatlas.search.plan import QUERY_AREAS
from trialatlas.search.query import (
    FUNDER_LABELS,
    MAX_PAGE_SIZE,
    SORT_FIELDS,
    STATUS_LABELS,
    Near,
    QueryError,
    SearchRequest,
    SortKey,
)

DEFAULT_PAGE_SIZE = 10

# aggFilters: filter id -> (request field, option key -> value(s)), ClinicalTrials.gov's codes
AGG_FILTERS: dict[str, tuple[str, dict[str, tuple[object, ...]]]] = {
    "status": ("status", {
        "rec": ("RECRUITING",), "not": ("NOT_YET_RECRUITING",), "act": ("ACTIVE_NOT_RECRUITING",),
        "com": ("COMPLETED",), "ter": ("TERMINATED",), "enr": ("ENROLLING_BY_INVITATION",),
        "sus": ("SUSPENDED",), "wit": ("WITHDRAWN",), "unk": ("UNKNOWN",),
        "ava": ("AVAILABLE",), "nla": ("NO_LONGER_AVAILABLE",),
        "tna": ("TEMPORARILY_NOT_AVAILABLE",), "afm": ("APPROVED_FOR_MARKETING",),
        "whd": ("WITHHELD",),
    }),
    "phase": ("phase", {
        "0": ("EARLY_PHASE1",), "1": ("PHASE1",), "2": ("PHASE2",), "3": ("PHASE3",),
        "4": ("PHASE4",), "na": ("NA",),
    }),
    "studyType": ("study_type", {
        "int": ("INTERVENTIONAL",), "obs": ("OBSERVATIONAL",), "exp": ("EXPANDED_ACCESS",),
    }),
    "sex": ("sex", {"f": ("FEMALE",), "m": ("MALE",)}),
    "ages": ("age_group", {"child": ("CHILD",), "adult": ("ADULT",), "older": ("OLDER_ADULT",)}),
    "healthy": ("healthy_volunteers", {"y": (True,)}),
    "results": ("has_results", {"with": (True,), "without": (False,)}),
    "funderType": ("funder_type", {
        "nih": ("NIH",), "fed": ("FED",), "industry": ("INDUSTRY",),
        "other": tuple(c for c in FUNDER_LABELS if c not in ("NIH", "FED", "INDUSTRY")),
    }),
}  # fmt: skip

# Every parameter /api/v2/studies accepts, with the help text its OpenAPI entry shows
PARAMETERS: dict[str, str] = {
    "format": "json (default) or csv",
    "markupFormat": "markdown (default; the only format served)",
    **{
        f"query.{name}": f"Essie expression searched in the {area} area"
        for name, area in QUERY_AREAS.items()
    },
    "filter.overallStatus": "comma- or pipe-separated statuses, e.g. RECRUITING|NOT_YET_RECRUITING",
    "filter.geo": "distance(latitude,longitude,distance), distance like 50mi or 80km",
    "filter.ids": "comma- or pipe-separated NCT ids",
    "filter.advanced": "Essie expression; filters without affecting ranking",
    "postFilter.overallStatus": "as filter.overallStatus",
    "postFilter.geo": "as filter.geo",
    "postFilter.ids": "as filter.ids",
    "postFilter.advanced": "as filter.advanced",
    "aggFilters": "filter_id:option keys, e.g. status:rec,phase:2 3,ages:older",
    "geoDecay": "accepted for compatibility; distance does not change ranking here",
    "fields": "comma- or pipe-separated field paths, piece or module names",
    "sort": "up to two of @relevance, LastUpdatePostDate, StudyFirstPostDate, StartDate, "
    "PrimaryCompletionDate, CompletionDate, EnrollmentCount, each optionally :asc or :desc",
    "countTotal": "true: return totalCount with the first page",
    "pageSize": f"1..{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}; larger is capped)",
    "pageToken": "nextPageToken of the previous page",
}
_LIST_SPLIT = re.compile(r"[,|]")
_GEO = re.compile(r"^distance\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*([^)]*)\)$")
_NCT = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")
_GEO_DECAY = re.compile(
    r"^func:(gauss|exp|linear),scale:(\d+(\.\d+)?(km|mi)),offset:(\d+(\.\d+)?(km|mi)),"
    r"decay:(\d+(\.\d+)?)$"
)


@dataclass(frozen=True)
class ApiQuery:
    """A parsed /api/v2/studies request: the search plus how to present it."""

    request: SearchRequest
    format: str = "json"
    fields: tuple[str, ...] = ()
    count_total: bool = False


def normalize_nct_id(text: str, param: str) -> str:
    """'nct4952155' -> 'NCT04952155'; ClinicalTrials.gov accepts ids without leading zeros."""
    match = _NCT.match(text.strip())
    if not match:
        raise QueryError(f"{text!r} is not an NCT id", param)
    return f"NCT{int(match[1]):08d}"


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1 and name not in _MULTI:
        raise QueryError("given more than once", name)
    return ",".join(values) if name in _MULTI else values[0]


_MULTI = frozenset({"fields", "filter.overallStatus", "filter.ids", "postFilter.overallStatus",
                    "postFilter.ids", "aggFilters", "sort"})  # fmt: skip


def _items(text: str) -> list[str]:
    return [item.strip() for item in _LIST_SPLIT.split(text) if item.strip()]


def parse_api_params(params: Mapping[str, Sequence[str]]) -> ApiQuery:
    """Read /api/v2/studies parameters (name -> every value given) into an ApiQuery."""
    for name in params:
        if name not in PARAMETERS:
            raise QueryError(f"`{name}` is unknown parameter", name)
    fmt = (_one(params, "format") or "json").lower()
    if fmt not in ("json", "csv"):
        raise QueryError("must be json or csv", "format")
    if (_one(params, "markupFormat") or "markdown") != "markdown":
        raise QueryError("only markdown is served", "markupFormat")
    decay = _one(params, "geoDecay")
    if decay is not None and not _GEO_DECAY.match(decay):
        raise QueryError("expected func:exp,scale:300mi,offset:0mi,decay:0.5", "geoDecay")
    texts = {name: _one(params, f"query.{name}") or "" for name in QUERY_AREAS}
    fields: dict[str, object] = dict(texts)
    fields["ignore_filters"] = any(only_nct_ids(text) for text in texts.values() if text)
    statuses: set[str] | None = None
    ids: set[str] | None = None
    advanced: list[str] = []
    near = None
    for prefix in ("filter", "postFilter"):
        status_text = _one(params, f"{prefix}.overallStatus")
        if status_text is not None:
            given = {s.upper() for s in _items(status_text)}
            unknown = sorted(given - set(STATUS_LABELS))
            if unknown:
                raise QueryError(f"unknown status {unknown[0]!r}", f"{prefix}.overallStatus")
            statuses = given if statuses is None else statuses & given
        ids_text = _one(params, f"{prefix}.ids")
        if ids_text is not None:
            given = {normalize_nct_id(i, f"{prefix}.ids") for i in _items(ids_text)}
            ids = given if ids is None else ids & given
        advanced_text = _one(params, f"{prefix}.advanced")
        if advanced_text:
            advanced.append(f"({advanced_text})")
        geo_text = _one(params, f"{prefix}.geo")
        if geo_text is not None:
            if near is not None:
                raise QueryError("give one of filter.geo and postFilter.geo", f"{prefix}.geo")
            near = parse_geo(geo_text, f"{prefix}.geo")
    if statuses is not None:
        fields["status"] = frozenset(statuses)
    if ids is not None:
        fields["ids"] = frozenset(ids) or frozenset({"NCT00000000"})  # disjoint: matches none
    fields["advanced"] = " AND ".join(advanced)
    fields["near"] = near
    agg = parse_agg_filters(_one(params, "aggFilters") or "")
    for name, values in agg.items():
        if name == "status" and "status" in fields:
            values = frozenset(values) & fields["status"]  # type: ignore[operator]
        if name in ("healthy_volunteers", "has_results"):
            fields[name] = next(iter(values)) if len(values) == 1 else None
        else:
            fields[name] = frozenset(values)
    fields["sort"] = parse_sort(_one(params, "sort") or "")
    fields["page_size"] = parse_page_size(_one(params, "pageSize"))
    fields["page_token"] = _one(params, "pageToken") or None
    count_total = (_one(params, "countTotal") or "false").lower()
    if count_total not in ("true", "false"):
        raise QueryError("must be true or false", "countTotal")
    field_names = tuple(_items(_one(params, "fields") or ""))
    if "fields" in params and not field_names:
        raise QueryError("must name at least one field", "fields")
    return ApiQuery(SearchRequest(**fields), fmt, field_names, count_total == "true")  # type: ignore[arg-type]


def parse_geo(text: str, param: str) -> Near:
    match = _GEO.match(text.strip())
    if not match:
        raise QueryError("expected distance(latitude,longitude,distance)", param)
    lat, lon = parse_point(match[1], match[2], param)
    return Near(lat, lon, parse_distance_km(match[3], param))


def parse_agg_filters(text: str) -> dict[str, set[object]]:
    """'status:rec act,phase:2' (or space-separated pairs) -> request field -> values."""
    result: dict[str, set[object]] = {}
    current: str | None = None
    for token in re.split(r"[\s,|]+", text.strip()):
        if not token:
            continue
        if ":" in token:
            name, _, token = token.partition(":")
            if name not in AGG_FILTERS:
                raise QueryError(f"unknown filter {name!r}", "aggFilters")
            current = name
            if not token:
                continue
        if current is None:
            raise QueryError(f"option {token!r} has no filter (use filter:option)", "aggFilters")
        field, options = AGG_FILTERS[current]
        if token not in options:
            raise QueryError(
                f"unknown option {token!r} for {current}; expected one of {', '.join(options)}",
                "aggFilters",
            )
        result.setdefault(field, set()).update(options[token])
    return result


def parse_sort(text: str) -> tuple[SortKey, ...]:
    keys = []
    for item in _items(text):
        name, _, direction = item.partition(":")
        field = SORT_FIELDS.get(name.strip()) or next(
            (v for k, v in SORT_FIELDS.items() if k.lower() == name.strip().lower()), None
        )
        if field is None:
            raise QueryError(f"cannot sort by {name!r}; sortable: {', '.join(SORT_FIELDS)}", "sort")
        if direction.lower() not in ("", "asc", "desc"):
            raise QueryError(f"direction must be asc or desc, not {direction!r}", "sort")
        descending = field[1] if not direction else direction.lower() == "desc"
        keys.append(SortKey(field[0], descending))
    if len(keys) > 2:
        raise QueryError("at most two sort keys", "sort")
    return tuple(keys)


def parse_page_size(text: str | None) -> int:
    """As the original: missing or 0 means the default; over the maximum is capped."""
    if text is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(text)
    except ValueError:
        raise QueryError("must be a whole number", "pageSize") from None
    if size < 0:
        raise QueryError("must not be negative", "pageSize")
    return min(size, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
