"""Constraint extraction: each rule on the phrasings registries use, units normalised."""

from __future__ import annotations

import json

import pytest

from trialatlas.eligibility.extract import (
    AgeLimit,
    Ambiguity,
    Condition,
    Constraint,
    Measurement,
    Participation,
    Reproductive,
    SexLimit,
    TimeWindow,
    Treatment,
    analyze_criteria,
    criteria_key,
    extract_item,
)
from trialatlas.eligibility.terms import concept_key


def only(found: tuple[Constraint, ...], cls: type) -> list:
    return [c for c in found if isinstance(c, cls)]


def check_span(text: str, found: tuple[Constraint, ...]) -> None:
    for c in found:
        assert text[c.span[0] : c.span[1]] == c.text, c


# text, analyte, low, high, canonical unit (values already converted)
THRESHOLDS = [
    ("lymphocytes < 600/mm3", "lymphocytes", None, 0.6, "10^9/L"),
    ("platelets < 80,000 /mm3", "platelets", None, 80.0, "10^9/L"),
    ("Peripheral venous white blood cells < 2000/mm3", "wbc", None, 2.0, "10^9/L"),
    ("creatinine clearance ≤30 ml/min", "creatinine_clearance", None, 30.0, "mL/min"),
    ("ANC ≥ 1.5 × 10^9/L", "anc", 1.5, None, "10^9/L"),
    ("Absolute neutrophil count ≥ 1,500/µL", "anc", 1.5, None, "10^9/L"),
    ("Platelet count at least 100,000/mm^3", "platelets", 100.0, None, "10^9/L"),
    ("platelet count ≥ 100 G/L", "platelets", 100.0, None, "10^9/L"),
    ("WBC at least 3,000/mm3", "wbc", 3.0, None, "10^9/L"),
    ("Hemoglobin ≥ 90 g/L", "hemoglobin", 9.0, None, "g/dL"),
    ("Hb > 9 g/dL", "hemoglobin", 9.0, None, "g/dL"),
    ("serum creatinine ≤ 132.6 µmol/L", "creatinine", None, 1.5, "mg/dL"),
    ("Serum creatinine level ≤ 3.0 mg/dl", "creatinine", None, 3.0, "mg/dL"),
    (
        "Total bilirubin ≤ 1.5 x institutional upper limit of normal (ULN)",
        "bilirubin",
        None,
        1.5,
        "ULN",
    ),
    (
        "abnormal liver function (3 times the upper limit of normal >)",
        "transaminases",
        3.0,
        None,
        "ULN",
    ),
    ("Serum AST/ALT \\>3\\*upper limit of normal", "transaminases", 3.0, None, "ULN"),
    ("HbA1c 7.0% to 11.0%", "hba1c", 7.0, 11.0, "%"),
    ("Have a fasting glucose concentration <280 mg/dL", "glucose", None, 280.0, "mg/dL"),
    ("≥ 1,500 neutrophils/mm3", "anc", 1.5, None, "10^9/L"),
    ("Systolic blood pressure < 180 mmHg", "systolic_bp", None, 180.0, "mmHg"),
    ("LVEF ≥ 50%", "lvef", 50.0, None, "%"),
    ("Forced Vital Capacity ≥65% of the height and weight standard", "fvc", 65.0, None, "%"),
    ("Body mass index ≤ 40 kg/m2", "bmi", None, 40.0, "kg/m2"),
    ("Have body mass index ≥25 kg/m2 and ≤45 kg/m2.", "bmi", 25.0, 45.0, "kg/m2"),
    ("ALSFRS-r ≥30 at enrollment", "alsfrs_r", 30.0, None, None),
    ("Karnofsky performance status ≥ 80%", "karnofsky", 80.0, None, "%"),
    ("ECOG performance status score of ≤2", "ecog", None, 2.0, None),
    (
        "Eastern Cooperative Oncology Group (ECOG) Performance Status of 0, 1, or 2",
        "ecog",
        0.0,
        2.0,
        None,
    ),
    ("The ECOG score of performance status is 0-1.", "ecog", 0.0, 1.0, None),
    ("NYHA class III or IV heart failure", "nyha", 3.0, 4.0, None),
    ("CD4 cell count of 200 - 700 cells/mm3.", "cd4", 0.2, 0.7, "10^9/L"),
]


