"""Eligibility on the site in a real Chromium: the seed page's "Check eligibility" panel and
the match page, with and without JavaScript, at desktop and phone width.

Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

from browsing import Pages
from playwright.sync_api import Page, expect
from seed_page import SEED_ID

PHONE = 375
NOTE = "A 40-year-old man with ALS-like syndrome and multifocal motor neuropathy."


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def fill_panel_and_check(page: Page) -> None:
    panel = page.get_by_role("form", name="Check eligibility")
    panel.get_by_label("Age (years)").fill("45")
    panel.get_by_label("Conditions and diagnoses").fill("multifocal motor neuropathy")
    panel.get_by_label("Lab results, vitals and scores").fill("lymphocytes 500 /mm3")
    panel.get_by_role("button", name="Check eligibility").click()


def test_panel_on_the_seed_page_shows_the_verdict(pages: Pages, artifacts: Path) -> None:
    page = pages.open(f"/study/{SEED_ID}")
    fill_panel_and_check(page)
    # with script, empty fields stay out of the shareable URL
    expect(page).to_have_url(
        re.compile(rf"/study/{SEED_ID}/eligibility\?age=45&diagnoses=multifocal\+motor\+"
                   r"neuropathy&labs=lymphocytes\+500\+%2Fmm3$")
    )  # fmt: skip
    expect(page.locator("#result-title")).to_have_text("Result: Likely excluded")
    failed = page.locator(".match-criterion.match-not-met")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("lymphocytes < 600/mm3")
    expect(failed).to_contain_text("patient lymphocytes 500 /mm3")
    expect(page.get_by_label("Age (years)")).to_have_value("45")  # the form refilled
    shot(page, artifacts, "check-eligibility")


def test_panel_works_without_javascript_at_phone_width(pages: Pages, artifacts: Path) -> None:
    page = pages.open(f"/study/{SEED_ID}", width=PHONE, javascript=False)
    assert no_horizontal_scroll(page)
    fill_panel_and_check(page)
    expect(page).to_have_url(re.compile(rf"/study/{SEED_ID}/eligibility\?age=45&sex=&"))
    expect(page.locator("#result-title")).to_have_text("Result: Likely excluded")
    assert no_horizontal_scroll(page)
    shot(page, artifacts, "phone-check-eligibility")


def test_match_page_ranks_trials_from_a_note(pages: Pages, artifacts: Path) -> None:
    page = pages.open("/")
    page.get_by_role("link", name="Match a patient").click()
    expect(page.locator("h1")).to_have_text("Match a patient to trials")
    page.get_by_label("Or describe the patient in words").fill(NOTE)
    page.get_by_label("Trials to show").select_option("10")
    page.get_by_role("button", name="Find trials").click()
    expect(page).to_have_url(re.compile(r"/match\?note=A\+40-year-old\+man.*&limit=10$"))
    trials = page.locator(".match-trial")
    expect(trials.first).to_be_visible()
    assert 1 <= trials.count() <= 10
    seed = trials.filter(has=page.locator(f'a[href="/study/{SEED_ID}"]'))
    expect(seed.locator(".verdict")).to_have_text("Likely eligible")
    seed.get_by_text("Every criterion").click()  # <details> opens without script
    expect(seed.locator(".match-criterion").first).to_be_visible()
    shot(page, artifacts, "match")


def test_match_page_at_phone_width_without_javascript(pages: Pages, artifacts: Path) -> None:
    page = pages.open("/match", width=PHONE, javascript=False)
    page.get_by_label("Age (years)").fill("forty")
    page.get_by_label("Conditions and diagnoses").fill("amyotrophic lateral sclerosis")
    page.get_by_label("Lab results, vitals and scores").fill("lymphocytes low")
    page.get_by_role("button", name="Find trials").click()
    expect(page.get_by_role("alert")).to_contain_text("age: expected a number, got “forty”")
    expect(page.get_by_role("alert")).to_contain_text("labs: “lymphocytes low”")
    expect(page.get_by_label("Lab results, vitals and scores")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert no_horizontal_scroll(page)
    pages.errors.clear()  # Chromium logs the 400 document itself as a console error
    page.get_by_label("Age (years)").fill("40")
    page.get_by_label("Lab results, vitals and scores").fill("lymphocytes 1500 /mm3")
    page.get_by_role("button", name="Find trials").click()
    expect(page.locator("#ranking-title")).to_contain_text("for this patient")
    assert no_horizontal_scroll(page)
    shot(page, artifacts, "phone-match")
