"""Legacy ClinicalTrials.gov XML to API v2: hardened parsing, the mapping, the real corpus.

Tests that need the shared corpus (../shared/data, read-only, never copied into the
project) skip with the reason when it is absent; the rest run on inline XML.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from trialatlas.records.document import study_columns
from trialatlas.records.errors import RecordError
from trialatlas.records.legacy_xml import MAPPED_PATHS, UNMAPPED_PATHS, study_from_legacy_xml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CTGOV = SHARED / "data" / "ctgov"
XML_ARCHIVES = CTGOV / "xml"
JSON_DIR = CTGOV / "json"

# The five trials the shared corpus holds both as legacy XML and as API v2 JSON.
TWINS = ("NCT00000410", "NCT00173134", "NCT00492635", "NCT00498680", "NCT00499317")


def _require_corpus() -> list[Path]:
    archives = sorted(XML_ARCHIVES.glob("*.tar.gz"))
    if not archives:
        pytest.skip(f"../shared/data not present: no legacy XML archives in {XML_ARCHIVES}")
    return archives


def _corpus() -> Iterator[tuple[str, str, bytes]]:
    """(archive:member, NCT id from the file name, bytes) of every XML record."""
    for archive in _require_corpus():
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".xml"):
                    stream = tar.extractfile(member)
                    assert stream is not None
                    name = Path(member.name).stem
                    yield f"{archive.name}:{member.name}", name, stream.read()


ALS_RECORD = "NCT04082832"  # als-5-2020-07.tar.gz
LOCATIONS_RECORD = "NCT00006205"  # contacts, backups and investigators at each site
RESULTS_RECORD = "NCT00004635"  # results, provided documents


@cache
def _records() -> dict[str, bytes]:
    """The records the field-by-field tests use, read in one pass over the archives."""
    wanted = {ALS_RECORD, LOCATIONS_RECORD, RESULTS_RECORD, *TWINS}
    return {name: data for _, name, data in _corpus() if name in wanted}


def _record(nct_id: str) -> bytes:
    if nct_id not in _records():
        pytest.skip(f"../shared/data not present: {nct_id} is in none of the XML archives")
    return _records()[nct_id]


@cache
def _study(nct_id: str) -> dict[str, Any]:
    return study_from_legacy_xml(_record(nct_id))


def _api_v2_documents() -> Iterator[dict[str, Any]]:
    """Every API v2 study in the shared JSON files (gzipped arrays and the zip)."""
    for path in sorted(JSON_DIR.glob("*.json.gz")):
        yield from orjson.loads(gzip.decompress(path.read_bytes()))
    for path in sorted(JSON_DIR.glob("*.zip")):
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    yield orjson.loads(archive.read(name))


def _get(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _empty_values(value: Any, path: str = "") -> Iterator[str]:
    """Paths holding None, "", [] or {}: the converter must omit those keys instead."""
    if value is None or value in ("", [], {}):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _empty_values(item, f"{path}[{index}]")


def _collect_paths(elem: ET.Element, path: str, paths: set[str]) -> None:
    paths.add(path)
    for name in elem.attrib:
        paths.add(f"{path}@{name}")
    for child in elem:
        _collect_paths(child, f"{path}/{child.tag}", paths)


def _xml(body: str) -> bytes:
    return f"<clinical_study>{body}</clinical_study>".encode()


# --- The whole corpus ----------------------------------------------------------------------


@dataclass
class CorpusReport:
    """What one pass over every shared record found."""

    records: int = 0
    failures: list[str] = field(default_factory=list)  # records that did not convert
    problems: list[str] = field(default_factory=list)  # converted, but wrong
    paths: set[str] = field(default_factory=set)  # element and attribute paths seen
    not_redundant: list[str] = field(default_factory=list)  # see UNMAPPED_PATHS


def _redundancy_problems(root: ET.Element, document: dict[str, Any]) -> Iterator[str]:
    """The invariants that make the unmapped elements redundant with what is kept."""
    protocol = document["protocolSection"]
    arms = protocol.get("armsInterventionsModule", {}).get("armGroups", [])
    for tag in ("number_of_arms", "number_of_groups"):
        if root.findtext(tag) and int(root.findtext(tag, "")) != len(arms):
            yield f"<{tag}> is not the number of armGroups"
    listed = {country.text for country in root.iterfind("location_countries/country")}
    locations = protocol.get("contactsLocationsModule", {}).get("locations", [])
    # (a few locations have no address at all)
    if listed and listed != {loc["country"] for loc in locations if "country" in loc}:
        yield "<location_countries> are not the locations' countries"
    if root.findtext("last_update_submitted_qc") != root.findtext("last_update_submitted"):
        yield "<last_update_submitted_qc> differs from <last_update_submitted>"


@pytest.fixture(scope="module")
def corpus_report() -> CorpusReport:
    report = CorpusReport()
    for where, nct_id, data in _corpus():
        report.records += 1
        root = ET.fromstring(data)
        _collect_paths(root, root.tag, report.paths)
        try:
            document = study_from_legacy_xml(data)
        except RecordError as exc:
            report.failures.append(f"{where}: {exc.reason}")
            continue
        if document["protocolSection"]["identificationModule"].get("nctId") != nct_id:
            report.problems.append(f"{where}: nctId is not {nct_id}")
        if document["hasResults"] != (root.find("clinical_results") is not None):
            report.problems.append(f"{where}: hasResults is wrong")
        report.problems.extend(f"{where}: empty value at {p}" for p in _empty_values(document))
        try:
            study_columns(document)  # the store's type check
        except RecordError as exc:
            report.problems.append(f"{where}: {exc.reason}")
        report.not_redundant.extend(f"{where}: {p}" for p in _redundancy_problems(root, document))
    return report


def test_every_record_in_every_archive_converts(corpus_report: CorpusReport) -> None:
    assert corpus_report.failures == []
    assert corpus_report.problems == []
    assert corpus_report.records > 7800  # four archives: 6,786 + 1,000 + 65 + 5


def test_every_element_path_in_the_corpus_is_mapped(corpus_report: CorpusReport) -> None:
    """Nothing is dropped silently: each element and attribute path that occurs in the
    corpus is read by the converter's tables, or listed in UNMAPPED_PATHS with a reason:
    those are redundant with what is kept, which is checked on every record.
    """
    assert MAPPED_PATHS.isdisjoint(UNMAPPED_PATHS)
    unknown = sorted(corpus_report.paths - MAPPED_PATHS - UNMAPPED_PATHS.keys())
    assert unknown == [], f"elements the converter would drop: {unknown}"
    assert corpus_report.not_redundant == []


# --- Field by field ------------------------------------------------------------------------


def test_als_record_field_by_field() -> None:
    doc = _study(ALS_RECORD)
    protocol = doc["protocolSection"]
    status = protocol["statusModule"]
    design = protocol["designModule"]
    arms = protocol["armsInterventionsModule"]
    eligibility = protocol["eligibilityModule"]
    assert protocol["identificationModule"]["nctId"] == "NCT04082832"
    assert protocol["identificationModule"]["orgStudyIdInfo"] == {"id": "CMD-2019-001"}
    assert status["overallStatus"] == "RECRUITING"
    assert status["startDateStruct"] == {"date": "2019-09-30", "type": "ACTUAL"}
    assert status["completionDateStruct"] == {"date": "2020-12-30", "type": "ESTIMATED"}
    assert status["statusVerifiedDate"] == "2019-11"
    assert status["studyFirstPostDateStruct"] == {"date": "2019-09-09", "type": "ACTUAL"}
    assert status["expandedAccessInfo"] == {"hasExpandedAccess": False}
    assert design["phases"] == ["PHASE2", "PHASE3"]
    assert design["studyType"] == "INTERVENTIONAL"
    assert design["enrollmentInfo"] == {"count": 80, "type": "ESTIMATED"}
    assert design["designInfo"]["maskingInfo"] == {
        "masking": "QUADRUPLE",
        "whoMasked": ["PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR", "OUTCOMES_ASSESSOR"],
        "maskingDescription": "placebo controlled",
    }
    assert design["designInfo"]["allocation"] == "RANDOMIZED"
    assert design["designInfo"]["interventionModel"] == "PARALLEL"
    assert [(a["label"], a["type"], a["interventionNames"]) for a in arms["armGroups"]] == [
        ("Cu(II)ATSM", "ACTIVE_COMPARATOR", ["Drug: Cu(II)ATSM"]),
        ("Placebo Powder for Oral Suspension", "PLACEBO_COMPARATOR", ["Drug: Placebos"]),
    ]
    assert arms["interventions"][1] == {
        "type": "DRUG",
        "name": "Placebos",
        "description": "oral suspension",
        "armGroupLabels": ["Placebo Powder for Oral Suspension"],
    }
    criteria = eligibility["eligibilityCriteria"]
    assert criteria.startswith("Inclusion Criteria:\n\n  -  signed informed consent\n")
    # Dedented by the block's margin only: bullets and wrapped lines keep their indent.
    assert (
        "\n  -  women and men with partners of childbearing potential must take effective\n"
        "     contraception while on treatment\n\nExclusion Criteria:\n\n"
    ) in criteria
    assert criteria.endswith("predominantly by\n     CYP 1A2")
    assert eligibility["sex"] == "ALL"
    assert eligibility["minimumAge"] == "18 Years"
    assert eligibility["maximumAge"] == "75 Years"
    assert eligibility["healthyVolunteers"] is False
    assert protocol["oversightModule"] == {
        "oversightHasDmc": True,
        "isFdaRegulatedDrug": False,
        "isFdaRegulatedDevice": False,
    }
    assert protocol["sponsorCollaboratorsModule"]["leadSponsor"] == {
        "name": "Collaborative Medicinal Development Pty Limited",
        "class": "INDUSTRY",
    }
    assert doc["derivedSection"]["conditionBrowseModule"] == {
        "meshes": [
            {"term": "Motor Neuron Disease"},
            {"term": "Amyotrophic Lateral Sclerosis"},
            {"term": "Sclerosis"},
        ]
    }
    assert protocol["ipdSharingStatementModule"] == {"ipdSharing": "NO"}
    assert doc["hasResults"] is False
    assert doc["trialatlas"] == {
        "legacy": {"verificationDate": "2019-11"},
        "source": {"format": "legacy-xml", "downloadDate": "2020-07-28"},
    }


def test_record_with_locations_and_contacts() -> None:
    contacts = _study(LOCATIONS_RECORD)["protocolSection"]["contactsLocationsModule"]
    assert contacts["overallOfficials"] == [
        {
            "name": "Bankole Johnson, DSc, MD, PhD",
            "affiliation": "University of Virginia",
            "role": "PRINCIPAL_INVESTIGATOR",
        }
    ]
    assert contacts["centralContacts"] == [
        {
            "name": "Mindy Borszich",
            "role": "CONTACT",
            "phone": "1-888-882-2345",
            "email": "mcb3x@virginia.edu",
        },
        {
            "name": "Eva Jenkins-Mendoza",
            "role": "CONTACT",
            "phone": "(434) 243-0562",
            "email": "emj9c@virginia.edu",
        },
    ]
    assert contacts["locations"][0] == {
        "facility": "University of Virginia Center for Addiction Research and Education",
        "city": "Charlottesville",
        "state": "Virginia",
        "zip": "22911",
        "country": "United States",
        "status": "RECRUITING",
        "contacts": [
            {
                "name": "Mindy Borszich",
                "role": "CONTACT",
                "phone": "888-882-2345",
                "email": "mcb3x@virginia.edu",
            },
            {
                "name": "Eva Jenkins-Mendoza",
                "role": "CONTACT",
                "phone": "(434)243-0562",
                "email": "emj9c@virginia.edu",
            },
            {"name": "Bankole Johnson, DSc, MD, PhD", "role": "PRINCIPAL_INVESTIGATOR"},
            {"name": "Nassima Ait-Daoud Tiouririne, MD", "role": "SUB_INVESTIGATOR"},
        ],
    }


def test_record_with_results() -> None:
    doc = _study(RESULTS_RECORD)
    assert doc["hasResults"] is True
    status = doc["protocolSection"]["statusModule"]
    assert status["resultsFirstSubmitDate"] == "2012-03-30"
    assert status["resultsFirstSubmitQcDate"] == "2012-08-13"
    assert status["resultsFirstPostDateStruct"] == {"date": "2012-09-12", "type": "ESTIMATED"}
    results = doc["resultsSection"]

    flow = results["participantFlowModule"]
    assert [g["id"] for g in flow["groups"]] == ["FG000", "FG001"]
    assert flow["groups"][0]["title"] == "Thalidomide Followed by Placebo"
    first = flow["periods"][0]
    assert first["title"] == "Period One"
    assert first["milestones"][0] == {
        "type": "STARTED",
        "achievements": [
            {"groupId": "FG000", "numSubjects": "79"},
            {"groupId": "FG001", "numSubjects": "80"},
        ],
    }
    assert first["dropWithdraws"][3]["type"] == "PSA did not go <5 ng/mL"

    baseline = results["baselineCharacteristicsModule"]
    assert [g["title"] for g in baseline["groups"]][-1] == "Total"
    assert baseline["denoms"] == [
        {
            "units": "Participants",
            "counts": [
                {"groupId": "BG000", "value": "79"},
                {"groupId": "BG001", "value": "80"},
                {"groupId": "BG002", "value": "159"},
            ],
        }
    ]
    age = baseline["measures"][0]
    assert (age["title"], age["paramType"], age["unitOfMeasure"]) == (
        "Age",
        "COUNT_OF_PARTICIPANTS",
        "Participants",
    )
    assert age["classes"][0]["categories"][0]["title"] == "<=18 years"

    outcome = results["outcomeMeasuresModule"]["outcomeMeasures"][0]
    assert outcome["type"] == "PRIMARY"
    assert outcome["title"] == "Time to Progression"
    assert outcome["timeFrame"] == "36 months"
    assert outcome["reportingStatus"] == "POSTED"
    assert (outcome["paramType"], outcome["dispersionType"]) == (
        "MEDIAN",
        "95% Confidence Interval",  # outcome measures keep the display text in API v2
    )
    assert outcome["classes"][0]["categories"][0]["measurements"][0] == {
        "groupId": "OG000",
        "value": "15",
        "lowerLimit": "12.0",
        "upperLimit": "22.1",
    }

    events = results["adverseEventsModule"]
    assert events["eventGroups"][0] == {
        "id": "EG000",
        "title": "Thalidomide",
        "deathsNumAffected": 0,
        "deathsNumAtRisk": 138,
        "seriousNumAffected": 117,
        "seriousNumAtRisk": 138,
        "otherNumAffected": 67,
        "otherNumAtRisk": 138,
    }
    serious = events["seriousEvents"][0]
    assert serious["term"] == "Brusing (in absence of grade 3 or 4 thrombocytopenia)"
    assert serious["organSystem"] == "Blood and lymphatic system disorders"
    assert serious["sourceVocabulary"] == "CTCv2.0"  # the section's default_vocab
    assert serious["assessmentType"] == "SYSTEMATIC_ASSESSMENT"
    assert serious["stats"][0] == {
        "groupId": "EG000",
        "numEvents": 3,
        "numAffected": 2,
        "numAtRisk": 138,
    }
    assert all(e["organSystem"] != "Total" for e in events["seriousEvents"])

    more = results["moreInfoModule"]
    assert more["certainAgreement"] == {"piSponsorEmployee": False, "restrictiveAgreement": False}
    assert more["pointOfContact"]["title"] == "William L. Dahut, M.D."
    assert more["limitationsAndCaveats"]["description"].startswith("A total of 159")

    assert doc["documentSection"]["largeDocumentModule"]["largeDocs"][0] == {
        "label": "Study Protocol",
        "hasProtocol": True,
        "hasIcf": False,
        "hasSap": False,
        "date": "2009-05-20",
        "typeAbbrev": "Prot",
        "filename": "Prot_000.pdf",
    }


# Fields that describe the trial itself rather than its progress: the XML (2020-2023) and
# JSON (2023-2025) snapshots agree on them unless the sponsor edited the record in between.
# Status, dates, enrollment, contacts and locations move on between snapshots, and the
# JSON's text is CommonMark-escaped, so those are not compared.
STABLE_FIELDS = (
    "protocolSection.identificationModule.nctId",
    "protocolSection.identificationModule.briefTitle",
    "protocolSection.identificationModule.officialTitle",
    "protocolSection.identificationModule.orgStudyIdInfo",
    "protocolSection.identificationModule.organization",
    "protocolSection.designModule.studyType",
    "protocolSection.designModule.phases",
    "protocolSection.designModule.designInfo",
    "protocolSection.conditionsModule.conditions",
    "protocolSection.sponsorCollaboratorsModule.leadSponsor",
    "protocolSection.eligibilityModule.sex",
    "protocolSection.eligibilityModule.minimumAge",
    "protocolSection.eligibilityModule.maximumAge",
    "protocolSection.statusModule.studyFirstSubmitDate",
    "protocolSection.statusModule.startDateStruct",
)


@cache
def _api_v2_twins() -> dict[str, dict[str, Any]]:
    """The twins' API v2 documents, by NCT id."""
    if not JSON_DIR.is_dir():
        pytest.skip(f"../shared/data not present: no API v2 JSON in {JSON_DIR}")
    twins = {}
    for doc in _api_v2_documents():
        nct_id = doc["protocolSection"]["identificationModule"]["nctId"]
        if nct_id in TWINS:
            twins[nct_id] = doc
    assert sorted(twins) == sorted(TWINS)
    return twins


