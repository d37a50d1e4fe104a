"""Branch standard labor rates (分公司标准工时费): the rates in force (estimate tools and up) and the
versions of one rate key, read and written by pricing staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import Body, FromQuery
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
    OptCode,
    PathId,
    ReqCode,
    run,
    unchanged,
    with_etag,
    write,
    written,
)
from api.schemas import (
    EndValidity,
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


def _write(session: Session, data: NewLaborRate, actor: str, etags: ETags) -> labor.LaborWrite:
    key = labor.labor_rate_key(
        session, branch=data.branch, labor_kind=data.labor_kind, shop_tier=data.shop_tier,
        vehicle_class=data.vehicle_class,
    )  # fmt: skip
    return labor.write_labor_rate(
        session, key, rate=data.rate, valid_from=data.valid_from, valid_to=data.valid_to,
        actor=actor, reason=data.reason, expected_etag=etags,
    )  # fmt: skip


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
            state, labor.labor_rates, on=on or dt.date.today(), branch=branch or "",
            kind=kind or "", shop_tier=shop_tier or "", vehicle_class=vehicle_class or "",
            channel=channel or "", sort=sort, limit=limit, offset=offset,
        )  # fmt: skip
        return to(Page[LaborRate], page)

    @get(
        "/versions",
        summary="Every version of one branch standard labor rate, with the key's ETag",
        responses=VERSIONS_ERRORS,
        guards=STAFF,
        cache_control=NO_STORE,
    )
    async def rate_versions(
        self,
        state: State,
        branch: ReqCode,
        labor_kind: ReqCode,
        shop_tier: FromQuery[ShopTier],
        vehicle_class: FromQuery[VehicleClass],
    ) -> Response[LaborRateVersions]:
        found = await run(
            state, _versions, branch=branch, labor_kind=labor_kind, shop_tier=shop_tier,
            vehicle_class=vehicle_class,
        )  # fmt: skip
        return with_etag(to(LaborRateVersions, found), found.etag)

    @post(
        "/versions",
        summary="Add a labor rate version (supersedes the one in force)",
        description="Branch × labor kind × shop tier × vehicle class." + IF_MATCH_DOC,
        status_code=201,
        responses=unchanged(LaborRateEdit),
        guards=STAFF,
        cache_control=NO_STORE,
    )
    async def add_rate(
        self, state: State, data: Annotated[NewLaborRate, Body()], actor: Actor, if_match: IfMatch
    ) -> Response[LaborRateEdit]:
        done = await write(state, _write, data, actor, if_match)
        return written(to(LaborRateEdit, done), done.action, done.etag)

    @post(
        "/versions/{version_id:int}/end",
        summary="End a labor rate version's validity",
        description=IF_MATCH_DOC,
        status_code=200,
        responses=WRITE_ERRORS,
        guards=STAFF,
        cache_control=NO_STORE,
    )
    async def end_rate(
        self,
        state: State,
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[LaborRateEdit]:
        done = await write(
            state, labor.end_labor_rate, version_id, valid_to=data.valid_to, actor=actor,
            reason=data.reason, expected_etag=if_match,
        )  # fmt: skip
        return with_etag(to(LaborRateEdit, done), done.etag)


__all__ = ["LaborRateController"]
