"""What the UI's controllers share: rendering, running core functions, form values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.params import PathParameter, QueryParameter
from litestar.response import Template

from api.problems import STATUS_OF
from api.schemas import MAX_ID
from api.ui.auth import User
from api.ui.messages import zh
from pricebook.errors import InvalidInput, PricebookError
from pricebook.money import MAX_YUAN, MoneyError, parse_money

T = TypeVar("T")

#: ids are 32-bit in the database: a larger one in an address is a 400, not a failed query
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
#: a list's page and sort as its address gives them
PageNo = Annotated[int, QueryParameter(ge=1, le=10_000)]
SortParam = Annotated[str, QueryParameter(max_length=40)]

SOURCE_NAMES = {
    "system": "系统",
    "staff": "报价人员",
    "import": "导入",
    "feedback": "反馈采纳",
    "market": "市场",
}
SCOPE_NAMES = {"system": "系统价格", "region": "地区", "branch": "分公司"}


def person(actor: str | None) -> str:
    """Who did it, as people say it: an actor recorded as ``api-key:<id>:<name>`` is its key's
    name (the id is the database's); anything else (a CLI user, ``demo``) as recorded."""
    if not actor:
        return ""
    kind, _, rest = actor.partition(":")
    key_id, _, name = rest.partition(":")
    return name if kind == "api-key" and key_id.isdigit() and name else actor


def render(
    request: Request[Any, Any, Any],
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Template:
    user: User | None = request.state.get("ui_user")
    ctx = {"user": user, "messages": [], **(context or {})}
    return Template(template_name=f"ui/{name}", context=ctx, status_code=status_code)


async def run(state: State, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """A core read on its own session."""
    async with state.sessions() as session:
        return await session.run_sync(fn, *args, **kwargs)


async def write(state: State, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """A core write in one transaction (committed on success, rolled back on any error)."""
    async with state.sessions.begin() as session:
        return await session.run_sync(fn, *args, **kwargs)


def text(form: Mapping[str, Any], name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def money_text(form: Mapping[str, Any], name: str) -> str:
    """An amount field exactly as typed (not stripped: `ui_money` refuses spaces around it, as
    every other way in does)."""
    value = form.get(name)
    return value[:64] if isinstance(value, str) else ""


def ui_money(value: str, field: str, *, required: bool) -> Decimal | None:
    """An amount typed in a form, by `pricebook.money.parse_money`; InvalidInput in Chinese."""
    if not value:
        if required:
            raise InvalidInput("请填写金额", field=field)
        return None
    try:
        return parse_money(value)
    except MoneyError:
        raise InvalidInput(
            f"金额须为大于零、不超过 {MAX_YUAN} 的数字，最多两位小数，不含空格、全角数字或科学计数法",
            field=field,
        ) from None


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse_int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 12 else None


def status_of(exc: PricebookError) -> int:
    """The status a refused form's page answers with: the API's for the error, else 422."""
    return next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 422)


def refusal(exc: PricebookError) -> dict[str, Any]:
    """A refused save's status and the message on top of the page, in Chinese."""
    return {"status_code": status_of(exc), "error": f"未保存：{zh(exc)}"}


def page_expired(field: str) -> InvalidInput:
    """A form without what the page showed (an ETag, `seen`): it is from no page of ours, or
    from one too old to compare with."""
    return InvalidInput("页面已过期：请刷新页面后再修改", field=field)


def shown_etag(etag: str | None) -> str:
    """The ETag the page showed, as its form sends it back (`page_expired` without one)."""
    if not etag:
        raise page_expired("etag")
    return etag
