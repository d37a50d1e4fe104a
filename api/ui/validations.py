"""The reviewer's estimate view: stored validations found by estimate, VIN, branch, date or
flags; one validation with its lines, flags, references and their provenance, cuts, deadline
and escalation; price feedback one click away from a flagged part line."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Template

from api.ui.auth import login_required
from api.ui.common import PageNo, PathId, SortParam, person, render, run
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
from pricebook import prices, validations

Code = Annotated[str, QueryParameter(max_length=64)]
LINE_KINDS = {"part": "配件", "labor": "工时", "consumable": "辅料", "rescue": "施救"}
STATUS_NAMES = {"ok": "通过", "flagged": "有标记", "unchecked": "未能核对"}
SEVERITY_NAMES = {"info": "提示", "warning": "核减", "error": "错误"}
#: flags whose reference is a part price: the line offers price feedback
PRICE_FLAGS = {"PART_PRICE_ABOVE_REFERENCE"}
#: the sortable columns (`validations.VALIDATION_SORTS`) as the table heads them
SORTS = {
    "id": "序号",
    "estimate_id": "定损单号",
    "estimate_date": "定损日期",
    "vin": "车架号",
    "branch": "机构",
    "validated_at": "核损时间",
    "claimed": "报价合计",
    "allowed": "核定合计",
    "cut": "核减",
    "flagged_lines": "标记行",
}
DEFAULT_SORT = "-id"
DateFrom = Annotated[date | None, QueryParameter(name="from")]
DateTo = Annotated[date | None, QueryParameter(name="to")]
Flagged = Annotated[str, QueryParameter(max_length=3)]


def _feedback_url(
    result: dict[str, Any], request: dict[str, Any], line: dict[str, Any], flag: dict[str, Any]
) -> str | None:
    """The feedback form filled from a flagged part line: part, model, branch, price type and
    the reference the reviewer saw."""
    part = line.get("part")
    reference = flag.get("reference") or {}
    provenance = reference.get("provenance") or {}
    if flag.get("code") not in PRICE_FLAGS or not part:
        return None
    query = {
        "part_id": part["id"],
        "branch": result.get("branch", ""),
        "price_type": provenance.get("price_type", ""),
        "reference": reference.get("value", ""),
    }
    model_id = (request.get("vehicle") or {}).get("model_id")
    if model_id:
        query["model_id"] = model_id
    return "/feedback/new?" + urlencode(query)


def _search(
    estimate_id: Code = "",
    vin: Code = "",
    branch: Code = "",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    flagged: Flagged = "",
) -> Filters:
    shown = {
        "estimate_id": estimate_id,
        "vin": vin,
        "branch": branch,
        "flagged": flagged,
        "from": date_from or "",
        "to": date_to or "",
    }
    filters = {
        "estimate_id": estimate_id.strip(),
        "vin": vin.strip(),
        "branch": branch,
        "date_from": date_from,
        "date_to": date_to,
        "flagged": {"yes": True, "no": False}.get(flagged),
    }
    return Filters(shown, filters)


Found = NamedDependency[Filters]


class ValidationPages(Controller):
    path = "/validations"
    guards = [login_required()]  # noqa: RUF012
    dependencies = {"found_by": Provide(_search, sync_to_thread=False)}  # noqa: RUF012

    @get("/")
    async def search(
        self,
        request: Request[Any, Any, Any],
        state: State,
        found_by: Found,
        page: PageNo = 1,
        sort: SortParam = "",
    ) -> Template:
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        found = await run(
            state,
            validations.find_validations,
            **found_by.filters,
            sort=str(order),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        refs = await run(state, prices.reference_lists)
        context = {
            "title": "核损记录",
            "nav": "validations",
            "found": found,
            "refs": refs,
            "form": found_by.shown,
            "page_no": page,
            "pages": page_count(found.total),
            "listing": Listing(self.path, found_by.shown, order, page),
        }
        return render(request, "validations.html", context)

    @get(["/export.csv", "/export.xlsx"])
    async def export(
        self, request: Request[Any, Any, Any], state: State, found_by: Found, sort: SortParam = ""
    ) -> Response[bytes]:
        """The whole filtered list (every page, in the list's order) as CSV or XLSX."""
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        found = await run(
            state,
            validations.find_validations,
            **found_by.filters,
            sort=str(order),
            limit=EXPORT_MAX,
        )
        check_export_size(found.total)
        header = [
            "定损单号",
            "版本",
            "定损日期",
            "车架号",
            "机构",
            "核损时间",
            "核损人",
            "报价合计（元）",
            "核定合计（元）",
            "核减（元）",
            "标记行",
        ]
        rows = [
            [
                v.estimate_id,
                v.estimate_version,
                v.estimate_date,
                v.vin,
                v.branch,
                v.validated_at,
                person(v.validated_by),
                v.claimed,
                v.allowed,
                v.cut,
                v.flagged_lines,
            ]
            for v in found.items
        ]
        return export_response(request, "核损记录", header, rows)

    @get("/{validation_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, validation_id: PathId
    ) -> Template:
        stored = await run(state, validations.get_validation, validation_id)
        result, sent = stored.result, stored.request
        lines = []
        for line in result.get("lines", []):
            flags = [
                {
                    **flag,
                    "severity_name": SEVERITY_NAMES.get(flag.get("severity"), ""),
                    "feedback_url": _feedback_url(result, sent, line, flag),
                }
                for flag in line.get("flags", [])
            ]
            kind_name = LINE_KINDS.get(line["kind"], "")
            status_name = STATUS_NAMES.get(line["status"], line["status"])
            lines.append(
                {**line, "flags": flags, "kind_name": kind_name, "status_name": status_name}
            )
        context = {
            "title": f"核损记录 #{validation_id}",
            "nav": "validations",
            "v": stored.summary,
            "result": result,
            "lines": lines,
            "sent": sent,
        }
        return render(request, "validation.html", context)
