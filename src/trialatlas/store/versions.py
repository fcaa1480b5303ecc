"""What changed between two versions of a study document, by module and by field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_MISSING = object()
_SECTIONS = (
    "protocolSection",
    "resultsSection",
    "annotationSection",
    "documentSection",
    "derivedSection",
)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One leaf that differs: its dotted path, and the old and new values (None if absent)."""

    path: str
    old: Any
    new: Any

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


def module_of(path: str) -> str:
    """'protocolSection.statusModule.overallStatus' -> 'protocolSection.statusModule'."""
    parts = path.split(".", 2)
    if parts[0] in _SECTIONS and len(parts) > 1:
        return f"{parts[0]}.{parts[1].split('[', 1)[0]}"
    return parts[0].split("[", 1)[0]


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten(child, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list) and value:
        for index, child in enumerate(value):
            _flatten(child, f"{path}[{index}]", out)
    else:
        out[path] = value


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """Leaf-level differences, in document order (old order first, then additions)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(old, "", before)
    _flatten(new, "", after)
    changes = [
        FieldChange(path, value, after.get(path))
        for path, value in before.items()
        if after.get(path, _MISSING) != value
    ]
    changes.extend(
        FieldChange(path, None, value) for path, value in after.items() if path not in before
    )
    return changes


def changed_modules(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    """The modules in which a new version differs from the previous one."""
    return tuple(dict.fromkeys(module_of(change.path) for change in diff_documents(old, new)))
