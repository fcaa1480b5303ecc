"""The JSON API: ClinicalTrials.gov API v2's study endpoints over the local store.

A client written for https://clinicaltrials.gov/api/v2 works unchanged against /api/v2:
same parameters, same response shapes, same page tokens protocol, and HTTP 400 with a
plain-text reason naming the parameter for anything it cannot honour. trialatlas's own
additions live beside it: /api/v2/studies/{nctId}/related and /api/trialatlas/facets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from trialatlas import search as search_layer
from trialatlas.search.fields import csv_columns, csv_row, project, projection
from trialatlas.search.params import PARAMETERS, normalize_nct_id, parse_api_params
from trialatlas.search.query import QueryError
from trialatlas.web.app import store_of

API_VERSION = "2.0.5"  # the ClinicalTrials.gov API version whose shapes this follows
_JSON = "application/json"
_STUDY_PARAMETERS = {"format": "json (default) or csv", "fields": PARAMETERS["fields"],
                     "markupFormat": PARAMETERS["markupFormat"]}  # fmt: skip
_FACET_PARAMETERS = {
    k: v for k, v in PARAMETERS.items() if k not in ("format", "fields", "pageToken", "pageSize")
}


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON, headers=headers)


def _bad_request(exc: QueryError) -> Response:
    message = exc.message
    if exc.param and exc.param not in message:
        message = f"Parameter '{exc.param}': {message}"
    return PlainTextResponse(message, status_code=400)


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def _openapi(parameters: Mapping[str, str]) -> dict[str, Any]:
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
             "description": text}
            for name, text in parameters.items()
        ],
        "responses": {"400": {"description": "a parameter it cannot honour, named in the text"}},
    }  # fmt: skip


def _check_only(params: Mapping[str, Sequence[str]], allowed: Mapping[str, str]) -> None:
    for name in params:
        if name not in allowed:
            raise QueryError(f"`{name}` is unknown parameter", name)


def _csv(documents: list[dict[str, Any]], fields: Sequence[str], header: bool) -> str:
    columns = csv_columns(fields)
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(columns)
    writer.writerows(csv_row(d, columns) for d in documents)
    return out.getvalue()


def list_studies(request: Request) -> Response:
    """GET /api/v2/studies: one page of studies matching the query and filters."""
    try:
        query = parse_api_params(_params(request))
        tree = projection(query.fields) if query.format == "json" else None
        if query.format == "csv":
            csv_columns(query.fields)  # validate before searching
        store = store_of(request)
        result = search_layer.search(store, query.request)
    except QueryError as exc:
        return _bad_request(exc)
    documents = search_layer.documents(store, [hit.nct_id for hit in result.hits])
    first_page = query.request.page_token is None
    if query.format == "csv":
        headers = {}
        if query.count_total and first_page:
            headers["x-total-count"] = str(result.total)
        if result.next_page_token:
            headers["x-next-page-token"] = result.next_page_token
        body = _csv(documents, query.fields, header=first_page)
        return Response(body, media_type="text/csv", headers=headers)
    payload: dict[str, Any] = {"studies": [project(d, tree) for d in documents]}
    if result.next_page_token:
        payload["nextPageToken"] = result.next_page_token
    if query.count_total and first_page:
        payload["totalCount"] = result.total
    return _json(payload)


def get_study(nct_id: str, request: Request) -> Response:
    """GET /api/v2/studies/{nctId}: one study (404 unknown, 400 malformed id)."""
    params = _params(request)
    try:
        _check_only(params, _STUDY_PARAMETERS)
        nct_id = normalize_nct_id(nct_id, "nctId")
        fmt = (params.get("format") or ["json"])[0].lower()
        if fmt not in ("json", "csv"):
            raise QueryError("must be json or csv", "format")
        names = [
            n.strip() for v in params.get("fields", []) for n in v.replace("|", ",").split(",")
        ]
        names = [n for n in names if n]
        tree = projection(names) if fmt == "json" else None
        if fmt == "csv":
            csv_columns(names)
    except QueryError as exc:
        return _bad_request(exc)
    document = store_of(request).document(nct_id)
    if document is None:
        return PlainTextResponse(f"Study {nct_id} not found", status_code=404)
    if fmt == "csv":
        return Response(_csv([document], names, header=True), media_type="text/csv")
    return _json(project(document, tree))


def related_studies(nct_id: str, request: Request) -> Response:
    """GET /api/v2/studies/{nctId}/related (trialatlas): the study's "See also" list."""
    params = _params(request)
    try:
        _check_only(params, {"limit": "1..100, default 10"})
        nct_id = normalize_nct_id(nct_id, "nctId")
        limit_text = (params.get("limit") or ["10"])[0]
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise QueryError("must be a whole number 1..100", "limit")
    except QueryError as exc:
        return _bad_request(exc)
    hits = search_layer.related(store_of(request), nct_id, int(limit_text))
    if hits is None:
        return PlainTextResponse(f"Study {nct_id} not found", status_code=404)
    return _json({
        "nctId": nct_id,
        "related": [
            {"nctId": h.nct_id, "briefTitle": h.title, "overallStatus": h.overall_status,
             "phases": list(h.phases), "conditions": list(h.conditions)}
            for h in hits
        ],
    })  # fmt: skip


