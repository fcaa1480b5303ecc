"""The registry web site: server-rendered HTML pages that work without JavaScript.

Routes: ``/`` (home), ``/search``, ``/study/{nct_id}`` (the seed-like detail page),
``/study/{nct_id}/history`` and ``/landscape``; static files under ``/static``. Every page
state lives in the URL (GET forms and links). Errors on pages render as HTML; errors under
``/api`` go to whatever handler the API registered, so API clients keep JSON.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from trialatlas.records.detail import STATUS_LABELS, build_detail, enum_label, phase_label
from trialatlas.records.document import NCT_ID
from trialatlas.search import QueryError, SearchRequest, SortKey, related, search
from trialatlas.store import Store
from trialatlas.web.app import store_of
from trialatlas.web.views.cache import ExpiringCache
from trialatlas.web.views.history import compare, module_title
from trialatlas.web.views.landscape import landscape
from trialatlas.web.views.render import render
from trialatlas.web.views.search import (
    WebQuery,
    listing,
    parse_web_params,
    search_page,
    status_url,
)
from trialatlas.web.views.study import CRITERIA_LABEL, RelatedTrial, is_empty, study_view

T = TypeVar("T")
router = APIRouter(include_in_schema=False)
API_PREFIX = "/api"
SEE_ALSO = 20  # related trials on a detail page, as many as the seed page lists
_see_also_cache: ExpiringCache[tuple[RelatedTrial, ...]] = ExpiringCache(4096, 300)
RECENT = 8  # recently updated trials on the home page


def _nct_id(raw: str) -> str:
    """The canonical NCT id, or a 404 that says what an NCT number looks like."""
    nct_id = raw.strip().upper()
    if not NCT_ID.match(nct_id):
        raise HTTPException(
            404, f"“{raw}” is not an NCT number: they look like NCT04952155 (NCT and 8 digits)."
        )
    return nct_id


def _canonical(request: Request, raw: str, nct_id: str) -> Response | None:
    """A permanent redirect from a lower-case or padded id to the canonical URL."""
    if raw == nct_id:
        return None
    path = request.url.path.replace(raw, nct_id, 1)
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(path + query, status_code=301)


def _not_in_registry(nct_id: str) -> HTTPException:
    return HTTPException(404, f"{nct_id} is not in this registry.")


def _positive_int(request: Request, name: str) -> int | None:
    """An optional whole-number query parameter ≥ 1; anything else is a 400 naming it."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise HTTPException(400, f"“{name}” must be a whole number from 1 up, not “{raw}”.")
    return int(raw)


@router.get("/study/{raw_id}")
def study_page(request: Request, raw_id: str) -> Response:
    """The detail page: the seed page's sections, then arms, references, results, See also."""
    nct_id = _nct_id(raw_id)
    if redirect := _canonical(request, raw_id, nct_id):
        return redirect
    store = store_of(request)
    document = store.document(nct_id)
    if document is None:
        raise _not_in_registry(nct_id)
    view = study_view(document, _see_also(request, nct_id), len(store.versions(nct_id)))
    return render("study.html", view=view, is_empty=is_empty, criteria_label=CRITERIA_LABEL)


def _see_also(request: Request, nct_id: str) -> tuple[RelatedTrial, ...]:
    """The related trials of a detail page, cached a few minutes per database (views.cache)."""
    store = store_of(request)

    def compute() -> tuple[RelatedTrial, ...]:
        return tuple(
            RelatedTrial(
                hit.nct_id,
                hit.title or "",
                enum_label(hit.overall_status, STATUS_LABELS),
                phase_label(list(hit.phases)),
            )
            for hit in related(store, nct_id, SEE_ALSO) or ()
        )

    return _see_also_cache.get((request.app.state.stores.url, nct_id), compute)


