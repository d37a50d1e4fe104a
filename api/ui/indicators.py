"""核损指标 dashboard: the desk's indicators as numbers and SVG bars, every rate with what it
is made of (numerator / denominator, estimates); weekly and monthly trends ending on the
period's last day; the period's branches side by side."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.orm import Session

from api.ui.auth import login_required
from api.ui.charts import Bar, bar_chart
from api.ui.common import render
from api.ui.messages import zh
from pricebook import indicators, prices
from pricebook.days import days_from
from pricebook.errors import PricebookError

#: how far back the trends look from the period's last day
TREND_WEEKS = 12
TREND_MONTHS = 12
RATES = (
    ("custom_part_rate", "配件自定义率", "自定义配件行 / 配件行（越低越好）"),
    ("model_selection_rate", "系统车型点选率", "点选目录车型的定损单 / 定损单（越高越好）"),
    ("localization_rate", "常见车辆常见配件本地化率", "常见车型 × 常见配件中有本地化价格的比例"),
)


def _rate(rate: indicators.Rate) -> float | None:
    return None if rate["rate"] is None else float(rate["rate"])


def percent(rate: indicators.Rate) -> str:
    """A rate as the page prints it: one decimal of a percent, "—" without a denominator."""
    return "—" if rate["rate"] is None else f"{rate['rate'] * 100:.1f}%"


def _trend_start(date_to: date, by: indicators.Breakdown) -> date:
    if by == "week":
        return days_from(indicators.bucket_start(date_to, "week"), -7 * (TREND_WEEKS - 1))
    month = indicators.bucket_start(date_to, "month")
    for _ in range(TREND_MONTHS - 1):
        month = days_from(month, -1).replace(day=1)
    return month


def _breakdowns(
    session: Session, branch: str | None, date_from: date, date_to: date
) -> dict[str, list[indicators.Slice]]:
    """The weekly and monthly trends up to `date_to` (of `branch`, or all), and every branch
    over the period."""
    return {
        "weeks": indicators.breakdown(
            session,
            by="week",
            branch=branch,
            date_from=_trend_start(date_to, "week"),
            date_to=date_to,
        ),
        "months": indicators.breakdown(
            session,
            by="month",
            branch=branch,
            date_from=_trend_start(date_to, "month"),
            date_to=date_to,
        ),
        "branches": indicators.breakdown(
            session, by="branch", date_from=date_from, date_to=date_to
        ),
    }


class IndicatorPages(Controller):
    path = "/indicators"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        state: State,
        branch: Annotated[str, QueryParameter(max_length=64)] = "",
        date_from: Annotated[date | None, QueryParameter(name="from")] = None,
        date_to: Annotated[date | None, QueryParameter(name="to")] = None,
    ) -> Template:
        today = date.today()
        date_to = date_to or today
        date_from = date_from or days_from(date_to, -30)
        result: indicators.Indicators | None = None
        split: dict[str, list[indicators.Slice]] = {}
        error = ""
        async with state.sessions() as session:
            refs = await session.run_sync(prices.reference_lists)
            try:
                result = await session.run_sync(
                    indicators.compute_indicators,
                    branch=branch or None,
                    date_from=date_from,
                    date_to=date_to,
                )
                split = await session.run_sync(_breakdowns, branch or None, date_from, date_to)
            except PricebookError as exc:
                error = zh(exc)
        rates = []
        for name, label, help_text in RATES:
            counts: indicators.Rate | None = getattr(result, name) if result is not None else None
            rate = _rate(counts) if counts is not None else None
            rates.append(
                {
                    "name": name,
                    "label": label,
                    "help": help_text,
                    "rate": rate,
                    "text": "—" if rate is None else f"{rate * 100:.1f}%",
                    "counts": counts,
                }
            )
        bars = bar_chart(
            [Bar(r["label"], r["rate"] or 0.0, r["text"]) for r in rates], maximum=1.0, width=560
        )
        turnaround = result.feedback_turnaround if result is not None else None
        others = {
            "open_queue": result.open_queue if result is not None else None,
            "median": turnaround["median_hours"] if turnaround else None,
            "p90": turnaround["p90_hours"] if turnaround else None,
        }
        return render(
            request,
            "indicators.html",
            {
                "title": "核损指标",
                "nav": "indicators",
                "refs": refs,
                "branch": branch,
                "date_from": date_from,
                "date_to": date_to,
                "rates": rates,
                "bars": bars,
                "others": others,
                "error": error,
                "estimates": result.estimates if result is not None else None,
                "percent": percent,
                "weeks": split.get("weeks", []),
                "months": split.get("months", []),
                "branches": split.get("branches", []),
            },
        )
