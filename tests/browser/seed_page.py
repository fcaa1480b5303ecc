"""The seed page (../shared/seed/NCT04952155.txt) parsed into what its sections say.

The browser tests compare the rendered detail page with this, section by section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEED_ID = "NCT04952155"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / f"{SEED_ID}.txt"
HEADINGS = (
    "Administrative data",
    "Study information",
    "Clinical Trial Summary",
    "Recruitment information / eligibility",
    "Study Design",
    "Related Conditions & MeSH terms",
    "Intervention",
    "Locations",
    "Sponsors (1)",
    "Country where clinical trial is conducted",
    "Outcome",
    "See also",
)
ELIGIBILITY = "Eligibility "
_BULLET = re.compile(r"(?:^|\s)-\s+")
SEE_ALSO_ROW = re.compile(r"^(?P<status>.+?) (?P<nct>NCT\d{8}) - ")


@dataclass(frozen=True)
class SeedPage:
    header: str  # "Clinical Trial Details — Status: Recruiting"
    sections: dict[str, list[str]]  # heading -> its non-empty lines, in order
    inclusion: list[str]
    exclusion: list[str]

    def lines(self, heading: str) -> list[str]:
        return self.sections[heading]


def _criteria(text: str) -> tuple[list[str], list[str]]:
    """'Inclusion Criteria: - a; - b Exclusion Criteria: - c' -> ([a;, b], [c])."""
    inclusion, _, exclusion = text.partition("Exclusion Criteria:")
    inclusion = inclusion.removeprefix("Inclusion Criteria:")
    return [
        [item.strip() for item in _BULLET.split(part) if item.strip()]
        for part in (inclusion, exclusion)
    ]  # type: ignore[return-value]


def parse_seed(path: Path = SEED) -> SeedPage:
    lines = [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()]
    header = next(line for line in lines if line.startswith("Clinical Trial Details"))
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line in HEADINGS:
            current = sections[line] = []
        elif current is not None and line.strip():
            current.append(line.strip())
    recruitment = sections["Recruitment information / eligibility"]
    criteria = next(line for line in recruitment if line.startswith(ELIGIBILITY))
    recruitment.remove(criteria)
    inclusion, exclusion = _criteria(criteria.removeprefix(ELIGIBILITY))
    return SeedPage(header, sections, inclusion, exclusion)
