"""The matching API: a patient's ranked trials, and a trial's parsed criteria.

- ``POST /api/match`` with ``{"profile": {...}}`` (docs/eligibility.md) or ``{"note": "..."}``
  or both (the note's words then help find trials), plus ``limit`` (1..100, default 20) and
  ``anyStatus`` (default false: open trials on the patient's conditions first) → the ranked
  list, each trial ``{nctId, verdict, score, criteria: [...], ...}`` as
  `RankedTrial.to_json` writes it.
- ``POST /api/profile`` with ``{"note": "..."}`` (or ``{"profile": {...}}``) → ``{profile,
  derivedConditions: [{condition, evidence}]}``: what the note reader understood, to check
  and edit before matching.
- ``GET /api/v2/studies/{nctId}/criteria`` → the trial's inclusion and exclusion items, each
  with its exact text, position and extracted constraints (`trial_criteria`).

Bad input answers 400 with a plain-text message naming the field (``profile.age: ...``), as
the rest of the API does; an unknown trial answers 404.

The same matching on the site, server-rendered and without JavaScript:

- ``GET /match``: the profile form (age, sex, diagnoses, labs with units, pregnancy, place, a
  free-text note, any status, how many); submitted, the ranked trials with their verdicts,
  scores and every criterion's status, evidence and rule.
- ``GET /study/{nctId}/eligibility``: the detail page's "Check eligibility" panel submits
  here: one trial checked for the patient, criterion by criterion.

Bad form input renders the form again with status 400 and the field named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException

from trialatlas.eligibility.derived import derived_conditions, measurement_text
from trialatlas.eligibility.match import Status, Verdict
from trialatlas.eligibility.profile import Profile, ProfileError, profile_from_note
from trialatlas.eligibility.rank import DEFAULT_LIMIT, check_trial, rank_trials, trial_criteria
from trialatlas.records.detail import STATUS_LABELS, build_detail, enum_label
from trialatlas.records.document import NCT_ID
from trialatlas.search.params import normalize_nct_id
from trialatlas.search.query import QueryError
from trialatlas.web.app import store_of
from trialatlas.web.views.render import render

MAX_LIMIT = 100
_BODY_FIELDS = {
    "profile": "a patient profile (docs/eligibility.md)",
    "note": "a free-text patient description",
    "limit": f"1..{MAX_LIMIT}, default {DEFAULT_LIMIT}",
    "anyStatus": "true: do not put open trials on the patient's conditions first",
}


class BadInput(ValueError):
    """Input the endpoint refuses; every problem names its field."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _bad(message: str) -> Response:
    return PlainTextResponse(message, status_code=400)


def _json_object(body: bytes) -> dict[str, Any]:
    """A POST body's JSON object; raises BadInput."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"body: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput("body: expected a JSON object with profile or note")
    return data


def _patient(data: dict[str, Any]) -> tuple[Profile, str | None]:
    """The body's profile (checked against the schema), else the one its note gives, and the
    note; raises BadInput naming the field."""
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise BadInput("note: expected a non-empty string")
    if "profile" in data:
        try:
            return Profile.from_dict(data["profile"]), note
        except ProfileError as exc:
            raise BadInput(*(_within_profile(p) for p in exc.problems)) from None
    if note is None:
        raise BadInput("profile: give a profile or a note")
    return profile_from_note(note), note


def _request(body: bytes) -> tuple[Profile, str | None, int, bool]:
    """(profile, note, limit, anyStatus) from a POST body; raises BadInput."""
    data = _json_object(body)
    unknown = [name for name in data if name not in _BODY_FIELDS]
    if unknown:
        raise BadInput(
            *(f"{name}: unknown field (known: {', '.join(_BODY_FIELDS)})" for name in unknown)
        )
    limit = data.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit: expected a whole number 1..{MAX_LIMIT}, got {limit!r}")
    any_status = data.get("anyStatus", False)
    if not isinstance(any_status, bool):
        raise BadInput(f"anyStatus: expected true or false, got {any_status!r}")
    profile, note = _patient(data)
    return profile, note, limit, any_status


def _within_profile(problem: str) -> str:
    """ "age: ..." -> "profile.age: ..." (a problem of the whole profile stays "profile: ...")."""
    return problem if problem.startswith("profile") else f"profile.{problem}"


async def match(request: Request) -> Response:
    """POST /api/match: the store's trials ranked for one patient, every criterion explained."""
    try:
        profile, note, limit, any_status = _request(await request.body())
    except BadInput as exc:
        return _bad(str(exc))

    def ranked() -> list[dict[str, Any]]:
        trials = rank_trials(store_of(request), profile, limit, any_status, note=note)
        return [trial.to_json() for trial in trials]

    try:
        return _json(await run_in_threadpool(ranked))
    except ProfileError as exc:
        return _bad("\n".join(_within_profile(p) for p in exc.problems))


