"""The criteria cache: its worker makes the analyses this process makes; a filled cache serves
a whole store without analysing again; an upgrade empties it."""

from __future__ import annotations

import pickle
import sqlite3
import time
import zlib
from collections import OrderedDict
from pathlib import Path

import pytest

from trialatlas.eligibility import cache, extract, rank
from trialatlas.eligibility.extract import CriteriaAnalysis
from trialatlas.ingest import ingest
from trialatlas.store import Store

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"

TEXTS = [
    "Inclusion Criteria:\n"
    f"- Adults aged {18 + n} to 75 years with moderate asthma\n"
    "- Platelets >= 100,000/mm3 and creatinine < 1.5 mg/dL\n"
    "Exclusion Criteria:\n"
    "- Pregnant or breastfeeding women\n"
    f"- Prior chemotherapy within {n + 2} weeks"
    for n in range(16)
]


def test_worker_analyses_are_the_local_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.start_worker()
    deadline = time.monotonic() + 60
    while cache._worker() is None:
        process = cache._worker_process
        if process is None or process.dead or time.monotonic() > deadline:
            pytest.skip("no worker process here (a single core?)")
        time.sleep(0.05)
    local_calls: list[str] = []

    def counted(text: str) -> CriteriaAnalysis:
        local_calls.append(text)
        return extract.analyze_criteria(text)

    monkeypatch.setattr(extract, "_CACHE", OrderedDict())
    monkeypatch.setattr(cache, "analyze_criteria", counted)
    cache.CriteriaCache(tmp_path / "criteria.sqlite").prepare(TEXTS)
    assert len(local_calls) < len(TEXTS)  # the worker analysed some
    for text in TEXTS:
        got = extract.cached(extract.analysis_key(text))
        expected = extract.fresh_analysis(text)
        assert got is not None
        assert (got.key, got.parsed, got.items) == (expected.key, expected.parsed, expected.items)


def _forget_analyses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Empty this process's LRU and count every analysis made here from now on."""
    made: list[str] = []
    fresh = extract.fresh_analysis

    def counted(text: str, *args: object) -> CriteriaAnalysis:
        made.append(text)
        return fresh(text, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(extract, "_CACHE", OrderedDict())
    monkeypatch.setattr(extract, "fresh_analysis", counted)
    return made


def test_a_filled_cache_serves_every_text_without_analysing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "criteria.sqlite"
    seen: list[cache.FillReport] = []
    report = cache.CriteriaCache(path).fill(
        [*TEXTS, TEXTS[0]], on_progress=lambda r: seen.append(cache.FillReport(**vars(r)))
    )
    assert (report.read, report.distinct, report.analysed) == (17, 16, 16)
    assert seen and seen[-1] == report
    assert cache.CriteriaCache(path).fill(TEXTS).analysed == 0  # a second run skips them all
    made = _forget_analyses(monkeypatch)
    cache.CriteriaCache(path).prepare(TEXTS)  # what a ranking does with its candidates
    assert made == []
    for text in TEXTS:
        got = extract.cached(extract.analysis_key(text))
        assert got is not None and got.items == extract.fresh_analysis(text).items


def test_fill_workers_store_the_analyses_made_here(tmp_path: Path) -> None:
    pooled, here = tmp_path / "pooled.sqlite", tmp_path / "here.sqlite"
    assert cache.CriteriaCache(pooled).fill(TEXTS, workers=2).analysed == len(TEXTS)
    cache.CriteriaCache(here).fill(TEXTS)
    rows = "SELECT key, body FROM analysis ORDER BY key"
    with sqlite3.connect(pooled) as one, sqlite3.connect(here) as other:
        got, expected = one.execute(rows).fetchall(), other.execute(rows).fetchall()
    assert [key for key, _ in got] == [key for key, _ in expected]
    for (_, body), (_, same_body) in zip(got, expected, strict=True):
        a, b = (pickle.loads(zlib.decompress(stored)) for stored in (body, same_body))
        assert (a.key, a.parsed, a.items) == (b.key, b.parsed, b.items)


def test_analyses_of_other_code_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "criteria.sqlite"
    cache.CriteriaCache(path).fill(TEXTS[:3])
    count = "SELECT count(*) FROM analysis"
    with sqlite3.connect(path) as db:
        assert db.execute(count).fetchone() == (3,)
    cache.CriteriaCache(path)  # the same code keeps them
    with sqlite3.connect(path) as db:
        assert db.execute(count).fetchone() == (3,)
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "an upgrade")
    cache.CriteriaCache(path)
    with sqlite3.connect(path) as db:
        assert db.execute(count).fetchone() == (0,)


def test_fill_names_a_cache_it_cannot_write(tmp_path: Path) -> None:
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("")
    with pytest.raises(OSError, match="cannot be opened for writing"):
        cache.CriteriaCache(blocked / "criteria.sqlite").fill(TEXTS)


def test_a_store_of_either_kind_is_analysed_ahead(
    backend_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    ingest(backend_store, [DEMO])
    texts = [
        text
        for doc in backend_store.iter_documents()
        if (text := doc["protocolSection"].get("eligibilityModule", {}).get("eligibilityCriteria"))
    ]
    report = rank.analyze_store(backend_store)
    assert (report.read, report.distinct, report.analysed) == (
        len(texts),
        len(set(texts)),
        len(set(texts)),
    )
    assert rank.analyze_store(backend_store).analysed == 0
    made = _forget_analyses(monkeypatch)
    assert rank.trial_criteria(backend_store, "NCT04952155") is not None
    assert made == []  # the detail page's criteria come from the cache
