"""Split free-text eligibility criteria into inclusion and exclusion items.

Registries store criteria as one free-text field in many layouts: headed sections with
bullets or numbers (legacy XML, API v2 markdown), nested lists, old NCI/AIDS templates with
sub-headings ("Prior Medication: Excluded:"), one-line paragraphs with inline " - " bullets,
or bare lines with no headers at all. Everything downstream (extraction, matching, the
explanation shown to a patient) points back at the exact words, so each item keeps its text
verbatim with character offsets into the original, its position and its parent chain.

The parser is line-oriented and purely rule based: it never fails on odd input, it only
produces fewer or longer items.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class KindSource(StrEnum):
    """Why an item got its kind: a section header, a lead-in line, or nothing (a guess)."""

    HEADER = "header"
    LEAD_IN = "lead-in"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Header:
    """A section header such as "Key Inclusion Criteria:"; kind None for neutral ones."""

    text: str
    start: int
    end: int
    kind: Kind | None


@dataclass(frozen=True, slots=True)
class Criterion:
    """One item: ``text == source[start:end]`` exactly, marker and indentation excluded."""

    index: int
    kind: Kind
    text: str
    start: int
    end: int
    marker: str
    depth: int
    parent: int | None
    heading: bool
    kind_source: KindSource

    @property
    def inferred(self) -> bool:
        """True when no header or lead-in said which kind this is (flag it to the reader)."""
        return self.kind_source is KindSource.DEFAULT

    @property
    def clean_text(self) -> str:
        """The text on one line, for display (wrapped source lines joined)."""
        return " ".join(self.text.split())


@dataclass(frozen=True, slots=True)
class ParsedCriteria:
    """All items of one criteria text, in source order, plus the headers that were found."""

    source: str
    items: tuple[Criterion, ...]
    headers: tuple[Header, ...]

    @property
    def has_headers(self) -> bool:
        return any(h.kind is not None for h in self.headers)

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """Items that state something (headings like "Patients must have:" left out)."""
        return tuple(item for item in self.items if not item.heading)

    @property
    def inclusion(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.kind is Kind.INCLUSION)

    @property
    def exclusion(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.kind is Kind.EXCLUSION)

    def ancestors(self, item: Criterion) -> tuple[Criterion, ...]:
        """Parent chain, outermost first: the context a nested item is read in."""
        chain: list[Criterion] = []
        parent = item.parent
        while parent is not None:
            chain.append(self.items[parent])
            parent = self.items[parent].parent
        return tuple(reversed(chain))


# --- lexical rules -------------------------------------------------------------------------

# Leading list markers; API v2 markdown sometimes escapes them ("1\\.", "\\-").
_MARKER = re.compile(
    r"""(?x)
    (?P<marker>
        \\?[-–—•*·▪◦‣⁃►●○■□➢✓](?=\s|[A-Za-z(])      # bullets
      | o(?=\s+\S)                                 # the letter o used as a bullet
      | \(?\d{1,3}(?:\.\d{1,3}){0,3}\\?[.)](?!\d)  # 1.  1)  (1)  1.2.
      | \(\d{1,3}\)
      | \(?[a-zA-Z]\\?[.)](?=\s)                   # a.  a)  (a)  A.
      | \([a-zA-Z]\)
      | \(?(?:i{1,3}|iv|vi{0,3}|ix|x{1,3}|I{1,3}|IV|VI{0,3}|IX|X{1,3})[.)](?=\s)  # roman
    )
    [ \t]*
    """
)

_HEADER_QUALIFIER = (
    r"(?:(?:key|main|major|general|principal|primary|secondary|additional|other|specific|"
    r"detailed|study|patients?|subjects?|participants?|important|basic|selected)\s+)*"
)
_HEADER_WORD = (
    r"(?P<word>non[-\s]?inclusion|inclusion|exclusion|inclusionary|exclusionary|eligibility"
    r"|(?:inclusion|exclusion|eligibility)\s*(?:/|and|&|or)\s*(?:inclusion|exclusion))"
)
_HEADER_DECOR = r"(?:\*\*|__|\#{1,6}\s*|-{2,}\s*|\[)?"
_HEADER_DECOR_END = r"\s*(?:\*\*|__|-{2,}|\])?"

# A header with the word "criteria": a short tail is allowed before the colon.
_CRITERIA_HEADER = re.compile(
    rf"""(?ix)
    {_HEADER_DECOR}{_HEADER_QUALIFIER}
    (?:{_HEADER_WORD}\s*(?:criteri(?:a|on|as)|requirements?)\b
      | criteri(?:a|on)\s+for\s+(?P<word2>inclusion|exclusion|eligibility|participation|entry)\b
      | (?P<word3>(?:protocol\s+)?entry)\s+criteria\b)
    (?:
        (?P<tail>[^:\n]{{0,200}}?){_HEADER_DECOR_END}\s*:(?:\s*(?:\*\*|__))?
      | (?P<verb>\s+(?:include|includes|are|is)\b)(?=\s+\S)
      | (?P<short>\s*(?:\([^)\n]{{0,200}}\)?|(?:[-–]|for|in|specific\s+to|related\s+to
            |applicable\s+to|applying\s+to)\b[\w /,()-]{{1,60}})?){_HEADER_DECOR_END}\s*$
    )
    """
)
# A bare "Inclusion:" / "EXCLUSION" / "Exclusions:" header.
_WORD_HEADER = re.compile(
    rf"""(?ix)
    {_HEADER_DECOR}{_HEADER_QUALIFIER}
    (?:{_HEADER_WORD}|(?P<plural>inclusions|exclusions))
    {_HEADER_DECOR_END}\s*(?::(?:\s*(?:\*\*|__))?|$)
    """
)
# Mid-line headers are only trusted in the strict "… criteria:" form after a sentence end.
_INLINE_HEADER = re.compile(
    rf"(?i)(?<=[.;!?])\s+(?={_HEADER_QUALIFIER}(?:non-?inclusion|inclusion|exclusion)\s+"
    r"criteri(?:a|on)\b[^:\n]{0,60}:)"
)
_INLINE_BULLET = re.compile(r"(?<=[.;:])\s+(?=\\?[-–•*]\s+\S)")
# In a dash-bulleted line, " - Capitalised" is a line break lost on the way.
_INLINE_DASH = re.compile(r"(?<=\S)\s+(?=-\s+[A-Z])")
_INLINE_NUMBER = re.compile(r"(?<=[.;:])\s+(?=(\d{1,2})[.)]\s+[A-Za-z(])")

# Lead-in lines ("Patients with the following are excluded:") set the kind of their children.
_EXCLUSION_CUE = re.compile(
    r"(?i)\b(?:exclu\w*|not\s+(?:be\s+)?(?:eligible|included|enrolled|allowed|permitted)"
    r"|ineligible|must\s+not|may\s+not|should\s+not|cannot|can\s+not|none\s+of|prohibited)\b"
)
_INCLUSION_CUE = re.compile(r"(?i)\b(?:inclu\w*|eligib\w*|must|required?|requirements?)\b")

_HEADING_MAX_CHARS = 150
_CONNECTOR_END = re.compile(
    r"(?i)(?:[,(/&+-]|\b(?:and|or|of|with|to|the|in|for|a|an|by|than|at|on|as|from|who|that))$"
)
_WRAP_MIN, _WRAP_MAX = 85, 101  # legacy XML wraps criteria lines at 100 columns
# Old NCI (PDQ) templates run their sub-headings together on one line: "Age: 18 and over
# Performance status: ECOG 0-2 Hematopoietic: WBC at least 3,000/mm3".
_TEMPLATE_TEXT = re.compile(r"DISEASE CHARACTERISTICS:|PATIENT CHARACTERISTICS:")
_TEMPLATE_LABELS = (
    r"(?:DISEASE CHARACTERISTICS|PATIENT CHARACTERISTICS|PRIOR CONCURRENT THERAPY|Age|Sex"
    r"|Menopausal status|Performance status|Life expectancy|Hematopoietic|Hepatic|Renal"
    r"|Cardiovascular|Pulmonary|Neurologic|Other|Biologic(?: therapy)?|Chemotherapy"
    r"|Endocrine(?: therapy)?|Radiotherapy|Surgery):"
)
_TEMPLATE_LABEL = re.compile(_TEMPLATE_LABELS)
# ... and their fillers end an item: "Biologic: See Disease Characteristics No prior thalidomide".
_TEMPLATE_CUT = re.compile(
    rf"(?<=\S)\s+(?={_TEMPLATE_LABELS})"
    r"|(?:(?<=See Disease Characteristics)|(?<=Not specified))\s+(?=\S)"
)


def _header_kind(word: str | None) -> Kind | None:
    word = (word or "").lower()
    if word.startswith("non") or word.startswith("exclu"):
        return Kind.EXCLUSION if "/" not in word and " " not in word.strip() else None
    if word.startswith("inclu") or word in {"participation", "entry", "protocol entry"}:
        return Kind.INCLUSION
    return None


def _match_header(text: str, pos: int, end: int) -> tuple[int, Kind | None] | None:
    """If a header starts at ``pos``, return where it ends and its kind."""
    for pattern in (_CRITERIA_HEADER, _WORD_HEADER):
        m = pattern.match(text, pos, end)
        if m is None:
            continue
        groups = m.groupdict()
        word = groups.get("word") or groups.get("word2") or groups.get("word3")
        if groups.get("plural"):
            word = groups["plural"]
        kind = _header_kind(" ".join(word.split()) if word else None)
        if word and re.search(r"(?i)inclu\w*\s*(?:/|and|&|or)\s*exclu", word):
            kind = None
        stop = m.end("verb") if groups.get("verb") else m.end()
        return stop, kind
    return None


# --- pieces: the line fragments that become items or headers ------------------------------


@dataclass(slots=True)
class _Piece:
    start: int
    end: int
    marker: str
    indent: int
    blank_before: bool
    inline: bool
    header: tuple[int, Kind | None] | None  # (end, kind) when the piece is a header


def _style(marker: str) -> str:
    """Marker family: siblings share it ("1." and "2.", "a)" and "b)")."""
    bare = marker.replace("\\", "").strip()
    if not bare:
        return "para"
    shape = re.sub(r"\d+", "9", bare)
    shape = re.sub(r"^\(?(?:i{1,3}|iv|vi{0,3}|ix|x{1,3})(?=[.)])", "i", shape)
    shape = re.sub(r"^\(?(?:I{1,3}|IV|VI{0,3}|IX|X{1,3})(?=[.)])", "I", shape)
    shape = re.sub(r"^(\(?)[a-hj-uwyz](?=[.)])", r"\1a", shape)
    shape = re.sub(r"^(\(?)[A-HJ-UWYZ](?=[.)])", r"\1A", shape)
    return shape


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, line terminators excluded."""
    spans = []
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        spans.append((pos, end - 1 if line.endswith("\r") else end))
        pos = end + 1
    return spans