@router.get("/study/{raw_id}/history")
def history_page(request: Request, raw_id: str) -> Response:
    """The versions of one record and a side-by-side diff of two (latest two by default)."""
    nct_id = _nct_id(raw_id)
    if redirect := _canonical(request, raw_id, nct_id):
        return redirect
    store = store_of(request)
    versions = store.versions(nct_id)
    if not versions:
        raise _not_in_registry(nct_id)
    latest = versions[-1].version
    to = _positive_int(request, "to") or latest
    start = _positive_int(request, "from") or max(to - 1, 1)
    for version in (to, start):
        if version > latest:
            raise HTTPException(
                400, f"{nct_id} has {latest} version{'s' if latest > 1 else ''}, not {version}."
            )
    old, new = store.document(nct_id, start), store.document(nct_id, to)
    assert old is not None and new is not None
    return render(
        "history.html",
        nct_id=nct_id,
        title=build_detail(new).header.title,
        versions=versions,
        start=start,
        to=to,
        modules=compare(old, new) if start != to else (),
        module_title=module_title,
    )


@router.get("/")
def home_page(request: Request) -> Response:
    """A search box, what the registry holds, and the trials updated most recently."""
    store = store_of(request)
    recent = search(
        store, SearchRequest(sort=(SortKey("last_update", True),), page_size=RECENT)
    ).hits
    statuses = [
        {"label": enum_label(status, STATUS_LABELS) or "Not given", "count": n,
         "url": status_url(status or "")}
        for status, n in store.counts_by("overall_status")
    ]  # fmt: skip
    return render(
        "home.html",
        total=store.count(),
        statuses=statuses,
        recent=[listing(hit) for hit in recent],
        section_name="home",
    )


def _searched(request: Request, view_of: Callable[[Store, WebQuery], T]) -> T:
    """A search view for the page state in the URL; a bad parameter is a 400 naming it."""
    try:
        return view_of(store_of(request), parse_web_params(request.query_params))
    except QueryError as exc:
        param = (exc.param or "").removeprefix("query.")  # the search layer's API names
        where = f"The “{param}” parameter is not usable: " if param else ""
        raise HTTPException(400, f"{where}{exc.message}.") from None


def _without_empty_fields(request: Request) -> Response | None:
    """A redirect to the same state without the empty fields a GET form submits.

    Keeps URLs short and shareable when the browser runs no script (site.js drops empty
    fields before submitting)."""
    items = request.query_params.multi_items()
    if all(value.strip() for _, value in items):
        return None
    kept = urlencode([(name, value) for name, value in items if value.strip()])
    return RedirectResponse(f"{request.url.path}?{kept}" if kept else request.url.path, 303)


@router.get("/search")
def search_results(request: Request) -> Response:
    """Results, filters with counts, sort and pages for ClinicalTrials.gov search URLs."""
    if redirect := _without_empty_fields(request):
        return redirect
    view = _searched(request, search_page)
    return render("search.html", view=view, listing=listing, section_name="search")


@router.get("/landscape")
def landscape_page(request: Request) -> Response:
    """Charts of one search's studies by status, phase, start year and country."""
    if redirect := _without_empty_fields(request):
        return redirect
    view = _searched(request, landscape)
    return render("landscape.html", view=view, section_name="landscape")


def _is_api(request: Request) -> bool:
    return request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/")


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    response = handler(request, exc)
    return await response if inspect.isawaitable(response) else response


def register(app: FastAPI) -> None:
    """Add the pages, the static files and HTML error pages (for non-API paths) to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(packages=[("trialatlas.web", "static")]), name="static")
    api_http = app.exception_handlers.get(HTTPException, http_exception_handler)
    api_validation = app.exception_handlers.get(
        RequestValidationError, request_validation_exception_handler
    )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if _is_api(request) or not isinstance(exc, HTTPException):
            return await _call(api_http, request, exc)
        detail = str(exc.detail)
        if detail == HTTPStatus(exc.status_code).phrase:
            detail = _ERROR_MESSAGES.get(exc.status_code, detail)
        return _error_page(exc.status_code, detail, exc.headers)

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await _call(api_validation, request, exc)
        return _error_page(400, "The address has a parameter this page cannot use.")

    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)


_ERROR_TITLES = {400: "Bad request", 404: "Page not found", 405: "Method not allowed"}
# Said instead of a bare reason phrase ("Not Found") when the router raised the error.
_ERROR_MESSAGES = {
    404: "There is no page at this address.",
    405: "This address only answers GET requests.",
}


def _error_page(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = render(
        "error.html",
        status_code=status,
        status=status,
        title=_ERROR_TITLES.get(status, "Something went wrong"),
        message=message,
    )
    if headers:
        response.headers.update(headers)
    return response
