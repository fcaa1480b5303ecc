"""Comparable keys for condition and treatment phrases, and a fast phrase finder.

A criterion says "malignant tumor", a patient note "lung cancer", a record's MeSH term
"Lung Neoplasms". All three are reduced to a *concept key*: a set of canonical tokens with
abbreviations expanded (in capitals only: "MS" but not "ms"), synonyms and spelling variants
folded, plurals singular, and words that name no condition on their own dropped. Two phrases
then relate by set inclusion: the criterion's key inside the patient's means the patient has
a kind of what the criterion names.

``Gazetteer`` finds known phrases (the curated lexicon plus MeSH terms seen in the records,
``vocabulary.json``) in running text by token lookup, longest match first.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from trialatlas.eligibility import lexicon

Key = frozenset[str]
# Cancer, carcinoma, tumour, malignancy and neoplasm all fold to this key.
NEOPLASM_KEY: Key = frozenset({"neoplasm"})

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:'s)?|\d+(?:\.\d+)?")
_PLURAL_KEEP = frozenset(
    [
        "diabetes",
        "herpes",
        "measles",
        "mumps",
        "rabies",
        "scabies",
        "ascites",
        "facies",
        "aids",
        "mellitus",
        "lupus",
        "status",
        "sepsis",
        "syphilis",
        "psoriasis",
        "stenosis",
        "sclerosis",
        "fibrosis",
        "tuberculosis",
        "cirrhosis",
        "metastasis",
        "mastocytosis",
        "nephrosis",
        "osteoporosis",
        "thrombosis",
        "psychosis",
        "prognosis",
        "diagnosis",
        "dialysis",
        "analysis",
        "paralysis",
        "pancreas",
        "bronchiectasis",
    ]
)
_SINGULAR_SPECIAL = {"metastases": "metastasis", "diagnoses": "diagnosis", "analyses": "analysis"}
# "like" folds "ALS-like syndrome" into ALS and "malignant tumor" into neoplasm: for finding
# trials, a near miss is better than a miss.
_DROP = lexicon.STOP_TOKENS | lexicon.GENERIC_TOKENS | {"mellitus", "like", "malignant"}


def _singular(token: str) -> str:
    if token in _SINGULAR_SPECIAL:
        return _SINGULAR_SPECIAL[token]
    if len(token) <= 3 or token in _PLURAL_KEEP or token.endswith(("ss", "us", "is")):
        return token
    if token.endswith("ies"):
        return token[:-3] + "y"
    return token[:-1] if token.endswith("s") else token


@functools.lru_cache(maxsize=65536)
def canonical_token(token: str) -> str:
    """One token as compared: lower case, plural folded, spelling variants unified."""
    token = token.lower()
    if token.endswith("'s"):
        token = token[:-2]
    token = lexicon.TOKEN_CANON.get(token, token)
    return lexicon.TOKEN_CANON.get(_singular(token), _singular(token))


_PHRASE_SYNONYMS = {**lexicon.SYNONYMS, **lexicon.DRUG_NAMES}
_SYNONYM_RE = re.compile(
    r"\b(?:"
    + "|".join(re.escape(p) for p in sorted(_PHRASE_SYNONYMS, key=len, reverse=True))
    + r")\b"
)


# A capital "A" after a lower-case word is a type, not the article: "hepatitis A",
# "influenza A" (in "HISTORY OF A STROKE" it is the article).
_TYPE_A = "type-a"


def _expand(phrase: str) -> str:
    """Abbreviations (capitals only) and synonyms replaced by what they stand for."""
    words = []
    previous = ""
    for match in _TOKEN.finditer(phrase.replace("-", " ")):
        word = match.group()
        lower = word.lower()
        if word == "A" and previous and not previous.isupper():
            words.append(_TYPE_A)
        elif len(word) >= 2 and word.isupper() and lower in lexicon.ABBREVIATIONS:
            words.append(lexicon.ABBREVIATIONS[lower])
        else:
            words.append(lower)
        previous = word
    joined = " ".join(words)
    return _SYNONYM_RE.sub(lambda m: _PHRASE_SYNONYMS[m.group()], joined)


@functools.lru_cache(maxsize=65536)
def concept_key(phrase: str) -> Key:
    """The concept key of a phrase; empty when it names nothing in particular."""
    tokens = {canonical_token(t) for t in _expand(phrase).split()}
    return frozenset(tokens - _DROP)


def display_key(key: Key) -> str:
    """A stable, readable form of a key for explanations and JSON."""
    return " ".join(sorted(key))


# --- treatments ----------------------------------------------------------------------------


@functools.cache
def _drug_classes_of() -> dict[Key, tuple[Key, ...]]:
    """Member key -> keys of the classes it belongs to."""
    out: dict[Key, list[Key]] = {}
    for drug_class, members in lexicon.DRUG_CLASSES.items():
        for member in members:
            out.setdefault(concept_key(member), []).append(concept_key(drug_class))
    return {member: tuple(classes) for member, classes in out.items()}


def treatment_keys(name: str) -> tuple[Key, ...]:
    """Keys a patient's treatment answers to: its own, and those of its drug classes."""
    own = concept_key(name)
    classes = _drug_classes_of()
    found = [own, *classes.get(own, ())]
    found.extend(c for member, cs in classes.items() if member and member <= own for c in cs)
    return tuple(dict.fromkeys(k for k in found if k))


