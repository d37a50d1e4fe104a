"""Staff writes (pricing_staff and up): prices, labor rates, standard hours, channels and rate
cards, part aliases and the synonym dictionary.

Versioned keys are never overwritten: a write adds a version (closing the one in force) or ends
one early. Every key (and alias set, synonym group) has an ETag — the GET of its versions
returns it in the `ETag` header and the body — and every write must send it back in `If-Match`:
missing → 428, no longer current → 412 (someone else changed the key: reload). The core locks
the key and re-checks the ETag inside the lock, so of two concurrent edits one wins and the
other gets 412. Every write needs a `reason` (422 without) and is audited with the key's name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import Body, FromQuery, PathParameter, QueryParameter

from api.auth import require
from api.controllers import (
    NO_STORE,
    READ_ERRORS,
    Limit,
    Offset,
    OptId,
    PathCode,
    PathId,
    run,
    write,
)
from api.problems import problem, problem_responses
from api.schemas import (
    ONE_LINE,
    AliasSet,
    ChannelListing,
    ChannelOut,
    EndValidity,
    HoursEdit,
    HoursVersions,
    LaborRateEdit,
    LaborRateVersions,
    NewAlias,
    NewChannel,
    NewLaborRate,
    NewPrice,
    NewRateCard,
    NewStandardHours,
    NewTerm,
    Operation,
    Page,
    PriceEdit,
    PriceKeyOut,
    PriceVersion,
    PriceVersions,
    RateCardEdit,
    RateCardVersions,
    ShopTier,
    SynonymGroup,
    VehicleClass,
    to,
)
from pricebook import aliases, labor, prices

ReqCode = Annotated[str, QueryParameter(min_length=1, max_length=64)]
#: a synonym term or alias in the path: one line, not blank (another is the core's 422)
TermPath = Annotated[
    str, PathParameter(min_length=1, max_length=50, schema_extra={"pattern": ONE_LINE})
]
#: a group's canonical word to read: any (one nobody can write reads as an empty group)
GroupPath = Annotated[str, PathParameter(min_length=1, max_length=50)]
ReasonQuery = Annotated[
    str,
    QueryParameter(
        max_length=1000,
        description="why: required (422 when missing or blank)",
        # documented, refused by the core (422), not by the decoder
        schema_extra={"minLength": 1, "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"},
    ),
]

#: what an edit answers besides success
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 422, 428, 503)
VERSIONS_ERRORS = problem_responses(400, 401, 403, 404, 422, 503)


def unchanged(container: Any) -> dict[int, Any]:
    """Write answers: 201 when a version was added, 200 when nothing (or only an end) changed."""
    from litestar.openapi.datastructures import ResponseSpec

    spec = ResponseSpec(
        data_container=container, description="Nothing to add: unchanged (or ended early)",
        generate_examples=False,
    )  # fmt: skip
    return {**WRITE_ERRORS, 200: spec}


IF_MATCH_DOC = (
    " Send the key's current ETag (from the GET of its versions) in `If-Match`: 428 without it, "
    "412 when someone changed the key since (reload and edit again). `reason` is required."
)


class PreconditionRequired(HTTPException):
    status_code = 428


def _precondition_required(_: Request[Any, Any, Any], exc: PreconditionRequired) -> Response[Any]:
    return problem(428, str(exc.detail), title="Precondition required", field="If-Match")


#: every edit controller answers a missing If-Match this way
EDIT_HANDLERS: Any = {PreconditionRequired: _precondition_required}


def if_match(request: Request[Any, Any, Any]) -> tuple[str, ...]:
    """The ETags of `If-Match`; 428 when absent (or `*`, which would skip the check)."""
    raw = request.headers.get("if-match", "")
    tags = tuple(t.strip() for t in raw.split(",") if t.strip())
    if not tags:
        raise PreconditionRequired(
            detail="send the key's ETag in If-Match (GET its versions to get it)"
        )
    if "*" in tags:
        raise PreconditionRequired(detail="If-Match: * is not accepted: send the key's ETag")
    return tags


def actor_of(request: Request[Any, Any, Any]) -> str:
    """The audit log's actor for the calling key (the same as the web UI's)."""
    caller = request.state.caller
    return f"api-key:{caller.id}:{caller.name}"


def _with_etag(content: Any, etag: str, status: int = 200) -> Response[Any]:
    return Response(content, status_code=status, headers={"ETag": etag})


def _written(content: Any, action: str, etag: str) -> Response[Any]:
    created = action in ("created", "superseded", "added")
    return _with_etag(content, etag, 201 if created else 200)


# --- prices -------------------------------------------------------------------------------------


def _key_out(session: Any, key: prices.PriceKey) -> PriceKeyOut:
    from pricebook.models import Branch, PriceType, Region

    region = session.get(Region, key.region_id) if key.region_id else None
    branch = session.get(Branch, key.branch_id) if key.branch_id else None
    ptype = session.get(PriceType, key.price_type_id)
    return PriceKeyOut(
        key.part_id, key.model_id, key.scope, region.code if region else None,
        branch.code if branch else None, ptype.code,
    )  # fmt: skip


def _price_versions(session: Any, **kwargs: Any) -> PriceVersions:
    key = prices.price_key(session, **kwargs)
    found = prices.price_key_versions(session, key)
    return PriceVersions(
        _key_out(session, key), found.etag, [to(PriceVersion, v) for v in found.versions]
    )


def _write_price(session: Any, data: NewPrice, actor: str, etags: tuple[str, ...]) -> Any:
    key = prices.price_key(
        session, part_id=data.part_id, model_id=data.model_id, scope=data.scope,
        region=data.region, branch=data.branch, price_type=data.price_type,
    )  # fmt: skip
    return prices.write_price(
        session, key, amount=data.amount, valid_from=data.valid_from, valid_to=data.valid_to,
        actor=actor, reason=data.reason, source="staff", expected_etag=etags,
    )  # fmt: skip


class PriceEditController(Controller):
    path = "/prices/versions"
    tags = ["prices"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    exception_handlers = EDIT_HANDLERS
    cache_control = NO_STORE

    @get(
        "/",
        summary="Every version of one price key, with the key's ETag",
        description="The key: part × model (none: all models) × scope (system; region code; "
        "branch code) × price type. An empty list for a key without versions: its ETag "
        "creates the first one.",
        responses=VERSIONS_ERRORS,
    )
    async def versions(
        self,
        state: State,
        part_id: Annotated[int, QueryParameter(ge=1, le=2_147_483_647)],
        price_scope: Annotated[Literal["system", "region", "branch"], QueryParameter(name="scope")],
        price_type: ReqCode,
        model_id: OptId = None,
        region: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        branch: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
    ) -> Response[PriceVersions]:
        out = await run(
            state, _price_versions, part_id=part_id, model_id=model_id, scope=price_scope,
            region=region, branch=branch, price_type=price_type,
        )  # fmt: skip
        return _with_etag(out, out.etag)

    @post(
        "/",
        summary="Add a price version (supersedes the one in force)",
        description="From `valid_from` the new amount applies; the version in force that day "
        "is closed on it. The same amount with an earlier `valid_to` ends the version in force "
        "early; the same amount and period changes nothing (200, `unchanged`). A period "
        "reaching into a later version is 409." + IF_MATCH_DOC,
        status_code=201,
        opt={"if_match": True},
        responses=unchanged(PriceEdit),
    )
    async def add(
        self, state: State, request: Request[Any, Any, Any], data: Annotated[NewPrice, Body()]
    ) -> Response[PriceEdit]:
        etags = if_match(request)
        written = await write(state, _write_price, data, actor_of(request), etags)
        out = PriceEdit(written.action, to(PriceVersion, written.version), written.etag)
        return _written(out, written.action, written.etag)

    @post(
        "/{version_id:int}/end",
        summary="End a price version's validity",
        description="`valid_to` between the version's first day (withdraws it) and its end "
        "(a version is only ever shortened)." + IF_MATCH_DOC,
        status_code=200,
        opt={"if_match": True},
        responses=WRITE_ERRORS,
    )
    async def end(
        self,
        state: State,
        request: Request[Any, Any, Any],
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
    ) -> Response[PriceEdit]:
        etags = if_match(request)
        written = await write(
            state, prices.end_price, version_id, valid_to=data.valid_to,
            actor=actor_of(request), reason=data.reason, expected_etag=etags,
        )  # fmt: skip
        out = PriceEdit(written.action, to(PriceVersion, written.version), written.etag)
        return _with_etag(out, written.etag)


# --- labor rates and standard hours -------------------------------------------------------------


def _rate_versions(session: Any, **kwargs: Any) -> labor.KeyVersions:
    return labor.labor_rate_versions(session, labor.labor_rate_key(session, **kwargs))


def _write_rate(session: Any, data: NewLaborRate, actor: str, etags: tuple[str, ...]) -> Any:
    key = labor.labor_rate_key(
        session, branch=data.branch, labor_kind=data.labor_kind, shop_tier=data.shop_tier,
        vehicle_class=data.vehicle_class,
    )  # fmt: skip
    return labor.write_labor_rate(
        session, key, rate=data.rate, valid_from=data.valid_from, valid_to=data.valid_to,
        actor=actor, reason=data.reason, expected_etag=etags,
    )  # fmt: skip


def _hours_versions(session: Any, **kwargs: Any) -> labor.KeyVersions:
    return labor.hours_versions(session, labor.hours_key(session, **kwargs))


def _write_hours(session: Any, data: NewStandardHours, actor: str, etags: tuple[str, ...]) -> Any:
    key = labor.hours_key(
        session, part_id=data.part_id, operation=data.operation, vehicle_class=data.vehicle_class
    )
    return labor.write_standard_hours(
        session, key, labor_kind=data.labor_kind, hours=str(data.hours),
        valid_from=data.valid_from, valid_to=data.valid_to, actor=actor, reason=data.reason,
        expected_etag=etags,
    )  # fmt: skip


class LaborEditController(Controller):
    path = "/"
    tags = ["labor"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    exception_handlers = EDIT_HANDLERS
    cache_control = NO_STORE

    @get(
        "/labor-rates/versions",
        summary="Every version of one branch standard labor rate, with the key's ETag",
        responses=VERSIONS_ERRORS,
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
            state, _rate_versions, branch=branch, labor_kind=labor_kind, shop_tier=shop_tier,
            vehicle_class=vehicle_class,
        )  # fmt: skip
        return _with_etag(to(LaborRateVersions, found), found.etag)

    @post(
        "/labor-rates/versions",
        summary="Add a labor rate version (supersedes the one in force)",
        description="Branch × labor kind × shop tier × vehicle class." + IF_MATCH_DOC,
        status_code=201,
        opt={"if_match": True},
        responses=unchanged(LaborRateEdit),
    )
    async def add_rate(
        self, state: State, request: Request[Any, Any, Any], data: Annotated[NewLaborRate, Body()]
    ) -> Response[LaborRateEdit]:
        etags = if_match(request)
        written = await write(state, _write_rate, data, actor_of(request), etags)
        return _written(to(LaborRateEdit, written), written.action, written.etag)

    @post(
        "/labor-rates/versions/{version_id:int}/end",
        summary="End a labor rate version's validity",
        description=IF_MATCH_DOC,
        status_code=200,
        opt={"if_match": True},
        responses=WRITE_ERRORS,
    )
    async def end_rate(
        self,
        state: State,
        request: Request[Any, Any, Any],
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
    ) -> Response[LaborRateEdit]:
        etags = if_match(request)
        written = await write(
            state, labor.end_labor_rate, version_id, valid_to=data.valid_to,
            actor=actor_of(request), reason=data.reason, expected_etag=etags,
        )  # fmt: skip
        return _with_etag(to(LaborRateEdit, written), written.etag)

    @get(
        "/standard-hours/versions",
        summary="Every version of one standard-hours key, with the key's ETag",
        responses=VERSIONS_ERRORS,
    )
    async def hours_versions(
        self,
        state: State,
        part_id: Annotated[int, QueryParameter(ge=1, le=2_147_483_647)],
        operation: FromQuery[Operation],
        vehicle_class: FromQuery[VehicleClass],
    ) -> Response[HoursVersions]:
        found = await run(
            state, _hours_versions, part_id=part_id, operation=operation,
            vehicle_class=vehicle_class,
        )  # fmt: skip
        return _with_etag(to(HoursVersions, found), found.etag)

    @post(
        "/standard-hours/versions",
        summary="Add a standard-hours version (supersedes the one in force)",
        description="Part × operation × vehicle class; hours and the labor kind they are paid "
        "at." + IF_MATCH_DOC,
        status_code=201,
        opt={"if_match": True},
        responses=unchanged(HoursEdit),
    )
    async def add_hours(
        self,
        state: State,
        request: Request[Any, Any, Any],
        data: Annotated[NewStandardHours, Body()],
    ) -> Response[HoursEdit]:
        etags = if_match(request)
        written = await write(state, _write_hours, data, actor_of(request), etags)
        return _written(to(HoursEdit, written), written.action, written.etag)

    @post(
        "/standard-hours/versions/{version_id:int}/end",
        summary="End a standard-hours version's validity",
        description=IF_MATCH_DOC,
        status_code=200,
        opt={"if_match": True},
        responses=WRITE_ERRORS,
    )
    async def end_hours(
        self,
        state: State,
        request: Request[Any, Any, Any],
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
    ) -> Response[HoursEdit]:
        etags = if_match(request)
        written = await write(
            state, labor.end_standard_hours, version_id, valid_to=data.valid_to,
            actor=actor_of(request), reason=data.reason, expected_etag=etags,
        )  # fmt: skip
        return _with_etag(to(HoursEdit, written), written.etag)


# --- channels and rate cards --------------------------------------------------------------------


def _write_card(
    session: Any, channel: str, data: NewRateCard, actor: str, etags: tuple[str, ...]
) -> Any:
    return labor.write_rate_card(
        session, channel,
        labor=[labor.CardLaborLine(x.labor_kind, x.rate, x.pct_of_standard) for x in data.labor],
        parts=[labor.CardPartsLine(x.category, x.price_type, x.discount_pct) for x in data.parts],
        valid_from=data.valid_from, valid_to=data.valid_to, actor=actor, reason=data.reason,
        expected_etag=etags,
    )  # fmt: skip


ChannelCode = PathCode


STAFF = [require("pricing_staff")]


class ChannelController(Controller):
    """The list is for every role (estimate tools pass `shop.channel_code`); the rest, the
    cards' terms and every write, for pricing staff."""

    path = "/channels"
    tags = ["channels"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    exception_handlers = EDIT_HANDLERS
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
        self, state: State, request: Request[Any, Any, Any], data: Annotated[NewChannel, Body()]
    ) -> ChannelOut:
        info = await write(
            state, labor.create_channel, code=data.code, name=data.name, kind=data.kind,
            branch=data.branch, actor=actor_of(request), reason=data.reason,
        )  # fmt: skip
        return to(ChannelOut, info)

    @get(
        "/{code:str}/rate-cards",
        summary="Every version of a channel's rate card, with the card's ETag",
        responses=VERSIONS_ERRORS,
        guards=STAFF,
    )
    async def cards(self, state: State, code: ChannelCode) -> Response[RateCardVersions]:
        found = await run(state, labor.rate_card_versions, code)
        return _with_etag(to(RateCardVersions, found), found.etag)

    @post(
        "/{code:str}/rate-cards",
        summary="Add a rate card version (supersedes the card in force)",
        description="The card is its whole set of lines: labor (a rate, or a percentage of "
        "the branch standard) and parts (a price type's reference less a discount per "
        "category). From `valid_from` the new card applies; the card in force that day is "
        "closed on it, never rewritten. The same lines again change nothing (200, "
        "`unchanged`); a period reaching into a later card is 409." + IF_MATCH_DOC,
        status_code=201,
        opt={"if_match": True},
        responses=unchanged(RateCardEdit),
        guards=STAFF,
    )
    async def add_card(
        self,
        state: State,
        request: Request[Any, Any, Any],
        code: ChannelCode,
        data: Annotated[NewRateCard, Body()],
    ) -> Response[RateCardEdit]:
        etags = if_match(request)
        written = await write(state, _write_card, code, data, actor_of(request), etags)
        return _written(to(RateCardEdit, written), written.action, written.etag)

    @post(
        "/{code:str}/rate-cards/{version_id:int}/end",
        summary="End (or withdraw) a rate card version",
        description="`valid_to` between the card's first day (withdraws it: it never applied) "
        "and its end (a card is only ever shortened). From `valid_to` the channel's shops get "
        "the branch standard labor rates and the usual price precedence. 404 when the card is "
        "not this channel's." + IF_MATCH_DOC,
        status_code=200,
        opt={"if_match": True},
        responses=WRITE_ERRORS,
        guards=STAFF,
    )
    async def end_card(
        self,
        state: State,
        request: Request[Any, Any, Any],
        code: ChannelCode,
        version_id: PathId,
        data: Annotated[EndValidity, Body()],
    ) -> Response[RateCardEdit]:
        etags = if_match(request)
        written = await write(
            state, labor.end_rate_card, version_id, valid_to=data.valid_to,
            actor=actor_of(request), reason=data.reason, expected_etag=etags, channel=code,
        )  # fmt: skip
        return _with_etag(to(RateCardEdit, written), written.etag)