def _key_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        paths = set()
        for key, item in value.items():
            paths |= {f"{path}.{key}"} | _key_paths(item, f"{path}.{key}")
        return paths
    if isinstance(value, list):
        return {p for item in value for p in _key_paths(item, f"{path}[]")}
    return set()


@pytest.mark.parametrize("nct_id", TWINS)
def test_twin_matches_its_api_v2_document(nct_id: str) -> None:
    ours, theirs = _study(nct_id), _api_v2_twins()[nct_id]
    for path in STABLE_FIELDS:
        assert _get(ours, path) == _get(theirs, path), path


@pytest.mark.parametrize("nct_id", TWINS)
def test_twin_uses_only_api_v2_field_names(nct_id: str) -> None:
    """Every key path we produce (outside our extension) exists in the real document."""
    ours = {p for p in _key_paths(_study(nct_id)) if not p.startswith(".trialatlas")}
    assert ours - _key_paths(_api_v2_twins()[nct_id]) == set()


# --- Mapping details on inline XML ---------------------------------------------------------


def test_legacy_only_facts_go_to_the_extension() -> None:
    doc = study_from_legacy_xml(
        _xml(
            "<required_header><download_date>ClinicalTrials.gov processed this data on"
            " February 03, 2023</download_date></required_header>"
            "<id_info><nct_id>NCT00000001</nct_id></id_info>"
            "<oversight_info><authority>United States: Food and Drug Administration</authority>"
            "<authority>Canada: Health Canada</authority></oversight_info>"
            "<firstreceived_date>November 3, 1999</firstreceived_date>"
            "<lastchanged_date>June 23, 2005</lastchanged_date>"
            "<verification_date>June 2005</verification_date>"
            "<is_fda_regulated>Yes</is_fda_regulated>"
        )
    )
    assert doc["trialatlas"] == {
        "legacy": {
            "oversightAuthorities": [
                "United States: Food and Drug Administration",
                "Canada: Health Canada",
            ],
            "firstReceivedDate": "1999-11-03",
            "lastChangedDate": "2005-06-23",
            "verificationDate": "2005-06",
            "isFdaRegulated": True,
        },
        "source": {"format": "legacy-xml", "downloadDate": "2023-02-03"},
    }
    assert doc["protocolSection"]["statusModule"] == {"statusVerifiedDate": "2005-06"}
    assert "oversightModule" not in doc["protocolSection"]


