"""Patient profiles: the documented JSON shape, its validation, and notes read into it.

A profile is what the matcher compares criteria against. Its JSON form is specified by
``profile_schema.json`` (the single source of truth: ``validate`` interprets the subset of
JSON Schema that file uses, so the rules are not written twice), and every error names the
offending field ("labs[1].value: expected a number, got 'high'").

``profile_from_note`` turns a free-text patient description in the style of the TREC
Clinical Trials topics ("A 58-year-old African-American woman presents ...") into a profile
with rules: age and sex, diagnoses and symptoms from the curated and MeSH vocabulary (with
negation, hedging and family history read by ``negation``), labs and vitals with units,
medications, pregnancy, lactation and contraception.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from trialatlas.eligibility import lexicon, units
from trialatlas.eligibility.extract import NUM, analyte_mentions, view
from trialatlas.eligibility.negation import ContextFinder
from trialatlas.eligibility.terms import NEOPLASM_KEY, canonical_token, concept_key, gazetteer


class ProfileError(ValueError):
    """A profile document that does not fit the schema; ``problems`` lists every field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Measured:
    """A lab value, vital sign or score: {name, value, unit}."""

    name: str
    value: float
    unit: str | None = None
    date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class TreatmentRecord:
    name: str
    start: dt.date | None = None
    end: dt.date | None = None
    ongoing: bool | None = None


