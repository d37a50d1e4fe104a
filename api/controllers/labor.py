from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter

from api.auth import require
from api.controllers import READ_ERRORS, REVALIDATE, Limit, Offset, OptCode, OptId, run
from api.schemas import LaborRate, Page, StandardHours, to
from pricebook import labor

Date = Annotated[dt.date | None, QueryParameter(name="date", description="day in force (today)")]


class LaborController(Controller):
    path = "/"
    tags = ["labor"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = REVALIDATE

    @get(
        "/labor-rates",
        summary="Branch standard labor rates, with a channel card's rate where one applies",
        description="With `branch`, one row per labor kind × shop tier × vehicle class: the "
        "branch's own rate, else its parent branch's. With `channel`, the card's labor line "
        "(a rate or a percentage of the standard) is the rate that applies.",
        responses=READ_ERRORS,
    )
    async def labor_rates(
        self,
        state: State,
        branch: OptCode = None,
        kind: OptCode = None,
        shop_tier: FromQuery[Literal["4s", "class1", "class2", "class3"] | None] = None,
        vehicle_class: FromQuery[Literal["A", "B", "C", "D", "E"] | None] = None,
        channel: OptCode = None,
        on: Date = None,
        sort: FromQuery[Literal["kind", "branch", "rate", "-rate"]] = "kind",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[LaborRate]:
        page = await run(
            state, labor.labor_rates, on=on or dt.date.today(), branch=branch or "",
            kind=kind or "", shop_tier=shop_tier or "", vehicle_class=vehicle_class or "",
            channel=channel or "", sort=sort, limit=limit, offset=offset,
        )  # fmt: skip
        return to(Page[LaborRate], page)

    @get(
        "/standard-hours",
        summary="Standard hours per operation, with the operations each one includes",
        responses=READ_ERRORS,
    )
    async def standard_hours(
        self,
        state: State,
        part_id: OptId = None,
        operation: FromQuery[Literal["replace", "repair", "paint", "remove_refit"] | None] = None,
        vehicle_class: FromQuery[Literal["A", "B", "C", "D", "E"] | None] = None,
        on: Date = None,
        sort: FromQuery[Literal["part", "operation", "hours", "-hours"]] = "part",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[StandardHours]:
        page = await run(
            state, labor.standard_hours, on=on or dt.date.today(), part_id=part_id,
            operation=operation or "", vehicle_class=vehicle_class or "", sort=sort,
            limit=limit, offset=offset,
        )  # fmt: skip
        return to(Page[StandardHours], page)
