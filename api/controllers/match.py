"""/api/v1/match: custom part names (自定义配件) → catalogue parts, side-safe; confirmations.

The index lives in memory, one per server process (`pricebook.matching.cache.IndexCache`,
started by `match_index_lifespan`): a match costs no SQL. It is rebuilt in a worker thread when
the catalogue version moves; a request uses whichever complete index is current.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, Litestar, get, post
from litestar.datastructures import State
from litestar.params import Body
from msgspec import Meta, Struct, structs

from api.auth import require
from api.controllers import NO_STORE, Actor, write
from api.problems import problem_responses
from api.schemas import MAX_ID, Id, to
from api.spec import NO_NUL
from pricebook.errors import InvalidInput, Unavailable
from pricebook.matching import MatchResult
from pricebook.matching.cache import IndexCache
from pricebook.matching.confirm import MAX_NAME, Confirmation, check_name, confirm
from pricebook.matching.loader import Snapshot

log = logging.getLogger("pricebook.api")

#: Names per request.
MAX_NAMES = 500
#: How long a request that arrives before the first build waits for it (then 503).
READY_TIMEOUT = 30.0
#: How long a confirmation waits for this process's index to include it.
CONFIRM_REFRESH_TIMEOUT = 5.0
#: Below this many names a match runs on the event loop; above, in a worker thread.
INLINE_NAMES = 8


# --- boundary types ---------------------------------------------------------------------------


class MatchRequest(Struct, forbid_unknown_fields=True):
    #: custom part names as typed, 1–500
    names: list[str]
    model_id: Annotated[int, Meta(ge=1, le=MAX_ID)] | None = None
    #: brand code or name; taken from the model when only `model_id` is given
    brand: Annotated[str, Meta(max_length=64, pattern=NO_NUL)] | None = None
    top_k: Annotated[int, Meta(ge=1, le=20)] = 5


class SideOut(Struct):
    """The side read from the name: each axis null when the name does not say."""

    lateral: str | None  # 左 / 右 / 中
    longitudinal: str | None  # 前 / 后
    vertical: str | None  # 上 / 下
    depth: str | None  # 内 / 外
    #: the name said two things on one axis (左右): never auto-accepted
    ambiguous: bool
    #: the side as a Chinese prefix (左前), empty when unspecified
    label: str


class AttributesOut(Struct):
    quality: list[str]
    quantity: int | None
    unit: str | None
    assembly: bool
    #: the price type code the quality words stand for in the price type vocabulary
    #: (`/api/v1/price-type-words`: 原厂件 → oem), null when they name none
    price_type: str | None


Reason = Literal["oe_exact", "learned", "alias_exact", "fuzzy", "pinyin"]


class CandidateOut(Struct):
    part_id: int
    part_code: str
    name: str
    #: 0–100
    score: float
    #: calibrated probability that this candidate is right, 0–1
    confidence: float
    reason: Reason


class MatchOut(Struct):
    query: str
    decision: Literal["matched", "suggested", "unmatched"]
    reason: Reason | None
    side: SideOut
    attributes: AttributesOut
    candidates: list[CandidateOut]


class MatchResponse(Struct):
    results: list[MatchOut]
    model_id: int | None
    brand_id: int | None
    #: the catalogue version of the index that answered
    index_version: int


class ConfirmationRequest(Struct, forbid_unknown_fields=True):
    """A verdict on a name: stored (and looked up) as text, so no NUL in any of it
    (PostgreSQL cannot store or compare it: a 400 or 422, not a 500)."""

    #: NUL here is the core's 422 (`check_name`), as every other bad name
    name: Annotated[str, Meta(max_length=MAX_NAME * 2)]
    accepted: bool
    part_id: Id | None = None
    part_code: Annotated[str, Meta(min_length=1, max_length=64, pattern=NO_NUL)] | None = None
    model_id: Id | None = None
    brand: Annotated[str, Meta(max_length=64, pattern=NO_NUL)] | None = None
    reason: Annotated[str, Meta(max_length=500, pattern=NO_NUL)] = ""


class ConfirmationOut(Confirmation, frozen=True):
    """A stored verdict, as the core answers it, and what this process's index knows of it."""

    #: whether this process's index already includes it (others follow within a poll)
    index_updated: bool


