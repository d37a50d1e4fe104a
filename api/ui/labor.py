"""Labor pages: branch standard labor rates (工时单价), standard hours with what each operation
includes (标准工时 / 包含项目), special channels and their rate cards (专项渠道 / 费率卡).

Each has a list (search, filters, sortable columns, 50 a page, CSV export of exactly the
filtered list), a page per key with its version history (periods, who, why), and create,
supersede and end forms for pricing staff; reviewers see everything and change nothing.
Every form carries the key's ETag as the page showed it, so a save over someone else's newer
change is refused (412, the page reloaded with what is there now) instead of replacing it;
errors are Chinese, beside the field and at the top of the form the browser scrolls to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.problems import STATUS_OF
from api.ui.auth import login_required
from api.ui.common import SOURCE_NAMES, PathId, parse_date, parse_int, render, run, text, write
from api.ui.listing import Listing, Sort, check_export_size, csv_response, parse_sort
from api.ui.messages import zh
from pricebook import catalog, labor, prices
from pricebook.errors import Conflict, InvalidInput, PricebookError, StaleVersion
from pricebook.io.importers import LABOR_KINDS
from pricebook.models import VEHICLE_CLASSES, Channel, Part
from pricebook.money import MoneyError, parse_money, parse_plain

Q = Annotated[str, QueryParameter(max_length=100)]
Code = Annotated[str, QueryParameter(max_length=64)]
ChannelCode = Annotated[str, PathParameter(min_length=1, max_length=64)]

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


class KeyExists(Conflict):
    """A create form named a key that already has versions: edit it on its page."""

    def __init__(self, message: str, *, field: str, url: str) -> None:
        super().__init__(message, field=field)
        self.url = url


def _status(exc: PricebookError) -> int:
    return next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 422)


def _failure(exc: PricebookError, form: str) -> dict[str, Any]:
    """What a refused save shows: the message at the top of the form and beside its field."""
    message = zh(exc)
    return {
        "failed": form,
        "edit_error": f"未保存：{message}",
        "errors": {exc.field: message} if exc.field else {},
        "exists_url": getattr(exc, "url", ""),
    }


def _values(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {k: text(form, k, 1000 if k == "reason" else 200) for k in names}


def _require_date(value: str, field: str, what: str) -> date:
    day = parse_date(value)
    if day is None:
        raise InvalidInput(f"请填写{what}（日期格式 年-月-日）", field=field)
    return day


def _optional_date(value: str, field: str) -> date | None:
    day = parse_date(value)
    if value and day is None:
        raise InvalidInput("失效日期无效（日期格式 年-月-日）", field=field)
    return day


def _number(value: str, field: str, what: str, maximum: Decimal, *, zero: bool = False) -> Decimal:
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


def _choice(value: str, names: Mapping[str, str], field: str, what: str) -> str:
    if value not in names:
        raise InvalidInput(f"请选择{what}", field=field)
    return value


def _etag(values: Mapping[str, str]) -> str:
    if not values.get("etag"):
        raise InvalidInput("页面已过期：请刷新页面后再修改", field="etag")
    return values["etag"]


def _refs(session: Session) -> dict[str, Any]:
    """What the filters and forms offer: branches, regions, price types, categories, channels."""
    refs = prices.reference_lists(session)
    channels = [(c.code, c.name) for c in session.scalars(select(Channel).order_by(Channel.code))]
    return {
        "refs": refs,
        "categories": catalog.search_filters(session).categories,
        "channels": channels,
    }


def _on(value: str) -> date:
    return parse_date(value) or date.today()


def _page_no(value: str) -> int:
    number = parse_int(value) or 1
    return min(max(number, 1), 10_000)


def _flash(done: str, link: str = "", label: str = "") -> list[dict[str, str]]:
    if done not in DONE:
        return []
    return [{"kind": "ok", "text": DONE[done], "link": link, "label": label}]


#: rows a list page shows
PAGE_SIZE = 50
#: the sortable columns' names, for the message when an address asks for another
SORT_LABELS = {
    "branch": "机构", "region": "地区", "kind": "工种", "tier": "修理厂级别", "class": "车辆级别",
    "rate": "工时单价", "from": "生效日期", "part": "配件", "category": "分类", "operation": "作业",
    "hours": "标准工时", "code": "渠道代码", "name": "名称", "card": "费率卡",
}  # fmt: skip


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


def _person(actor: str) -> str:
    from api.ui import person

    return person(actor)


def _includes_text(row: labor.HoursRow) -> str:
    return "；".join(
        f"{i.part_name} {OPERATION_NAMES.get(i.operation, i.operation)}" for i in row.includes
    )


def _terms_text(card: labor.CardListing | None, kind: str) -> str:
    if card is None:
        return ""
    parts = []
    for t in card.terms:
        if t.kind != kind:
            continue
        if kind == "labor":
            how = (
                f"{t.rate} 元/工时" if t.rate is not None else f"标准工时费的 {t.pct_of_standard}%"
            )
            parts.append(f"{t.name} {how}")
        else:
            parts.append(f"{t.name} {t.price_type_name} 减 {t.discount_pct}%")
    return "；".join(parts)


RATES = ListSetup(
    path="/labor-rates",
    fetch=labor.list_labor_rates,
    filters=("q", "branch", "region", "kind", "shop_tier", "vehicle_class", "channel"),
    sorts=labor.LABOR_RATE_SORTS,
    columns=(
        ("机构代码", lambda r: r.branch_code),
        ("机构", lambda r: r.branch_name),
        ("地区", lambda r: r.region_name),
        ("工种", lambda r: r.kind_name),
        ("修理厂级别", lambda r: TIER_NAMES.get(r.shop_tier, r.shop_tier)),
        ("车辆级别", lambda r: r.vehicle_class),
        ("工时单价（元）", lambda r: r.rate),
        ("生效日期", lambda r: r.valid_from),
        ("失效日期", lambda r: r.valid_to),
        ("来源", lambda r: SOURCE_NAMES.get(r.source, r.source)),
        ("修改人", lambda r: _person(r.created_by)),
        ("原因", lambda r: r.reason),
        ("渠道适用单价（元）", lambda r: r.channel_rate),
    ),
)
HOURS = ListSetup(
    path="/standard-hours",
    fetch=labor.standard_hours,
    filters=("q", "category", "operation", "vehicle_class", "kind"),
    sorts=labor.HOURS_SORTS,
    columns=(
        ("配件编码", lambda r: r.part_code),
        ("配件名称", lambda r: r.part_name),
        ("分类", lambda r: r.category_name),
        ("作业", lambda r: OPERATION_NAMES.get(r.operation, r.operation)),
        ("车辆级别", lambda r: r.vehicle_class),
        ("工种", lambda r: r.labor_kind.name),
        ("标准工时", lambda r: r.hours),
        ("已包含的作业", _includes_text),
        ("生效日期", lambda r: r.valid_from),
        ("失效日期", lambda r: r.valid_to),
        ("修改人", lambda r: _person(r.created_by)),
        ("原因", lambda r: r.reason),
    ),
)
CHANNELS = ListSetup(
    path="/channels",
    fetch=labor.list_channels,
    filters=("q", "kind", "branch", "price_type"),
    sorts=labor.CHANNEL_SORTS,
    columns=(
        ("渠道代码", lambda r: r.code),
        ("渠道名称", lambda r: r.name),
        ("类型", lambda r: CHANNEL_KIND_NAMES.get(r.kind, r.kind)),
        ("所属机构", lambda r: r.branch_name),
        ("费率卡生效", lambda r: r.card.valid_from if r.card else None),
        ("费率卡失效", lambda r: r.card.valid_to if r.card else None),
        ("工时条款", lambda r: _terms_text(r.card, "labor")),
        ("配件条款", lambda r: _terms_text(r.card, "parts")),
    ),
)


async def _list(
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
        return {**_refs(session), "found": found, "filter_error": error}

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
            "pages": (total + PAGE_SIZE - 1) // PAGE_SIZE,
            "total": total,
        },
    )


async def _export(
    state: State, listing: ListSetup, name: str, params: dict[str, str]
) -> Response[bytes]:
    sort = listing.sort(params.pop("sort", ""))
    on = _on(params.get("on", ""))
    filters = {k: params.get(k, "") for k in listing.filters}
    found = await run(state, listing.fetch, on=on, **filters, sort=str(sort), limit=None)
    check_export_size(len(found.items))
    return csv_response(
        f"{name}-{on.isoformat()}.csv",
        [header for header, _ in listing.columns],
        ([get(row) for _, get in listing.columns] for row in found.items),
    )


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The query's values as typed (first of each, at most 100 characters)."""
    return {k: str(v)[:100] for k, v in request.query_params.items()}


