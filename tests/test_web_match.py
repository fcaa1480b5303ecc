"""The eligibility pages through FastAPI's TestClient: the match page (/match) and the
detail page's "Check eligibility" panel (/study/{nctId}/eligibility), with the seed scenarios.

Runs over the session's demo + shared corpus store (tests/conftest.py); analysed criteria go
to a cache directory of this module's own.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from test_web_pages import check_html, get_page, text_of
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.web.app import create_app

SEED_ID = "NCT04952155"
CHECK = f"/study/{SEED_ID}/eligibility"
LYMPHOCYTE_CRITERION = "lymphocytes &lt; 600/mm3"  # as the page escapes it
HOSTILE = '<script>alert("x")</script>'


pytestmark = pytest.mark.usefixtures("criteria_cache_dir")


@pytest.fixture(scope="module")
def client(corpus_store: SQLiteStore) -> TestClient:
    return TestClient(create_app(str(corpus_store.path)))


def url(path: str, **fields: str) -> str:
    return f"{path}?{urlencode(fields)}"


def verdict_of(html: str) -> str:
    found = re.search(r'<h2 id="result-title">Result: <span class="verdict[^"]*">([^<]+)<', html)
    assert found, "no verdict on the page"
    return found[1]


def criteria_by_status(html: str) -> dict[str, list[str]]:
    """Each judged criterion's text (with its evidence), grouped by the status it shows."""
    grouped: dict[str, list[str]] = {}
    for chunk in html.split('<li class="match-criterion match-')[1:]:
        status, _, body = chunk.partition('"')
        body = body.split('<div class="match-group">')[0].split("</section>")[0]
        grouped.setdefault(status, []).append(text_of(body.removeprefix(">")))
    return grouped


# --- the detail page's panel and the one-trial check -----------------------------------------


def test_detail_page_has_a_check_eligibility_form(client: TestClient) -> None:
    html = get_page(client, f"/study/{SEED_ID}")
    panel = html[html.index('<section class="eligibility-check"') :]
    assert '<h3 id="check-title">Check eligibility</h3>' in panel
    assert f'<form action="{CHECK}" method="get"' in panel
    for name in ("age", "sex", "diagnoses", "history", "labs", "pregnant", "note"):
        assert f'name="{name}"' in panel, name


def test_low_lymphocytes_exclude_with_that_evidence(client: TestClient) -> None:
    html = get_page(
        client,
        url(CHECK, age="45", diagnoses="multifocal motor neuropathy", labs="lymphocytes 500 /mm3"),
    )
    assert verdict_of(html) == "Likely excluded"
    (failed,) = criteria_by_status(html)["not-met"]
    assert LYMPHOCYTE_CRITERION in failed
    assert "patient lymphocytes 500 /mm3 (= 0.5 10^9/L) — not met" in failed
    assert "measurement.threshold" in failed
    keeps_out = html[html.index("Keeps the patient out:") :]
    assert keeps_out.index(LYMPHOCYTE_CRITERION) < keeps_out.index("match-group")
    # the form comes back filled in, so the patient can be edited
    assert '<input id="age" type="text" name="age"' in html and 'value="45"' in html
    assert ">lymphocytes 500 /mm3</textarea>" in html


def test_a_condition_in_the_past_medical_history_excludes(client: TestClient) -> None:
    patient = {"age": "45", "diagnoses": "multifocal motor neuropathy", "history": "tuberculosis"}
    html = get_page(client, url(CHECK, **patient))
    assert verdict_of(html) == "Likely excluded"
    (failed,) = criteria_by_status(html)["not-met"]
    assert "infectious diseases (hepatitis, HIV, tuberculosis" in failed
    assert "tuberculosis" in failed[failed.index("patient") :]
    assert ">tuberculosis</textarea>" in html


def test_seventy_five_year_old_is_excluded_by_age(client: TestClient) -> None:
    html = get_page(client, url(CHECK, age="75", diagnoses="ALS"))
    assert verdict_of(html) == "Likely excluded"
    failed = criteria_by_status(html)["not-met"]
    assert any("maximumAge 70 Years" in f and "patient age 75 years" in f for f in failed)
    assert any(f.startswith("Not met 18-70 years old") for f in failed), failed


def test_pregnant_woman_is_excluded(client: TestClient) -> None:
    html = get_page(client, url(CHECK, age="30", sex="female", pregnant="yes", diagnoses="ALS"))
    assert verdict_of(html) == "Likely excluded"
    failed = criteria_by_status(html)["not-met"]
    assert any("Pregnant and lactating women" in f and "patient pregnant: yes" in f for f in failed)


def test_patient_meeting_everything_stated_is_likely_eligible_with_unknowns(
    client: TestClient,
) -> None:
    html = get_page(
        client,
        url(
            CHECK,
            age="40",
            sex="male",
            diagnoses="ALS-like syndrome\nmultifocal motor neuropathy",
            labs="lymphocytes 1500 /mm3\nplatelets 200 x10^9/L",
        ),
    )
    assert verdict_of(html) == "Likely eligible"
    grouped = criteria_by_status(html)
    assert "not-met" not in grouped
    assert any("white blood cells &lt; 2000/mm3" in u for u in grouped["unknown"])
    assert any("Signed informed consent" in u for u in grouped["unknown"])
    assert re.search(r"\d+ criteria the profile does not decide", text_of(html))


def test_a_note_alone_fills_the_profile(client: TestClient) -> None:
    note = "A 75-year-old man with multifocal motor neuropathy; lymphocytes 1,500/mm3."
    html = get_page(client, url(CHECK, note=note))
    assert verdict_of(html) == "Likely excluded"
    assert any("patient age 75 years" in f for f in criteria_by_status(html)["not-met"])
    # a field of the form wins over what the note says
    html = get_page(client, url(CHECK, note=note, age="50"))
    assert "not-met" not in criteria_by_status(html)


