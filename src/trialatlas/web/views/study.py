"""The detail page's view: the record's sections, its criteria as lists, and See also.

The sections come from ``records.detail.build_detail`` (the same model ``trialatlas show``
prints), so the HTML page and the text page say the same things in the same order. The
criteria text is split into items by ``eligibility.criteria``; an item keeps its exact words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialatlas.eligibility.criteria import Criterion, Kind, ParsedCriteria, parse_criteria
from trialatlas.records.detail import DetailPage, Section, build_detail

# The recruitment section's raw-criteria field, which the page shows as lists instead.
CRITERIA_LABEL = "Eligibility"
_LIST_TITLES = {Kind.INCLUSION: "Inclusion criteria", Kind.EXCLUSION: "Exclusion criteria"}


@dataclass(frozen=True, slots=True)
class CriterionNode:
    """One criterion (or a heading such as "Patients must have:") and the items under it."""

    text: str
    heading: bool
    children: tuple[CriterionNode, ...]


@dataclass(frozen=True, slots=True)
class CriteriaList:
    """A titled list of criteria; ``kind`` is "" when the record does not say which kind."""

    kind: str
    title: str
    items: tuple[CriterionNode, ...]


@dataclass(frozen=True, slots=True)
class Eligibility:
    """The criteria as lists, or only ``text`` when nothing could be split out of it."""

    text: str
    lists: tuple[CriteriaList, ...]


@dataclass(frozen=True, slots=True)
class RelatedTrial:
    """A row of the See also list: status, NCT id, title and phase, as the seed shows them."""

    nct_id: str
    title: str
    status: str
    phase: str


@dataclass(frozen=True, slots=True)
class StudyView:
    page: DetailPage
    eligibility: Eligibility
    related: tuple[RelatedTrial, ...]
    version_count: int


def is_empty(section: Section) -> bool:
    """True when a section has nothing to show but its heading (the seed's "Study Design")."""
    return not (
        section.fields
        or section.paragraphs
        or section.entries
        or section.items
        or any(table.rows for table in section.tables)
    )


def _tree(parsed: ParsedCriteria, item: Criterion) -> CriterionNode:
    children = tuple(_tree(parsed, c) for c in parsed.items if c.parent == item.index)
    return CriterionNode(item.clean_text, item.heading, children)


def eligibility_of(text: str) -> Eligibility:
    """Criteria text as Inclusion and Exclusion lists, nested items under their heading.

    When no header or lead-in says which kind an item is, the parser's guess is not shown as
    fact: such criteria form one list titled "Criteria"."""
    parsed = parse_criteria(text)
    roots = [item for item in parsed.items if item.parent is None]
    if not roots:
        return Eligibility(text, ())
    if all(c.inferred for c in parsed.criteria):
        nodes = tuple(_tree(parsed, item) for item in roots)
        return Eligibility(text, (CriteriaList("", "Criteria", nodes),))
    lists = []
    for kind, title in _LIST_TITLES.items():
        nodes = tuple(_tree(parsed, item) for item in roots if item.kind is kind)
        if nodes:
            lists.append(CriteriaList(kind.value, title, nodes))
    return Eligibility(text, tuple(lists))


def study_view(
    document: dict[str, Any], related: tuple[RelatedTrial, ...], version_count: int
) -> StudyView:
    """Everything the detail template shows for one stored document."""
    page = build_detail(document)
    recruitment = page.section("recruitment")
    fields = recruitment.fields if recruitment else ()
    criteria = next((f.value for f in fields if f.label == CRITERIA_LABEL), "")
    return StudyView(page, eligibility_of(criteria), related, version_count)