# --- aliases and synonyms -----------------------------------------------------------------------


class AliasController(Controller):
    path = "/parts/{part_id:int}/aliases"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    exception_handlers = EDIT_HANDLERS
    cache_control = NO_STORE

    @get("/", summary="A part's aliases, with their ETag", responses=VERSIONS_ERRORS)
    async def aliases(self, state: State, part_id: PathId) -> Response[AliasSet]:
        found = await run(state, aliases.part_aliases, part_id)
        return _with_etag(to(AliasSet, found), found.etag)

    @post(
        "/",
        summary="Add an alias (a name adjusters type for the part)",
        description="The matcher learns it at its next rebuild." + IF_MATCH_DOC,
        status_code=201,
        opt={"if_match": True},
        responses=unchanged(AliasSet),
    )
    async def add(
        self,
        state: State,
        request: Request[Any, Any, Any],
        part_id: PathId,
        data: Annotated[NewAlias, Body()],
    ) -> Response[AliasSet]:
        etags = if_match(request)
        found = await write(
            state, aliases.add_alias, part_id, data.alias, actor=actor_of(request),
            reason=data.reason, expected_etag=etags,
        )  # fmt: skip
        return _written(to(AliasSet, found), found.action, found.etag)

    @delete(
        "/{alias:str}",
        summary="Remove an alias",
        description="`reason` is a query parameter here." + IF_MATCH_DOC,
        status_code=200,
        opt={"if_match": True},
        responses=WRITE_ERRORS,
    )
    async def remove(
        self,
        state: State,
        request: Request[Any, Any, Any],
        part_id: PathId,
        alias: TermPath,
        reason: ReasonQuery = "",
    ) -> Response[AliasSet]:
        etags = if_match(request)
        found = await write(
            state, aliases.remove_alias, part_id, alias, actor=actor_of(request), reason=reason,
            expected_etag=etags,
        )  # fmt: skip
        return _with_etag(to(AliasSet, found), found.etag)


