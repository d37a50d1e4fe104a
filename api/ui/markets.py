"""Market data in the staff UI: observations as dots on the part page's price-history chart,
the queue of unmatched listings pricing staff confirm or reject, and the recorded crawls."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api.problems import STATUS_OF
from api.ui.auth import login_required
from api.ui.charts import MarketPoint
from api.ui.common import PathId, render, text, write
from api.ui.messages import zh
from pricebook.errors import PricebookError
from pricebook.market import part_observations
from pricebook.market.crawl import page_runs
from pricebook.market.review import (
    confirm_listing,
    mark_not_part,
    reject_suggestion,
    unmatched_listings,
)

#: listings per page of the queue
PAGE_SIZE = 50


def observations(session: Session, part_id: int, price_type_id: int | None) -> list[MarketPoint]:
    """One dot per observation, on the day the amount was first seen; its title says where and
    for how long it was seen (the chart's tooltip)."""
    points = []
    for item in part_observations(session, part_id, price_type_id=price_type_id):
        first, last = item.first_seen.date(), item.last_seen.date()
        seen = f"{first}" if first == last else f"{first} 至 {last}"
        points.append(
            MarketPoint(first, item.amount, f"市场观测 {item.source}：{item.amount} 元（{seen}）")
        )
    return points


# --- the unmatched listings queue ------------------------------------------------------------

#: the flash after a verdict
VERDICTS = {"confirmed": "已确认配件，以后同样的标题会自动匹配", "rejected": "已否定建议配件，以后不再建议",
            "not_part": "已标为不是目录配件，以后不再列入待匹配"}  # fmt: skip
Code = Annotated[str, QueryParameter(max_length=64)]
RUN_STATUSES = {"running": "进行中", "finished": "完成", "suspicious": "可疑", "failed": "失败"}


class MarketPages(Controller):
    """市场待匹配: unmatched listings with the matcher's suggestion; pricing staff confirm the
    suggestion (or another part by its code) or reject it — either teaches the matcher — or
    mark a listing as not a catalogue part (不是目录配件), which keeps it out of the queue."""

    path = "/market"
    guards = [login_required("pricing_staff")]  # noqa: RUF012

    @get("/unmatched")
    async def unmatched(
        self,
        request: Request[Any, Any, Any],
        state: State,
        source: Code = "",
        page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
        done: Annotated[int | None, QueryParameter(ge=1, le=2**53)] = None,
        verdict: Code = "",
    ) -> Template:
        async with state.sessions() as session:
            queue = await session.run_sync(
                unmatched_listings,
                source=source or None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
        messages = []
        if done and verdict in VERDICTS:
            messages.append({"kind": "ok", "text": f"观测 #{done}：{VERDICTS[verdict]}。"})
        return render(
            request,
            "market_unmatched.html",
            {
                "title": "市场待匹配",
                "nav": "market",
                "queue": queue,
                "source": source,
                "page": page,
                "pages": max(1, -(-queue.total // PAGE_SIZE)),
                "messages": messages,
            },
        )

    @get("/runs")
    async def runs(
        self,
        request: Request[Any, Any, Any],
        state: State,
        source: Code = "",
        page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
    ) -> Template:
        """爬取记录: each recorded crawl with its counts and what the drift check after it did
        to the review queue."""
        async with state.sessions() as session:
            runs = await session.run_sync(
                page_runs, source=source or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
            )
        return render(
            request,
            "market_runs.html",
            {
                "title": "爬取记录",
                "nav": "market",
                "runs": runs,
                "source": source,
                "page": page,
                "pages": max(1, -(-runs.total // PAGE_SIZE)),
                "statuses": RUN_STATUSES,
            },
        )

    async def _act(
        self, request: Request[Any, Any, Any], state: State, observation_id: int, verdict: str
    ) -> Redirect | Template:
        form = await request.form()
        reason = text(form, "reason")
        actor = request.state.ui_user.actor
        try:
            if verdict == "confirmed":
                code = text(form, "part_code", 64)
                await write(
                    state,
                    confirm_listing,
                    observation_id,
                    actor=actor,
                    part_code=code or None,
                    reason=reason,
                )
            elif verdict == "rejected":
                await write(state, reject_suggestion, observation_id, actor=actor, reason=reason)
            else:
                await write(state, mark_not_part, observation_id, actor=actor, reason=reason)
        except PricebookError as exc:
            status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 422)
            return render(
                request, "error.html", {"heading": "未处理", "detail": zh(exc)}, status_code=status
            )
        return Redirect(
            f"/market/unmatched?done={observation_id}&verdict={verdict}", status_code=303
        )

    @post("/unmatched/{observation_id:int}/confirm", status_code=303)
    async def confirm(
        self, request: Request[Any, Any, Any], state: State, observation_id: PathId
    ) -> Redirect | Template:
        return await self._act(request, state, observation_id, "confirmed")

    @post("/unmatched/{observation_id:int}/reject", status_code=303)
    async def reject(
        self, request: Request[Any, Any, Any], state: State, observation_id: PathId
    ) -> Redirect | Template:
        return await self._act(request, state, observation_id, "rejected")

    @post("/unmatched/{observation_id:int}/not-a-part", status_code=303)
    async def not_a_part(
        self, request: Request[Any, Any, Any], state: State, observation_id: PathId
    ) -> Redirect | Template:
        return await self._act(request, state, observation_id, "not_part")
