"""Browser helpers shared by the fixtures and the tests of this directory."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from seed_page import SEED

from trialatlas.store.sqlite import SQLiteStore

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
TREC_XML = SEED.parents[1] / "data" / "ctgov" / "xml" / "trec2021-judged-1000-2021-04.tar.gz"


class Pages:
    """Opens pages in fresh browser contexts and fails the test on any console error.

    A console error is how Chromium reports a blocked inline script or style (CSP), a
    missing static file or a script exception, so a clean console is part of every test."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.errors: list[str] = []
        self._contexts: list[BrowserContext] = []

    def open(self, path: str = "/", *, width: int = 1280, javascript: bool = True) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport={"width": width, "height": 900},
            java_script_enabled=javascript,
        )
        self._contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(path)
        return page

    def close(self) -> None:
        for context in self._contexts:
            context.close()


def versioned_id(store: SQLiteStore) -> str:
    """A trial with two stored versions: one of the XML snapshots' shared ids if ingested
    that way, else a demo record that replaced its older XML version."""
    candidates = []
    if TREC_XML.exists():
        with tarfile.open(TREC_XML) as archive:
            candidates = [Path(m.name).stem for m in archive if m.name.endswith(".xml")]
    candidates += sorted(p.stem for p in DEMO.glob("NCT*.json"))
    for nct_id in candidates:
        if len(store.versions(nct_id)) > 1:
            return nct_id
    pytest.skip("no trial with two versions in the corpus store")