class AnswerMemo(Struct):
    """The index's memo of answers (per name, model, brand and top_k) since the index was
    built: `hits` answered from it, `misses` matched and kept, `dropped` let go over `limit`
    (the answer used longest ago)."""

    entries: int
    limit: int
    hits: int
    misses: int
    dropped: int


class IndexInfo(Struct):
    #: the worker process that answered: each keeps its own index and memo
    pid: int
    version: int
    entries: int
    #: names + aliases indexed
    strings: int
    cores: int
    pinyin_strings: int
    oe_numbers: int
    approx_bytes: int
    built_at: datetime
    build_seconds: float
    #: full | learned (the previous index with reloaded learned mappings)
    kind: str
    synonyms_source: Literal["database", "shipped"]
    synonym_groups: int
    learned: int
    poll_seconds: float
    rebuilds: int
    last_error: str | None
    answers: AnswerMemo


# --- plumbing ---------------------------------------------------------------------------------


@asynccontextmanager
async def match_index_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start this process's index cache with the app (the first build runs in the background)
    and stop it with the app."""
    cache = IndexCache.from_settings(app.state.settings)
    app.state.match_index = cache
    await cache.start()
    try:
        yield
    finally:
        await cache.stop()


def _cache(state: State) -> IndexCache:
    cache = getattr(state, "match_index", None)
    if cache is None:
        raise Unavailable("the matching index is not running on this server")
    return cache


async def current_snapshot(state: State) -> Snapshot:
    """The complete index in service (waits only for the very first build)."""
    snapshot = await _cache(state).wait_ready(READY_TIMEOUT)
    if snapshot is None:
        raise Unavailable("the matching index is being built; retry shortly")
    return snapshot


def _names(data: MatchRequest) -> list[str]:
    """The names to match, each checked (422 naming it), 1 to MAX_NAMES of them."""
    if not data.names:
        raise InvalidInput("give at least one name", field="names")
    if len(data.names) > MAX_NAMES:
        raise InvalidInput(
            f"{len(data.names)} names: at most {MAX_NAMES} per request", field="names"
        )
    return [check_name(n, field=f"names[{i}]") for i, n in enumerate(data.names)]


def _out(result: MatchResult) -> MatchOut:
    s, a = result.side, result.attributes
    return MatchOut(
        query=result.query,
        decision=result.decision,
        reason=result.reason,
        side=SideOut(s.lateral, s.longitudinal, s.vertical, s.depth, s.ambiguous, s.label()),
        attributes=AttributesOut(list(a.quality), a.quantity, a.unit, a.assembly, a.price_type),
        candidates=[
            CandidateOut(c.part_id, c.part_code, c.name, c.score, c.confidence, c.reason)
            for c in result.candidates
        ],
    )


def _scope(snapshot: Snapshot, model_id: int | None, brand: str | None) -> int | None:
    """Check model and brand against the index's catalogue; the brand id to block by."""
    brand_id = None
    if brand is not None and brand.strip():
        brand_id = snapshot.brands.get(brand.strip())
        if brand_id is None:
            raise InvalidInput(f"unknown brand {brand!r}", field="brand")
    if model_id is not None and model_id not in snapshot.model_brands:
        raise InvalidInput(f"unknown model {model_id}", field="model_id")
    return brand_id


# --- routes -----------------------------------------------------------------------------------

_MATCH_DOC = f"""Match up to {MAX_NAMES} custom part names (as adjusters type them) to catalogue
parts. For each name, in order: `decision` (`matched`: safe to auto-accept; `suggested`: a
person picks from `candidates`; `unmatched`), `reason` of the first candidate (`oe_exact`,
`learned`, `alias_exact`, `fuzzy`, `pinyin`), the `side` read from the name (structured axes
and a label), the `attributes` typed around it (quality words, quantity, 总成) and the top-k
candidates best first. A candidate whose side contradicts the name's is never returned.
Candidates are looked for among the parts fitting `model_id`, then the brand's, then the whole
catalogue. 422 names the bad field (`names`, `names[3]`, `model_id`, `brand`)."""


