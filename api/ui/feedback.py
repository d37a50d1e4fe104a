"""Feedback: reviewers submit price-mismatch feedback; pricing staff work the queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.problems import STATUS_OF
from api.schemas import MAX_ID
from api.ui.auth import login_required
from api.ui.common import PathId, money_text, parse_date, parse_int, render, text, ui_money, write
from api.ui.messages import zh
from pricebook import catalog, feedback, prices
from pricebook.errors import InvalidInput, NotFound, PricebookError

STATUS_NAMES = {"open": "待处理", "need_info": "待补充", "accepted": "已采纳", "rejected": "已驳回",
                "resolved_by_market": "市场回归，已关闭"}  # fmt: skip
KIND_NAMES = {"reviewer": "核损反馈", "drift": "市场偏离"}
#: the flash after a decision says which (`decided` is the action's name)
DECISIONS = {"accept_feedback": "已采纳，已写入新价格版本", "reject_feedback": "已驳回",
             "need_info_feedback": "已退回，要求提交人补充信息"}  # fmt: skip
Code = Annotated[str, QueryParameter(max_length=64)]
#: what staff do to a queue item: `feedback.accept_feedback`, `reject_feedback`, `need_info_feedback`
Action = Callable[..., feedback.FeedbackView]


def _rows(session: Session, items: list[feedback.FeedbackView]) -> list[dict[str, Any]]:
    refs = prices.reference_lists(session)
    branches = {b.id: b for b in refs.branches}
    types = {t.id: t for t in refs.price_types}
    today = date.today()
    rows = []
    for item in items:
        age = (today - item.created_at.date()).days if item.created_at else None
        branch = branches.get(item.branch_id) if item.branch_id else None
        ptype = types.get(item.price_type_id)
        rows.append(
            {
                "id": item.id,
                "kind": KIND_NAMES.get(item.kind, item.kind),
                "part_id": item.part_id,
                "part_name": item.part_name,
                "branch": branch.name if branch else "全国（系统价格）",
                "price_type": ptype.name if ptype else "",
                "reference": item.reference,
                "observed": item.observed,
                "note": item.note,
                "url": item.url,
                "estimate_ref": item.estimate_ref,
                "status": item.status,
                "status_name": STATUS_NAMES.get(item.status, item.status),
                "created_by": item.created_by,
                "age": age,
                "resolution_reason": item.resolution_reason,
                "linked_to_id": item.linked_to_id,
                "resulting_price_id": item.resulting_price_id,
            }
        )
    return rows


def _url_ok(url: str) -> bool:
    return not url or url.startswith(("http://", "https://"))


class FeedbackPages(Controller):
    path = "/feedback"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def queue(
        self,
        request: Request[Any, Any, Any],
        state: State,
        status: Code = "",
        branch: Code = "",
        max_age: Annotated[int | None, QueryParameter(name="age", ge=0, le=3650)] = None,
        submitted: Code = "",
        done: Code = "",
        decided: Code = "",
    ) -> Template:
        user = request.state.ui_user
        staff = user.can("pricing_staff")
        async with state.sessions() as session:
            refs = await session.run_sync(prices.reference_lists)
            branch_id = next((b.id for b in refs.branches if b.code == branch), None)
            items = await session.run_sync(
                feedback.list_feedback,
                status=status or (None if not staff else "open"),
                branch_id=branch_id,
                created_by=None if staff else user.actor,
                max_age_days=max_age,
                limit=200,
            )
            rows = await session.run_sync(_rows, items)
        messages = []
        if submitted:
            messages.append({"kind": "ok", "text": f"反馈 #{submitted} 已提交，等待报价人员处理。"})
        if done:
            what = DECISIONS.get(decided, "已处理")
            messages.append({"kind": "ok", "text": f"反馈 #{done} {what}。"})
        return render(
            request,
            "feedback.html",
            {
                "title": "反馈队列",
                "nav": "feedback",
                "rows": rows,
                "refs": refs,
                "staff": staff,
                "status": status or ("open" if staff else ""),
                "branch": branch,
                "age": max_age,
                "status_names": STATUS_NAMES,
                "today": date.today().isoformat(),
                "messages": messages,
            },
        )

    @get("/new")
    async def new(
        self,
        request: Request[Any, Any, Any],
        state: State,
        part_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        branch: Code = "",
        price_type: Code = "",
        model_id: Code = "",
        reference: Code = "",
    ) -> Template:
        form = {
            "part_id": str(part_id or ""),
            "part": "",
            "branch": branch,
            "price_type": price_type,
            "model_id": model_id,
            "reference": reference,
            "observed": "",
            "note": "",
            "url": "",
            "estimate_ref": "",
        }
        return await self._form(request, state, form)

    async def _form(
        self,
        request: Request[Any, Any, Any],
        state: State,
        form: dict[str, str],
        error: str = "",
        status_code: int = 200,
    ) -> Template:
        async with state.sessions() as session:
            refs = await session.run_sync(prices.reference_lists)
            part = None
            part_id = parse_int(form["part_id"])
            if part_id:
                try:
                    part = await session.run_sync(catalog.get_part, part_id)
                except NotFound:
                    part = None
        return render(
            request,
            "feedback_new.html",
            {
                "title": "提交价格反馈",
                "nav": "feedback",
                "form": form,
                "refs": refs,
                "part": part,
                "error": error,
            },
            status_code=status_code,
        )

    @post("/", status_code=303)
    async def submit(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        raw = await request.form()
        form = {
            k: text(raw, k, 1000)
            for k in (
                "part_id",
                "part",
                "branch",
                "price_type",
                "model_id",
                "reference",
                "observed",
                "note",
                "url",
                "estimate_ref",
            )
        }
        form |= {k: money_text(raw, k) for k in ("reference", "observed")}
        user = request.state.ui_user
        try:
            args = await _feedback_args(state, form)
            item = await write(state, feedback.submit_feedback, **args, actor=user.actor)
        except PricebookError as exc:
            status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 422)
            return await self._form(request, state, form, f"未提交：{zh(exc)}", status)
        return Redirect(f"/feedback?submitted={item.id}", status_code=303)

    async def _act(
        self, request: Request[Any, Any, Any], state: State, item_id: int, action: Action
    ) -> Redirect | Template:
        form = await request.form()
        reason = text(form, "reason")
        user = request.state.ui_user
        kwargs: dict[str, Any] = {"actor": user.actor, "reason": reason}
        try:
            if action is feedback.accept_feedback:
                kwargs["amount"] = ui_money(money_text(form, "amount"), "amount", required=True)
                typed = text(form, "valid_from", 40)
                valid_from = parse_date(typed)
                if typed and valid_from is None:  # never today in place of a mistyped day
                    raise InvalidInput(
                        f"生效日期“{typed}”不是日期：请写成 年-月-日（如 2026-01-31）",
                        field="valid_from",
                    )
                kwargs["valid_from"] = valid_from or date.today()
            elif not reason:
                raise InvalidInput("请填写原因", field="reason")
            await write(state, action, item_id, **kwargs)
        except PricebookError as exc:
            status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 422)
            return render(
                request, "error.html", {"heading": "未处理", "detail": zh(exc)}, status_code=status
            )
        return Redirect(f"/feedback?done={item_id}&decided={action.__name__}", status_code=303)

    @post("/{item_id:int}/accept", guards=[login_required("pricing_staff")], status_code=303)
    async def accept(
        self, request: Request[Any, Any, Any], state: State, item_id: PathId
    ) -> Redirect | Template:
        return await self._act(request, state, item_id, feedback.accept_feedback)

    @post("/{item_id:int}/reject", guards=[login_required("pricing_staff")], status_code=303)
    async def reject(
        self, request: Request[Any, Any, Any], state: State, item_id: PathId
    ) -> Redirect | Template:
        return await self._act(request, state, item_id, feedback.reject_feedback)

    @post("/{item_id:int}/need-info", guards=[login_required("pricing_staff")], status_code=303)
    async def need_info(
        self, request: Request[Any, Any, Any], state: State, item_id: PathId
    ) -> Redirect | Template:
        return await self._act(request, state, item_id, feedback.need_info_feedback)


def _part_named(session: Session, text: str) -> int:
    """The part a person named by its code or OE number (current or superseded)."""
    from pricebook.models import Part

    by_code = session.scalar(select(Part.id).where(Part.code == text))
    if by_code is not None:
        return by_code
    found = catalog.search_parts(session, oe=text, limit=2)
    exact = [p for p in found.items if p.matched_by in {"oe", "superseded_oe"}]
    if found.total == 1 and exact:
        return exact[0].id
    if found.total > 1:
        raise InvalidInput(
            f"“{text[:40]}”对应多个配件：请输入完整的配件代码或原厂编号", field="part"
        )
    raise InvalidInput(f"没有配件代码或原厂编号为“{text[:40]}”的配件", field="part")


async def _feedback_args(state: State, form: dict[str, str]) -> dict[str, Any]:
    part_id = parse_int(form["part_id"])
    async with state.sessions() as session:
        if part_id is None:
            if not form["part"]:
                raise InvalidInput("请填写配件代码或原厂编号", field="part")
            part_id = await session.run_sync(_part_named, form["part"])
        refs = await session.run_sync(prices.reference_lists)
        await session.run_sync(catalog.get_part, part_id)  # NotFound for an unknown part
    branch_id = None
    if form["branch"]:
        branch_id = next((b.id for b in refs.branches if b.code == form["branch"]), None)
        if branch_id is None:
            raise InvalidInput(f"没有机构 {form['branch']}", field="branch")
    type_id = next((t.id for t in refs.price_types if t.code == form["price_type"]), None)
    if type_id is None:
        raise InvalidInput("请选择价格类型", field="price_type")
    model_id = parse_int(form["model_id"]) if form["model_id"] else None
    if not _url_ok(form["url"]):
        raise InvalidInput("证据链接须以 http:// 或 https:// 开头", field="url")
    return {
        "part_id": part_id,
        "model_id": model_id,
        "branch_id": branch_id,
        "price_type_id": type_id,
        "reference": ui_money(form["reference"], "reference", required=False),
        "observed": ui_money(form["observed"], "observed", required=True),
        "note": form["note"],
        "url": form["url"],
        "estimate_ref": form["estimate_ref"],
    }
