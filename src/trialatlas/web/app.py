"""The ASGI application: the JSON API and the HTML pages, over one store.

Routers live beside this module (`api.py` for /api, `pages.py` for the site, `match.py` for
eligibility matching); this module only wires them together with the store and the
security headers every response carries.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trialatlas import search
from trialatlas.store import Store, StoreUnavailable, database_url, open_store

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_RAW_SECURITY_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response that does not set them itself.

    A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` (what `@app.middleware("http")`
    builds) passes each response through an extra task and memory stream, which cost more
    per request than the page's own work on a cached detail page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [item for item in _RAW_SECURITY_HEADERS if item[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Site(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        """The stack inside `SecurityHeaders`: outside Starlette's ServerErrorMiddleware,
        which answers an unhandled error, so a 500 page carries the headers too."""
        return SecurityHeaders(super().build_middleware_stack())


class StoreProvider:
    """One store connection per worker thread: SQLite connections are not shared."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    def get(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self.url)
        return store


def create_app(database: str | None = None) -> FastAPI:
    """The whole site and API for the store at ``database`` (see `database_url`)."""
    from trialatlas import __version__

    # The routers import `store_of` from this module: imported here, not at the top.
    from trialatlas.web import api, match, pages

    app = _Site(
        title="trialatlas",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=_warm_search_on_start,
    )
    app.state.stores = StoreProvider(database_url(database))
    for module in (api, pages, match):
        module.register(app)
    return app


@asynccontextmanager
async def _warm_search_on_start(app: FastAPI) -> AsyncIterator[None]:
    """Load the search columns in the background as a server process starts, so its first
    visitor does not wait for them; requests are served meanwhile."""
    url = app.state.stores.url
    threading.Thread(target=_warm_search, args=(url,), name="warm-search", daemon=True).start()
    yield


def _warm_search(url: str) -> None:
    try:
        store = open_store(url)
    except StoreUnavailable:
        return  # every request reports it
    try:
        search.warm(store)
    finally:
        store.close()


def store_of(request: Request) -> Store:
    """The calling thread's store, for route handlers."""
    return request.app.state.stores.get()
