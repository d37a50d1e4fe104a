"""`demo scale` writes the parts, aliases, fitment and exactly the prices asked for."""

from __future__ import annotations

from sqlalchemy import func, select

from pricebook.db import session_factory
from pricebook.demo import scale_demo
from pricebook.models import Fitment, Part, Price


def test_scale_adds_parts_and_exactly_the_prices_asked_for(engine):
    scale_demo(engine, parts=300, prices=4000)
    with session_factory(engine)() as session:
        scale_parts = session.scalar(select(func.count()).where(Part.code.like("SCALE-%")))
        scale_prices = session.scalar(select(func.count()).where(Price.created_by == "scale"))
        fitted = session.scalar(
            select(func.count()).select_from(Fitment).join(Part).where(Part.code.like("SCALE-%"))
        )
        closed = session.scalar(
            select(func.count()).where(Price.created_by == "scale", Price.valid_to.is_not(None))
        )
    assert scale_parts == 300
    assert scale_prices == 4000
    assert fitted == 300 * 3
    assert 0 < closed < scale_prices  # every fifth key also has an older, closed version
