"""Legacy ClinicalTrials.gov XML (``<clinical_study>``) as an API v2 study document.

The conversion is table-driven: ``_TABLE`` maps every element of the legacy schema that
the corpus uses to the API v2 module and key it fills, so the mapping reads like the table
in docs/record-format.md and a test can check that no element is left unmapped
(``MAPPED_PATHS`` is computed from the tables; ``UNMAPPED_PATHS`` lists, with reasons, the
few that API v2 has no place for). Facts only legacy XML has go to the documented
``trialatlas`` extension (see extension.py).

Text is kept as the XML gives it (plain text, not API v2's Markdown escaping): line breaks
are normalised to ``\\n`` and text blocks are dedented, nothing else. Enumerations use
API v2 spellings; a value the tables do not know raises ``RecordError`` instead of being
guessed, so schema drift shows up at ingest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers.expat import ErrorString

import defusedxml.ElementTree as DefusedET
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from trialatlas.records.errors import RecordError
from trialatlas.records.extension import EXTENSION_KEY, LEGACY, SOURCE

__all__ = ["MAPPED_PATHS", "UNMAPPED_PATHS", "study_from_legacy_xml"]

ROOT_TAG = "clinical_study"


class _BadValue(Exception):
    """A value no table knows; ``path`` grows outward as the error leaves each element."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


# --- Leaf conversions: cleaned, non-empty text in, JSON value (or None to omit) out -------


def _dedent(text: str | None) -> str | None:
    """A text block with its common indentation removed; line breaks and bullets kept."""
    if not text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    low = high = None
    for line in lines:
        content = line.lstrip()
        if content:
            margin = line[: len(line) - len(content)]
            if low is None or margin < low:
                low = margin
            if high is None or margin > high:
                high = margin
    if low is None or high is None:
        return None
    width = 0  # the common prefix of the smallest and largest margin is common to all
    while width < len(low) and low[width] == high[width]:
        width += 1
    block = "\n".join(line[width:] if line.strip() else "" for line in lines)
    return block.strip("\n").rstrip() or None


def _enum(table: dict[str, Any]) -> Callable[[str], Any]:
    """Legacy display text to the API v2 value; unknown text is an error, never a guess."""

    def convert(text: str) -> Any:
        try:
            value = table[text]
        except KeyError:
            raise _BadValue(f"unknown value {text!r}") from None
        return list(value) if isinstance(value, tuple) else value

    return convert


_MONTH_NAMES = (
    "January February March April May June July August September October November December"
)
_MONTHS = {name: f"{number:02d}" for number, name in enumerate(_MONTH_NAMES.split(), start=1)}


@functools.lru_cache(maxsize=16384)
def _iso_date(text: str) -> str | None:
    """'September 30, 2019' -> '2019-09-30', 'March 2007' -> '2007-03', 'Unknown' -> None."""
    parts = text.replace(",", " ").split()
    month = _MONTHS.get(parts[0]) if parts else None
    year = parts[-1] if parts else ""
    if month and len(year) == 4 and year.isdigit():
        if len(parts) == 2:
            return f"{year}-{month}"
        day = parts[1]
        if len(parts) == 3 and day.isdigit() and 1 <= int(day) <= 31:
            return f"{year}-{month}-{int(day):02d}"
    if text == "Unknown":  # pending_results/submission_canceled before May 2018
        return None
    raise _BadValue(f"unreadable date {text!r}")


def _iso_month(text: str) -> str | None:
    """Month precision, as the extension's ``verificationDate`` is defined."""
    date = _iso_date(text)
    return date[:7] if date else None


def _download_date(text: str) -> str | None:
    """'ClinicalTrials.gov processed this data on July 28, 2020' -> '2020-07-28'."""
    return _iso_date(text.rpartition(" on ")[2])


def _posting_date(text: str) -> str:
    """Results outcome <posting_date> 'MM/YYYY' (or 'YYYY') -> 'YYYY-MM' (or 'YYYY')."""
    month, _, year = text.rpartition("/")
    if year.isdigit() and len(year) == 4 and (not month or (month.isdigit() and len(month) == 2)):
        return f"{year}-{month}" if month else year
    raise _BadValue(f"unreadable posting date {text!r}")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _BadValue(f"not an integer: {text!r}") from None


def _age(text: str) -> str | None:
    """API v2 keeps ages as '18 Years'; legacy 'N/A' means no limit and is omitted."""
    return None if text == "N/A" else text


_GROUP_PREFIXES = {"P": "FG", "B": "BG", "O": "OG", "E": "EG"}


@functools.lru_cache(maxsize=1024)
def _group_id(text: str) -> str:
    """Legacy results group ids 'P1', 'B1', 'O1', 'E1' -> API v2 'FG000', 'BG000', ..."""
    prefix = _GROUP_PREFIXES.get(text[:1])
    number = text[1:]
    if prefix is None or not number.isdigit() or int(number) < 1:
        raise _BadValue(f"unknown results group id {text!r}")
    return f"{prefix}{int(number) - 1:03d}"


# --- Element conversions, declared as tables -----------------------------------------------

ONE, MANY, MERGE = 0, 1, 2


class Field(NamedTuple):
    """Where one child element (or attribute) goes: ``key`` in the object being built.

    ``conv`` turns the element's cleaned text into the value (None: the text itself), or is
    an element converter (``Obj``, ``ListOf``, ``Custom``) given the element. ``mode`` ONE
    sets the key, MANY appends to a list under it, MERGE copies the keys of a dict value
    into the object (``key`` "") or into the dict under ``key``, keeping keys already set.
    ``module`` names the API v2 module, for top-level fields only.
    """

    key: str
    conv: Any = None
    mode: int = ONE
    module: str = ""


# Compiled form of a Field, unpacked in the hot loops: (key, conv, mode, is_element).
_Rule = tuple[str, Any, int, bool]


class _ElementConverter:
    """Marks converters that take the element rather than its text."""

    __slots__ = ()


def _rule(field: Field) -> _Rule:
    return field.key, field.conv, field.mode, isinstance(field.conv, _ElementConverter)


