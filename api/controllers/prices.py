from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import Body, QueryParameter

from api.auth import require
from api.controllers import (
    ITEM_ERRORS,
    READ_ERRORS,
    REVALIDATE,
    OptCode,
    OptId,
    read_autocommit,
    run,
)
from api.problems import problem_responses
from api.schemas import (
    BatchResolution,
    BatchResult,
    ItemError,
    Resolution,
    ResolveBatch,
)
from pricebook import prices
from pricebook.errors import NotFound

_RESOLVE_DOC = (
    "Precedence: a channel's rate card covering the part's category (its price type's reference "
    "less the card's discount) → a policy special agreement's price type (4s_repair: 4s/oem; "
    "glass_imported: 4s/oem; glass_domestic: brand/compatible, glass only) → the requested price "
    "type, else the highest-ranked type with a price. For the chosen type the nearest layer "
    "wins: the branch, its parent branches, the branch's region and the regions above it, then "
    "the system price; in one layer a price for `model_id` beats an all-models price. Only "
    "versions in force on `date` count (future-dated ones from their first day, expired and "
    "withdrawn ones never). Every candidate is listed with its validity, source and why it won "
    "or lost."
)


async def reference(state: State) -> prices.ReferenceData:
    """Price types and the branch and region trees, reloaded every `catalog_poll_seconds`."""
    cached = state.get("reference")
    now = time.monotonic()
    if cached is None or cached[1] < now:
        data = await state.single_flight.run("reference", lambda: run(state, prices.load_reference))  # fmt: skip
        cached = (data, time.monotonic() + state.settings.catalog_poll_seconds)
        state.reference = cached
    return cached[0]


def _out(outcome: prices.ResolveOutcome) -> Resolution:
    res = outcome.resolution
    assert res is not None and res.winner is not None and outcome.part is not None
    # the core's part and candidates are encoded as they are: they have the fields of the API's
    # `PartRef` and `Candidate`, in the same order, so the JSON is the same without a copy of
    # each (a batch of 100 made ~750; tests/test_prices_precedence.py checks the fields)
    return Resolution(
        part=outcome.part, matched_by=outcome.matched_by or "part_id",  # type: ignore[arg-type]
        date=res.on, model_id=res.model_id, branch=outcome.branch, channel=outcome.channel,
        agreement=outcome.request.agreement, price_type=res.price_type or "",
        price_type_reason=res.price_type_reason, amount=res.winner.amount, currency="CNY",
        layer=res.winner.layer, winner=res.winner,  # type: ignore[arg-type]
        candidates=res.candidates,  # type: ignore[arg-type]
    )  # fmt: skip


class PriceController(Controller):
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
    ) -> Resolution:
        wanted = prices.ResolveRequest(
            on=on or dt.date.today(), part_id=part_id, oe=oe, model_id=model_id, branch=branch,
            price_type=price_type, channel=channel, agreement=agreement,
        )  # fmt: skip
        # load_and_resolve with a ReferenceData is one statement without channels (one
        # snapshot); with channels two, each under READ COMMITTED as in a transaction
        (outcome,) = await read_autocommit(
            request, prices.load_and_resolve, [wanted], await reference(state)
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
        today = data.date or dt.date.today()
        requests = [
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
        outcomes = await read_autocommit(
            request, prices.load_and_resolve, requests, await reference(state)
        )
        results = []
        for n, outcome in enumerate(outcomes):
            if outcome.error is None:
                results.append(BatchResult(n, 200, result=_out(outcome)))
            else:
                status = 404 if isinstance(outcome.error, NotFound) else 422
                error = ItemError(outcome.error.title, outcome.error.message, outcome.error.field)
                results.append(BatchResult(n, status, error=error))
        resolved = sum(1 for r in results if r.status == 200)
        return BatchResolution(results, resolved, len(results) - resolved)


__all__ = ["READ_ERRORS", "PriceController"]