# --- vocabulary and gazetteer --------------------------------------------------------------


@functools.cache
def vocabulary() -> dict[str, tuple[str, ...]]:
    """MeSH condition and intervention terms seen in the records (see ``vocabulary``)."""
    text = resources.files("trialatlas.eligibility").joinpath("vocabulary.json").read_text()
    data = json.loads(text)
    return {
        kind: tuple(terms) for kind, terms in data.items() if kind in ("conditions", "treatments")
    }


@dataclass(frozen=True, slots=True)
class Hit:
    """A known phrase found in text: ``text[start:end]`` is its surface form.

    ``curated``: from the hand-made lexicon, not only from MeSH terms of the records (whose
    intervention terms include substances such as "Bilirubin" or "Calcium").
    """

    start: int
    end: int
    term: str
    kind: str
    curated: bool


class Gazetteer:
    """Longest-match lookup of known phrases over tokens (no regex per phrase).

    A phrase written in capitals (an abbreviation: "ALS", "ALL") only matches capitals.
    """

    def __init__(self, phrases: Iterable[tuple[str, str, bool]]) -> None:
        self._index: dict[str, dict[tuple[str, ...], tuple[str, str, bool, bool]]] = {}
        for phrase, kind, curated in phrases:
            tokens = tuple(canonical_token(t) for t in _TOKEN.findall(phrase.replace("-", " ")))
            if tokens:
                entry = (phrase, kind, phrase.isupper(), curated)
                self._index.setdefault(tokens[0], {}).setdefault(tokens, entry)
        # Phrase lengths per first token, longest first: the only lengths worth trying.
        self._lengths = {
            first: sorted({len(tokens) for tokens in entries}, reverse=True)
            for first, entries in self._index.items()
        }

    def find(self, text: str) -> Iterator[Hit]:
        """Non-overlapping hits, left to right, the longest phrase at each position."""
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text.replace("-", " "))]
        canon = [canonical_token(text[s:e]) for s, e in spans]
        i = 0
        while i < len(spans):
            step = 1
            entries = self._index.get(canon[i])
            for n in self._lengths.get(canon[i], ()) if entries else ():
                entry = entries.get(tuple(canon[i : i + n])) if i + n <= len(spans) else None
                start, end = spans[i][0], spans[min(i + n, len(spans)) - 1][1]
                if entry and (not entry[2] or text[start:end].isupper()):
                    yield Hit(start, end, entry[0], entry[1], entry[3])
                    step = n
                    break
            i += step


def _lexicon_phrases() -> Iterator[tuple[str, str]]:
    for abbreviation, phrase in lexicon.ABBREVIATIONS.items():
        yield phrase, "condition"
        yield abbreviation.upper(), "condition"
    for phrase, target in lexicon.SYNONYMS.items():
        yield phrase, "condition"
        yield target, "condition"
    for drug_class, members in lexicon.DRUG_CLASSES.items():
        yield drug_class, "treatment"
        for member in members:
            yield member, "treatment"
    for brand, generic in lexicon.DRUG_NAMES.items():
        yield brand, "treatment"
        yield generic, "treatment"


@functools.cache
def gazetteer() -> Gazetteer:
    """Every known condition and treatment phrase: curated lexicon first, then MeSH terms."""
    vocab = vocabulary()
    return Gazetteer(
        [
            *((phrase, kind, True) for phrase, kind in _lexicon_phrases()),
            *((term, "condition", False) for term in vocab.get("conditions", ())),
            *((term, "treatment", False) for term in vocab.get("treatments", ())),
        ]
    )
