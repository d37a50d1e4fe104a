from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import Body

from api.auth import require
from api.controllers import ITEM_ERRORS, NO_STORE, READ_ERRORS, PathId, run, write
from api.problems import problem_responses
from api.schemas import ApiKey, Caller, CreatedKey, NewKey, to
from pricebook import keys


def _actor(request: Request[Any, Any, Any]) -> str:
    caller = request.state.caller
    return f"api-key:{caller.id}:{caller.name}"


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
        self, state: State, request: Request[Any, Any, Any], data: Annotated[NewKey, Body()]
    ) -> CreatedKey:
        info, secret = await write(
            state, keys.create_key, name=data.name, role=data.role, actor=_actor(request)
        )
        return CreatedKey(to(ApiKey, info), secret)

    @delete("/{key_id:int}", summary="Revoke a key", status_code=200, responses=ITEM_ERRORS)
    async def revoke(self, state: State, request: Request[Any, Any, Any], key_id: PathId) -> ApiKey:
        info = await write(state, keys.revoke_key, key_id, actor=_actor(request))
        return to(ApiKey, info)


class MeController(Controller):
    path = "/me"
    tags = ["keys"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = NO_STORE

    @get("/", summary="The calling key's name and role", responses=READ_ERRORS)
    async def me(self, request: Request[Any, Any, Any]) -> Caller:
        return to(Caller, request.state.caller)