def facets(request: Request) -> Response:
    """GET /api/trialatlas/facets: counts per filter value over the current result.

    Takes /api/v2/studies's search parameters. Each facet's counts ignore that facet's own
    filter (selecting "Recruiting" still shows how many Completed trials match the rest).
    """
    params = _params(request)
    try:
        _check_only(params, _FACET_PARAMETERS)
        query = parse_api_params(params)
        result = search_layer.search(store_of(request), query.request.with_page(None), facets=True)
    except QueryError as exc:
        return _bad_request(exc)
    return _json({
        "totalCount": result.total,
        "facets": [
            {"name": f.name, "label": f.label,
             "values": [{"value": v.value, "label": v.label, "count": v.count} for v in f.values]}
            for f in result.facets.values()
        ],
        "synonyms": {k: list(v) for k, v in result.expansions.items()},
    })  # fmt: skip


def size(request: Request) -> Response:
    """GET /api/v2/stats/size: how many studies and how big their JSON documents are."""
    try:
        _check_only(_params(request), {})
    except QueryError as exc:
        return _bad_request(exc)
    return _json(search_layer.size_stats(store_of(request)))


def version(request: Request) -> Response:
    """GET /api/v2/version: the API version followed and when the data last changed."""
    from trialatlas import __version__

    return _json({"apiVersion": API_VERSION,
                  "dataTimestamp": search_layer.data_timestamp(store_of(request)),
                  "trialatlasVersion": __version__})  # fmt: skip


def register(app: FastAPI) -> None:
    """Add the API routes to ``app`` (they appear in /openapi.json)."""
    studies = _openapi(PARAMETERS)
    app.add_api_route(
        "/api/v2/studies",
        list_studies,
        methods=["GET"],
        openapi_extra=studies,
        summary="Studies matching a query, page by page",
        tags=["studies"],
    )
    app.add_api_route(
        "/api/v2/studies/{nct_id}/related",
        related_studies,
        methods=["GET"],
        openapi_extra=_openapi({"limit": "1..100, default 10"}),
        summary="Related studies (trialatlas)",
        tags=["studies"],
    )
    app.add_api_route(
        "/api/v2/studies/{nct_id}",
        get_study,
        methods=["GET"],
        openapi_extra=_openapi(_STUDY_PARAMETERS),
        summary="One study",
        tags=["studies"],
    )
    app.add_api_route(
        "/api/v2/stats/size",
        size,
        methods=["GET"],
        tags=["stats"],
        summary="Study count and JSON sizes",
    )
    app.add_api_route(
        "/api/v2/version",
        version,
        methods=["GET"],
        tags=["version"],
        summary="API version and data timestamp",
    )
    app.add_api_route("/api/trialatlas/facets", facets, methods=["GET"],
                      openapi_extra=_openapi(_FACET_PARAMETERS), tags=["trialatlas"],
                      summary="Facet counts for a search (trialatlas)")  # fmt: skip
