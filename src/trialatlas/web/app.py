"""The ASGI application: the JSON API and the HTML pages, over one store.

Routers live beside this module (`api.py` for /api, `pages.py` for the site); this module
only wires them together with the store and the security headers every response carries.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from trialatlas.store import Store, database_url, open_store

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


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

    app = FastAPI(title="trialatlas", version=__version__, docs_url=None, redoc_url=None)
    app.state.stores = StoreProvider(database_url(database))

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    for module_name in ("api", "pages", "match"):
        module = _router_module(module_name)
        if module is not None:
            module.register(app)
    return app


def _router_module(name: str):
    import importlib

    try:
        return importlib.import_module(f"trialatlas.web.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"trialatlas.web.{name}":
            raise
        return None


def store_of(request: Request) -> Store:
    """The calling thread's store, for route handlers."""
    return request.app.state.stores.get()
