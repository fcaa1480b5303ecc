"""Store-wide matching: `rank_trials` over the shared corpus, the CLI's `match`, the API.

The seed-like patient (40 years old, ALS-like syndrome with multifocal motor neuropathy)
must find the seed trial NCT04952155 and the ALS trials of its "See also" list, each with a
reason for every criterion. Analysed criteria go to a cache directory of the module's own.
"""

from __future__ import annotations

import re
import sqlite3
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from trialatlas import cli as cli_module
from trialatlas.cli import main
from trialatlas.eligibility import cache, extract, rank
from trialatlas.eligibility.evaluate import (
    load_qrels,
    load_topics,
    ndcg_at,
    pairwise_auc,
    precision_at,
)
from trialatlas.eligibility.extract import analyze_criteria
from trialatlas.eligibility.match import Status, Verdict
from trialatlas.eligibility.profile import Profile, ProfileError, profile_from_note
from trialatlas.search.query import OPEN_STATUSES
from trialatlas.store import Store
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.web.app import create_app

SEED = "NCT04952155"
SEE_ALSO = {"NCT02917681", "NCT03067857", "NCT04082832", "NCT04220190", "NCT04428775"}
SEED_LIKE = {
    "age": 40,
    "sex": "male",
    "diagnoses": ["ALS-like syndrome", "multifocal motor neuropathy"],
}
BEIJING = {"city": "Beijing", "country": "China"}  # the seed trial's site


pytestmark = pytest.mark.usefixtures("criteria_cache_dir")


def ranked(store: Store, limit: int = 20, **facts: Any) -> list[rank.RankedTrial]:
    any_status = facts.pop("any_status", False)
    return rank.rank_trials(store, Profile.from_dict(SEED_LIKE | facts), limit, any_status)


def is_als(trial: rank.RankedTrial) -> bool:
    """Whether the trial is about ALS: its title, or the condition the matcher related."""
    said = f"{trial.title} {' '.join(trial.match.relevance_evidence)}"
    return bool(re.search(r"\bALS\b|amyotrophic", said, re.IGNORECASE))


# --- ranking over the corpus ---------------------------------------------------------------


def test_seed_like_patient_finds_the_seed_and_als_trials(corpus_store: SQLiteStore) -> None:
    trials = ranked(corpus_store, limit=10)
    ids = [t.nct_id for t in trials]
    assert SEED in ids[:5]
    assert all(is_als(t) for t in trials[:5]), [(t.nct_id, t.title) for t in trials[:5]]
    for trial in trials:
        assert trial.verdict in {v.value for v in Verdict}
        assert trial.match.criteria, f"{trial.nct_id} has no per-criterion results"
        for result in trial.match.criteria:
            assert result.text and result.status in Status and result.rule
    seed = trials[ids.index(SEED)]
    assert seed.verdict != Verdict.LIKELY_EXCLUDED.value
    texts = [c.text for c in seed.match.criteria]
    age = seed.match.criteria[texts.index("18-70 years old;")]
    assert age.status is Status.MET and age.evidence[0].patient == "age 40 years"
    anywhere = ranked(corpus_store, limit=10, any_status=True)
    assert sum(is_als(t) for t in anywhere) >= 9
    assert len(SEE_ALSO & {t.nct_id for t in anywhere}) >= 3


def test_postgresql_ranks_the_seed_like_patient_as_sqlite_does(
    corpus_store: SQLiteStore, pg_corpus_store: Store
) -> None:
    """Retrieval is each backend's own BM25, so orders may differ a little; what a trial's
    criteria say of the patient may not."""
    on_sqlite = {t.nct_id: t for t in ranked(corpus_store, limit=10)}
    on_postgres = {t.nct_id: t for t in ranked(pg_corpus_store, limit=10)}
    assert SEED in on_postgres and SEED in on_sqlite
    assert sum(is_als(t) for t in on_postgres.values()) >= 8
    for nct_id in on_sqlite.keys() & on_postgres.keys():
        assert on_postgres[nct_id].match == on_sqlite[nct_id].match
        assert on_postgres[nct_id].eligibility == on_sqlite[nct_id].eligibility


