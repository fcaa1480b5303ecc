"""Build ``vocabulary.json``: the MeSH terms the records themselves carry.

Criteria and patient notes are read against the words registries index trials by, so the
vocabulary is harvested from the records' derived MeSH fields (conditions and interventions,
with their ancestors) rather than from a licensed thesaurus. Regenerate it after ingesting a
new corpus::

    python -m trialatlas.eligibility.vocabulary ../shared/data/ctgov \\
        > src/trialatlas/eligibility/vocabulary.json

``--words`` prints ``word_frequency.json`` instead: in how many records each common word
occurs, so retrieval can keep a note's informative words and leave out the ones half the
registry contains (each query word costs a full-text lookup)::

    python -m trialatlas.eligibility.vocabulary --words ../shared/data/ctgov \\
        > src/trialatlas/eligibility/word_frequency.json
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trialatlas.eligibility.terms import concept_key
from trialatlas.search.essie import tokenize

_BROWSE = {"conditions": "conditionBrowseModule", "treatments": "interventionBrowseModule"}
# MeSH headings about pharmacology in general, which name no treatment.
_NOISE = re.compile(
    r"(?i)mechanisms of|effects of drugs|pharmacologic actions|^(?:emergencies|disease attributes"
    r"|pathologic processes|recurrence|chronic disease|acute disease|disease progression"
    r"|body weight|signs and symptoms|neoplasms by site|neoplasms by histologic type"
    r"|physiological phenomena|pathological conditions, signs and symptoms)$"
)


def uninvert(term: str) -> str:
    """MeSH's "Carcinoma, Non-Small-Cell Lung" read as "Non-Small-Cell Lung Carcinoma"."""
    return " ".join(part.strip() for part in reversed(term.split(","))) if "," in term else term


def build_vocabulary(documents: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Distinct MeSH terms (and ancestors) of the documents, most frequent first."""
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in _BROWSE}
    for document in documents:
        derived = document.get("derivedSection") or {}
        for kind, module in _BROWSE.items():
            browse = derived.get(module) or {}
            for entry in [*browse.get("meshes", []), *browse.get("ancestors", [])]:
                term = uninvert(str(entry.get("term", "")))
                if len(term) >= 3 and concept_key(term) and not _NOISE.search(term):
                    counts[kind][term] += 1
    return {kind: [term for term, _ in counter.most_common()] for kind, counter in counts.items()}


MIN_WORD_SHARE = 0.005  # rarer words are not listed: absent means informative


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def build_word_frequency(documents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """{"documents": n, "words": {word: records containing it}} for the words (as the search
    layer tokenizes) in at least MIN_WORD_SHARE of the records' protocol text, commonest first."""
    counts: Counter[str] = Counter()
    total = 0
    for document in documents:
        total += 1
        counts.update(set(tokenize(" ".join(_strings(document.get("protocolSection") or {})))))
    floor = MIN_WORD_SHARE * total
    return {"documents": total, "words": {w: n for w, n in counts.most_common() if n >= floor}}


def main(argv: list[str]) -> int:
    """Read every record under the given paths (any layout the readers know) and print JSON:
    the vocabulary, or with ``--words`` first, the common words' record counts."""
    from trialatlas.records.readers import ReadFailure, decode_unit, read_units

    def documents() -> Iterable[dict[str, Any]]:
        for path in argv:
            for unit in read_units(Path(path)):
                if isinstance(unit, ReadFailure):
                    continue
                for decoded in decode_unit(unit):
                    if isinstance(decoded, tuple) and isinstance(decoded[1], dict):
                        yield decoded[1]

    if argv[:1] == ["--words"]:
        argv = argv[1:]
        json.dump(build_word_frequency(documents()), sys.stdout, ensure_ascii=False)
    else:
        json.dump(build_vocabulary(documents()), sys.stdout, indent=0, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
