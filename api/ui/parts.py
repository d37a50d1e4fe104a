"""Part search and the part page: catalogue facts, prices in force, history chart, price edits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api.ui import markets
from api.ui.auth import login_required
from api.ui.charts import Line, MarketPoint, Segment, price_history_chart
from api.ui.common import (
    SCOPE_NAMES,
    SOURCE_NAMES,
    PageNo,
    PathId,
    SortParam,
    money_text,
    page_expired,
    parse_date,
    parse_int,
    render,
    run,
    status_of,
    text,
    ui_money,
    write,
)
from api.ui.listing import EXPORT_MAX, Listing, check_export_size, export_response, parse_sort
from api.ui.messages import zh
from pricebook import aliases, catalog, prices
from pricebook.errors import InvalidInput, PricebookError, StaleVersion
from pricebook.versioned import EMPTY_ETAG

MATCHED_NAMES = {
    "oe": "原厂编号",
    "superseded_oe": "旧原厂编号",
    "name": "标准名称",
    "alias": "别名/俗称",
}
LAYER_MARKS = {
    "branch": "本",
    "parent_branch": "上",
    "region": "区",
    "system": "系",
    "channel": "渠",
}

Q = Annotated[str, QueryParameter(max_length=100)]
Code = Annotated[str, QueryParameter(max_length=64)]
#: search results a page
PAGE_SIZE = 50
#: the columns part search sorts by (`catalog.PART_SORTS`), as the table heads them;
#: relevance (the default) has no header
SORTS = {
    "relevance": "匹配度",
    "code": "编码",
    "name": "标准名称",
    "category": "分类",
    "position": "方位",
    "oe": "原厂编号",
}


def _searched(q: Q = "", category: Code = "", brand: Code = "") -> tuple[str, str, str]:
    """What the search asks for (words, category, brand): the page, its live results and the
    export read the same."""
    return q, category, brand


Searched = NamedDependency[tuple[str, str, str]]


class PartPages(Controller):
    path = "/parts"
    guards = [login_required()]  # noqa: RUF012
    dependencies = {"searched": Provide(_searched, sync_to_thread=False)}  # noqa: RUF012

    @get("/")
    async def search_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        searched: Searched,
        page: PageNo = 1,
        sort: SortParam = "",
    ) -> Template:
        results = await run(state, _search, *searched, page, sort)
        return render(request, "parts.html", {"title": "配件查询", "nav": "parts", **results})

    @get("/search")
    async def search_results(
        self,
        request: Request[Any, Any, Any],
        state: State,
        searched: Searched,
        page: PageNo = 1,
        sort: SortParam = "",
    ) -> Template:
        """The htmx live-search fragment (the result table only)."""
        results = await run(state, _search, *searched, page, sort)
        return render(request, "_part_results.html", results)

    @get(["/export.csv", "/export.xlsx"])
    async def export(
        self,
        request: Request[Any, Any, Any],
        state: State,
        searched: Searched,
        sort: SortParam = "",
    ) -> Response[bytes]:
        """The search's whole result (every page, in the page's order) as CSV or XLSX."""
        header, rows = await run(state, _export, *searched, sort)
        return export_response(request, "配件查询", header, rows)

    @get("/{part_id:int}")
    async def part_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        part_id: PathId,
        branch: Code = "",
        price_type: Code = "",
        target: Code = "",
        model_id: Code = "",
        etag: Annotated[str, QueryParameter(max_length=64)] = "",
        saved: Code = "",
        alias_done: Code = "",
        alias: Annotated[str, QueryParameter(max_length=50)] = "",
    ) -> Template:
        form = {
            **_blank_form(),
            "target": target,
            "price_type": price_type,
            "model_id": model_id,
            "etag": etag,
        }
        context = await _part_context(state, part_id, branch=branch, price_type=price_type)
        # the confirmation sits by the form the redirect scrolls to (#edit, #aliases)
        done = ALIAS_DONE.get(alias_done, "").format(alias=alias) if alias else ""
        return render(
            request, "part.html", {**context, "form": form, "saved": saved, "alias_saved": done}
        )

    @post("/{part_id:int}/aliases", guards=[login_required("pricing_staff")], status_code=303)
    async def add_alias(
        self, request: Request[Any, Any, Any], state: State, part_id: PathId
    ) -> Redirect | Template:
        """Add a name adjusters type for the part; the form carries the alias set's ETag."""
        return await self._alias_write(request, state, part_id, aliases.add_alias, "add")

    @post(
        "/{part_id:int}/aliases/remove", guards=[login_required("pricing_staff")], status_code=303
    )
    async def remove_alias(
        self, request: Request[Any, Any, Any], state: State, part_id: PathId
    ) -> Redirect | Template:
        return await self._alias_write(request, state, part_id, aliases.remove_alias, "remove")

    async def _alias_write(
        self, request: Request[Any, Any, Any], state: State, part_id: int, fn: Any, op: str
    ) -> Redirect | Template:
        form = await request.form()
        # `alias_etag`: the page's price form has its own `etag`
        values = {
            "op": op,
            "alias": text(form, "alias", 100),
            "reason": text(form, "reason", 1000),
            "etag": text(form, "alias_etag", 100),
        }
        user = request.state.ui_user
        try:
            if not values["etag"]:
                raise page_expired("alias_etag")
            found = await write(
                state,
                fn,
                part_id,
                values["alias"],
                actor=user.actor,
                reason=values["reason"],
                expected_etag=values["etag"],
            )
        except PricebookError as exc:
            context = await _part_context(state, part_id)  # the aliases as they are now
            status = status_of(exc)
            return render(
                request,
                "part.html",
                {
                    **context,
                    "form": _blank_form(),
                    "alias_form": values,
                    "alias_error": f"未保存：{zh(exc)}",
                },
                status_code=status,
            )
        query = urlencode({"alias_done": found.action, "alias": values["alias"]})
        return Redirect(f"/parts/{part_id}?{query}#aliases", status_code=303)

    @post("/{part_id:int}/prices", guards=[login_required("pricing_staff")], status_code=303)
    async def edit_price(
        self, request: Request[Any, Any, Any], state: State, part_id: PathId
    ) -> Redirect | Template:
        form = await request.form()
        values = {
            k: text(form, k)
            for k in (
                "target",
                "price_type",
                "model_id",
                "amount",
                "valid_from",
                "valid_to",
                "reason",
                "etag",
            )
        }
        values["seen"] = text(form, "seen", MAX_SEEN)
        values["amount"] = money_text(form, "amount")
        user = request.state.ui_user
        try:
            key, args = await run(state, _edit_args, part_id, values)
            done = await write(
                state, prices.write_price, key, **args, actor=user.actor, source="staff"
            )
        except PricebookError as exc:
            context = await _part_context(state, part_id)
            if isinstance(exc, StaleVersion):  # the page now shows the prices as they are
                values["etag"] = values["seen"] = ""
            status = status_of(exc)
            return render(
                request,
                "part.html",
                {
                    **context,
                    "form": values,
                    "edit_error": f"未保存：{zh(exc)}",
                },
                status_code=status,
            )
        return Redirect(f"/parts/{part_id}?saved={done.version.id}#edit", status_code=303)


