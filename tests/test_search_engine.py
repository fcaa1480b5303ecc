"""Search over the demo + shared corpus, checked against brute force over the documents.

Every filter's result set and every facet count is recomputed here in plain Python from
the stored API v2 documents (`study_columns`, site places) and compared; page tokens are
followed to the end to check each result comes exactly once, in order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from trialatlas.records.document import StudyColumns, study_columns
from trialatlas.records.index_text import index_text
from trialatlas.search import AgeRange, DateRange, Near, SearchRequest, SortKey, related, search
from trialatlas.search.geo import haversine_km, location_rows
from trialatlas.search.query import ADULT_FROM_DAYS, AGE_GROUPS, OLDER_FROM_DAYS
from trialatlas.store.sqlite import SQLiteStore

SEED = "NCT04952155"
ALS_WORDS = ("amyotrophic", "motor neuron", "als")


@pytest.fixture(scope="module")
def docs(corpus_store: SQLiteStore) -> dict[str, tuple[dict[str, Any], StudyColumns]]:
    return {c.nct_id: (d, c) for d in corpus_store.iter_documents() for c in [study_columns(d)]}


def all_ids(store: SQLiteStore, request: SearchRequest) -> list[str]:
    """Every result, following page tokens; asserts each page's total is the same."""
    ids: list[str] = []
    request = replace(request, page_size=500)
    first = search(store, request)
    total, result = first.total, first
    while True:
        ids += [h.nct_id for h in result.hits]
        assert result.total == total
        if not result.next_page_token:
            break
        result = search(store, request.with_page(result.next_page_token))
    assert len(ids) == len(set(ids)) == total
    return ids


def expected(docs: dict, keep: Callable[[dict[str, Any], StudyColumns], bool]) -> set[str]:
    return {nct for nct, (d, c) in docs.items() if keep(d, c)}


def _in(value: str | None, low: str | None, high: str | None) -> bool:
    if not value:
        return False
    full = value if len(value) == 10 else f"{value}-01"  # month precision: its first day
    return (low is None or full >= low) and (high is None or full <= high)


def _overlaps(c: StudyColumns, low: int | None, high: int | None) -> bool:
    lo, hi = c.min_age_days, c.max_age_days
    return (high is None or lo is None or lo <= high) and (low is None or hi is None or hi >= low)


def _near(d: dict[str, Any], lat: float, lon: float, km: float) -> bool:
    return any(
        r[4] is not None and haversine_km(lat, lon, r[4], r[5]) <= km for r in location_rows(d)
    )


