"""Pair matching on the seed trial (NCT04952155, low-dose IL-2 in immune-related ALS syndrome).

The criteria come from the seed page's "Eligibility" line (one paragraph, " - " bullets) and,
once it exists, from the stored demo record (API v2 layout "Inclusion Criteria:\\n\\n* ..."):
both layouts must give the same judgements.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from trialatlas.eligibility.match import CriterionResult, MatchResult, Status, Verdict, match_study
from trialatlas.eligibility.profile import Profile

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED_PAGE = SHARED / "seed" / "NCT04952155.txt"
DEMO_RECORD = ROOT / "data" / "demo" / "NCT04952155.json"


def seed_page_document() -> dict[str, Any]:
    if not SEED_PAGE.exists():
        pytest.skip(f"seed page not found at {SEED_PAGE}")
    line = next(
        line for line in SEED_PAGE.read_text().splitlines() if line.startswith("Eligibility ")
    )
    return {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT04952155"},
            "eligibilityModule": {
                "eligibilityCriteria": line.removeprefix("Eligibility ").strip(),
                "sex": "ALL",
                "minimumAge": "18 Years",
                "maximumAge": "70 Years",
                "healthyVolunteers": False,
            },
        }
    }


def demo_record_document() -> dict[str, Any]:
    if not DEMO_RECORD.exists():
        pytest.skip(f"demo record not written yet at {DEMO_RECORD}")
    return json.loads(DEMO_RECORD.read_text())


@pytest.fixture(params=[seed_page_document, demo_record_document], ids=["seed-page", "demo-record"])
def seed(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param()


def run(seed: dict[str, Any], **facts: Any) -> MatchResult:
    return match_study(Profile.from_dict(facts), seed)


def criterion(result: MatchResult, fragment: str) -> CriterionResult:
    (found,) = [c for c in result.criteria if fragment in c.text]
    return found


def test_low_lymphocytes_exclude_with_evidence(seed: dict[str, Any]) -> None:
    result = run(
        seed,
        age=45,
        diagnoses=["multifocal motor neuropathy"],
        labs=[{"name": "lymphocytes", "value": 500, "unit": "/mm3"}],
    )
    assert result.verdict is Verdict.LIKELY_EXCLUDED
    labs = criterion(result, "lymphocytes < 600/mm3")
    assert result.failures == (labs,)
    assert (labs.kind, labs.status) == ("exclusion", Status.NOT_MET)
    (evidence,) = [e for e in labs.evidence if e.status is Status.NOT_MET]
    assert evidence.criterion_text == "lymphocytes < 600/mm3"
    assert evidence.patient is not None and "500" in evidence.patient
    text = seed["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert text[evidence.start : evidence.end] == "lymphocytes < 600/mm3"
    assert labs.rule == evidence.rule == "measurement.threshold"
    # MMN is one of the immune-mediated syndromes the second inclusion criterion names.
    assert criterion(result, "multifocal motor neuropathy (MMN)").status is Status.MET


def test_seventy_five_year_old_is_excluded_by_age(seed: dict[str, Any]) -> None:
    result = run(seed, age=75, diagnoses=["ALS"])
    assert result.verdict is Verdict.LIKELY_EXCLUDED
    failed = {(c.kind, c.rule) for c in result.failures}
    assert ("structured", "structured.maximumAge") in failed
    assert ("inclusion", "age.range") in failed
    assert criterion(result, "18-70 years old").evidence[0].patient == "age 75 years"


def test_pregnant_woman_is_excluded(seed: dict[str, Any]) -> None:
    result = run(seed, age=30, sex="female", pregnant=True, diagnoses=["ALS"])
    assert result.verdict is Verdict.LIKELY_EXCLUDED
    item = criterion(result, "Pregnant and lactating women")
    assert (item.kind, item.status) == ("exclusion", Status.NOT_MET)
    assert item.evidence[0].patient == "pregnant: yes"


def test_patient_meeting_everything_stated_is_likely_eligible(seed: dict[str, Any]) -> None:
    result = run(
        seed,
        age=40,
        sex="male",
        diagnoses=["ALS-like syndrome", "multifocal motor neuropathy"],
        labs=[
            {"name": "lymphocytes", "value": 1500, "unit": "/mm3"},
            {"name": "platelets", "value": 200, "unit": "×10^9/L"},
        ],
    )
    assert result.verdict is Verdict.LIKELY_ELIGIBLE
    assert not result.failures
    assert result.relevance > 0
    unknown = {c.text for c in result.unknowns}
    assert any("white blood cells < 2000/mm3" in t for t in unknown)  # WBC was not given
    assert any("informed consent" in t for t in unknown)
    labs = criterion(result, "lymphocytes < 600/mm3")
    assert {e.criterion_text: e.status for e in labs.evidence if e.patient} == {
        "lymphocytes < 600/mm3": Status.MET,
        "platelets < 80,000 /mm3": Status.MET,
    }
    data = result.to_json()
    assert data["nctId"] == "NCT04952155" and data["verdict"] == "likely_eligible"
    assert {c["kind"] for c in data["criteria"]} == {"inclusion", "exclusion"}
    assert {c["status"] for c in data["criteria"]} == {"met", "unknown"}
    first = data["criteria"][0]
    assert set(first) >= {"kind", "text", "position", "status", "evidence", "rule"}
    json.dumps(data)


def test_the_score_is_how_likely_the_patient_qualifies(seed: dict[str, Any]) -> None:
    patient = {"age": 40, "sex": "male", "diagnoses": ["ALS-like syndrome"]}
    eligible = run(seed, **patient)
    unrelated = run(seed, **(patient | {"diagnoses": ["asthma"]}))
    one_exclusion = run(
        seed, **(patient | {"labs": [{"name": "lymphocytes", "value": 500, "unit": "/mm3"}]})
    )
    too_old = run(seed, **(patient | {"age": 75}))
    scores = [r.score for r in (eligible, unrelated, one_exclusion, too_old)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    assert 0.8 < eligible.score <= 1 and too_old.score < 0.2


def test_platelets_in_si_units_trigger_the_per_mm3_exclusion(seed: dict[str, Any]) -> None:
    result = run(
        seed,
        age=40,
        diagnoses=["ALS"],
        labs=[{"name": "platelets", "value": 70, "unit": "× 10^9/L"}],
    )
    assert result.verdict is Verdict.LIKELY_EXCLUDED
    item = criterion(result, "platelets < 80,000 /mm3")
    (evidence,) = [e for e in item.evidence if e.status is Status.NOT_MET]
    assert evidence.criterion_text == "platelets < 80,000 /mm3"


def test_lost_comparators_are_flagged_and_never_read_as_equality(seed: dict[str, Any]) -> None:
    result = run(
        seed,
        age=40,
        diagnoses=["ALS"],
        labs=[{"name": "creatinine clearance", "value": 20, "unit": "mL/min"}],
        scores=[{"name": "NYHA", "value": 2}],
    )
    item = criterion(result, "(=NYHA grade III)")
    assert "creatinine clearance =30ml/min" in item.text
    assert item.ambiguous and item.status is Status.UNKNOWN and item.review
    notes = {e.criterion_text: e.note for e in item.evidence if e.patient}
    assert "'='" in notes["creatinine clearance =30ml/min"]
    assert "'='" in notes["=NYHA grade III"]
    assert result.verdict is Verdict.NEEDS_REVIEW
    permitted = criterion(result, "(=1.0mg/kg/d)")
    assert permitted.ambiguous and permitted.status is Status.MET and permitted.rule == "permitted"


def test_time_windows_use_treatment_dates(seed: dict[str, Any]) -> None:
    def vaccinated(on: str) -> Status:
        result = run(
            seed,
            age=40,
            diagnoses=["ALS"],
            treatments=[{"name": "influenza vaccine", "start": on, "end": on}],
            as_of="2024-06-01",
        )
        return criterion(result, "Vaccination within 6 months").status

    assert vaccinated("2024-04-01") is Status.NOT_MET
    assert vaccinated("2023-01-01") is Status.MET


def test_structured_sex_and_healthy_volunteers() -> None:
    doc = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT00000001"},
            "conditionsModule": {"conditions": ["Breast Cancer"]},
            "eligibilityModule": {
                "eligibilityCriteria": "Inclusion Criteria:\n\n* Postmenopausal women\n",
                "sex": "FEMALE",
                "healthyVolunteers": False,
            },
        }
    }
    man = match_study(Profile(age=50, sex="male", diagnoses=("breast cancer",)), doc)
    assert man.verdict is Verdict.LIKELY_EXCLUDED
    assert [c.rule for c in man.failures] == ["structured.sex"]
    # In the text, "women" says whom the item is for: it does not concern a man.
    (item,) = man.criteria
    assert (item.status, item.rule) == (Status.MET, "sex.subject.not_applicable")
    woman = match_study(Profile(age=50, sex="female", diagnoses=("breast carcinoma",)), doc)
    assert woman.verdict is Verdict.LIKELY_ELIGIBLE
    assert woman.relevance == 1.0 and woman.score > man.score
    healthy = match_study(Profile(age=50, sex="female", healthy_volunteer=True), doc)
    assert [c.rule for c in healthy.failures] == ["structured.healthyVolunteers"]


def test_matching_trial_conditions_ranks_first() -> None:
    def trial(nct: str, condition: str) -> dict[str, Any]:
        return {
            "protocolSection": {
                "identificationModule": {"nctId": nct},
                "conditionsModule": {"conditions": [condition]},
                "eligibilityModule": {"eligibilityCriteria": "Inclusion Criteria:\n\n* Adults"},
            }
        }

    patient = Profile(age=60, sex="male", diagnoses=("NSCLC",), as_of=dt.date(2024, 1, 1))
    scores = {
        nct: match_study(patient, trial(nct, condition)).score
        for nct, condition in [
            ("NCT00000001", "Carcinoma, Non-Small-Cell Lung"),
            ("NCT00000002", "Asthma"),
        ]
    }
    assert scores["NCT00000001"] > scores["NCT00000002"]


def test_her_2_written_with_a_hyphen_is_her2() -> None:
    doc = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT00000003"},
            "conditionsModule": {"conditions": ["HER2-positive Breast Cancer"]},
            "eligibilityModule": {"eligibilityCriteria": "Inclusion Criteria:\n\n* Adults"},
        }
    }
    her2 = match_study(Profile(age=50, diagnoses=("HER-2 positive breast carcinoma",)), doc)
    assert her2.relevance == 1.0
    stage_2 = match_study(Profile(age=50, diagnoses=("stage 2 positive lymph nodes",)), doc)
    assert stage_2.relevance == 0.0
