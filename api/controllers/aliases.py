"""A part's aliases (names adjusters type for it), read and written by pricing staff; the
matcher learns them at its next rebuild."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Body

from api.auth import require
from api.controllers import (
    IF_MATCH_DOC,
    NO_STORE,
    VERSIONS_ERRORS,
    WRITE_ERRORS,
    Actor,
    IfMatch,
    PathId,
    ReasonQuery,
    TermPath,
    run,
    unchanged,
    with_etag,
    write,
    written,
)
from api.schemas import AliasSet, NewAlias, to
from pricebook import aliases


class AliasController(Controller):
    path = "/parts/{part_id:int}/aliases"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    cache_control = NO_STORE

    @get("/", summary="A part's aliases, with their ETag", responses=VERSIONS_ERRORS)
    async def aliases(self, state: State, part_id: PathId) -> Response[AliasSet]:
        found = await run(state, aliases.part_aliases, part_id)
        return with_etag(to(AliasSet, found), found.etag)

    @post(
        "/",
        summary="Add an alias (a name adjusters type for the part)",
        description="The matcher learns it at its next rebuild." + IF_MATCH_DOC,
        status_code=201,
        responses=unchanged(AliasSet),
    )
    async def add(
        self,
        state: State,
        part_id: PathId,
        data: Annotated[NewAlias, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[AliasSet]:
        found = await write(
            state, aliases.add_alias, part_id, data.alias, actor=actor, reason=data.reason,
            expected_etag=if_match,
        )  # fmt: skip
        return written(to(AliasSet, found), found.action, found.etag)

    @delete(
        "/{alias:str}",
        summary="Remove an alias",
        description="`reason` is a query parameter here." + IF_MATCH_DOC,
        status_code=200,
        responses=WRITE_ERRORS,
    )
    async def remove(
        self,
        state: State,
        part_id: PathId,
        alias: TermPath,
        actor: Actor,
        if_match: IfMatch,
        reason: ReasonQuery = "",
    ) -> Response[AliasSet]:
        found = await write(
            state, aliases.remove_alias, part_id, alias, actor=actor, reason=reason,
            expected_etag=if_match,
        )  # fmt: skip
        return with_etag(to(AliasSet, found), found.etag)


__all__ = ["AliasController"]
