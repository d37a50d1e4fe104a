"""The UI's SVG chart geometry (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from api.ui.charts import (
    PALETTE,
    Bar,
    Line,
    MarketPoint,
    Segment,
    bar_chart,
    nice_step,
    price_history_chart,
)


def test_nice_step() -> None:
    assert nice_step(1000) == 200
    assert nice_step(4300) == 1000
    assert nice_step(12) == 2.5
    assert nice_step(0.5) == 0.1


def test_contiguous_versions_make_one_step_line_and_gaps_break_it() -> None:
    segs = [
        Segment(date(2025, 1, 1), date(2025, 7, 1), Decimal("100"), "a"),
        Segment(date(2025, 7, 1), date(2025, 9, 1), Decimal("120"), "b"),
        Segment(date(2025, 10, 1), None, Decimal("90"), "c"),
    ]
    chart = price_history_chart([("BJ01 · 4s", segs)], today=date(2026, 1, 1))
    (series,) = chart.series
    assert series.path.count("M ") == 2  # one break, at the gap in September
    assert series.path.count("V ") == 1  # the July step
    assert [p[2] for p in series.points] == ["a", "b", "c"]
    ys = [p[1] for p in series.points]
    assert ys[1] < ys[0] < ys[2]  # higher amounts are drawn higher (smaller y)
    xs = [p[0] for p in series.points]
    assert xs == sorted(xs)
    assert chart.today_x is not None and chart.left < chart.today_x < chart.right
    assert chart.y_ticks[0][1] == "0"


def test_market_points_and_empty_chart() -> None:
    chart = price_history_chart(
        [("x", [Segment(date(2025, 1, 1), None, Decimal("100"), "a")])],
        [MarketPoint(date(2025, 6, 1), Decimal("80"), "m")],
        today=date(2025, 12, 1),
    )
    assert len(chart.market) == 1 and chart.market[0][2] == "m"
    assert price_history_chart([], today=date(2025, 1, 1)).empty


def test_bar_chart_scales_to_the_maximum() -> None:
    bars = bar_chart([Bar("a", 0.5, "50%"), Bar("b", 1.5, "150%")], maximum=1.0)
    assert bars["rows"][0]["w"] == bars["plot_w"] / 2
    assert bars["rows"][1]["w"] == bars["plot_w"]


def test_a_price_type_keeps_its_colour_and_a_layer_its_dash() -> None:
    seg = [Segment(date(2025, 1, 1), None, Decimal("100"), "a")]
    lines = [Line("北京 · 品牌件", seg, "brand", "branch"), Line("系统 · 4S", seg, "4s", "system"),
             Line("广东 · 4S", seg, "4s", "region"), Line("系统 · 品牌件", seg, "brand", "system")]  # fmt: skip
    chart = price_history_chart(lines, today=date(2026, 1, 1), kinds=["4s", "oem", "brand"])
    colours = {s.label: s.color for s in chart.series}
    assert colours["系统 · 4S"] == colours["广东 · 4S"] != colours["北京 · 品牌件"]
    assert colours["北京 · 品牌件"] == colours["系统 · 品牌件"]
    assert colours["系统 · 4S"] == PALETTE[0] and colours["系统 · 品牌件"] == PALETTE[2]  # by rank
    dashes = {s.label: s.dash for s in chart.series}
    assert dashes["系统 · 4S"] == "" and dashes["广东 · 4S"] != dashes["北京 · 品牌件"] != ""


def test_month_ticks_and_room_after_an_open_price() -> None:
    # a year and a half of history: a label every 2 months, never more than 12, aligned to January
    segs = [Segment(date(2024, 7, 15), None, Decimal("100"), "a")]
    chart = price_history_chart([("x", segs)], today=date(2025, 12, 1))
    labels = [label for _, label in chart.x_ticks]
    assert 6 <= len(labels) <= 12 and "2025-01" in labels
    months = [int(label[5:]) for label in labels]
    assert all((m - 1) % (months[1] - months[0]) == 0 for m in months)
    # a price that starts today is a line reaching right, not a dot at the edge
    today = date(2025, 12, 1)
    chart = price_history_chart([("x", [Segment(today, None, Decimal("1"), "t")])], today=today)
    (series,) = chart.series
    x0 = series.points[0][0]
    assert chart.right - x0 > (chart.right - chart.left) / 10
