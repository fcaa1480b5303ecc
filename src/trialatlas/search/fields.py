"""The `fields` parameter of API v2: which parts of each study document to return.

A field is a dotted document path ("protocolSection.identificationModule.nctId"), a piece
name ("NCTId", "BriefTitle", "Condition"…, ClinicalTrials.gov's names for leaf fields), a
module name ("IdentificationModule") or a section name ("ProtocolSection"); matching ignores
case. Lists are projected element by element, as the original does. For CSV the fields are
the download's column names ("NCT Number", "Study Title"…).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trialatlas.search.query import QueryError

_P = "protocolSection"
_MODULES = {
    "identificationModule": _P, "statusModule": _P, "sponsorCollaboratorsModule": _P,
    "oversightModule": _P, "descriptionModule": _P, "conditionsModule": _P,
    "designModule": _P, "armsInterventionsModule": _P, "outcomesModule": _P,
    "eligibilityModule": _P, "contactsLocationsModule": _P, "referencesModule": _P,
    "ipdSharingStatementModule": _P,
    "participantFlowModule": "resultsSection", "baselineCharacteristicsModule": "resultsSection",
    "outcomeMeasuresModule": "resultsSection", "adverseEventsModule": "resultsSection",
    "moreInfoModule": "resultsSection",
    "miscInfoModule": "derivedSection", "conditionBrowseModule": "derivedSection",
    "interventionBrowseModule": "derivedSection",
    "largeDocumentModule": "documentSection",
    "annotationModule": "annotationSection",
}  # fmt: skip
_SECTIONS = ("protocolSection", "resultsSection", "annotationSection", "documentSection",
             "derivedSection", "hasResults")  # fmt: skip
_PIECES = {
    "NCTId": "identificationModule.nctId",
    "NCTIdAlias": "identificationModule.nctIdAliases",
    "OrgStudyId": "identificationModule.orgStudyIdInfo.id",
    "SecondaryId": "identificationModule.secondaryIdInfos.id",
    "BriefTitle": "identificationModule.briefTitle",
    "OfficialTitle": "identificationModule.officialTitle",
    "Acronym": "identificationModule.acronym",
    "OrgFullName": "identificationModule.organization.fullName",
    "OrgClass": "identificationModule.organization.class",
    "OverallStatus": "statusModule.overallStatus",
    "LastKnownStatus": "statusModule.lastKnownStatus",
    "StatusVerifiedDate": "statusModule.statusVerifiedDate",
    "WhyStopped": "statusModule.whyStopped",
    "StartDate": "statusModule.startDateStruct.date",
    "StartDateType": "statusModule.startDateStruct.type",
    "PrimaryCompletionDate": "statusModule.primaryCompletionDateStruct.date",
    "PrimaryCompletionDateType": "statusModule.primaryCompletionDateStruct.type",
    "CompletionDate": "statusModule.completionDateStruct.date",
    "CompletionDateType": "statusModule.completionDateStruct.type",
    "StudyFirstSubmitDate": "statusModule.studyFirstSubmitDate",
    "StudyFirstPostDate": "statusModule.studyFirstPostDateStruct.date",
    "ResultsFirstPostDate": "statusModule.resultsFirstPostDateStruct.date",
    "LastUpdateSubmitDate": "statusModule.lastUpdateSubmitDate",
    "LastUpdatePostDate": "statusModule.lastUpdatePostDateStruct.date",
    "LeadSponsorName": "sponsorCollaboratorsModule.leadSponsor.name",
    "LeadSponsorClass": "sponsorCollaboratorsModule.leadSponsor.class",
    "CollaboratorName": "sponsorCollaboratorsModule.collaborators.name",
    "CollaboratorClass": "sponsorCollaboratorsModule.collaborators.class",
    "ResponsiblePartyType": "sponsorCollaboratorsModule.responsibleParty.type",
    "IsFDARegulatedDrug": "oversightModule.isFdaRegulatedDrug",
    "IsFDARegulatedDevice": "oversightModule.isFdaRegulatedDevice",
    "OversightHasDMC": "oversightModule.oversightHasDmc",
    "BriefSummary": "descriptionModule.briefSummary",
    "DetailedDescription": "descriptionModule.detailedDescription",
    "Condition": "conditionsModule.conditions",
    "Keyword": "conditionsModule.keywords",
    "StudyType": "designModule.studyType",
    "Phase": "designModule.phases",
    "DesignAllocation": "designModule.designInfo.allocation",
    "DesignInterventionModel": "designModule.designInfo.interventionModel",
    "DesignPrimaryPurpose": "designModule.designInfo.primaryPurpose",
    "DesignMasking": "designModule.designInfo.maskingInfo.masking",
    "EnrollmentCount": "designModule.enrollmentInfo.count",
    "EnrollmentType": "designModule.enrollmentInfo.type",
    "ArmGroupLabel": "armsInterventionsModule.armGroups.label",
    "ArmGroupType": "armsInterventionsModule.armGroups.type",
    "ArmGroupDescription": "armsInterventionsModule.armGroups.description",
    "InterventionType": "armsInterventionsModule.interventions.type",
    "InterventionName": "armsInterventionsModule.interventions.name",
    "InterventionDescription": "armsInterventionsModule.interventions.description",
    "InterventionOtherName": "armsInterventionsModule.interventions.otherNames",
    "PrimaryOutcomeMeasure": "outcomesModule.primaryOutcomes.measure",
    "PrimaryOutcomeDescription": "outcomesModule.primaryOutcomes.description",
    "PrimaryOutcomeTimeFrame": "outcomesModule.primaryOutcomes.timeFrame",
    "SecondaryOutcomeMeasure": "outcomesModule.secondaryOutcomes.measure",
    "SecondaryOutcomeDescription": "outcomesModule.secondaryOutcomes.description",
    "SecondaryOutcomeTimeFrame": "outcomesModule.secondaryOutcomes.timeFrame",
    "OtherOutcomeMeasure": "outcomesModule.otherOutcomes.measure",
    "EligibilityCriteria": "eligibilityModule.eligibilityCriteria",
    "HealthyVolunteers": "eligibilityModule.healthyVolunteers",
    "Sex": "eligibilityModule.sex",
    "GenderBased": "eligibilityModule.genderBased",
    "MinimumAge": "eligibilityModule.minimumAge",
    "MaximumAge": "eligibilityModule.maximumAge",
    "StdAge": "eligibilityModule.stdAges",
    "CentralContactName": "contactsLocationsModule.centralContacts.name",
    "OverallOfficialName": "contactsLocationsModule.overallOfficials.name",
    "LocationFacility": "contactsLocationsModule.locations.facility",
    "LocationStatus": "contactsLocationsModule.locations.status",
    "LocationCity": "contactsLocationsModule.locations.city",
    "LocationState": "contactsLocationsModule.locations.state",
    "LocationZip": "contactsLocationsModule.locations.zip",
    "LocationCountry": "contactsLocationsModule.locations.country",
    "LocationGeoPoint": "contactsLocationsModule.locations.geoPoint",
    "ReferencePMID": "referencesModule.references.pmid",
    "ReferenceCitation": "referencesModule.references.citation",
    "ConditionMeshTerm": "derivedSection.conditionBrowseModule.meshes.term",
    "ConditionMeshId": "derivedSection.conditionBrowseModule.meshes.id",
    "ConditionAncestorTerm": "derivedSection.conditionBrowseModule.ancestors.term",
    "InterventionMeshTerm": "derivedSection.interventionBrowseModule.meshes.term",
    "InterventionMeshId": "derivedSection.interventionBrowseModule.meshes.id",
    "InterventionAncestorTerm": "derivedSection.interventionBrowseModule.ancestors.term",
    "HasResults": "hasResults",
}


def _full_path(path: str) -> str:
    module = path.split(".", 1)[0]
    if module in _MODULES:
        return f"{_MODULES[module]}.{path}"
    return path


_NAMES: dict[str, str] = {
    **{name.casefold(): _full_path(path) for name, path in _PIECES.items()},
    **{module.casefold(): f"{section}.{module}" for module, section in _MODULES.items()},
    **{section.casefold(): section for section in _SECTIONS},
}

Projection = dict[str, Any]  # path segment -> sub-projection, or True for "everything below"


def projection(names: Iterable[str], param: str = "fields") -> Projection | None:
    """The projection tree for a `fields` list; None (everything) when the list is empty."""
    tree: Projection = {}
    for name in names:
        path = _NAMES.get(name.casefold())
        if path is None and "." in name and name.split(".", 1)[0] in _SECTIONS:
            path = name
        if path is None:
            raise QueryError(f"Parameter '{param}' contains invalid field name: '{name}'", param)
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if child is True:
                break
            node = child
        else:
            node[leaf] = True
    return tree or None


def project(value: Any, tree: Projection | bool | None) -> Any:
    """The parts of a document a projection selects; lists are projected item by item."""
    if tree is True or tree is None:
        return value
    if isinstance(value, list):
        items = [project(item, tree) for item in value]
        return [item for item in items if item not in (None, {}, [])]
    if not isinstance(value, dict):
        return None
    out = {}
    for key, child in value.items():  # in document order, as the original returns them
        if key in tree:
            picked = project(child, tree[key])
            if picked not in (None, {}, []):
                out[key] = picked
    return out


# ----- CSV: the columns of ClinicalTrials.gov's CSV download ----------------------------------


def _get(document: dict[str, Any], path: str) -> list[Any]:
    """Every value at a dotted path, lists flattened."""
    values: list[Any] = [document]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            if isinstance(value, dict) and part in value:
                child = value[part]
                found.extend(child if isinstance(child, list) else [child])
        values = found
    return [v for v in values if v is not None]


def _joined(path: str, sep: str = "|") -> Any:
    return lambda d: sep.join(str(v) for v in _get(d, _full_path(path)))


def _interventions(document: dict[str, Any]) -> str:
    items = _get(document, "protocolSection.armsInterventionsModule.interventions")
    return "|".join(f"{i.get('type', '')}: {i.get('name', '')}" for i in items)


def _age(document: dict[str, Any]) -> str:
    module = (document.get("protocolSection") or {}).get("eligibilityModule") or {}
    low, high = module.get("minimumAge"), module.get("maximumAge")
    span = f"{low or 'Child'} to {high}" if high else (f"{low} and older" if low else "")
    groups = ", ".join(str(g).replace("_", " ").title() for g in module.get("stdAges") or [])
    return f"{span} ({groups})" if groups else span


def _locations(document: dict[str, Any]) -> str:
    sites = _get(document, "protocolSection.contactsLocationsModule.locations")
    return "|".join(
        ", ".join(str(s[k]) for k in ("facility", "city", "state", "zip", "country") if s.get(k))
        for s in sites
        if isinstance(s, dict)
    )


def _nct(document: dict[str, Any]) -> str:
    return "".join(_get(document, "protocolSection.identificationModule.nctId"))


CSV_COLUMNS = {
    "NCT Number": _nct,
    "Study Title": _joined("identificationModule.briefTitle"),
    "Study URL": lambda d: f"https://clinicaltrials.gov/study/{_nct(d)}",
    "Acronym": _joined("identificationModule.acronym"),
    "Study Status": _joined("statusModule.overallStatus"),
    "Brief Summary": _joined("descriptionModule.briefSummary"),
    "Study Results": lambda d: "YES" if d.get("hasResults") else "NO",
    "Conditions": _joined("conditionsModule.conditions"),
    "Interventions": _interventions,
    "Primary Outcome Measures": _joined("outcomesModule.primaryOutcomes.measure"),
    "Secondary Outcome Measures": _joined("outcomesModule.secondaryOutcomes.measure"),
    "Sponsor": _joined("sponsorCollaboratorsModule.leadSponsor.name"),
    "Collaborators": _joined("sponsorCollaboratorsModule.collaborators.name"),
    "Sex": _joined("eligibilityModule.sex"),
    "Age": _age,
    "Phases": _joined("designModule.phases"),
    "Enrollment": _joined("designModule.enrollmentInfo.count"),
    "Funder Type": _joined("sponsorCollaboratorsModule.leadSponsor.class"),
    "Study Type": _joined("designModule.studyType"),
    "Other IDs": _joined("identificationModule.orgStudyIdInfo.id"),
    "Start Date": _joined("statusModule.startDateStruct.date"),
    "Primary Completion Date": _joined("statusModule.primaryCompletionDateStruct.date"),
    "Completion Date": _joined("statusModule.completionDateStruct.date"),
    "First Posted": _joined("statusModule.studyFirstPostDateStruct.date"),
    "Results First Posted": _joined("statusModule.resultsFirstPostDateStruct.date"),
    "Last Update Posted": _joined("statusModule.lastUpdatePostDateStruct.date"),
    "Locations": _locations,
}
_CSV_NAMES = {name.casefold(): name for name in CSV_COLUMNS}


def csv_columns(names: Iterable[str]) -> list[str]:
    """The CSV columns a `fields` list names (all when empty), in the download's order."""
    wanted = []
    for name in names:
        column = _CSV_NAMES.get(name.casefold())
        if column is None:
            raise QueryError(f"Parameter 'fields' contains invalid field name: '{name}'", "fields")
        wanted.append(column)
    return [c for c in CSV_COLUMNS if c in wanted] if wanted else list(CSV_COLUMNS)


def csv_row(document: dict[str, Any], columns: list[str]) -> list[str]:
    return [str(CSV_COLUMNS[c](document)) for c in columns]
