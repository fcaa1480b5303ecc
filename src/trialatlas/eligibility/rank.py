"""Rank the trials of a whole store for one patient, each with its criterion-by-criterion reasons.

Matching a profile against one trial (``match_study``) is too slow to run over a registry, and
most trials are about something else, so ranking goes in three steps:

1. Retrieval narrows the store (the search layer: BM25 over weighted fields) with the words of
   the patient's note and each diagnosis as a group (which also matches its condition
   synonyms), behind the pre-filters the store answers from columns: the patient's age within
   the trial's age range, and sex. It keeps the best ``candidates`` trials and, unless
   ``any_status``, also the best trials still open to participants, so recruiting trials
   below the overall top are not missed.
2. Each candidate is matched criterion by criterion; criteria analyses come from the disk
   cache (``eligibility.cache``), so a store is parsed once, not once per patient.
3. The final score mixes retrieval (how much the trial is about this patient) with eligibility
   (how likely the patient qualifies); weights were tuned on the TREC Clinical Trials 2021
   topics only (bench/trec.py). A site within ``near_km`` of the patient (when the profile has
   a location) adds a bonus: enough to lift a nearby trial on the patient's condition, not to
   lift a nearby trial on something else (TREC has no locations: this one is set by hand).
   Trials open to participants and about one of the patient's conditions come first (unless
   ``any_status``), then by score.
   Candidates are matched in order of the best score they could still reach, and matching
   stops once none can enter the top ``limit``.

Public entry points for the CLI, the JSON API and the pages: `rank_trials`, `check_trial`,
`trial_criteria`; `score_trials` scores a given set of trials (the benchmark's judged-only
reranking); `analyze_store` fills the criteria cache for a whole store ahead of patients.
"""

from __future__ import annotations

import bisect
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from trialatlas import search as search_layer
from trialatlas.eligibility import lexicon
from trialatlas.eligibility.cache import FillReport, criteria_cache, start_worker
from trialatlas.eligibility.derived import derived_conditions
from trialatlas.eligibility.match import MatchResult, match_study
from trialatlas.eligibility.profile import Profile, ProfileError, note_focus
from trialatlas.eligibility.terms import gazetteer
from trialatlas.records.document import age_in_days
from trialatlas.search import AgeRange, Near, SearchRequest
from trialatlas.search.essie import tokenize
from trialatlas.search.geo import geocode
from trialatlas.search.query import MAX_PAGE_SIZE, OPEN_STATUSES
from trialatlas.store import Store

DEFAULT_LIMIT = 20
DEFAULT_CANDIDATES = 1000
NEAR_KM = 160.0  # about 100 miles
MAX_QUERY_TERMS = 40
COMMON_SHARE = 0.2  # a note word in more of the registry's records tells retrieval little
_MAX_QUERY_CHARS = 3800  # the search layer takes at most 200 terms and 4,000 characters
# Candidates whose documents are read and criteria analysed together: small, as the last
# batch's analyses past the point where no candidate can enter the top are wasted.
_BATCH = 50
_STOPWORD_TEXT = """
    a about above after again against ago all also am an and any are as at be been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their them then there these they
    this those through to too under until up very was we were what when where which while who
    whom why will with would you your patient patients year years old presents presented
    presenting"""
# Single words that name nothing on their own ("syndrome", "chronic") match half the store:
# slow to search, and they only blur the ranking. Diagnoses keep them inside their groups.
_TELLING = frozenset({"chronic", "active", "type", "abnormality", "abnormalities"})
_STOPWORDS = frozenset(_STOPWORD_TEXT.split()) | (lexicon.GENERIC_TOKENS - _TELLING) | {"like"}
# The routine panel a note reports (blood count, chemistry, coagulation, urinalysis) says
# little about which trials fit; its rare abbreviations would take the query's places.
_ROUTINE_LABS = frozenset(
    "hgb hb hct plt wbc wbcs rbc rbcs mcv mch mchc rdw bun cr na cl hco3 meq inr ptt pt alk "  # noqa: SIM905
    "ast alt ldh glc hpf lpf ua".split()
)


