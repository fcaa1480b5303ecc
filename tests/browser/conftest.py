"""Browser fixtures: a real uvicorn server over the corpus store, and Debian's Chromium.

Playwright drives /usr/bin/chromium (Playwright's own browser download cannot work here);
every test in this directory skips, saying why, when that binary is absent. Screenshots go
to test-artifacts/ at the repository root (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from browsing import Pages
from playwright.sync_api import Browser, sync_playwright

from trialatlas.store.sqlite import SQLiteStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SERVER_START_SECONDS = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this directory's tests `browser`, and skip them all when Chromium is missing."""
    here = Path(__file__).parent
    missing = pytest.mark.skip(reason=f"{CHROMIUM} not found: install Debian's chromium")
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(missing)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def base_url(corpus_store: SQLiteStore) -> Iterator[str]:
    """A uvicorn server of the whole site on a free loopback port, for the session."""
    port = _free_port()
    env = {**os.environ, "TRIALATLAS_DATABASE": str(corpus_store.path)}
    command = [
        sys.executable, "-m", "uvicorn", "trialatlas.web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                httpx2.get(f"{url}/static/site.css", timeout=1)
                break
            except httpx2.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start on port {port}") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def pages(browser: Browser, base_url: str) -> Iterator[Pages]:
    opened = Pages(browser, base_url)
    yield opened
    opened.close()
    assert opened.errors == [], opened.errors


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go: test-artifacts/ at the repository root (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