@pytest.mark.parametrize(("text", "name", "low", "high", "unit"), THRESHOLDS)
def test_thresholds(text: str, name: str, low: float | None, high: float | None, unit: str) -> None:
    found = extract_item(text)
    check_span(text, found)
    measures = [m for m in only(found, Measurement) if m.name == name]
    assert measures, found
    m = measures[0]
    assert m.unit == unit
    assert [m.low, m.high] == [
        None if v is None else pytest.approx(v, rel=1e-3) for v in (low, high)
    ]
    assert not m.ambiguous


def test_conjoined_analytes_share_the_threshold() -> None:
    found = only(extract_item("Creatinine and bilirubin ≤ 1.5 × ULN"), Measurement)
    assert {(m.name, m.high, m.unit) for m in found} == {
        ("creatinine", 1.5, "ULN"),
        ("bilirubin", 1.5, "ULN"),
    }
    (both,) = only(extract_item("ALT and AST ≤ 2.5 × ULN"), Measurement)
    assert (both.name, both.high, both.unit) == ("transaminases", 2.5, "ULN")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("heart failure (=NYHA grade III)", ("nyha", "=NYHA grade III", 3.0)),
        (
            "renal insufficiency (creatinine clearance =30ml/min)",
            ("creatinine_clearance", "creatinine clearance =30ml/min", 30.0),
        ),
    ],
)
def test_lost_comparators_are_ambiguous_not_equality(text: str, expected: tuple) -> None:
    measures = only(extract_item(text), Measurement)
    assert len(measures) == 1
    m = measures[0]
    assert m.ambiguous and m.rule.endswith(("lost_comparator", "threshold"))
    assert (m.name, m.text, m.low) == expected
    assert m.low == m.high  # direction unknown: only the pivot value is kept


def test_lost_comparator_without_analyte_is_flagged() -> None:
    text = "oral prednisone or equivalent doses of other glucocorticoids (=1.0mg/kg/d)"
    flagged = only(extract_item(text), Ambiguity)
    assert [(a.text, a.ambiguous) for a in flagged] == [("=1.0mg/kg/d", True)]


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("18-70 years old;", 18, 70),
        ("Age ≥ 18 years", 18, None),
        ("18 years of age or older", 18, None),
        ("Male or female, between 18 and 65 years of age", 18, 65),
        ("Patients aged \\> 18 years and \\< 70 years;", 18, 70),
        ("Men aged 40 - 70", 40, 70),
        ("older than 18", 18, None),
        ("Infants 6-12 weeks of age", 6 * 7 / 365.25, 12 * 7 / 365.25),
    ],
)
def test_ages(text: str, low: float | None, high: float | None) -> None:
    ages = only(extract_item(text), AgeLimit)
    assert len(ages) == 1
    assert (ages[0].low, ages[0].high) == (pytest.approx(low), pytest.approx(high))


@pytest.mark.parametrize(
    "text",
    ["Diabetes for at least 5 years", "Life expectancy of at least 12 weeks", "Hemoglobin > 9"],
)
def test_durations_are_not_ages(text: str) -> None:
    assert not only(extract_item(text), AgeLimit)