@dataclass(frozen=True, slots=True)
class Location:
    country: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """One patient. Missing facts are None or empty: the matcher then answers "unknown"."""

    age: float | None = None
    sex: str | None = None
    diagnoses: tuple[str, ...] = ()
    history: tuple[str, ...] = ()  # past medical history: for eligibility, not for retrieval
    absent_conditions: tuple[str, ...] = ()
    labs: tuple[Measured, ...] = ()
    vitals: tuple[Measured, ...] = ()
    scores: tuple[Measured, ...] = ()
    treatments: tuple[TreatmentRecord, ...] = ()
    pregnant: bool | None = None
    lactating: bool | None = None
    contraception: bool | None = None
    in_other_study: bool | None = None
    healthy_volunteer: bool | None = None
    location: Location | None = None
    as_of: dt.date | None = None

    @property
    def conditions(self) -> tuple[str, ...]:
        """Every condition the patient has: the diagnoses, then the past medical history."""
        return self.diagnoses + self.history

    @property
    def measurements(self) -> tuple[Measured, ...]:
        return self.labs + self.vitals + self.scores

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        """Validate a JSON profile (raises ProfileError naming every bad field) and load it."""
        validate(data)
        measured = {
            name: tuple(
                Measured(m["name"], float(m["value"]), m.get("unit"), _date(m.get("date")))
                for m in data.get(name, ())
            )
            for name in ("labs", "vitals", "scores")
        }
        location = data.get("location")
        return cls(
            age=data.get("age"),
            sex=data.get("sex"),
            diagnoses=tuple(data.get("diagnoses", ())),
            history=tuple(data.get("history", ())),
            absent_conditions=tuple(data.get("absent_conditions", ())),
            treatments=tuple(
                TreatmentRecord(
                    t["name"], _date(t.get("start")), _date(t.get("end")), t.get("ongoing")
                )
                for t in data.get("treatments", ())
            ),
            pregnant=data.get("pregnant"),
            lactating=data.get("lactating"),
            contraception=data.get("contraception"),
            in_other_study=data.get("in_other_study"),
            healthy_volunteer=data.get("healthy_volunteer"),
            location=Location(**location) if location else None,
            as_of=_date(data.get("as_of")),
            **measured,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (only the facts that are known)."""

        def clean(value: Any) -> Any:
            if isinstance(value, dt.date):
                return value.isoformat()
            if isinstance(value, tuple):
                return [clean(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                return {
                    k: clean(getattr(value, k))
                    for k in value.__dataclass_fields__
                    if getattr(value, k) is not None
                }
            return value

        out = clean(self)
        return {k: v for k, v in out.items() if v not in ((), [], None)}


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


# --- validation against profile_schema.json ------------------------------------------------


@functools.cache
def schema() -> dict[str, Any]:
    """The profile JSON Schema shipped with the package."""
    text = resources.files("trialatlas.eligibility").joinpath("profile_schema.json").read_text()
    return json.loads(text)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, expected: str) -> bool:
    if expected in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[expected])


def _check(value: Any, rule: dict[str, Any], path: str, problems: list[str]) -> None:
    """The JSON Schema keywords profile_schema.json uses, applied to one value."""
    if "$ref" in rule:
        rule = schema()["$defs"][rule["$ref"].rsplit("/", 1)[-1]]
    where = path or "profile"
    if "enum" in rule and value not in rule["enum"]:
        allowed = ", ".join(map(str, rule["enum"]))
        problems.append(f"{where}: must be one of {allowed}, got {value!r}")
        return
    expected = rule.get("type")
    if expected:
        types = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in types):
            problems.append(f"{where}: expected {' or '.join(types)}, got {value!r}")
            return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in rule and value < rule["minimum"]:
            problems.append(f"{where}: must be at least {rule['minimum']}, got {value}")
        if "maximum" in rule and value > rule["maximum"]:
            problems.append(f"{where}: must be at most {rule['maximum']}, got {value}")
    if isinstance(value, str):
        if len(value) < rule.get("minLength", 0):
            problems.append(f"{where}: must not be empty")
        if rule.get("format") == "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                problems.append(f"{where}: expected a date YYYY-MM-DD, got {value!r}")
    if isinstance(value, list) and "items" in rule:
        for n, item in enumerate(value):
            _check(item, rule["items"], f"{path}[{n}]", problems)
    if isinstance(value, dict):
        properties = rule.get("properties", {})
        for name in rule.get("required", ()):
            if name not in value:
                problems.append(f"{path + '.' if path else ''}{name}: required")
        for name, item in value.items():
            sub = f"{path}.{name}" if path else name
            if name in properties:
                _check(item, properties[name], sub, problems)
            elif rule.get("additionalProperties") is False:
                known = ", ".join(properties)
                problems.append(f"{sub}: unknown field (known: {known})")


def validate(data: Any) -> None:
    """Raise ProfileError listing every field of ``data`` that breaks the schema."""
    problems: list[str] = []
    _check(data, schema(), "", problems)
    if problems:
        raise ProfileError(problems)


# --- reading a patient note ----------------------------------------------------------------

_AGE_IN_NOTE: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"\b(?P<n>\d{1,3})\s*[- ]?\s*(?P<u>years?|yrs?|months?|mos?|weeks?|wks?|days?)"
        r"\s*[- ]?\s*old\b",
        re.I,
    ),
    re.compile(r"\b(?P<n>\d{1,3})\s*(?:yo|y/o|y\.o\.|yr old)(?![a-z])", re.I),
    re.compile(
        r"\b(?P<n>\d{1,3})\s*[- ]?(?P<u>years?|yrs?)\s+(?=(?:old\s+)?(?:[a-z-]+\s+)?(?:man|woman"
        r"|male|female|boy|girl|gentleman|lady|patient)\b)",
        re.I,
    ),
    re.compile(r"\b(?P<n>\d{1,3})\s?(?=[MF]\b)"),
    re.compile(r"\b(?:aged?|age of)\s+(?P<n>\d{1,3})\b", re.I),
)
_AGE_UNIT_YEARS = {"y": 1.0, "m": 1 / 12, "w": 7 / 365.25, "d": 1 / 365.25}
_SEX_WORDS = re.compile(
    r"\b(?P<f>woman|female|girl|lady)\b|\b(?P<m>man|male|boy|gentleman)\b|"
    r"(?<=\d)\s?(?:yo\s*|y/o\s*)?(?:(?P<F>F)|(?P<M>M))\b",
    re.I,
)
_PRONOUNS = re.compile(r"\b(?P<f>she|her|hers|herself)\b|\b(?P<m>he|his|him|himself)\b", re.I)

_CUE_PHRASE = re.compile(
    r"\b(?:diagnosed with|diagnosis of|history of|known case of|h/o|hx of|suffers? from|"
    r"suffering from)\s+(?:(?:a|an|the|his|her)\s+)?(?P<phrase>[a-z0-9'-]+(?: [a-z0-9'-]+){0,5})",
    re.I,
)
# Where a cue phrase ("history of X ...") stops: verbs, function words, time.
_PHRASE_STOP = frozenset(
    [
        "and",
        "or",
        "but",
        "who",
        "which",
        "that",
        "with",
        "presents",
        "presented",
        "presenting",
        "complicated",
        "s/p",
        "since",
        "for",
        "on",
        "in",
        "at",
        "to",
        "was",
        "were",
        "is",
        "are",
        "comes",
        "came",
        "when",
        "a",
        "an",
        "the",
        "year",
        "years",
        "ago",
        "confirmed",
        "diagnosed",
        "treated",
        "who",
        "his",
        "her",
        "he",
        "she",
        "after",
        "before",
        "during",
        "receive",
        "received",
        "receives",
        "has",
        "had",
        "have",
        "develop",
        "developed",
        "developing",
        "reports",
        "reported",
        "complains",
        "complained",
        "denies",
        "noted",
        "notes",
        "shows",
        "showed",
        "revealed",
        "of",
        "by",
        "from",
    ]
)
_CONDITION_WORD = re.compile(
    r"(?:disease|disorder|syndrome|cancer|carcinoma|tumou?r|infection|failure|itis|oma|osis"
    r"|pathy|emia|aemia|ia|ism)$",
    re.I,
)
# Generic heads a note qualifies on their left: "cervical cancer", "C diff infection".
_EXTENDABLE = frozenset(
    [
        "neoplasm",
        "infection",
        "disease",
        "failure",
        "syndrome",
        "pain",
        "effusion",
        "ulcer",
        "fracture",
    ]
)
_ADJECTIVE = re.compile(r"(?:ive|al|ic|ous|ary|oid|ile|ant|ent)$|^infiltrating$", re.I)
# A sentence about someone else ("Her husband was recently diagnosed with colon cancer"):
# the relative is its subject, so the scope runs past "with", where NegEx-style family
# triggers stop.
_SOMEONE_ELSE = re.compile(
    r"^\W*(?:her|his|their|the patient's|patient's)\s+(?:husband|wife|spouse|partner|"
    r"boyfriend|girlfriend|mother|father|parents?|sister|brother|siblings?|son|daughter|"
    r"child|children|kids?|grand\w+|aunt|uncle|cousin|niece|nephew|friend|roommate|"
    r"co-?workers?|colleagues?)\b(?![^.;]*\b(?:she|he)\b)",
    re.I,
)
_MEDICATION_CUE = re.compile(
    r"\b(?:on|takes?|taking|took|received|receives|receiving|treated with|started|given|"
    r"prescribed|using|uses|used|therapy|dose|doses|mg|regimen|course of)\b[^.;]{0,40}$",
    re.I,
)
# A treatment the note only plans or offers ("came to have her flu shot", "is offered
# levodopa", "a candidate for resection prior to chemotherapy") has not been received.
_PLANNED = re.compile(
    r"\b(?:offered|candidate for|(?:came|comes|here|presents?) (?:in )?(?:to|for)|to (?:have|get|"
    r"receive|start|begin|undergo)|will (?:be )?(?:receive|start|begin|undergo|given|started)|"
    r"scheduled|planned|plan(?:s|ning)? (?:to|for)|recommended|referred for|prior to|"
    r"considering|consider)\b[^.;]*$",
    re.I,
)
# Whether a drug is taken now: the nearest cue before it in its sentence decides
# ("initially treated with melphalan" is past, "started on lactulose" is now), and a later
# "... which were held" stops it.
_USE_CUE = re.compile(
    r"\b(?:(?P<now>is on|are on|currently|presently|takes|taking|uses|using|is treating|"
    r"is being treated|started on|maintained on|continues|medications? (?:include|includes|are)"
    r")|(?P<past>initially|previously|prior|formerly|used to|history of|h/o|s/p|status post|"
    r"completed|received|failed|had been|underwent|included|discontinued|stopped|was|were|"
    r"in the past))\b",
    re.I,
)
# Procedures the patient has had ("underwent transsphenoidal surgery", "s/p CABG").
_PROCEDURE = re.compile(
    r"\b(?:underwent|undergone|s/p|status post|had (?:an? )?|history of|h/o)\s+"
    r"(?:an?\s+|the\s+|his\s+|her\s+)?(?P<p>(?:[a-z-]+\s+){0,3}?(?:surgery|resection|[a-z]*ectomy|"
    r"[a-z]*otomy|[a-z]*plasty|transplant\w*|bypass|cabg|repair|ligation|stent\w*|ablation|"
    r"amputation))\b",
    re.I,
)
_STOPPED_AFTER = re.compile(r"^[^.;]*\b(?:held|stopped|discontinued|withdrawn)\b", re.I)
_NOTE_VALUE = re.compile(
    rf"(?P<fill>(?:\s|[:=(]|\b(?:of|was|were|is|are|at|levels?|counts?|values?|measured|"
    rf"approximately|around|about|showed|shows|revealed|reveals|result|calculated as)\b)*)"
    rf"(?P<v>{NUM})(?:\s*(?P<u>{units.UNIT_PATTERN}))?",
    re.I,
)
# Scales written as classes: "Hoehn-Yahr Stage I", "NYHA class III".
_NOTE_CLASS = re.compile(r"\s*(?:stage|class|grade)?\s*(?P<c>iv|v|iii|ii|i)\b")
_ROMAN = {"i": 1.0, "ii": 2.0, "iii": 3.0, "iv": 4.0, "v": 5.0}
_RESPECTIVELY = re.compile(
    rf"(?P<fill>[^\d.;]{{0,30}}?)(?P<vals>{NUM}(?:\s*(?:,|and)\s*{NUM})+)\s*"
    rf"(?P<u>{units.UNIT_PATTERN})?\s*,?\s*(?:\([^)]*\)\s*)?(?:respectively|resp\b)",
    re.I,
)
_BLOOD_PRESSURE = re.compile(
    r"\b(?:blood pressure|bp|hypotensive|hypertensive)\b[^0-9;.]{0,20}?"
    r"(?P<s>\d{2,3})\s*/\s*(?P<d>\d{2,3})",
    re.I,
)
# Notes state findings as adjectives, often with the value: "febrile (38.4°C), tachycardic
# (113/min) and hypotensive (80/40 mmHg)". Each names a condition, and maybe a vital sign.
_FINDING_WORDS = {
    "febrile": ("fever", "temperature"),
    "pyrexic": ("fever", "temperature"),
    "tachycardic": ("tachycardia", "heart_rate"),
    "bradycardic": ("bradycardia", "heart_rate"),
    "hypotensive": ("hypotension", None),  # the value is a blood pressure (_BLOOD_PRESSURE)
    "hypertensive": ("hypertension", None),
    "hypoxic": ("hypoxia", "oxygen_saturation"),
    "tachypneic": ("tachypnea", None),
    "jaundiced": ("jaundice", None),
    "obese": ("obesity", None),
    "septic": ("sepsis", None),
}
_FINDING = re.compile(
    rf"(?<![\w-])(?P<word>{'|'.join(_FINDING_WORDS)})\b"
    rf"(?:\s*(?:\(|with|at|of|to)\s*(?P<v>{NUM})\s*(?P<u>{units.UNIT_PATTERN})?)?",
    re.I,
)
# ... or as phrases that describe the condition without naming it.
_FINDING_PHRASES = (
    (
        re.compile(
            r"\bdepressed mood\b|\bmood\b[^.;]{0,25}?\bdepressed\b|\bfeelings? of sadness\b",
            re.I,
        ),
        "depression",
    ),
)
# A lesion said with its site after it: "severe stenosis in the left internal carotid
# artery" is internal carotid artery stenosis.
_SITE_LESION = re.compile(
    r"\b(?P<lesion>stenosis|occlusion|thrombosis|aneurysm|dissection|regurgitation)\s+"
    r"(?:of|in)\s+(?:the\s+)?(?:(?:left|right|bilateral|proximal|distal)\s+)?"
    r"(?P<site>(?:[a-z]+\s+){0,2}?(?:arter(?:y|ies)|valve|veins?|aorta))\b",
    re.I,
)
_PREGNANT = re.compile(
    r"\b(?:is|currently|now|she is)\s+(?:\d+\s*(?:weeks?|months?)\s+)?pregnant\b|"
    r"\bpregnant (?:woman|women|patient|female|lady)\b|\bG\d+\s*P\d+\b[^.]{0,40}?"
    r"(?:\d+\s*(?:\+\s*\d+\s*)?(?:weeks?|w)\b|\d+w\d+d)|\b\d+\s*(?:\+\s*\d+\s*)?(?:weeks?|w)"
    r"\s*(?:\d+\s*d\s*)?(?:of\s+)?gestation(?:al)?(?: age)?\b(?! at birth)",
    re.I,
)
# "G1P1 at 32+ 6 weeks of gestational age", "24W3D gestational", "born at 34w of gestation".
_GESTATIONAL_AGE = re.compile(
    r"\b(?P<w>\d{2})\s*(?:\+\s*(?P<d>\d)\s*)?(?:weeks?|wks?|w)\s*(?:(?P<d2>\d)\s*d(?:ays?)?\s*)?"
    r"(?:of\s+)?gestation",
    re.I,
)
_NOT_PREGNANT = re.compile(r"\bpost-?menopausal\b|\bnot pregnant\b", re.I)
_LACTATING = re.compile(
    r"\b(?:is|currently|she is)\s+(?:breast[- ]?feeding|lactating|nursing)\b", re.I
)
_CONTRACEPTION = re.compile(
    r"\bcontracept\w*|\bbirth control\b|\bIUD\b|\bcondoms?\b|\bbarrier methods?\b", re.I
)
_HEALTHY = re.compile(
    r"\bhealthy (?:man|woman|male|female|volunteer|person|adult)\b|\bno underlying "
    r"(?:disease|condition|medical)|\b\d+[- ]year[- ]old healthy\b",
    re.I,
)
_OTHER_STUDY = re.compile(
    r"\b(?:enrolled|participating|taking part) in (?:another|a) (?:clinical )?(?:trial|study)\b",
    re.I,
)


def _note_age(text: str) -> float | None:
    found = []
    for pattern in _AGE_IN_NOTE:
        m = pattern.search(text)
        if m:
            unit = (m.groupdict().get("u") or "y").lower()
            found.append((m.start(), float(m.group("n")) * _AGE_UNIT_YEARS[unit[0]]))
    return round(min(found)[1], 3) if found else None


def _note_sex(text: str) -> str | None:
    """The first sex word near the age, else the pronouns (she/her vs he/his) that dominate."""
    for m in _SEX_WORDS.finditer(text):
        if m.group("f") or m.group("F"):
            return "female"
        if m.group("m") or m.group("M"):
            return "male"
    female = sum(1 for m in _PRONOUNS.finditer(text) if m.group("f"))
    male = sum(1 for m in _PRONOUNS.finditer(text) if m.group("m"))
    if female != male:
        return "female" if female > male else "male"
    return None


# Passages about something other than what the patient seeks a trial for: the past medical
# history ("PMH of PCOS, obesity, HTN", "His medical history was significant for
# hypertension") and the family history. A plain "history of X" is not one: notes name the
# disease at hand that way ("a 5 yr history of systemic mastocytosis").
_HISTORY_CUE = re.compile(
    r"\b(?:(?:past )?medical history|pmh|past history|family history|"
    r"history (?:was |is )?(?:significant|remarkable|notable) for)\b",
    re.I,
)
# Where such a passage ends: with its clause ("... HTN who presented with"), or for a heading
# ("Past Medical History: 1. CAD 2. ..."), at the next heading.
_HISTORY_END = re.compile(
    r"[.;]\s|\b(?:who|which|but|presents?|presented|presenting|complain\w*|came|comes|"
    r"admitted|brought|referred)\b",
    re.I,
)
_HEADING = re.compile(r"\b[A-Z][A-Za-z ]{2,30}:")


def history_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each past-medical-history or family-history passage of a note."""
    spans = []
    for m in _HISTORY_CUE.finditer(text):
        heading = text[m.end() :].lstrip().startswith(":")
        end = (_HEADING if heading else _HISTORY_END).search(text, m.end() + heading)
        spans.append((m.start(), end.start() if end else len(text)))
    return spans


def note_focus(text: str) -> str:
    """The note without its past-medical-history and family-history passages: the words a
    search for the patient's trials should use (searching the comorbidities finds trials on
    them instead)."""
    kept, position = [], 0
    for start, end in history_spans(text):
        if start >= position:
            kept.append(text[position:start])
            position = end
    kept.append(text[position:])
    return " ".join(kept)


def _cue_phrase(m: re.Match[str]) -> tuple[int, int] | None:
    """The condition named after "history of", cut at the first verb or function word."""
    words = m.group("phrase").split(" ")
    kept = []
    for word in words:
        if word.lower() in _PHRASE_STOP:
            break
        kept.append(word)
    if not any(_CONDITION_WORD.search(word) for word in kept):
        return None
    start = m.start("phrase")
    return start, start + len(" ".join(kept))


def _extend_left(text: str, start: int, end: int, generic: bool) -> int:
    """Take up to three words before a hit: any plain word before a generic head ("cervical"
    + "cancer"), only adjectives before a specific one ("obstructive" + "pancreatitis")."""
    words = list(re.finditer(r"[A-Za-z][A-Za-z'-]*", text[max(0, start - 40) : start]))
    offset = max(0, start - 40)
    new_start = start
    for word in reversed(words[-3:]):
        if word.group().lower() in _PHRASE_STOP or not (generic or _ADJECTIVE.search(word.group())):
            break
        if text[offset + word.end() : new_start].strip():
            break
        new_start = offset + word.start()
    return new_start


def _note_conditions(text: str, finder: ContextFinder) -> tuple[list[str], list[str], list[str]]:
    """(diagnoses, history, absent conditions): vocabulary hits and "history of X" phrases in
    context. A condition named only in the past medical history goes to history."""
    history = history_spans(text)
    spans: list[tuple[int, int]] = []
    for hit in gazetteer().find(text):
        if hit.kind == "condition":
            generic = concept_key(hit.term) <= {canonical_token(w) for w in _EXTENDABLE}
            spans.append((_extend_left(text, hit.start, hit.end, generic), hit.end))
    for m in _CUE_PHRASE.finditer(text):
        span = _cue_phrase(m)
        if span and not any(s <= span[0] < e for s, e in spans):
            spans.append(span)
    present: dict[frozenset[str], str] = {}
    absent: dict[frozenset[str], str] = {}
    focus: set[frozenset[str]] = set()  # named outside the history passages too
    generic: list[str] = []

    def found(key: frozenset[str], surface: str, start: int, negated: bool) -> None:
        (absent if negated else present).setdefault(key, surface)
        if not negated and not any(s <= start < e for s, e in history):
            focus.add(key)

    for start, end in sorted(spans):
        surface = text[start:end]
        key = concept_key(surface)
        ctx = finder.context(start, end)
        if not key or ctx.family or ctx.hedged or _about_someone_else(text, start):
            continue
        # "The tumor is located in the T-L spine" after "anaplastic astrocytoma", "a candidate for
        # tumor resection" after "ductal breast carcinoma": a generic tumour word is the tumour the
        # note names, not a second diagnosis (which would match every cancer trial).
        if key == NEOPLASM_KEY and not ctx.negated:
            generic.append(surface)
            continue
        found(key, surface, start, ctx.negated)
    if generic and not any(_names_neoplasm(key) for key in present):
        present.setdefault(NEOPLASM_KEY, generic[0])  # no other name for it in the note
        focus.add(NEOPLASM_KEY)
    findings = [(m, _FINDING_WORDS[m.group("word").lower()][0]) for m in _FINDING.finditer(text)]
    findings += [(m, name) for pattern, name in _FINDING_PHRASES for m in pattern.finditer(text)]
    findings += [(m, f"{m['site']} {m['lesion']}".lower()) for m in _SITE_LESION.finditer(text)]
    for m, name in findings:
        ctx = finder.context(m.start(), m.end())
        if not (ctx.family or ctx.hedged):
            found(concept_key(name), name, m.start(), ctx.negated)
    # "no pain" beside "severe bone pain": the note contradicts itself; the finding wins
    return (
        [v for k, v in present.items() if k in focus],
        [v for k, v in present.items() if k not in focus],
        [v for k, v in absent.items() if not any(k <= p for p in present)],
    )


def _about_someone_else(text: str, start: int) -> bool:
    """Whether the sentence holding ``start`` is about a relative or another person."""
    sentence = max(text.rfind(".", 0, start), text.rfind(";", 0, start), -1) + 1
    return bool(_SOMEONE_ELSE.search(text[sentence:start]))


def _names_neoplasm(key: frozenset[str]) -> bool:
    """A specific neoplasm: "ductal breast carcinoma" (folded to neoplasm), "astrocytoma"."""
    return key > NEOPLASM_KEY or any(token.endswith(("oma", "leukemia")) for token in key)


def _note_measurements(text: str) -> dict[str, list[Measured]]:
    """Labs, vitals and scores written as "name [of|:|was] value [unit]"."""
    low = view(text)
    out: dict[str, list[Measured]] = {"lab": [], "vital": [], "score": []}
    seen: set[str] = set()

    def add(category: str, name: str, value: float, unit: str | None) -> None:
        if name not in seen:
            seen.add(name)
            out[category].append(Measured(name, value, unit))

    for m in _GESTATIONAL_AGE.finditer(text):
        days = int(m.group("d") or m.group("d2") or 0)
        add("vital", "gestational_age", round(int(m.group("w")) + days / 7, 2), None)
    for m in _BLOOD_PRESSURE.finditer(text):
        add("vital", "systolic_bp", float(m.group("s")), "mmHg")
        add("vital", "diastolic_bp", float(m.group("d")), "mmHg")
    for m in _FINDING.finditer(text):
        analyte = lexicon.ANALYTE_BY_NAME.get(_FINDING_WORDS[m.group("word").lower()][1] or "")
        if analyte is not None and m.group("v"):
            unit = (
                units.for_analyte(units.unit_key(m.group("u")), analyte.unit)
                if m.group("u")
                else None
            )
            add(analyte.category, analyte.name, float(m.group("v").replace(",", ".")), unit)
    mentions = analyte_mentions(low)
    for n, mention in enumerate(mentions):
        stop = mentions[n + 1].start if n + 1 < len(mentions) else len(low)
        analyte = mention.analyte
        together = [mention]
        while n + len(together) < len(mentions) and re.fullmatch(
            r"\s*(?:,|and)\s*", low[together[-1].end : mentions[n + len(together)].start]
        ):
            together.append(mentions[n + len(together)])
        if len(together) > 1:
            after = together[-1].end
            stop = (
                mentions[n + len(together)].start if n + len(together) < len(mentions) else len(low)
            )
            r = _RESPECTIVELY.match(low, after, min(stop, after + 120))
            if r:
                values = re.findall(NUM, r.group("vals"))
                for each, value in zip(together, values, strict=False):
                    unit = units.unit_key(r.group("u")) if r.group("u") else None
                    add(
                        each.analyte.category,
                        each.analyte.name,
                        float(value.replace(",", "")),
                        unit,
                    )
                continue
        m = _NOTE_VALUE.match(low, mention.end, min(stop, mention.end + 40))
        if m is None and analyte.classes:
            c = _NOTE_CLASS.match(low, mention.end, min(stop, mention.end + 40))
            if c:
                add(analyte.category, analyte.name, _ROMAN[c.group("c")], None)
            continue
        if m is None or len(m.group("fill")) > 25:
            continue
        raw = m.group("v")
        value = (
            float(raw.replace(",", ""))
            if re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw)
            else float(raw.replace(",", "."))
        )
        unit = (
            units.for_analyte(units.unit_key(m.group("u")), analyte.unit) if m.group("u") else None
        )
        add(analyte.category, analyte.name, value, unit)
    return out


