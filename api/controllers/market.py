"""Market data: the recorded runs of `pricebook crawl`, a part's observations, and the queue of
unmatched listings that pricing staff confirm or reject (teaching the matcher)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import Body, PathParameter, QueryParameter
from msgspec import Meta, Struct

from api.auth import require
from api.controllers import (
    ITEM_ERRORS,
    NO_STORE,
    READ_ERRORS,
    STAFF,
    Actor,
    Limit,
    Offset,
    OptCode,
    PathId,
    run,
    write,
)
from api.problems import problem_responses
from api.schemas import Money, Page, to
from api.spec import NO_NUL
from pricebook.market import PART_OBSERVATIONS_LIMIT
from pricebook.market.crawl import page_runs
from pricebook.market.review import (
    confirm_listing,
    mark_not_part,
    observations_by_part_code,
    reject_suggestion,
    unmatched_listings,
)

ACT_ERRORS = problem_responses(400, 401, 403, 404, 409, 422, 503)
#: the route of a pricing-staff verdict on an unmatched listing
_verdict = partial(post, guards=STAFF, status_code=200, responses=ACT_ERRORS)


class MarketRun(Struct):
    id: int
    source: str
    spider: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    #: pages, items, matched, unmatched, new, updated_last_seen, dropped {reason: n}, errors …
    stats: dict[str, Any]
    created_by: str


class Observation(Struct):
    source: str
    amount: Money
    #: the period the amount was seen unchanged
    first_seen: dt.datetime
    last_seen: dt.datetime
    region_id: int | None
    price_type_id: int | None
    #: the listing's own page where the source links it, else the page it was found on
    url: str
    seller: str
    #: the label the page gave the amount (会员价, 含税价 …), after 约 when the page said it is
    #: approximate (约, 约 会员价); null for a bare price
    price_label: str | None


class PartObservations(Struct):
    part_id: int
    part_code: str
    part_name: str
    items: list[Observation]


class UnmatchedListing(Struct):
    id: int
    source: str
    raw_name: str
    raw_price: str
    amount: Money
    raw_oe: str
    raw_brand_text: str
    region: str | None
    price_type: str | None
    seller: str
    url: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    #: the matcher's best candidate, below the confidence needed to match by itself
    suggested_part_id: int | None
    suggested_part_code: str | None
    suggested_part_name: str | None
    confidence_bp: int


class ConfirmListing(Struct, forbid_unknown_fields=True, kw_only=True):
    #: the part the listing is; omitted: the suggestion
    part_code: Annotated[str, Meta(min_length=1, max_length=64, pattern=NO_NUL)] | None = None
    reason: Annotated[str, Meta(max_length=500, pattern=NO_NUL)] = ""


class RejectSuggestion(Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(max_length=500, pattern=NO_NUL)]


class NotAPart(Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(max_length=500, pattern=NO_NUL)]


class ListingSetAside(Struct):
    observation_id: int
    status: str


class ListingVerdict(Struct):
    observation_id: int
    #: the learned mapping (`/api/v1/match/confirmations`) the verdict created
    mapping_id: int


class MarketController(Controller):
    path = "/market"
    tags = ["market"]  # noqa: RUF012
    guards = [require("reviewer")]  # noqa: RUF012
    cache_control = NO_STORE

    @get(
        "/runs",
        summary="Recorded market crawls, newest first, with their reports",
        description="One row per source per `pricebook crawl`: status (running, finished, "
        "suspicious — finished far below the source's recent runs, with `stats.suspicious` "
        "saying why — or failed), start and end, and the report (pages, items, matched, "
        "unmatched, new observations, unchanged, dropped by reason, page errors, warnings) "
        "and `stats.drift`, what the drift check after the crawl did to the queue: prices "
        "`checked`, `drifting`, tasks `opened`, `reopened`, `updated`, `unchanged`, `closed` "
        "(back within the threshold) and `already_resolved`, with `tasks` listing the task ids "
        "by outcome.",
        responses=READ_ERRORS,
    )
    async def runs(
        self,
        state: State,
        source: OptCode = None,
        status: OptCode = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[MarketRun]:
        page = await run(state, page_runs, source=source, status=status, limit=limit, offset=offset)
        return to(Page[MarketRun], page)

    @get(
        "/parts/{part_code:str}/observations",
        summary="A part's matched market observations, the latest seen first",
        description="Each observation is one listing's price over the period it was seen "
        "unchanged (`first_seen`–`last_seen`), with its source, seller, region and price type: "
        "the market evidence the UI's price chart overlays. `price_type` (a code) narrows it; "
        "at most `limit` (default and maximum 500).",
        responses=ITEM_ERRORS,
    )
    async def part_observations(
        self,
        state: State,
        part_code: Annotated[str, PathParameter(min_length=1, max_length=64)],
        price_type: OptCode = None,
        limit: Annotated[int, QueryParameter(ge=1, le=PART_OBSERVATIONS_LIMIT)] = (
            PART_OBSERVATIONS_LIMIT
        ),
    ) -> PartObservations:
        part, observations = await run(
            state, observations_by_part_code, part_code, price_type=price_type, limit=limit
        )
        return PartObservations(
            part_id=part.id,
            part_code=part.code,
            part_name=part.name,
            items=[to(Observation, o) for o in observations],
        )

    @get(
        "/unmatched",
        guards=STAFF,
        summary="Unmatched market listings with the matcher's suggestion, latest seen first",
        description="Each listing once (its latest row). Confirm the suggestion or another "
        "part, or reject the suggestion: `POST /api/v1/market/unmatched/{id}/confirm|reject`.",
        responses=READ_ERRORS,
    )
    async def unmatched(
        self, state: State, source: OptCode = None, limit: Limit = 50, offset: Offset = 0
    ) -> Page[UnmatchedListing]:
        page = await run(state, unmatched_listings, source=source, limit=limit, offset=offset)
        return to(Page[UnmatchedListing], page)

    @_verdict(
        "/unmatched/{observation_id:int}/confirm",
        summary="Confirm a listing's part (default: its suggestion): matched now, learned",
        description="The listing's rows become matched to the part, and a learned mapping of "
        "its title (vehicle words taken out, scoped to the vehicle it names) makes the next "
        "crawl match the same title by itself. Audited. 409 when already matched; 422 without "
        "a part and a suggestion, for an unknown part, or a part on the side the title "
        "contradicts.",
    )
    async def confirm(
        self,
        state: State,
        observation_id: PathId,
        data: Annotated[ConfirmListing, Body()],
        actor: Actor,
    ) -> ListingVerdict:
        mapping_id = await write(
            state,
            confirm_listing,
            observation_id,
            actor=actor,
            part_code=data.part_code,
            reason=data.reason,
        )
        return ListingVerdict(observation_id=observation_id, mapping_id=mapping_id)

    @_verdict(
        "/unmatched/{observation_id:int}/reject",
        summary="Reject a listing's suggestion, with a reason (never offered again)",
        description="A learned rejection for the title and vehicle: the matcher never offers "
        "that part for it again. The listing stays in the queue without a suggestion. 422 "
        "without a reason or a suggestion; 409 when already matched.",
    )
    async def reject(
        self,
        state: State,
        observation_id: PathId,
        data: Annotated[RejectSuggestion, Body()],
        actor: Actor,
    ) -> ListingVerdict:
        mapping_id = await write(
            state, reject_suggestion, observation_id, actor=actor, reason=data.reason
        )
        return ListingVerdict(observation_id=observation_id, mapping_id=mapping_id)

    @_verdict(
        "/unmatched/{observation_id:int}/not-a-part",
        summary="Mark a listing as not a catalogue part (不是目录配件), with a reason",
        description="The listing leaves the queue (status `not_part`) and re-crawls keep it out "
        "unless the matcher matches it by itself. Audited. 422 without a reason; 409 when "
        "already matched or marked.",
    )
    async def not_a_part(
        self, state: State, observation_id: PathId, data: Annotated[NotAPart, Body()], actor: Actor
    ) -> ListingSetAside:
        await write(state, mark_not_part, observation_id, actor=actor, reason=data.reason)
        return ListingSetAside(observation_id=observation_id, status="not_part")