@dataclass(frozen=True, slots=True)
class Weights:
    """How retrieval and the matcher's score combine; defaults tuned on TREC CT 2021."""

    retrieval: float = 0.45  # the rest of the score is the matcher's (how likely they qualify)
    near: float = 0.15  # bonus for a site within near_km (not from TREC: it has no places)


WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A trial retrieval found: BM25 relative to the query's best hit, and where it stands."""

    nct_id: str
    retrieval: float
    open: bool
    near: bool | None = None  # None: the profile has no location
    distance_km: float | None = None


@dataclass(frozen=True, slots=True)
class RankedTrial:
    """One trial in a patient's ranking: the final score, its parts and the match itself."""

    rank: int
    nct_id: str
    title: str | None
    overall_status: str | None
    score: float
    retrieval: float
    candidate: Candidate
    match: MatchResult

    @property
    def verdict(self) -> str:
        return self.match.verdict.value

    @property
    def eligibility(self) -> float:
        """The score's eligibility part: the matcher's score, how likely the patient qualifies."""
        return self.match.score

    def to_json(self) -> dict[str, Any]:
        """{nctId, verdict, score, criteria: [...]} and the rest of the explanation."""
        matched = self.match.to_json()
        return {
            "rank": self.rank,
            "nctId": self.nct_id,
            "title": self.title,
            "overallStatus": self.overall_status,
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "retrieval": round(self.retrieval, 4),
            "eligibility": round(self.eligibility, 4),
            "near": self.candidate.near,
            "distanceKm": self.candidate.distance_km,
            "relevance": matched["relevance"],
            "failures": [c.text for c in self.match.failures],
            "structured": matched["structured"],
            "criteria": matched["criteria"],
        }


# --- retrieval -----------------------------------------------------------------------------


def note_words(text: str) -> list[str]:
    """The words of ``text`` a query can use: no stop words, numbers or 1-2 letter words."""
    return [t for t in tokenize(text) if t not in _STOPWORDS and len(t) > 2 and not t.isdigit()]


@functools.cache
def _word_shares() -> dict[str, float]:
    """Share of the registry's records each common word occurs in (word_frequency.json)."""
    data = json.loads(resources.files(__package__).joinpath("word_frequency.json").read_text())
    total = max(data["documents"], 1)
    return {word: n / total for word, n in data["words"].items()}


def _informative(words: list[str]) -> list[str]:
    """Words rarest first, leaving out those in more than COMMON_SHARE of the records."""
    shares = _word_shares()
    kept = [w for w in dict.fromkeys(words) if shares.get(w, 0.0) <= COMMON_SHARE]
    return sorted(kept, key=lambda w: shares.get(w, 0.0))


def query_expression(
    profile: Profile, note: str | None = None, max_terms: int | None = None
) -> str:
    """The search query for a patient: each diagnosis as a group, then the single words of
    the conditions and treatments the vocabulary finds, then the other words of the diagnoses
    and the note, rarest first, at most ``max_terms`` (default MAX_QUERY_TERMS).

    Every term costs a full-text lookup over the store, and the words that half the registry
    contains cost the most while telling BM25 the least, so the note contributes only its
    informative words. A group needs all its words and also finds its condition synonyms; a
    word alone finds "ALS-like". The past medical history (the profile's ``history``, the
    note's history passages) is left out: searching the comorbidities finds trials on them
    rather than on what the patient seeks a trial for. Only a profile with nothing else is
    searched by its history. Raises ProfileError (naming ``diagnoses``) when there is
    nothing to search with.
    """
    limit = max_terms or MAX_QUERY_TERMS
    denied = _denied_words(profile)
    derived = tuple(d.condition for d in derived_conditions(profile) if d.threshold.searched)
    kept = _query_terms(profile.diagnoses + derived, note_focus(note or ""), denied, limit)
    if not kept:
        kept = _query_terms(profile.history, "", denied, limit)
    if not kept:
        raise ProfileError(["diagnoses: needs at least one diagnosis (or a note) to rank trials"])
    return " OR ".join(kept)


