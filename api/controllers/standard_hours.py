"""Standard hours per operation (标准工时): the hours in force with the operations each includes
(estimate tools and up) and the versions of one hours key, read and written by pricing staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import Body, FromQuery, QueryParameter
from sqlalchemy.orm import Session

from api.auth import require
from api.controllers import (
    IF_MATCH_DOC,
    NO_STORE,
    READ_ERRORS,
    REVALIDATE,
    STAFF,
    VERSIONS_ERRORS,
    WRITE_ERRORS,
    Actor,
    DayInForce,
    ETags,
    IfMatch,
    Limit,
    Offset,
    OptId,
    PathId,
    run,
    unchanged,
    with_etag,
    write,
    written,
)
from api.schemas import (
    EndValidity,
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


def _write(session: Session, data: NewStandardHours, actor: str, etags: ETags) -> labor.LaborWrite:
    key = labor.hours_key(
        session, part_id=data.part_id, operation=data.operation, vehicle_class=data.vehicle_class
    )
    return labor.write_standard_hours(
        session, key, labor_kind=data.labor_kind, hours=str(data.hours),
        valid_from=data.valid_from, valid_to=data.valid_to, actor=actor, reason=data.reason,
        expected_etag=etags,
    )  # fmt: skip


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
            state, labor.standard_hours, on=on or dt.date.today(), part_id=part_id,
            operation=operation or "", vehicle_class=vehicle_class or "", sort=sort,
            limit=limit, offset=offset,
        )  # fmt: skip
        return to(Page[StandardHours], page)

    @get(
        "/versions",
        summary="Every version of one standard-hours key, with the key's ETag",
        responses=VERSIONS_ERRORS,
        guards=STAFF,
        cache_control=NO_STORE,
    )
    async def hours_versions(
        self,
        state: State,
        part_id: PartId,
        operation: FromQuery[Operation],
        vehicle_class: FromQuery[VehicleClass],
    ) -> Response[HoursVersions]:
        found = await run(
            state, _versions, part_id=part_id, operation=operation, vehicle_class=vehicle_class
        )
        return with_etag(to(HoursVersions, found), found.etag)

    @post(
        "/versions",
        summary="Add a standard-hours version (supersedes the one in force)",
        description="Part × operation × vehicle class; hours and the labor kind they are paid "
        "at." + IF_MATCH_DOC,
        status_code=201,
        responses=unchanged(HoursEdit),
        guards=STAFF,
        cache_control=NO_STORE,
    )
    async def add_hours(
        self,
        state: State,
        data: Annotated[NewStandardHours, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[HoursEdit]:
        done = await write(state, _write, data, actor, if_match)
        return written(to(HoursEdit, done), done.action, done.etag)

    @post(
        "/versions/{version_id:int}/end",
        summary="End a standard-hours version's validity",
        description=IF_MATCH_DOC,
        status_code=200,
        responses=WRITE_ERRORS,
        guards=STAFF,
        cache_control=NO_STORE,
    )
    async def end_hours(
        self,
        state: State,
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[HoursEdit]:
        done = await write(
            state, labor.end_standard_hours, version_id, valid_to=data.valid_to, actor=actor,
            reason=data.reason, expected_etag=if_match,
        )  # fmt: skip
        return with_etag(to(HoursEdit, done), done.etag)


__all__ = ["StandardHoursController"]