#: the confirmation after an alias write, by what it did
ALIAS_DONE = {
    "added": "已添加别名“{alias}”：配件匹配会在几秒内用上它。",
    "removed": "已删除别名“{alias}”。",
    "unchanged": "别名“{alias}”本来就有，未作修改。",
}


def _blank_form() -> dict[str, str]:
    """The price form as a fresh page shows it."""
    return {
        "target": "",
        "price_type": "",
        "model_id": "",
        "etag": "",
        "amount": "",
        "valid_from": date.today().isoformat(),
        "valid_to": "",
        "reason": "",
        "seen": "",
    }


def _core_sort(sort: str) -> str:
    """`catalog.search_parts`'s sort: relevance has one direction."""
    parsed = parse_sort(sort, SORTS, "relevance")
    return "relevance" if parsed.column == "relevance" else str(parsed)


def _references(session: Session, ids: list[int]) -> tuple[str, dict[int, Any]]:
    """The national reference price of the highest-ranked price type for each part (one
    resolve for all), and that type's name."""
    top_type = prices.reference_lists(session).price_types[0]
    today = date.today()
    outcomes = prices.load_and_resolve(
        session, [prices.ResolveRequest(on=today, part_id=i, price_type=top_type.code) for i in ids]
    )
    reference = {}
    for part_id, outcome in zip(ids, outcomes, strict=True):
        winner = outcome.resolution.winner if outcome.resolution is not None else None
        reference[part_id] = winner.amount if winner else None
    return top_type.name, reference


