"""Special cooperation channels (特殊合作渠道) and their rate cards: the list for every role (estimate
tools pass `shop.channel_code`); registering a channel, the cards' terms and their versions for
pricing staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import Body, QueryParameter
from sqlalchemy.orm import Session

from api.auth import require
from api.controllers import (
    NO_STORE,
    READ_ERRORS,
    STAFF,
    VERSIONS_ERRORS,
    Actor,
    IfMatch,
    Limit,
    Offset,
    PathCode,
    PathId,
    run,
    write,
)
from api.controllers.versioned import edit, edit_route, tagged
from api.problems import problem_responses
from api.schemas import (
    ChannelListing,
    ChannelOut,
    EndValidity,
    NewChannel,
    NewRateCard,
    Page,
    RateCardEdit,
    RateCardVersions,
    to,
)
from pricebook import labor


def _write_card(
    session: Session, channel: str, data: NewRateCard, **audit: Any
) -> labor.LaborWrite:
    return labor.write_rate_card(
        session,
        channel,
        labor=[labor.CardLaborLine(x.labor_kind, x.rate, x.pct_of_standard) for x in data.labor],
        parts=[labor.CardPartsLine(x.category, x.price_type, x.discount_pct) for x in data.parts],
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        **audit,
    )


class ChannelController(Controller):
    path = "/channels"
    tags = ["channels"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = NO_STORE

    @get(
        "/",
        summary="Special channels (特殊合作渠道), a page at a time, each with its card in force",
        description="`items` (each: `code` to pass as an estimate's `shop.channel_code`, name, "
        "kind, branch, and `rate_card`: the card in force on `date` (default today) — its id, "
        "period and the labor kinds and part categories it covers — or null), `total`, "
        "`limit`, `offset`; by code. Any role; the cards' terms and history are for pricing "
        "staff (`/channels/{code}/rate-cards`).",
        responses=READ_ERRORS,
    )
    async def list_channels(
        self,
        state: State,
        limit: Limit = 50,
        offset: Offset = 0,
        on: Annotated[
            dt.date | None,
            QueryParameter(name="date", description="the day whose rate cards apply (today)"),
        ] = None,
    ) -> Page[ChannelListing]:
        page = await run(
            state, labor.channel_page, on=on or dt.date.today(), limit=limit, offset=offset
        )
        return to(Page[ChannelListing], page)

    @post(
        "/",
        summary="Register a special channel",
        description="409 when the code exists. `reason` is required.",
        status_code=201,
        responses=problem_responses(400, 401, 403, 409, 422, 503),
        guards=STAFF,
    )
    async def create_channel(
        self, state: State, data: Annotated[NewChannel, Body()], actor: Actor
    ) -> ChannelOut:
        info = await write(
            state,
            labor.create_channel,
            code=data.code,
            name=data.name,
            kind=data.kind,
            branch=data.branch,
            actor=actor,
            reason=data.reason,
        )
        return to(ChannelOut, info)

    @get(
        "/{code:str}/rate-cards",
        summary="Every version of a channel's rate card, with the card's ETag",
        responses=VERSIONS_ERRORS,
        guards=STAFF,
    )
    async def cards(self, state: State, code: PathCode) -> Response[RateCardVersions]:
        return await tagged(state, RateCardVersions, labor.rate_card_versions, code)

    @edit_route(
        post,
        "/{code:str}/rate-cards",
        summary="Add a rate card version (supersedes the card in force)",
        description="The card is its whole set of lines: labor (a rate, or a percentage of "
        "the branch standard) and parts (a price type's reference less a discount per "
        "category). From `valid_from` the new card applies; the card in force that day is "
        "closed on it, never rewritten. The same lines again change nothing (200, "
        "`unchanged`); a period reaching into a later card is 409.",
        adds=RateCardEdit,
        guards=STAFF,
    )
    async def add_card(
        self,
        state: State,
        code: PathCode,
        data: Annotated[NewRateCard, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[RateCardEdit]:
        return await edit(
            state,
            RateCardEdit,
            _write_card,
            code,
            data,
            actor=actor,
            reason=data.reason,
            if_match=if_match,
        )

    @edit_route(
        post,
        "/{code:str}/rate-cards/{version_id:int}/end",
        summary="End (or withdraw) a rate card version",
        description="`valid_to` between the card's first day (withdraws it: it never applied) "
        "and its end (a card is only ever shortened). From `valid_to` the channel's shops get "
        "the branch standard labor rates and the usual price precedence. 404 when the card is "
        "not this channel's.",
        guards=STAFF,
    )
    async def end_card(
        self,
        state: State,
        code: PathCode,
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[RateCardEdit]:
        return await edit(
            state,
            RateCardEdit,
            labor.end_rate_card,
            version_id,
            valid_to=data.valid_to,
            actor=actor,
            reason=data.reason,
            if_match=if_match,
            channel=code,
        )


__all__ = ["ChannelController"]