OTHER_CLASSES = {"OTHER", "OTHER_GOV", "NETWORK", "INDIV", "AMBIG", "UNKNOWN"}
FILTERS: list[tuple[str, SearchRequest, Callable[[dict[str, Any], StudyColumns], bool]]] = [
    ("status", SearchRequest(status=frozenset({"RECRUITING", "WITHDRAWN"})),
     lambda d, c: c.overall_status in ("RECRUITING", "WITHDRAWN")),
    ("phase", SearchRequest(phase=frozenset({"PHASE2"})), lambda d, c: "PHASE2" in c.phases),
    ("phase NA / early", SearchRequest(phase=frozenset({"NA", "EARLY_PHASE1"})),
     lambda d, c: bool({"NA", "EARLY_PHASE1"} & set(c.phases))),
    ("study type", SearchRequest(study_type=frozenset({"OBSERVATIONAL"})),
     lambda d, c: c.study_type == "OBSERVATIONAL"),
    ("sex", SearchRequest(sex=frozenset({"FEMALE"})), lambda d, c: c.sex in ("FEMALE", "ALL")),
    ("child", SearchRequest(age_group=frozenset({"CHILD"})),
     lambda d, c: _overlaps(c, 0, ADULT_FROM_DAYS - 1)),
    ("older adult", SearchRequest(age_group=frozenset({"OLDER_ADULT"})),
     lambda d, c: _overlaps(c, OLDER_FROM_DAYS, None)),
    ("age 30-40 years", SearchRequest(age=AgeRange(10958, 14610)),
     lambda d, c: _overlaps(c, 10958, 14610)),
    ("healthy volunteers", SearchRequest(healthy_volunteers=True),
     lambda d, c: c.healthy_volunteers is True),
    ("country", SearchRequest(country=frozenset({"france", "Japan"})),
     lambda d, c: bool({"France", "Japan"} & set(c.countries))),
    ("city", SearchRequest(city=frozenset({"Bethesda"})),
     lambda d, c: any((r[0] or "").lower() == "bethesda" for r in location_rows(d))),
    ("near Bethesda 30 km", SearchRequest(near=Near(39.0, -77.1, 30.0)),
     lambda d, c: _near(d, 39.0, -77.1, 30.0)),
    ("funder NIH", SearchRequest(funder_type=frozenset({"NIH"})),
     lambda d, c: c.lead_sponsor_class == "NIH"),
    ("funder other", SearchRequest(funder_type=frozenset(OTHER_CLASSES)),
     lambda d, c: c.lead_sponsor_class in OTHER_CLASSES),
    ("has results", SearchRequest(has_results=True), lambda d, c: c.has_results),
    ("start 2015-2019", SearchRequest(start=DateRange("2015-01-01", "2019-12-31")),
     lambda d, c: _in(c.start.date, "2015-01-01", "2019-12-31")),
    ("primary completion", SearchRequest(primary_completion=DateRange(None, "2001-06-30")),
     lambda d, c: _in(c.primary_completion.date, None, "2001-06-30")),
    ("completion", SearchRequest(completion=DateRange("2024-01-01", None)),
     lambda d, c: _in(c.completion.date, "2024-01-01", None)),
    ("first posted", SearchRequest(first_posted=DateRange("2020-01-01", "2020-12-31")),
     lambda d, c: _in(c.first_posted.date, "2020-01-01", "2020-12-31")),
    ("last update", SearchRequest(last_update=DateRange("2023-01-15", None)),
     lambda d, c: _in(c.last_update.date, "2023-01-15", None)),
    ("ids", SearchRequest(ids=frozenset({SEED, "NCT00000102", "NCT99999998"})),
     lambda d, c: c.nct_id in (SEED, "NCT00000102")),
    ("advanced enrollment range", SearchRequest(advanced="AREA[EnrollmentCount]RANGE[100, 200]"),
     lambda d, c: c.enrollment is not None and 100 <= c.enrollment <= 200),
    ("advanced missing date", SearchRequest(advanced="AREA[CompletionDate]MISSING"),
     lambda d, c: not c.completion.date),
    ("advanced NOT status", SearchRequest(advanced="NOT AREA[OverallStatus]COMPLETED"),
     lambda d, c: c.overall_status != "COMPLETED"),
    ("advanced min age", SearchRequest(advanced="AREA[MinimumAge]RANGE[MIN, 16 years]"),
     lambda d, c: c.min_age_days is not None and c.min_age_days <= 5844),
    ("advanced sex + hv", SearchRequest(advanced="AREA[Sex]MALE AND AREA[HealthyVolunteers]true"),
     lambda d, c: c.sex == "MALE" and c.healthy_volunteers is True),
    ("missing conditions", SearchRequest(advanced="AREA[Condition]MISSING"),
     lambda d, c: not c.conditions),
]  # fmt: skip


