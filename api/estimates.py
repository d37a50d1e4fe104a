"""POST /api/v1/estimates/validate, GET /api/v1/estimates/{id}/validations[/{validation_id}],
GET /api/v1/estimates/reference-cache (this process's reference memo: hits, misses, entries).

The body is read and decoded here (not by Litestar's own decoding) so that a malformed line is a
422 problem naming its index and field (`lines[3].claimed_unit_price`, "line 4: …"); more than 500 lines or a
body over 1 MB is a 413. Custom part names go through the process's matching index (the same one
as /api/v1/match: in memory, rebuilt in a worker thread when the catalogue version moves).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import require
from api.controllers import (
    NO_STORE,
    CallerKey,
    Limit,
    Offset,
    PathCode,
    PathId,
    autocommit,
    on_replica,
    run,
)
from api.problems import problem_responses
from api.schemas import Page, to
from pricebook import estimates
from pricebook.errors import Unavailable
from pricebook.keys import KeyInfo, role_allows

MAX_BODY = 1_000_000


_VALIDATE_DOC = f"""Validate a whole estimate against the review rules (第六条) and store the
result. Body: `estimate_id`, `version`, `date` (prices, rates and profiles as of it), `branch`,
`vehicle` (`model_id`, or `brand`/`model` typed by hand; `vin`), `shop` (`tier`,
`channel_code`), `policy` (`four_s_allowed`, `glass`: domestic|imported), `submitted_at`, and
`lines`, each with `type`: `part` (`part_id` | `oe_number` | `custom_name`, `quantity`,
`claimed_unit_price`, `price_type`, `action` replace|repair, `repair_cost`, `added_equipment`,
`added_equipment_covered`, `damaged_components`), `labor` (`line_ref` or `part_id`, `operation`,
`labor_kind`, `hours`, `claimed_rate`), `consumable` (`kind`, `quantity`, `unit`, `unit_price`)
or `rescue` (`distance_km`, `claimed_fee`). Money is a decimal string of yuan.

`damaged_components` (optional, on an assembly 总成 line, at most {estimates.MAX_DAMAGED}): the
component(s) actually damaged, each `{{"part_id": …}}` or `{{"oe_number": …}}` (current or
superseded OE). When every one named is a component of the assembly with a reference price,
ASSEMBLY_WHERE_COMPONENT_AVAILABLE allows Σ their price × their quantity in the assembly × the
line's quantity (without the field: all the components'), and its message names them. A
catalogue part that is not a component of the line's assembly is 422 naming
`lines[i].damaged_components[j]`; one the catalogue does not have is not an error (like an
unknown `part_id`): the rule then allows all the components and `notes` says so.

LABOR_OVERLAP follows inclusions transitively: when operation A's standard hours include B and
B's include C, a claimed C is cut as included in a claimed A even when B is not claimed; the
flag names the including line and gives the chain in `details.path`.