def _note_treatments(text: str, finder: ContextFinder) -> list[TreatmentRecord]:
    """Curated drug names anywhere; MeSH intervention terms only after a medication cue."""
    found: dict[frozenset[str], TreatmentRecord] = {}
    for hit in gazetteer().find(text):
        if hit.kind != "treatment":
            continue
        if not hit.curated and not _MEDICATION_CUE.search(text[max(0, hit.start - 50) : hit.start]):
            continue
        ctx = finder.context(hit.start, hit.end)
        key = concept_key(text[hit.start : hit.end])
        planned = _PLANNED.search(text, max(0, hit.start - 80), hit.start)
        if key and not (ctx.negated or ctx.family or planned):
            ongoing = _ongoing(text, hit.start, hit.end)
            found.setdefault(key, TreatmentRecord(text[hit.start : hit.end], ongoing=ongoing))
    for m in _PROCEDURE.finditer(text):
        key = concept_key(m.group("p"))
        if key and not finder.context(*m.span("p")).negated:
            found.setdefault(key, TreatmentRecord(m.group("p"), ongoing=False))
    return list(found.values())


def _ongoing(text: str, start: int, end: int) -> bool | None:
    """True if the note says the drug is taken now, False if only in the past, else None."""
    sentence_start = max(text.rfind(".", 0, start), text.rfind("\n", 0, start)) + 1
    cues = list(_USE_CUE.finditer(text, sentence_start, start))
    if _STOPPED_AFTER.search(text[end:]):
        return False
    if not cues:
        return None
    return cues[-1].group("now") is not None


