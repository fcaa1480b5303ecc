"""Shared fixtures: the real data in ../shared and a store built from it once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trialatlas.ingest import IngestReport, ingest
from trialatlas.store.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO = REPO / "data" / "demo"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository; tests that need it skip when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"real data not present: {SHARED / 'data'} is missing (see data/README)")
    return SHARED


@pytest.fixture(scope="session")
def ctgov_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "ctgov"


@pytest.fixture(scope="session")
def corpus(
    ctgov_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SQLiteStore, IngestReport]]:
    """The demo records plus every shared ClinicalTrials.gov record, ingested once."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.db"
    store = SQLiteStore(path)
    report = ingest(store, [DEMO, ctgov_dir], workers=1)
    yield store, report
    store.close()


@pytest.fixture(scope="session")
def corpus_store(corpus: tuple[SQLiteStore, IngestReport]) -> SQLiteStore:
    """A read-only SQLite store with demo + shared corpus; tests must not write to it."""
    return corpus[0]


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    """An empty SQLite store of the test's own (outside tmp_path, which holds inputs)."""
    empty = SQLiteStore(tmp_path_factory.mktemp("store") / "test.db")
    yield empty
    empty.close()
