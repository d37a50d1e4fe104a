"""What the labor pages share: branch standard labor rates (工时单价, `api.ui.labor_rates`),
standard hours with what each operation includes (标准工时 / 包含项目, `api.ui.standard_hours`),
special channels and their rate cards (专项渠道 / 费率卡, `api.ui.channels`).

Each has a list (search, filters, sortable columns, 50 a page, CSV export of exactly the
filtered list), a page per key with its version history (periods, who, why), and create,
supersede and end forms for pricing staff; reviewers see everything and change nothing.
Every form carries the key's ETag as the page showed it, so a save over someone else's newer
change is refused (412, the page reloaded with what is there now) instead of replacing it;
errors are Chinese, beside the field and at the top of the form the browser scrolls to.
This module holds the Chinese names, the form readers, the list and export pages, the
version-history page's context and the save-or-show-again step every form goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, TypedDict, TypeVar

from litestar import Request, Response
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.ui.auth import login_required
from api.ui.common import (
    SOURCE_NAMES,
    parse_date,
    parse_int,
    render,
    run,
    status_of,
    text,
    write,
)
from api.ui.listing import (
    PAGE_SIZE,
    Listing,
    Sort,
    check_export_size,
    export_response,
    page_count,
    parse_sort,
)
from api.ui.messages import zh
from pricebook import catalog, labor, prices
from pricebook.errors import Conflict, InvalidInput, PricebookError, StaleVersion
from pricebook.io.importers import LABOR_KINDS
from pricebook.models import VEHICLE_CLASSES, Channel
from pricebook.money import MoneyError, parse_money, parse_plain

T = TypeVar("T")

TIER_NAMES = {"4s": "4S店", "class1": "一类修理厂", "class2": "二类修理厂", "class3": "三类修理厂"}
OPERATION_NAMES = {"replace": "更换", "repair": "修复", "paint": "喷漆", "remove_refit": "拆装"}
CLASS_NAMES = {c: f"{c} 级" for c in VEHICLE_CLASSES}
CHANNEL_KIND_NAMES = {
    "repair_shop": "合作修理厂",
    "dealer_group": "经销商集团",
    "parts_platform": "配件直供平台",
}
#: what a save did, as the confirmation says it (the core's `LaborWrite.action`)
DONE = {
    "created": "已新增",
    "superseded": "已保存新版本（原版本在新版本生效当天结束）",
    "closed": "已提前结束版本",
    "withdrawn": "已撤销版本（该版本从未生效）",
    "unchanged": "内容与现行版本相同，没有变化",
    "updated": "已保存包含项目",
    "same": "包含项目没有变化",
}
NAMES = {
    "tiers": TIER_NAMES,
    "operations": OPERATION_NAMES,
    "classes": CLASS_NAMES,
    "labor_kinds": LABOR_KINDS,
    "channel_kinds": CHANNEL_KIND_NAMES,
    "sources": SOURCE_NAMES,
}
STAFF = [login_required("pricing_staff")]
#: the fields of every key's end form
END_FIELDS = ("version", "valid_to", "reason", "etag")


class KeyExists(Conflict):
    """A create form named a key that already has versions: edit it on its page."""

    def __init__(self, message: str, *, field: str, url: str) -> None:
        super().__init__(message, field=field)
        self.url = url


# --- reading a form -----------------------------------------------------------------------------


def form_values(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {k: text(form, k, 1000 if k == "reason" else 200) for k in names}


def require_date(value: str, field: str, what: str) -> date:
    day = parse_date(value)
    if day is None:
        raise InvalidInput(f"请填写{what}（日期格式 年-月-日）", field=field)
    return day


def optional_date(value: str, field: str) -> date | None:
    day = parse_date(value)
    if value and day is None:
        raise InvalidInput("失效日期无效（日期格式 年-月-日）", field=field)
    return day


def number(value: str, field: str, what: str, maximum: Decimal, *, zero: bool = False) -> Decimal:
    """A rate, hours or percentage typed in a form; InvalidInput in Chinese."""
    if not value:
        raise InvalidInput(f"请填写{what}", field=field)
    try:
        if zero:
            return parse_plain(value, places=2, maximum=maximum, allow_zero=True)
        return parse_money(value, maximum=maximum)
    except MoneyError:
        lower = "不小于零" if zero else "大于零"
        raise InvalidInput(
            f"{what}须为{lower}、不超过 {maximum} 的数字，最多两位小数，不含空格或全角数字",
            field=field,
        ) from None


def choice(value: str, names: Mapping[str, str], field: str, what: str) -> str:
    if value not in names:
        raise InvalidInput(f"请选择{what}", field=field)
    return value


class VersionArgs(TypedDict):
    """What every core write of a key's version takes from its form besides the values."""

    valid_from: date
    valid_to: date | None
    actor: str
    reason: str
    expected_etag: str