def _flag(pattern: re.Pattern[str], text: str, finder: ContextFinder) -> bool | None:
    """True if the pattern is stated, False if stated negated, None if never mentioned."""
    values = [not finder.context(*m.span()).negated for m in pattern.finditer(text)]
    if not values:
        return None
    return any(values)


METASTASIS_KEY = frozenset({"metastasis"})


def _with_spread(diagnoses: list[str]) -> list[str]:
    """Metastases the note finds on their own ("CXR was remarkable for metastatic lesions",
    "liver metastases") are its cancer's spread: the first cancer becomes a metastatic one,
    which is what criteria ask about ("metastatic breast cancer", "no distant metastases")."""
    spread = [d for d in diagnoses if concept_key(d) == METASTASIS_KEY]
    cancers = [d for d in diagnoses if _names_neoplasm(concept_key(d))]
    if not spread or not cancers:
        return diagnoses
    first = cancers[0]
    spreading = first if "metasta" in first.lower() else f"metastatic {first}"
    return [spreading if d == first else d for d in diagnoses if d not in spread]


def profile_from_note(text: str) -> Profile:
    """A profile from a free-text patient description (TREC Clinical Trials topic style)."""
    finder = ContextFinder(text)
    age = _note_age(text)
    sex = _note_sex(text)
    diagnoses, history, absent = _note_conditions(text, finder)
    diagnoses = _with_spread(diagnoses)
    measured = _note_measurements(text)
    adult_woman = sex != "male" and (age is None or age >= 10)
    pregnant: bool | None = None
    if adult_woman and _PREGNANT.search(text):
        pregnant = True
    elif sex == "female" and _NOT_PREGNANT.search(text):
        pregnant = False
    lactating = True if adult_woman and _LACTATING.search(text) else None
    healthy = True if _HEALTHY.search(text) and not (diagnoses or history) else None
    return Profile(
        age=age,
        sex=sex,
        diagnoses=tuple(diagnoses),
        history=tuple(history),
        absent_conditions=tuple(absent),
        labs=tuple(measured["lab"]),
        vitals=tuple(measured["vital"]),
        scores=tuple(measured["score"]),
        treatments=tuple(_note_treatments(text, finder)),
        pregnant=pregnant,
        lactating=lactating,
        contraception=_flag(_CONTRACEPTION, text, finder),
        in_other_study=True if _OTHER_STUDY.search(text) else None,
        healthy_volunteer=healthy,
    )
