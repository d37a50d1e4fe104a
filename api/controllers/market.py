"""Market crawls: the recorded runs of `pricebook crawl` with their reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, get
from litestar.datastructures import State
from msgspec import Struct

from api.auth import require
from api.controllers import NO_STORE, READ_ERRORS, Limit, Offset, OptCode, run
from api.schemas import to
from pricebook.market.crawl import page_runs


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


class MarketRunPage(Struct):
    items: list[MarketRun]
    total: int
    limit: int
    offset: int


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
        "unmatched, new observations, unchanged, dropped by reason, page errors, warnings).",
        responses=READ_ERRORS,
    )
    async def runs(
        self, state: State, source: OptCode = None, status: OptCode = None,
        limit: Limit = 50, offset: Offset = 0,
    ) -> MarketRunPage:  # fmt: skip
        page = await run(state, page_runs, source=source, status=status, limit=limit, offset=offset)
        return to(MarketRunPage, page)
