from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter

from api.auth import require
from api.controllers import (
    CATALOGUE_CACHE,
    ITEM_ERRORS,
    READ_ERRORS,
    REVALIDATE,
    Limit,
    OptCode,
    OptId,
    PathId,
    Text,
    read,
    run,
)
from api.schemas import HistoryRow, Page, Part, PartDetail, to
from pricebook import catalog, prices


class PartController(Controller):
    path = "/parts"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = CATALOGUE_CACHE

    @get(
        "/",
        summary="Search parts: OE number first, then names and aliases",
        description="`q` is tried as an OE number (normalised; a superseded number finds its "
        "successor), then against standard names and aliases. `oe` searches OE numbers only "
        "(a prefix of at least 4 characters matches too). `model_id` keeps parts that fit.",
        responses=READ_ERRORS,
    )
    async def search(
        self,
        request: Request[Any, Any, Any],
        q: Text = "",
        oe: Annotated[str, QueryParameter(max_length=64)] = "",
        model_id: OptId = None,
        category: Annotated[str, QueryParameter(max_length=64, description="category code")] = "",
        sort: FromQuery[Literal["relevance", "name", "-name", "code", "-code"]] = "relevance",
        limit: Limit = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> Page[Part]:
        page = await read(
            request,
            catalog.search_parts,
            q=q,
            oe=oe,
            model_id=model_id,
            category=category,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return to(Page[Part], page)

    @get(
        "/{part_id:int}",
        summary="A part with aliases, assembly and components, supersessions, fitment",
        responses=ITEM_ERRORS,
    )
    async def one(self, request: Request[Any, Any, Any], part_id: PathId) -> PartDetail:
        return to(PartDetail, await read(request, catalog.get_part, part_id))

    @get(
        "/{part_id:int}/price-history",
        summary="Every price version of a part, oldest first (for charts)",
        description="With `branch`, only the versions that can apply there: the branch, its "
        "parent branches, its regions up the tree, and system prices.",
        responses=ITEM_ERRORS,
        cache_control=REVALIDATE,
    )
    async def price_history(
        self,
        state: State,
        part_id: PathId,
        branch: OptCode = None,
        price_type: OptCode = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 500,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> Page[HistoryRow]:
        page = await run(
            state,
            prices.price_history,
            part_id,
            branch=branch or "",
            price_type=price_type or "",
            limit=limit,
            offset=offset,
        )
        return to(Page[HistoryRow], page)