def _cut_points(text: str, start: int, end: int, first_marker: str, template: bool) -> list[int]:
    """Where one physical line holds several items: inline headers, " - " bullets, 1. 2. 3."""
    cuts = {m.end() for m in _INLINE_HEADER.finditer(text, start, end)}
    if template:
        cuts.update(m.end() for m in _TEMPLATE_CUT.finditer(text, start, end))
    for m in _INLINE_HEADER.finditer(text, start, end):
        found = _match_header(text, m.end(), end)
        if found:
            cuts.add(found[0])
    cuts.update(m.end() for m in _INLINE_BULLET.finditer(text, start, end))
    if first_marker == "-":
        cuts.update(m.end() for m in _INLINE_DASH.finditer(text, start, end))
    numbers = list(_INLINE_NUMBER.finditer(text, start, end))
    if numbers:
        leading = re.match(r"\(?(\d+)", first_marker)
        expected = int(leading.group(1)) + 1 if leading else 1
        chain = []
        for m in numbers:
            if int(m.group(1)) == expected:
                chain.append(m.end())
                expected += 1
        if len(chain) + (1 if leading else 0) >= 2:
            cuts.update(chain)
    return sorted(c for c in cuts if start < c < end)


def _pieces(text: str, template: bool) -> list[_Piece]:
    pieces: list[_Piece] = []
    blank = True
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        stripped = line.lstrip()
        if not stripped.strip():
            blank = True
            continue
        indent = len(line[: len(line) - len(stripped)].expandtabs(4))
        content_start = line_end - len(stripped)
        marker_match = _MARKER.match(text, content_start, line_end)
        first_marker = marker_match.group("marker") if marker_match else ""
        segment_starts = [
            content_start,
            *_cut_points(text, content_start, line_end, first_marker, template),
        ]
        for n, seg_start in enumerate(segment_starts):
            seg_end = segment_starts[n + 1] if n + 1 < len(segment_starts) else line_end
            pieces.extend(_split_header(text, seg_start, seg_end, indent, blank and n == 0, n > 0))
        blank = False
    return pieces


