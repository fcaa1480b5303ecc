"""The text of a study that the full-text index holds, field by field.

Each field has the weight the search layer gives a match in it (title and acronym above
conditions and keywords, above interventions, above summary, above description and
criteria). Both store backends index these fields, so both rank from the same text.
"""

from __future__ import annotations

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


def _add(out: list[str], value: Any) -> None:
    """Append a non-empty string, or every string of a list."""
    if isinstance(value, str):
        if value:
            out.append(value)
    elif isinstance(value, list):
        out.extend(v for v in value if isinstance(v, str))


def _text(*values: Any, of: tuple[tuple[Any, str | None], ...] = ()) -> str:
    """The lines of these values and of `of`'s (list, key) pairs: each item of the list
    (key None) or its `key`. Plain loops: this runs for every study an ingest prepares
    (generators here cost a sixth of a worker's time)."""
    out: list[str] = []
    for value in values:
        _add(out, value)
    for items, key in of:
        if isinstance(items, list):
            for item in items:
                if key is None:
                    _add(out, item)
                elif isinstance(item, dict):
                    _add(out, item.get(key))
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
        _text(ident.get("briefTitle")),
        _text(ident.get("officialTitle")),
        _text(ident.get("acronym")),
        _text(of=((conditions.get("conditions"), None),)),
        _text(of=((cond_browse.get("meshes"), "term"),)),
        _text(of=((conditions.get("keywords"), None),)),
        _text(of=((interventions, "name"), (interventions, "otherNames"))),
        _text(of=((intr_browse.get("meshes"), "term"),)),
        _text(
            of=(
                (outcomes.get("primaryOutcomes"), "measure"),
                (outcomes.get("secondaryOutcomes"), "measure"),
                (outcomes.get("otherOutcomes"), "measure"),
            )
        ),
        _text(_get(sponsors, "leadSponsor", "name")),
        _text(of=((sponsors.get("collaborators"), "name"),)),
        _text(
            of=(
                (locations, "facility"),
                (locations, "city"),
                (locations, "state"),
                (locations, "country"),
            )
        ),
        _text(
            ident.get("nctId"),
            _get(ident, "orgStudyIdInfo", "id"),
            of=((ident.get("secondaryIdInfos"), "id"), (ident.get("nctIdAliases"), None)),
        ),
        _text(_get(p, "descriptionModule", "briefSummary")),
        _text(_get(p, "descriptionModule", "detailedDescription")),
        _text(_get(p, "eligibilityModule", "eligibilityCriteria")),
    )
