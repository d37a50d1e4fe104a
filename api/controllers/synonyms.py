"""The colloquial synonym dictionary (叶子板 → 翼子板), a group at a time, read and written by
pricing staff; the matcher learns a change at its next rebuild."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Body, PathParameter

from api.auth import require
from api.controllers import (
    NO_STORE,
    VERSIONS_ERRORS,
    Actor,
    IfMatch,
    ReasonQuery,
    TermPath,
)
from api.controllers.versioned import REASON_IN_QUERY, edit, edit_route, tagged
from api.schemas import NewTerm, SynonymGroup
from pricebook import aliases

#: a group's canonical word to read: any (one nobody can write reads as an empty group)
GroupPath = Annotated[str, PathParameter(min_length=1, max_length=50)]


class SynonymController(Controller):
    path = "/synonyms"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    cache_control = NO_STORE

    @get(
        "/{canonical:str}",
        summary="One group of the colloquial synonym dictionary, with its ETag",
        description="An unknown canonical word is an empty group: add a term to start it.",
        responses=VERSIONS_ERRORS,
    )
    async def group(self, state: State, canonical: GroupPath) -> Response[SynonymGroup]:
        return await tagged(state, SynonymGroup, aliases.synonym_group, canonical)

    @edit_route(
        post,
        "/{canonical:str}/terms",
        summary="Add a colloquial term to a group (叶子板 → 翼子板)",
        description="409 when the term is in another group (remove it there first).",
        adds=SynonymGroup,
    )
    async def add(
        self,
        state: State,
        canonical: TermPath,
        data: Annotated[NewTerm, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[SynonymGroup]:
        return await edit(
            state,
            SynonymGroup,
            aliases.add_synonym,
            canonical,
            data.term,
            actor=actor,
            reason=data.reason,
            if_match=if_match,
        )

    @edit_route(
        delete,
        "/{canonical:str}/terms/{term:str}",
        summary="Remove a term from a group",
        description=REASON_IN_QUERY,
    )
    async def remove(
        self,
        state: State,
        canonical: TermPath,
        term: TermPath,
        actor: Actor,
        if_match: IfMatch,
        reason: ReasonQuery = "",
    ) -> Response[SynonymGroup]:
        return await edit(
            state,
            SynonymGroup,
            aliases.remove_synonym,
            canonical,
            term,
            actor=actor,
            reason=reason,
            if_match=if_match,
        )


__all__ = ["SynonymController"]
