"""Synthetic studies for benchmarks at registry scale, recombined from real ones.

Each synthetic study takes its identification, description and design from one real study
and its conditions (with their MeSH terms), interventions, eligibility, locations and
status from others, so field sizes, vocabularies and facet distributions stay realistic.
Ids come from the reserved NCT99xxxxxx range and every record carries
``"trialatlas": {"synthetic": true}``.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from trialatlas.records.extension import EXTENSION_KEY, SYNTHETIC

SYNTHETIC_ID_BASE = 99_000_000
MAX_SYNTHETIC = 1_000_000
# protocolSection modules taken from a different real study each (the rest come with the base)
_DONATED_MODULES = (
    "conditionsModule",
    "armsInterventionsModule",
    "eligibilityModule",
    "contactsLocationsModule",
    "statusModule",
    "sponsorCollaboratorsModule",
)
# derivedSection modules that belong with a donated protocol module
_DERIVED_WITH = {
    "conditionsModule": "conditionBrowseModule",
    "armsInterventionsModule": "interventionBrowseModule",
}


def synthetic_nct_id(index: int) -> str:
    if not 0 <= index < MAX_SYNTHETIC:
        raise ValueError(f"synthetic index {index} outside 0..{MAX_SYNTHETIC - 1}")
    return f"NCT{SYNTHETIC_ID_BASE + index:08d}"


def synthesize(pool: Sequence[dict[str, Any]], index: int, rng: random.Random) -> dict[str, Any]:
    """One synthetic study: a real base with modules donated by other real studies."""
    base = rng.choice(pool)
    protocol = dict(base.get("protocolSection") or {})
    derived = {k: v for k, v in (base.get("derivedSection") or {}).items() if k != "miscInfoModule"}
    for module in _DONATED_MODULES:
        donor = rng.choice(pool)
        donated = (donor.get("protocolSection") or {}).get(module)
        if donated is None:
            protocol.pop(module, None)
        else:
            protocol[module] = donated
        derived_module = _DERIVED_WITH.get(module)
        if derived_module:
            value = (donor.get("derivedSection") or {}).get(derived_module)
            if value is None:
                derived.pop(derived_module, None)
            else:
                derived[derived_module] = value
    identification = dict(protocol.get("identificationModule") or {})
    nct_id = synthetic_nct_id(index)
    identification["nctId"] = nct_id
    identification["orgStudyIdInfo"] = {"id": f"SYNTH-{index}"}
    identification.pop("secondaryIdInfos", None)
    identification.pop("nctIdAliases", None)
    protocol["identificationModule"] = identification
    document: dict[str, Any] = {"protocolSection": protocol, "hasResults": False}
    if derived:
        document["derivedSection"] = derived
    document[EXTENSION_KEY] = {SYNTHETIC: True}
    return document


def _open_output(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "wb", compresslevel=1)
    return path.open("wb")


def write_synthetic(
    pool: Sequence[dict[str, Any]],
    count: int,
    out: Path,
    *,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``count`` synthetic studies to ``out`` as JSON Lines (gzipped for .gz)."""
    if not pool:
        raise ValueError("no real studies to recombine")
    if count > MAX_SYNTHETIC:
        raise ValueError(f"at most {MAX_SYNTHETIC:,} synthetic studies (the NCT99 range)")
    rng = random.Random(seed)
    with _open_output(out) as stream:
        for index in range(count):
            stream.write(orjson.dumps(synthesize(pool, index, rng)) + b"\n")
            if on_progress and (index + 1) % 1000 == 0:
                on_progress(index + 1)
    if on_progress:
        on_progress(count)
