"""Bar charts drawn as SVG on the server: the geometry is computed here, drawn by a partial.

No chart library and no inline style: bars are <rect> elements whose size is an SVG
presentation attribute and whose colour comes from a class in keyhold.css.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

WIDTH = 380
LABEL_WIDTH = 100
BAR_START = LABEL_WIDTH + 8
BAR_AREA = 160
ROW_HEIGHT = 28
BAR_HEIGHT = 16
TOP = 6
LABEL_MAX = 15


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    total: int
    highlight: int
    total_width: float
    highlight_width: float
    y: int

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 4

    @property
    def rest_x(self) -> float:
        return BAR_START + self.highlight_width

    @property
    def rest_width(self) -> float:
        return self.total_width - self.highlight_width

    @property
    def value_x(self) -> float:
        return BAR_START + self.total_width + 6


@dataclass(frozen=True)
class BarChart:
    title: str
    description: str
    bars: list[Bar]
    hidden: int
    width: int = WIDTH
    label_x: int = LABEL_WIDTH
    bar_start: int = BAR_START

    @property
    def height(self) -> int:
        return TOP * 2 + ROW_HEIGHT * len(self.bars)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1].rstrip() + "…"


def bar_chart(
    rows: Iterable[Any],
    *,
    title: str,
    description: str,
    label: str = "name",
    total: str = "opened",
    highlight: str = "flagged",
    limit: int = 12,
) -> BarChart:
    """Horizontal bars of `total` per row, the `highlight` part drawn first in its colour."""
    rows = [row for row in rows if getattr(row, total)]
    shown = rows[:limit]
    largest = max((getattr(row, total) for row in shown), default=0) or 1
    bars = []
    for index, row in enumerate(shown):
        value = getattr(row, total)
        part = min(getattr(row, highlight), value)
        bars.append(
            Bar(
                label=_short(getattr(row, label)),
                full_label=getattr(row, label),
                total=value,
                highlight=part,
                total_width=round(BAR_AREA * value / largest, 1),
                highlight_width=round(BAR_AREA * part / largest, 1),
                y=TOP + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) // 2,
            )
        )
    return BarChart(title=title, description=description, bars=bars, hidden=len(rows) - len(shown))
