"""Market observations for the price-history chart, when the core can load them.

The chart overlays a part's matched market observations as dots. Loading them is the market
module's job (`pricebook.market.part_observations(session, part_id)`, returning items with an
amount — `amount` in yuan or `amount_fen` — a day — `first_seen`, `last_seen` or `fetched_at` —
and a `source`). Until that function exists the chart shows prices only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from api.ui.charts import MarketPoint
from pricebook.money import from_fen

LOADER = "part_observations"


def _loader() -> Any:
    try:
        from pricebook import market
    except ImportError:  # pragma: no cover - the market module is part of the core
        return None
    fn = getattr(market, LOADER, None)
    return fn if callable(fn) else None


def supported() -> bool:
    return _loader() is not None


def _day(item: Any) -> date | None:
    for name in ("first_seen", "last_seen", "fetched_at", "observed_on", "on"):
        value = getattr(item, name, None)
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
    return None


def _amount(item: Any) -> Decimal | None:
    amount = getattr(item, "amount", None)
    if isinstance(amount, Decimal):
        return amount
    fen = getattr(item, "amount_fen", None)
    return from_fen(fen) if isinstance(fen, int) else None


def observations(session: Session, part_id: int) -> list[MarketPoint]:
    fn = _loader()
    if fn is None:
        return []
    points = []
    for item in fn(session, part_id):
        day, amount = _day(item), _amount(item)
        if day is None or amount is None:
            continue
        source = getattr(item, "source", "") or "市场"
        points.append(MarketPoint(day, amount, f"市场观测 {source}：{amount} 元（{day}）"))
    return points