def version_args(values: dict[str, str], actor: str, etag: str) -> VersionArgs:
    """A version form's period and reason (refused in Chinese), who saves it and the ETag of
    the key as the page showed it."""
    return {
        "valid_from": require_date(values["valid_from"], "valid_from", "生效日期"),
        "valid_to": optional_date(values["valid_to"], "valid_to"),
        "actor": actor,
        "reason": values["reason"],
        "expected_etag": etag,
    }


def end_args(values: dict[str, str], versions: Sequence[Any]) -> tuple[int, date]:
    """The version an end form names (one of the key's) and the day it ends."""
    wanted = parse_int(values["version"])
    if wanted is None or wanted not in {v.id for v in versions}:
        raise InvalidInput("请选择要结束的版本", field="version")
    return wanted, require_date(values["valid_to"], "valid_to", "结束日期")


def create_once(
    versions: Callable[[], Sequence[Any]],
    write: Callable[[], labor.LaborWrite],
    exists: Callable[[Any], KeyExists],
) -> labor.LaborWrite:
    """A create form's write: refused with a link to the key's page (`exists` of its latest
    version) when the key has versions — also when another save created it while this one
    waited for the key's lock (the write expects the empty key's ETag)."""
    if found := versions():
        raise exists(found[-1])
    try:
        return write()
    except StaleVersion:
        raise exists(versions()[-1]) from None


# --- saving a form ------------------------------------------------------------------------------


def _failure(exc: PricebookError, form: str) -> dict[str, Any]:
    """What a refused save shows: the message at the top of the form and beside its field."""
    message = zh(exc)
    return {
        "failed": form,
        "edit_error": f"未保存：{message}",
        "errors": {exc.field: message} if exc.field else {},
        "exists_url": getattr(exc, "url", ""),
    }


async def save(
    request: Request[Any, Any, Any],
    state: State,
    change: Callable[..., T],
    args: tuple[Any, ...],
    *,
    form: str,
    again: Callable[..., Awaitable[Template]],
    shown: dict[str, Any],
    after: Callable[[T], str],
) -> Redirect | Template:
    """One form's save: `change(session, *args, actor)` in a transaction, then a redirect to
    `after(written)`. Refused, the page again: `again(status_code=…, **shown, …)` with the
    values as typed (`shown`) and the message at the top of the form named `form` and beside
    its field."""
    try:
        written = await write(state, change, *args, request.state.ui_user.actor)
    except PricebookError as exc:
        return await again(status_code=status_of(exc), **shown, **_failure(exc, form))
    return Redirect(after(written), status_code=303)


def flash(done: str, link: str = "", label: str = "") -> list[dict[str, str]]:
    if done not in DONE:
        return []
    return [{"kind": "ok", "text": DONE[done], "link": link, "label": label}]


def refs(session: Session) -> dict[str, Any]:
    """What the filters and forms offer: branches, regions, price types, categories, channels."""
    found = prices.reference_lists(session)
    channels = [(c.code, c.name) for c in session.scalars(select(Channel).order_by(Channel.code))]
    return {
        "refs": found,
        "categories": catalog.search_filters(session).categories,
        "channels": channels,
    }


def form_page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    status_code: int,
    extra: dict[str, Any],
) -> Template:
    """A page with a form: the names the selects offer, no field errors unless `extra` has
    a refused save's."""
    return render(
        request,
        template,
        {**context, **NAMES, "errors": {}, **extra},
        status_code=status_code,
    )


# --- a key's version history --------------------------------------------------------------------


