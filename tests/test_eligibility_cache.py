"""The criteria cache's worker process: analyses it makes are the ones this process makes."""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import pytest

from trialatlas.eligibility import cache, extract
from trialatlas.eligibility.extract import CriteriaAnalysis

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