def patient_as_matched(html: str) -> dict[str, str]:
    box = html[html.index('<details class="match-patient"') :].split("</details>")[0]
    found = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", box)
    return {label: text_of(text) for label, text in found}


def test_the_patient_as_matched_shows_what_the_note_gave(client: TestClient) -> None:
    note = "A 58-year-old woman with ALS, taking riluzole. Hb 9.5 g/dL, vitamin D 30 nmol/L."
    html = get_page(
        client, url(CHECK, note=note, age="60", diagnoses="multifocal motor neuropathy")
    )
    assert '<details class="match-patient" open>' in html
    shown = patient_as_matched(html)
    assert shown["Age"] == "60 years" and shown["Sex"] == "female"  # a field wins over the note
    assert shown["Conditions"] == "multifocal motor neuropathy, ALS"  # lists add up
    assert shown["Measurements"] == "hemoglobin 9.5 g/dL; vitamin D 30 nmol/L"
    assert shown["From the measurements"] == (
        "anemia (hemoglobin 9.5 g/dL, below 12 g/dL); "
        "vitamin D deficiency (vitamin D 30 nmol/L, below 20 ng/mL)"
    )
    assert shown["Treatments"].startswith("riluzole")
    normal = get_page(client, url(CHECK, age="45", sex="female", labs="hemoglobin 13.1 g/dL"))
    assert "From the measurements" not in patient_as_matched(normal)


def test_empty_panel_shows_the_form_without_a_result(client: TestClient) -> None:
    html = get_page(client, CHECK)
    assert "Check eligibility" in html and 'id="result-title"' not in html


def test_check_of_an_unknown_trial_is_a_404_page(client: TestClient) -> None:
    assert "not in this registry" in get_page(client, "/study/NCT00000000/eligibility", 404)
    assert "not an NCT number" in get_page(client, "/study/banana/eligibility", 404)


# --- the match page --------------------------------------------------------------------------


def test_match_page_ranks_the_seed_trial_for_a_seed_like_patient(client: TestClient) -> None:
    page = url(
        "/match",
        age="40",
        sex="male",
        diagnoses="ALS-like syndrome, multifocal motor neuropathy",
        city="Beijing",
        country="China",
        limit="10",
    )
    html = get_page(client, page)
    assert "<h1>Match a patient to trials</h1>" in html
    assert 'aria-current="page">Match a patient</a>' in html
    trials = html.split('<li class="match-trial">')[1:]
    assert 1 <= len(trials) <= 10
    seed = next(t for t in trials if f'href="/study/{SEED_ID}"' in t)
    assert "Likely eligible" in seed and "near the patient" in seed
    assert "Every criterion" in seed and "18-70 years old" in seed
    assert "Trials open to participants and about the patient’s conditions first" in html


def test_match_page_shows_exclusions_with_their_reason(client: TestClient) -> None:
    html = get_page(
        client,
        url(
            "/match",
            age="45",
            diagnoses="multifocal motor neuropathy",
            labs="lymphocytes 500 /mm3",
            any_status="1",
        ),
    )
    seed = next(t for t in html.split('<li class="match-trial">') if f"/study/{SEED_ID}" in t)
    assert "Likely excluded" in seed
    keeps_out = seed[seed.index("Keeps the patient out:") : seed.index("<details")]
    assert LYMPHOCYTE_CRITERION in keeps_out
    assert "Ordered by score" in html


def test_empty_match_page_is_the_form(client: TestClient) -> None:
    html = get_page(client, "/match")
    assert '<form class="match-form" action="/match" method="get"' in html
    assert 'id="ranking-title"' not in html


def test_hostile_input_is_escaped(client: TestClient) -> None:
    html = get_page(
        client, url("/match", note=f"45 year old man with ALS {HOSTILE}", diagnoses=HOSTILE)
    )
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    html = get_page(client, url(CHECK, note=HOSTILE, labs=f"{HOSTILE} 5 mg"), 200)
    assert "<script>alert" not in html


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        ("/match", {"age": "forty", "diagnoses": "ALS"}, "age: expected a number, got “forty”"),
        ("/match", {"age": "200", "diagnoses": "ALS"}, "age: must be at most 130"),
        ("/match", {"labs": "lymphocytes low", "diagnoses": "ALS"}, "labs: “lymphocytes low”"),
        ("/match", {"sex": "other", "diagnoses": "ALS"}, "sex: must be one of female, male"),
        ("/match", {"pregnant": "maybe", "diagnoses": "ALS"}, "pregnant: expected yes, no"),
        ("/match", {"limit": "5000", "diagnoses": "ALS"}, "limit: one of 10, 20, 50"),
        ("/match", {"note": "x" * 4001}, "note: at most 4,000 characters"),
        ("/match", {"sex": "male"}, "diagnoses: needs at least one diagnosis"),
        ("/match", {"weight": "80", "diagnoses": "ALS"}, "weight: unknown field"),
        (CHECK, {"age": "-3"}, "age: must be at least 0"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    client: TestClient, path: str, fields: dict[str, str], message: str
) -> None:
    response = client.get(url(path, **fields))
    assert response.status_code == 400, response.text[:300]
    check_html(response.text)
    errors = response.text[response.text.index('class="match-errors"') :]
    assert message in text_of(errors.replace("&#39;", "'"))
    field = message.split(":")[0]
    if field != "weight":  # a known field is marked and linked from the summary
        assert f'<a href="#{field}">' in errors
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', response.text)
