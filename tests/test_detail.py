"""The detail page model and its text rendering, checked against the real seed page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from trialatlas.records.detail import DetailPage, build_detail, format_date, phase_label
from trialatlas.records.render_text import CONTINUATION_INDENT, render_text

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
SEED_ID = "NCT04952155"
SEED = ROOT.parent / "shared" / "seed" / f"{SEED_ID}.txt"
NCT_ID = re.compile(r"^NCT\d{8}$")

# The seed's headings in its order. "See also" is left out: related trials come from search,
# not from the record. The test below checks this list against the seed file itself.
SEED_HEADINGS = (
    "Administrative data",
    "Study information",
    "Clinical Trial Summary",
    "Description:",
    "Recruitment information / eligibility",
    "Study Design",
    "Related Conditions & MeSH terms",
    "Intervention",
    "Locations",
    "Sponsors (1)",
    "Country where clinical trial is conducted",
    "Outcome",
)
SEE_ALSO_ROW = re.compile(
    r"^(?P<status>.+?) (?P<nct>NCT\d{8}) - (?P<title>.+?)"
    r"(?: (?P<phase>N/A|(?:Early )?Phase \d(?:/Phase \d)?))?$"
)

needs_seed = pytest.mark.skipif(
    not SEED.exists(), reason=f"seed page not found at {SEED} (../shared is absent)"
)


def _seed_lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


def _in_order(wanted: list[str], lines: list[str]) -> list[str]:
    """The wanted lines missing from ``lines`` when matched in order, each after the last."""
    missing, position = [], 0
    for line in wanted:
        try:
            position = lines.index(line, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def _flatten_continuations(lines: list[str]) -> list[str]:
    """Join multi-line values onto their label line, as the seed prints them.

    The seed site collapsed the criteria onto one line and bulleted them with "-" (legacy
    XML's bullet) where API v2 text, and so the rendering, uses "*".
    """
    out: list[str] = []
    for line in lines:
        if out and (line.startswith(CONTINUATION_INDENT) or (not line and out[-1])):
            part = line.strip()
            part = "- " + part[2:] if part.startswith("* ") else part
            out[-1] = f"{out[-1]} {part}".rstrip()
        else:
            out.append(line)
    return out


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seed_page() -> DetailPage:
    return build_detail(_load(DEMO / f"{SEED_ID}.json"))


@pytest.fixture(scope="module")
def seed_text(seed_page: DetailPage) -> str:
    return render_text(seed_page)


@needs_seed
def test_seed_headings_appear_in_the_seeds_order(seed_text: str) -> None:
    assert _in_order(list(SEED_HEADINGS), _seed_lines()) == [], "SEED_HEADINGS out of date"
    assert _in_order(list(SEED_HEADINGS), seed_text.splitlines()) == []


@needs_seed
def test_every_seed_line_is_rendered_in_order(seed_text: str) -> None:
    """Header, every section's label/value lines, paragraphs, intervention and table rows."""
    seed = _seed_lines()
    body = seed[seed.index("Clinical Trial Details — Status: Recruiting") : seed.index("See also")]
    # The seed ends its country list with a separator (",\xa0") that the rendering drops.
    wanted = [re.sub(r",\s*$", "", line) for line in body if line.strip()]
    rendered = _flatten_continuations(seed_text.splitlines())
    assert _in_order(wanted, rendered) == []


@needs_seed
def test_empty_fields_keep_their_label_as_the_seed_does(seed_page: DetailPage) -> None:
    admin = seed_page.section("administrative")
    assert admin is not None
    empty = {f.label for f in admin.fields if not f.value}
    assert empty == {"Secondary ID", "First received", "Last updated"}
    assert {"Secondary ID", "First received", "Last updated"} <= set(_seed_lines())


def _status_doc(**status: Any) -> dict[str, Any]:
    return {"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}, **status}}


def test_estimated_dates_get_est_and_actual_dates_do_not() -> None:
    doc = _status_doc(
        statusModule={
            "startDateStruct": {"date": "2024-03", "type": "ESTIMATED"},
            "primaryCompletionDateStruct": {"date": "2020-01-01", "type": "ACTUAL"},
            "completionDateStruct": {"date": "2022-12-31", "type": "ESTIMATED"},
        },
        designModule={"enrollmentInfo": {"count": 40, "type": "ESTIMATED"}},
    )
    lines = render_text(build_detail(doc)).splitlines()
    assert "Est. start date March 2024" in lines
    assert "Est. completion date December 31, 2022" in lines
    assert "Primary completion date January 1, 2020" in lines
    assert "Est. enrollment 40" in lines
    assert not any(line.startswith("Est. primary completion") for line in lines)


@pytest.mark.parametrize(
    "document",
    [
        {},
        _status_doc(),
        # Wrong shapes read as missing: the page renders whatever the store holds.
        _status_doc(statusModule=[], designModule={"phases": "PHASE1"}, resultsSection={}),
    ],
    ids=["empty", "identification-only", "wrong-shapes"],
)
def test_record_without_optional_modules_renders(document: dict[str, Any]) -> None:
    page = build_detail(document)
    text = render_text(page)
    assert text.startswith("Clinical Trial Details — Status:")
    assert [s.key for s in page.sections if s.key in {"arms", "references", "results"}] == []
    assert "Eligibility" in text.splitlines()


def test_legacy_facts_render_and_api_v2_dates_win() -> None:
    legacy = {
        "oversightAuthorities": ["United States: Food and Drug Administration"],
        "isFdaRegulated": True,
        "firstReceivedDate": "1999-11-03",
        "lastChangedDate": "2005-06-23",
    }
    lines = render_text(build_detail({**_status_doc(), "trialatlas": {"legacy": legacy}}))
    assert "Health authority United States: Food and Drug Administration" in lines.splitlines()
    assert "Is FDA regulated Yes" in lines.splitlines()
    assert "First received November 3, 1999" in lines.splitlines()
    assert "Last updated June 23, 2005" in lines.splitlines()

    both = _status_doc(
        statusModule={
            "studyFirstSubmitDate": "2000-01-02",
            "lastUpdatePostDateStruct": {"date": "2006-07-08", "type": "ACTUAL"},
        }
    )
    lines = render_text(build_detail({**both, "trialatlas": {"legacy": legacy}})).splitlines()
    assert "First received January 2, 2000" in lines
    assert "Last updated July 8, 2006" in lines


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2020-01-01", "January 1, 2020"), ("2021-06", "June 2021"), ("2019", "2019"), ("", "")],
)
def test_dates_read_as_on_the_seed(value: str, expected: str) -> None:
    assert format_date(value) == expected


def test_enum_values_read_as_clinicaltrials_gov_writes_them() -> None:
    assert phase_label(["PHASE1", "PHASE2"]) == "Phase 1/Phase 2"
    assert phase_label(["NA"]) == "N/A"
    doc = _status_doc(
        statusModule={"overallStatus": "ACTIVE_NOT_RECRUITING"},
        designModule={"studyType": "INTERVENTIONAL"},
        armsInterventionsModule={"interventions": [{"type": "DIETARY_SUPPLEMENT", "name": "X"}]},
    )
    page = build_detail(doc)
    assert page.header.status == "Active, not recruiting"
    lines = render_text(page).splitlines()
    assert "Study type Interventional" in lines
    assert "Dietary Supplement:" in lines


def test_results_summary_counts_without_the_total_group() -> None:
    results = {
        "participantFlowModule": {
            "periods": [
                {
                    "milestones": [
                        {"type": "STARTED", "achievements": [{"numSubjects": "20"}] * 2},
                        {"type": "COMPLETED", "achievements": [{"numSubjects": "18"}] * 2},
                    ]
                }
            ]
        },
        "baselineCharacteristicsModule": {
            "groups": [{"id": "BG000"}, {"id": "BG001"}, {"id": "BG002", "title": "Total"}],
            "denoms": [
                {
                    "counts": [
                        {"groupId": "BG000", "value": "20"},
                        {"groupId": "BG001", "value": "20"},
                        {"groupId": "BG002", "value": "40"},
                    ]
                }
            ],
        },
        "outcomeMeasuresModule": {
            "outcomeMeasures": [{"type": "PRIMARY"}, {"type": "SECONDARY"}, {"type": "SECONDARY"}]
        },
    }
    page = build_detail({**_status_doc(), "resultsSection": results})
    section = page.section("results")
    assert section is not None
    assert {f.label: f.value for f in section.fields} == {
        "Results first posted": "",
        "Participants started": "40",
        "Participants completed": "36",
        "Baseline participants": "40",
        "Outcome measures": "1 primary, 2 secondary",
    }


def test_every_demo_file_is_a_study_named_by_its_nct_id() -> None:
    files = sorted(DEMO.glob("*.json"))
    assert len(files) > 1, f"no demo records in {DEMO}"
    for path in files:
        nct_id = _load(path)["protocolSection"]["identificationModule"]["nctId"]
        assert NCT_ID.match(nct_id), path.name
        assert path.name == f"{nct_id}.json"


@needs_seed
def test_demo_files_are_the_seed_and_its_see_also_list() -> None:
    seed = _seed_lines()
    rows = [SEE_ALSO_ROW.match(line) for line in seed[seed.index("See also") + 2 :] if line]
    assert all(rows), "a See-also row did not parse"
    listed = {m["nct"]: m for m in rows if m}
    assert {p.stem for p in DEMO.glob("*.json")} == {SEED_ID, *listed}
    for nct_id, row in listed.items():
        page = build_detail(_load(DEMO / f"{nct_id}.json"))
        admin = page.section("administrative")
        assert admin is not None
        phase = next(f.value for f in admin.fields if f.label == "Phase")
        assert (page.header.title, page.header.status, phase) == (
            row["title"],
            row["status"],
            row["phase"] or "",
        ), nct_id
