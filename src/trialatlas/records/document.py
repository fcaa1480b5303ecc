"""The study document and the columns a registry lists and filters by.

The canonical record is a ClinicalTrials.gov API v2 study document, kept as a plain dict so
that nothing the source said is lost. ``StudyColumns`` is the typed, flattened view the
store indexes; ``study_columns`` builds it and is also the type check: a document whose
fields have the wrong shape is rejected with the path of the offending field.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import zstandard

from trialatlas.records.errors import RecordError
from trialatlas.records.extension import EXTENSION_KEY, SOURCE, SYNTHETIC

NCT_ID = re.compile(r"^NCT\d{8}$")

# Sizes past which a record is refused rather than stored: real records stay far below.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
MAX_FIELD_CHARS = 1024 * 1024

_AGE_UNIT_DAYS = {
    "year": 365.25,
    "month": 30.4375,
    "week": 7.0,
    "day": 1.0,
    "hour": 1 / 24,
    "minute": 1 / 1440,
}


@dataclass(frozen=True, slots=True)
class DateField:
    """A date as the record gives it (ISO, day or month precision) and whether it is ACTUAL."""

    date: str | None
    type: str | None

    @property
    def estimated(self) -> bool:
        return self.type == "ESTIMATED"


@dataclass(frozen=True, slots=True)
class StudyColumns:
    """The extracted, typed fields that listing, filtering and facets need."""

    nct_id: str
    brief_title: str | None
    official_title: str | None
    acronym: str | None
    overall_status: str | None
    phases: tuple[str, ...]
    study_type: str | None
    start: DateField
    primary_completion: DateField
    completion: DateField
    first_posted: DateField
    last_update: DateField
    enrollment: int | None
    enrollment_type: str | None
    sex: str | None
    min_age_days: int | None
    max_age_days: int | None
    healthy_volunteers: bool | None
    conditions: tuple[str, ...]
    keywords: tuple[str, ...]
    mesh_terms: tuple[str, ...]
    interventions: tuple[str, ...]
    countries: tuple[str, ...]
    lead_sponsor: str | None
    lead_sponsor_class: str | None
    has_results: bool
    synthetic: bool


class _Reader:
    """Typed access to nested document fields; a wrong type names the field's path."""

    __slots__ = ("nct_id",)

    def __init__(self, nct_id: str) -> None:
        self.nct_id = nct_id

    def fail(self, path: str, expected: str, value: Any) -> RecordError:
        got = type(value).__name__
        return RecordError(f"{path} must be {expected}, got {got}", self.nct_id)

    def obj(self, parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{path}.{key}", "an object", value)
        return value

    def text(self, parent: dict[str, Any], key: str, path: str) -> str | None:
        value = parent.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.fail(f"{path}.{key}", "a string", value)

    def flag(self, parent: dict[str, Any], key: str, path: str) -> bool | None:
        value = parent.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(f"{path}.{key}", "true or false", value)

    def integer(self, parent: dict[str, Any], key: str, path: str) -> int | None:
        value = parent.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self.fail(f"{path}.{key}", "an integer", value)

    def items(self, parent: dict[str, Any], key: str, path: str) -> list[Any]:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", "a list", value)
        return value

    def strings(self, parent: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        values = self.items(parent, key, path)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{path}.{key}[{index}]", "a string", value)
        return tuple(values)

    def field_of_each(
        self, parent: dict[str, Any], key: str, field: str, path: str
    ) -> Iterable[str]:
        for index, item in enumerate(self.items(parent, key, path)):
            if not isinstance(item, dict):
                raise self.fail(f"{path}.{key}[{index}]", "an object", item)
            value = self.text(item, field, f"{path}.{key}[{index}]")
            if value:
                yield value

    def date(self, parent: dict[str, Any], key: str, path: str) -> DateField:
        struct = self.obj(parent, key, path)
        where = f"{path}.{key}"
        return DateField(self.text(struct, "date", where), self.text(struct, "type", where))


def nct_id_of(document: Any) -> str:
    """The document's NCT id, validated; the error says what is missing or malformed."""
    if not isinstance(document, dict):
        raise RecordError(f"a study must be a JSON object, got {type(document).__name__}")
    protocol = document.get("protocolSection")
    if not isinstance(protocol, dict):
        raise RecordError("missing protocolSection object")
    ident = protocol.get("identificationModule")
    if not isinstance(ident, dict):
        raise RecordError("missing protocolSection.identificationModule object")
    nct_id = ident.get("nctId")
    if nct_id is None:
        raise RecordError("missing NCT id (protocolSection.identificationModule.nctId)")
    if not isinstance(nct_id, str) or not NCT_ID.match(nct_id):
        raise RecordError(f"malformed NCT id {nct_id!r}: expected NCT followed by 8 digits")
    return nct_id


def age_in_days(text: str | None) -> int | None:
    """'18 Years' -> 6574; 'N/A' or None -> None. API v2 ages are '<number> <unit>'."""
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2:
        return None
    try:
        number = float(parts[0])
    except ValueError:
        return None
    unit = parts[1].lower().rstrip("s")
    days = _AGE_UNIT_DAYS.get(unit)
    return None if days is None else round(number * days)


def study_columns(document: dict[str, Any]) -> StudyColumns:
    """Extract the listing/filter columns, type-checking every field it reads."""
    nct_id = nct_id_of(document)
    r = _Reader(nct_id)
    p = "protocolSection"
    protocol = document["protocolSection"]
    ident = r.obj(protocol, "identificationModule", p)
    status = r.obj(protocol, "statusModule", p)
    design = r.obj(protocol, "designModule", p)
    conditions = r.obj(protocol, "conditionsModule", p)
    eligibility = r.obj(protocol, "eligibilityModule", p)
    sponsors = r.obj(protocol, "sponsorCollaboratorsModule", p)
    lead = r.obj(sponsors, "leadSponsor", f"{p}.sponsorCollaboratorsModule")
    arms = r.obj(protocol, "armsInterventionsModule", p)
    locations = r.obj(protocol, "contactsLocationsModule", p)
    enrollment = r.obj(design, "enrollmentInfo", f"{p}.designModule")
    derived = r.obj(document, "derivedSection", "")
    browse = r.obj(derived, "conditionBrowseModule", "derivedSection")
    extension = r.obj(document, EXTENSION_KEY, "")

    sm = f"{p}.statusModule"
    countries = dict.fromkeys(
        r.field_of_each(locations, "locations", "country", f"{p}.contactsLocationsModule")
    )
    has_results = document.get("hasResults", False)
    if not isinstance(has_results, bool):
        raise r.fail("hasResults", "true or false", has_results)
    return StudyColumns(
        nct_id=nct_id,
        brief_title=r.text(ident, "briefTitle", f"{p}.identificationModule"),
        official_title=r.text(ident, "officialTitle", f"{p}.identificationModule"),
        acronym=r.text(ident, "acronym", f"{p}.identificationModule"),
        overall_status=r.text(status, "overallStatus", sm),
        phases=r.strings(design, "phases", f"{p}.designModule"),
        study_type=r.text(design, "studyType", f"{p}.designModule"),
        start=r.date(status, "startDateStruct", sm),
        primary_completion=r.date(status, "primaryCompletionDateStruct", sm),
        completion=r.date(status, "completionDateStruct", sm),
        first_posted=r.date(status, "studyFirstPostDateStruct", sm),
        last_update=r.date(status, "lastUpdatePostDateStruct", sm),
        enrollment=r.integer(enrollment, "count", f"{p}.designModule.enrollmentInfo"),
        enrollment_type=r.text(enrollment, "type", f"{p}.designModule.enrollmentInfo"),
        sex=r.text(eligibility, "sex", f"{p}.eligibilityModule"),
        min_age_days=age_in_days(r.text(eligibility, "minimumAge", f"{p}.eligibilityModule")),
        max_age_days=age_in_days(r.text(eligibility, "maximumAge", f"{p}.eligibilityModule")),
        healthy_volunteers=r.flag(eligibility, "healthyVolunteers", f"{p}.eligibilityModule"),
        conditions=r.strings(conditions, "conditions", f"{p}.conditionsModule"),
        keywords=r.strings(conditions, "keywords", f"{p}.conditionsModule"),
        mesh_terms=tuple(
            r.field_of_each(browse, "meshes", "term", "derivedSection.conditionBrowseModule")
        ),
        interventions=tuple(
            r.field_of_each(arms, "interventions", "name", f"{p}.armsInterventionsModule")
        ),
        countries=tuple(countries),
        lead_sponsor=r.text(lead, "name", f"{p}.sponsorCollaboratorsModule.leadSponsor"),
        lead_sponsor_class=r.text(lead, "class", f"{p}.sponsorCollaboratorsModule.leadSponsor"),
        has_results=has_results,
        synthetic=extension.get(SYNTHETIC) is True,
    )


def _hashable_view(document: dict[str, Any]) -> dict[str, Any]:
    """The document without provenance that changes on every download of the same content."""
    view = document
    extension = document.get(EXTENSION_KEY)
    if isinstance(extension, dict) and SOURCE in extension:
        view = dict(view)
        rest = {k: v for k, v in extension.items() if k != SOURCE}
        if rest:
            view[EXTENSION_KEY] = rest
        else:
            del view[EXTENSION_KEY]
    derived = document.get("derivedSection")
    misc = derived.get("miscInfoModule") if isinstance(derived, dict) else None
    if isinstance(misc, dict) and "versionHolder" in misc:
        view = dict(view)
        misc = {k: v for k, v in misc.items() if k != "versionHolder"}
        view["derivedSection"] = {**derived, "miscInfoModule": misc}
    return view


def content_hash(document: dict[str, Any]) -> str:
    """A hash of what the record says, so re-ingesting identical content stores nothing."""
    canonical = orjson.dumps(_hashable_view(document), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def encode(document: dict[str, Any]) -> bytes:
    """Serialise for storage, refusing oversized documents and fields with a named path."""
    try:
        data = orjson.dumps(document)
    except TypeError as exc:
        raise RecordError(f"not JSON-serialisable: {exc}") from None
    if len(data) > MAX_FIELD_CHARS:  # only then can a single field be over its limit
        oversized = _first_oversized_field(document, "")
        if oversized:
            path, size = oversized
            raise RecordError(
                f"field {path} is {size:,} characters, over the limit of {MAX_FIELD_CHARS:,}"
            )
    if len(data) > MAX_DOCUMENT_BYTES:
        raise RecordError(
            f"document is {len(data):,} bytes, over the limit of {MAX_DOCUMENT_BYTES:,}"
        )
    return data


# A stored document is JSON or, in the SQLite store, a zstd frame of it: 2.5 times smaller,
# so a bulk ingest writes a third fewer bytes (560,000 studies: 9.1 -> 5.9 GB with the text
# index). A frame starts with this magic number, JSON with "{".
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_LEVEL = 1  # level 3: 2% smaller, 30% slower
# A (de)compressor per thread (they are not thread-safe): reusing one halves the time of
# each call (39 instead of 62 us for a study, 17 instead of 37 to read it back).
_codecs = threading.local()


def compress(data: bytes) -> bytes:
    """The zstd frame of encoded JSON (a module-level function, so worker processes get it)."""
    if not hasattr(_codecs, "compressor"):
        _codecs.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return _codecs.compressor.compress(data)


def stored_json(data: bytes) -> bytes:
    """The JSON of a stored document, compressed or not."""
    if not data.startswith(_ZSTD_MAGIC):
        return data
    if not hasattr(_codecs, "decompressor"):
        _codecs.decompressor = zstandard.ZstdDecompressor()
    return _codecs.decompressor.decompress(data)


def decode(data: bytes) -> dict[str, Any]:
    """A stored document, compressed or not, as a dict."""
    return orjson.loads(stored_json(data))


def json_size(data: bytes) -> int:
    """The JSON size in bytes of a stored document, compressed or not (a frame says it)."""
    return zstandard.frame_content_size(data) if data.startswith(_ZSTD_MAGIC) else len(data)


def _first_oversized_field(value: Any, path: str) -> tuple[str, int] | None:
    if isinstance(value, str):
        return (path, len(value)) if len(value) > MAX_FIELD_CHARS else None
    if isinstance(value, dict):
        children: Iterable[tuple[str, Any]] = (
            (f"{path}.{k}" if path else k, v) for k, v in value.items()
        )
    elif isinstance(value, list):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for child_path, child in children:
        found = _first_oversized_field(child, child_path)
        if found:
            return found
    return None
