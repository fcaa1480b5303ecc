"""The one Jinja2 environment every page renders through, and the filters it offers.

Autoescape is on for every template; the only ``Markup`` produced here comes from
``highlight`` and ``segments``, which escape their input before adding markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> list[str]:
    """Free text split at blank lines, each paragraph on one line.

    Legacy XML hard-wraps text at about 70 columns; keeping those breaks would make ragged
    lines on a wide screen, so only blank lines survive as paragraph breaks."""
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def highlight(text: str, pattern: re.Pattern[str] | None) -> Markup:
    """``text`` escaped, then every match of ``pattern`` wrapped in <mark>.

    Matching runs on the raw text and each piece is escaped on its own, so a term can never
    match inside an entity (searching "amp" does not break "&amp;")."""
    if pattern is None or not text:
        return escape(text)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        if match.end() == match.start():
            continue
        out.append(escape(text[last : match.start()]))
        out.append(Markup("<mark>%s</mark>") % text[match.start() : match.end()])
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def segments(parts: Iterable[tuple[str, str]]) -> Markup:
    """Diff segments ("same" | "del" | "ins", text) as escaped text in <del>/<ins>."""
    out = []
    for op, text in parts:
        if op == "same":
            out.append(escape(text))
        else:
            out.append(Markup("<%s>%s</%s>") % (op, text, op))
    return Markup("").join(out)


def number(value: int) -> str:
    """Counts with thousands separators, as the registry writes them."""
    return f"{value:,}"


environment = Environment(
    loader=PackageLoader("trialatlas.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
environment.filters.update(paragraphs=paragraphs, highlight=highlight, segments=segments)
environment.filters["number"] = number


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page rendered from ``template`` with ``context``."""
    html = environment.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)
