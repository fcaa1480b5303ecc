"""Conditions a patient's measurements define (anaemia from haemoglobin, vitamin D deficiency
from 25-OH vitamin D, ...): derived with the value and threshold, and used by the matcher."""

from __future__ import annotations

from typing import Any

from trialatlas.eligibility.derived import derived_conditions
from trialatlas.eligibility.extract import Measurement, analyze_criteria
from trialatlas.eligibility.match import CriterionResult, Status, match_study
from trialatlas.eligibility.profile import Profile, profile_from_note
from trialatlas.eligibility.rank import query_expression


def derived(**facts: Any) -> dict[str, str]:
    profile = Profile.from_dict(facts)
    return {d.condition: d.evidence for d in derived_conditions(profile)}


def patient_facts(result: CriterionResult) -> str:
    return " | ".join(e.patient or "" for e in result.evidence)


def test_anaemia_follows_the_thresholds_for_sex_and_pregnancy() -> None:
    hb = [{"name": "hemoglobin", "value": 12.5, "unit": "g/dL"}]
    assert derived(age=40, sex="male", labs=hb) == {
        "anemia": "anemia (hemoglobin 12.5 g/dL, below 13 g/dL)"
    }
    assert "anemia" not in derived(age=40, sex="female", labs=hb)
    low = [{"name": "Hgb", "value": 105, "unit": "g/L"}]  # a written name, SI units
    assert "anemia" in derived(age=40, sex="female", labs=low)
    pregnant = [{"name": "hemoglobin", "value": 11.5, "unit": "g/dL"}]
    assert "anemia" not in derived(age=30, sex="female", pregnant=True, labs=pregnant)


def test_vitamin_d_in_nmol_per_litre_is_converted() -> None:
    found = derived(age=50, labs=[{"name": "25-OH vitamin D", "value": 30, "unit": "nmol/L"}])
    assert found == {"vitamin D deficiency": "vitamin D deficiency (25-OH vitamin D 30 nmol/L, "
                                             "below 20 ng/mL)"}  # fmt: skip
    mild = derived(age=50, labs=[{"name": "vitamin_d", "value": 25, "unit": "ng/mL"}])
    assert list(mild) == ["vitamin D insufficiency"]


def test_what_the_profile_already_says_is_not_derived_again() -> None:
    labs = [{"name": "hemoglobin", "value": 9.1, "unit": "g/dL"}]
    assert derived(age=60, diagnoses=["iron deficiency anemia"], labs=labs) == {}
    assert derived(age=60, scores=[{"name": "bmi", "value": 34}], diagnoses=["asthma"]) == {
        "obesity": "obesity (BMI 34, at least 30 kg/m2)"  # and not "overweight" as well
    }
    assert derived(age=60, scores=[{"name": "bmi", "value": 27}], diagnoses=["obesity"]) == {}
    assert derived(age=10, scores=[{"name": "bmi", "value": 34}]) == {}  # children: own ranges


def test_a_note_s_vitamin_d_level_reads_as_deficiency() -> None:
    note = (
        "Patient is a 34-year-old woman with non-specific bone and joint pain. Her BMI is 23. "
        "Her laboratory study is remarkable for Vit D: 14ng/ml and otherwise healthy."
    )
    profile = profile_from_note(note)
    assert [(m.name, m.value, m.unit) for m in profile.labs] == [("vitamin_d", 14.0, "ng/mL")]
    assert [d.condition for d in derived_conditions(profile)] == ["vitamin D deficiency"]


def test_criteria_state_vitamin_d_thresholds_in_either_unit() -> None:
    analysis = analyze_criteria(
        "Inclusion Criteria:\n- serum 25(OH)D < 20 ng/mL\n"
        "- 25-hydroxyvitamin D between 25 and 75 nmol/L"
    )
    found = [c for item in analysis.items for c in item.constraints]
    assert all(isinstance(c, Measurement) and c.name == "vitamin_d" for c in found)
    assert [(c.low, c.high) for c in found] == [(None, 20.0), (10.016, 30.048)]


def test_the_matcher_cites_the_measurement_for_a_derived_condition() -> None:
    doc = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT00000004"},
            "conditionsModule": {"conditions": ["Vitamin D Deficiency"]},
            "eligibilityModule": {
                "eligibilityCriteria": "Inclusion Criteria:\n\n* Vitamin D deficiency\n\n"
                "Exclusion Criteria:\n\n* Anemia\n"
            },
        }
    }
    labs = [
        {"name": "vitamin D", "value": 14, "unit": "ng/mL"},
        {"name": "hemoglobin", "value": 10.2, "unit": "g/dL"},
    ]
    result = match_study(Profile.from_dict({"age": 34, "sex": "female", "labs": labs}), doc)
    assert result.relevance == 1.0  # the trial is about the patient's condition
    inclusion, exclusion = result.criteria
    assert inclusion.status is Status.MET
    assert "vitamin D 14 ng/mL, below 20 ng/mL" in patient_facts(inclusion)
    assert exclusion.status is Status.NOT_MET
    assert "hemoglobin 10.2 g/dL, below 12 g/dL" in patient_facts(exclusion)
    normal = [{"name": "vitamin D", "value": 41, "unit": "ng/mL"}]
    plain = match_study(Profile.from_dict({"age": 34, "sex": "female", "labs": normal}), doc)
    assert plain.criteria[0].status is Status.UNKNOWN and plain.relevance == 0.0


def test_retrieval_searches_lab_defined_conditions_but_not_signs() -> None:
    labs = [
        {"name": "vitamin D", "value": 14, "unit": "ng/mL"},
        {"name": "wbc", "value": 14, "unit": "10^9/L"},  # leukocytosis: a sign, matched only
    ]
    terms = query_expression(
        Profile.from_dict({"age": 34, "diagnoses": ["joint pain"], "labs": labs})
    ).split(" OR ")
    assert terms[:2] == ["(joint pain)", "(vitamin d deficiency)"]
    assert "leukocytosis" not in terms
    # a profile of lab values alone can be ranked: what they define is searched
    assert query_expression(Profile.from_dict({"age": 34, "labs": labs[:1]})).startswith(
        "(vitamin d deficiency)"
    )