def test_open_trials_come_first_unless_any_status(corpus_store: SQLiteStore) -> None:
    default = ranked(corpus_store)
    first = [t.overall_status in OPEN_STATUSES and t.match.relevance > 0 for t in default]
    assert first[0] and first == sorted(first, reverse=True)
    assert SEED in [t.nct_id for t in default]
    # the corpus has six open trials on the patient's conditions: closed ones follow them,
    # not recruiting trials on erectile dysfunction that the word "neuropathy" retrieved
    top = [(t.nct_id, t.title, t.match.relevance_evidence) for t in default[:12]]
    assert all(t.match.relevance > 0 for t in default[:12]), top
    assert sum(is_als(t) for t in default[:12]) >= 10, top
    closed = next(n for n, t in enumerate(default) if t.overall_status not in OPEN_STATUSES)
    assert sum(first) == closed and 0 < closed < 12
    anywhere = ranked(corpus_store, any_status=True)
    scores = [t.score for t in anywhere]
    assert scores == sorted(scores, reverse=True)
    assert any(t.overall_status not in OPEN_STATUSES for t in anywhere[:5])
    assert [t.rank for t in anywhere] == list(range(1, len(anywhere) + 1))


def test_a_site_near_the_patient_lifts_the_trial(corpus_store: SQLiteStore) -> None:
    far = {t.nct_id: t for t in ranked(corpus_store, limit=50)}
    near = {t.nct_id: t for t in ranked(corpus_store, limit=50, location=BEIJING)}
    assert far[SEED].candidate.near is None
    assert near[SEED].candidate.near is True and near[SEED].candidate.distance_km is not None
    assert near[SEED].score == pytest.approx(far[SEED].score + rank.WEIGHTS.near)
    assert near[SEED].rank <= far[SEED].rank
    elsewhere = next(iter(SEE_ALSO & near.keys()))
    assert near[elsewhere].candidate.near is False
    assert near[elsewhere].score == pytest.approx(far[elsewhere].score)


def test_pruning_keeps_the_exact_top(corpus_store: SQLiteStore) -> None:
    profile = Profile.from_dict(SEED_LIKE)
    found = rank.retrieve(corpus_store, profile, candidates=300, any_status=True)
    everything = rank.rank_candidates(
        corpus_store, profile, found, limit=len(found), any_status=True
    )
    top = rank.rank_candidates(corpus_store, profile, found, limit=7, any_status=True)
    assert [t.nct_id for t in top] == [t.nct_id for t in everything[:7]]


def test_score_trials_scores_exactly_the_given_ones(corpus_store: SQLiteStore) -> None:
    profile = Profile.from_dict(SEED_LIKE)
    ids = [SEED, *sorted(SEE_ALSO), "NCT99999999"]
    scored = rank.score_trials(corpus_store, profile, ids)
    assert {t.nct_id for t in scored} == {SEED, *SEE_ALSO}
    assert [t.score for t in scored] == sorted((t.score for t in scored), reverse=True)
    assert all(0.0 <= t.eligibility <= 1.0 and 0.0 <= t.retrieval <= 1.0 for t in scored)


def test_check_trial_names_the_failing_criterion(corpus_store: SQLiteStore) -> None:
    lymphocytes = {"name": "lymphocytes", "value": 500, "unit": "/mm3"}
    profile = Profile.from_dict(SEED_LIKE | {"labs": [lymphocytes]})
    result = rank.check_trial(corpus_store, SEED, profile)
    assert result is not None and result.verdict is Verdict.LIKELY_EXCLUDED
    (failure,) = result.failures
    assert "lymphocytes < 600/mm3" in failure.text
    assert rank.check_trial(corpus_store, "NCT99999999", profile) is None


def test_a_profile_without_diagnoses_cannot_be_ranked(corpus_store: SQLiteStore) -> None:
    with pytest.raises(ProfileError, match=r"^diagnoses: "):
        rank.rank_trials(corpus_store, Profile(age=40))


def test_the_query_leaves_out_what_the_note_denies() -> None:
    note = (
        "A 62-year-old man presented with left-sided weakness and slurred speech. He denied "
        "headache, chest pain or fever. Imaging was negative for obstructive pancreatitis."
    )
    terms = rank.query_expression(profile_from_note(note), note).split(" OR ")
    assert not {"headache", "chest", "fever"} & set(terms)
    assert {"weakness", "slurred", "pancreatitis"} <= set(terms)


