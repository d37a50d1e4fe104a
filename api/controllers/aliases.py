"""A part's aliases (names adjusters type for it), read and written by pricing staff; the
matcher learns them at its next rebuild."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Body

from api.auth import require
from api.controllers import (
    NO_STORE,
    VERSIONS_ERRORS,
    Actor,
    IfMatch,
    PathId,
    ReasonQuery,
    TermPath,
)
from api.controllers.versioned import REASON_IN_QUERY, edit, edit_route, tagged
from api.schemas import AliasSet, NewAlias
from pricebook import aliases


class AliasController(Controller):
    path = "/parts/{part_id:int}/aliases"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    cache_control = NO_STORE

    @get("/", summary="A part's aliases, with their ETag", responses=VERSIONS_ERRORS)
    async def aliases(self, state: State, part_id: PathId) -> Response[AliasSet]:
        return await tagged(state, AliasSet, aliases.part_aliases, part_id)

    @edit_route(
        post,
        "/",
        summary="Add an alias (a name adjusters type for the part)",
        description="The matcher learns it at its next rebuild.",
        adds=AliasSet,
    )
    async def add(
        self,
        state: State,
        part_id: PathId,
        data: Annotated[NewAlias, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[AliasSet]:
        return await edit(
            state,
            AliasSet,
            aliases.add_alias,
            part_id,
            data.alias,
            actor=actor,
            reason=data.reason,
            if_match=if_match,
        )

    @edit_route(delete, "/{alias:str}", summary="Remove an alias", description=REASON_IN_QUERY)
    async def remove(
        self,
        state: State,
        part_id: PathId,
        alias: TermPath,
        actor: Actor,
        if_match: IfMatch,
        reason: ReasonQuery = "",
    ) -> Response[AliasSet]:
        return await edit(
            state,
            AliasSet,
            aliases.remove_alias,
            part_id,
            alias,
            actor=actor,
            reason=reason,
            if_match=if_match,
        )


__all__ = ["AliasController"]