def _split_header(
    text: str, start: int, end: int, indent: int, blank: bool, inline: bool
) -> list[_Piece]:
    """One segment, with its marker peeled; a leading header becomes a piece of its own."""
    out = []
    while start < end:
        while start < end and text[start].isspace():
            start += 1
        marker = ""
        m = _MARKER.match(text, start, end)
        if m and m.end() < end:
            marker = m.group("marker")
            start = m.end()
            while start < end and text[start].isspace():  # Unicode spaces the regex left
                start += 1
        stop = end
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        if stop <= start:
            break
        header = _match_header(text, start, stop)
        if header and header[0] < stop:
            out.append(_Piece(start, header[0], marker, indent, blank, inline, header))
            start, blank, inline = header[0], False, True
            continue
        out.append(_Piece(start, stop, marker, indent, blank, inline, header))
        break
    return out


# --- assembling items ----------------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    """An item still open for children."""

    index: int
    indent: int
    style: str
    rank: int  # headings: 0 capitals, 1 titles, 2 cue lead-ins; list items: _ITEM


_ITEM = 10


@dataclass(slots=True)
class _Draft:
    start: int
    end: int
    marker: str
    indent: int
    parent: int | None
    depth: int
    section: Kind | None
    lead_kind: Kind | None


def _lead_kind(text: str, section: Kind | None) -> Kind | None:
    """Kind set by a lead-in line for its children, or None if it says nothing about kind."""
    if not text.rstrip().endswith(":"):
        return None
    if _EXCLUSION_CUE.search(text):
        return Kind.EXCLUSION
    if section is not Kind.EXCLUSION and _INCLUSION_CUE.search(text):
        return Kind.INCLUSION
    return None


