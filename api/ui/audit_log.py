"""The audit log (操作日志): who changed what, when, why, and what it was before, as a diff.

Filters by entity (type and id), part, who, action and days; newest first or oldest first;
50 a page; CSV of the whole filtered list. Each entry shows the fields that changed (before →
after), with the others folded, and links to the page of what it changed where there is one
(a part's page for its prices, standard hours, aliases and catalogue row; the synonym
dictionary for a term). Ids in before/after read as names (branch, region, price type, model).
Reviewers read the log too, without the rows of API keys (pricing staff's, as in the JSON API).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.ui.auth import User, login_required
from api.ui.common import SCOPE_NAMES, SOURCE_NAMES, PageNo, SortParam, person, render, run
from api.ui.listing import (
    EXPORT_MAX,
    PAGE_SIZE,
    Filters,
    Listing,
    check_export_size,
    export_response,
    page_count,
    parse_sort,
)
from pricebook import audit, prices
from pricebook.errors import NotFound
from pricebook.models import Category, Part, VehicleModel
from pricebook.paging import Page

SORTS = {"at": "时间"}
DEFAULT_SORT = "-at"

#: what the log's `entity` names, as staff call them (tables, and import kinds for a file's
#: summary row); the filter offers these
ENTITY_NAMES = {
    "prices": "配件价格", "labor_rates": "工时费", "standard_hours": "标准工时",
    "rate_cards": "渠道价格表", "channels": "合作渠道", "part_aliases": "配件别名",
    "synonym_terms": "同义词", "synonyms": "同义词词典导入", "feedback_items": "价格反馈",
    "parts": "配件", "models": "车型", "fitment": "适用车型", "categories": "配件分类",
    "regions": "地区", "branches": "机构", "price_types": "价格类型", "api_key": "API 密钥",
    "rule_profiles": "核损规则", "consumable_standards": "辅料标准", "rescue_tariffs": "施救费标准",
    "price_type_word": "价格类型词表", "market_observations": "市场报价",
}  # fmt: skip
ACTION_NAMES = {
    "create": "新增", "supersede": "新版本替换", "close": "结束有效期", "withdraw": "撤回",
    "update": "修改", "delete": "删除", "import": "导入", "submit": "提交", "accept": "采纳",
    "reject": "驳回", "need_info": "要求补充", "answer": "补充信息", "revoke": "停用",
    "not_part": "标为不是目录配件",
}  # fmt: skip
FIELD_NAMES = {
    "amount": "金额（元）", "valid_from": "生效日期", "valid_to": "失效日期", "source": "来源",
    "source_ref": "来源说明", "part_id": "配件", "model_id": "车型", "scope": "范围",
    "region_id": "地区", "branch_id": "机构", "price_type_id": "价格类型", "alias": "别名",
    "canonical": "标准词", "term": "同义词", "id": "编号", "name": "名称", "code": "编码",
    "rate": "工时费（元）", "hours": "工时", "labor_kind": "工种", "operation": "作业",
    "vehicle_class": "车辆级别", "shop_tier": "修理厂级别", "status": "状态", "role": "角色",
    "reason": "原因", "observed": "市场价（元）", "reference": "参考价（元）", "note": "说明",
    "rows": "行数", "created": "新增", "updated": "修改", "superseded": "替换",
    "closed": "结束", "kind": "类型", "category_id": "分类", "oe_number": "原厂编号",
    "position": "方位", "unit": "单位", "is_assembly": "总成", "universal": "通用件",
    "model_year": "年款", "series_id": "车系", "body": "车身", "engine": "发动机",
    "parent_id": "上级", "level": "级别", "rank": "排序", "authority_limit_fen": "权限金额（分）",
    "created_by": "创建人", "quantity": "数量", "discount_bp": "折扣（万分之）",
    "price_type": "价格类型",
}  # fmt: skip
#: not shown in the diff: database ids of the row itself and values derived from others (the
#: export keeps before and after in full)
HIDDEN = {"id", "oe_normalized", "name_normalized"}

Text = Annotated[str, QueryParameter(max_length=200)]
#: one id, or a key's version ids comma-separated (the links from a key's page)
EntityIds = Annotated[str, QueryParameter(max_length=4000)]
Code = Annotated[str, QueryParameter(max_length=64)]
PartParam = Annotated[int | None, QueryParameter(ge=1, le=2**53)]
DateFrom = Annotated[date | None, QueryParameter(name="from")]
DateTo = Annotated[date | None, QueryParameter(name="to")]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    before: str
    after: str
    changed: bool


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    label: str


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None, names: dict[str, dict[Any, str]]
) -> list[Field]:
    """Every field of before and after but the `HIDDEN`, changed ones first (in the order
    written): a field
    only before was removed (→ —), one only after was added (— →). `names` turns ids and codes
    into names per field (branch_id → 北京分公司)."""
    before, after = before or {}, after or {}
    fields: list[Field] = []
    for key in dict.fromkeys([*after, *before]):
        if key in HIDDEN:
            continue
        old, new = before.get(key), after.get(key)
        known = names.get(key, {})

        def shown(value: Any, known: dict[Any, str] = known) -> str:
            hashable = isinstance(value, str | int)
            return known.get(value, _show(value)) if hashable else _show(value)

        changed = key not in before or key not in after or old != new
        fields.append(
            Field(
                key,
                FIELD_NAMES.get(key, key),
                "—" if key not in before else shown(old),
                "—" if key not in after else shown(new),
                changed,
            )
        )
    return sorted(fields, key=lambda f: not f.changed)


def _names(session: Session, rows: list[audit.AuditRow]) -> dict[str, dict[Any, str]]:
    """Ids and codes in before/after as people read them; a statement each for the models
    and categories named on the page."""
    refs = prices.reference_lists(session)
    model_ids = {
        v
        for r in rows
        for values in (r.before, r.after)
        if values and isinstance(v := values.get("model_id"), int)
    }
    category_ids = {
        v
        for r in rows
        for values in (r.before, r.after)
        if values and isinstance(v := values.get("category_id"), int)
    }
    categories: dict[Any, str] = {}
    if category_ids:
        stmt = select(Category.id, Category.name).where(Category.id.in_(category_ids))
        categories = {id_: name for id_, name in session.execute(stmt)}
    models: dict[Any, str] = {}
    if model_ids:
        for id_, name, year in session.execute(
            select(VehicleModel.id, VehicleModel.name, VehicleModel.model_year).where(
                VehicleModel.id.in_(model_ids)
            )
        ):
            models[id_] = f"{name} {year}"
    return {
        "branch_id": {b.id: b.name for b in refs.branches},
        "region_id": {r.id: r.name for r in refs.regions},
        "price_type_id": {t.id: t.name for t in refs.price_types},
        "model_id": models,
        "category_id": categories,
        "scope": dict(SCOPE_NAMES),
        "source": dict(SOURCE_NAMES),
    }


def _link(row: audit.AuditRow, part: audit.EntryPart | None) -> Link | None:
    if part is not None:
        return Link(f"/parts/{part.id}", f"{part.name}（{part.code}）")
    if row.entity == "synonym_terms" and row.entity_id:
        return Link("/synonyms?" + urlencode({"q": row.entity_id}), f"同义词词典：{row.entity_id}")
    if row.entity == "price_type_word" and row.entity_id:
        return Link(
            "/price-type-words?" + urlencode({"q": row.entity_id}), f"价格类型词表：{row.entity_id}"
        )
    return None


def _entries(session: Session, page: Page) -> list[dict[str, Any]]:
    """A page of rows with their diff, link and names: a fixed number of statements."""
    rows: list[audit.AuditRow] = page.items
    parts = audit.parts_of(session, rows)
    names = _names(session, rows)
    names["part_id"] = {p.id: f"{p.name}（{p.code}）" for p in parts.values()}
    entries = []
    for r in rows:
        fields = diff(r.before, r.after, names)
        entries.append(
            {
                "row": r,
                "who": person(r.actor),
                "action": ACTION_NAMES.get(r.action, r.action),
                "entity": ENTITY_NAMES.get(r.entity, r.entity),
                "link": _link(r, parts.get(r.id)),
                "changed": [f for f in fields if f.changed],
                "unchanged": [f for f in fields if not f.changed],
            }
        )
    return entries


#: what only pricing staff (and up) read in the log: API keys made and revoked (names, roles,
#: key prefixes), as the JSON API's audit log is for pricing staff only
STAFF_ENTITIES = ("api_key",)


def _hidden(user: User) -> tuple[str, ...]:
    return () if user.can("pricing_staff") else STAFF_ENTITIES


def _find(
    session: Session,
    filters: dict[str, Any],
    newest_first: bool,
    limit: int,
    offset: int,
    hide: tuple[str, ...] = (),
) -> tuple[Page, list[dict[str, Any]], audit.EntryPart | None]:
    page = audit.query(
        session,
        **filters,
        newest_first=newest_first,
        hide_entities=hide,
        limit=limit,
        offset=offset,
    )
    part = None
    if filters["part_id"] is not None:
        row = session.get(Part, filters["part_id"])
        if row is None:
            raise NotFound(f"no part with id {filters['part_id']}", field="part")
        part = audit.EntryPart(row.id, row.code, row.name)
    return page, _entries(session, page), part


def _search(
    entity: Code = "",
    entity_id: EntityIds = "",
    who: Text = "",
    action: Code = "",
    part: PartParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Filters:
    shown = {
        "entity": entity,
        "entity_id": entity_id,
        "who": who,
        "action": action,
        "part": part or "",
        "from": date_from or "",
        "to": date_to or "",
    }
    filters = {
        "entity": entity.strip(),
        "entity_id": entity_id.strip(),
        "who": who.strip(),
        "action": action.strip(),
        "part_id": part,
        "date_from": date_from,
        "date_to": date_to,
    }
    return Filters(shown, filters)


Found = NamedDependency[Filters]


class AuditPages(Controller):
    path = "/audit"
    guards = [login_required()]  # noqa: RUF012
    dependencies = {"found_by": Provide(_search, sync_to_thread=False)}  # noqa: RUF012

    @get("/")
    async def log(
        self,
        request: Request[Any, Any, Any],
        state: State,
        found_by: Found,
        page: PageNo = 1,
        sort: SortParam = "",
    ) -> Template:
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        hide = _hidden(request.state.ui_user)
        offset = (page - 1) * PAGE_SIZE
        found, entries, of_part = await run(
            state, _find, found_by.filters, order.descending, PAGE_SIZE, offset, hide
        )
        query = found_by.shown
        without_part = {k: v for k, v in query.items() if k != "part" and v}
        context = {
            "title": "操作日志",
            "nav": "audit",
            "found": found,
            "entries": entries,
            "form": query,
            "part": of_part,
            "entity_names": {k: v for k, v in ENTITY_NAMES.items() if k not in hide},
            "action_names": ACTION_NAMES,
            "page_no": page,
            "pages": page_count(found.total),
            "listing": Listing(self.path, query, order, page),
            "all_parts_href": "/audit?" + urlencode(without_part),
        }
        return render(request, "audit.html", context)

    @get(["/export.csv", "/export.xlsx"])
    async def export(
        self, request: Request[Any, Any, Any], state: State, found_by: Found, sort: SortParam = ""
    ) -> Response[bytes]:
        """The whole filtered log (every page, in the page's order): before and after in full
        (JSON), and the changed fields in words."""
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        hide = _hidden(request.state.ui_user)
        found, entries, _ = await run(
            state, _find, found_by.filters, order.descending, EXPORT_MAX, 0, hide
        )
        check_export_size(found.total)
        header = [
            "时间（UTC）",
            "操作人",
            "操作",
            "对象",
            "对象编号",
            "配件",
            "变更",
            "原值",
            "新值",
            "原因",
        ]
        rows = [
            [
                e["row"].at,
                e["who"],
                e["action"],
                e["entity"],
                e["row"].entity_id,
                e["link"].label if e["link"] and e["link"].href.startswith("/parts/") else "",
                "；".join(f"{f.label}：{f.before} → {f.after}" for f in e["changed"]),
                _show(e["row"].before) if e["row"].before is not None else "",
                _show(e["row"].after) if e["row"].after is not None else "",
                e["row"].reason,
            ]
            for e in entries
        ]
        return export_response(request, "操作日志", header, rows)