class MatchController(Controller):
    path = "/match"
    tags = ["matching"]  # noqa: RUF012
    cache_control = NO_STORE

    @post(
        "/",
        summary="Match custom part names to catalogue parts (side-safe)",
        description=_MATCH_DOC,
        status_code=200,
        guards=[require("estimate_tool")],
        request_max_body_size=1_000_000,
        responses=problem_responses(400, 401, 403, 413, 422, 503),
        opt={"writes": False},  # a POST that writes nothing: no read-your-writes window
    )
    async def match(self, state: State, data: Annotated[MatchRequest, Body()]) -> MatchResponse:
        names = _names(data)
        snapshot = await current_snapshot(state)
        brand_id = _scope(snapshot, data.model_id, data.brand)
        index = snapshot.index

        def run() -> list[MatchResult]:
            return index.match(names, model_id=data.model_id, brand_id=brand_id, top_k=data.top_k)

        results = run() if len(names) <= INLINE_NAMES else await asyncio.to_thread(run)
        if brand_id is None and data.model_id is not None:
            brand_id = snapshot.model_brands.get(data.model_id)
        return MatchResponse([_out(r) for r in results], data.model_id, brand_id, snapshot.version)

    @post(
        "/confirmations",
        summary="Confirm or reject that a custom name is a part (learned for next time)",
        description="A reviewer's verdict that `name` is (`accepted: true`) or is not (`false`) "
        "the part given by `part_id` or `part_code`, optionally only for `model_id` or `brand` "
        "(code or name). Stored with who and why (`reason`) and audited; the catalogue version "
        "moves, so every server's index learns it: the next match of the name answers the part "
        "with reason `learned` (an acceptance), or never offers it again (a rejection). An "
        "acceptance whose part sits on a side the name contradicts is refused (422).",
        status_code=201,
        guards=[require("reviewer")],
        responses=problem_responses(400, 401, 403, 422, 503),
    )
    async def confirm(
        self,
        state: State,
        data: Annotated[ConfirmationRequest, Body()],
        actor: Actor,
    ) -> ConfirmationOut:
        cache = _cache(state)
        snapshot = await current_snapshot(state)
        done = await write(
            state,
            confirm,
            name=data.name,
            accepted=data.accepted,
            actor=actor,
            part_id=data.part_id,
            part_code=data.part_code,
            model_id=data.model_id,
            brand=data.brand,
            reason=data.reason,
            index=snapshot.index,
        )
        await cache.refresh_now(CONFIRM_REFRESH_TIMEOUT)
        current = cache.snapshot
        updated = current is not None and current.version >= done.catalog_version
        return ConfirmationOut(**structs.asdict(done), index_updated=updated)

    @get(
        "/index",
        summary="This server process's matching index: version and size",
        guards=[require("estimate_tool")],
        responses=problem_responses(401, 403, 503),
    )
    async def index(self, state: State) -> IndexInfo:
        cache = _cache(state)
        s = await current_snapshot(state)
        return IndexInfo(
            pid=os.getpid(),
            version=s.version,
            entries=s.size.entries,
            strings=s.size.strings,
            cores=s.size.cores,
            pinyin_strings=s.size.pinyin_strings,
            oe_numbers=s.size.oe_numbers,
            approx_bytes=s.size.approx_bytes,
            built_at=s.built_at,
            build_seconds=round(s.build_seconds, 3),
            kind=s.kind,
            synonyms_source=s.synonyms_source,  # type: ignore[arg-type]
            synonym_groups=s.synonym_groups,
            learned=s.learned,
            poll_seconds=cache.poll_seconds,
            rebuilds=cache.rebuilds,
            last_error=cache.last_error,
            answers=to(AnswerMemo, s.index.memo),
        )