def _heading_rank(text: str, lead: Kind | None) -> int:
    letters = [c for c in text if c.isalpha()]
    if text.startswith("--") or (letters and all(c.isupper() for c in letters)):
        return 0
    return 2 if lead else 1


def _is_heading_line(piece: _Piece, text: str) -> bool:
    body = text[piece.start : piece.end]
    return (
        not piece.marker
        and len(body) <= _HEADING_MAX_CHARS
        and (body.endswith(":") or (body.startswith("--") and body.endswith("--")))
    )


@dataclass(frozen=True, slots=True)
class _Layout:
    """Whole-text traits that decide how line breaks are read.

    ``paragraphs``: blank lines separate marker-less items, so a line break without one is
    wrapping (legacy XML); otherwise each line is an item (Chia, LCT).
    ``template``: the old NCI template, whose sub-headings ("Hepatic:") start items.
    ``wrapped``: indented and hard-wrapped near 100 columns (legacy XML), so a long line that
    stops mid-sentence goes on in the next one.
    """

    paragraphs: bool
    template: bool
    wrapped: bool


def _continues(piece: _Piece, last: _Draft, source: str, layout: _Layout) -> bool:
    """Whether a marker-less line is the wrapped tail of the previous item."""
    if piece.marker or piece.inline:
        return False
    if layout.template and _TEMPLATE_LABEL.match(source, piece.start):
        return False
    previous = source[last.start : last.end]
    if previous.endswith(":"):
        return False
    if last.marker and piece.indent > last.indent:
        return not piece.blank_before or previous[-1] not in ".;!?"
    if piece.blank_before:
        return False
    # "... having 3 or more of the" + "following 5 alterations:" is one heading, wrapped
    if _is_heading_line(piece, source) and not _CONNECTOR_END.search(previous):
        return False
    first = source[piece.start]
    last_line = previous.rsplit("\n", 1)[-1]
    return (
        (
            layout.wrapped
            and len(last_line) + last.indent >= _WRAP_MIN
            and previous[-1] not in ".;!?"
        )
        or (layout.paragraphs and not last.marker)
        or previous.count("(") > previous.count(")")
        or first.islower()
        or first in "(&+/,"
        or bool(_CONNECTOR_END.search(previous))
    )


def _hard_wrapped(text: str) -> bool:
    lines = [line.rstrip() for line in text.split("\n") if line.strip()]
    return (
        bool(lines)
        and all(len(line) <= _WRAP_MAX and line[:4].isspace() for line in lines)
        and any(len(line) >= _WRAP_MIN for line in lines)
    )