class SynonymController(Controller):
    path = "/synonyms"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    exception_handlers = EDIT_HANDLERS
    cache_control = NO_STORE

    @get(
        "/{canonical:str}",
        summary="One group of the colloquial synonym dictionary, with its ETag",
        description="An unknown canonical word is an empty group: add a term to start it.",
        responses=VERSIONS_ERRORS,
    )
    async def group(self, state: State, canonical: GroupPath) -> Response[SynonymGroup]:
        found = await run(state, aliases.synonym_group, canonical)
        return _with_etag(to(SynonymGroup, found), found.etag)

    @post(
        "/{canonical:str}/terms",
        summary="Add a colloquial term to a group (叶子板 → 翼子板)",
        description="409 when the term is in another group (remove it there first)." + IF_MATCH_DOC,
        status_code=201,
        opt={"if_match": True},
        responses=unchanged(SynonymGroup),
    )
    async def add(
        self,
        state: State,
        request: Request[Any, Any, Any],
        canonical: TermPath,
        data: Annotated[NewTerm, Body()],
    ) -> Response[SynonymGroup]:
        etags = if_match(request)
        found = await write(
            state, aliases.add_synonym, canonical, data.term, actor=actor_of(request),
            reason=data.reason, expected_etag=etags,
        )  # fmt: skip
        return _written(to(SynonymGroup, found), found.action, found.etag)

    @delete(
        "/{canonical:str}/terms/{term:str}",
        summary="Remove a term from a group",
        description="`reason` is a query parameter here." + IF_MATCH_DOC,
        status_code=200,
        opt={"if_match": True},
        responses=WRITE_ERRORS,
    )
    async def remove(
        self,
        state: State,
        request: Request[Any, Any, Any],
        canonical: TermPath,
        term: TermPath,
        reason: ReasonQuery = "",
    ) -> Response[SynonymGroup]:
        etags = if_match(request)
        found = await write(
            state, aliases.remove_synonym, canonical, term, actor=actor_of(request),
            reason=reason, expected_etag=etags,
        )  # fmt: skip
        return _with_etag(to(SynonymGroup, found), found.etag)


__all__ = [
    "AliasController", "ChannelController", "LaborEditController", "PriceEditController",
    "SynonymController", "actor_of", "if_match",
]  # fmt: skip