class Version(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def valid_from(self) -> date: ...
    @property
    def valid_to(self) -> date | None: ...


V = TypeVar("V", bound=Version)


def version_state(valid_from: date, valid_to: date | None, today: date) -> str:
    if valid_to is not None and valid_to <= valid_from:
        return "已撤销"
    if valid_from > today:
        return "未生效"
    if valid_to is not None and valid_to <= today:
        return "已结束"
    return "现行"


def in_force(versions: Sequence[V], today: date) -> V | None:
    """The version in force today, the latest if periods were ever to overlap."""
    return next(
        (v for v in reversed(versions) if version_state(v.valid_from, v.valid_to, today) == "现行"),
        None,
    )


def _endable(versions: Sequence[Version], today: date) -> list[Version]:
    """Versions an end form offers: those still running or yet to start."""
    return [
        v
        for v in versions
        if (v.valid_to is None or v.valid_to > today)
        and (v.valid_to is None or v.valid_to > v.valid_from)
    ]


def history_context(
    versions: Sequence[Version],
    current: Version | None,
    today: date,
    end_form: dict[str, str] | None,
) -> dict[str, Any]:
    """What a key's page shows beside its facts: the versions' states, the one in force, and
    the end form (the version in force, ending today, unless a refused save's values)."""
    end = {
        "version": str(current.id) if current else "",
        "valid_to": today.isoformat(),
        "reason": "",
    } | (end_form or {})
    return {
        "today": today,
        "current": current,
        "endable": _endable(versions, today),
        "state_of": version_state,
        "end_form": end,
    }


# --- lists and exports --------------------------------------------------------------------------


#: the sortable columns' names, for the message when an address asks for another
SORT_LABELS = {
    "branch": "机构",
    "region": "地区",
    "kind": "工种",
    "tier": "修理厂级别",
    "class": "车辆级别",
    "rate": "工时单价",
    "from": "生效日期",
    "part": "配件",
    "category": "分类",
    "operation": "作业",
    "hours": "标准工时",
    "code": "渠道代码",
    "name": "名称",
    "card": "费率卡",
}


@dataclass(frozen=True, slots=True)
class ListSetup:
    """One list page's setup: its address, core query, filters, sort keys and CSV columns."""

    path: str
    fetch: Callable[..., Any]
    filters: tuple[str, ...]
    sorts: tuple[str, ...]
    columns: tuple[tuple[str, Callable[[Any], Any]], ...]

    def sort(self, value: str) -> Sort:
        return parse_sort(value, {k: SORT_LABELS[k] for k in self.sorts}, self.sorts[0])


def query_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The query's values as typed (first of each, at most 100 characters)."""
    return {k: str(v)[:100] for k, v in request.query_params.items()}


def _on(value: str) -> date:
    return parse_date(value) or date.today()


def _page_no(value: str) -> int:
    page = parse_int(value) or 1
    return min(max(page, 1), 10_000)


async def list_page(
    request: Request[Any, Any, Any],
    state: State,
    listing: ListSetup,
    template: str,
    extra: dict[str, Any],
    params: dict[str, str],
) -> Template:
    """A list page: the filters as typed, one page of rows in the sort asked for."""
    sort = listing.sort(params.pop("sort", ""))
    page_no = _page_no(params.pop("page", ""))
    on = _on(params.get("on", ""))
    filters = {k: params.get(k, "") for k in listing.filters}
    shown = {**filters, "on": params.get("on", "")}
    messages = extra.pop("messages", [])

    def load(session: Session) -> dict[str, Any]:
        try:
            found = listing.fetch(
                session,
                on=on,
                **filters,
                sort=str(sort),
                limit=PAGE_SIZE,
                offset=(page_no - 1) * PAGE_SIZE,
            )
            error = ""
        except InvalidInput as exc:  # an unknown code in a hand-made address
            found, error = None, zh(exc)
        return {**refs(session), "found": found, "filter_error": error}

    data = await run(state, load)
    total = data["found"].total if data["found"] else 0
    return render(
        request,
        template,
        {
            **extra,
            **data,
            **NAMES,
            "messages": messages,
            "form": shown,
            "sort": str(sort),
            "listing": Listing(listing.path, shown, sort, page_no),
            "page_no": page_no,
            "pages": page_count(total),
            "total": total,
        },
    )


async def export_page(
    request: Request[Any, Any, Any], state: State, listing: ListSetup, name: str
) -> Response[bytes]:
    params = query_params(request)
    sort = listing.sort(params.pop("sort", ""))
    on = _on(params.get("on", ""))
    filters = {k: params.get(k, "") for k in listing.filters}
    found = await run(state, listing.fetch, on=on, **filters, sort=str(sort), limit=None)
    check_export_size(len(found.items))
    return export_response(
        request,
        f"{name}-{on.isoformat()}",
        [header for header, _ in listing.columns],
        ([get(row) for _, get in listing.columns] for row in found.items),
    )
