"""The record history page's view: versions, and a readable diff of two of them.

``store.versions.diff_documents`` gives leaf-level changes with dotted paths; this groups
them by module, names modules in words, and marks word-level edits inside changed text so
a reader sees which words of a long description changed, not only that it did.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from trialatlas.store.versions import FieldChange, diff_documents, module_of

_WORDS = re.compile(r"\s+|\w+|[^\w\s]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
Segment = tuple[str, str]  # ("same" | "del" | "ins", text)


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One changed field: its path inside the module and each side as diff segments."""

    field: str
    kind: str
    old: tuple[Segment, ...]
    new: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class ModuleChanges:
    key: str
    title: str
    rows: tuple[ChangeRow, ...]


def module_title(module: str) -> str:
    """'protocolSection.statusModule' -> 'Status'; 'hasResults' -> 'Has results'."""
    name = module.rsplit(".", 1)[-1].removesuffix("Module") or module
    words = _CAMEL.sub(" ", name).lower()
    return words[:1].upper() + words[1:]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def word_diff(old: str, new: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """Both sides split into unchanged, deleted (old side) and inserted (new side) runs."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    left: list[Segment] = []
    right: list[Segment] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(("same", "".join(a[i1:i2])))
            right.append(("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            right.append(("ins", "".join(b[j1:j2])))
    return tuple(left), tuple(right)


def _row(change: FieldChange) -> ChangeRow:
    module = module_of(change.path)
    field = change.path[len(module) :].lstrip(".") or change.path
    old, new = word_diff(_text(change.old), _text(change.new))
    return ChangeRow(field, change.kind, old, new)


def compare(old: dict[str, Any], new: dict[str, Any]) -> tuple[ModuleChanges, ...]:
    """The changes from ``old`` to ``new``, grouped by module in document order."""
    groups: dict[str, list[ChangeRow]] = {}
    for change in diff_documents(old, new):
        groups.setdefault(module_of(change.path), []).append(_row(change))
    return tuple(ModuleChanges(key, module_title(key), tuple(rows)) for key, rows in groups.items())
