"""The text of a study that the full-text index holds, field by field.

Each field has the weight the search layer gives a match in it (title and acronym above
conditions and keywords, above interventions, above summary, above description and
criteria). Both store backends index these fields, so both rank from the same text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# (field name, BM25 weight). One column per kind of field, so that ClinicalTrials.gov's search
# areas and AREA[Field] queries map onto sets of columns (search.essie.AREAS).
INDEX_FIELDS: tuple[tuple[str, float], ...] = (
    ("brief_title", 10.0),
    ("official_title", 8.0),
    ("acronym", 10.0),
    ("conditions", 6.0),
    ("condition_mesh", 5.0),
    ("keywords", 5.0),
    ("interventions", 4.0),
    ("intervention_mesh", 3.0),
    ("outcomes", 2.0),
    ("lead_sponsor", 2.0),
    ("collaborators", 1.5),
    ("locations", 1.0),
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
    interventions = arms.get("interventions")
    return (
        _join(_each([ident.get("briefTitle")])),
        _join(_each([ident.get("officialTitle")])),
        _join(_each([ident.get("acronym")])),
        _join(_each(conditions.get("conditions"))),
        _join(_each(cond_browse.get("meshes"), "term")),
        _join(_each(conditions.get("keywords"))),
        _join(_each(interventions, "name"), _each(interventions, "otherNames")),
        _join(_each(intr_browse.get("meshes"), "term")),
        _join(
            _each(outcomes.get("primaryOutcomes"), "measure"),
            _each(outcomes.get("secondaryOutcomes"), "measure"),
            _each(outcomes.get("otherOutcomes"), "measure"),
        ),
        _join(_each([_get(sponsors, "leadSponsor", "name")])),
        _join(_each(sponsors.get("collaborators"), "name")),
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
