"""Server-rendered SVG charts: geometry here (pure, tested), markup in the templates (escaped).

The price-history chart draws one step line per price key (scope × price type × model): each
version is a horizontal segment over its validity, joined vertically to the next version when it
starts the day the previous one ends. Lines of one price type share a colour and lines of one
layer (system, region, branch) a dash, so a dozen lines stay tellable apart. Market
observations are hollow dots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pricebook.days import days_from

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Segment:
    valid_from: date
    valid_to: date | None
    amount: Decimal
    title: str


@dataclass(frozen=True, slots=True)
class MarketPoint:
    on: date
    amount: Decimal
    title: str


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    segments: Sequence[Segment]
    #: the price type: lines of one kind share a colour
    kind: str = ""
    #: the layer (system / region / branch): lines of one layer share a dash
    layer: str = ""


#: stroke-dasharray per layer: the national price solid, regional dashed, a branch's dotted
LAYER_DASH = {"system": "", "region": "9 4", "branch": "3 3"}
#: month steps for the x axis, the smallest giving at most `MAX_X_LABELS` labels is used
MONTH_STEPS = (1, 2, 3, 6, 12, 24)
MAX_X_LABELS = 12


@dataclass
class Series:
    label: str
    color: str
    path: str
    points: list[tuple[float, float, str]] = field(default_factory=list)
    dash: str = ""


@dataclass
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    series: list[Series]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    market: list[tuple[float, float, str]]
    today_x: float | None
    empty: bool = False


def nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2, 2.5, 5 × 10ⁿ) giving about `ticks` intervals over `span`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover


def price_history_chart(
    lines: Sequence[Line | tuple[str, Sequence[Segment]]],
    market: Iterable[MarketPoint] = (),
    *,
    today: date,
    kinds: Sequence[str] = (),
    width: int = 1100,
    height: int = 340,
) -> Chart:
    """`kinds` orders the colours (the price types in rank order: a type keeps its colour from
    part to part); kinds it does not list follow, in the order their lines come."""
    left, right, top, bottom = 70, width - 20, 20, height - 40
    market = list(market)
    lines = [line if isinstance(line, Line) else Line(*line) for line in lines]
    kinds = list(dict.fromkeys([*kinds, *(line.kind for line in lines)]))
    days = [s.valid_from for line in lines for s in line.segments]
    days += [s.valid_to for line in lines for s in line.segments if s.valid_to is not None]
    days += [m.on for m in market]
    amounts = [float(s.amount) for line in lines for s in line.segments]
    amounts += [float(m.amount) for m in market]
    if not days or not amounts:
        return Chart(width, height, left, top, right, bottom, [], [], [], [], None, empty=True)
    start = min(days)
    # room after the last change (or today) so an open-ended price reads as a line, not a dot
    last = max(*days, today)
    end = days_from(last, max(30, (last - start).days // 8))
    if (end - start).days < 60:
        start = days_from(end, -60)
    span_days = (end - start).days

    def x(day: date) -> float:
        day = min(max(day, start), end)
        return round(left + (right - left) * (day - start).days / span_days, 1)

    step = nice_step(max(amounts) * 1.1)
    y_max = step * (int(max(amounts) * 1.1 / step) + 1)

    def y(amount: float) -> float:
        return round(bottom - (bottom - top) * amount / y_max, 1)

    series: list[Series] = []
    for line in lines:
        label, segments = line.label, line.segments
        parts: list[str] = []
        points: list[tuple[float, float, str]] = []
        previous_end: date | None = None
        for seg in sorted(segments, key=lambda s: s.valid_from):
            x0, x1, yy = x(seg.valid_from), x(seg.valid_to or end), y(float(seg.amount))
            if previous_end is not None and previous_end == seg.valid_from:
                parts.append(f"V {yy} H {x1}")
            else:
                parts.append(f"M {x0} {yy} H {x1}")
            points.append((x0, yy, seg.title))
            previous_end = seg.valid_to
        color = PALETTE[kinds.index(line.kind) % len(PALETTE)]
        dash = LAYER_DASH.get(line.layer, "")
        series.append(Series(label, color, " ".join(parts), points, dash))

    x_ticks: list[tuple[float, str]] = []
    month = date(start.year, start.month, 1)
    span_months = span_days // 30 + 1
    # past the steps' reach (a version dated centuries away), whole years enough for the labels
    years = -(-span_months // (12 * MAX_X_LABELS))
    months = next((m for m in MONTH_STEPS if span_months // m <= MAX_X_LABELS), 12 * years)
    month = date(month.year, month.month - (month.month - 1) % months, 1)  # steps align to Jan
    while month <= end:
        if month >= start:
            x_ticks.append((x(month), f"{month.year}-{month.month:02d}"))
        total = month.month - 1 + months
        if month.year + total // 12 > date.max.year:
            break
        month = date(month.year + total // 12, total % 12 + 1, 1)
    y_ticks = []
    value = 0.0
    while value <= y_max + 1e-9:
        y_ticks.append((y(value), f"{value:,.0f}" if step >= 1 else f"{value:,.2f}"))
        value += step
    dots = [(x(m.on), y(float(m.amount)), m.title) for m in market]
    today_x = x(today) if start <= today <= end else None
    return Chart(width, height, left, top, right, bottom, series, x_ticks, y_ticks, dots, today_x)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    text: str


def bar_chart(
    bars: Sequence[Bar], *, maximum: float | None = None, width: int = 420
) -> dict[str, Any]:
    """Horizontal bars: label, bar length and value text for each row."""
    top = maximum if maximum is not None else max((b.value for b in bars), default=0) or 1.0
    label_w, row_h = 200, 28
    plot_w = width - label_w - 70
    rows = [
        {
            "label": b.label,
            "y": 10 + n * row_h,
            "w": round(plot_w * min(b.value, top) / top, 1),
            "text": b.text,
        }
        for n, b in enumerate(bars)
    ]
    return {
        "width": width,
        "height": 20 + row_h * len(bars),
        "label_w": label_w,
        "rows": rows,
        "plot_w": plot_w,
    }
