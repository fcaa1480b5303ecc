"""Criteria parser: every layout registries use, offsets exact, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialatlas.eligibility.criteria import Kind, KindSource, ParsedCriteria, parse_criteria


def texts(parsed: ParsedCriteria, kind: Kind) -> list[str]:
    return [c.clean_text for c in parsed.criteria if c.kind is kind]


def assert_offsets(parsed: ParsedCriteria) -> None:
    for n, item in enumerate(parsed.items):
        assert item.index == n
        assert parsed.source[item.start : item.end] == item.text
        assert item.text == item.text.strip()


LEGACY_XML = """
        Inclusion Criteria:

          -  Age between 18 and 70

          -  Possible, probable or definite ALS following El Escorial Revised Criteria (Brooks,
             2000)

        Exclusion Criteria:

          -  Aspartate or alanine aminotransferases elevated >3x normality upper limit

          -  Pregnancy and lactation
      """

API_V2 = (
    "Inclusion Criteria:\n\n* Age ≥ 18 years\n* ECOG performance status score of \\<2\n\n"
    "Exclusion Criteria:\n\n* Uncontrolled HIV/AIDS\n* Life expectancy \\<12 weeks"
)

SEED_PARAGRAPH = (
    "Inclusion Criteria: - 18-70 years old; - Clinically diagnosed with ALS syndrome, i.e., "
    "with ALS -like manifestations; - Signed informed consent. Exclusion Criteria: - Allergic "
    "or intolerance to IL2; - Pregnant and lactating women; - Currently participating in other "
    "clinical studies."
)


@pytest.mark.parametrize(
    ("source", "inclusion", "exclusion"),
    [
        (
            LEGACY_XML,
            [
                "Age between 18 and 70",
                "Possible, probable or definite ALS following El Escorial Revised Criteria "
                "(Brooks, 2000)",
            ],
            [
                "Aspartate or alanine aminotransferases elevated >3x normality upper limit",
                "Pregnancy and lactation",
            ],
        ),
        (
            API_V2,
            ["Age ≥ 18 years", "ECOG performance status score of \\<2"],
            ["Uncontrolled HIV/AIDS", "Life expectancy \\<12 weeks"],
        ),
        (
            SEED_PARAGRAPH,
            [
                "18-70 years old;",
                "Clinically diagnosed with ALS syndrome, i.e., with ALS -like manifestations;",
                "Signed informed consent.",
            ],
            [
                "Allergic or intolerance to IL2;",
                "Pregnant and lactating women;",
                "Currently participating in other clinical studies.",
            ],
        ),
        (
            "INCLUSION CRITERIA\n- adults\n- diagnosis of COPD\nEXCLUSION CRITERIA\n- asthma",
            ["adults", "diagnosis of COPD"],
            ["asthma"],
        ),
        (
            "Key Inclusion Criteria:\n* CLL\nKey Exclusion Criteria:\n* Richter transformation",
            ["CLL"],
            ["Richter transformation"],
        ),
        (
            "Inclusion:\n• type 2 diabetes\n• HbA1c 7-10%\nExclusion:\n• insulin use",
            ["type 2 diabetes", "HbA1c 7-10%"],
            ["insulin use"],
        ),
        (
            "**Inclusion Criteria:**\no stable angina\no age over 40\n"
            "**Exclusion Criteria:**\no recent MI",
            ["stable angina", "age over 40"],
            ["recent MI"],
        ),
        (
            "Patients must have:\n\n  -  documented HIV infection\n\n"
            "Patients with the following are excluded:\n\n  -  active tuberculosis",
            ["documented HIV infection"],
            ["active tuberculosis"],
        ),
        (
            "Inclusion criteria:\n1. Age ≥ 18\n2) Stage IV NSCLC\nExclusion criteria include "
            "pregnancy and brain metastases",
            ["Age ≥ 18", "Stage IV NSCLC"],
            ["pregnancy and brain metastases"],
        ),
        (
            "Inclusion Criteria (Patients must meet each of the following criteria to be eligible"
            " for\n        participation in the trial):\n\n  -  Male or female patients ≥ 18 years",
            ["Male or female patients ≥ 18 years"],
            [],
        ),
        (
            "Non-inclusion criteria:\n- pregnancy",
            [],
            ["pregnancy"],
        ),
    ],
    ids=[
        "legacy-xml",
        "api-v2",
        "one-paragraph",
        "capitals-no-colon",
        "key-criteria",
        "short-headers-dots",
        "markdown-bold-o-bullets",
        "lead-ins",
        "numbers-and-sentence-header",
        "parenthetical-header",
        "non-inclusion",
    ],
)
def test_layouts(source: str, inclusion: list[str], exclusion: list[str]) -> None:
    parsed = parse_criteria(source)
    assert_offsets(parsed)
    assert texts(parsed, Kind.INCLUSION) == inclusion
    assert texts(parsed, Kind.EXCLUSION) == exclusion
    assert not any(c.inferred for c in parsed.criteria)


def test_nested_items_keep_parent_context() -> None:
    source = (
        "Exclusion Criteria:\n\n"
        "  -  Female patients of childbearing potential who meet any of the following:\n\n"
        "       a) Are breastfeeding.\n\n"
        "       b) Test positive for pregnancy.\n\n"
        "  -  Treated with any of the following medications:\n\n"
        "       i. Insulin within 3 months\n\n"
        "       ii. Systemic corticosteroids\n\n"
        "  -  History of renal transplantation"
    )
    parsed = parse_criteria(source)
    assert_offsets(parsed)
    by_text = {c.clean_text: c for c in parsed.items}
    child = by_text["Are breastfeeding."]
    parent = parsed.ancestors(child)
    assert [p.clean_text for p in parent] == [
        "Female patients of childbearing potential who meet any of the following:"
    ]
    assert parent[0].heading and child.depth == 1
    roman = by_text["Systemic corticosteroids"]
    assert roman.marker == "ii." and roman.depth == 1
    assert [p.clean_text for p in parsed.ancestors(roman)] == [
        "Treated with any of the following medications:"
    ]
    assert by_text["History of renal transplantation"].depth == 0
    assert all(c.kind is Kind.EXCLUSION for c in parsed.items)
    assert "Female patients of childbearing potential who meet any of the following:" not in [
        c.clean_text for c in parsed.criteria
    ]


def test_lead_in_sets_kind_of_its_children() -> None:
    source = (
        "Inclusion Criteria\n\nConcurrent Medication:\n\nAllowed:\n\n  -  Acetaminophen.\n\n"
        "Prior Medication:\n\nExcluded:\n\n  -  Prior chemotherapy.\n\n"
        "Patients must have:\n\n  -  Hodgkin's disease."
    )
    parsed = parse_criteria(source)
    kinds = {c.clean_text: (c.kind, c.kind_source) for c in parsed.criteria}
    assert kinds["Acetaminophen."] == (Kind.INCLUSION, KindSource.HEADER)
    assert kinds["Prior chemotherapy."] == (Kind.EXCLUSION, KindSource.LEAD_IN)
    assert kinds["Hodgkin's disease."] == (Kind.INCLUSION, KindSource.LEAD_IN)


def test_no_headers_means_inclusion_flagged() -> None:
    source = "Pulseless extremity\nKnown allergy to local anesthetics\nBleeding diathesis\n"
    parsed = parse_criteria(source)
    assert not parsed.has_headers
    assert texts(parsed, Kind.INCLUSION) == [
        "Pulseless extremity",
        "Known allergy to local anesthetics",
        "Bleeding diathesis",
    ]
    assert all(c.inferred for c in parsed.criteria)
    exclusions = parse_criteria(source, default_kind=Kind.EXCLUSION)
    assert [c.kind for c in exclusions.criteria] == [Kind.EXCLUSION] * 3


def test_wrapped_paragraphs_are_joined() -> None:
    source = (
        "\n        Patients must be greater than or equal to 18 years of age.\n\n"
        "        Peripheral blood absolute LGL count of greater than or equal to 300/ul (on a\n"
        "        manual differential), with LGL cells.\n      "
    )
    parsed = parse_criteria(source)
    assert_offsets(parsed)
    assert [c.clean_text for c in parsed.criteria] == [
        "Patients must be greater than or equal to 18 years of age.",
        "Peripheral blood absolute LGL count of greater than or equal to 300/ul (on a manual "
        "differential), with LGL cells.",
    ]


def test_old_nci_template_splits_run_together_subheadings() -> None:
    source = (
        "\n        PATIENT CHARACTERISTICS: Age: 18 and over Performance status: ECOG 0-2\n"
        "        Hematopoietic: WBC at least 3,000/mm3\n      "
    )
    parsed = parse_criteria(source)
    assert_offsets(parsed)
    assert [c.clean_text for c in parsed.criteria] == [
        "Age: 18 and over",
        "Performance status: ECOG 0-2",
        "Hematopoietic: WBC at least 3,000/mm3",
    ]


def test_inline_numbering_splits_only_a_true_sequence() -> None:
    parsed = parse_criteria("Inclusion criteria: 1. Age > 18; 2. Diagnosis of gout. 3. Consent")
    assert texts(parsed, Kind.INCLUSION) == ["Age > 18;", "Diagnosis of gout.", "Consent"]
    single = parse_criteria("Inclusion criteria: dose of at least 2. 5 mg is fine")
    assert len(single.criteria) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_any_text_parses_with_exact_offsets(source: str) -> None:
    assert_offsets(parse_criteria(source))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Inclusion Criteria:",
                "EXCLUSION CRITERIA",
                "  - item one",
                "* item two",
                "1. first",
                "   a) nested",
                "",
                "plain line",
                "Patients must have:",
                "o bullet",
                "continued text, and",
            ]
        ),
        max_size=25,
    )
)
def test_mixed_layouts_parse_with_exact_offsets(lines: list[str]) -> None:
    assert_offsets(parse_criteria("\n".join(lines)))