def test_absent_or_empty_elements_are_omitted() -> None:
    doc = study_from_legacy_xml(
        _xml(
            "<id_info><nct_id>NCT00000001</nct_id><org_study_id> </org_study_id></id_info>"
            "<acronym/><eligibility><gender>Both</gender><minimum_age>N/A</minimum_age>"
            "<maximum_age>N/A</maximum_age></eligibility><keyword></keyword>"
        )
    )
    assert doc["protocolSection"] == {
        "identificationModule": {"nctId": "NCT00000001"},
        "eligibilityModule": {"sex": "ALL"},
    }
    assert doc["hasResults"] is False
    assert doc["trialatlas"] == {"source": {"format": "legacy-xml"}}


def test_design_and_status_enumerations() -> None:
    doc = study_from_legacy_xml(
        _xml(
            "<overall_status>Unknown status</overall_status>"
            "<last_known_status>Active, not recruiting</last_known_status>"
            "<start_date>March 2007</start_date><phase>Early Phase 1</phase>"
            "<study_type>Observational [Patient Registry]</study_type>"
            "<study_design_info><observational_model>Case-Control</observational_model>"
            "<time_perspective>Cross-Sectional</time_perspective>"
            "<masking>None (Open Label)</masking></study_design_info>"
            "<biospec_retention>Samples With DNA</biospec_retention>"
            "<biospec_descr><textblock>\n      Whole blood\n    </textblock></biospec_descr>"
            "<sponsors><lead_sponsor><agency>NCI</agency><agency_class>U.S. Fed</agency_class>"
            "</lead_sponsor></sponsors>"
            "<eligibility><sampling_method>Non-Probability Sample</sampling_method>"
            "<gender>Female</gender><gender_based>Yes</gender_based>"
            "<minimum_age>6 Months</minimum_age><maximum_age>N/A</maximum_age>"
            "<healthy_volunteers>Accepts Healthy Volunteers</healthy_volunteers></eligibility>"
            "<pending_results><submitted>July 21, 2022</submitted>"
            "<submission_canceled>Unknown</submission_canceled></pending_results>"
            "<responsible_party><responsible_party_type>Sponsor-Investigator"
            "</responsible_party_type><investigator_full_name>Ann Lee</investigator_full_name>"
            "</responsible_party>"
        )
    )
    protocol = doc["protocolSection"]
    assert protocol["statusModule"] == {
        "overallStatus": "UNKNOWN",
        "lastKnownStatus": "ACTIVE_NOT_RECRUITING",
        "startDateStruct": {"date": "2007-03"},
    }
    assert protocol["designModule"] == {
        "phases": ["EARLY_PHASE1"],
        "studyType": "OBSERVATIONAL",
        "patientRegistry": True,
        "designInfo": {
            "observationalModel": "CASE_CONTROL",
            "timePerspective": "CROSS_SECTIONAL",
            "maskingInfo": {"masking": "NONE"},
        },
        "bioSpec": {"retention": "SAMPLES_WITH_DNA", "description": "Whole blood"},
    }
    assert protocol["sponsorCollaboratorsModule"] == {
        "leadSponsor": {"name": "NCI", "class": "FED"},
        "responsibleParty": {"type": "SPONSOR_INVESTIGATOR", "investigatorFullName": "Ann Lee"},
    }
    assert protocol["eligibilityModule"] == {
        "samplingMethod": "NON_PROBABILITY_SAMPLE",
        "sex": "FEMALE",
        "genderBased": True,
        "minimumAge": "6 Months",
        "healthyVolunteers": True,
    }
    assert doc["annotationSection"] == {
        "annotationModule": {
            "unpostedAnnotation": {
                "unpostedEvents": [{"type": "RELEASE", "date": "2022-07-21"}, {"type": "UNRELEASE"}]
            }
        }
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The only disclosure restriction on the PI is that the sponsor can review results"
            " communications prior to public release and can embargo communications regarding"
            " trial results for a period that is less than or equal to 60 days. The sponsor"
            " cannot require changes to the communication and cannot extend the embargo.",
            {"restrictiveAgreement": True, "restrictionType": "LTE60"},
        ),
        (
            "GSK agreements may vary with individual investigators.",
            {
                "restrictiveAgreement": True,
                "restrictionType": "OTHER",
                "otherDetails": "GSK agreements may vary with individual investigators.",
            },
        ),
    ],
)
def test_certain_agreements(text: str, expected: dict[str, Any]) -> None:
    doc = study_from_legacy_xml(
        _xml(
            "<clinical_results><certain_agreements><pi_employee>All Principal Investigators ARE"
            " employed by the organization sponsoring the study.</pi_employee>"
            f"<restrictive_agreement>{text}</restrictive_agreement></certain_agreements>"
            "</clinical_results>"
        )
    )
    assert doc["hasResults"] is True
    assert doc["resultsSection"]["moreInfoModule"]["certainAgreement"] == {
        "piSponsorEmployee": True,
        **expected,
    }


