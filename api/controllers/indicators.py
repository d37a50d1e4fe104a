"""The desk's indicators (第四条) and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import QueryParameter

from api.auth import require
from api.controllers import NO_STORE, READ_ERRORS, REVALIDATE, Limit, Offset, OptCode, run
from api.schemas import AuditEntry, Indicators, Page, to
from pricebook import audit, indicators

From = Annotated[dt.date | None, QueryParameter(name="from", description="first day (inclusive)")]
To = Annotated[dt.date | None, QueryParameter(name="to", description="last day (inclusive)")]


class IndicatorController(Controller):
    path = "/indicators"
    tags = ["indicators"]  # noqa: RUF012
    guards = [require("reviewer")]  # noqa: RUF012
    cache_control = REVALIDATE

    @get(
        "/",
        summary="配件自定义率, 系统车型点选率, 常见车辆常见配件本地化率, feedback turnaround, queue",
        description="Each rate with its numerator and denominator. From stored validations "
        "(an estimate counts once, by its latest validation; the period is on the estimate's "
        "date): custom part lines / part lines; estimates with a catalogue model / estimates; "
        "of the `top` models × `top` parts by validation frequency (pairs where the part fits "
        "the model), the share with a localized (branch or region) price in force on `to` in "
        "the branch — every branch with estimates when none is given. Feedback turnaround: "
        "median and p90 (nearest rank) of resolved − created, in hours, over items decided in "
        "the period. Open queue: unresolved items now.",
        responses=READ_ERRORS,
    )
    async def indicators(
        self,
        state: State,
        branch: OptCode = None,
        date_from: From = None,
        date_to: To = None,
        top: Annotated[int, QueryParameter(ge=1, le=200)] = indicators.DEFAULT_TOP,
    ) -> Indicators:
        result = await run(
            state,
            indicators.compute_indicators,
            branch=branch,
            date_from=date_from,
            date_to=date_to,
            top=top,
        )
        return to(Indicators, result)


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    cache_control = NO_STORE

    @get(
        "/",
        summary="The audit log: who changed what, when, from what to what, and why",
        description="Newest first. `entity` is the table (prices, labor_rates, standard_hours, "
        "rate_cards, channels, part_aliases, synonym_terms, feedback_items, api_keys, or an "
        "import kind); `who` an actor as written or an API key's name; `from`/`to` days "
        "(inclusive, UTC).",
        responses=READ_ERRORS,
    )
    async def audit_log(
        self,
        state: State,
        entity: OptCode = None,
        entity_id: OptCode = None,
        who: Annotated[str | None, QueryParameter(min_length=1, max_length=200)] = None,
        date_from: From = None,
        date_to: To = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[AuditEntry]:
        page = await run(
            state,
            audit.query,
            entity=entity or "",
            entity_id=entity_id or "",
            who=who or "",
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            offset=offset,
        )
        return to(Page[AuditEntry], page)
