"""A trial's detail page as data: the seed page's sections, labels and order.

``build_detail`` turns an API v2 study document into a ``DetailPage`` that both the HTML
template and ``render_text`` walk, so the two can never disagree about what a page says.

Conventions, all taken from the seed page (``shared/seed/NCT04952155.txt``):

- A labelled field is always present; when the record lacks the fact its value is ``""``
  (the seed shows "Secondary ID", "First received" with nothing after them).
- Free content (paragraphs, list items, interventions, table cells) that is missing is left
  out; a section with nothing in it keeps its heading (the seed's "Study Design").
- Anticipated dates and counts carry the label prefix "Est." ("Est. completion date").
- Sections beyond the seed ("Arms", "References", "Results") appear only when the record has
  something for them, so the seed trial's page stays exactly the seed's.

Records are type-checked at ingest (``document.study_columns``); here a field of the wrong
shape reads as missing, because a page must render whatever the store holds.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from trialatlas.records.extension import EXTENSION_KEY, LEGACY

# ClinicalTrials.gov's display labels for API v2 enum values.
STATUS_LABELS = {
    "RECRUITING": "Recruiting",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}
PHASE_LABELS = {
    "EARLY_PHASE1": "Early Phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "NA": "N/A",
}
STUDY_TYPE_LABELS = {
    "INTERVENTIONAL": "Interventional",
    "OBSERVATIONAL": "Observational",
    "EXPANDED_ACCESS": "Expanded Access",
}
INTERVENTION_TYPE_LABELS = {
    "BEHAVIORAL": "Behavioral",
    "BIOLOGICAL": "Biological",
    "COMBINATION_PRODUCT": "Combination Product",
    "DEVICE": "Device",
    "DIAGNOSTIC_TEST": "Diagnostic Test",
    "DIETARY_SUPPLEMENT": "Dietary Supplement",
    "DRUG": "Drug",
    "GENETIC": "Genetic",
    "PROCEDURE": "Procedure",
    "RADIATION": "Radiation",
    "OTHER": "Other",
}
ARM_TYPE_LABELS = {
    "EXPERIMENTAL": "Experimental",
    "ACTIVE_COMPARATOR": "Active Comparator",
    "PLACEBO_COMPARATOR": "Placebo Comparator",
    "SHAM_COMPARATOR": "Sham Comparator",
    "NO_INTERVENTION": "No Intervention",
    "OTHER": "Other",
}
SEX_LABELS = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}
REFERENCE_TYPE_LABELS = {"BACKGROUND": "Background", "RESULT": "Result", "DERIVED": "Derived"}
OUTCOME_TYPE_LABELS = {
    "PRIMARY": "Primary",
    "SECONDARY": "Secondary",
    "OTHER_PRE_SPECIFIED": "Other pre-specified",
    "POST_HOC": "Post hoc",
}
ALLOCATION_LABELS = {"RANDOMIZED": "Randomized", "NON_RANDOMIZED": "Non-Randomized", "NA": "N/A"}
INTERVENTION_MODEL_LABELS = {
    "SINGLE_GROUP": "Single Group Assignment",
    "PARALLEL": "Parallel Assignment",
    "CROSSOVER": "Crossover Assignment",
    "FACTORIAL": "Factorial Assignment",
    "SEQUENTIAL": "Sequential Assignment",
}
OBSERVATIONAL_MODEL_LABELS = {
    "COHORT": "Cohort",
    "CASE_CONTROL": "Case-Control",
    "CASE_ONLY": "Case-Only",
    "CASE_CROSSOVER": "Case-Crossover",
    "ECOLOGIC_OR_COMMUNITY": "Ecologic or Community",
    "FAMILY_BASED": "Family-Based",
    "DEFINED_POPULATION": "Defined Population",
    "NATURAL_HISTORY": "Natural History",
    "OTHER": "Other",
}
TIME_PERSPECTIVE_LABELS = {
    "PROSPECTIVE": "Prospective",
    "RETROSPECTIVE": "Retrospective",
    "CROSS_SECTIONAL": "Cross-Sectional",
    "OTHER": "Other",
}
PRIMARY_PURPOSE_LABELS = {
    "TREATMENT": "Treatment",
    "PREVENTION": "Prevention",
    "DIAGNOSTIC": "Diagnostic",
    "ECT": "Educational/Counseling/Training",
    "SUPPORTIVE_CARE": "Supportive Care",
    "SCREENING": "Screening",
    "HEALTH_SERVICES_RESEARCH": "Health Services Research",
    "BASIC_SCIENCE": "Basic Science",
    "DEVICE_FEASIBILITY": "Device Feasibility",
    "OTHER": "Other",
}
MASKING_LABELS = {
    "NONE": "None (Open Label)",
    "SINGLE": "Single",
    "DOUBLE": "Double",
    "TRIPLE": "Triple",
    "QUADRUPLE": "Quadruple",
}
WHO_MASKED_LABELS = {
    "PARTICIPANT": "Participant",
    "CARE_PROVIDER": "Care Provider",
    "INVESTIGATOR": "Investigator",
    "OUTCOMES_ASSESSOR": "Outcomes Assessor",
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
ESTIMATED_PREFIX = "Est. "


@dataclass(frozen=True, slots=True)
class Field:
    """One "Label value" line; ``value`` is "" when the record lacks the fact."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """Free text, optionally under a run-in heading (the seed's "Description:")."""

    text: str
    heading: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """A named item with a kind and free text, laid out like the seed's intervention."""

    kind: str
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Table:
    """Column headings and rows of cell text; every row has one cell per column."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Section:
    """One headed part of the page; renderers show its parts in the field order below."""

    key: str  # stable identifier, e.g. for HTML anchors and templates
    title: str
    fields: tuple[Field, ...] = ()
    paragraphs: tuple[Paragraph, ...] = ()
    entries: tuple[Entry, ...] = ()
    items: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True, slots=True)
class Header:
    """What the page announces before its sections: which trial and its status."""

    nct_id: str
    title: str
    status: str


@dataclass(frozen=True, slots=True)
class DetailPage:
    """A whole detail page: the header and the sections in display order."""

    header: Header
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section | None:
        """The section with this key, or None when the page has no such section."""
        return next((s for s in self.sections if s.key == key), None)


def enum_label(value: str | None, labels: dict[str, str]) -> str:
    """The display label; an enum value newer than the table still reads as words."""
    if not value:
        return ""
    return labels.get(value) or value.replace("_", " ").capitalize()


def phase_label(phases: list[str]) -> str:
    """["PHASE1", "PHASE2"] -> "Phase 1/Phase 2", as ClinicalTrials.gov writes combined phases."""
    return "/".join(enum_label(p, PHASE_LABELS) for p in phases)


def format_date(iso: str | None) -> str:
    """ISO to the seed's style: "January 1, 2020", "June 2021"; anything else unchanged."""
    match = _ISO_DATE.match(iso or "")
    if not match:
        return iso or ""
    year, month, day = match.groups()
    if month is None:
        return year
    if not 1 <= int(month) <= 12:
        return iso or ""
    name = MONTHS[int(month) - 1]
    return f"{name} {int(day)}, {year}" if day else f"{name} {year}"


def estimated_label(label: str, estimated: bool) -> str:
    """The label of an anticipated value: "Est. completion date", as the seed writes it."""
    return ESTIMATED_PREFIX + label[:1].lower() + label[1:] if estimated else label


def _obj(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _list(parent: Any, key: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, list) else []


def _objs(parent: Any, key: str) -> list[dict[str, Any]]:
    return [item for item in _list(parent, key) if isinstance(item, dict)]


def _text(parent: Any, key: str) -> str:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, str) else ""


def _texts(parent: Any, key: str) -> list[str]:
    return [item for item in _list(parent, key) if isinstance(item, str) and item]


def _flag(value: Any) -> str:
    return ("Yes" if value else "No") if isinstance(value, bool) else ""


def _count(value: Any) -> int | None:
    """Results counts are strings in API v2 ("20"); anything unparseable counts as unknown."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _dated(label: str, struct: dict[str, Any]) -> Field:
    """A date struct as a field, "Est."-prefixed when the record marks it ESTIMATED."""
    estimated = struct.get("type") == "ESTIMATED"
    return Field(estimated_label(label, estimated), format_date(_text(struct, "date")))


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


class _Study:
    """The modules of one document, looked up once; missing modules read as empty."""

    def __init__(self, document: dict[str, Any]) -> None:
        protocol = _obj(document, "protocolSection")
        self.ident = _obj(protocol, "identificationModule")
        self.status = _obj(protocol, "statusModule")
        self.sponsors = _obj(protocol, "sponsorCollaboratorsModule")
        self.oversight = _obj(protocol, "oversightModule")
        self.description = _obj(protocol, "descriptionModule")
        self.conditions = _obj(protocol, "conditionsModule")
        self.design = _obj(protocol, "designModule")
        self.arms = _obj(protocol, "armsInterventionsModule")
        self.outcomes = _obj(protocol, "outcomesModule")
        self.eligibility = _obj(protocol, "eligibilityModule")
        self.contacts = _obj(protocol, "contactsLocationsModule")
        self.references = _obj(protocol, "referencesModule")
        self.derived = _obj(document, "derivedSection")
        self.results = _obj(document, "resultsSection")
        self.legacy = _obj(_obj(document, EXTENSION_KEY), LEGACY)

    @property
    def overall_status(self) -> str:
        return enum_label(_text(self.status, "overallStatus"), STATUS_LABELS)

    @property
    def phase(self) -> str:
        return phase_label(_texts(self.design, "phases"))

    @property
    def countries(self) -> tuple[str, ...]:
        return _unique([_text(loc, "country") for loc in _objs(self.contacts, "locations")])


def build_detail(document: dict[str, Any]) -> DetailPage:
    """The detail page of one API v2 study document, sections in the seed page's order."""
    study = _Study(document)
    header = Header(
        nct_id=_text(study.ident, "nctId"),
        title=_text(study.ident, "briefTitle") or _text(study.ident, "officialTitle"),
        status=study.overall_status,
    )
    sections = [
        _administrative(study),
        _study_information(study),
        _summary(study),
        _recruitment(study),
        _study_design(study),
        _conditions(study),
        _arms(study),
        _interventions(study),
        _locations(study),
        _sponsors(study),
        Section("countries", "Country where clinical trial is conducted", items=study.countries),
        _outcomes(study),
        _references(study),
        _results(study),
    ]
    return DetailPage(header, tuple(s for s in sections if s is not None))


def _last_updated(study: _Study) -> Field:
    """API v2's last update post date when the record has it; legacy XML's otherwise."""
    posted = _obj(study.status, "lastUpdatePostDateStruct")
    if _text(posted, "date"):
        return _dated("Last updated", posted)
    return Field("Last updated", format_date(_text(study.legacy, "lastChangedDate")))


def _administrative(study: _Study) -> Section:
    secondary_ids = _unique([_text(s, "id") for s in _objs(study.ident, "secondaryIdInfos")])
    first = _text(study.status, "studyFirstSubmitDate") or _text(study.legacy, "firstReceivedDate")
    return Section(
        "administrative",
        "Administrative data",
        fields=(
            Field("NCT number", _text(study.ident, "nctId")),
            Field("Other study ID #", _text(_obj(study.ident, "orgStudyIdInfo"), "id")),
            Field("Secondary ID", ", ".join(secondary_ids)),
            Field("Status", study.overall_status),
            Field("Phase", study.phase),
            Field("First received", format_date(first)),
            _last_updated(study),
            _dated("Start date", _obj(study.status, "startDateStruct")),
            _dated("Completion date", _obj(study.status, "completionDateStruct")),
        ),
    )


def _fda_regulated(study: _Study) -> str:
    """API v2 splits the flag into drug and device; legacy XML had one flag."""
    keys = ("isFdaRegulatedDrug", "isFdaRegulatedDevice")
    flags = [study.oversight[k] for k in keys if isinstance(study.oversight.get(k), bool)]
    return _flag(any(flags)) if flags else _flag(study.legacy.get("isFdaRegulated"))


def _study_information(study: _Study) -> Section:
    # The page names one contact; the first central contact is the one to call.
    contacts = _objs(study.contacts, "centralContacts")
    contact = contacts[0] if contacts else {}
    phone = _text(contact, "phone")
    if phone and _text(contact, "phoneExt"):
        phone = f"{phone} ext. {_text(contact, 'phoneExt')}"
    verified = _text(study.status, "statusVerifiedDate") or _text(study.legacy, "verificationDate")
    return Section(
        "study-information",
        "Study information",
        fields=(
            Field("Verified date", format_date(verified)),
            # Legacy XML's <source> is the organization API v2 names in identificationModule.
            Field("Source", _text(_obj(study.ident, "organization"), "fullName")),
            Field("Contact", _text(contact, "name")),
            Field("Phone", phone),
            Field("Email", _text(contact, "email")),
            Field("Is FDA regulated", _fda_regulated(study)),
            Field("Health authority", "; ".join(_texts(study.legacy, "oversightAuthorities"))),
            Field("Study type", enum_label(_text(study.design, "studyType"), STUDY_TYPE_LABELS)),
        ),
    )


def _summary(study: _Study) -> Section:
    summary = _text(study.description, "briefSummary")
    detailed = _text(study.description, "detailedDescription")
    paragraphs = ([Paragraph(summary)] if summary else []) + (
        [Paragraph(detailed, heading="Description")] if detailed else []
    )
    return Section("summary", "Clinical Trial Summary", paragraphs=tuple(paragraphs))


def _age_group(minimum: str, maximum: str) -> str:
    if minimum and maximum:
        return f"{minimum} to {maximum}"
    if minimum:
        return f"{minimum} and older"
    return f"Up to {maximum}" if maximum else ""


def _recruitment(study: _Study) -> Section:
    enrollment = _obj(study.design, "enrollmentInfo")
    count = _count(enrollment.get("count"))
    elig = study.eligibility
    return Section(
        "recruitment",
        "Recruitment information / eligibility",
        fields=(
            Field("Status", study.overall_status),
            Field(
                estimated_label("Enrollment", enrollment.get("type") == "ESTIMATED"),
                "" if count is None else str(count),
            ),
            _dated("Completion date", _obj(study.status, "completionDateStruct")),
            _dated("Primary completion date", _obj(study.status, "primaryCompletionDateStruct")),
            Field("Accepts healthy volunteers", _flag(elig.get("healthyVolunteers"))),
            Field("Gender", enum_label(_text(elig, "sex"), SEX_LABELS)),
            Field("Age group", _age_group(_text(elig, "minimumAge"), _text(elig, "maximumAge"))),
            # Raw text: splitting it into criteria is the eligibility package's job.
            Field("Eligibility", _text(elig, "eligibilityCriteria")),
        ),
    )


def _masking(masking: dict[str, Any]) -> str:
    value = enum_label(_text(masking, "masking"), MASKING_LABELS)
    who = [enum_label(w, WHO_MASKED_LABELS) for w in _texts(masking, "whoMasked")]
    return f"{value} ({', '.join(who)})" if value and who else value


def _study_design(study: _Study) -> Section:
    """The design as ClinicalTrials.gov summarises it on one line ("Allocation: …, …")."""
    info = _obj(study.design, "designInfo")
    parts = {
        "Allocation": enum_label(_text(info, "allocation"), ALLOCATION_LABELS),
        "Intervention Model": enum_label(
            _text(info, "interventionModel"), INTERVENTION_MODEL_LABELS
        ),
        "Observational Model": enum_label(
            _text(info, "observationalModel"), OBSERVATIONAL_MODEL_LABELS
        ),
        "Time Perspective": enum_label(_text(info, "timePerspective"), TIME_PERSPECTIVE_LABELS),
        "Masking": _masking(_obj(info, "maskingInfo")),
        "Primary Purpose": enum_label(_text(info, "primaryPurpose"), PRIMARY_PURPOSE_LABELS),
    }
    summary = ", ".join(f"{label}: {value}" for label, value in parts.items() if value)
    return Section("design", "Study Design", paragraphs=(Paragraph(summary),) if summary else ())


def _conditions(study: _Study) -> Section:
    browse = _obj(study.derived, "conditionBrowseModule")
    terms = _texts(study.conditions, "conditions") + [
        _text(m, "term") for m in _objs(browse, "meshes")
    ]
    return Section("conditions", "Related Conditions & MeSH terms", items=_unique(terms))


def _arms(study: _Study) -> Section | None:
    groups = _objs(study.arms, "armGroups")
    if not groups:
        return None
    rows = tuple(
        (
            enum_label(_text(g, "type"), ARM_TYPE_LABELS),
            _text(g, "label"),
            _text(g, "description"),
            "; ".join(_texts(g, "interventionNames")),
        )
        for g in groups
    )
    table = Table(("Type", "Arm", "Description", "Interventions"), rows)
    return Section("arms", "Arms", tables=(table,))


def _interventions(study: _Study) -> Section:
    entries = tuple(
        Entry(
            enum_label(_text(i, "type"), INTERVENTION_TYPE_LABELS),
            _text(i, "name"),
            _text(i, "description"),
        )
        for i in _objs(study.arms, "interventions")
    )
    return Section("interventions", "Intervention", entries=entries)


def _locations(study: _Study) -> Section:
    rows = tuple(
        (_text(loc, "country"), _text(loc, "facility"), _text(loc, "city"), _text(loc, "state"))
        for loc in _objs(study.contacts, "locations")
    )
    table = Table(("Country", "Name", "City", "State"), rows)
    return Section("locations", "Locations", tables=(table,))


def _sponsors(study: _Study) -> Section:
    """Lead sponsor and collaborators side by side, one row per collaborator, as the seed."""
    lead = _text(_obj(study.sponsors, "leadSponsor"), "name")
    leads = [lead] if lead else []
    collaborators = [_text(c, "name") for c in _objs(study.sponsors, "collaborators")]
    collaborators = [c for c in collaborators if c]
    rows = tuple(zip_longest(leads, collaborators, fillvalue=""))
    table = Table(("Lead Sponsor", "Collaborator"), rows)
    count = len(leads) + len(collaborators)
    return Section("sponsors", f"Sponsors ({count})", tables=(table,))


def _outcomes(study: _Study) -> Section:
    """Registered outcomes; "Safety issue" stays empty: API v2 dropped legacy XML's flag."""
    rows = []
    for key, kind in (
        ("primaryOutcomes", "Primary"),
        ("secondaryOutcomes", "Secondary"),
        ("otherOutcomes", "Other"),
    ):
        for o in _objs(study.outcomes, key):
            rows.append(
                (kind, _text(o, "measure"), _text(o, "description"), _text(o, "timeFrame"), "")
            )
    table = Table(("Type", "Measure", "Description", "Time frame", "Safety issue"), tuple(rows))
    return Section("outcomes", "Outcome", tables=(table,))


def _references(study: _Study) -> Section | None:
    references = tuple(
        (
            enum_label(_text(r, "type"), REFERENCE_TYPE_LABELS),
            _text(r, "citation"),
            _text(r, "pmid"),
        )
        for r in _objs(study.references, "references")
    )
    links = tuple(
        (_text(link, "label"), _text(link, "url"))
        for link in _objs(study.references, "seeAlsoLinks")
    )
    tables = []
    if references:
        tables.append(Table(("Type", "Citation", "PubMed ID"), references))
    if links:
        tables.append(Table(("Link", "URL"), links))
    return Section("references", "References", tables=tuple(tables)) if tables else None


def _milestone_total(period: dict[str, Any], milestone: str) -> str:
    counts = [
        _count(a.get("numSubjects"))
        for m in _objs(period, "milestones")
        if m.get("type") == milestone
        for a in _objs(m, "achievements")
    ]
    known = [c for c in counts if c is not None]
    return str(sum(known)) if known else ""


def _baseline_total(baseline: dict[str, Any]) -> str:
    """ClinicalTrials.gov adds a "Total" group to multi-group baselines; never count it twice."""
    groups = _objs(baseline, "groups")
    total_ids = {_text(g, "id") for g in groups if _text(g, "title") == "Total"}
    denoms = _objs(baseline, "denoms")
    counts = _objs(denoms[0], "counts") if denoms else []
    pick = [c for c in counts if _text(c, "groupId") in total_ids] or counts
    known = [n for n in (_count(c.get("value")) for c in pick) if n is not None]
    return str(sum(known)) if known else ""


def _results(study: _Study) -> Section | None:
    """Headline numbers of posted results: who took part, and how many outcomes report."""
    if not study.results:
        return None
    periods = _objs(_obj(study.results, "participantFlowModule"), "periods")
    started = _milestone_total(periods[0], "STARTED") if periods else ""
    completed = _milestone_total(periods[-1], "COMPLETED") if periods else ""
    measures = _objs(_obj(study.results, "outcomeMeasuresModule"), "outcomeMeasures")
    by_type = Counter(_text(m, "type") for m in measures)
    outcome_counts = ", ".join(
        f"{n} {enum_label(kind, OUTCOME_TYPE_LABELS).lower()}" for kind, n in by_type.items()
    )
    return Section(
        "results",
        "Results",
        fields=(
            _dated("Results first posted", _obj(study.status, "resultsFirstPostDateStruct")),
            Field("Participants started", started),
            Field("Participants completed", completed),
            Field(
                "Baseline participants",
                _baseline_total(_obj(study.results, "baselineCharacteristicsModule")),
            ),
            Field("Outcome measures", outcome_counts),
        ),
    )
