"""Branch standard labor rates (工时单价): the list, a page per key with its versions, and the
create, supersede and end forms (see `api.ui.labor` for what the labor pages share)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.orm import Session

from api.ui.common import SOURCE_NAMES, PathId, person, run
from api.ui.labor import (
    CLASS_NAMES,
    STAFF,
    TIER_NAMES,
    KeyExists,
    ListSetup,
    choice,
    create_once,
    end_args,
    flash,
    form_etag,
    form_page,
    history_context,
    in_force,
    number,
    refs,
    version_args,
)
from api.ui.versioned_pages import VersionedPages
from pricebook import labor
from pricebook.errors import InvalidInput
from pricebook.io.importers import LABOR_KINDS
from pricebook.versioned import EMPTY_ETAG

Code = Annotated[str, QueryParameter(max_length=64)]

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
        ("修改人", lambda r: person(r.created_by)),
        ("原因", lambda r: r.reason),
        ("渠道适用单价（元）", lambda r: r.channel_rate),
    ),
)
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


def _create_rate(session: Session, values: dict[str, str], actor: str) -> labor.LaborWrite:
    kind = choice(values["kind"], LABOR_KINDS, "kind", "工种")
    tier = choice(values["shop_tier"], TIER_NAMES, "shop_tier", "修理厂级别")
    vclass = choice(values["vehicle_class"], CLASS_NAMES, "vehicle_class", "车辆级别")
    if not values["branch"]:
        raise InvalidInput("请选择机构", field="branch")
    rate = number(values["rate"], "rate", "工时单价", labor.MAX_RATE)
    period = version_args(values, actor, EMPTY_ETAG)
    key = labor.labor_rate_key(
        session, branch=values["branch"], labor_kind=kind, shop_tier=tier, vehicle_class=vclass
    )
    return create_once(
        lambda: labor.labor_rate_versions(session, key).versions,
        lambda: labor.write_labor_rate(session, key, rate=rate, **period),
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
    etag = form_etag(values)
    rate = number(values["rate"], "rate", "工时单价", labor.MAX_RATE)
    period = version_args(values, actor, etag)
    key = labor.labor_rate_key(
        session,
        branch=view.branch_code,
        labor_kind=view.kind_code,
        shop_tier=view.shop_tier,
        vehicle_class=view.vehicle_class,
    )
    return labor.write_labor_rate(session, key, rate=rate, **period)


def _end_rate(
    session: Session, version_id: int, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    view = labor.labor_rate_key_view(session, version_id)
    etag = form_etag(values)
    target, valid_to = end_args(values, view.versions)
    return labor.end_labor_rate(
        session, target, valid_to=valid_to, actor=actor, reason=values["reason"], expected_etag=etag
    )


class LaborRatePages(VersionedPages):
    path = "/labor-rates"
    listing = RATES
    list_template = "labor_rates.html"
    title = "工时单价"
    create_fields = RATE_CREATE
    edit_fields = RATE_EDIT
    create_key = _create_rate
    supersede_key = _supersede_rate
    end_key = _end_rate

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
        data = await run(state, refs)
        context = {"title": "新增工时单价", "nav": "labor-rates", **data, "form": form}
        return form_page(request, "labor_rate_new.html", context, status_code, extra)

    @get("/{version_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId, done: Code = ""
    ) -> Template:
        return await self._detail(
            request, state, version_id, saved=flash(done, "/labor-rates", "返回工时单价列表")
        )

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        state: State,
        version_id: int,
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        view = await run(state, labor.labor_rate_key_view, version_id)
        today = date.today()
        current = in_force(view.versions, today)
        edit = {
            "rate": str(current.rate) if current else "",
            "valid_from": today.isoformat(),
            "valid_to": "",
            "reason": "",
        } | extra.pop("form", {})
        kind = LABOR_KINDS.get(view.kind_code, view.kind_name)
        context = {
            "title": f"工时单价 · {view.branch_name} {kind}",
            "nav": "labor-rates",
            "view": view,
            "page_id": version_id,
            **history_context(view.versions, current, today, extra.pop("end_form", None)),
            "form": edit,
        }
        return form_page(request, "labor_rate.html", context, status_code, extra)
