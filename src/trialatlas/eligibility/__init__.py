"""Computable eligibility: criteria parsing, constraint extraction, patient profiles, matching.

The pieces, each usable alone:

- ``parse_criteria(text)``: inclusion/exclusion items with exact offsets (``criteria``).
- ``analyze_criteria(text)``: items with typed, explainable constraints, cached by text hash
  (``extract``).
- ``Profile.from_dict(json)`` / ``profile_from_note(text)``: the patient (``profile``).
- ``match_study(profile, doc)``: every criterion of one trial judged for one patient, with a
  verdict and a ranking score (``match``).

See docs/eligibility.md.
"""

from trialatlas.eligibility.criteria import Criterion, Kind, ParsedCriteria, parse_criteria
from trialatlas.eligibility.extract import CriteriaAnalysis, analyze_criteria, criteria_key
from trialatlas.eligibility.match import (
    CriterionResult,
    Evidence,
    MatchResult,
    Status,
    Verdict,
    match_study,
)
from trialatlas.eligibility.profile import Profile, ProfileError, profile_from_note

__all__ = [
    "CriteriaAnalysis",
    "Criterion",
    "CriterionResult",
    "Evidence",
    "Kind",
    "MatchResult",
    "ParsedCriteria",
    "Profile",
    "ProfileError",
    "Status",
    "Verdict",
    "analyze_criteria",
    "criteria_key",
    "match_study",
    "parse_criteria",
    "profile_from_note",
]