The answer lists every line with its `index` (0-based) and `line_no` (index + 1: messages
count lines from 1), its status (ok | flagged | unknown), its flags (code, severity,
message_zh, message_en, reference with provenance, claimed, allowed, cut) and, for a custom
part, the match that found its reference; then totals, counts by code, the review deadline
(第七条), escalation above the branch's authority, the rule profile used and `notes`. A line
the service cannot check (unknown part id, consumable kind without a standard, unit that does
not convert, no rescue tariff) keeps its claimed amount but is `unknown` with an UNCHECKED flag
saying why (`details.reason`). `notes` (code, message_zh, message_en, field, index, line_no)
say what the answer assumed: DEFAULT_APPLIED for `shop.tier` left out (class2 assumed),
`vehicle.vehicle_class` of a vehicle typed by hand, `submitted_at`. The same estimate id and
version again returns the stored result (`reused: true`) unless `force=true`; for an
estimate_tool key only a result that key stored: another tool posting the same estimate id gets
a validation of its own, never the other's answer (the GETs below show a tool only its own).
201 for a new validation, 200 for a stored one. Every 422 names the bad `field` with a hint (a
missing field, a date's format, an enum's allowed values); `lines` must not be empty; at most
{estimates.MAX_LINES} lines and {MAX_BODY:,} bytes (413)."""


class ValidationWriter:
    """Stores the validations of concurrent requests together: one INSERT in flight per
    process at a time, and the rows that arrive meanwhile go into the next one (group commit).
    Each request still answers only once its own row is committed, so nothing answered can be
    lost or raced; what it saves is a statement, a commit and a round trip per row (under load
    several rows share one INSERT; docs/benchmarks.md has the measured gain).

    `store_batch` stores a list in one statement (`estimates.store_validations` on a
    connection of its own), at most `max_rows` of them (a burst of requests makes several
    statements of a bounded size, not one of every row waiting). When a batch fails, its rows
    are stored one by one, so a row that cannot be stored fails only its own request. When the
    writer's task is cancelled (the server stopping), the requests still waiting get
    `Unavailable` (503: retry) rather than waiting for ever."""

    def __init__(
        self,
        store_batch: Callable[[list[estimates.Unstored]], Awaitable[list[estimates.Validation]]],
        *,
        max_rows: int = 32,
    ) -> None:
        self._store_batch = store_batch
        self._max_rows = max_rows
        self._waiting: list[tuple[estimates.Unstored, asyncio.Future[estimates.Validation]]] = []
        self._flushing: asyncio.Task[None] | None = None
        #: rows and INSERTs so far (logged at shutdown)
        self.rows = self.inserts = 0

    async def store(self, unstored: estimates.Unstored) -> estimates.Validation:
        done: asyncio.Future[estimates.Validation] = asyncio.get_running_loop().create_future()
        self._waiting.append((unstored, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await done

    async def close(self, timeout: float = 10.0) -> None:
        """At shutdown, before the engines go: let the rows waiting be stored (at most
        `timeout` seconds), then give up on the rest (their requests get 503)."""
        task = self._flushing
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _flush(self) -> None:
        batch: list[tuple[estimates.Unstored, asyncio.Future[estimates.Validation]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_rows]
                del self._waiting[: self._max_rows]
                self.rows, self.inserts = self.rows + len(batch), self.inserts + 1
                await self._store(batch)
        except asyncio.CancelledError:
            gone = Unavailable("the server is stopping: the validation was not stored")
            for _, done in batch + self._waiting:
                if not done.done():
                    done.set_exception(gone)
            self._waiting = []
            raise
        finally:
            self._flushing = None

    async def _store(
        self, batch: list[tuple[estimates.Unstored, asyncio.Future[estimates.Validation]]]
    ) -> None:
        # a request that went away (client disconnected) has its future done: nothing to tell
        try:
            stored = await self._store_batch([u for u, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                for one in batch:
                    await self._store([one])
            elif not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        for (_, done), validation in zip(batch, stored, strict=True):
            if not done.done():
                done.set_result(validation)


def store_on(
    engine: AsyncEngine,
) -> Callable[[list[estimates.Unstored]], Awaitable[list[estimates.Validation]]]:
    """A `ValidationWriter`'s `store_batch` on `engine`, in autocommit mode."""

    async def store_batch(batch: list[estimates.Unstored]) -> list[estimates.Validation]:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await connection.run_sync(estimates.store_validations, batch)

    return store_batch


async def matcher_for(state: State) -> estimates.Matcher:
    """This process's matching index (`pricebook.matching.cache.IndexCache`, started with the
    app); waits only for its very first build (503 when that takes too long)."""
    from api.controllers.match import current_snapshot

    return (await current_snapshot(state)).index


class ReferenceCacheInfo(Struct):
    #: the server process answering (a server has one per worker: ask until each has answered)
    pid: int
    #: references its validations found in its memo, and read from the database, since it
    #: started (`pricebook.estimates.ReferenceStats`)
    hits: int
    misses: int
    #: how often a memo over `limit` entries let go of the entries it read first
    dropped: int
    entries: int
    limit: int


def _only_key(caller: KeyInfo) -> int | None:
    """The key whose validations alone the caller may read and reuse: its own for an
    estimate_tool key; None (every key's) for reviewers and up."""
    return None if role_allows(caller.role, "reviewer") else caller.id


def _estimate_of(body: bytes) -> estimates.EstimateRequest:
    """The body decoded; 413 past the body's size or the number of lines."""
    if len(body) > MAX_BODY:
        raise HTTPException(status_code=413, detail=f"the body is over {MAX_BODY:,} bytes")
    estimate = estimates.decode_request(body)
    if len(estimate.lines) > estimates.MAX_LINES:
        raise HTTPException(
            status_code=413,
            detail=f"{len(estimate.lines)} lines: at most {estimates.MAX_LINES} per estimate",
        )
    return estimate


def _needs_matcher(estimate: estimates.EstimateRequest) -> bool:
    """Whether a part line names its part only by a custom name."""
    return any(
        isinstance(line, estimates.PartLineIn) and line.part_id is None for line in estimate.lines
    )


T = TypeVar("T")

_STORED_DOC = (
    "`validation_id`, `validated_at`, `validated_by`, `request` (as stored), then the result's "
    "members as the validation answered them (lines, totals, counts, deadline, escalation, "
    "profile). 404 when the estimate has no validation of that id (for an estimate_tool key: "
    "none of that id stored by this key; reviewers and up read all)."
)
_LIST_DOC = (
    "`items` (each: id, version, date, who and when, profile, totals, counts by code, flagged "
    "and custom part lines), `total`, `limit`, `offset`. 404 when the estimate has none. An "
    "estimate_tool key sees only the validations it stored; reviewers and up see all."
)
#: the reads of stored validations: 404 for an estimate (or validation) the caller may not see
_READ_RESPONSES = problem_responses(400, 401, 403, 404, 503)


