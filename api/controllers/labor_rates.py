"""Branch standard labor rates (分公司标准工时费): the rates in force (estimate tools and up) and the
versions of one rate key, read and written by pricing staff."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import FromQuery
from sqlalchemy.orm import Session

from api.auth import require
from api.controllers import (
    READ_ERRORS,
    REVALIDATE,
    DayInForce,
    Limit,
    Offset,
    OptCode,
    ReqCode,
    run,
)
from api.controllers.versioned import add_route, end_route, tagged, versions_route
from api.schemas import (
    LaborRate,
    LaborRateEdit,
    LaborRateVersions,
    NewLaborRate,
    Page,
    ShopTier,
    VehicleClass,
    to,
)
from pricebook import labor


def _versions(session: Session, **key: str) -> labor.KeyVersions:
    return labor.labor_rate_versions(session, labor.labor_rate_key(session, **key))


def _write(session: Session, data: NewLaborRate, **audit: Any) -> labor.LaborWrite:
    key = labor.labor_rate_key(
        session,
        branch=data.branch,
        labor_kind=data.labor_kind,
        shop_tier=data.shop_tier,
        vehicle_class=data.vehicle_class,
    )
    return labor.write_labor_rate(
        session, key, rate=data.rate, valid_from=data.valid_from, valid_to=data.valid_to, **audit
    )


class LaborRateController(Controller):
    path = "/labor-rates"
    tags = ["labor"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = REVALIDATE

    @get(
        "/",
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
        on: DayInForce = None,
        sort: FromQuery[Literal["kind", "branch", "rate", "-rate"]] = "kind",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[LaborRate]:
        page = await run(
            state,
            labor.labor_rates,
            on=on or dt.date.today(),
            branch=branch or "",
            kind=kind or "",
            shop_tier=shop_tier or "",
            vehicle_class=vehicle_class or "",
            channel=channel or "",
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return to(Page[LaborRate], page)

    @versions_route("Every version of one branch standard labor rate, with the key's ETag")
    async def rate_versions(
        self,
        state: State,
        branch: ReqCode,
        labor_kind: ReqCode,
        shop_tier: FromQuery[ShopTier],
        vehicle_class: FromQuery[VehicleClass],
    ) -> Response[LaborRateVersions]:
        return await tagged(
            state,
            LaborRateVersions,
            _versions,
            branch=branch,
            labor_kind=labor_kind,
            shop_tier=shop_tier,
            vehicle_class=vehicle_class,
        )

    add_rate = add_route(
        _write,
        NewLaborRate,
        LaborRateEdit,
        name="add_rate",
        summary="Add a labor rate version (supersedes the one in force)",
        description="Branch × labor kind × shop tier × vehicle class.",
    )

    end_rate = end_route(
        labor.end_labor_rate,
        LaborRateEdit,
        name="end_rate",
        summary="End a labor rate version's validity",
    )


__all__ = ["LaborRateController"]
