"""Condition synonyms learned from the records themselves.

Two kinds of evidence, both counted at ingest (the store keeps the counts in `term_link`):

- abbreviations a record states: a condition or keyword "ALS" next to "Amyotrophic
  Lateral Sclerosis", or "Chronic Obstructive Pulmonary Disease (COPD)";
- conditions and the MeSH terms ClinicalTrials.gov assigned to the same records: a condition
  and a MeSH term are synonyms when each predicts the other often enough (most records
  filed under the condition carry the term, and a fair share of the records carrying the
  term are filed under the condition). "Amyotrophic Lateral Sclerosis" and the MeSH term
  "Motor Neuron Disease" qualify; the MeSH term "Sclerosis", shared with multiple
  sclerosis and systemic sclerosis trials, does not.

So "ALS" expands to "amyotrophic lateral sclerosis" (abbreviation) and on to "motor neuron
disease" (MeSH), and finds trials filed under either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from trialatlas.records.document import StudyColumns
from trialatlas.search.essie import normalize, tokenize

# term_link kinds
ABBREVIATION = "ab"  # (abbreviation, long form)
CONDITION_MESH = "cm"  # (condition, MeSH term) on the same record
CONDITION_COUNT = "c"  # (condition, "") records with MeSH terms filed under the condition
MESH_COUNT = "m"  # (MeSH term, "") records carrying the term

MIN_PAIR_RECORDS = 2
MIN_MESH_GIVEN_CONDITION = 0.5
MIN_CONDITION_GIVEN_MESH = 0.2
MAX_TERMS_PER_RECORD = 20
MAX_EXPANSIONS = 8

# Abbreviations that are also everyday words ("ALL" = acute lymphoblastic leukemia): a query
# word like these is not expanded, or "all" would search for leukemia.
COMMON_WORDS = frozenset((
    "a", "all", "am", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can", "do",
    "for", "had", "has", "he", "her", "his", "how", "if", "in", "is", "it", "its", "may", "me",
    "my", "no", "not", "now", "of", "on", "one", "or", "our", "out", "per", "see", "she", "so",
    "the", "to", "two", "up", "us", "was", "we", "who", "why", "you",
))  # fmt: skip
_STOPWORDS = frozenset({"of", "the", "and", "with", "in", "on", "for", "to", "a", "s"})
_PARENTHESISED = re.compile(r"^(.+?)\s*\(([^()]+)\)\s*$")
_ABBREVIATION = re.compile(r"^[A-Z][A-Za-z0-9-]{1,9}$")


def is_abbreviation(short: str, long: str) -> bool:
    """True when the letters of `short` are the initials of `long`'s words ("ALS")."""
    letters = "".join(ch for ch in short.casefold() if ch.isalpha())
    words = tokenize(long)
    if len(letters) < 2 or len(words) < 2:
        return False
    initials = "".join(w[0] for w in words)
    content = "".join(w[0] for w in words if w not in _STOPWORDS)
    return letters in (initials, content)


def abbreviation_pairs(terms: Iterable[str]) -> set[tuple[str, str]]:
    """(abbreviation, long form) pairs, normalised, that one record's terms state."""
    terms = [t.strip() for t in terms if t and t.strip()][:MAX_TERMS_PER_RECORD]
    pairs: set[tuple[str, str]] = set()
    for term in terms:
        match = _PARENTHESISED.match(term)
        if match:
            outer, inner = match.group(1), match.group(2)
            for short, long in ((inner, outer), (outer, inner)):
                if _ABBREVIATION.match(short.strip()) and is_abbreviation(short, long):
                    pairs.add((normalize(short), normalize(long)))
    shorts = [t for t in terms if _ABBREVIATION.match(t) and t.upper() == t]
    for short in shorts:
        for long in terms:
            if long is not short and is_abbreviation(short, long):
                pairs.add((normalize(short), normalize(long)))
    return pairs


def link_rows(columns: StudyColumns) -> Iterator[tuple[str, str, str]]:
    """The (kind, a, b) evidence one record adds to `term_link`, each once."""
    conditions = list(dict.fromkeys(map(normalize, columns.conditions)))[:MAX_TERMS_PER_RECORD]
    meshes = list(dict.fromkeys(map(normalize, columns.mesh_terms)))[:MAX_TERMS_PER_RECORD]
    conditions = [c for c in conditions if c]
    meshes = [m for m in meshes if m]
    if meshes:
        for mesh in meshes:
            yield MESH_COUNT, mesh, ""
        for condition in conditions:
            yield CONDITION_COUNT, condition, ""
            for mesh in meshes:
                yield CONDITION_MESH, condition, mesh
    for short, long in abbreviation_pairs((*columns.conditions, *columns.keywords)):
        yield ABBREVIATION, short, long


def is_synonym(pair_records: int, condition_records: int, mesh_records: int) -> bool:
    """Whether a condition and a MeSH term co-occur strongly enough to stand for each other."""
    return (
        pair_records >= MIN_PAIR_RECORDS
        and pair_records >= MIN_MESH_GIVEN_CONDITION * condition_records
        and pair_records >= MIN_CONDITION_GIVEN_MESH * mesh_records
    )
