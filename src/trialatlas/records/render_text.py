"""Plain-text rendering of a detail page, laid out like the seed page.

``trialatlas show`` prints this. The layout follows the seed (``shared/seed/NCT04952155.txt``):
a heading, a blank line, then "Label value" lines, free text, and tables whose header and
rows are their non-empty cells joined by single spaces, as the seed page reads.
"""

from __future__ import annotations

from trialatlas.records.detail import DetailPage, Entry, Field, Paragraph, Section, Table

PAGE_TITLE = "Clinical Trial Details"
CONTINUATION_INDENT = "  "


def _field(field: Field) -> list[str]:
    """A "Label value" line; a multi-line value (criteria) continues on indented lines."""
    first, *rest = field.value.splitlines() or [""]
    lines = [f"{field.label} {first}".rstrip()]
    lines += [f"{CONTINUATION_INDENT}{line}".rstrip() for line in rest]
    return lines


def _paragraph(paragraph: Paragraph) -> list[str]:
    heading = [f"{paragraph.heading}:", ""] if paragraph.heading else []
    return [*heading, paragraph.text]


def _entry(entry: Entry) -> list[str]:
    """Like the seed's intervention: "Drug:", then the name, then the description."""
    kind = [f"{entry.kind}:"] if entry.kind else []
    return [*kind, *(part for part in (entry.name, entry.text) if part)]


def _row(cells: tuple[str, ...]) -> str:
    """Non-empty cells, each on one line, joined by a space: a row reads as the seed's do."""
    return " ".join(" ".join(cell.split()) for cell in cells if cell.strip())


def _table(table: Table) -> list[str]:
    return [_row(table.columns), *(_row(row) for row in table.rows)]


def _section(section: Section) -> list[str]:
    """The heading, then each non-empty part, parts separated by a blank line."""
    blocks: list[list[str]] = []
    if section.fields:
        blocks.append([line for field in section.fields for line in _field(field)])
    blocks += [_paragraph(p) for p in section.paragraphs]
    blocks += [_entry(e) for e in section.entries]
    if section.items:
        blocks.append(list(section.items))
    blocks += [_table(t) for t in section.tables]
    lines = [section.title, ""]
    for block in blocks:
        lines += [*block, ""]
    return lines


def render_text(page: DetailPage) -> str:
    """The whole page as plain text, sections in the page's order, ending in a newline."""
    header = page.header
    lines = [header.title] if header.title else []
    lines += [f"{PAGE_TITLE} — Status: {header.status}".rstrip(), ""]
    for section in page.sections:
        lines += _section(section)
    return "\n".join(lines).rstrip("\n") + "\n"