STAFF = [login_required("pricing_staff")]


# --- labor rates --------------------------------------------------------------------------------


RATE_CREATE = (
    "branch",
    "kind",
    "shop_tier",
    "vehicle_class",
    "rate",
    "valid_from",
    "valid_to",
    "reason",
)
RATE_EDIT = ("rate", "valid_from", "valid_to", "reason", "etag")
END_FIELDS = ("version", "valid_to", "reason", "etag")


def _create_once(
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


def _create_rate(session: Session, values: dict[str, str], actor: str) -> labor.LaborWrite:
    kind = _choice(values["kind"], LABOR_KINDS, "kind", "工种")
    tier = _choice(values["shop_tier"], TIER_NAMES, "shop_tier", "修理厂级别")
    vclass = _choice(values["vehicle_class"], CLASS_NAMES, "vehicle_class", "车辆级别")
    if not values["branch"]:
        raise InvalidInput("请选择机构", field="branch")
    rate = _number(values["rate"], "rate", "工时单价", labor.MAX_RATE)
    valid_from = _require_date(values["valid_from"], "valid_from", "生效日期")
    valid_to = _optional_date(values["valid_to"], "valid_to")
    key = labor.labor_rate_key(
        session, branch=values["branch"], labor_kind=kind, shop_tier=tier, vehicle_class=vclass
    )

    return _create_once(
        lambda: labor.labor_rate_versions(session, key).versions,
        lambda: labor.write_labor_rate(
            session,
            key,
            rate=rate,
            valid_from=valid_from,
            valid_to=valid_to,
            actor=actor,
            reason=values["reason"],
            expected_etag=prices.EMPTY_ETAG,
        ),
        lambda latest: KeyExists(
            "该机构、工种、修理厂级别和车辆级别已有工时单价：请在它的页面上修改",
            field="branch",
            url=f"/labor-rates/{latest.id}",
        ),
    )


def _supersede_rate(
    session: Session, version_id: int, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    view = labor.labor_rate_key_view(session, version_id)
    etag = _etag(values)
    rate = _number(values["rate"], "rate", "工时单价", labor.MAX_RATE)
    valid_from = _require_date(values["valid_from"], "valid_from", "生效日期")
    valid_to = _optional_date(values["valid_to"], "valid_to")
    key = labor.labor_rate_key(
        session,
        branch=view.branch_code,
        labor_kind=view.kind_code,
        shop_tier=view.shop_tier,
        vehicle_class=view.vehicle_class,
    )
    return labor.write_labor_rate(
        session,
        key,
        rate=rate,
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=values["reason"],
        expected_etag=etag,
    )


def _end_args(values: dict[str, str], versions: list[Any]) -> tuple[int, date]:
    """The version an end form names (one of the key's) and the day it ends."""
    wanted = parse_int(values["version"])
    if wanted is None or wanted not in {v.id for v in versions}:
        raise InvalidInput("请选择要结束的版本", field="version")
    return wanted, _require_date(values["valid_to"], "valid_to", "结束日期")


def _end_rate(
    session: Session, version_id: int, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    view = labor.labor_rate_key_view(session, version_id)
    etag = _etag(values)
    target, valid_to = _end_args(values, view.versions)
    return labor.end_labor_rate(
        session, target, valid_to=valid_to, actor=actor, reason=values["reason"], expected_etag=etag
    )


def _version_state(valid_from: date, valid_to: date | None, today: date) -> str:
    if valid_to is not None and valid_to <= valid_from:
        return "已撤销"
    if valid_from > today:
        return "未生效"
    if valid_to is not None and valid_to <= today:
        return "已结束"
    return "现行"


def _endable(versions: list[Any], today: date) -> list[Any]:
    """Versions an end form offers: those still running or yet to start."""
    return [
        v
        for v in versions
        if (v.valid_to is None or v.valid_to > today)
        and (v.valid_to is None or v.valid_to > v.valid_from)
    ]


class LaborRatePages(Controller):
    path = "/labor-rates"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Template:
        return await _list(
            request,
            state,
            RATES,
            "labor_rates.html",
            {"title": "工时单价", "nav": "labor-rates"},
            _params(request),
        )

    @get("/export.csv")
    async def export(self, request: Request[Any, Any, Any], state: State) -> Response:
        return await _export(state, RATES, "labor-rates", _params(request))

    @get("/new", guards=STAFF)
    async def new(self, request: Request[Any, Any, Any], state: State) -> Template:
        form = dict.fromkeys(RATE_CREATE, "") | {"valid_from": date.today().isoformat()}
        return await self._new_page(request, state, form)

    async def _new_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        form: dict[str, str],
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        data = await run(state, _refs)
        return render(
            request,
            "labor_rate_new.html",
            {
                "title": "新增工时单价",
                "nav": "labor-rates",
                **data,
                **NAMES,
                "form": form,
                "errors": {},
                **extra,
            },
            status_code=status_code,
        )

    @post("/", guards=STAFF, status_code=303)
    async def create(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        values = _values(await request.form(), RATE_CREATE)
        try:
            written = await write(state, _create_rate, values, request.state.ui_user.actor)
        except PricebookError as exc:
            return await self._new_page(
                request, state, values, _status(exc), **_failure(exc, "create")
            )
        return Redirect(
            f"/labor-rates/{written.version.id}?done={written.action}#history", status_code=303
        )

    @get("/{version_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId, done: Code = ""
    ) -> Template:
        return await self._detail(
            request, state, version_id, saved=_flash(done, "/labor-rates", "返回工时单价列表")
        )

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        state: State,
        version_id: int,
        status_code: int = 200,
        form: dict[str, str] | None = None,
        end_form: dict[str, str] | None = None,
        **extra: Any,
    ) -> Template:
        view = await run(state, labor.labor_rate_key_view, version_id)
        today = date.today()
        current = next(
            (
                v
                for v in reversed(view.versions)
                if _version_state(v.valid_from, v.valid_to, today) == "现行"
            ),
            None,
        )
        edit = {
            "rate": str(current.rate) if current else "",
            "valid_from": today.isoformat(),
            "valid_to": "",
            "reason": "",
        } | (form or {})
        end = {
            "version": str(current.id) if current else "",
            "valid_to": today.isoformat(),
            "reason": "",
        } | (end_form or {})
        return render(
            request,
            "labor_rate.html",
            {
                "title": f"工时单价 · {view.branch_name} {LABOR_KINDS.get(view.kind_code, view.kind_name)}",
                "nav": "labor-rates",
                "view": view,
                "page_id": version_id,
                "today": today,
                "current": current,
                "endable": _endable(view.versions, today),
                "state_of": _version_state,
                "form": edit,
                "end_form": end,
                "errors": {},
                **NAMES,
                **extra,
            },
            status_code=status_code,
        )

    @post("/{version_id:int}/versions", guards=STAFF, status_code=303)
    async def supersede(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        values = _values(await request.form(), RATE_EDIT)
        try:
            written = await write(
                state, _supersede_rate, version_id, values, request.state.ui_user.actor
            )
        except PricebookError as exc:
            return await self._detail(
                request, state, version_id, _status(exc), form=values, **_failure(exc, "edit")
            )
        return Redirect(
            f"/labor-rates/{written.version.id}?done={written.action}#history", status_code=303
        )

    @post("/{version_id:int}/end", guards=STAFF, status_code=303)
    async def end(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        values = _values(await request.form(), END_FIELDS)
        try:
            written = await write(state, _end_rate, version_id, values, request.state.ui_user.actor)
        except PricebookError as exc:
            return await self._detail(
                request, state, version_id, _status(exc), end_form=values, **_failure(exc, "end")
            )
        return Redirect(
            f"/labor-rates/{written.version.id}?done={written.action}#history", status_code=303
        )


# --- standard hours -----------------------------------------------------------------------------


HOURS_CREATE = (
    "part",
    "operation",
    "vehicle_class",
    "kind",
    "hours",
    "valid_from",
    "valid_to",
    "reason",
)
HOURS_EDIT = ("hours", "kind", "valid_from", "valid_to", "reason", "etag")


def _hours_values(values: dict[str, str]) -> tuple[str, Decimal, date, date | None]:
    kind = _choice(values["kind"], LABOR_KINDS, "kind", "工种")
    hours = _number(values["hours"], "hours", "标准工时", labor.MAX_HOURS)
    valid_from = _require_date(values["valid_from"], "valid_from", "生效日期")
    return kind, hours, valid_from, _optional_date(values["valid_to"], "valid_to")


def _create_hours(session: Session, values: dict[str, str], actor: str) -> labor.LaborWrite:
    code = values["part"]
    if not code:
        raise InvalidInput("请填写配件编码", field="part")
    part_id = session.scalar(select(Part.id).where(Part.code == code))
    if part_id is None:
        raise InvalidInput(f"没有编码为“{code[:40]}”的配件", field="part")
    operation = _choice(values["operation"], OPERATION_NAMES, "operation", "作业")
    vclass = _choice(values["vehicle_class"], CLASS_NAMES, "vehicle_class", "车辆级别")
    kind, hours, valid_from, valid_to = _hours_values(values)
    key = labor.hours_key(session, part_id=part_id, operation=operation, vehicle_class=vclass)

    return _create_once(
        lambda: labor.hours_versions(session, key).versions,
        lambda: labor.write_standard_hours(
            session,
            key,
            labor_kind=kind,
            hours=hours,
            valid_from=valid_from,
            valid_to=valid_to,
            actor=actor,
            reason=values["reason"],
            expected_etag=prices.EMPTY_ETAG,
        ),
        lambda latest: KeyExists(
            "该配件、作业和车辆级别已有标准工时：请在它的页面上修改",
            field="part",
            url=f"/standard-hours/{latest.id}",
        ),
    )


def _supersede_hours(
    session: Session, version_id: int, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    view = labor.hours_key_view(session, version_id)
    etag = _etag(values)
    kind, hours, valid_from, valid_to = _hours_values(values)
    key = labor.hours_key(
        session, part_id=view.part_id, operation=view.operation, vehicle_class=view.vehicle_class
    )
    return labor.write_standard_hours(
        session,
        key,
        labor_kind=kind,
        hours=hours,
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=values["reason"],
        expected_etag=etag,
    )


def _end_hours(
    session: Session, version_id: int, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    view = labor.hours_key_view(session, version_id)
    etag = _etag(values)
    target, valid_to = _end_args(values, view.versions)
    return labor.end_standard_hours(
        session, target, valid_to=valid_to, actor=actor, reason=values["reason"], expected_etag=etag
    )


INCLUDES_FIELDS = ("add_part", "add_operation", "reason", "etag")


def _set_includes(
    session: Session, version_id: int, keep: list[str], values: dict[str, str], actor: str
) -> labor.InclusionSet:
    """The set an inclusions form asks for: the included operations it kept ticked, and the
    one it adds."""
    view = labor.hours_key_view(session, version_id)
    etag = _etag(values)
    pairs = []
    for item in keep:
        operation, _, code = item.partition("@")
        pairs.append((code, operation))
    if values["add_part"] or values["add_operation"]:
        if not values["add_part"]:
            raise InvalidInput("请填写要新增的配件编码", field="add_part")
        _choice(values["add_operation"], OPERATION_NAMES, "add_operation", "要新增的作业")
        pairs.append((values["add_part"], values["add_operation"]))
    try:
        return labor.set_inclusions(
            session,
            view.part_id,
            view.operation,
            pairs,
            actor=actor,
            reason=values["reason"],
            expected_etag=etag,
        )
    except InvalidInput as exc:
        if exc.field and exc.field.startswith("includes["):  # the core's field: the added pair
            raise InvalidInput(exc.message, field="add_part") from None
        raise


class StandardHoursPages(Controller):
    path = "/standard-hours"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Template:
        params = _params(request)
        return await _list(
            request,
            state,
            HOURS,
            "standard_hours.html",
            {"title": "标准工时", "nav": "standard-hours"},
            params,
        )

    @get("/export.csv")
    async def export(self, request: Request[Any, Any, Any], state: State) -> Response:
        return await _export(state, HOURS, "standard-hours", _params(request))

    @get("/new", guards=STAFF)
    async def new(self, request: Request[Any, Any, Any], state: State, part: Code = "") -> Template:
        form = dict.fromkeys(HOURS_CREATE, "") | {
            "valid_from": date.today().isoformat(),
            "part": part,
        }
        return await self._new_page(request, state, form)

    async def _new_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        form: dict[str, str],
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        return render(
            request,
            "standard_hours_new.html",
            {
                "title": "新增标准工时",
                "nav": "standard-hours",
                **NAMES,
                "form": form,
                "errors": {},
                **extra,
            },
            status_code=status_code,
        )

    @post("/", guards=STAFF, status_code=303)
    async def create(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        values = _values(await request.form(), HOURS_CREATE)
        try:
            written = await write(state, _create_hours, values, request.state.ui_user.actor)
        except PricebookError as exc:
            return await self._new_page(
                request, state, values, _status(exc), **_failure(exc, "create")
            )
        return Redirect(
            f"/standard-hours/{written.version.id}?done={written.action}#history", status_code=303
        )

    @get("/{version_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId, done: Code = ""
    ) -> Template:
        if done in ("updated", "same"):  # the confirmation sits by the form the redirect scrolls to
            return await self._detail(request, state, version_id, includes_saved=_flash(done))
        return await self._detail(
            request, state, version_id, saved=_flash(done, "/standard-hours", "返回标准工时列表")
        )

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        state: State,
        version_id: int,
        status_code: int = 200,
        form: dict[str, str] | None = None,
        end_form: dict[str, str] | None = None,
        **extra: Any,
    ) -> Template:
        view = await run(state, labor.hours_key_view, version_id)
        today = date.today()
        current = next(
            (
                v
                for v in reversed(view.versions)
                if _version_state(v.valid_from, v.valid_to, today) == "现行"
            ),
            None,
        )
        edit = {
            "hours": str(current.hours) if current else "",
            "kind": current.labor_kind if current else "",
            "valid_from": today.isoformat(),
            "valid_to": "",
            "reason": "",
        } | (form or {})
        end = {
            "version": str(current.id) if current else "",
            "valid_to": today.isoformat(),
            "reason": "",
        } | (end_form or {})
        operation = OPERATION_NAMES.get(view.operation, view.operation)
        extra.setdefault(
            "includes_form", {"add_part": view.part_code, "add_operation": "", "reason": ""}
        )
        return render(
            request,
            "standard_hours_one.html",
            {
                "title": f"标准工时 · {view.part_name} {operation}",
                "nav": "standard-hours",
                "view": view,
                "page_id": version_id,
                "today": today,
                "current": current,
                "endable": _endable(view.versions, today),
                "state_of": _version_state,
                "form": edit,
                "end_form": end,
                "errors": {},
                **NAMES,
                **extra,
            },
            status_code=status_code,
        )

    @post("/{version_id:int}/versions", guards=STAFF, status_code=303)
    async def supersede(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        values = _values(await request.form(), HOURS_EDIT)
        try:
            written = await write(
                state, _supersede_hours, version_id, values, request.state.ui_user.actor
            )
        except PricebookError as exc:
            return await self._detail(
                request, state, version_id, _status(exc), form=values, **_failure(exc, "edit")
            )
        return Redirect(
            f"/standard-hours/{written.version.id}?done={written.action}#history", status_code=303
        )

    @post("/{version_id:int}/includes", guards=STAFF, status_code=303)
    async def includes(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        raw = await request.form()
        keep = [str(v)[:200] for v in raw.getall("keep")] if "keep" in raw else []
        values = _values(raw, INCLUDES_FIELDS)
        try:
            written = await write(
                state, _set_includes, version_id, keep[:100], values, request.state.ui_user.actor
            )
        except PricebookError as exc:
            return await self._detail(
                request,
                state,
                version_id,
                _status(exc),
                includes_form=values,
                **_failure(exc, "includes"),
            )
        done = "updated" if written.action == "updated" else "same"
        return Redirect(f"/standard-hours/{version_id}?done={done}#includes-edit", status_code=303)

    @post("/{version_id:int}/end", guards=STAFF, status_code=303)
    async def end(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        values = _values(await request.form(), END_FIELDS)
        try:
            written = await write(
                state, _end_hours, version_id, values, request.state.ui_user.actor
            )
        except PricebookError as exc:
            return await self._detail(
                request, state, version_id, _status(exc), end_form=values, **_failure(exc, "end")
            )
        return Redirect(
            f"/standard-hours/{written.version.id}?done={written.action}#history", status_code=303
        )


# --- channels and rate cards --------------------------------------------------------------------


CHANNEL_CREATE = ("code", "name", "kind", "branch", "reason")
CARD_FIXED = ("valid_from", "valid_to", "reason", "etag")


def _card_form(raw: Mapping[str, Any], categories: list[tuple[str, str]]) -> dict[str, str]:
    """A card form's values: each labor kind's rate and percentage, each category's price
    type and discount, and the card's period, reason and ETag."""
    names = [*CARD_FIXED]
    for k in LABOR_KINDS:
        names += [f"labor_rate_{k}", f"labor_pct_{k}"]
    for code, _ in categories:
        names += [f"parts_type_{code}", f"parts_discount_{code}"]
    return _values(raw, tuple(names))


def _card_lines(
    values: dict[str, str], categories: list[tuple[str, str]]
) -> tuple[list[labor.CardLaborLine], list[labor.CardPartsLine]]:
    labor_lines = []
    for k, name in LABOR_KINDS.items():
        rate, pct = values.get(f"labor_rate_{k}", ""), values.get(f"labor_pct_{k}", "")
        if rate and pct:
            raise InvalidInput(f"{name}：单价和标准工时费百分比只填一项", field=f"labor_rate_{k}")
        if rate:
            amount = _number(rate, f"labor_rate_{k}", f"{name}工时单价", labor.MAX_RATE)
            labor_lines.append(labor.CardLaborLine(k, rate=amount))
        elif pct:
            share = _number(pct, f"labor_pct_{k}", f"{name}百分比", Decimal("1000"))
            labor_lines.append(labor.CardLaborLine(k, pct_of_standard=share))
    parts_lines = []
    for code, name in categories:
        ptype, discount = (
            values.get(f"parts_type_{code}", ""),
            values.get(f"parts_discount_{code}", ""),
        )
        if not ptype and not discount:
            continue
        if not ptype:
            raise InvalidInput(f"{name}：请选择价格类型", field=f"parts_type_{code}")
        off = _number(
            discount or "0",
            f"parts_discount_{code}",
            f"{name}折让百分比",
            Decimal("99.99"),
            zero=True,
        )
        parts_lines.append(labor.CardPartsLine(code, ptype, off))
    if not labor_lines and not parts_lines:
        raise InvalidInput("费率卡至少要有一项工时或配件条款", field="labor_rate_sheet_metal")
    return labor_lines, parts_lines


def _write_card(
    session: Session, code: str, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    labor.get_channel(session, code)
    etag = _etag(values)
    categories = catalog.search_filters(session).categories
    labor_lines, parts_lines = _card_lines(values, categories)
    valid_from = _require_date(values["valid_from"], "valid_from", "生效日期")
    valid_to = _optional_date(values["valid_to"], "valid_to")
    return labor.write_rate_card(
        session,
        code,
        labor=labor_lines,
        parts=parts_lines,
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        reason=values["reason"],
        expected_etag=etag,
    )


def _end_card(session: Session, code: str, values: dict[str, str], actor: str) -> labor.LaborWrite:
    _, _, cards, _ = labor.channel_cards(session, code)
    etag = _etag(values)
    target, valid_to = _end_args(values, cards)
    return labor.end_rate_card(
        session,
        target,
        valid_to=valid_to,
        actor=actor,
        reason=values["reason"],
        expected_etag=etag,
        channel=code,
    )


def _create_channel(session: Session, values: dict[str, str], actor: str) -> labor.ChannelInfo:
    if not values["code"]:
        raise InvalidInput("请填写渠道代码", field="code")
    if not values["name"]:
        raise InvalidInput("请填写渠道名称", field="name")
    kind = _choice(values["kind"], CHANNEL_KIND_NAMES, "kind", "渠道类型")
    return labor.create_channel(
        session,
        code=values["code"],
        name=values["name"],
        kind=kind,
        branch=values["branch"] or None,
        actor=actor,
        reason=values["reason"],
    )


def _channel_page_data(session: Session, code: str) -> dict[str, Any]:
    channel, branch_name, cards, etag = labor.channel_cards(session, code)
    return {
        **_refs(session),
        "channel": channel,
        "branch_name": branch_name,
        "cards": cards,
        "etag": etag,
    }


class ChannelPages(Controller):
    path = "/channels"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Template:
        params = _params(request)
        created = params.pop("created", "")
        messages = []
        if created:
            messages = [
                {
                    "kind": "ok",
                    "text": f"已登记专项渠道 {created}",
                    "link": f"/channels/{quote(created, safe='')}",
                    "label": "添加费率卡",
                }
            ]
        return await _list(
            request,
            state,
            CHANNELS,
            "channels.html",
            {"title": "专项渠道", "nav": "channels", "messages": messages},
            params,
        )

    @get("/export.csv")
    async def export(self, request: Request[Any, Any, Any], state: State) -> Response:
        return await _export(state, CHANNELS, "channels", _params(request))

    @get("/new", guards=STAFF)
    async def new(self, request: Request[Any, Any, Any], state: State) -> Template:
        return await self._new_page(request, state, dict.fromkeys(CHANNEL_CREATE, ""))

    async def _new_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        form: dict[str, str],
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        data = await run(state, _refs)
        return render(
            request,
            "channel_new.html",
            {
                "title": "登记专项渠道",
                "nav": "channels",
                **data,
                **NAMES,
                "form": form,
                "errors": {},
                **extra,
            },
            status_code=status_code,
        )

    @post("/", guards=STAFF, status_code=303)
    async def create(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        values = _values(await request.form(), CHANNEL_CREATE)
        values["code"] = values["code"][:64]
        try:
            info = await write(state, _create_channel, values, request.state.ui_user.actor)
        except PricebookError as exc:
            return await self._new_page(
                request, state, values, _status(exc), **_failure(exc, "create")
            )
        return Redirect(f"/channels?{urlencode({'created': info.code})}", status_code=303)

    @get("/{code:str}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, code: ChannelCode, done: Code = ""
    ) -> Template:
        return await self._detail(
            request, state, code, saved=_flash(done, "/channels", "返回专项渠道列表")
        )

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        state: State,
        code: str,
        status_code: int = 200,
        form: dict[str, str] | None = None,
        end_form: dict[str, str] | None = None,
        **extra: Any,
    ) -> Template:
        data = await run(state, _channel_page_data, code)
        today = date.today()
        cards = data["cards"]
        current = next(
            (
                c
                for c in reversed(cards)
                if _version_state(c.valid_from, c.valid_to, today) == "现行"
            ),
            None,
        )
        edit: dict[str, str] = {"valid_from": today.isoformat(), "valid_to": "", "reason": ""}
        if form is None and current is not None:  # the new card starts from the one in force
            for t in current.terms:
                if t.kind == "labor" and t.rate is not None:
                    edit[f"labor_rate_{t.code}"] = str(t.rate)
                elif t.kind == "labor":
                    edit[f"labor_pct_{t.code}"] = str(t.pct_of_standard)
                else:
                    edit[f"parts_type_{t.code}"] = t.price_type
                    edit[f"parts_discount_{t.code}"] = str(t.discount_pct)
        edit |= form or {}
        end = {
            "version": str(current.id) if current else "",
            "valid_to": today.isoformat(),
            "reason": "",
        } | (end_form or {})
        return render(
            request,
            "channel.html",
            {
                "title": f"专项渠道 · {data['channel'].name}",
                "nav": "channels",
                **data,
                "today": today,
                "current": current,
                "endable": _endable(cards, today),
                "state_of": _version_state,
                "form": edit,
                "end_form": end,
                "errors": {},
                **NAMES,
                **extra,
            },
            status_code=status_code,
        )

    @post("/{code:str}/cards", guards=STAFF, status_code=303)
    async def add_card(
        self, request: Request[Any, Any, Any], state: State, code: ChannelCode
    ) -> Redirect | Template:
        raw = await request.form()
        categories = (await run(state, catalog.search_filters)).categories
        values = _card_form(raw, categories)
        try:
            written = await write(state, _write_card, code, values, request.state.ui_user.actor)
        except PricebookError as exc:
            return await self._detail(
                request, state, code, _status(exc), form=values, **_failure(exc, "edit")
            )
        return Redirect(
            f"/channels/{quote(code, safe='')}?done={written.action}#history", status_code=303
        )

    @post("/{code:str}/cards/end", guards=STAFF, status_code=303)
    async def end_card(
        self, request: Request[Any, Any, Any], state: State, code: ChannelCode
    ) -> Redirect | Template:
        values = _values(await request.form(), END_FIELDS)
        try:
            written = await write(state, _end_card, code, values, request.state.ui_user.actor)
        except PricebookError as exc:
            return await self._detail(
                request, state, code, _status(exc), end_form=values, **_failure(exc, "end")
            )
        return Redirect(
            f"/channels/{quote(code, safe='')}?done={written.action}#history", status_code=303
        )


__all__ = ["ChannelPages", "LaborRatePages", "StandardHoursPages"]
