"""Prices: resolving a part's reference price (estimate tools and up) and the versions of one
price key, read and written by pricing staff."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Body, QueryParameter
from sqlalchemy.orm import Session

from api.auth import require
from api.controllers import (
    ITEM_ERRORS,
    REVALIDATE,
    OptCode,
    OptId,
    ReqCode,
    read_autocommit,
    run,
    with_etag,
)
from api.controllers.versioned import add_route, end_route, versions_route
from api.problems import problem_responses
from api.schemas import (
    BatchResolution,
    BatchResult,
    ItemError,
    NewPrice,
    PriceEdit,
    PriceKeyOut,
    PriceVersion,
    PriceVersions,
    Resolution,
    ResolveBatch,
    to,
)
from pricebook import prices
from pricebook.errors import NotFound
from pricebook.models import Branch, PriceType, Region

_RESOLVE_DOC = (
    "Precedence: a channel's rate card covering the part's category (its price type's reference "
    "less the card's discount) → a policy special agreement's price type (4s_repair: 4s/oem; "
    "glass_imported: 4s/oem; glass_domestic: brand/compatible, glass only) → the requested price "
    "type, else the highest-ranked type with a price. For the chosen type the nearest layer "
    "wins: the branch, its parent branches, the branch's region and the regions above it, then "
    "the system price; in one layer a price for `model_id` beats an all-models price. Only "
    "versions in force on `date` count (future-dated ones from their first day, expired and "
    "withdrawn ones never). Every candidate is listed with its validity, source and why it won "
    "or lost; with `candidates` winner, the winner alone (no losing versions, no market "
    "references): the price without its explanation, for a tool that needs the price only."
)


async def reference(state: State) -> prices.ReferenceData:
    """Price types and the branch and region trees, kept while the database's reference
    generation stays where it was when they were read; the generation (one small read on the
    primary) is checked at most every `catalog_poll_seconds`, the bound every process cache of
    this API keeps to, and the trees are read again only when it moved."""
    cached: tuple[prices.ReferenceData, float] | None = state.get("reference")
    if cached is not None and cached[1] >= time.monotonic():
        return cached[0]

    async def current() -> prices.ReferenceData:
        if cached is not None:
            generation = await run(state, prices.reference_generation)
            if generation == cached[0].generation:
                return cached[0]
        return await run(state, prices.load_reference)

    data = await state.single_flight.run("reference", current)
    state.reference = (data, time.monotonic() + state.settings.catalog_poll_seconds)
    return data


def _out(outcome: prices.ResolveOutcome) -> Resolution:
    res = outcome.resolution
    assert res is not None and res.winner is not None and outcome.part is not None
    # the core's part and candidates are encoded as they are: they have the fields of the API's
    # `PartRef` and `Candidate`, in the same order, so the JSON is the same without a copy of
    # each, which a batch would make by the hundred (tests/test_prices_precedence.py checks the
    # fields)
    return Resolution(
        part=outcome.part,
        matched_by=outcome.matched_by or "part_id",  # type: ignore[arg-type]
        date=res.on,
        model_id=res.model_id,
        branch=outcome.branch,
        channel=outcome.channel,
        agreement=outcome.request.agreement,
        price_type=res.price_type or "",
        price_type_reason=res.price_type_reason,
        amount=res.winner.amount,
        currency="CNY",
        layer=res.winner.layer,
        winner=res.winner,  # type: ignore[arg-type]
        candidates=res.candidates,  # type: ignore[arg-type]
    )


def _batch_requests(data: ResolveBatch) -> list[prices.ResolveRequest]:
    today = data.date or dt.date.today()
    return [
        prices.ResolveRequest(
            on=i.date or today,
            part_id=i.part_id,
            oe=i.oe,
            model_id=i.model_id,
            branch=i.branch,
            price_type=i.price_type,
            channel=i.channel,
            agreement=i.agreement,
        )
        for i in data.items
    ]


def _batch_result(n: int, outcome: prices.ResolveOutcome) -> BatchResult:
    """One item's answer in a batch: its resolution, or its error with the status it would
    have had alone."""
    if outcome.error is None:
        return BatchResult(n, 200, result=_out(outcome))
    status = 404 if isinstance(outcome.error, NotFound) else 422
    error = ItemError(outcome.error.title, outcome.error.message, outcome.error.field)
    return BatchResult(n, status, error=error)


def _key_out(session: Session, key: prices.PriceKey) -> PriceKeyOut:
    region = session.get(Region, key.region_id) if key.region_id else None
    branch = session.get(Branch, key.branch_id) if key.branch_id else None
    ptype = session.get(PriceType, key.price_type_id)
    assert ptype is not None  # price_key found it
    return PriceKeyOut(
        key.part_id,
        key.model_id,
        key.scope,
        region.code if region else None,
        branch.code if branch else None,
        ptype.code,
    )


def _price_versions(session: Session, **key: Any) -> PriceVersions:
    price_key = prices.price_key(session, **key)
    found = prices.price_key_versions(session, price_key)
    return PriceVersions(
        _key_out(session, price_key), found.etag, [to(PriceVersion, v) for v in found.versions]
    )


def _write_price(session: Session, data: NewPrice, **audit: Any) -> prices.PriceWrite:
    key = prices.price_key(
        session,
        part_id=data.part_id,
        model_id=data.model_id,
        scope=data.scope,
        region=data.region,
        branch=data.branch,
        price_type=data.price_type,
    )
    return prices.write_price(
        session,
        key,
        amount=data.amount,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        source="staff",
        **audit,
    )


class PriceController(Controller):
    """Resolving is for every role; a key's versions and their writes are for pricing staff."""

    path = "/prices"
    tags = ["prices"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = REVALIDATE

    @get(
        "/resolve",
        summary="The reference price of a part, with its provenance",
        description=_RESOLVE_DOC + " 404 when the part has no price (of the chosen type) in force.",
        responses=ITEM_ERRORS,
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        state: State,
        part_id: OptId = None,
        oe: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        model_id: OptId = None,
        branch: OptCode = None,
        price_type: OptCode = None,
        channel: OptCode = None,
        on: Annotated[
            dt.date | None, QueryParameter(name="date", description="the estimate's date (today)")
        ] = None,
        agreement: OptCode = None,
        candidates: Annotated[
            Literal["all", "winner"],
            QueryParameter(description="winner: `candidates` holds the winner alone"),
        ] = "all",
    ) -> Resolution:
        wanted = prices.ResolveRequest(
            on=on or dt.date.today(),
            part_id=part_id,
            oe=oe,
            model_id=model_id,
            branch=branch,
            price_type=price_type,
            channel=channel,
            agreement=agreement,
        )
        # load_and_resolve with a ReferenceData is one statement without channels (one
        # snapshot); with channels two, each under READ COMMITTED as in a transaction
        (outcome,) = await read_autocommit(
            request,
            prices.load_and_resolve,
            [wanted],
            await reference(state),
            explain=candidates == "all",
        )
        if outcome.error is not None:
            raise outcome.error
        return _out(outcome)

    @post(
        "/resolve",
        summary="Resolve up to 500 items at once",
        description=_RESOLVE_DOC + " One answer per item, in order, each with its own status "
        "(200, 404 or 422); the whole batch costs a fixed number of SQL statements.",
        status_code=200,
        responses=problem_responses(400, 401, 403, 503),
        cache_control=None,
        opt={"writes": False},  # a POST that writes nothing: no read-your-writes window
    )
    async def resolve_batch(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[ResolveBatch, Body()]
    ) -> BatchResolution:
        outcomes = await read_autocommit(
            request,
            prices.load_and_resolve,
            _batch_requests(data),
            await reference(state),
            explain=data.candidates == "all",
        )
        results = [_batch_result(n, outcome) for n, outcome in enumerate(outcomes)]
        resolved = sum(1 for r in results if r.status == 200)
        return BatchResolution(results, resolved, len(results) - resolved)

    @versions_route(
        "Every version of one price key, with the key's ETag",
        description="The key: part × model (none: all models) × scope (system; region code; "
        "branch code) × price type. An empty list for a key without versions: its ETag "
        "creates the first one.",
    )
    async def versions(
        self,
        state: State,
        part_id: Annotated[int, QueryParameter(ge=1, le=2_147_483_647)],
        price_scope: Annotated[Literal["system", "region", "branch"], QueryParameter(name="scope")],
        price_type: ReqCode,
        model_id: OptId = None,
        region: OptCode = None,
        branch: OptCode = None,
    ) -> Response[PriceVersions]:
        out = await run(
            state,
            _price_versions,
            part_id=part_id,
            model_id=model_id,
            scope=price_scope,
            region=region,
            branch=branch,
            price_type=price_type,
        )
        return with_etag(out, out.etag)

    add = add_route(
        _write_price,
        NewPrice,
        PriceEdit,
        name="add",
        summary="Add a price version (supersedes the one in force)",
        description="From `valid_from` the new amount applies; the version in force that day "
        "is closed on it. The same amount with an earlier `valid_to` ends the version in force "
        "early; the same amount and period changes nothing (200, `unchanged`). A period "
        "reaching into a later version is 409.",
    )

    end = end_route(
        prices.end_price,
        PriceEdit,
        name="end",
        summary="End a price version's validity",
        description="`valid_to` between the version's first day (withdraws it) and its end "
        "(a version is only ever shortened).",
    )


__all__ = ["PriceController"]