@pytest.mark.parametrize(("name", "request_", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_matches_brute_force(
    corpus_store: SQLiteStore, docs: dict, name: str, request_: SearchRequest, keep: Callable
) -> None:
    want = expected(docs, keep)
    assert want, f"the corpus has no study for {name}: the check would prove nothing"
    assert set(all_ids(corpus_store, request_)) == want


def _facet_value(name: str, d: dict[str, Any], c: StudyColumns) -> list[str]:
    """Which values of facet `name` a study counts towards."""
    if name == "status":
        return [c.overall_status] if c.overall_status else []
    if name == "phase":
        return list(c.phases)
    if name == "study_type":
        return [c.study_type] if c.study_type else []
    if name == "sex":
        return {"ALL": ["FEMALE", "MALE"], "FEMALE": ["FEMALE"], "MALE": ["MALE"]}.get(c.sex, [])
    if name == "age_group":
        return [g for g, (low, high) in AGE_GROUPS.items() if _overlaps(c, low, high)]
    if name == "healthy_volunteers":
        return [] if c.healthy_volunteers is None else [str(c.healthy_volunteers).lower()]
    if name == "funder_type":
        return [c.lead_sponsor_class] if c.lead_sponsor_class else []
    if name == "has_results":
        return [str(c.has_results).lower()]
    assert name == "country"
    return list(c.countries)


@pytest.mark.parametrize(
    "request_",
    [
        SearchRequest(),
        SearchRequest(cond="cancer", status=frozenset({"RECRUITING"}), phase=frozenset({"PHASE2"})),
        SearchRequest(term="heart", country=frozenset({"United States"}), has_results=False),
        SearchRequest(
            age_group=frozenset({"CHILD"}), sex=frozenset({"MALE"}), healthy_volunteers=True
        ),
    ],
    ids=["everything", "cancer recruiting phase 2", "heart in the US", "boys, healthy"],
)
def test_facet_counts_match_brute_force(
    corpus_store: SQLiteStore, docs: dict, request_: SearchRequest
) -> None:
    """A facet counts over every filter but its own (the status facet ignores the status
    selection, so it shows what choosing another status would give)."""
    result = search(corpus_store, request_, facets=True)
    for name, facet in result.facets.items():
        without_own = replace(request_, **{name: SearchRequest.__dataclass_fields__[name].default})
        members = all_ids(corpus_store, without_own)
        want = Counter(v for nct in members for v in _facet_value(name, *docs[nct]))
        got = {v.value: v.count for v in facet.values}
        if name == "country":  # country names compare without case, as the filter does
            want = Counter({k.casefold(): n for k, n in want.items()})
            got = {k.casefold(): n for k, n in got.items()}
        assert got == {k: n for k, n in want.items() if n}, name


def test_the_long_form_finds_the_abbreviation_in_free_text(
    corpus_store: SQLiteStore, docs: dict
) -> None:
    """The seed says only "ALS" (no conditions list): the long form finds it in free text,
    and nothing the stemmer confuses with it ("al", as in "et al.")."""
    result = search(
        corpus_store, SearchRequest(term="amyotrophic lateral sclerosis", page_size=200)
    )
    found = [h.nct_id for h in result.hits]
    assert SEED in found and len(found) == result.total
    assert "als" in result.expansions["amyotrophic lateral sclerosis"]
    als = re.compile(r"\bALS\b|amyotrophic|motor neuron", re.IGNORECASE)
    assert all(als.search(" ".join(index_text(docs[n][0]))) for n in found)


def _mentions_als(d: dict[str, Any], c: StudyColumns) -> bool:
    identification = d["protocolSection"].get("identificationModule", {})
    text = " ".join(
        [*c.conditions, *c.mesh_terms, *c.keywords, identification.get("briefTitle") or ""]
    ).lower()
    return any(
        w in text.replace("(", " ").replace("/", " ").split() or w in text for w in ALS_WORDS
    )


def test_condition_synonyms_find_als_under_both_names(
    corpus_store: SQLiteStore, docs: dict
) -> None:
    """ "ALS" finds trials filed under Amyotrophic Lateral Sclerosis and Motor Neuron Disease."""
    result = search(corpus_store, SearchRequest(cond="ALS", page_size=100))
    assert result.expansions["als"][:2] == ("amyotrophic lateral sclerosis", "motor neuron disease")
    found = {h.nct_id for h in result.hits}
    assert "NCT03067857" in found  # "Autologous Bone Marrow-Derived Stem Cell Therapy for MND"
    assert "NCT00005674" in found  # creatine in amyotrophic lateral sclerosis
    filed = expected(
        docs, lambda d, c: any(x.lower() == "amyotrophic lateral sclerosis" for x in c.conditions)
    )
    assert filed <= found
    assert all(_mentions_als(*docs[n]) for n in found)


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (SearchRequest(term="amyotrophic lateral sclerosis"), ("amyotrophic", "motor neuron")),
        (SearchRequest(cond="breast cancer"), ("breast",)),
        (SearchRequest(cond="asthma"), ("asthma",)),
        (SearchRequest(intr="metformin"), ("metformin",)),
    ],
)
def test_relevance_puts_on_topic_trials_first(
    corpus_store: SQLiteStore, docs: dict, request_: SearchRequest, words: tuple[str, ...]
) -> None:
    hits = search(corpus_store, request_).hits
    assert len(hits) == 10
    for hit in hits:
        d, c = docs[hit.nct_id]
        arms = d["protocolSection"].get("armsInterventionsModule", {}).get("interventions", [])
        text = " ".join(
            [*c.conditions, *c.mesh_terms, *c.keywords, hit.title or "", *c.interventions,
             *(n for i in arms for n in i.get("otherNames", []))]
        ).lower()  # fmt: skip
        assert any(w in text for w in words), (hit.nct_id, hit.title)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_title_matches_rank_above_description_matches(corpus_store: SQLiteStore) -> None:
    hits = search(corpus_store, SearchRequest(term="creatine", page_size=3)).hits
    assert all("creatine" in (h.title or "").lower() for h in hits)