async def read_profile(request: Request) -> Response:
    """POST /api/profile: the profile a note gives (or a profile checked against the schema),
    with the conditions its measurements define, to check and edit before matching."""
    try:
        data = _json_object(await request.body())
        if len(data) != 1 or not data.keys() <= {"note", "profile"}:
            raise BadInput("body: expected a JSON object with one field, note or profile")
        profile, _ = _patient(data)
    except BadInput as exc:
        return _bad(str(exc))
    derived = [
        {"condition": d.condition, "evidence": d.evidence} for d in derived_conditions(profile)
    ]
    return _json({"profile": profile.to_dict(), "derivedConditions": derived})


def criteria(nct_id: str, request: Request) -> Response:
    """GET /api/v2/studies/{nctId}/criteria: the parsed inclusion and exclusion criteria."""
    unknown = next(iter(request.query_params), None)
    if unknown is not None:
        return _bad(f"{unknown}: unknown parameter (this endpoint takes none)")
    try:
        nct_id = normalize_nct_id(nct_id, "nctId")
    except QueryError as exc:
        return _bad(f"{exc.param}: {exc.message}")
    parsed = trial_criteria(store_of(request), nct_id)
    if parsed is None:
        return PlainTextResponse(f"Study {nct_id} not found", status_code=404)
    return _json(parsed)


# --- the pages: /match and /study/{nctId}/eligibility ---------------------------------------

NOTE_MAX_CHARS = 4000  # a TREC note is at most 1,300; the whole query stays a shareable URL
PAGE_LIMITS = (10, 20, 50)
_FORM_FIELDS = (
    "age", "sex", "diagnoses", "history", "labs", "pregnant", "city", "country", "note",
    "any_status", "limit",
)  # fmt: skip
_LIST_SPLIT = re.compile(r"[\n;,]")
_LAB_LINE = re.compile(
    r"^(?P<name>.*?[^\W\d_].*?)\s*[:=]?\s+(?P<value>[-+]?\d[\d,]*(?:\.\d+)?)\s*(?P<unit>\S.*)?$"
)
_PREGNANCY = {"": None, "yes": True, "no": False}
VERDICT_LABELS = {
    Verdict.LIKELY_ELIGIBLE: "Likely eligible",
    Verdict.LIKELY_EXCLUDED: "Likely excluded",
    Verdict.NEEDS_REVIEW: "Needs review",
}
STATUS_WORDS = {Status.MET: "Met", Status.NOT_MET: "Not met", Status.UNKNOWN: "Unknown"}


@dataclass(frozen=True, slots=True)
class PatientForm:
    """The profile form as submitted: the text of every field (to refill the form), the
    problems by field name, and what the fields mean once read."""

    values: dict[str, str]
    errors: dict[str, str]
    profile: Profile | None = None
    note: str | None = None
    any_status: bool = False
    limit: int = DEFAULT_LIMIT

    @property
    def submitted(self) -> bool:
        return any(value.strip() for value in self.values.values())


def _items(text: str) -> list[str]:
    """Conditions one per line, or separated by commas or semicolons."""
    return [item.strip() for item in _LIST_SPLIT.split(text) if item.strip()]


def _labs(text: str) -> list[dict[str, Any]]:
    """'lymphocytes 500 /mm3' per line (or ';'-separated) -> profile lab objects."""
    labs = []
    for line in (part.strip() for part in re.split(r"[\n;]", text)):
        if not line:
            continue
        found = _LAB_LINE.match(line)
        if found is None:
            raise BadInput(f"labs: “{line}” is not “name value unit” (e.g. lymphocytes 500 /mm3)")
        lab: dict[str, Any] = {
            "name": found["name"].strip(),
            "value": float(found["value"].replace(",", "")),
        }
        if found["unit"]:
            lab["unit"] = found["unit"].strip()
        labs.append(lab)
    return labs


