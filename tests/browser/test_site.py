"""The registry web site in a real Chromium: search, filter, the seed trial's page, See also,
history, a phone-width layout, the site without JavaScript, keyboard use and printing.

Screenshots of every page visited are saved under test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browsing import Pages, versioned_id
from playwright.sync_api import Page, expect
from seed_page import SEE_ALSO_ROW, SEED, SEED_ID, SeedPage, parse_seed

from trialatlas.store.sqlite import SQLiteStore

QUERY = "amyotrophic lateral sclerosis"
PHONE = 375

# What the detail page says, section by section, read from the DOM the way a reader sees it.
READ_SECTIONS = """() => {
  const text = (e) => e.textContent.replace(/\\s+/g, " ").trim();
  return [...document.querySelectorAll("section.study-section")].map((s) => ({
    title: text(s.querySelector("h2")),
    fields: [...s.querySelectorAll(":scope > dl.fields > div")].map((d) => {
      const value = d.querySelector("dd .none") ? "" : text(d.querySelector("dd"));
      return (text(d.querySelector("dt")) + " " + value).trim();
    }),
    prose: [...s.querySelectorAll(":scope > .prose > *")].map(text),
    entries: [...s.querySelectorAll(":scope > .entry > *")].map(text),
    items: [...s.querySelectorAll(":scope > ul > li")].map(text),
    rows: [...s.querySelectorAll(":scope table tr")].map((tr) =>
      [...tr.children].map(text).filter(Boolean).join(" ")),
    inclusion: [...s.querySelectorAll(".criteria-inclusion li.criterion")].map(text),
    exclusion: [...s.querySelectorAll(".criteria-exclusion li.criterion")].map(text),
    empty: !!s.querySelector(":scope > p.none"),
  }));
}"""


@pytest.fixture(scope="module")
def seed() -> SeedPage:
    if not SEED.exists():
        pytest.skip(f"seed page not found at {SEED} (../shared is absent)")
    return parse_seed()


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)


def read_sections(page: Page) -> dict[str, dict[str, Any]]:
    return {s["title"]: s for s in page.evaluate(READ_SECTIONS)}


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_search_filter_and_open_the_seed_trial(pages: Pages, artifacts: Path) -> None:
    page = pages.open("/")
    expect(page.locator(".result-list .result")).to_have_count(8)
    shot(page, artifacts, "home")
    page.get_by_role("searchbox", name="Search trials").fill(QUERY)
    page.get_by_role("searchbox", name="Search trials").press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?term=amyotrophic\+lateral\+sclerosis$"))
    expect(page.locator("#results-title")).to_contain_text("studies found")
    expect(page.locator(".result mark").first).to_be_visible()
    shot(page, artifacts, "search")

    status = page.get_by_role("group", name="Status")
    status.get_by_role("link", name=re.compile(r"^Filter: Recruiting \d+")).click()
    expect(page).to_have_url(re.compile(r"aggFilters=status%3Arec"))
    statuses = page.locator(".result .status").all_text_contents()
    assert statuses and set(statuses) == {"Recruiting"}
    expect(page.locator(".active-filters")).to_contain_text("Status: Recruiting")
    shot(page, artifacts, "search-recruiting")

    seed_link = page.locator(f'.result a[href="/study/{SEED_ID}"]')
    seed_link.click()
    expect(page).to_have_url(re.compile(f"/study/{SEED_ID}$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"aggFilters=status%3Arec"))


def test_detail_page_matches_the_seed_page(pages: Pages, artifacts: Path, seed: SeedPage) -> None:
    page = pages.open(f"/study/{SEED_ID}")
    expect(page.locator(".kicker")).to_have_text(seed.header)
    shot(page, artifacts, "detail")
    sections = read_sections(page)
    assert list(sections) == list(seed.sections), "sections or their order differ"

    for heading in ("Administrative data", "Study information"):
        assert sections[heading]["fields"] == seed.lines(heading), heading
    recruitment = sections["Recruitment information / eligibility"]
    assert recruitment["fields"] == seed.lines("Recruitment information / eligibility")
    assert recruitment["inclusion"] == seed.inclusion
    assert recruitment["exclusion"] == seed.exclusion

    summary, _, description = seed.lines("Clinical Trial Summary")
    assert sections["Clinical Trial Summary"]["prose"] == [summary, "Description:", description]
    for heading in ("Study Design", "Related Conditions & MeSH terms"):
        assert seed.lines(heading) == [] and sections[heading]["empty"], heading
    kind, name, text = seed.lines("Intervention")
    assert sections["Intervention"]["entries"] == [f"{kind} {name}", text]
    for heading in ("Locations", "Sponsors (1)", "Outcome"):
        assert sections[heading]["rows"] == seed.lines(heading), heading
    country_lines = seed.lines("Country where clinical trial is conducted")
    countries = [c.strip() for line in country_lines for c in line.split(",") if c.strip()]
    assert sections["Country where clinical trial is conducted"]["items"] == countries


def test_see_also_lists_related_trials_and_links_to_them(
    pages: Pages, artifacts: Path, seed: SeedPage, corpus_store: SQLiteStore
) -> None:
    page = pages.open(f"/study/{SEED_ID}")
    rows = read_sections(page)["See also"]["rows"]
    header, *related = rows
    assert header == seed.lines("See also")[0] == "Status Clinical Trial Phase"
    assert related and all(SEE_ALSO_ROW.match(row) for row in related)
    expected = {SEE_ALSO_ROW.match(r)["nct"]: r for r in seed.lines("See also")[1:]}  # type: ignore[index]
    listed = {SEE_ALSO_ROW.match(r)["nct"]: r for r in related}  # type: ignore[index]
    shared = set(expected) & set(listed)
    assert len(shared) >= 5, f"only {sorted(shared)} of the seed's See also list are listed"
    for nct_id in shared:  # records still as the seed shows them read exactly like it
        if "data/demo" in corpus_store.versions(nct_id)[-1].source:
            assert listed[nct_id] == expected[nct_id]

    see_also = page.locator("#see-also a").first
    target = see_also.get_attribute("href")
    see_also.click()
    expect(page).to_have_url(re.compile(f"{target}$"))
    expect(page.locator("h1")).to_be_visible()
    shot(page, artifacts, "detail-see-also")
    page.go_back()
    expect(page).to_have_url(re.compile(f"/study/{SEED_ID}$"))
    expect(page.locator("#see-also")).to_be_visible()


def test_history_shows_versions_and_a_side_by_side_diff(
    pages: Pages, artifacts: Path, corpus_store: SQLiteStore
) -> None:
    nct_id = versioned_id(corpus_store)
    page = pages.open(f"/study/{nct_id}")
    page.get_by_role("link", name=re.compile(r"Record history \(\d+ versions\)")).click()
    expect(page).to_have_url(re.compile(f"/study/{nct_id}/history$"))
    expect(page.locator(".table-versions tbody tr")).to_have_count(
        len(corpus_store.versions(nct_id))
    )
    diff = page.locator("table.diff").first
    expect(diff.locator("thead")).to_contain_text("Version 1")
    assert page.locator("table.diff del, table.diff ins").count() > 0
    shot(page, artifacts, "history")
    page.get_by_label("From version", exact=True).select_option("2")
    page.get_by_label("To version", exact=True).select_option("1")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"history\?from=2&to=1$"))
    expect(page.locator("#diff-title")).to_have_text("Changes from version 2 to version 1")


def test_landscape_charts_link_to_their_studies(pages: Pages, artifacts: Path) -> None:
    page = pages.open("/landscape?cond=cancer")
    expect(page.locator("svg")).to_have_count(4)
    shot(page, artifacts, "landscape")
    bar = page.get_by_role("link", name=re.compile(r"^Completed: [\d,]+ studies$"))
    count = re.search(r"[\d,]+", bar.get_attribute("aria-label") or "")[0]  # type: ignore[index]
    bar.click()
    expect(page).to_have_url(re.compile(r"/search\?cond=cancer&aggFilters=status%3Acom$"))
    expect(page.locator("#results-title")).to_have_text(f"{count} studies found")


PHONE_PAGES = {
    "home": "/",
    "search": f"/search?term={QUERY.replace(' ', '+')}&aggFilters=status:rec",
    "detail": f"/study/{SEED_ID}",
    "landscape": "/landscape?cond=cancer",
}


@pytest.mark.parametrize("name", PHONE_PAGES)
def test_phone_width_has_no_horizontal_scroll(pages: Pages, artifacts: Path, name: str) -> None:
    page = pages.open(PHONE_PAGES[name], width=PHONE)
    assert no_horizontal_scroll(page)
    shot(page, artifacts, f"phone-{name}")


def test_phone_width_history(pages: Pages, artifacts: Path, corpus_store: SQLiteStore) -> None:
    page = pages.open(f"/study/{versioned_id(corpus_store)}/history", width=PHONE)
    assert no_horizontal_scroll(page)
    shot(page, artifacts, "phone-history")


def test_the_site_works_without_javascript(pages: Pages, artifacts: Path) -> None:
    page = pages.open("/", javascript=False)
    page.get_by_text("Advanced search").click()  # <details> opens without script
    page.get_by_label("Condition or disease").fill(QUERY)
    page.locator("details.advanced").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"cond=amyotrophic\+lateral\+sclerosis"))
    page.locator(".facet").first.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"aggFilters="))
    sort_button = page.get_by_role("button", name="Sort")
    expect(sort_button).to_be_visible()  # the fallback a script would hide
    page.get_by_label("Sort by").select_option("LastUpdatePostDate:desc")
    sort_button.click()
    expect(page).to_have_url(re.compile(r"sort=LastUpdatePostDate%3Adesc"))
    shot(page, artifacts, "nojs-search")
    page.locator(".result h3 a").first.click()
    expect(page.locator("#administrative")).to_be_visible()
    shot(page, artifacts, "nojs-detail")


def test_script_enhances_sorting(pages: Pages) -> None:
    page = pages.open("/search?cond=cancer")
    expect(page.get_by_role("button", name="Sort")).to_be_hidden()
    page.get_by_label("Sort by").select_option("StartDate:desc")
    expect(page).to_have_url(re.compile(r"sort=StartDate%3Adesc"))


def test_keyboard_reaches_content_through_the_skip_link(pages: Pages) -> None:
    page = pages.open(f"/study/{SEED_ID}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")


def test_printed_detail_page_is_the_record_alone(pages: Pages, artifacts: Path) -> None:
    page = pages.open(f"/study/{SEED_ID}")
    page.emulate_media(media="print")
    for selector in (".site-header", ".toc", ".site-footer", ".study-links"):
        expect(page.locator(selector)).to_be_hidden()
    expect(page.locator("#outcomes")).to_be_visible()
    shot(page, artifacts, "detail-print")
    page.pdf(path=artifacts / "detail-print.pdf", format="A4")


def test_security_headers_and_helpful_404(pages: Pages, artifacts: Path) -> None:
    page = pages.open("/")
    response = page.request.get("/study/NCT00000000")
    assert response.status == 404
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    page.goto("/study/NCT00000000")
    expect(page.locator("h1")).to_contain_text("Page not found")
    expect(page.get_by_text("NCT00000000 is not in this registry.")).to_be_visible()
    shot(page, artifacts, "not-found")
    pages.errors.clear()  # Chromium logs the 404 document itself as a console error