def test_text_blocks_are_dedented_but_otherwise_exact() -> None:
    block = (
        "\n        Inclusion Criteria:\r\n\r\n          -  age &gt; 18\r\n"
        "             (wrapped)\r\n\n        Exclusion Criteria:\n\n          -  none\n      "
    )
    doc = study_from_legacy_xml(
        _xml(f"<eligibility><criteria><textblock>{block}</textblock></criteria></eligibility>")
    )
    assert doc["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] == (
        "Inclusion Criteria:\n\n  -  age > 18\n     (wrapped)\n\nExclusion Criteria:\n\n  -  none"
    )


def test_unknown_enumeration_value_is_an_error_naming_the_element() -> None:
    with pytest.raises(RecordError) as error:
        study_from_legacy_xml(_xml("<eligibility><gender>Everyone</gender></eligibility>"))
    assert error.value.reason == "<clinical_study/eligibility/gender>: unknown value 'Everyone'"
    with pytest.raises(RecordError, match=r"<clinical_study/start_date>.*unreadable date"):
        study_from_legacy_xml(_xml("<start_date>Spring 2020</start_date>"))
    with pytest.raises(RecordError, match=r"<clinical_study/enrollment@type>: unknown value"):
        study_from_legacy_xml(_xml('<enrollment type="Guess">12</enrollment>'))


