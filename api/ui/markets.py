"""Market observations as dots on the part page's price-history chart."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.ui.charts import MarketPoint
from pricebook.market import part_observations


def observations(session: Session, part_id: int, price_type_id: int | None) -> list[MarketPoint]:
    """One dot per observation, on the day the amount was first seen; its title says where and
    for how long it was seen (the chart's tooltip)."""
    points = []
    for item in part_observations(session, part_id, price_type_id=price_type_id):
        first, last = item.first_seen.date(), item.last_seen.date()
        seen = f"{first}" if first == last else f"{first} 至 {last}"
        points.append(
            MarketPoint(first, item.amount, f"市场观测 {item.source}：{item.amount} 元（{seen}）")
        )
    return points
