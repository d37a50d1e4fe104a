"""Branch standard labor rates (工时单价): the list, a page per key with its versions, and the
create, supersede and end forms (see `api.ui.labor` for what the labor pages share)."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template
from sqlalchemy.orm import Session

from api.ui.common import SOURCE_NAMES, person, shown_etag
from api.ui.labor import (
    CLASS_NAMES,
    STAFF,
    TIER_NAMES,
    KeyExists,
    ListSetup,
    choice,
    create_once,
    end_args,
    number,
    version_args,
)
from api.ui.versioned_pages import KeyView, VersionedPages
from pricebook import labor
from pricebook.errors import InvalidInput
from pricebook.io.importers import LABOR_KINDS
from pricebook.versioned import EMPTY_ETAG

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
    etag = shown_etag(values.get("etag"))
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
    etag = shown_etag(values.get("etag"))
    target, valid_to = end_args(values, view.versions)
    return labor.end_labor_rate(
        session, target, valid_to=valid_to, actor=actor, reason=values["reason"], expected_etag=etag
    )


class LaborRatePages(VersionedPages):
    path = "/labor-rates"
    listing = RATES
    list_template = "labor_rates.html"
    title = "工时单价"
    new_title = "新增工时单价"
    new_template = "labor_rate_new.html"
    key_template = "labor_rate.html"
    create_fields = RATE_CREATE
    edit_fields = RATE_EDIT
    create_key = _create_rate
    supersede_key = _supersede_rate
    end_key = _end_rate

    @get("/new", guards=STAFF)
    async def new(self, request: Request[Any, Any, Any], state: State) -> Template:
        form = dict.fromkeys(RATE_CREATE, "") | {"valid_from": date.today().isoformat()}
        return await self._new_page(request, state, form)

    def _load(self, session: Session, version_id: int) -> KeyView:
        view = labor.labor_rate_key_view(session, version_id)
        kind = LABOR_KINDS.get(view.kind_code, view.kind_name)
        facts = {"view": view, "page_id": version_id}
        return KeyView(f"工时单价 · {view.branch_name} {kind}", view.versions, facts)

    def _terms(self, current: labor.LaborRateVersion | None) -> dict[str, str]:
        return {"rate": str(current.rate) if current else ""}
