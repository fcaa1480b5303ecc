"""Robustness: every criteria text in the shared corpora parses into inclusion/exclusion items.

Archives are read in place (tar, zip, gzip, csv); nothing is copied. Every text is parsed;
one in sixteen also goes through constraint extraction, which keeps the test well under a
minute.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from defusedxml import ElementTree

from trialatlas.eligibility.criteria import Kind, parse_criteria
from trialatlas.eligibility.extract import analyze_criteria

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"
EXTRACT_EVERY = 16


def ctgov_texts() -> Iterator[tuple[str, str, Kind]]:
    for path in sorted((DATA / "ctgov" / "xml").glob("*.tar.gz")):
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(".xml"):
                    root = ElementTree.fromstring(archive.extractfile(member).read())
                    text = root.findtext("eligibility/criteria/textblock") or ""
                    yield f"{path.name}:{member.name}", text, Kind.INCLUSION
    for path in sorted((DATA / "ctgov" / "json").glob("*.json.gz")):
        with gzip.open(path) as stream:
            for study in json.load(stream):
                yield path.name, _criteria(study), Kind.INCLUSION
    for path in sorted((DATA / "ctgov" / "json").glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    yield (
                        f"{path.name}:{name}",
                        _criteria(json.loads(archive.read(name))),
                        Kind.INCLUSION,
                    )


def _criteria(study: dict) -> str:
    module = study["protocolSection"].get("eligibilityModule") or {}
    return module.get("eligibilityCriteria") or ""


def corpus_texts() -> Iterator[tuple[str, str, Kind]]:
    eligibility = DATA / "eligibility"
    with zipfile.ZipFile(eligibility / "chia-1000-criteria-brat.zip") as archive:
        for name in archive.namelist():
            if name.endswith(".txt"):
                kind = Kind.EXCLUSION if name.endswith("_exc.txt") else Kind.INCLUSION
                yield name, archive.read(name).decode("utf-8"), kind
    with tarfile.open(eligibility / "hint-3686-criteria-csv.tar.gz") as archive:
        csv.field_size_limit(1 << 30)
        for member in archive:
            if member.isfile() and member.name.endswith(".csv"):
                rows = csv.DictReader(io.TextIOWrapper(archive.extractfile(member), "utf-8"))
                for row in rows:
                    yield f"{member.name}:{row['nctid']}", row["criteria"], Kind.INCLUSION
    with tarfile.open(eligibility / "lct-1500-criteria-brat.tar.gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".txt"):
                text = archive.extractfile(member).read().decode("utf-8")
                yield member.name, text, Kind.INCLUSION


@pytest.mark.parametrize("source", [ctgov_texts, corpus_texts], ids=["ctgov", "eligibility"])
def test_every_criteria_text_parses(source) -> None:
    if not DATA.exists():
        pytest.skip(f"shared data not found at {DATA}")
    counts: Counter[str] = Counter()
    for n, (where, text, default_kind) in enumerate(source()):
        parsed = parse_criteria(text, default_kind)
        for item in parsed.items:
            assert text[item.start : item.end] == item.text, where
            assert item.kind in (Kind.INCLUSION, Kind.EXCLUSION), where
        if any(c.isalpha() for c in text):
            assert parsed.items, where
        counts["texts"] += 1
        counts["items"] += len(parsed.criteria)
        counts["headed"] += parsed.has_headers
        counts["exclusion"] += bool(parsed.exclusion)
        if n % EXTRACT_EVERY == 0:
            analysis = analyze_criteria(text, default_kind)
            for item in analysis.items:
                for constraint in item.constraints:
                    body = item.criterion.text
                    assert body[constraint.span[0] : constraint.span[1]] == constraint.text, where
            counts["constraints"] += sum(len(i.constraints) for i in analysis.items)
    assert counts["texts"] > 7000
    assert counts["items"] > 10 * counts["texts"]
    assert counts["constraints"] > counts["texts"]
    assert counts["exclusion"] > counts["texts"] // 2
