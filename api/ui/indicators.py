"""核损指标 dashboard: the desk's indicators as numbers and SVG bars."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Template

from api.ui import corefns
from api.ui.auth import login_required
from api.ui.charts import Bar, bar_chart
from api.ui.common import render
from pricebook import prices
from pricebook.errors import PricebookError

RATES = (
    ("custom_part_rate", "配件自定义率", "自定义配件行 / 配件行（越低越好）"),
    ("model_selection_rate", "系统车型点选率", "点选目录车型的定损单 / 定损单（越高越好）"),
    ("localization_rate", "常见车辆常见配件本地化率", "常见车型 × 常见配件中有本地化价格的比例"),
)


def _get(result: Any, name: str) -> Any:
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _rate(value: Any) -> float | None:
    """A share as 0–1 (Decimal, float, or a percent above 1)."""
    if value is None:
        return None
    if isinstance(value, dict):  # {"rate": …, "numerator": …, "denominator": …}
        value = value.get("rate", value.get("value"))
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = float(value)
        return number / 100 if number > 1 else number
    return None


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
        date_from = date_from or date_to - timedelta(days=30)
        fn = corefns.find("indicators")
        result: Any = None
        error = ""
        async with state.sessions() as session:
            refs = await session.run_sync(prices.reference_lists)
            if fn is not None:
                try:
                    result = await session.run_sync(
                        fn, branch=branch or None, date_from=date_from, date_to=date_to
                    )
                except PricebookError as exc:
                    error = exc.message
        rates = []
        for name, label, help_text in RATES:
            rate = _rate(_get(result, name)) if result is not None else None
            rates.append({"name": name, "label": label, "help": help_text, "rate": rate,
                          "text": "—" if rate is None else f"{rate * 100:.1f}%"})  # fmt: skip
        bars = bar_chart(
            [Bar(r["label"], r["rate"] or 0.0, r["text"]) for r in rates], maximum=1.0, width=560
        )
        turnaround = _get(result, "feedback_turnaround") if result is not None else None
        others = {
            "open_queue": _get(result, "open_queue") if result is not None else None,
            "median": _get(turnaround, "median_hours") or _get(turnaround, "median")
            if turnaround is not None else None,
            "p90": _get(turnaround, "p90_hours") or _get(turnaround, "p90")
            if turnaround is not None else None,
        }  # fmt: skip
        return render(request, "indicators.html", {
            "title": "核损指标", "nav": "indicators", "refs": refs, "branch": branch,
            "date_from": date_from, "date_to": date_to, "rates": rates, "bars": bars,
            "others": others, "supported": fn is not None, "error": error,
        })  # fmt: skip
