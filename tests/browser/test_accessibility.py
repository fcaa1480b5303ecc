"""Accessibility a browser has to judge: text contrast as rendered, and visible focus.

Contrast is WCAG 2's ratio between each visible text's colour and the background it is
drawn on (the nearest painted background among its ancestors), at least 4.5:1, or 3:1 for
large text; SVG chart labels count with their fill. Focus: every control reached with Tab
shows an outline or a shadow that it does not show unfocused.
"""

from __future__ import annotations

import pytest
from browsing import Pages, versioned_id
from seed_page import SEED_ID

from trialatlas.store.sqlite import SQLiteStore

PAGES = {
    "home": "/",
    "search": "/search?term=amyotrophic+lateral+sclerosis&aggFilters=status:rec",
    "search-filters": "/search?cond=cancer&aggFilters=status:com,phase:2",
    "detail": f"/study/{SEED_ID}",
    "landscape": "/landscape?cond=cancer",
    "not-found": "/study/NCT00000000",
    "bad-request": "/search?page=0",
}

# Every visible text below the contrast WCAG asks for: [text, colour, background, ratio].
LOW_CONTRAST = """() => {
  const rgba = (css) => {
    const m = css.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  };
  const over = (top, below) => top.slice(0, 3).map(
    (c, i) => c * top[3] + below[i] * (1 - top[3])).concat(1);
  const background = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const color = rgba(getComputedStyle(e).backgroundColor);
      if (color && color[3] > 0) layers.push(color);
      if (color && color[3] === 1) break;
    }
    return layers.reduceRight((below, top) => over(top, below), [255, 255, 255, 1]);
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || seen.has(element)) continue;
    seen.add(element);
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    if (style.visibility !== "visible" || box.width <= 1 || box.height <= 1) continue;
    const hidden = "[hidden], .visually-hidden, details:not([open]) > :not(summary)";
    if (element.closest(hidden)) continue;
    const inSvg = element.closest("svg") !== null;
    const bg = background(inSvg ? element.closest("svg") : element);
    const fg = over(rgba(inSvg ? style.fill : style.color) || [0, 0, 0, 1], bg);
    const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push([node.textContent.trim().slice(0, 40), style.color, bg.join(","),
                     ratio.toFixed(2)]);
    }
  }
  return failures;
}"""

# The focus indicator of the active element: its outline and shadow, which unfocused
# controls of this site never have.
FOCUS_STYLE = """() => {
  const style = getComputedStyle(document.activeElement);
  return {
    tag: document.activeElement.tagName,
    text: (document.activeElement.textContent || document.activeElement.name || "").trim(),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    shadow: style.boxShadow !== "none",
  };
}"""


@pytest.mark.parametrize("name", PAGES)
def test_text_has_enough_contrast(pages: Pages, name: str) -> None:
    page = pages.open(PAGES[name])
    assert page.evaluate(LOW_CONTRAST) == []
    if name in ("not-found", "bad-request"):
        pages.errors.clear()  # Chromium logs an error status as a console error


def test_history_diff_has_enough_contrast(pages: Pages, corpus_store: SQLiteStore) -> None:
    page = pages.open(f"/study/{versioned_id(corpus_store)}/history")
    assert page.locator("table.diff del, table.diff ins").count() > 0
    assert page.evaluate(LOW_CONTRAST) == []


@pytest.mark.parametrize("path", ["/", "/search?cond=cancer", f"/study/{SEED_ID}"])
def test_every_control_shows_keyboard_focus(pages: Pages, path: str) -> None:
    page = pages.open(path)
    reached = []
    for _ in range(25):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_STYLE)
        if focus["tag"] == "BODY":
            break
        reached.append(focus)
    assert len(reached) >= 5, reached
    assert [f for f in reached if not (f["outline"] or f["shadow"])] == []
