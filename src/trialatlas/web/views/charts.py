"""Server-side SVG bar charts for the landscape page: geometry here, markup in a template.

Charts are drawn as inline SVG with a <title>, a text label and a value beside every bar, so
they read without JavaScript, scale to a phone's width, and make sense to a screen reader;
each bar links to the search that lists its studies.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 480  # viewBox units; text is 13 units, so it stays legible scaled to a phone
ROW = 24  # height of one horizontal bar's row
LABEL_WIDTH = 150
VALUE_WIDTH = 56
COLUMN_HEIGHT = 180
AXIS_LABEL_HEIGHT = 24
MAX_LABEL_CHARS = 21


@dataclass(frozen=True, slots=True)
class Datum:
    """One category: its label, its count and the search URL that lists those studies."""

    label: str
    count: int
    url: str


@dataclass(frozen=True, slots=True)
class Bar:
    datum: Datum
    x: float
    y: float
    width: float
    height: float
    short_label: str
    show_label: bool


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart ready to draw: ``kind`` is "bars" (horizontal) or "columns" (vertical)."""

    key: str
    title: str
    kind: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    data: tuple[Datum, ...]

    @property
    def total(self) -> int:
        return sum(d.count for d in self.data)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def bar_chart(key: str, title: str, data: list[Datum]) -> Chart:
    """Horizontal bars, one row per category, labels on the left and counts on the right."""
    top = max((d.count for d in data), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = tuple(
        Bar(
            d,
            LABEL_WIDTH,
            i * ROW + 4,
            max(d.count / top * span, 1),
            ROW - 8,
            _short(d.label),
            True,
        )
        for i, d in enumerate(data)
    )
    return Chart(key, title, "bars", WIDTH, max(len(data), 1) * ROW, bars, tuple(data))


def column_chart(key: str, title: str, data: list[Datum]) -> Chart:
    """Vertical columns in the data's order (years), every n-th axis label shown so none overlap."""
    top = max((d.count for d in data), default=0) or 1
    slot = WIDTH / max(len(data), 1)
    step = max(1, round(len(data) * 44 / WIDTH))  # about 44 units per visible label
    bars = tuple(
        Bar(
            d,
            i * slot + slot * 0.1,
            COLUMN_HEIGHT - max(d.count / top * (COLUMN_HEIGHT - 16), 1),
            slot * 0.8,
            max(d.count / top * (COLUMN_HEIGHT - 16), 1),
            d.label,
            i % step == 0,
        )
        for i, d in enumerate(data)
    )
    return Chart(key, title, "columns", WIDTH, COLUMN_HEIGHT + AXIS_LABEL_HEIGHT, bars, tuple(data))