# --- Hardened parsing ----------------------------------------------------------------------

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE clinical_study [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<clinical_study><brief_title>&secret;</brief_title></clinical_study>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<clinical_study><brief_title>&lol4;</brief_title></clinical_study>"""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (EXTERNAL_ENTITY, "XML DOCTYPE is not allowed (hardened parser)"),
        (BILLION_LAUGHS, "XML DOCTYPE is not allowed (hardened parser)"),
        (
            b'<!DOCTYPE clinical_study SYSTEM "http://example.org/x.dtd"><clinical_study/>',
            "XML DOCTYPE is not allowed (hardened parser)",
        ),
        (
            b"<clinical_study>\n  <brief_title>x</brief_title>\n  <a></b>\n</clinical_study>",
            "malformed XML: line 3, column 7: mismatched tag",
        ),
        (b"<clinical_study><brief_title>&nbsp;</brief_title>", "malformed XML: line 1, column 29:"),
        (b"", "empty XML document"),
        (b" \n\t", "empty XML document"),
        (b"<study><brief_title>x</brief_title></study>", "root element is <study>"),
    ],
    ids=[
        "external-entity",
        "billion-laughs",
        "external-dtd",
        "mismatched-tag",
        "undefined-entity",
        "empty",
        "whitespace",
        "wrong-root",
    ],
)
def test_hostile_or_broken_input_raises_record_error(data: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as error:
        study_from_legacy_xml(data)
    assert error.value.reason.startswith(reason)
    assert error.value.__cause__ is None  # the parser's own exception does not leak
