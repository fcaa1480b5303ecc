"""How a batch of prepared studies becomes versions and index rows, whatever the backend.

Every store applies the same rules, so they live here once and each backend only runs the
SQL: content already stored under any version of a study is UNCHANGED; anything else is
version latest + 1 (changed modules measured against the latest version), and becomes the
current version unless its record says it was last updated before the current one (an
older snapshot ingested late is kept in the history but not shown). The same study may
occur more than once in a batch; the plan then holds each of its versions, and only the
last version that becomes current replaces the row, terms, places and index entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialatlas.records.document import StudyColumns, decode
from trialatlas.store.base import Change, PreparedStudy
from trialatlas.store.versions import changed_modules

# The listing and filtering columns of the `study` table, in `study_row` order.
STUDY_COLUMNS = (
    "nct_id", "version", "content_hash", "brief_title", "official_title", "acronym",
    "overall_status", "phases", "study_type",
    "start_date", "start_date_type", "primary_completion_date", "primary_completion_date_type",
    "completion_date", "completion_date_type", "first_posted_date", "first_posted_date_type",
    "last_update_date", "last_update_date_type", "enrollment", "enrollment_type", "sex",
    "min_age_days", "max_age_days", "healthy_volunteers", "lead_sponsor", "lead_sponsor_class",
    "has_results", "synthetic", "generation",
)  # fmt: skip


def column_values(c: StudyColumns) -> tuple[Any, ...]:
    """The `study` columns brief_title .. synthetic of a study (PreparedStudy.values)."""
    return (
        c.brief_title, c.official_title, c.acronym,
        c.overall_status, "|".join(c.phases), c.study_type,
        c.start.date, c.start.type, c.primary_completion.date, c.primary_completion.type,
        c.completion.date, c.completion.type, c.first_posted.date, c.first_posted.type,
        c.last_update.date, c.last_update.type, c.enrollment, c.enrollment_type, c.sex,
        c.min_age_days, c.max_age_days, c.healthy_volunteers, c.lead_sponsor,
        c.lead_sponsor_class, c.has_results, c.synthetic,
    )  # fmt: skip


def study_row(study: PreparedStudy, version: int, generation: int) -> tuple[Any, ...]:
    """The `study` row of a current version, in STUDY_COLUMNS order."""
    return (study.nct_id, version, study.content_hash, *study.values, generation)


def term_rows(c: StudyColumns) -> Iterator[tuple[str, str]]:
    """(kind, value) facet terms of a study, each once; kinds as `study_term` documents."""
    for kind, values in (
        ("condition", c.conditions),
        ("keyword", c.keywords),
        ("mesh", c.mesh_terms),
        ("intervention", c.interventions),
        ("country", c.countries),
        ("phase", c.phases),
    ):
        for value in dict.fromkeys(values):
            yield kind, value


@dataclass(slots=True)
class Stored:
    """A stored study during a write: its row key, current and latest version, all hashes."""

    key: int | None  # the backend's row id; None while only this batch has the study
    current: int
    latest: int
    last_update: str | None
    hashes: set[str] = field(default_factory=set)

    def record(self, version: int, digest: str) -> None:
        self.hashes.add(digest)
        self.latest = max(self.latest, version)

    def superseded_by(self, incoming: PreparedStudy) -> bool:
        """A new version becomes current unless the record says it was updated earlier."""
        date = incoming.last_update
        return not (date and self.last_update and date < self.last_update)


@dataclass(frozen=True, slots=True)
class NewVersion:
    study: PreparedStudy
    version: int
    changed_modules: tuple[str, ...]


@dataclass(slots=True)
class BatchPlan:
    """What one write stores: a Change per study, new versions, and new current rows."""

    changes: list[Change] = field(default_factory=list)
    versions: list[NewVersion] = field(default_factory=list)
    current: dict[str, NewVersion] = field(default_factory=dict)
    # nct_id -> (row key, version) of the stored current version that `current` replaces
    replaced: dict[str, tuple[int, int]] = field(default_factory=dict)


def plan_batch(
    studies: Sequence[PreparedStudy],
    stored: dict[str, Stored],
    document: Callable[[str, int], dict[str, Any]],
) -> BatchPlan:
    """Decide every study of a batch against `stored` (updated in place).

    `document(nct_id, version)` reads a stored version; versions this batch adds are read
    from the batch itself.
    """
    plan = BatchPlan()
    in_batch: dict[tuple[str, int], PreparedStudy] = {}
    for study in studies:
        state = stored.get(study.nct_id)
        if state is not None and study.content_hash in state.hashes:
            plan.changes.append(Change.UNCHANGED)
            continue
        if state is None:
            entry = NewVersion(study, 1, ())
            stored[study.nct_id] = Stored(None, 1, 1, study.last_update, {study.content_hash})
            plan.current[study.nct_id] = entry
            plan.changes.append(Change.ADDED)
        else:
            latest = (study.nct_id, state.latest)
            previous = (
                decode(in_batch[latest].document) if latest in in_batch else document(*latest)
            )
            modules = changed_modules(previous, decode(study.document))
            entry = NewVersion(study, state.latest + 1, modules)
            state.record(entry.version, study.content_hash)
            if state.superseded_by(study):
                if state.key is not None and study.nct_id not in plan.replaced:
                    plan.replaced[study.nct_id] = (state.key, state.current)
                state.current, state.last_update = entry.version, study.last_update
                plan.current[study.nct_id] = entry
            plan.changes.append(Change.UPDATED)
        in_batch[study.nct_id, entry.version] = study
        plan.versions.append(entry)
    return plan