def test_the_query_leaves_out_the_past_medical_history() -> None:
    note = (
        "A 62-year-old man presented with left-sided weakness and slurred speech. His medical "
        "history was significant for hyperlipidemia. He takes atorvastatin. Family history: "
        "his mother had breast cancer."
    )
    profile = profile_from_note(note)
    terms = rank.query_expression(profile, note).split(" OR ")
    assert not {"hyperlipidemia", "breast"} & set(terms)
    assert {"weakness", "slurred", "atorvastatin"} <= set(terms)
    # a profile's history is never searched, with or without a note
    given = Profile(diagnoses=("ischemic stroke",), history=("hyperlipidemia",))
    assert rank.query_expression(given).split(" OR ")[0] == "(ischemic stroke)"
    assert "hyperlipidemia" not in rank.query_expression(given)
    # unless there is nothing else to search with
    alone = profile_from_note("A 50-year-old man with a past medical history of COPD.")
    assert alone.history == ("COPD",) and rank.query_expression(alone) == "copd"


def seed_page_items(shared_dir: Path) -> tuple[list[str], list[str]]:
    """The seed page's criteria items, split at its " - " bullets."""
    line = next(
        line
        for line in (shared_dir / "seed" / "NCT04952155.txt").read_text().splitlines()
        if line.startswith("Eligibility ")
    )
    inclusion, exclusion = line.removeprefix("Eligibility Inclusion Criteria:").split(
        "Exclusion Criteria:"
    )
    return [i.strip() for i in inclusion.split(" - ")[1:]], [
        e.strip() for e in exclusion.split(" - ")[1:]
    ]


def test_trial_criteria_of_the_seed_are_its_items(
    corpus_store: SQLiteStore, shared_dir: Path
) -> None:
    parsed = rank.trial_criteria(corpus_store, SEED)
    assert parsed is not None
    inclusion, exclusion = seed_page_items(shared_dir)
    assert [i["text"] for i in parsed["inclusion"]] == inclusion
    assert [i["text"] for i in parsed["exclusion"]] == exclusion
    source = corpus_store.document(SEED)["protocolSection"]["eligibilityModule"][
        "eligibilityCriteria"
    ]
    for item in parsed["inclusion"] + parsed["exclusion"]:
        start, end = item["position"]
        assert source[start:end] == item["text"]
    (age,) = parsed["inclusion"][0]["constraints"]
    assert (age["type"], age["low"], age["high"]) == ("age", 18.0, 70.0)
    assert parsed["structured"]["minimumAge"] == "18 Years"
    assert rank.trial_criteria(corpus_store, "NCT99999999") is None


# --- the criteria cache --------------------------------------------------------------------


def test_analyses_are_kept_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Inclusion Criteria:\n\n* Adults with a rare test condition 7d1f\n"
    path = tmp_path / "criteria.sqlite"
    cache.CriteriaCache(path).prepare([text])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM analysis").fetchone() == (1,)
    expected = analyze_criteria(text)
    monkeypatch.setattr(extract, "_CACHE", OrderedDict())  # a fresh process: only the file
    assert extract.cached(expected.key) is None

    def no_parsing(text: str) -> None:
        raise AssertionError("parsed again instead of loaded")

    monkeypatch.setattr(cache, "analyze_criteria", no_parsing)
    cache.CriteriaCache(path).prepare([text])
    loaded = extract.cached(extract.analysis_key(text))
    assert loaded is not None and loaded.items == expected.items
    assert analyze_criteria(text) is loaded


# --- evaluation helpers --------------------------------------------------------------------


def test_trec_metrics_by_hand() -> None:
    grades = {"A": 2, "B": 1, "C": 0, "D": 2}
    assert ndcg_at(["A", "D", "B"], grades) == pytest.approx(1.0)
    ideal = 2 + 2 / 1.5849625 + 1 / 2
    assert ndcg_at(["X", "A"], grades) == pytest.approx((2 / 1.5849625) / ideal, rel=1e-6)
    assert ndcg_at(["A"], {"A": 0}) == 0.0
    assert precision_at(["A", "B", "D"], grades, k=10) == pytest.approx(0.2)
    assert pairwise_auc({"A": 0.9, "D": 0.1, "B": 0.5}, grades) == (1.0, 2)
    assert pairwise_auc({"A": 0.5, "D": 0.5, "B": 0.5}, grades) == (1.0, 2)


def test_trec_2021_files_load(shared_dir: Path) -> None:
    trec = shared_dir / "data" / "trec-ct" / "2021"
    topics = load_topics(trec / "topics2021.xml")
    qrels = load_qrels(trec / "qrels2021.txt")
    assert len(topics) == 75 and topics["1"].startswith("Patient is a 45-year-old man")
    assert sum(map(len, qrels.values())) == 35_832
    assert qrels["1"]["NCT00002814"] == 2


