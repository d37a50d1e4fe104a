from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.params import Body

from api.auth import require
from api.controllers import ITEM_ERRORS, NO_STORE, READ_ERRORS, Actor, CallerKey, PathId, run, write
from api.problems import problem_responses
from api.schemas import ApiKey, Caller, CreatedKey, NewKey, to
from pricebook import keys


class KeyController(Controller):
    """API keys, for admins: the same as `pricebook keys create|list|revoke`."""

    path = "/keys"
    tags = ["keys"]  # noqa: RUF012
    guards = [require("admin")]  # noqa: RUF012
    cache_control = NO_STORE

    @get("/", summary="Every API key (never the keys themselves)", responses=READ_ERRORS)
    async def list_keys(self, state: State) -> list[ApiKey]:
        return to(list[ApiKey], await run(state, keys.list_keys))

    @post(
        "/",
        summary="Create a key; the answer holds it once",
        responses=problem_responses(400, 401, 403, 422, 503),
    )
    async def create(
        self, state: State, data: Annotated[NewKey, Body()], actor: Actor
    ) -> CreatedKey:
        info, secret = await write(
            state, keys.create_key, name=data.name, role=data.role, actor=actor
        )
        return CreatedKey(to(ApiKey, info), secret)

    @delete("/{key_id:int}", summary="Revoke a key", status_code=200, responses=ITEM_ERRORS)
    async def revoke(self, state: State, key_id: PathId, actor: Actor) -> ApiKey:
        info = await write(state, keys.revoke_key, key_id, actor=actor)
        return to(ApiKey, info)


class MeController(Controller):
    path = "/me"
    tags = ["keys"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = NO_STORE

    @get("/", summary="The calling key's name and role", responses=READ_ERRORS)
    async def me(self, caller: CallerKey) -> Caller:
        return to(Caller, caller)
