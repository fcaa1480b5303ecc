"""Errors raised while reading records: each names what was wrong and where."""

from __future__ import annotations


class RecordError(ValueError):
    """One record could not be read or is not a valid study document.

    ``reason`` says what was wrong; ``location`` says where (file, archive member, line or
    array index, and the NCT id when it is known).
    """

    def __init__(self, reason: str, location: str = "") -> None:
        self.reason = reason
        self.location = location
        super().__init__(f"{location}: {reason}" if location else reason)

    def at(self, location: str) -> RecordError:
        """The same error, placed at ``location`` (outer context first)."""
        where = f"{location} {self.location}".strip() if self.location else location
        return RecordError(self.reason, where)
