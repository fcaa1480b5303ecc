"""The matching API: a patient's ranked trials, and a trial's parsed criteria.

- ``POST /api/match`` with ``{"profile": {...}}`` (docs/eligibility.md) or ``{"note": "..."}``
  or both (the note's words then help find trials), plus ``limit`` (1..100, default 20) and
  ``anyStatus`` (default false: trials open to participants first) → the ranked list, each
  trial ``{nctId, verdict, score, criteria: [...], ...}`` as `RankedTrial.to_json` writes it.
- ``GET /api/v2/studies/{nctId}/criteria`` → the trial's inclusion and exclusion items, each
  with its exact text, position and extracted constraints (`trial_criteria`).

Bad input answers 400 with a plain-text message naming the field (``profile.age: ...``), as
the rest of the API does; an unknown trial answers 404.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from trialatlas.eligibility.profile import Profile, ProfileError, profile_from_note
from trialatlas.eligibility.rank import DEFAULT_LIMIT, rank_trials, trial_criteria
from trialatlas.search.params import normalize_nct_id
from trialatlas.search.query import QueryError
from trialatlas.web.app import store_of

MAX_LIMIT = 100
_BODY_FIELDS = {
    "profile": "a patient profile (docs/eligibility.md)",
    "note": "a free-text patient description",
    "limit": f"1..{MAX_LIMIT}, default {DEFAULT_LIMIT}",
    "anyStatus": "true: do not put open trials first",
}


class BadInput(ValueError):
    """Input the endpoint refuses; every problem names its field."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _bad(message: str) -> Response:
    return PlainTextResponse(message, status_code=400)


def _request(body: bytes) -> tuple[Profile, str | None, int, bool]:
    """(profile, note, limit, anyStatus) from a POST body; raises BadInput."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"body: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput("body: expected a JSON object with profile or note")
    unknown = [name for name in data if name not in _BODY_FIELDS]
    if unknown:
        raise BadInput(
            *(f"{name}: unknown field (known: {', '.join(_BODY_FIELDS)})" for name in unknown)
        )
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise BadInput("note: expected a non-empty string")
    limit = data.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit: expected a whole number 1..{MAX_LIMIT}, got {limit!r}")
    any_status = data.get("anyStatus", False)
    if not isinstance(any_status, bool):
        raise BadInput(f"anyStatus: expected true or false, got {any_status!r}")
    if "profile" in data:
        try:
            profile = Profile.from_dict(data["profile"])
        except ProfileError as exc:
            raise BadInput(*(_within_profile(p) for p in exc.problems)) from None
    elif note is not None:
        profile = profile_from_note(note)
    else:
        raise BadInput("profile: give a profile or a note")
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


def register(app: FastAPI) -> None:
    """Add the matching routes to ``app`` (they appear in /openapi.json)."""
    app.add_api_route(
        "/api/match",
        match,
        methods=["POST"],
        summary="Trials ranked for one patient (profile or note), each criterion explained",
        tags=["eligibility"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: {"description": text} for name, text in _BODY_FIELDS.items()
                            },
                        }
                    }
                },
            },
            "responses": {"400": {"description": "bad input, the field named in the text"}},
        },
    )
    app.add_api_route(
        "/api/v2/studies/{nct_id}/criteria",
        criteria,
        methods=["GET"],
        summary="A study's parsed eligibility criteria (trialatlas)",
        tags=["eligibility"],
        responses={404: {"description": "unknown study"}},
    )
