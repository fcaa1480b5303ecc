"""Find study records in files, whatever their layout, judged by content rather than name.

Two steps, so the expensive one can run in worker processes:

- ``read_units(path)`` walks a file, directory or archive and yields *units*: the bytes of
  one file or archive member (or one line of JSON Lines), with where they came from.
  gzip, zip and tar (plain or compressed) are opened by their magic numbers, nested
  archives included.
- ``decode_unit(unit)`` turns a unit into study documents: one API v2 study object, a JSON
  array of them, a search page ``{"studies": [...]}``, or a legacy ``<clinical_study>``.

Anything unusable becomes a ``ReadFailure`` naming the place and the reason; it never
stops the walk.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from isal import igzip
from isal.isal_zlib import error as IsalError

from trialatlas.records.errors import RecordError
from trialatlas.records.legacy_xml import study_from_legacy_xml

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
# Files in a directory that are documentation, not data.
_SKIPPED_SUFFIXES = frozenset({".md", ".txt", ".rst", ".html", ".csv", ".py", ".sha256"})
# A single file or member larger than this is refused rather than read into memory.
MAX_UNIT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Unit:
    """Bytes that hold one or more records, where they were found, and the file or archive
    they came from (``origin``: one snapshot, within which an NCT id may appear once)."""

    location: str
    data: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """Something at ``location`` could not be read as a study."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


def read_units(path: Path) -> Iterator[Unit | ReadFailure]:
    """Every unit below ``path``: a file, a directory (walked in name order) or an archive."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if child.is_file() and not hidden and child.suffix.lower() not in _SKIPPED_SUFFIXES:
                yield from _file_units(child)
        return
    yield from _file_units(path)


def _file_units(path: Path) -> Iterator[Unit | ReadFailure]:
    try:
        stream = path.open("rb")
    except OSError as exc:
        yield ReadFailure(str(path), f"cannot open: {exc.strerror or exc}")
        return
    with stream:
        yield from _stream_units(str(path), stream, str(path))


def _stream_units(location: str, stream: IO[bytes], origin: str) -> Iterator[Unit | ReadFailure]:
    """Units in one byte stream, recursing into archives; errors are reported, not raised."""
    try:
        buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)
        head = buffered.peek(512)[:512]
        if not head:
            yield ReadFailure(location, "empty file")
        elif head.startswith(GZIP_MAGIC):
            # ISA-L's gzip: a third of the CPU of the standard library's (15 against
            # 45 us a study of JSON Lines), and an ingest reads in the writer's process
            inner = io.BufferedReader(igzip.IGzipFile(fileobj=buffered), buffer_size=1 << 16)
            yield from _stream_units(location, inner, origin)
        elif head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
            yield from _zip_units(location, buffered, origin)
        elif len(head) >= 262 and head[257:262] == b"ustar":
            yield from _tar_units(location, buffered, origin)
        else:
            yield from _text_units(location, buffered, origin)
    except (OSError, EOFError, zlib.error, IsalError, tarfile.TarError, zipfile.BadZipFile) as exc:
        yield ReadFailure(location, f"unreadable archive or file: {exc}")


def _zip_units(location: str, stream: IO[bytes], origin: str) -> Iterator[Unit | ReadFailure]:
    seekable = stream if stream.seekable() else io.BytesIO(stream.read(MAX_UNIT_BYTES))
    with zipfile.ZipFile(seekable) as archive:
        for member in archive.infolist():
            name = member.filename
            if member.is_dir() or name.startswith("__MACOSX/") or Path(name).name.startswith("."):
                continue
            with archive.open(member) as inner:
                yield from _stream_units(f"{location}:{name}", inner, origin)


def _tar_units(location: str, stream: IO[bytes], origin: str) -> Iterator[Unit | ReadFailure]:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if not member.isfile() or Path(member.name).name.startswith("."):
                continue
            inner = archive.extractfile(member)
            if inner is not None:
                yield from _stream_units(f"{location}:{member.name}", inner, origin)


def _text_units(location: str, stream: IO[bytes], origin: str) -> Iterator[Unit | ReadFailure]:
    """A whole document, or JSON Lines split into one unit a line (streams huge files).

    JSON Lines is recognised without parsing: a first line that is a complete-looking
    object followed by another line that opens one. Malformed lines fail at decoding.
    """
    first = stream.readline(MAX_UNIT_BYTES)
    head = first.strip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") and head.endswith(b"}"):
        between = b""
        second = stream.readline(MAX_UNIT_BYTES)
        while second and not second.strip():
            between += second
            second = stream.readline(MAX_UNIT_BYTES)
        if second.lstrip().startswith(b"{"):
            yield Unit(f"{location}:line 1", first, origin)
            line_number = 1 + between.count(b"\n")
            line = second
            while line:
                line_number += 1
                if line.strip():
                    yield Unit(f"{location}:line {line_number}", line, origin)
                line = stream.readline(MAX_UNIT_BYTES)
            return
        first += between + second
    rest = stream.read(MAX_UNIT_BYTES)
    if len(first) + len(rest) >= MAX_UNIT_BYTES:
        yield ReadFailure(location, f"larger than {MAX_UNIT_BYTES:,} bytes")
        return
    yield Unit(location, first + rest, origin)


def decode_unit(unit: Unit) -> Iterator[tuple[str, Any] | ReadFailure]:
    """(location, document) for every study in a unit; a ReadFailure for what is unusable."""
    text = unit.data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        yield ReadFailure(unit.location, "empty file")
        return
    if text.startswith(b"<"):
        try:
            yield unit.location, study_from_legacy_xml(text)
        except RecordError as exc:
            yield ReadFailure(unit.location, exc.reason)
        return
    if not text.startswith((b"{", b"[")):
        yield ReadFailure(unit.location, f"neither JSON nor XML (starts with {text[:20]!r})")
        return
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        yield ReadFailure(unit.location, f"malformed JSON: {exc}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield f"{unit.location}[{index}]", item
    elif isinstance(value, dict) and "protocolSection" not in value and "studies" in value:
        studies = value["studies"]
        if not isinstance(studies, list):
            yield ReadFailure(unit.location, "search page: 'studies' must be a list")
            return
        for index, item in enumerate(studies):
            yield f"{unit.location}:studies[{index}]", item
    else:
        yield unit.location, value