class Obj(_ElementConverter):
    """Builds a dict from an element's attributes, child elements and own text."""

    __slots__ = ("attr_rules", "attrs", "children", "post", "rules", "text")

    def __init__(
        self,
        children: dict[str, Field],
        attrs: dict[str, Field] | None = None,
        text: Field | None = None,
        post: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.children = children
        self.attrs = attrs or {}
        self.text = text
        self.post = post
        self.rules = {tag: _rule(field) for tag, field in children.items()}
        # An attribute holds one value: it always sets its key.
        self.attr_rules = tuple((name, f.key, f.conv) for name, f in self.attrs.items())

    def __call__(self, elem: Element) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for name, key, conv in self.attr_rules:
            text = elem.get(name)
            if text is not None:
                try:
                    value = _text_value(text, conv)
                except _BadValue as exc:
                    exc.path.append("@" + name)
                    raise
                if value is not None:
                    out[key] = value
        rules = self.rules
        for child in elem:
            rule = rules.get(child.tag)
            if rule is None:
                continue
            key, conv, mode, is_element = rule
            try:
                value = conv(child) if is_element else _text_value(child.text, conv)
            except _BadValue as exc:
                exc.path.append(child.tag)
                raise
            if value is None:
                continue
            if mode == ONE:
                out[key] = value
            else:
                _store_many(out, key, mode, value)
        if self.text is not None:
            _store(out, self.text, _text_value(elem.text, self.text.conv))
        if self.post is not None:
            self.post(out)
        return out or None


class ListOf(_ElementConverter):
    """A ``*_list`` wrapper: the converted children named ``tag``, in order."""

    __slots__ = ("conv", "is_element", "tag")

    def __init__(self, tag: str, conv: Any = None) -> None:
        self.tag = tag
        self.conv = conv
        self.is_element = isinstance(conv, _ElementConverter)

    def __call__(self, elem: Element) -> list[Any] | None:
        tag, conv, is_element = self.tag, self.conv, self.is_element
        out = []
        for child in elem:
            if child.tag != tag:
                continue
            try:
                value = conv(child) if is_element else _text_value(child.text, conv)
            except _BadValue as exc:
                exc.path.append(tag)
                raise
            if value is not None:
                out.append(value)
        return out or None


class Custom(_ElementConverter):
    """Hand-written conversion of one element; ``reads`` names the sub-paths it uses."""

    __slots__ = ("fn", "reads")

    def __init__(self, fn: Callable[[Element], Any], reads: Iterable[Any]) -> None:
        self.fn = fn
        self.reads = tuple(reads)

    def __call__(self, elem: Element) -> Any:
        return self.fn(elem)


def _custom(*reads: Any) -> Callable[[Callable[[Element], Any]], Custom]:
    return lambda fn: Custom(fn, reads)


def _convert(conv: Callable[[Any], Any], value: Any, where: str) -> Any:
    """``conv(value)``, naming ``where`` in the error path if the value is unknown."""
    try:
        return conv(value)
    except _BadValue as exc:
        exc.path.append(where)
        raise


def _text_value(text: str | None, conv: Any) -> Any:
    """Converted element or attribute text; None when there is none. The hot path."""
    if text is None:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip()
    if not text:
        return None
    return text if conv is None else conv(text)


def _clean(text: str | None) -> str | None:
    """Text without surrounding whitespace and with ``\\n`` line breaks; None if blank."""
    return _text_value(text, None)


def _store_many(out: dict[str, Any], key: str, mode: int, value: Any) -> None:
    if mode == MANY:
        items = out.get(key)
        if items is None:
            out[key] = [value]
        else:
            items.append(value)
    else:
        target = out.setdefault(key, {}) if key else out
        for name, item in value.items():
            target.setdefault(name, item)


def _store(out: dict[str, Any], field: Field, value: Any) -> None:
    if value is None:
        return
    if field.mode == ONE:
        out[field.key] = value
    else:
        _store_many(out, field.key, field.mode, value)


def _block_in(key: str) -> Custom:
    """A ``<textblock>``, dedented, as ``{key: text}`` (to merge into an object)."""

    def convert(elem: Element) -> dict[str, str] | None:
        text = _dedent(elem.text)
        return {key: text} if text else None

    return Custom(convert, ())


_BLOCK = Custom(lambda elem: _dedent(elem.text), ())

# --- Enumerations: legacy display text -> API v2 -------------------------------------------

_YES_NO = _enum({"Yes": True, "No": False})
_STATUS = _enum(
    {
        "Active, not recruiting": "ACTIVE_NOT_RECRUITING",
        "Completed": "COMPLETED",
        "Enrolling by invitation": "ENROLLING_BY_INVITATION",
        "Not yet recruiting": "NOT_YET_RECRUITING",
        "Recruiting": "RECRUITING",
        "Suspended": "SUSPENDED",
        "Terminated": "TERMINATED",
        "Withdrawn": "WITHDRAWN",
        "Available": "AVAILABLE",
        "No longer available": "NO_LONGER_AVAILABLE",
        "Temporarily not available": "TEMPORARILY_NOT_AVAILABLE",
        "Approved for marketing": "APPROVED_FOR_MARKETING",
        "Withheld": "WITHHELD",
        "Unknown status": "UNKNOWN",
    }
)
_PHASES = _enum(
    {
        "N/A": ("NA",),
        "Early Phase 1": ("EARLY_PHASE1",),
        "Phase 1": ("PHASE1",),
        "Phase 1/Phase 2": ("PHASE1", "PHASE2"),
        "Phase 2": ("PHASE2",),
        "Phase 2/Phase 3": ("PHASE2", "PHASE3"),
        "Phase 3": ("PHASE3",),
        "Phase 4": ("PHASE4",),
    }
)
# "N/A" marks a redacted (unapproved device) record; API v2 has no study type for it.
_STUDY_TYPE = _enum(
    {
        "Interventional": {"studyType": "INTERVENTIONAL"},
        "Observational": {"studyType": "OBSERVATIONAL"},
        "Observational [Patient Registry]": {"studyType": "OBSERVATIONAL", "patientRegistry": True},
        "Expanded Access": {"studyType": "EXPANDED_ACCESS"},
        "N/A": None,
    }
)
_DATE_TYPE = _enum({"Actual": "ACTUAL", "Anticipated": "ESTIMATED", "Estimate": "ESTIMATED"})
_AGENCY_CLASS = _enum({"NIH": "NIH", "U.S. Fed": "FED", "Industry": "INDUSTRY", "Other": "OTHER"})
_ARM_TYPE = _enum(
    {
        "Experimental": "EXPERIMENTAL",
        "Active Comparator": "ACTIVE_COMPARATOR",
        "Placebo Comparator": "PLACEBO_COMPARATOR",
        "Sham Comparator": "SHAM_COMPARATOR",
        "No Intervention": "NO_INTERVENTION",
        "Other": "OTHER",
    }
)
_INTERVENTION_TYPES = {
    "Behavioral": "BEHAVIORAL",
    "Biological": "BIOLOGICAL",
    "Combination Product": "COMBINATION_PRODUCT",
    "Device": "DEVICE",
    "Diagnostic Test": "DIAGNOSTIC_TEST",
    "Dietary Supplement": "DIETARY_SUPPLEMENT",
    "Drug": "DRUG",
    "Genetic": "GENETIC",
    "Procedure": "PROCEDURE",
    "Radiation": "RADIATION",
    "Other": "OTHER",
}
# API v2 names an arm's interventions "Drug: Riluzole", with the display spelling.
_INTERVENTION_TYPE_LABELS = {value: label for label, value in _INTERVENTION_TYPES.items()}
_ALLOCATION = _enum({"Randomized": "RANDOMIZED", "Non-Randomized": "NON_RANDOMIZED", "N/A": "NA"})
_INTERVENTION_MODEL = _enum(
    {
        "Single Group Assignment": "SINGLE_GROUP",
        "Parallel Assignment": "PARALLEL",
        "Crossover Assignment": "CROSSOVER",
        "Factorial Assignment": "FACTORIAL",
        "Sequential Assignment": "SEQUENTIAL",
    }
)
_PRIMARY_PURPOSE = _enum(
    {
        "Treatment": "TREATMENT",
        "Prevention": "PREVENTION",
        "Diagnostic": "DIAGNOSTIC",
        "Educational/Counseling/Training": "ECT",
        "Supportive Care": "SUPPORTIVE_CARE",
        "Screening": "SCREENING",
        "Health Services Research": "HEALTH_SERVICES_RESEARCH",
        "Basic Science": "BASIC_SCIENCE",
        "Device Feasibility": "DEVICE_FEASIBILITY",
        "Other": "OTHER",
    }
)
_OBSERVATIONAL_MODEL = _enum(
    {
        "Cohort": "COHORT",
        "Case-Control": "CASE_CONTROL",
        "Case-Only": "CASE_ONLY",
        "Case-Crossover": "CASE_CROSSOVER",
        "Ecologic or Community": "ECOLOGIC_OR_COMMUNITY",
        "Family-Based": "FAMILY_BASED",
        "Defined Population": "DEFINED_POPULATION",
        "Natural History": "NATURAL_HISTORY",
        "Other": "OTHER",
    }
)
_TIME_PERSPECTIVE = _enum(
    {
        "Retrospective": "RETROSPECTIVE",
        "Prospective": "PROSPECTIVE",
        "Cross-Sectional": "CROSS_SECTIONAL",
        "Other": "OTHER",
    }
)
_MASKING_LEVEL = _enum(
    {
        "None": "NONE",
        "Single": "SINGLE",
        "Double": "DOUBLE",
        "Triple": "TRIPLE",
        "Quadruple": "QUADRUPLE",
    }
)
_MASKED_ROLE = _enum(
    {
        "Participant": "PARTICIPANT",
        "Care Provider": "CARE_PROVIDER",
        "Investigator": "INVESTIGATOR",
        "Outcomes Assessor": "OUTCOMES_ASSESSOR",
    }
)
_BIOSPEC_RETENTION = _enum(
    {
        "None Retained": "NONE_RETAINED",
        "Samples With DNA": "SAMPLES_WITH_DNA",
        "Samples Without DNA": "SAMPLES_WITHOUT_DNA",
    }
)
_SEX = _enum({"All": "ALL", "Both": "ALL", "Female": "FEMALE", "Male": "MALE"})
_HEALTHY_VOLUNTEERS = _enum({"Accepts Healthy Volunteers": True, "Yes": True, "No": False})
_SAMPLING_METHOD = _enum(
    {"Probability Sample": "PROBABILITY_SAMPLE", "Non-Probability Sample": "NON_PROBABILITY_SAMPLE"}
)
_ROLE = _enum(
    {
        "Principal Investigator": "PRINCIPAL_INVESTIGATOR",
        "Sub-Investigator": "SUB_INVESTIGATOR",
        "Study Chair": "STUDY_CHAIR",
        "Study Director": "STUDY_DIRECTOR",
    }
)
_RESPONSIBLE_PARTY_TYPE = _enum(
    {
        "Sponsor": "SPONSOR",
        "Principal Investigator": "PRINCIPAL_INVESTIGATOR",
        "Sponsor-Investigator": "SPONSOR_INVESTIGATOR",
    }
)
_IPD_SHARING = _enum({"Yes": "YES", "No": "NO", "Undecided": "UNDECIDED"})
_IPD_INFO_TYPE = _enum(
    {
        "Study Protocol": "STUDY_PROTOCOL",
        "Statistical Analysis Plan (SAP)": "SAP",
        "Informed Consent Form (ICF)": "ICF",
        "Clinical Study Report (CSR)": "CSR",
        "Analytic Code": "ANALYTIC_CODE",
    }
)
_OUTCOME_TYPE = _enum(
    {
        "Primary": "PRIMARY",
        "Secondary": "SECONDARY",
        "Other Pre-specified": "OTHER_PRE_SPECIFIED",
        "Post-Hoc": "POST_HOC",
    }
)
_PARAM = _enum(
    {
        "Geometric Mean": "GEOMETRIC_MEAN",
        "Geometric Least Squares Mean": "GEOMETRIC_LEAST_SQUARES_MEAN",
        "Least Squares Mean": "LEAST_SQUARES_MEAN",
        "Log Mean": "LOG_MEAN",
        "Mean": "MEAN",
        "Median": "MEDIAN",
        "Number": "NUMBER",
        "Count of Participants": "COUNT_OF_PARTICIPANTS",
        "Count of Units": "COUNT_OF_UNITS",
    }
)
# Baseline measures carry the enum; outcome measures keep the display text in API v2.
_DISPERSION = _enum(
    {
        "Standard Deviation": "STANDARD_DEVIATION",
        "Standard Error": "STANDARD_ERROR",
        "Inter-Quartile Range": "INTER_QUARTILE_RANGE",
        "Full Range": "FULL_RANGE",
        "80% Confidence Interval": "CONFIDENCE_80",
        "90% Confidence Interval": "CONFIDENCE_90",
        "95% Confidence Interval": "CONFIDENCE_95",
        "97.5% Confidence Interval": "CONFIDENCE_975",
        "99% Confidence Interval": "CONFIDENCE_99",
        "Geometric Coefficient of Variation": "GEOMETRIC_COEFFICIENT",
    }
)
_NON_INFERIORITY = _enum(
    {
        "Superiority": "SUPERIORITY",
        "Non-Inferiority": "NON_INFERIORITY",
        "Equivalence": "EQUIVALENCE",
        "Other": "OTHER",
        "Non-Inferiority or Equivalence": "NON_INFERIORITY_OR_EQUIVALENCE",
        "Superiority or Other": "SUPERIORITY_OR_OTHER",
        "Non-Inferiority or Equivalence (legacy)": "NON_INFERIORITY_OR_EQUIVALENCE_LEGACY",
        "Superiority or Other (legacy)": "SUPERIORITY_OR_OTHER_LEGACY",
    }
)
_CI_SIDES = _enum({"1-Sided": "ONE_SIDED", "2-Sided": "TWO_SIDED"})
_ANALYSIS_DISPERSION = _enum(
    {
        "Standard Deviation": "STANDARD_DEVIATION",
        "Standard Error of the Mean": "STANDARD_ERROR_OF_MEAN",
    }
)
_ASSESSMENT = _enum(
    {
        "Systematic Assessment": "SYSTEMATIC_ASSESSMENT",
        "Non-systematic Assessment": "NON_SYSTEMATIC_ASSESSMENT",
    }
)
_PI_EMPLOYEE = _enum(
    {
        "All Principal Investigators ARE employed by the organization sponsoring the study.": True,
        "Principal Investigators are NOT employed by the organization sponsoring the study.": False,
    }
)
# The three standard agreement texts; any other text is the sponsor's own ("OTHER") terms.
_RESTRICTIONS: dict[str, dict[str, Any]] = {
    "There is NOT an agreement between Principal Investigators and the Sponsor (or its agents)"
    " that restricts the PI's rights to discuss or publish trial results after the trial is"
    " completed.": {"restrictiveAgreement": False},
    "The only disclosure restriction on the PI is that the sponsor can review results"
    " communications prior to public release and can embargo communications regarding trial"
    " results for a period that is less than or equal to 60 days. The sponsor cannot require"
    " changes to the communication and cannot extend the embargo.": {
        "restrictiveAgreement": True,
        "restrictionType": "LTE60",
    },
    "The only disclosure restriction on the PI is that the sponsor can review results"
    " communications prior to public release and can embargo communications regarding trial"
    " results for a period that is more than 60 days but less than or equal to 180 days. The"
    " sponsor cannot require changes to the communication and cannot extend the embargo.": {
        "restrictiveAgreement": True,
        "restrictionType": "GT60",
    },
}
# The "Total" category of reported events holds per-group totals, not events.
_EVENT_TOTALS = {
    "Total, all-cause mortality": "deaths",
    "Total, serious adverse events": "serious",
    "Total, other adverse events": "other",
}


def _masking(text: str) -> dict[str, Any]:
    """'Double (Participant, Investigator)' -> masking DOUBLE, whoMasked [...]."""
    level, _, roles = text.partition(" (")
    masking = _MASKING_LEVEL(level)
    info: dict[str, Any] = {"masking": masking}
    if roles and masking != "NONE":  # "None (Open Label)" names no one
        info["whoMasked"] = [_MASKED_ROLE(role) for role in roles.rstrip(")").split(", ")]
    return info


def _unposted(kind: str) -> Callable[[str], dict[str, str]]:
    """A pending-results event; 'Unknown' dates (before May 2018) keep only the type."""

    def convert(text: str) -> dict[str, str]:
        date = _iso_date(text)
        return {"type": kind, "date": date} if date else {"type": kind}

    return convert


def _document_file(url: str) -> dict[str, str]:
    """API v2 keeps the file name; the legacy URL is ``…/ProvidedDocs/<nn>/<NCT>/<file>``."""
    filename = url.rpartition("/")[2]
    abbrev = filename.rpartition(".")[0].rpartition("_")[0]
    return {"typeAbbrev": abbrev, "filename": filename} if abbrev else {"filename": filename}


def _person_name(elem: Element) -> str | None:
    """Structured names joined; the corpus puts the whole name (and degree) in last_name."""
    parts = [_clean(elem.findtext(tag)) for tag in ("first_name", "middle_name", "last_name")]
    name = " ".join(part for part in parts if part)
    degrees = _clean(elem.findtext("degrees"))
    if degrees:
        name = f"{name}, {degrees}" if name else degrees
    return name or None


_NAME_PARTS = ("first_name", "middle_name", "last_name", "degrees")


def _contact_fields(elem: Element, contact: dict[str, Any]) -> dict[str, Any]:
    for tag, key in (("phone", "phone"), ("phone_ext", "phoneExt"), ("email", "email")):
        value = _clean(elem.findtext(tag))
        if value:
            contact[key] = value
    return contact


@_custom(*_NAME_PARTS, "phone", "phone_ext", "email")
def _contact(elem: Element) -> dict[str, Any] | None:
    """<overall_contact>, <contact> and their backups: API v2 contacts with role CONTACT."""
    name = _person_name(elem)
    contact = _contact_fields(elem, {"name": name, "role": "CONTACT"} if name else {})
    return contact or None


def _investigator(with_affiliation: bool) -> Custom:
    """<overall_official> (with affiliation) or a location <investigator> (API v2 has none)."""
    reads = (*_NAME_PARTS, "role", "affiliation") if with_affiliation else (*_NAME_PARTS, "role")

    def convert(elem: Element) -> dict[str, Any] | None:
        person: dict[str, Any] = {}
        name = _person_name(elem)
        if name:
            person["name"] = name
        if with_affiliation:
            affiliation = _clean(elem.findtext("affiliation"))
            if affiliation:
                person["affiliation"] = affiliation
        role = _clean(elem.findtext("role"))
        if role:
            person["role"] = _convert(_ROLE, role, "role")
        return person or None

    return Custom(convert, reads)


def _reference(kind: str) -> Custom:
    """<reference> is background, <results_reference> a result publication."""

    def convert(elem: Element) -> dict[str, str] | None:
        pmid = _clean(elem.findtext("PMID"))
        citation = _clean(elem.findtext("citation"))
        if not (pmid or citation):
            return None
        ref = {"pmid": pmid} if pmid else {}
        ref["type"] = kind
        if citation:
            ref["citation"] = citation
        return ref

    return Custom(convert, ("PMID", "citation"))


@_custom("@type")
def _date_struct(elem: Element) -> dict[str, str] | None:
    """A dated element whose ``type`` attribute says Actual or Anticipated/Estimate."""
    text = _clean(elem.text)
    date = _iso_date(text) if text else None
    if date is None:
        return None
    struct = {"date": date}
    kind = _clean(elem.get("type"))
    if kind:
        struct["type"] = _convert(_DATE_TYPE, kind, "@type")
    return struct


@_custom("@type")
def _enrollment(elem: Element) -> dict[str, Any] | None:
    text = _clean(elem.text)
    if text is None:
        return None
    info: dict[str, Any] = {"count": _int(text)}
    kind = _clean(elem.get("type"))
    if kind:
        info["type"] = _convert(_DATE_TYPE, kind, "@type")
    return info


@_custom("pi_employee", "restrictive_agreement")
def _agreements(elem: Element) -> dict[str, Any] | None:
    agreement: dict[str, Any] = {}
    employee = _clean(elem.findtext("pi_employee"))
    if employee:
        agreement["piSponsorEmployee"] = _convert(_PI_EMPLOYEE, employee, "pi_employee")
    text = _clean(elem.findtext("restrictive_agreement"))
    if text:
        standard = _RESTRICTIONS.get(text)
        agreement.update(
            standard
            or {"restrictiveAgreement": True, "restrictionType": "OTHER", "otherDetails": text}
        )
    return agreement or None


# --- Results -------------------------------------------------------------------------------

_GROUP = Obj(
    {"title": Field("title"), "description": Field("description")},
    attrs={"group_id": Field("id", _group_id)},
)
_GROUPS = ListOf("group", _GROUP)

# Participant flow: periods of milestones and drop-out reasons, counted per group.
_PARTICIPANTS = ListOf(
    "participants",
    Obj(
        {},
        attrs={"group_id": Field("groupId", _group_id), "count": Field("numSubjects")},
        text=Field("comment"),
    ),
)
_MILESTONE = Obj(
    {"title": Field("type"), "participants_list": Field("achievements", _PARTICIPANTS)}
)
_DROP_WITHDRAW = Obj({"title": Field("type"), "participants_list": Field("reasons", _PARTICIPANTS)})
_PERIOD = Obj(
    {
        "title": Field("title"),
        "milestone_list": Field("milestones", ListOf("milestone", _MILESTONE)),
        "drop_withdraw_reason_list": Field(
            "dropWithdraws", ListOf("drop_withdraw_reason", _DROP_WITHDRAW)
        ),
    }
)
_FLOW = Obj(
    {
        "recruitment_details": Field("recruitmentDetails"),
        "pre_assignment_details": Field("preAssignmentDetails"),
        "group_list": Field("groups", _GROUPS),
        "period_list": Field("periods", ListOf("period", _PERIOD)),
    }
)

# Measures (baseline and outcome): classes of categories of per-group measurements.
# <analyzed> says which units were counted; its <scope> is implied by where it sits.
_COUNT = Obj({}, attrs={"group_id": Field("groupId", _group_id), "value": Field("value")})
_DENOMS = ListOf(
    "analyzed",
    Obj({"units": Field("units"), "count_list": Field("counts", ListOf("count", _COUNT))}),
)
_MEASUREMENT = Obj(
    {},
    attrs={
        "group_id": Field("groupId", _group_id),
        "value": Field("value"),
        "spread": Field("spread"),
        "lower_limit": Field("lowerLimit"),
        "upper_limit": Field("upperLimit"),
    },
    text=Field("comment"),
)
_CATEGORY = Obj(
    {
        "title": Field("title"),
        "measurement_list": Field("measurements", ListOf("measurement", _MEASUREMENT)),
    }
)
_CLASSES = ListOf(
    "class",
    Obj(
        {
            "title": Field("title"),
            "analyzed_list": Field("denoms", _DENOMS),
            "category_list": Field("categories", ListOf("category", _CATEGORY)),
        }
    ),
)


def _measure_fields(dispersion: Any) -> dict[str, Field]:
    """Baseline and outcome <measure> share a layout; only the dispersion spelling differs."""
    return {
        "title": Field("title"),
        "description": Field("description"),
        "population": Field("populationDescription"),
        "units": Field("unitOfMeasure"),
        "param": Field("paramType", _PARAM),
        "dispersion": Field("dispersionType", dispersion),
        "units_analyzed": Field("denomUnitsSelected"),
        "analyzed_list": Field("denoms", _DENOMS),
        "class_list": Field("classes", _CLASSES),
    }


_BASELINE = Obj(
    {
        "population": Field("populationDescription"),
        "group_list": Field("groups", _GROUPS),
        "analyzed_list": Field("denoms", _DENOMS),
        "measure_list": Field("measures", ListOf("measure", Obj(_measure_fields(_DISPERSION)))),
    }
)


def _mark_posted(outcome: dict[str, Any]) -> None:
    outcome["reportingStatus"] = "POSTED"


def _default_not_posted(outcome: dict[str, Any]) -> None:
    """An outcome listed in the results without a <measure> has no data posted yet."""
    outcome.setdefault("reportingStatus", "NOT_POSTED")


_ANALYSIS = Obj(
    {
        "group_id_list": Field("groupIds", ListOf("group_id", _group_id)),
        "groups_desc": Field("groupDescription"),
        "non_inferiority_type": Field("nonInferiorityType", _NON_INFERIORITY),
        "non_inferiority_desc": Field("nonInferiorityComment"),
        "p_value": Field("pValue"),
        "p_value_desc": Field("pValueComment"),
        "method": Field("statisticalMethod"),
        "method_desc": Field("statisticalComment"),
        "param_type": Field("paramType"),
        "param_value": Field("paramValue"),
        "dispersion_type": Field("dispersionType", _ANALYSIS_DISPERSION),
        "dispersion_value": Field("dispersionValue"),
        "ci_percent": Field("ciPctValue"),
        "ci_n_sides": Field("ciNumSides", _CI_SIDES),
        "ci_lower_limit": Field("ciLowerLimit"),
        "ci_upper_limit": Field("ciUpperLimit"),
        "ci_upper_limit_na_comment": Field("ciUpperLimitComment"),
        "estimate_desc": Field("estimateComment"),
        "other_analysis_desc": Field("otherAnalysisDescription"),
    }
)
# API v2 flattens the outcome and its <measure> (which repeats title, description and
# population) into one object: MERGE keeps the outcome's own values.
_RESULT_OUTCOME = Obj(
    {
        "type": Field("type", _OUTCOME_TYPE),
        "title": Field("title"),
        "description": Field("description"),
        "time_frame": Field("timeFrame"),
        "posting_date": Field("anticipatedPostingDate", _posting_date),
        "population": Field("populationDescription"),
        "group_list": Field("groups", _GROUPS),
        "measure": Field("", Obj(_measure_fields(None), post=_mark_posted), MERGE),
        "analysis_list": Field("analyses", ListOf("analysis", _ANALYSIS)),
    },
    post=_default_not_posted,
)
_OUTCOME_MEASURES = Obj({"outcome": Field("outcomeMeasures", _RESULT_OUTCOME, MANY)})
_EVENT = Obj(
    {
        "sub_title": Field(
            "", Obj({}, attrs={"vocab": Field("sourceVocabulary")}, text=Field("term")), MERGE
        ),
        "assessment": Field("assessmentType", _ASSESSMENT),
        "description": Field("notes"),
        "counts": Field(
            "stats",
            Obj(
                {},
                attrs={
                    "group_id": Field("groupId", _group_id),
                    "events": Field("numEvents", _int),
                    "subjects_affected": Field("numAffected", _int),
                    "subjects_at_risk": Field("numAtRisk", _int),
                },
            ),
            MANY,
        ),
    }
)
_EVENT_LISTS = {"serious_events": "seriousEvents", "other_events": "otherEvents"}
_EVENT_PATH = "category_list/category/event_list/event"


def _events_reads(tag: str) -> tuple[Any, ...]:
    return (
        f"{tag}/frequency_threshold",
        f"{tag}/default_vocab",
        f"{tag}/default_assessment",
        f"{tag}/category_list/category/title",
        (f"{tag}/{_EVENT_PATH}", _EVENT),
    )


@_custom(
    "time_frame",
    "desc",
    ("group_list", _GROUPS),
    *_events_reads("serious_events"),
    *_events_reads("other_events"),
)
def _adverse_events(elem: Element) -> dict[str, Any] | None:
    """<reported_events>: events by organ system, and each group's totals."""
    module: dict[str, Any] = {}
    totals: list[tuple[str, list[dict[str, Any]]]] = []
    for child in elem:
        tag = child.tag
        if tag in ("time_frame", "desc"):
            text = _clean(child.text)
            if text:
                module["timeFrame" if tag == "time_frame" else "description"] = text
        elif tag == "group_list":
            groups = _convert(_GROUPS, child, tag)
            if groups:
                module["eventGroups"] = groups
        elif tag in _EVENT_LISTS:
            events = _convert(_event_list, child, tag)
            if events.threshold:
                module.setdefault("frequencyThreshold", events.threshold)
            if events.events:
                module[_EVENT_LISTS[tag]] = events.events
            totals.extend(events.totals)
    groups_by_id = {group.get("id"): group for group in module.get("eventGroups", ())}
    for kind, stats in totals:  # e.g. seriousNumAffected, seriousNumAtRisk
        for stat in stats:
            group = groups_by_id.get(stat.get("groupId"))
            if group is not None:
                for suffix, key in (("NumAffected", "numAffected"), ("NumAtRisk", "numAtRisk")):
                    if key in stat:
                        group[kind + suffix] = stat[key]
    return module or None


class _EventList(NamedTuple):
    events: list[dict[str, Any]]
    totals: list[tuple[str, list[dict[str, Any]]]]  # ("serious", stats of the total row)
    threshold: str | None


def _event_list(elem: Element) -> _EventList:
    """<serious_events> or <other_events>; its defaults fill what an event leaves out."""
    result = _EventList([], [], None)
    defaults: dict[str, Any] = {}
    for child in elem:
        tag = child.tag
        text = _clean(child.text)
        if tag == "frequency_threshold" and text:
            result = result._replace(threshold=text)
        elif tag == "default_vocab" and text:
            defaults["sourceVocabulary"] = text
        elif tag == "default_assessment" and text:
            defaults["assessmentType"] = _convert(_ASSESSMENT, text, tag)
        elif tag == "category_list":
            for category in child.iterfind("category"):
                organ = _clean(category.findtext("title"))
                for item in category.iterfind("event_list/event"):
                    event = _convert(_EVENT, item, _EVENT_PATH) or {}
                    total = _EVENT_TOTALS.get(event.get("term", "")) if organ == "Total" else None
                    if total:
                        result.totals.append((total, event.get("stats", [])))
                        continue
                    entry = {"term": event.pop("term")} if "term" in event else {}
                    if organ:
                        entry["organSystem"] = organ
                    entry.update(event)
                    result.events.append(entry)
    for event in result.events:
        for key, value in defaults.items():
            event.setdefault(key, value)
    return result


# --- Protocol section building blocks -----------------------------------------------------

_SPONSOR = Obj({"agency": Field("name"), "agency_class": Field("class", _AGENCY_CLASS)})
_PROTOCOL_OUTCOME = Obj(
    {
        "measure": Field("measure"),
        "description": Field("description"),
        "time_frame": Field("timeFrame"),
    }
)
_DESIGN_INFO = Obj(
    {
        "allocation": Field("allocation", _ALLOCATION),
        "intervention_model": Field("interventionModel", _INTERVENTION_MODEL),
        "intervention_model_description": Field("interventionModelDescription"),
        "primary_purpose": Field("primaryPurpose", _PRIMARY_PURPOSE),
        "observational_model": Field("observationalModel", _OBSERVATIONAL_MODEL),
        "time_perspective": Field("timePerspective", _TIME_PERSPECTIVE),
        "masking": Field("maskingInfo", _masking, MERGE),
        "masking_description": Field(
            "maskingInfo", lambda text: {"maskingDescription": text}, MERGE
        ),
    }
)
_EXPANDED_ACCESS_TYPES = Obj(
    {
        "expanded_access_type_individual": Field("individual", _YES_NO),
        "expanded_access_type_intermediate": Field("intermediate", _YES_NO),
        "expanded_access_type_treatment": Field("treatment", _YES_NO),
    }
)
_ARM = Obj(
    {
        "arm_group_label": Field("label"),
        "arm_group_type": Field("type", _ARM_TYPE),
        "description": Field("description"),
    }
)
_INTERVENTION = Obj(
    {
        "intervention_type": Field("type", _enum(_INTERVENTION_TYPES)),
        "intervention_name": Field("name"),
        "description": Field("description"),
        "arm_group_label": Field("armGroupLabels", None, MANY),
        "other_name": Field("otherNames", None, MANY),
    }
)
_ADDRESS = Obj(
    {
        "city": Field("city"),
        "state": Field("state"),
        "zip": Field("zip"),
        "country": Field("country"),
    }
)
_LOCATION = Obj(
    {
        "facility": Field(
            "", Obj({"name": Field("facility"), "address": Field("", _ADDRESS, MERGE)}), MERGE
        ),
        "status": Field("status", _STATUS),
        "contact": Field("contacts", _contact, MANY),
        "contact_backup": Field("contacts", _contact, MANY),
        "investigator": Field("contacts", _investigator(with_affiliation=False), MANY),
    }
)
_LINK = Obj({"url": Field("url"), "description": Field("label")})
_RESPONSIBLE_PARTY = Obj(
    {
        "responsible_party_type": Field("type", _RESPONSIBLE_PARTY_TYPE),
        "investigator_full_name": Field("investigatorFullName"),
        "investigator_title": Field("investigatorTitle"),
        "investigator_affiliation": Field("investigatorAffiliation"),
        "name_title": Field("oldNameTitle"),
        "organization": Field("oldOrganization"),
    }
)
_AVAIL_IPD = Obj(
    {
        "doc_id": Field("id"),
        "doc_type": Field("type"),
        "doc_url": Field("url"),
        "doc_comment": Field("comment"),
    }
)
_LARGE_DOC = Obj(
    {
        "document_type": Field("label"),
        "document_has_protocol": Field("hasProtocol", _YES_NO),
        "document_has_icf": Field("hasIcf", _YES_NO),
        "document_has_sap": Field("hasSap", _YES_NO),
        "document_date": Field("date", _iso_date),
        "document_url": Field("", _document_file, MERGE),
    }
)
_POINT_OF_CONTACT = Obj(
    {
        "name_or_title": Field("title"),
        "organization": Field("organization"),
        "phone": Field("phone"),
        "phone_ext": Field("phoneExt"),
        "email": Field("email"),
    }
)


def _mesh(text: str) -> dict[str, str]:
    """The XML names MeSH terms only: ids and ancestors are left out, not invented."""
    return {"term": text}


# --- The top-level table: element path -> API v2 module and key ----------------------------

# Module name -> where it sits in the document, in API v2 order.
_DOCUMENT_MODULES = {
    "ident": ("protocolSection", "identificationModule"),
    "status": ("protocolSection", "statusModule"),
    "sponsor": ("protocolSection", "sponsorCollaboratorsModule"),
    "oversight": ("protocolSection", "oversightModule"),
    "description": ("protocolSection", "descriptionModule"),
    "conditions": ("protocolSection", "conditionsModule"),
    "design": ("protocolSection", "designModule"),
    "arms": ("protocolSection", "armsInterventionsModule"),
    "outcomes": ("protocolSection", "outcomesModule"),
    "eligibility": ("protocolSection", "eligibilityModule"),
    "contacts": ("protocolSection", "contactsLocationsModule"),
    "references": ("protocolSection", "referencesModule"),
    "ipd": ("protocolSection", "ipdSharingStatementModule"),
    "results": ("resultsSection",),
    "moreInfo": ("resultsSection", "moreInfoModule"),
    "unposted": ("annotationSection", "annotationModule", "unpostedAnnotation"),
    "largeDocs": ("documentSection", "largeDocumentModule"),
    "misc": ("derivedSection", "miscInfoModule"),
    "conditionBrowse": ("derivedSection", "conditionBrowseModule"),
    "interventionBrowse": ("derivedSection", "interventionBrowseModule"),
}
_EXTENSION_MODULES = {"legacy": (EXTENSION_KEY, LEGACY), "source": (EXTENSION_KEY, SOURCE)}
_MODULES = {**_DOCUMENT_MODULES, **_EXTENSION_MODULES}


def _to(module: str, key: str, conv: Any = None, mode: int = ONE) -> tuple[Field, ...]:
    return (Field(key, conv, mode, module),)


# Element name -> the API v2 field(s) it fills. A dict value is a container element whose
# children map on their own.
_TABLE: dict[str, Any] = {
    "required_header": {"download_date": _to("source", "downloadDate", _download_date)},
    "id_info": {
        "org_study_id": _to("ident", "orgStudyIdInfo", lambda text: {"id": text}),
        "secondary_id": _to("ident", "secondaryIdInfos", lambda text: {"id": text}, MANY),
        "nct_id": _to("ident", "nctId"),
        "nct_alias": _to("ident", "nctIdAliases", None, MANY),
    },
    "brief_title": _to("ident", "briefTitle"),
    "acronym": _to("ident", "acronym"),
    "official_title": _to("ident", "officialTitle"),
    "sponsors": {
        "lead_sponsor": _to("sponsor", "leadSponsor", _SPONSOR),
        "collaborator": _to("sponsor", "collaborators", _SPONSOR, MANY),
    },
    # <source> is the organization that registered the study, API v2's organization.
    "source": _to("ident", "organization", lambda text: {"fullName": text}),
    "oversight_info": {
        "authority": _to("legacy", "oversightAuthorities", None, MANY),
        "has_dmc": _to("oversight", "oversightHasDmc", _YES_NO),
        "is_fda_regulated_drug": _to("oversight", "isFdaRegulatedDrug", _YES_NO),
        "is_fda_regulated_device": _to("oversight", "isFdaRegulatedDevice", _YES_NO),
        "is_unapproved_device": _to("oversight", "isUnapprovedDevice", _YES_NO),
        "is_ppsd": _to("oversight", "isPpsd", _YES_NO),
        "is_us_export": _to("oversight", "isUsExport", _YES_NO),
    },
    "is_fda_regulated": _to("legacy", "isFdaRegulated", _YES_NO),
    "brief_summary": {"textblock": _to("description", "briefSummary", _BLOCK)},
    "detailed_description": {"textblock": _to("description", "detailedDescription", _BLOCK)},
    "overall_status": _to("status", "overallStatus", _STATUS),
    "last_known_status": _to("status", "lastKnownStatus", _STATUS),
    "why_stopped": _to("status", "whyStopped", _BLOCK),
    "start_date": _to("status", "startDateStruct", _date_struct),
    "completion_date": _to("status", "completionDateStruct", _date_struct),
    "primary_completion_date": _to("status", "primaryCompletionDateStruct", _date_struct),
    "phase": _to("design", "phases", _PHASES),
    "study_type": _to("design", "", _STUDY_TYPE, MERGE),
    "has_expanded_access": _to(
        "status", "expandedAccessInfo", lambda text: {"hasExpandedAccess": _YES_NO(text)}
    ),
    "expanded_access_info": _to("design", "expandedAccessTypes", _EXPANDED_ACCESS_TYPES),
    "study_design_info": _to("design", "designInfo", _DESIGN_INFO),
    "target_duration": _to("design", "targetDuration"),
    "primary_outcome": _to("outcomes", "primaryOutcomes", _PROTOCOL_OUTCOME, MANY),
    "secondary_outcome": _to("outcomes", "secondaryOutcomes", _PROTOCOL_OUTCOME, MANY),
    "other_outcome": _to("outcomes", "otherOutcomes", _PROTOCOL_OUTCOME, MANY),
    "enrollment": _to("design", "enrollmentInfo", _enrollment),
    "condition": _to("conditions", "conditions", None, MANY),
    "arm_group": _to("arms", "armGroups", _ARM, MANY),
    "intervention": _to("arms", "interventions", _INTERVENTION, MANY),
    "biospec_retention": _to(
        "design", "bioSpec", lambda text: {"retention": _BIOSPEC_RETENTION(text)}, MERGE
    ),
    "biospec_descr": {"textblock": _to("design", "bioSpec", _block_in("description"), MERGE)},
    "eligibility": {
        "study_pop": {"textblock": _to("eligibility", "studyPopulation", _BLOCK)},
        "sampling_method": _to("eligibility", "samplingMethod", _SAMPLING_METHOD),
        "criteria": {"textblock": _to("eligibility", "eligibilityCriteria", _BLOCK)},
        "gender": _to("eligibility", "sex", _SEX),
        "gender_based": _to("eligibility", "genderBased", _YES_NO),
        "gender_description": _to("eligibility", "genderDescription"),
        "minimum_age": _to("eligibility", "minimumAge", _age),
        "maximum_age": _to("eligibility", "maximumAge", _age),
        "healthy_volunteers": _to("eligibility", "healthyVolunteers", _HEALTHY_VOLUNTEERS),
    },
    "overall_official": _to(
        "contacts", "overallOfficials", _investigator(with_affiliation=True), MANY
    ),
    "overall_contact": _to("contacts", "centralContacts", _contact, MANY),
    "overall_contact_backup": _to("contacts", "centralContacts", _contact, MANY),
    "location": _to("contacts", "locations", _LOCATION, MANY),
    "removed_countries": {"country": _to("misc", "removedCountries", None, MANY)},
    "link": _to("references", "seeAlsoLinks", _LINK, MANY),
    "reference": _to("references", "references", _reference("BACKGROUND"), MANY),
    "results_reference": _to("references", "references", _reference("RESULT"), MANY),
    "verification_date": (
        Field("statusVerifiedDate", _iso_date, ONE, "status"),
        Field("verificationDate", _iso_month, ONE, "legacy"),
    ),
    "study_first_submitted": _to("status", "studyFirstSubmitDate", _iso_date),
    "study_first_submitted_qc": _to("status", "studyFirstSubmitQcDate", _iso_date),
    "study_first_posted": _to("status", "studyFirstPostDateStruct", _date_struct),
    "results_first_submitted": _to("status", "resultsFirstSubmitDate", _iso_date),
    "results_first_submitted_qc": _to("status", "resultsFirstSubmitQcDate", _iso_date),
    "results_first_posted": _to("status", "resultsFirstPostDateStruct", _date_struct),
    "disposition_first_submitted": _to("status", "dispFirstSubmitDate", _iso_date),
    "disposition_first_submitted_qc": _to("status", "dispFirstSubmitQcDate", _iso_date),
    "disposition_first_posted": _to("status", "dispFirstPostDateStruct", _date_struct),
    "last_update_submitted": _to("status", "lastUpdateSubmitDate", _iso_date),
    "last_update_posted": _to("status", "lastUpdatePostDateStruct", _date_struct),
    # Names the schema retired in 2018: two dates API v2 has no place for go to the
    # extension, the other two are the results/disposition submission dates.
    "firstreceived_date": _to("legacy", "firstReceivedDate", _iso_date),
    "lastchanged_date": _to("legacy", "lastChangedDate", _iso_date),
    "firstreceived_results_date": _to("status", "resultsFirstSubmitDate", _iso_date),
    "firstreceived_results_disposition_date": _to("status", "dispFirstSubmitDate", _iso_date),
    "responsible_party": _to("sponsor", "responsibleParty", _RESPONSIBLE_PARTY),
    "keyword": _to("conditions", "keywords", None, MANY),
    "condition_browse": {"mesh_term": _to("conditionBrowse", "meshes", _mesh, MANY)},
    "intervention_browse": {"mesh_term": _to("interventionBrowse", "meshes", _mesh, MANY)},
    "patient_data": {
        "sharing_ipd": _to("ipd", "ipdSharing", _IPD_SHARING),
        "ipd_description": _to("ipd", "description"),
        "ipd_info_type": _to("ipd", "infoTypes", _IPD_INFO_TYPE, MANY),
        "ipd_time_frame": _to("ipd", "timeFrame"),
        "ipd_access_criteria": _to("ipd", "accessCriteria"),
        "ipd_url": _to("ipd", "url"),
    },
    "study_docs": {"study_doc": _to("references", "availIpds", _AVAIL_IPD, MANY)},
    "provided_document_section": {
        "provided_document": _to("largeDocs", "largeDocs", _LARGE_DOC, MANY)
    },
    "pending_results": {
        "submitted": _to("unposted", "unpostedEvents", _unposted("RELEASE"), MANY),
        "returned": _to("unposted", "unpostedEvents", _unposted("RESET"), MANY),
        "submission_canceled": _to("unposted", "unpostedEvents", _unposted("UNRELEASE"), MANY),
    },
    "clinical_results": {
        "participant_flow": _to("results", "participantFlowModule", _FLOW),
        "baseline": _to("results", "baselineCharacteristicsModule", _BASELINE),
        "outcome_list": _to("results", "outcomeMeasuresModule", _OUTCOME_MEASURES),
        "reported_events": _to("results", "adverseEventsModule", _adverse_events),
        "certain_agreements": _to("moreInfo", "certainAgreement", _agreements),
        "limitations_and_caveats": _to(
            "moreInfo", "limitationsAndCaveats", lambda text: {"description": text}
        ),
        "point_of_contact": _to("moreInfo", "pointOfContact", _POINT_OF_CONTACT),
    },
}


def _compile(table: dict[str, Any]) -> dict[str, Any]:
    """The table with each field as a (module, key, conv, mode, is_element) tuple."""
    return {
        tag: _compile(entry)
        if isinstance(entry, dict)
        else tuple((field.module, *_rule(field)) for field in entry)
        for tag, entry in table.items()
    }


_RULES = _compile(_TABLE)

# Element paths deliberately left out, with the reason; the corpus test checks on every
# record that the redundant ones are redundant.
UNMAPPED_PATHS: dict[str, str] = {
    "clinical_study/required_header/link_text": "boilerplate ('Link to the current record')",
    "clinical_study/required_header/url": "the public page, derivable from the NCT id",
    "clinical_study/location_countries": "container of location_countries/country",
    "clinical_study/location_countries/country": (
        "the distinct locations[].country; API v2 has no separate list"
    ),
    "clinical_study/number_of_arms": "equals the number of armGroups",
    "clinical_study/number_of_groups": "equals the number of armGroups (observational groups)",
    "clinical_study/last_update_submitted_qc": (
        "API v2 has no QC date for updates; equals last_update_submitted"
    ),
    "clinical_study/clinical_results/baseline/analyzed_list/analyzed/scope": (
        "'Overall': implied by where the denoms sit"
    ),
    "clinical_study/clinical_results/baseline/measure_list/measure/class_list/class/"
    "analyzed_list/analyzed/scope": "'Class': implied by where the denoms sit",
    "clinical_study/clinical_results/outcome_list/outcome/measure/analyzed_list/analyzed/scope": (
        "'Measure': implied by where the denoms sit"
    ),
    "clinical_study/clinical_results/outcome_list/outcome/measure/class_list/class/"
    "analyzed_list/analyzed/scope": "'Class': implied by where the denoms sit",
    # Schema elements absent from the corpus that API v2 has no place for.
    "clinical_study@rank": "a position in a search result, not part of the study",
    "clinical_study/study_design": (
        "the pre-2017 one-line design summary; study_design_info holds it structured"
    ),
    "clinical_study/is_section_801": "retired in 2017 and abandoned by ClinicalTrials.gov",
    "clinical_study/primary_outcome/safety_issue": "retired in 2017; API v2 dropped it",
    "clinical_study/secondary_outcome/safety_issue": "retired in 2017; API v2 dropped it",
    "clinical_study/other_outcome/safety_issue": "retired in 2017; API v2 dropped it",
    "clinical_study/clinical_results/outcome_list/outcome/safety_issue": (
        "retired in 2017; API v2 dropped it"
    ),
    "clinical_study/location/investigator/affiliation": (
        "API v2 location contacts have no affiliation"
    ),
}


def _walk_paths(prefix: str, conv: Any) -> Iterable[str]:
    """Element paths a converter reads below ``prefix`` (for the coverage check)."""
    if isinstance(conv, Obj):
        for name in conv.attrs:
            yield f"{prefix}@{name}"
        for tag, field in conv.children.items():
            yield f"{prefix}/{tag}"
            yield from _walk_paths(f"{prefix}/{tag}", field.conv)
    elif isinstance(conv, ListOf):
        yield f"{prefix}/{conv.tag}"
        yield from _walk_paths(f"{prefix}/{conv.tag}", conv.conv)
    elif isinstance(conv, Custom):
        for read in conv.reads:
            path, inner = read if isinstance(read, tuple) else (read, None)
            if path.startswith("@"):
                yield prefix + path
                continue
            steps = path.split("/")
            for end in range(1, len(steps) + 1):
                yield "/".join([prefix, *steps[:end]])
            yield from _walk_paths(f"{prefix}/{path}", inner)


def _table_paths(prefix: str, table: dict[str, Any]) -> Iterable[str]:
    for tag, entry in table.items():
        path = f"{prefix}/{tag}"
        yield path
        if isinstance(entry, dict):
            yield from _table_paths(path, entry)
        else:
            for field in entry:
                yield from _walk_paths(path, field.conv)


MAPPED_PATHS: frozenset[str] = frozenset([ROOT_TAG, *_table_paths(ROOT_TAG, _TABLE)])

# --- Parsing and assembly ------------------------------------------------------------------


def _parse(data: bytes) -> Element:
    """Parse with defusedxml: any DTD, entity declaration or external reference is refused.

    On Python 3 defusedxml uses the pure-Python XMLParser, whose per-element callbacks
    make parsing about 1.5 times slower. Its security handlers stay in place; element
    events go straight to the C TreeBuilder instead (the schema uses no namespaces).
    """
    if not data or not data.strip():
        raise RecordError("empty XML document")
    builder = TreeBuilder()
    parser = DefusedET.XMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    expat = parser.parser
    expat.ordered_attributes = False
    expat.StartElementHandler = builder.start
    expat.EndElementHandler = builder.end
    try:
        parser.feed(data)
        return parser.close()
    except DTDForbidden:
        raise RecordError("XML DOCTYPE is not allowed (hardened parser)") from None
    except EntitiesForbidden:
        raise RecordError("XML entity declarations are not allowed (hardened parser)") from None
    except ExternalReferenceForbidden:
        raise RecordError("external XML references are not allowed (hardened parser)") from None
    except ParseError as exc:
        line, column = exc.position
        raise RecordError(
            f"malformed XML: line {line}, column {column}: {ErrorString(exc.code)}"
        ) from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown declared encoding
        raise RecordError(f"malformed XML: {exc}") from None


def _fill(elem: Element, rules: dict[str, Any], modules: dict[str, dict[str, Any]]) -> None:
    for child in elem:
        entry = rules.get(child.tag)
        if entry is None:
            continue
        if type(entry) is dict:
            try:
                _fill(child, entry, modules)
            except _BadValue as exc:
                exc.path.append(child.tag)
                raise
            continue
        for module, key, conv, mode, is_element in entry:
            try:
                value = conv(child) if is_element else _text_value(child.text, conv)
            except _BadValue as exc:
                exc.path.append(child.tag)
                raise
            if value is None:
                continue
            if mode == ONE:
                modules[module][key] = value
            else:
                _store_many(modules[module], key, mode, value)


def _link_arms(arms: dict[str, Any]) -> None:
    """API v2 lists each arm's interventions as 'Drug: Riluzole' (from armGroupLabels)."""
    groups = arms.get("armGroups")
    interventions = arms.get("interventions")
    if not groups or not interventions:
        return
    by_label: dict[str, dict[str, Any]] = {}
    for group in groups:
        if "label" in group:
            by_label.setdefault(group["label"], group)
    for intervention in interventions:
        if "type" not in intervention or "name" not in intervention:
            continue
        name = f"{_INTERVENTION_TYPE_LABELS[intervention['type']]}: {intervention['name']}"
        for label in intervention.get("armGroupLabels", ()):
            group = by_label.get(label)
            if group is not None:
                group.setdefault("interventionNames", []).append(name)


def _assemble(modules: dict[str, dict[str, Any]], has_results: bool) -> dict[str, Any]:
    organization = modules["ident"].get("organization")
    lead = modules["sponsor"].get("leadSponsor")
    # The organization is the lead sponsor when their names agree; then its class is known.
    if organization and lead and "class" in lead and organization["fullName"] == lead.get("name"):
        organization["class"] = lead["class"]
    _link_arms(modules["arms"])
    document: dict[str, Any] = {}
    _place(document, modules, _DOCUMENT_MODULES)
    document["hasResults"] = has_results
    _place(document, modules, _EXTENSION_MODULES)
    return document


def _place(
    document: dict[str, Any], modules: dict[str, dict[str, Any]], layout: dict[str, tuple[str, ...]]
) -> None:
    """Put each non-empty module at its path, in the layout's (API v2) order."""
    for name, path in layout.items():
        module = modules[name]
        if module:
            parent = document
            for key in path[:-1]:
                parent = parent.setdefault(key, {})
            parent.setdefault(path[-1], {}).update(module)


def study_from_legacy_xml(data: bytes) -> dict[str, Any]:
    """Parse one <clinical_study> XML document and return an API v2 study document (dict)."""
    root = _parse(data)
    if root.tag != ROOT_TAG:
        raise RecordError(f"root element is <{root.tag}>, expected <{ROOT_TAG}>")
    modules: dict[str, dict[str, Any]] = {name: {} for name in _MODULES}
    modules["source"]["format"] = "legacy-xml"
    try:
        _fill(root, _RULES, modules)
    except _BadValue as exc:
        path = "/".join([ROOT_TAG, *reversed(exc.path)]).replace("/@", "@")
        raise RecordError(f"<{path}>: {exc.message}") from None
    return _assemble(modules, root.find("clinical_results") is not None)