def _query_terms(
    conditions: Sequence[str], note: str, denied: frozenset[str], limit: int
) -> list[str]:
    """The terms of query_expression for these conditions and this (focused) note."""
    text = " ".join((*conditions, note))
    terms: list[str] = []
    for condition in conditions:
        tokens = tokenize(condition)
        if tokens:
            terms.append(tokens[0] if len(tokens) == 1 else f"({' '.join(tokens)})")
    found = " ".join(text[hit.start : hit.end] for hit in gazetteer().find(text))
    terms.extend(note_words(found))
    terms.extend(_informative(note_words(text)))
    kept: list[str] = []
    length = 0
    for term in dict.fromkeys(terms):
        if term in denied or term in _ROUTINE_LABS:
            continue
        if len(kept) == limit or length + len(term) + 4 > _MAX_QUERY_CHARS:
            break
        kept.append(term)
        length += len(term) + 4
    return kept


def _denied_words(profile: Profile) -> frozenset[str]:
    """Words of the conditions the patient is said not to have ("He denied dyspnea, headache,
    chest pain"): searching for them finds trials on what the patient is free of. Only plain
    vocabulary names count ("negative for obstructive pancreatitis" leaves pancreatitis
    open), and never a word a present diagnosis uses."""
    present = {t for d in profile.conditions for t in tokenize(d)}
    denied = {
        t
        for absent in profile.absent_conditions
        if any(h.start == 0 and h.end == len(absent) for h in gazetteer().find(absent))
        for t in tokenize(absent)
    }
    return frozenset(denied - present)


def bm25_hits(store: Store, request: SearchRequest, limit: int) -> list[search_layer.Hit]:
    """The first ``limit`` hits of a search, page after page."""
    hits: list[search_layer.Hit] = []
    if limit < 1:
        return hits
    request = replace(request, page_size=min(limit, MAX_PAGE_SIZE))
    while len(hits) < limit:
        result = search_layer.search(store, request)
        hits.extend(result.hits)
        if not result.next_page_token:
            break
        request = request.with_page(result.next_page_token)
    return hits[:limit]


def _prefilters(profile: Profile) -> dict[str, Any]:
    """Age and sex: cheap column filters that only drop trials the patient cannot enter."""
    filters: dict[str, Any] = {}
    if profile.age is not None:
        days = int(profile.age * 365.25)
        filters["age"] = AgeRange(days, days)
    if profile.sex:
        filters["sex"] = frozenset({profile.sex.upper()})
    return filters


def _relative(
    hits: Sequence[search_layer.Hit], best: Sequence[search_layer.Hit]
) -> dict[str, float]:
    """Retrieval 0..1: BM25 over the query's best among the trials the patient can enter."""
    top = best[0].score if best and best[0].score > 0 else 1.0
    return {h.nct_id: min(h.score / top, 1.0) for h in hits}


def _place(profile: Profile) -> tuple[tuple[float, float] | None, str | None]:
    """The patient's point (given or geocoded from the city), else only the country."""
    where = profile.location
    if where is None:
        return None, None
    if where.lat is not None and where.lon is not None:
        return (where.lat, where.lon), None
    point = geocode(where.city, None, where.country) if where.city else None
    return point, None if point else where.country


def _locate(
    store: Store, profile: Profile, nct_ids: Sequence[str], near_km: float
) -> dict[str, float | None] | None:
    """Candidates with a site near the patient (nearest distance, if known); None: no place."""
    point, country = _place(profile)
    if point is None and country is None:
        return None
    if not nct_ids:  # an empty id filter would mean every study
        return {}
    request = SearchRequest(
        ids=frozenset(nct_ids),
        near=Near(point[0], point[1], near_km) if point else None,
        country=frozenset({country}) if country else frozenset(),
    )
    return {h.nct_id: h.distance_km for h in bm25_hits(store, request, len(nct_ids))}


