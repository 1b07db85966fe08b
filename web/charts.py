"""Charts drawn on the server as inline SVG: no script, no third-party service.

Each builder is a pure function returning escaped markup. The SVG carries a
<title> and <desc> named by aria-labelledby; pages put a data table beside each
chart for screen readers and for print.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape  # on plain text: half the cost of markupsafe.escape, a Markup at the end
from itertools import count

from markupsafe import Markup

_ids = count(1)
WIDTH = 520
BAR_AREA_HEIGHT = 200
LABEL_SPACE = 64
TOP_SPACE = 22
ROW_HEIGHT = 34
LABEL_WIDTH = 200
VALUE_SPACE = 80
MAX_LABEL = 20


@dataclass(frozen=True)
class Point:
    """One bar: its label, its length and the text written next to it."""

    label: str
    value: float
    text: str


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _frame(title: str, description: str, width: int, height: int, body: list[str]) -> Markup:
    number = next(_ids)
    title_id, desc_id = f"chart-title-{number}", f"chart-desc-{number}"
    head = (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def column_chart(title: str, description: str, points: Sequence[Point]) -> Markup:
    """Vertical bars (one per month, say), each labelled below and valued above."""
    height = TOP_SPACE + BAR_AREA_HEIGHT + LABEL_SPACE
    top = max((point.value for point in points), default=0) or 1
    slot = WIDTH / max(len(points), 1)
    bar = min(max(slot * 0.7, 2), 64)
    base = TOP_SPACE + BAR_AREA_HEIGHT
    body = [f'<line class="axis" x1="0" y1="{base}" x2="{WIDTH}" y2="{base}"/>']
    small = len(points) > 12
    for index, point in enumerate(points):
        size = BAR_AREA_HEIGHT * point.value / top
        x = index * slot + (slot - bar) / 2
        middle = x + bar / 2
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - size:.1f}" width="{bar:.1f}" '
            f'height="{size:.1f}"><title>{escape(point.label)}: {escape(point.text)}</title></rect>'
        )
        if point.value and not small:
            body.append(
                f'<text class="value" x="{middle:.1f}" y="{base - size - 5:.1f}" '
                f'text-anchor="middle">{escape(point.text)}</text>'
            )
        body.append(
            f'<text x="{middle:.1f}" y="{base + 16}" text-anchor="end" '
            f'transform="rotate(-40 {middle:.1f} {base + 16})">{escape(_short(point.label))}</text>'
        )
    return _frame(title, description, WIDTH, height, body)


def bar_chart(title: str, description: str, points: Sequence[Point]) -> Markup:
    """Horizontal bars (one per category, say): label on the left, value on the right."""
    height = max(len(points), 1) * ROW_HEIGHT + 10
    top = max((point.value for point in points), default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_SPACE
    body = [f'<line class="axis" x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{height}"/>']
    for index, point in enumerate(points):
        y = index * ROW_HEIGHT + 5
        size = room * point.value / top
        body.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 20}" text-anchor="end">'
            f"{escape(_short(point.label))}</text>"
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 4}" width="{size:.1f}" height="22">'
            f"<title>{escape(point.label)}: {escape(point.text)}</title></rect>"
            f'<text class="value" x="{LABEL_WIDTH + size + 6:.1f}" y="{y + 20}">'
            f"{escape(point.text)}</text>"
        )
    return _frame(title, description, WIDTH, height, body)


def hours_points(rows: Sequence[tuple[str, int]]) -> list[Point]:
    """Points from (label, minutes) pairs, valued in hours."""
    return [Point(label, minutes / 60, _number(minutes / 60) + " h") for label, minutes in rows]