def _search(
    session: Session, q: str, category: str, brand: str, page: int, sort: str = ""
) -> dict[str, Any]:
    """A page of part search with what tells parts apart: the vehicles each fits and the
    national reference price of the highest-ranked price type (one resolve for the page)."""
    core_sort = _core_sort(sort)
    filters = catalog.search_filters(session)
    listing = Listing(
        "/parts",
        {"q": q, "category": category, "brand": brand},
        parse_sort(core_sort, SORTS, "relevance"),
        page,
    )
    context: dict[str, Any] = {
        "q": q,
        "category": category,
        "brand": brand,
        "filters": filters,
        "page_no": page,
        "matched_names": MATCHED_NAMES,
        "page": _EMPTY,
        "fits": {},
        "reference": {},
        "reference_type": "",
        "listing": listing,
        "sort": str(listing.sort),
        "pages": 0,
    }
    if not (q.strip() or category or brand):
        return context
    found = catalog.search_parts(
        session,
        q=q,
        category=category,
        brand=brand,
        sort=core_sort,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    ids = [p.id for p in found.items]
    reference_type, reference = _references(session, ids)
    pages = (found.total + PAGE_SIZE - 1) // PAGE_SIZE
    return {
        **context,
        "page": found,
        "fits": catalog.fitment_names(session, ids),
        "reference": reference,
        "reference_type": reference_type,
        "pages": pages,
    }


def _export(
    session: Session, q: str, category: str, brand: str, sort: str
) -> tuple[list[str], list[list[Any]]]:
    """Every part the search finds, in its order, with the columns of the result table (the
    vehicles in full): a fixed number of statements whatever the count."""
    core_sort = _core_sort(sort)
    if not (q.strip() or category or brand):
        found: Any = _EMPTY
    else:
        found = catalog.search_parts(
            session, q=q, category=category, brand=brand, sort=core_sort, limit=EXPORT_MAX
        )
        check_export_size(found.total)
    ids = [p.id for p in found.items]
    reference_type, reference = _references(session, ids) if ids else ("", {})
    fits = catalog.fitment_names(session, ids) if ids else {}
    header = [
        "编码",
        "标准名称",
        "分类",
        "方位",
        "原厂编号",
        "总成",
        "适用车型",
        f"参考价（全国 · {reference_type}，元）",
        "匹配方式",
    ]
    rows = [
        [
            p.code,
            p.name,
            p.category.name,
            p.position,
            p.oe_number,
            p.is_assembly,
            "通用" if p.universal else "、".join(fits.get(p.id, [])),
            reference.get(p.id),
            MATCHED_NAMES.get(p.matched_by, ""),
        ]
        for p in found.items
    ]
    return header, rows


@dataclass(frozen=True, slots=True)
class _Empty:
    items: tuple[()] = ()
    total: int = 0


_EMPTY = _Empty()


#: A part page's form carries the ETag of each of the part's price keys as the page showed
#: them (`seen`): the form at the bottom lets staff pick any key, and a save must fail when
#: that key changed since the page was loaded, or gained its first version meanwhile.
MAX_SEEN = 200_000


def encode_seen(etags: Mapping[prices.KeyTuple, str]) -> str:
    """``model.scope.region.branch.type=hash`` pairs, comma-separated (ids, '' for none)."""
    return ",".join(
        ".".join("" if v is None else str(v) for v in key) + "=" + etag.strip('"')
        for key, etag in sorted(etags.items(), key=lambda item: str(item[0]))
    )


def expected_from_seen(seen: str, key: prices.KeyTuple) -> str:
    """The ETag the page showed for `key`; `EMPTY_ETAG` when it showed the key without
    versions. InvalidInput when the form carries no such record (an old page, a crafted post):
    saving blind could replace a price nobody looked at."""
    if not seen:
        raise page_expired("seen")
    wanted = ".".join("" if v is None else str(v) for v in key)
    for pair in seen.split(","):
        name, _, etag = pair.partition("=")
        if name == wanted:
            return f'"{etag}"'
    return EMPTY_ETAG


def _edit_args(
    session: Session, part_id: int, values: dict[str, str]
) -> tuple[prices.PriceKey, dict[str, Any]]:
    """Form values → the price key and the rest of `prices.write_price`'s arguments (the API's
    price write, too); InvalidInput on bad values."""
    refs = prices.reference_lists(session)
    scope, _, code = values["target"].partition(":")
    branch_id = region_id = None
    if scope == "branch":
        branch_id = next((b.id for b in refs.branches if b.code == code), None)
        if branch_id is None:
            raise InvalidInput(f"没有机构 {code}", field="target")
    elif scope == "region":
        region_id = next((r.id for r in refs.regions if r.code == code), None)
        if region_id is None:
            raise InvalidInput(f"没有地区 {code}", field="target")
    else:
        raise InvalidInput("请选择分公司或地区（本地化价格）", field="target")
    type_id = next((t.id for t in refs.price_types if t.code == values["price_type"]), None)
    if type_id is None:
        raise InvalidInput("请选择价格类型", field="price_type")
    model_id = parse_int(values["model_id"]) if values["model_id"] else None
    if values["model_id"] and model_id is None:
        raise InvalidInput("车型无效", field="model_id")
    amount = ui_money(values["amount"], "amount", required=True)
    valid_from = parse_date(values["valid_from"])
    if valid_from is None:
        raise InvalidInput("请填写生效日期", field="valid_from")
    valid_to = parse_date(values["valid_to"])
    if values["valid_to"] and valid_to is None:
        raise InvalidInput("失效日期无效", field="valid_to")
    key = prices.PriceKey(part_id, model_id, scope, region_id, branch_id, type_id)
    return key, {
        "amount": amount,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "reason": values["reason"],
        "expected_etag": values["etag"]
        or expected_from_seen(values["seen"], (model_id, scope, region_id, branch_id, type_id)),
    }


async def _part_context(
    state: State, part_id: int, *, branch: str = "", price_type: str = ""
) -> dict[str, Any]:
    today = date.today()
    async with state.sessions() as session:
        data = await session.run_sync(_load_part, part_id, branch, price_type, today)
    return {
        "title": data["detail"].part.name,
        "nav": "parts",
        "today": today,
        "layer_marks": LAYER_MARKS,
        "source_names": SOURCE_NAMES,
        "branch": branch,
        "price_type": price_type,
        **data,
    }


def _load_part(
    session: Session, part_id: int, branch: str, price_type: str, today: date
) -> dict[str, Any]:
    detail = catalog.get_part(session, part_id)
    refs = prices.reference_lists(session)
    types = {t.id: t for t in refs.price_types}
    type_names = {t.code: t.name for t in refs.price_types}
    branch_of = {b.id: b for b in refs.branches}
    region_of = {r.id: r for r in refs.regions}
    model_codes = {m.id: f"{m.series.name} {m.name} {m.model_year}" for m in detail.fitment}

    # prices in force: every branch (and the national/system row) × every price type
    rows = [("", "全国（无机构）"), *((b.code, b.name) for b in refs.branches)]
    requests = [
        prices.ResolveRequest(on=today, part_id=part_id, branch=code or None, price_type=t.code)
        for code, _ in rows
        for t in refs.price_types
    ]
    outcomes = iter(prices.load_and_resolve(session, requests))
    matrix = []
    for code, name in rows:
        cells = []
        for t in refs.price_types:
            outcome = next(outcomes)
            res = outcome.resolution
            winner = res.winner if res is not None else None
            cells.append(
                {
                    "type": t.code,
                    "amount": winner.amount if winner else None,
                    "layer": winner.layer if winner else "",
                    "why": winner.why if winner else "",
                }
            )
        matrix.append({"code": code, "name": name, "cells": cells})

    # localized versions in force, each with its edit and feedback links
    etags = prices.etags_by_key(session, part_id)
    localized = []
    for v in prices.versions_in_force(session, [part_id], today):
        if v.scope == "system":
            continue
        target = (
            branch_of[v.branch_id] if v.scope == "branch" else region_of[v.region_id]  # type: ignore[index]
        )
        type_code = types[v.price_type_id].code
        key = (v.model_id, v.scope, v.region_id, v.branch_id, v.price_type_id)
        edit = {
            "target": f"{v.scope}:{target.code}",
            "price_type": type_code,
            "model_id": v.model_id or "",
            "etag": etags.get(key, ""),
        }
        feedback = {"part_id": part_id, "price_type": type_code, "reference": v.amount}
        if v.scope == "branch":
            feedback["branch"] = target.code
        if v.model_id:
            feedback["model_id"] = v.model_id
        localized.append(
            {
                "scope_name": f"{SCOPE_NAMES[v.scope]} {target.name}",
                "type_name": types[v.price_type_id].name,
                "model_code": model_codes.get(v.model_id, f"#{v.model_id}") if v.model_id else "",
                "amount": v.amount,
                "valid_from": v.valid_from,
                "valid_to": v.valid_to,
                "source": v.source,
                "created_by": v.created_by,
                "reason": v.reason,
                "edit_url": f"/parts/{part_id}?{urlencode(edit)}",
                "feedback_url": f"/feedback/new?{urlencode(feedback)}",
            }
        )
    localized.sort(key=lambda r: (r["scope_name"], r["type_name"], r["model_code"]))

    # history: one step line per key
    history = prices.price_history(
        session, part_id, branch=branch, price_type=price_type, limit=1000
    ).items
    lines: dict[tuple[str, str, str], list[Segment]] = {}
    line_style: dict[tuple[str, str, str], tuple[str, str]] = {}  # label → (price type, layer)
    for row in history:
        if row.withdrawn:
            continue
        v = row.version
        scope_label = "系统价格" if v.scope == "system" else row.scope_code
        if v.scope == "branch" and v.branch_id in branch_of:
            scope_label = branch_of[v.branch_id].name
        elif v.scope == "region" and v.region_id in region_of:
            scope_label = region_of[v.region_id].name
        model = model_codes.get(v.model_id, row.model_code or "") if v.model_id else ""
        label = (scope_label, type_names.get(row.price_type, row.price_type), model)
        title = (
            f"{' · '.join(x for x in label if x)}：{v.amount} 元，{v.valid_from} 起"
            f"{'，至 ' + str(v.valid_to) if v.valid_to else ''}（{SOURCE_NAMES.get(v.source, v.source)}"
            f"{'：' + v.reason if v.reason else ''}）"
        )
        lines.setdefault(label, []).append(Segment(v.valid_from, v.valid_to, v.amount, title))
        line_style[label] = (row.price_type, v.scope)
    type_filter = next((t.id for t in refs.price_types if t.code == price_type), None)
    market_points: list[MarketPoint] = markets.observations(session, part_id, type_filter)
    rank = {t.code: n for n, t in enumerate(refs.price_types)}  # colours follow the types' order
    chart = price_history_chart(
        [
            Line(" · ".join(x for x in label if x), segs, *line_style[label])
            for label, segs in sorted(
                lines.items(), key=lambda i: (rank.get(line_style[i[0]][0], 99), i[0])
            )
        ],
        market_points,
        today=today,
        kinds=list(rank),
    )
    return {
        "detail": detail,
        "refs": refs,
        "matrix": matrix,
        "localized": localized,
        "chart": chart,
        "seen": encode_seen(etags),
        "alias_set": aliases.part_aliases(session, part_id),
    }