def retrieve(
    store: Store,
    profile: Profile,
    *,
    note: str | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    any_status: bool = False,
    near_km: float = NEAR_KM,
) -> list[Candidate]:
    """The trials worth matching, best retrieval first (see the module docstring)."""
    request = SearchRequest(term=query_expression(profile, note), **_prefilters(profile))
    hits = bm25_hits(store, request, candidates)
    if not any_status:
        hits += bm25_hits(store, replace(request, status=OPEN_STATUSES), max(candidates // 2, 1))
    unique = {h.nct_id: h for h in hits}
    retrieval = _relative(hits, hits)
    near = _locate(store, profile, list(unique), near_km)
    return [
        Candidate(
            nct_id=h.nct_id,
            retrieval=retrieval[h.nct_id],
            open=h.overall_status in OPEN_STATUSES,
            near=None if near is None else h.nct_id in near,
            distance_km=near.get(h.nct_id) if near else None,
        )
        for h in sorted(unique.values(), key=lambda h: -h.score)
    ]


# --- matching and ordering -----------------------------------------------------------------


def _criteria_text(doc: dict[str, Any]) -> str:
    module = (doc.get("protocolSection") or {}).get("eligibilityModule") or {}
    return module.get("eligibilityCriteria") or ""


def analyze_store(
    store: Store, workers: int = 0, on_progress: Callable[[FillReport], None] | None = None
) -> FillReport:
    """Put the analysis of every current trial's criteria into the cache (`trialatlas
    analyze-criteria`): rankings then only match, from the first patient on."""
    texts = (text for doc in store.iter_documents() if (text := _criteria_text(doc)))
    return criteria_cache().fill(texts, workers, on_progress)


def _matched(
    store: Store, profile: Profile, nct_ids: Sequence[str]
) -> list[tuple[dict[str, Any], MatchResult]]:
    """Documents and matches of these trials, with every criteria text parsed at most once."""
    docs = search_layer.documents(store, list(nct_ids))
    criteria_cache().prepare(_criteria_text(doc) for doc in docs)
    return [(doc, match_study(profile, doc)) for doc in docs]


def _ranked(
    candidate: Candidate, doc: dict[str, Any], match: MatchResult, weights: Weights
) -> RankedTrial:
    ident = (doc.get("protocolSection") or {}).get("identificationModule") or {}
    status = (doc.get("protocolSection") or {}).get("statusModule") or {}
    return RankedTrial(
        rank=0,
        nct_id=candidate.nct_id,
        title=ident.get("briefTitle") or ident.get("officialTitle"),
        overall_status=status.get("overallStatus"),
        score=_score(candidate, match.score, weights),
        retrieval=candidate.retrieval,
        candidate=candidate,
        match=match,
    )


def _sort_key(
    candidate: Candidate, score: float, any_status: bool, topical: bool = True
) -> tuple[int, float]:
    """Open trials first (unless any_status), then higher score. Only an open trial about
    one of the patient's conditions (``topical``) goes first: a recruiting trial on
    something else must not push the trials on the patient's disease out of the top. Before
    a candidate is matched it is taken to be topical, so its key is the best it can reach."""
    return (0 if any_status or (candidate.open and topical) else 1, -score)


def _topical(profile: Profile, match: MatchResult) -> bool:
    """Whether the trial is about one of the patient's conditions (any trial is, for a
    patient with none: the preference for open trials then holds throughout)."""
    return match.relevance > 0 or not profile.conditions


def _score(candidate: Candidate, fit: float, weights: Weights) -> float:
    near = weights.near if candidate.near else 0.0
    return weights.retrieval * candidate.retrieval + (1 - weights.retrieval) * fit + near


def _best_possible(candidate: Candidate, weights: Weights) -> float:
    """The highest score a candidate can reach: its own with eligibility 1."""
    return _score(candidate, 1.0, weights)


def rank_candidates(
    store: Store,
    profile: Profile,
    found: Sequence[Candidate],
    *,
    limit: int = DEFAULT_LIMIT,
    any_status: bool = False,
    weights: Weights = WEIGHTS,
) -> list[RankedTrial]:
    """The best ``limit`` of ``found``, matching only candidates that could still make it."""
    queue = sorted(found, key=lambda c: _sort_key(c, _best_possible(c, weights), any_status))
    kept: list[tuple[tuple[int, float], RankedTrial]] = []

    def hopeless(candidate: Candidate) -> bool:
        """The queue is in best-possible order: once one cannot enter the top, none can."""
        best = _sort_key(candidate, _best_possible(candidate, weights), any_status)
        return len(kept) >= limit and best > kept[limit - 1][0]

    for start in range(0, len(queue), _BATCH):
        batch = queue[start : start + _BATCH]
        if hopeless(batch[0]):
            break
        by_id = {c.nct_id: c for c in batch}
        for doc, match in _matched(store, profile, [c.nct_id for c in batch]):
            trial = _ranked(by_id[match.nct_id], doc, match, weights)
            # after the last equal key: the order a stable sort of the batch would give
            bisect.insort(
                kept,
                (
                    _sort_key(trial.candidate, trial.score, any_status, _topical(profile, match)),
                    trial,
                ),
                key=lambda pair: pair[0],
            )
            del kept[limit:]
    return [replace(trial, rank=n) for n, (_, trial) in enumerate(kept, 1)]


def rank_trials(
    store: Store,
    profile: Profile,
    limit: int = DEFAULT_LIMIT,
    any_status: bool = False,
    *,
    note: str | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    near_km: float = NEAR_KM,
    weights: Weights = WEIGHTS,
) -> list[RankedTrial]:
    """The store's best trials for this patient, each with its per-criterion explanation.

    ``note``: the free-text description the profile was read from, if any (its words help
    retrieval). Raises ProfileError when the profile gives nothing to search with.
    """
    start_worker()
    found = retrieve(
        store, profile, note=note, candidates=candidates, any_status=any_status, near_km=near_km
    )
    return rank_candidates(
        store, profile, found, limit=limit, any_status=any_status, weights=weights
    )


def score_trials(
    store: Store,
    profile: Profile,
    nct_ids: Sequence[str],
    *,
    note: str | None = None,
    weights: Weights = WEIGHTS,
) -> list[RankedTrial]:
    """Score exactly these trials (unknown ids skipped), best first; no pre-filters."""
    if not nct_ids:  # an empty id filter would mean every study
        return []
    request = SearchRequest(term=query_expression(profile, note), **_prefilters(profile))
    given = replace(request, ids=frozenset(nct_ids), age=None, sex=frozenset())
    retrieval = _relative(bm25_hits(store, given, len(nct_ids)), bm25_hits(store, request, 1))
    scored = []
    for start in range(0, len(nct_ids), _BATCH):
        for doc, match in _matched(store, profile, nct_ids[start : start + _BATCH]):
            status = ((doc.get("protocolSection") or {}).get("statusModule") or {}).get(
                "overallStatus"
            )
            candidate = Candidate(
                match.nct_id, retrieval.get(match.nct_id, 0.0), status in OPEN_STATUSES
            )
            scored.append(_ranked(candidate, doc, match, weights))
    scored.sort(key=lambda t: -t.score)
    return [replace(trial, rank=n) for n, trial in enumerate(scored, 1)]


# --- one trial -----------------------------------------------------------------------------


def check_trial(store: Store, nct_id: str, profile: Profile) -> MatchResult | None:
    """The detail page's "Check eligibility": one trial judged for one patient; None if unknown."""
    doc = store.document(nct_id)
    if doc is None:
        return None
    criteria_cache().prepare([_criteria_text(doc)])
    return match_study(profile, doc)


def trial_criteria(store: Store, nct_id: str) -> dict[str, Any] | None:
    """A trial's parsed criteria: structured limits, then inclusion and exclusion items, each
    with its exact text, position in the criteria text and extracted constraints."""
    doc = store.document(nct_id)
    if doc is None:
        return None
    module = (doc.get("protocolSection") or {}).get("eligibilityModule") or {}
    analysis = criteria_cache().analysis(_criteria_text(doc))
    items = [item.to_dict() for item in analysis.items]
    return {
        "nctId": nct_id,
        "structured": {
            "sex": module.get("sex"),
            "minimumAge": module.get("minimumAge"),
            "minimumAgeDays": age_in_days(module.get("minimumAge")),
            "maximumAge": module.get("maximumAge"),
            "maximumAgeDays": age_in_days(module.get("maximumAge")),
            "healthyVolunteers": module.get("healthyVolunteers"),
        },
        "hasHeaders": analysis.parsed.has_headers,
        "inclusion": [item for item in items if item["kind"] == "inclusion"],
        "exclusion": [item for item in items if item["kind"] == "exclusion"],
    }