@pytest.mark.parametrize(
    "sort",
    [(SortKey("start", True),), (SortKey("enrollment", False), SortKey("last_update", True))],
)
def test_sorted_pages_give_every_result_once_in_order(
    corpus_store: SQLiteStore, docs: dict, sort: tuple[SortKey, ...]
) -> None:
    request = SearchRequest(term="heart", sort=sort)
    ids = all_ids(corpus_store, request)
    assert len(ids) > 1000
    key = {"start": lambda c: c.start.date, "enrollment": lambda c: c.enrollment,
           "last_update": lambda c: c.last_update.date}  # fmt: skip
    first = [key[sort[0].field](docs[n][1]) for n in ids]
    present = [v for v in first if v is not None]
    assert first[: len(present)] == present  # missing values last
    if sort[0].field == "start":  # month-precision dates compare as their first day
        present = [v if len(v) == 10 else v + "-01" for v in present]
    assert present == sorted(present, reverse=sort[0].descending)


def test_small_pages_agree_with_one_big_page(corpus_store: SQLiteStore) -> None:
    request = SearchRequest(cond="diabetes", status=frozenset({"COMPLETED"}), page_size=7)
    big = [h.nct_id for h in search(corpus_store, replace(request, page_size=1000)).hits]
    small: list[str] = []
    result = search(corpus_store, request)
    while True:
        small += [h.nct_id for h in result.hits]
        if not result.next_page_token:
            break
        result = search(corpus_store, request.with_page(result.next_page_token))
    assert small == big and len(big) > 7


def test_distance_is_reported_for_the_nearest_site(corpus_store: SQLiteStore, docs: dict) -> None:
    result = search(corpus_store, SearchRequest(near=Near(39.0, -77.1, 30.0), page_size=20))
    for hit in result.hits:
        distances = [
            haversine_km(39.0, -77.1, r[4], r[5])
            for r in location_rows(docs[hit.nct_id][0])
            if r[4]
        ]
        assert hit.distance_km is not None
        assert math.isclose(hit.distance_km, min(distances), abs_tol=0.06)


def test_related_trials_of_the_seed_are_all_als(corpus_store: SQLiteStore, docs: dict) -> None:
    """The seed record lists no conditions: its text ("ALS syndrome") has to find them."""
    hits = related(corpus_store, SEED, limit=20)
    assert hits is not None and len(hits) == 20
    assert SEED not in {h.nct_id for h in hits}
    assert all(_mentions_als(*docs[h.nct_id]) for h in hits), [h.title for h in hits]
    open_first = [h.overall_status in {"RECRUITING", "NOT_YET_RECRUITING",
                                        "ENROLLING_BY_INVITATION"} for h in hits]  # fmt: skip
    assert open_first == sorted(open_first, reverse=True)


def test_related_trials_share_conditions(corpus_store: SQLiteStore, docs: dict) -> None:
    hits = related(corpus_store, "NCT00005674", limit=10)  # creatine in ALS, with MeSH terms
    assert hits and all(_mentions_als(*docs[h.nct_id]) for h in hits)
    assert related(corpus_store, "NCT99999990") is None
