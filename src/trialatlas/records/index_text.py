"""The text of a study that the full-text index holds, field by field.

Fields are ordered from most to least telling, and each has the weight the search layer
gives a match in it (title and acronym above conditions and keywords, above interventions,
above summary, above description and criteria). Both store backends index these fields,
so both rank from the same text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# (field name, BM25 weight)
INDEX_FIELDS: tuple[tuple[str, float], ...] = (
    ("titles", 10.0),
    ("conditions", 6.0),
    ("keywords", 5.0),
    ("interventions", 4.0),
    ("outcomes", 2.0),
    ("sponsors", 2.0),
    ("locations", 1.5),
    ("ids", 8.0),
    ("summary", 1.5),
    ("description", 1.0),
    ("criteria", 0.7),
)
FIELD_NAMES: tuple[str, ...] = tuple(name for name, _ in INDEX_FIELDS)


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _each(items: Any, *keys: str) -> Iterable[str]:
    if not isinstance(items, list):
        return
    for item in items:
        value = _get(item, *keys) if keys else item
        if isinstance(value, str) and value:
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))


def _join(*parts: Iterable[str] | str | None) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part is not None:
            out.extend(part)
    return "\n".join(out)


def index_text(document: dict[str, Any]) -> tuple[str, ...]:
    """One string per field of INDEX_FIELDS, in order. Tolerant of any shape: it never raises."""
    p = document.get("protocolSection") or {}
    ident = _get(p, "identificationModule") or {}
    conditions = _get(p, "conditionsModule") or {}
    arms = _get(p, "armsInterventionsModule") or {}
    outcomes = _get(p, "outcomesModule") or {}
    sponsors = _get(p, "sponsorCollaboratorsModule") or {}
    derived = document.get("derivedSection") or {}
    cond_browse = _get(derived, "conditionBrowseModule") or {}
    intr_browse = _get(derived, "interventionBrowseModule") or {}
    locations = _get(p, "contactsLocationsModule", "locations")
    return (
        _join(_each([ident.get("briefTitle"), ident.get("officialTitle"), ident.get("acronym")])),
        _join(_each(conditions.get("conditions")), _each(cond_browse.get("meshes"), "term")),
        _join(_each(conditions.get("keywords"))),
        _join(
            _each(arms.get("interventions"), "name"),
            _each(arms.get("interventions"), "otherNames"),
            _each(intr_browse.get("meshes"), "term"),
        ),
        _join(
            _each(outcomes.get("primaryOutcomes"), "measure"),
            _each(outcomes.get("secondaryOutcomes"), "measure"),
            _each(outcomes.get("otherOutcomes"), "measure"),
        ),
        _join(
            _each([_get(sponsors, "leadSponsor", "name")]),
            _each(sponsors.get("collaborators"), "name"),
        ),
        _join(
            _each(locations, "facility"),
            _each(locations, "city"),
            _each(locations, "state"),
            _each(locations, "country"),
        ),
        _join(
            _each([ident.get("nctId"), _get(ident, "orgStudyIdInfo", "id")]),
            _each(ident.get("secondaryIdInfos"), "id"),
            _each(ident.get("nctIdAliases")),
        ),
        _join(_each([_get(p, "descriptionModule", "briefSummary")])),
        _join(_each([_get(p, "descriptionModule", "detailedDescription")])),
        _join(_each([_get(p, "eligibilityModule", "eligibilityCriteria")])),
    )