# --- the CLI -------------------------------------------------------------------------------


def cli(corpus_store: SQLiteStore, *args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(
        main, ["match", "--database", str(corpus_store.path), *args], input=stdin
    )


def test_cli_json_is_the_ranked_list(corpus_store: SQLiteStore, tmp_path: Path) -> None:
    profile = tmp_path / "patient.json"
    profile.write_bytes(orjson.dumps(SEED_LIKE))
    result = cli(corpus_store, str(profile), "--limit", "5", "--format", "json")
    assert result.exit_code == 0, result.output
    trials = orjson.loads(result.stdout)
    assert len(trials) == 5 and [t["rank"] for t in trials] == [1, 2, 3, 4, 5]
    for trial in trials:
        assert {"nctId", "verdict", "score", "criteria"} <= trial.keys()
        assert trial["criteria"] and {"text", "status", "evidence"} <= trial["criteria"][0].keys()
    assert all(t["overallStatus"] in OPEN_STATUSES for t in trials)
    anywhere = orjson.loads(
        cli(corpus_store, str(profile), "--limit", "5", "--format", "json", "--any-status").stdout
    )
    assert any(t["overallStatus"] not in OPEN_STATUSES for t in anywhere)


def test_cli_note_and_table(corpus_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module.stdout, "width", 80)  # a plain terminal
    note = "A 40-year-old man with amyotrophic lateral sclerosis and multifocal motor neuropathy."
    result = cli(corpus_store, "--note", note, "--limit", "10")
    assert result.exit_code == 0, result.output
    assert SEED in result.stdout and "verdict" in result.stdout
    # the title and the reason give way; the verdict and the score stay whole
    assert re.search(r"(likely_eligible|needs_review|likely_excluded) +\d\.\d{3} ", result.stdout)


@pytest.mark.parametrize(
    ("stdin", "field"),
    [
        ('{"age": "forty", "diagnoses": ["ALS"]}', "age:"),
        ('{"age": 40, "diagnosis": ["ALS"]}', "diagnosis: unknown field"),
        ('{"labs": [{"name": "ANC"}], "diagnoses": ["ALS"]}', "labs[0].value: required"),
        ('{"age": 40}', "diagnoses:"),
        ("{not json", "not JSON"),
    ],
)
def test_cli_bad_profile_exits_2_naming_the_field(
    corpus_store: SQLiteStore, stdin: str, field: str
) -> None:
    result = cli(corpus_store, "-", stdin=stdin)
    assert result.exit_code == 2
    assert field in result.stderr


def test_cli_needs_a_patient(corpus_store: SQLiteStore) -> None:
    result = cli(corpus_store)
    assert result.exit_code == 2 and "PROFILE.json or --note" in result.stderr


def test_read_note_prints_a_profile_that_match_takes(
    corpus_store: SQLiteStore, tmp_path: Path
) -> None:
    note = "A 40-year-old man with amyotrophic lateral sclerosis. Hb 11.8 g/dL, WBC 6,100/uL."
    read = CliRunner().invoke(main, ["read-note", "-"], input=note)
    assert read.exit_code == 0, read.output
    data = orjson.loads(read.stdout)
    assert (data["age"], data["sex"], data["diagnoses"]) == (
        40,
        "male",
        ["amyotrophic lateral sclerosis"],
    )
    assert [lab["name"] for lab in data["labs"]] == ["hemoglobin", "wbc"]
    assert read.stderr == "from the measurements: anemia (hemoglobin 11.8 g/dL, below 13 g/dL)\n"
    edited = tmp_path / "patient.json"
    edited.write_text(read.stdout)
    ranked = orjson.loads(cli(corpus_store, str(edited), "--limit", "3", "--format", "json").stdout)
    from_note = rank.rank_trials(corpus_store, profile_from_note(note), 3)
    assert [t["nctId"] for t in ranked] == [t.nct_id for t in from_note]
    for args, stdin in (([], None), (["-", "--note", note], note), (["--note", " "], None)):
        refused = CliRunner().invoke(main, ["read-note", *args], input=stdin)
        assert refused.exit_code == 2 and "note" in refused.stderr


# --- the API -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(corpus_store: SQLiteStore) -> TestClient:
    return TestClient(create_app(str(corpus_store.path)))


def test_api_match_ranks_a_profile(client: TestClient) -> None:
    response = client.post("/api/match", json={"profile": SEED_LIKE, "limit": 5})
    assert response.status_code == 200
    trials = response.json()
    assert len(trials) == 5 and all(t["overallStatus"] in OPEN_STATUSES for t in trials)
    for trial in trials:
        assert {"nctId", "verdict", "score", "criteria"} <= trial.keys()
        assert {"text", "status", "rule", "evidence"} <= trial["criteria"][0].keys()
    anywhere = client.post(
        "/api/match", json={"profile": SEED_LIKE, "limit": 5, "anyStatus": True}
    ).json()
    assert any(t["overallStatus"] not in OPEN_STATUSES for t in anywhere)


def test_api_match_reads_a_note(client: TestClient) -> None:
    note = "40 yo man with ALS-like syndrome; multifocal motor neuropathy."
    response = client.post("/api/match", json={"note": note, "limit": 10})
    assert response.status_code == 200
    assert SEED in [t["nctId"] for t in response.json()]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{oops", "body: not JSON"),
        (b"[1]", "body: expected a JSON object"),
        (b"{}", "profile: give a profile or a note"),
        (b'{"profile": {"age": -1, "diagnoses": ["ALS"]}}', "profile.age: must be at least 0"),
        (b'{"profile": {"sex": "x", "diagnoses": ["ALS"]}}', "profile.sex: must be one of"),
        (b'{"profile": {"age": 40}}', "profile.diagnoses:"),
        (b'{"note": 3}', "note: expected a non-empty string"),
        (b'{"note": "ALS", "limit": 1000}', "limit: expected a whole number 1..100"),
        (b'{"note": "ALS", "anyStatus": 1}', "anyStatus: expected true or false"),
        (b'{"note": "ALS", "where": "here"}', "where: unknown field"),
    ],
)
def test_api_match_bad_input_is_400_naming_the_field(
    client: TestClient, body: bytes, message: str
) -> None:
    response = client.post("/api/match", content=body)
    assert response.status_code == 400
    assert message in response.text