async def _as_caller(
    state: State, caller: KeyInfo, read: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """A read of stored validations, of those the caller may read (`_only_key`)."""
    return await run(state, read, *args, only_key=_only_key(caller), **kwargs)


class EstimateController(Controller):
    path = "/estimates"
    tags = ["estimates"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = NO_STORE

    @post(
        "/validate",
        summary="Validate an estimate: every review rule, with reasons, references and cuts",
        description=_VALIDATE_DOC,
        request_max_body_size=MAX_BODY,
        responses={
            **problem_responses(400, 401, 403, 413, 422, 503),
            201: ResponseSpec(
                dict[str, Any],
                generate_examples=False,
                description="A new validation, stored: every line with its status, flags and "
                "amounts; totals, counts by code, deadline, escalation, profile, notes",
            ),
            200: ResponseSpec(
                dict[str, Any],
                generate_examples=False,
                description="The stored validation of this estimate id and version "
                "(`reused: true`): the same answer as when it was new",
            ),
        },
        # the body is read and decoded below; the document gets its schema from here (api.spec)
        # its only write is the validation, read back on the primary alone: no read-your-writes
        opt={"request_body": estimates.EstimateRequest, "writes": False},
    )
    async def validate(
        self,
        request: Request[Any, Any, Any],
        state: State,
        caller: CallerKey,
        force: Annotated[bool, Parameter(description="validate again even if stored")] = False,
    ) -> Response[dict[str, Any]]:
        estimate = _estimate_of(await request.body())
        matcher = await matcher_for(state) if _needs_matcher(estimate) else None
        arguments = dict(
            force=force,
            matcher=matcher,
            actor=caller.name,
            keep=state.settings.reference_cache_entries,
            key_id=caller.id,
            own_only=_only_key(caller) is not None,
        )

        async def validate_on(engine: AsyncEngine) -> estimates.Validation | estimates.Unstored:
            # stored validations are read on the primary; the references where `on_replica`
            # says (a replica in use, else the primary)
            if engine is state.engine:
                return await autocommit(state, estimates.validate_unstored, estimate, **arguments)
            async with engine.connect() as refs:
                await refs.execution_options(isolation_level="AUTOCOMMIT")
                return await autocommit(
                    state,
                    estimates.validate_unstored,
                    estimate,
                    references=refs.sync_connection,
                    **arguments,
                )

        outcome = await on_replica(request, validate_on)
        validation = (
            outcome
            if isinstance(outcome, estimates.Validation)
            else await state.validation_writer.store(outcome)
        )
        # the body is JSON already (see Validation.to_json); the annotation documents its shape
        return Response(
            validation.to_json(),  # type: ignore[arg-type]
            media_type=MediaType.JSON,
            status_code=200 if validation.reused else 201,
        )

    @get(
        "/reference-cache",
        summary="This server process's reference memo: lookups found in it and read, entries",
        description="Counters since the process started (never reset: take differences). A "
        "hit is one reference a validation found kept (a part's prices in one context, its "
        "fitment on one model, the vehicle, …), a miss one it read from the database; with "
        "PRICEBOOK_REFERENCE_CACHE_ENTRIES=0 every one is a miss. Each worker process keeps "
        "its own memo and counters, `pid` says which one answered.",
        responses=problem_responses(401, 403),
    )
    async def reference_cache(self, state: State) -> ReferenceCacheInfo:
        stats = estimates.reference_cache_stats()
        return ReferenceCacheInfo(
            pid=os.getpid(), limit=state.settings.reference_cache_entries, **stats
        )

    @get(
        "/{estimate_id:str}/validations/{validation_id:int}",
        summary="One stored validation: the answer as it was given, and the request it answered",
        description=_STORED_DOC,
        responses=_READ_RESPONSES,
    )
    async def validation(
        self, state: State, caller: CallerKey, estimate_id: PathCode, validation_id: PathId
    ) -> Response[dict[str, Any]]:
        found = await _as_caller(
            state, caller, estimates.stored_validation, estimate_id, validation_id
        )
        return Response(found, media_type=MediaType.JSON)  # type: ignore[arg-type]

    @get(
        "/{estimate_id:str}/validations",
        summary="The stored validations of an estimate, newest first, a page at a time",
        description=_LIST_DOC,
        responses=_READ_RESPONSES,
    )
    async def validations(
        self,
        state: State,
        caller: CallerKey,
        estimate_id: PathCode,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[dict[str, Any]]:
        page = await _as_caller(
            state, caller, estimates.list_validations, estimate_id, limit=limit, offset=offset
        )
        return to(Page[dict[str, Any]], page)
