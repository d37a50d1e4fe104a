"""Standard hours per operation (标准工时): the hours in force with the operations each includes
(estimate tools and up) and the versions of one hours key, read and written by pricing staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter
from sqlalchemy.orm import Session

from api.auth import require
from api.controllers import (
    READ_ERRORS,
    REVALIDATE,
    DayInForce,
    Limit,
    Offset,
    OptId,
    run,
)
from api.controllers.versioned import add_route, end_route, tagged, versions_route
from api.schemas import (
    HoursEdit,
    HoursVersions,
    NewStandardHours,
    Operation,
    Page,
    StandardHours,
    VehicleClass,
    to,
)
from pricebook import labor

PartId = Annotated[int, QueryParameter(ge=1, le=2_147_483_647)]


def _versions(session: Session, **key: Any) -> labor.KeyVersions:
    return labor.hours_versions(session, labor.hours_key(session, **key))


def _write(session: Session, data: NewStandardHours, **audit: Any) -> labor.LaborWrite:
    key = labor.hours_key(
        session, part_id=data.part_id, operation=data.operation, vehicle_class=data.vehicle_class
    )
    return labor.write_standard_hours(
        session,
        key,
        labor_kind=data.labor_kind,
        hours=str(data.hours),
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        **audit,
    )


class StandardHoursController(Controller):
    path = "/standard-hours"
    tags = ["labor"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = REVALIDATE

    @get(
        "/",
        summary="Standard hours per operation, with the operations each one includes",
        responses=READ_ERRORS,
    )
    async def standard_hours(
        self,
        state: State,
        part_id: OptId = None,
        operation: FromQuery[Literal["replace", "repair", "paint", "remove_refit"] | None] = None,
        vehicle_class: FromQuery[Literal["A", "B", "C", "D", "E"] | None] = None,
        on: DayInForce = None,
        sort: FromQuery[Literal["part", "operation", "hours", "-hours"]] = "part",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[StandardHours]:
        page = await run(
            state,
            labor.standard_hours,
            on=on or dt.date.today(),
            part_id=part_id,
            operation=operation or "",
            vehicle_class=vehicle_class or "",
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return to(Page[StandardHours], page)

    @versions_route("Every version of one standard-hours key, with the key's ETag")
    async def hours_versions(
        self,
        state: State,
        part_id: PartId,
        operation: FromQuery[Operation],
        vehicle_class: FromQuery[VehicleClass],
    ) -> Response[HoursVersions]:
        return await tagged(
            state,
            HoursVersions,
            _versions,
            part_id=part_id,
            operation=operation,
            vehicle_class=vehicle_class,
        )

    add_hours = add_route(
        _write,
        NewStandardHours,
        HoursEdit,
        name="add_hours",
        summary="Add a standard-hours version (supersedes the one in force)",
        description="Part × operation × vehicle class; hours and the labor kind they are paid at.",
    )

    end_hours = end_route(
        labor.end_standard_hours,
        HoursEdit,
        name="end_hours",
        summary="End a standard-hours version's validity",
    )


__all__ = ["StandardHoursController"]