def test_api_profile_reads_a_note_and_checks_a_profile(client: TestClient) -> None:
    note = "A 62-year-old woman with hypothyroidism. Hb 10.1 g/dL, 25(OH)D 18 ng/mL."
    response = client.post("/api/profile", json={"note": note})
    assert response.status_code == 200
    read = response.json()
    assert read["profile"]["age"] == 62 and read["profile"]["diagnoses"] == ["hypothyroidism"]
    assert read["derivedConditions"] == [
        {"condition": "anemia", "evidence": "anemia (hemoglobin 10.1 g/dL, below 12 g/dL)"},
        {
            "condition": "vitamin D deficiency",
            "evidence": "vitamin D deficiency (vitamin D 18 ng/mL, below 20 ng/mL)",
        },
    ]
    again = client.post("/api/profile", json={"profile": read["profile"]})
    assert again.json() == read  # the profile it gives is one /api/match takes back
    for body, message in (
        ({"profile": {"age": "old"}}, "profile.age:"),
        ({"note": " "}, "note: expected a non-empty string"),
        ({"note": "x", "limit": 3}, "body: expected a JSON object with one field"),
    ):
        refused = client.post("/api/profile", json=body)
        assert refused.status_code == 400 and message in refused.text


def test_api_criteria_of_the_seed(client: TestClient, shared_dir: Path) -> None:
    response = client.get(f"/api/v2/studies/{SEED.lower()}/criteria")
    assert response.status_code == 200
    parsed = response.json()
    inclusion, exclusion = seed_page_items(shared_dir)
    assert parsed["nctId"] == SEED
    assert [i["text"] for i in parsed["inclusion"]] == inclusion
    assert [i["text"] for i in parsed["exclusion"]] == exclusion
    first = parsed["exclusion"][0]
    assert {"index", "kind", "text", "position", "constraints"} <= first.keys()


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/v2/studies/NCT99999999/criteria", 404, "NCT99999999 not found"),
        ("/api/v2/studies/NCTX/criteria", 400, "nctId:"),
        (f"/api/v2/studies/{SEED}/criteria?format=csv", 400, "format: unknown parameter"),
    ],
)
def test_api_criteria_errors(client: TestClient, path: str, status: int, message: str) -> None:
    response = client.get(path)
    assert response.status_code == status and message in response.text