def _number(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{name}: expected a number, got “{text}”") from None
    if not math.isfinite(value):
        raise BadInput(f"{name}: expected a number, got “{text}”")
    return value


def _pregnancy(text: str) -> bool | None:
    if text not in _PREGNANCY:
        raise BadInput(f"pregnant: expected yes, no or nothing, got “{text}”")
    return _PREGNANCY[text]


_READERS: dict[str, Callable[[str], Any]] = {
    "age": lambda text: _number(text, "age"),
    "sex": lambda text: text or None,
    "diagnoses": lambda text: _items(text) or None,
    "history": lambda text: _items(text) or None,
    "labs": lambda text: _labs(text) or None,
    "pregnant": _pregnancy,
}


def _facts(values: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The profile JSON the form's own fields give, and the problems of the fields that
    could not be read (the schema checks the rest in Profile.from_dict)."""
    facts: dict[str, Any] = {}
    problems: list[str] = []
    for name, read in _READERS.items():
        try:
            value = read(values[name])
        except BadInput as exc:
            problems.append(str(exc))
            continue
        if value is not None:
            facts[name] = value
    if values["city"] or values["country"]:
        facts["location"] = {name: values[name] for name in ("city", "country") if values[name]}
    return facts, problems


def _merged(given: Profile, read: Profile) -> Profile:
    """The form's fields over what the note reader found; lists keep both, the form's first."""
    changes: dict[str, Any] = {}
    for field in fields(Profile):
        mine = getattr(given, field.name)
        if isinstance(mine, tuple):
            changes[field.name] = tuple(dict.fromkeys(mine + getattr(read, field.name)))
        elif mine is not None:
            changes[field.name] = mine
    return replace(read, **changes)


def read_form(params: QueryParams) -> PatientForm:
    """The patient the match form or the "Check eligibility" panel describes.

    Every field is optional; the note, when given, is read by the rule-based note reader and
    the form's own fields override (age, sex, pregnancy) or add to (diagnoses, history, labs)
    what it found. Problems are kept by field name, never raised."""
    values = {name: params.get(name, "").strip() for name in _FORM_FIELDS}
    errors: dict[str, str] = {}
    unknown = [name for name in params if name not in _FORM_FIELDS]
    for name in unknown:
        errors[name] = f"{name}: unknown field (known: {', '.join(_FORM_FIELDS)})"
    if len(values["note"]) > NOTE_MAX_CHARS:
        errors["note"] = f"note: at most {NOTE_MAX_CHARS:,} characters, got {len(values['note']):,}"
    limit = values["limit"] or str(DEFAULT_LIMIT)
    if limit not in {str(n) for n in PAGE_LIMITS}:
        errors["limit"] = f"limit: one of {', '.join(map(str, PAGE_LIMITS))}, got “{limit}”"
    if values["any_status"] not in {"", "1"}:
        errors["any_status"] = f"any_status: expected 1 or nothing, got “{values['any_status']}”"
    facts, problems = _facts(values)
    given: Profile | None = None
    try:
        given = Profile.from_dict(facts)
    except ProfileError as exc:
        problems += exc.problems
    for problem in problems:
        errors.setdefault(_field_of(problem), problem)
    if errors or given is None:
        return PatientForm(values, errors)
    note = values["note"] or None
    profile = _merged(given, profile_from_note(note)) if note else given
    return PatientForm(
        values,
        errors,
        profile,
        note=note,
        any_status=values["any_status"] == "1",
        limit=int(limit),
    )


def _field_of(problem: str) -> str:
    """The form field a profile problem is about: 'labs[0].value: ...' -> 'labs'."""
    head = re.split(r"[\[.:]", problem, maxsplit=1)[0]
    return {"location": "city"}.get(head, head)


def patient_rows(profile: Profile) -> list[tuple[str, str]]:
    """The patient as the matcher sees it (the form's fields merged with what the note gave),
    one labelled line per kind of fact, so the reader can check what was understood."""
    p = profile

    def yes_no(flag: bool | None) -> str | None:
        return None if flag is None else "yes" if flag else "no"

    treatments = [
        t.name + {True: " (ongoing)", False: " (stopped)", None: ""}[t.ongoing]
        for t in p.treatments
    ]
    place = p.location and ", ".join(filter(None, (p.location.city, p.location.country)))
    rows = [
        ("Age", None if p.age is None else f"{p.age:g} years"),
        ("Sex", p.sex),
        ("Pregnant", yes_no(p.pregnant)),
        ("Conditions", ", ".join(p.diagnoses)),
        ("Past medical history", ", ".join(p.history)),
        ("Known not to have", ", ".join(p.absent_conditions)),
        ("Measurements", "; ".join(measurement_text(m) for m in p.measurements)),
        ("From the measurements", "; ".join(d.evidence for d in derived_conditions(p))),
        ("Treatments", ", ".join(treatments)),
        ("Healthy volunteer", yes_no(p.healthy_volunteer)),
        ("Place", place),
    ]
    return [(label, text) for label, text in rows if text]


def _page(form: PatientForm, **context: Any) -> Response:
    """match.html for the form and whichever result there is; 400 while the form has errors."""
    context.setdefault("trial", None)
    context.setdefault("ranked", None)
    context.setdefault("match", None)
    return render(
        "match.html",
        status_code=400 if form.errors else 200,
        form=form,
        patient=patient_rows(form.profile) if form.profile and form.submitted else [],
        verdict_labels=VERDICT_LABELS,
        status_words=STATUS_WORDS,
        status_label=lambda value: enum_label(value, STATUS_LABELS),
        section_name="match",
        **context,
    )


def match_page(request: Request) -> Response:
    """GET /match: the profile form; submitted, the store's trials ranked for that patient.

    A GET form: the patient is in the URL, so a result can be bookmarked, shared and
    reloaded (the registry keeps nothing); the note is capped at NOTE_MAX_CHARS."""
    form = read_form(request.query_params)
    if form.profile is None or not form.submitted:
        return _page(form)
    try:
        ranked = rank_trials(
            store_of(request), form.profile, form.limit, form.any_status, note=form.note
        )
    except ProfileError as exc:
        errors = {_field_of(p): p for p in exc.problems}
        return _page(replace(form, errors=errors, profile=None))
    return _page(form, ranked=ranked)


def check_page(request: Request, nct_id: str) -> Response:
    """GET /study/{nctId}/eligibility: one trial checked for the patient in the URL, every
    criterion with its status, evidence and rule (the detail page's "Check eligibility")."""
    if not NCT_ID.match(nct_id):
        raise HTTPException(404, f"“{nct_id}” is not an NCT number (NCT and 8 digits).")
    store = store_of(request)
    document = store.document(nct_id)
    if document is None:
        raise HTTPException(404, f"{nct_id} is not in this registry.")
    header = build_detail(document).header
    trial = {"nct_id": nct_id, "title": header.title, "status": header.status}
    form = read_form(request.query_params)
    match = None
    if form.profile is not None and form.submitted:
        match = check_trial(store, nct_id, form.profile)
    return _page(form, trial=trial, match=match)


def _json_body(fields: tuple[str, ...]) -> dict[str, Any]:
    """OpenAPI for a POST whose JSON object takes these of _BODY_FIELDS, and its 400."""
    properties = {name: {"description": _BODY_FIELDS[name]} for name in fields}
    schema = {"type": "object", "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {"400": {"description": "bad input, the field named in the text"}},
    }


def register(app: FastAPI) -> None:
    """Add the matching routes to ``app``: the API (in /openapi.json) and the two pages."""
    app.add_api_route("/match", match_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/study/{nct_id}/eligibility", check_page, methods=["GET"], include_in_schema=False
    )
    app.add_api_route(
        "/api/match",
        match,
        methods=["POST"],
        summary="Trials ranked for one patient (profile or note), each criterion explained",
        tags=["eligibility"],
        openapi_extra=_json_body(tuple(_BODY_FIELDS)),
    )
    app.add_api_route(
        "/api/profile",
        read_profile,
        methods=["POST"],
        summary="The profile a free-text note gives, with the conditions its labs define",
        tags=["eligibility"],
        openapi_extra=_json_body(("note", "profile")),
    )
    app.add_api_route(
        "/api/v2/studies/{nct_id}/criteria",
        criteria,
        methods=["GET"],
        summary="A study's parsed eligibility criteria (trialatlas)",
        tags=["eligibility"],
        responses={404: {"description": "unknown study"}},
    )