@pytest.mark.parametrize(
    ("text", "sex"),
    [
        ("Women aged 18-65", "female"),
        ("Postmenopausal women with breast cancer", "female"),
        ("Males, age 20-65 years", "male"),
        ("Male or female patients ≥ 18 years of age", None),
        ("Women of childbearing potential must use contraception", None),
        ("Women who are pregnant", None),
    ],
)
def test_sex(text: str, sex: str | None) -> None:
    assert [s.sex for s in only(extract_item(text), SexLimit)] == ([sex] if sex else [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pregnant and lactating women;", {("pregnant", False), ("lactating", False)}),
        ("Not pregnant or nursing", {("pregnant", True), ("lactating", True)}),
        ("negative urine HCG", {("pregnant", True)}),
        ("Negative pregnancy test", {("pregnant", True)}),
        ("Women who plan to become pregnant during the study", {("pregnancy_plans", False)}),
        (
            "Women of childbearing potential must use effective contraception",
            {("childbearing_potential", False), ("contraception", False)},
        ),
    ],
)
def test_reproduction(text: str, expected: set[tuple[str, bool]]) -> None:
    found = only(extract_item(text), Reproductive)
    assert {(r.status, r.negated) for r in found} == expected


@pytest.mark.parametrize(
    ("text", "relation", "days"),
    [
        ("within 2 months before enrollment", "within", 60.875),
        ("Vaccination in the past 6 months", "within", 182.625),
        ("At least 4 weeks since prior chemotherapy", "at_least", 28.0),
        ("on a stable dose for at least 2 weeks", "duration", 14.0),
        ("myocardial infarction within the last year", "within", 365.25),
    ],
)
def test_time_windows(text: str, relation: str, days: float) -> None:
    windows = only(extract_item(text), TimeWindow)
    assert [(w.relation, w.days) for w in windows] == [(relation, pytest.approx(days))]


def test_conditions_are_normalised_with_abbreviations() -> None:
    found = only(extract_item("Stage IV NSCLC, T2DM, COPD or MND"), Condition)
    keys = {c.key for c in found}
    for phrase in (
        "non-small cell lung cancer",
        "type 2 diabetes",
        "chronic obstructive pulmonary disease",
        "motor neuron disease",
    ):
        assert concept_key(phrase) in keys or any(concept_key(phrase) <= k for k in keys)


def test_negation_hedging_exception() -> None:
    text = "No history of HIV infection"
    (hiv,) = only(extract_item(text), Condition)
    assert hiv.negated and hiv.key == concept_key("HIV")
    (chemo,) = only(extract_item("No prior chemotherapy"), Treatment)
    assert chemo.negated
    hedged = only(extract_item("Known or suspected hepatitis B"), Condition)
    assert hedged and hedged[0].hedged and not hedged[0].negated
    found = only(
        extract_item("Malignancy within 5 years other than basal cell carcinoma"), Condition
    )
    excepted = {c.phrase: c.excepted for c in found}
    assert excepted == {"Malignancy": False, "basal cell carcinoma": True}


def test_qualifiers_are_kept() -> None:
    (infection, *_) = only(extract_item("Complicated with severe infection or sepsis"), Condition)
    assert infection.phrase == "infection" and infection.qualifiers == ("severe",)


def test_treatments_and_participation() -> None:
    text = "Currently participating in other clinical studies or using other investigational drugs."
    found = extract_item(text)
    assert len(only(found, Participation)) == 1
    treatments = only(extract_item("Treatment with glucocorticoids or gamma globulin"), Treatment)
    assert {t.key for t in treatments} == {
        concept_key("glucocorticoid"),
        concept_key("intravenous immunoglobulin"),
    }


def test_analysis_is_cached_by_text_and_serialisable() -> None:
    text = "Inclusion Criteria:\n\n* Age ≥ 18 years\n\nExclusion Criteria:\n\n* Pregnancy"
    first = analyze_criteria(text)
    assert analyze_criteria(text) is first
    assert first.key == criteria_key(f"inclusion\0{text}")
    data = json.loads(json.dumps(first.to_dict()))
    assert [i["kind"] for i in data["items"]] == ["inclusion", "exclusion"]
    assert data["items"][0]["constraints"][0]["type"] == "age"
