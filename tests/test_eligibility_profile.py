"""Patient profiles: schema validation with named fields, and TREC-style notes read into them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from trialatlas.eligibility.match import Status, match_study
from trialatlas.eligibility.profile import (
    Measured,
    Profile,
    ProfileError,
    note_focus,
    profile_from_note,
    schema,
    validate,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TOPICS = SHARED / "data" / "trec-ct" / "2021" / "topics2021.xml"

GOOD = {
    "age": 45,
    "sex": "female",
    "diagnoses": ["multifocal motor neuropathy"],
    "absent_conditions": ["diabetes"],
    "labs": [{"name": "lymphocytes", "value": 500, "unit": "/mm3", "date": "2024-05-01"}],
    "vitals": [{"name": "systolic blood pressure", "value": 130, "unit": "mmHg"}],
    "scores": [{"name": "ECOG", "value": 1}],
    "treatments": [{"name": "prednisone", "start": "2024-01-01", "ongoing": True}],
    "pregnant": False,
    "lactating": None,
    "location": {"country": "China", "city": "Beijing", "lat": 39.9, "lon": 116.4},
    "as_of": "2024-06-01",
}


def test_schema_is_documented_json_schema() -> None:
    data = schema()
    assert data["$schema"].startswith("https://json-schema.org/")
    assert all("description" in rule or "$ref" in rule for rule in data["properties"].values())


def test_valid_profile_round_trips() -> None:
    profile = Profile.from_dict(GOOD)
    assert profile.labs == (Measured("lymphocytes", 500.0, "/mm3", dt.date(2024, 5, 1)),)
    assert profile.treatments[0].ongoing is True
    assert profile.as_of == dt.date(2024, 6, 1)
    again = Profile.from_dict(profile.to_dict())
    assert again == profile


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"age": "forty"}, "age: expected number, got 'forty'"),
        ({"age": -1}, "age: must be at least 0"),
        ({"sex": "f"}, "sex: must be one of female, male"),
        (
            {"labs": [{"name": "ANC", "value": 1.5}, {"name": "Hb", "value": "high"}]},
            "labs[1].value",
        ),
        ({"labs": [{"value": 3}]}, "labs[0].name: required"),
        (
            {"treatments": [{"name": "x", "start": "2024-13-01"}]},
            "treatments[0].start: expected a date",
        ),
        ({"location": {"lat": 123}}, "location.lat: must be at most 90"),
        ({"weight": 80}, "weight: unknown field"),
        ({"pregnant": "yes"}, "pregnant: expected boolean or null"),
    ],
)
def test_errors_name_the_bad_field(patch: dict, message: str) -> None:
    with pytest.raises(ProfileError) as error:
        Profile.from_dict({**GOOD, **patch})
    assert message in str(error.value)


def test_every_problem_is_reported() -> None:
    with pytest.raises(ProfileError) as error:
        validate({"age": "x", "sex": 1, "diagnoses": [""]})
    assert len(error.value.problems) == 3


def test_not_an_object() -> None:
    with pytest.raises(ProfileError, match="profile: expected object"):
        validate([1, 2])


# --- TREC Clinical Trials 2021 topics ------------------------------------------------------


def topics() -> dict[int, str]:
    if not TOPICS.exists():
        pytest.skip(f"shared TREC topics not found at {TOPICS}")
    text = TOPICS.read_text()
    return {
        int(m.group(1)): m.group(2).strip()
        for m in re.finditer(r'<topic number="(\d+)">\s*(.*?)</topic>', text, re.S)
    }


# Age and sex of all 75 topics, read by hand from the topic texts ("F"/"M"; ages in years,
# days and months noted as fractions).
DAYS, MONTHS = 1 / 365.25, 1 / 12
HAND_CHECKED = {
    1: (45, "M"), 2: (48, "M"), 3: (32, "F"), 4: (44, "F"), 5: (74, "M"), 6: (55, "F"),
    7: (60, "M"), 8: (57, "M"), 9: (41, "M"), 10: (22, "F"), 11: (75, "M"), 12: (34, "F"),
    13: (62, "M"), 14: (70, "F"), 15: (70, "F"), 16: (79, "F"), 17: (64, "F"), 18: (78, "M"),
    19: (65, "M"), 20: (35, "F"), 21: (57, "M"), 22: (31, "F"), 23: (39, "M"), 24: (55, "M"),
    25: (42, "F"), 26: (45, "F"), 27: (53, "M"), 28: (60, "M"), 29: (24, "M"), 30: (33, "F"),
    31: (37, "F"), 32: (17, "M"), 33: (42, "F"), 34: (47, "F"), 35: (15, "F"), 36: (32, "F"),
    37: (20, "F"), 38: (35, "F"), 39: (3 * DAYS, "F"), 40: (60, "M"), 41: (57, "M"),
    42: (19, "F"), 43: (60, "F"), 44: (14, "M"), 45: (34, "M"), 46: (30, "M"), 47: (62, "M"),
    48: (41, "M"), 49: (12, "F"), 50: (5 * MONTHS, "M"), 51: (25, "F"), 52: (34, "M"),
    53: (34, "F"), 54: (57, "M"), 55: (22, "M"), 56: (41, "M"), 57: (41, "F"), 58: (17, "M"),
    59: (15, "M"), 60: (63, "M"), 61: (45, "F"), 62: (46, "M"), 63: (54, "F"), 64: (55, "M"),
    65: (25, "M"), 66: (16, "F"), 67: (54, "F"), 68: (23, "M"), 69: (67, "F"), 70: (46, "F"),
    71: (34, "F"), 72: (16, "F"), 73: (3 * DAYS, "F"), 74: (53, "M"), 75: (55, "M"),
}  # fmt: skip


def test_age_and_sex_of_all_75_topics() -> None:
    found = topics()
    assert sorted(found) == sorted(HAND_CHECKED)
    for number, note in found.items():
        profile = profile_from_note(note)
        age, sex = HAND_CHECKED[number]
        assert profile.age == pytest.approx(age, abs=1e-3), number
        assert profile.sex == {"F": "female", "M": "male"}[sex], number


def test_independent_age_check_where_the_text_is_plain() -> None:
    """Cross-check with a deliberately naive pattern on the topics it reads unambiguously."""
    plain = re.compile(r"\b(\d{1,2})-year-old (man|woman|boy|girl)\b")
    checked = 0
    for note in topics().values():
        m = plain.search(note)
        if m:
            profile = profile_from_note(note)
            assert profile.age == int(m.group(1))
            assert profile.sex == ("male" if m.group(2) in ("man", "boy") else "female")
            checked += 1
    assert checked >= 20


def test_topic_facts() -> None:
    t = topics()
    heart = profile_from_note(t[2])
    assert {"HTN", "hyperlipidemia"} <= set(heart.diagnoses)
    assert ("lvef", 25.0, "%") in [(m.name, m.value, m.unit) for m in heart.vitals]
    assert {"Lasix", "BB"} <= {x.name for x in heart.treatments}

    carotid = profile_from_note(t[5])
    assert {"chest pain", "dyspnea"} <= set(carotid.absent_conditions)

    pyelo = profile_from_note(t[51])
    assert pyelo.pregnant is True
    assert ("wbc", 14120.0, "/uL") in [(m.name, m.value, m.unit) for m in pyelo.labs]
    assert ("hemoglobin", 12.9, "g/dL") in [(m.name, m.value, m.unit) for m in pyelo.labs]

    lipids = {m.name: (m.value, m.unit) for m in profile_from_note(t[62]).labs}
    assert lipids["ldl"] == (545.0, "mg/dL") and lipids["hdl"] == (53.0, "mg/dL")

    parkinson = profile_from_note(t[41])
    assert "Parkinson's disease" in parkinson.diagnoses
    assert "Levodopa" in {x.name for x in parkinson.treatments}

    assert profile_from_note(t[33]).healthy_volunteer is True
    assert profile_from_note(t[36]).contraception is False
    assert profile_from_note(t[20]).contraception is True
    infant = profile_from_note(t[50])
    assert infant.pregnant is None and infant.sex == "male"
    assert "cervical cancer" in profile_from_note(t[31]).diagnoses


def test_findings_said_as_adjectives_with_their_values() -> None:
    note = (
        "She is febrile (38.4°C), tachycardic (113/min) and hypotensive (80/40 mmHg). "
        "He was afebrile and not jaundiced."
    )
    profile = profile_from_note(note)
    assert {"fever", "tachycardia", "hypotension"} <= set(profile.diagnoses)
    assert "jaundice" in profile.absent_conditions
    vitals = {m.name: (m.value, m.unit) for m in profile.vitals}
    assert vitals["temperature"] == (38.4, "degC")
    assert vitals["heart_rate"] == (113.0, "bpm")
    assert (vitals["systolic_bp"], vitals["diastolic_bp"]) == ((80.0, "mmHg"), (40.0, "mmHg"))


def test_a_depressed_mood_described_is_depression() -> None:
    note = "She complains of persistent feelings of sadness; her mood is mostly depressed."
    assert "depression" in profile_from_note(note).diagnoses
    assert "depression" in profile_from_note("He denies depressed mood.").absent_conditions
    assert "depression" not in profile_from_note("Depressed skull fracture.").diagnoses


def test_a_lesion_said_before_its_site() -> None:
    note = "Ultrasonography revealed severe stenosis in the left internal carotid artery."
    assert "internal carotid artery stenosis" in profile_from_note(note).diagnoses
    assert (
        "aortic valve stenosis"
        in profile_from_note("There is no stenosis of the aortic valve.").absent_conditions
    )


def test_a_relatives_diagnosis_is_not_the_patients() -> None:
    note = (
        "A 47-year-old woman with depressed mood. Her husband was recently diagnosed with "
        "colon cancer and he is starting chemotherapy. Her mother has diabetes. She has asthma."
    )
    profile = profile_from_note(note)
    assert "asthma" in profile.diagnoses
    assert not {"colon cancer", "diabetes"} & set(profile.diagnoses)


def test_the_past_medical_history_is_kept_apart_from_what_the_note_is_about() -> None:
    note = (
        "A 62-year-old man presented with left-sided weakness and slurred speech. His medical "
        "history was significant for hypertension and hyperlipidemia. Imaging showed an acute "
        "ischemic stroke. Family history: his father had colon cancer."
    )
    profile = profile_from_note(note)
    assert set(profile.history) == {"hypertension", "hyperlipidemia"}
    assert "ischemic stroke" in profile.diagnoses
    assert not set(profile.history) & set(profile.diagnoses)
    assert {"hypertension", "ischemic stroke"} <= set(profile.conditions)
    focus = note_focus(note)
    assert "stroke" in focus and "weakness" in focus
    assert not {"hyperlipidemia", "colon"} & set(focus.split())


def test_a_past_medical_history_heading_runs_to_the_next_heading() -> None:
    note = (
        "70 year-old woman who presents with fevers and abdominal pain. The biopsy was "
        "consistent with pancreatic adenocarcinoma. Past Medical History: 1. Atrial "
        "fibrillation 2. Hypothyroidism. Social History: lives alone, asthma as a child."
    )
    profile = profile_from_note(note)
    assert {"Atrial fibrillation", "Hypothyroidism"} <= set(profile.history)
    assert {"pancreatic adenocarcinoma", "asthma"} <= set(profile.diagnoses)


def test_a_negation_ends_with_its_list_item() -> None:
    note = (
        "79 yo F with worsening shortness of breath. Past Medical History: - COPD on home O2 "
        "- OSA, not CPAP compliant - Microcytic anemia - Hypothyroidism"
    )
    profile = profile_from_note(note)
    assert {"Microcytic anemia", "Hypothyroidism"} <= set(profile.history)
    assert not {"Microcytic anemia", "Hypothyroidism"} & set(profile.absent_conditions)


@pytest.mark.parametrize(
    ("note", "condition"),
    [
        # a "history of" names the disease at hand as often as not
        (
            "Pt is a 22yo F with a 5 yr history of systemic mastocytosis, presenting with "
            "flushing concerning for another flare.",
            "systemic mastocytosis",
        ),
        # so does a "known case of"
        (
            "He is a known case of COPD since 2 years ago, presenting with shortness of breath.",
            "COPD",
        ),
    ],
)
def test_what_stays_a_diagnosis(note: str, condition: str) -> None:
    profile = profile_from_note(note)
    assert condition in profile.diagnoses and not profile.history


def test_a_condition_from_the_medical_history_still_decides_criteria() -> None:
    profile = profile_from_note(
        "A 58-year-old woman presents with knee osteoarthritis. PMH of epilepsy."
    )
    assert profile.history == ("epilepsy",)
    criteria = "Inclusion Criteria:\n- knee osteoarthritis\nExclusion Criteria:\n- epilepsy"
    statuses = [c.status for c in match_study(profile, trial(criteria)).criteria]
    assert statuses == [Status.MET, Status.NOT_MET]


def test_a_generic_tumor_word_is_the_tumor_the_note_names() -> None:
    named = profile_from_note("A 45-year-old man with astrocytoma. The tumor is in the spine.")
    assert named.diagnoses == ("astrocytoma",)
    planned = profile_from_note("A woman with ductal breast carcinoma, for tumor resection.")
    assert planned.diagnoses == ("ductal breast carcinoma",)
    unnamed = profile_from_note("A 45-year-old man with a mass. The tumor is in the spine.")
    assert "tumor" in unnamed.diagnoses  # nothing else names it: keep what the note says


def trial(criteria: str) -> dict:
    """A record with only an id and these eligibility criteria."""
    return {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT00000001"},
            "eligibilityModule": {"eligibilityCriteria": criteria},
        }
    }


def test_a_bare_glucose_too_small_for_mg_dl_is_mmol_l() -> None:
    profile = profile_from_note("A 41-year-old woman. Glucose level of 15.")
    (criterion,) = match_study(
        profile, trial("Inclusion Criteria:\n- Glucose > 125 mg/dl")
    ).criteria
    assert criterion.status is Status.MET  # 15 mmol/L is 270 mg/dL


def test_values_given_respectively_abbreviated_resp() -> None:
    note = (
        "A 46-year-old man. His fasting glucose and triglyceride levels (85 and 158 mg/dL, "
        "resp.) were within normal limits."
    )
    labs = {m.name: (m.value, m.unit) for m in profile_from_note(note).labs}
    assert labs == {"glucose": (85.0, "mg/dL"), "triglycerides": (158.0, "mg/dL")}


def test_rating_scales_in_notes_decide_criteria_on_them() -> None:
    note = (
        "A 55-year-old man with Parkinson's disease, Hoehn-Yahr Stage I. Her HAM-D score is 20. "
        "His NIHSS score was calculated as 7."
    )
    profile = profile_from_note(note)
    assert {(m.name, m.value) for m in profile.scores} >= {
        ("hoehn_yahr", 1.0),
        ("hamd", 20.0),
        ("nihss", 7.0),
    }
    criteria = (
        "Inclusion Criteria:\n- Hoehn & Yahr stage 2-4\n- HAM-D17 total score > or = 22\n"
        "- NIHSS score of 4 to 25\nExclusion Criteria:\n- Hoehn and Yahr stage > 3"
    )
    statuses = [c.status for c in match_study(profile, trial(criteria)).criteria]
    assert statuses == [Status.NOT_MET, Status.NOT_MET, Status.MET, Status.MET]


def test_gestational_age_of_a_newborn_and_of_a_pregnancy() -> None:
    newborn = profile_from_note("A 3-day-old girl with jaundice. She was born at 34w of gestation.")
    pregnant = profile_from_note("19 yo female G1P1 at 32+ 6 weeks of gestational age.")
    assert [(m.name, m.value) for m in newborn.vitals] == [("gestational_age", 34.0)]
    assert [(m.name, m.value) for m in pregnant.vitals] == [("gestational_age", 32.86)]
    criteria = (
        "Inclusion Criteria:\n- Neonates born at 35 or more completed weeks of gestation\n"
        "- estimated gestational age of no greater than 28 weeks\n- Infants aged 0 to 28 days\n"
        "Exclusion Criteria:\n- Babies born at less than 35 weeks gestational age"
    )
    judged = match_study(newborn, trial(criteria)).criteria
    assert [c.status for c in judged] == [
        Status.NOT_MET,
        Status.NOT_MET,
        Status.MET,
        Status.NOT_MET,
    ]
    # "gestational age … 28 weeks" is not the patient's age (a 3-day-old is under 28 weeks)
    assert all(e.rule.startswith("measurement") for e in judged[1].evidence)
