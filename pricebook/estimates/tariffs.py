"""A channel's rate card, the branch chain's labor rates and the region's rescue tariff as a
validation reads them (`load_refs`' card, labor and rescue stages)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from pricebook import review
from pricebook.estimates.memo import _BranchRow, _Card, _Static
from pricebook.estimates.statements import _Statements
from pricebook.labor import applied_rate
from pricebook.money import from_fen
from pricebook.prices import CardTerms


def _load_card(db: Connection, q: _Statements, channel: str, on: date) -> _Card | None:
    rows = db.execute(q.card_parts, {"channel": channel, "on": on}).all()
    if not rows:
        return None  # no such channel
    parts: dict[int, CardTerms] = {}
    for _, card_id, vf, vt, by, why, category_id, type_id, discount in rows:
        if card_id is not None and category_id is not None:
            parts[category_id] = CardTerms(
                channel, card_id, category_id, type_id, discount, vf, vt, by, why
            )
    labor = {
        kind_id: (card_id, rate_fen, pct_bp)
        for card_id, kind_id, rate_fen, pct_bp in db.execute(
            q.card_labor, {"channel": channel, "on": on}
        )
    }
    return _Card(parts, labor)


def _load_rescue(
    db: Connection, q: _Statements, region_ids: list[int], on: date, static: _Static
) -> review.RescueTariff | None:
    """The tariff in force of the nearest region in the chain."""
    order = {rid: n for n, rid in enumerate(region_ids)}
    tariffs = sorted(
        db.execute(q.rescue, {"region_ids": region_ids, "on": on}),
        key=lambda t: order[t.region_id],
    )
    if not tariffs:
        return None
    t = tariffs[0]
    return review.RescueTariff(
        static.region_names[t.region_id],
        from_fen(t.base_fen),
        Decimal(t.included_km),
        from_fen(t.per_km_fen),
        t.id,
        t.valid_from,
    )


def _labor_rates(
    rows: Sequence[Any],
    branch_ids: list[int],
    branches: dict[int, _BranchRow],
    card_labor: dict[int, tuple[int, int | None, int | None]],
    channel: str | None,
    kind_code: dict[int, str],
) -> dict[str, review.LaborRateRef]:
    """The rate per labor kind, as `pricebook.labor.labor_rates` decides it (the branch's own
    standard rate, else the nearest parent's; a channel card's labor line replaces it: a fixed
    rate or a percentage of the standard), from the chain's standard rates (`rows`)."""
    depth = {bid: n for n, bid in enumerate(branch_ids)}
    nearest: dict[int, Any] = {}
    for r in sorted(rows, key=lambda r: depth[r.branch_id]):
        nearest.setdefault(r.labor_kind_id, r)
    out: dict[str, review.LaborRateRef] = {}
    for kind_id, r in nearest.items():
        standard = from_fen(r.rate_fen)
        code = branches[r.branch_id].code
        card_id, rate_fen, pct_bp = card_labor.get(kind_id, (None, None, None))
        card_channel = channel if card_id else None
        rate, why, _ = applied_rate(
            standard, code, r.branch_id == branch_ids[0], card_channel, rate_fen, pct_bp
        )
        out[kind_code[kind_id]] = review.LaborRateRef(
            kind_code[kind_id],
            rate,
            standard,
            why,
            code,
            r.id,
            card_channel,
            card_id,
            r.valid_from,
        )
    return out