def _paragraph_layout(pieces: list[_Piece]) -> bool:
    """True when blank lines separate two marker-less, non-header lines somewhere."""
    return any(
        piece.blank_before and not (piece.marker or before.marker or piece.header or before.header)
        for before, piece in itertools.pairwise(pieces)
    )


def parse_criteria(text: str, default_kind: Kind = Kind.INCLUSION) -> ParsedCriteria:
    """Items and headers of one eligibility text; ``default_kind`` applies before any header.

    Items with no header or lead-in to say otherwise get ``default_kind`` and are flagged
    ``inferred``; pass ``Kind.EXCLUSION`` for sources that hold exclusions only.
    """
    text = text or ""
    template = _TEMPLATE_TEXT.search(text) is not None
    pieces = _pieces(text, template)
    layout = _Layout(_paragraph_layout(pieces), template, _hard_wrapped(text))
    headers: list[Header] = []
    drafts: list[_Draft] = []
    stack: list[_Open] = []
    section: Kind | None = None
    section_start = 0
    open_header: Header | None = None

    for piece in pieces:
        body = text[piece.start : piece.end]
        if open_header is not None and open_header.text.count("(") > open_header.text.count(")"):
            headers[-1] = open_header = Header(
                text[open_header.start : piece.end], open_header.start, piece.end, open_header.kind
            )
            continue
        found = piece.header
        if found and found[0] == piece.end:
            open_header = Header(body, piece.start, piece.end, found[1])
            headers.append(open_header)
            if found[1] is not None:
                section = found[1]
            section_start = len(drafts)
            stack.clear()
            continue
        open_header = None
        if drafts and len(drafts) > section_start and _continues(piece, drafts[-1], text, layout):
            drafts[-1].end = piece.end
            continue
        lead = _lead_kind(body, section)
        style = _style(piece.marker)
        if _is_heading_line(piece, text):
            rank = _heading_rank(body, lead)
            while stack and stack[-1].rank >= rank:
                stack.pop()
        else:
            rank = _ITEM
            _close_siblings(stack, style, piece.indent, text, drafts)
        parent = stack[-1].index if stack else None
        depth = drafts[parent].depth + 1 if parent is not None else 0
        drafts.append(
            _Draft(piece.start, piece.end, piece.marker, piece.indent, parent, depth, section, lead)
        )
        stack.append(_Open(len(drafts) - 1, piece.indent, style, rank))

    return ParsedCriteria(text, _finish(text, drafts, default_kind), tuple(headers))


def _close_siblings(
    stack: list[_Open], style: str, indent: int, text: str, drafts: list[_Draft]
) -> None:
    """Pop open items this one is not nested in: deeper ones and its own previous sibling.

    Same marker family at the same indent is a sibling; deeper indent, or another family
    right after a line ending in ":", is a child.
    """
    while stack and stack[-1].rank == _ITEM:
        top = stack[-1]
        if top.style == style and abs(top.indent - indent) <= 1:
            stack.pop()
            return
        if indent > top.indent:
            return
        if indent == top.indent and text[drafts[top.index].end - 1] == ":":
            return
        stack.pop()


def _finish(text: str, drafts: list[_Draft], default_kind: Kind) -> tuple[Criterion, ...]:
    has_children = {d.parent for d in drafts if d.parent is not None}
    # per draft, the kind set by its nearest lead-in ancestor (parents come first)
    leads: list[Kind | None] = []
    items: list[Criterion] = []
    for index, draft in enumerate(drafts):
        parent = draft.parent
        lead = None if parent is None else drafts[parent].lead_kind or leads[parent]
        leads.append(lead)
        kind, source = _resolve_kind(lead, draft.section, default_kind)
        body = text[draft.start : draft.end]
        items.append(
            Criterion(
                index=index,
                kind=kind,
                text=body,
                start=draft.start,
                end=draft.end,
                marker=draft.marker,
                depth=draft.depth,
                parent=draft.parent,
                heading=index in has_children and body.rstrip().endswith(":"),
                kind_source=source,
            )
        )
    return tuple(items)


def _resolve_kind(
    lead: Kind | None, section: Kind | None, default: Kind
) -> tuple[Kind, KindSource]:
    if lead is not None:
        return lead, KindSource.LEAD_IN
    if section is not None:
        return section, KindSource.HEADER
    return default, KindSource.DEFAULT
