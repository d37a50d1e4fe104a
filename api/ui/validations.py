"""The reviewer's estimate view: stored validations found by estimate, VIN, branch, date or
flags; one validation with its lines, flags, references and their provenance, cuts, deadline
and escalation; price feedback one click away from a flagged part line."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Template

from api.ui.auth import login_required
from api.ui.common import PathId, render, run
from pricebook import prices, validations

Code = Annotated[str, QueryParameter(max_length=64)]
PageNo = Annotated[int, QueryParameter(ge=1, le=10_000)]
PAGE_SIZE = 50
LINE_KINDS = {"part": "配件", "labor": "工时", "consumable": "辅料", "rescue": "施救"}
STATUS_NAMES = {"ok": "通过", "flagged": "有标记", "unchecked": "未能核对"}
SEVERITY_NAMES = {"info": "提示", "warning": "核减", "error": "错误"}
#: flags whose reference is a part price: the line offers price feedback
PRICE_FLAGS = {"PART_PRICE_ABOVE_REFERENCE"}


def _feedback_url(result: dict[str, Any], request: dict[str, Any], line: dict[str, Any],
                  flag: dict[str, Any]) -> str | None:  # fmt: skip
    """The feedback form filled from a flagged part line: part, model, branch, price type and
    the reference the reviewer saw."""
    part = line.get("part")
    reference = flag.get("reference") or {}
    provenance = reference.get("provenance") or {}
    if flag.get("code") not in PRICE_FLAGS or not part:
        return None
    query = {
        "part_id": part["id"], "branch": result.get("branch", ""),
        "price_type": provenance.get("price_type", ""), "reference": reference.get("value", ""),
    }  # fmt: skip
    model_id = (request.get("vehicle") or {}).get("model_id")
    if model_id:
        query["model_id"] = model_id
    return "/feedback/new?" + urlencode(query)


class ValidationPages(Controller):
    path = "/validations"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def search(
        self,
        request: Request[Any, Any, Any],
        state: State,
        estimate_id: Code = "",
        vin: Code = "",
        branch: Code = "",
        date_from: Annotated[date | None, QueryParameter(name="from")] = None,
        date_to: Annotated[date | None, QueryParameter(name="to")] = None,
        flagged: Annotated[str, QueryParameter(max_length=3)] = "",
        page: PageNo = 1,
    ) -> Template:
        only = {"yes": True, "no": False}.get(flagged)
        found = await run(
            state, validations.find_validations, estimate_id=estimate_id.strip(),
            vin=vin.strip(), branch=branch, date_from=date_from, date_to=date_to, flagged=only,
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
        )  # fmt: skip
        refs = await run(state, prices.reference_lists)
        query = {"estimate_id": estimate_id, "vin": vin, "branch": branch, "flagged": flagged,
                 "from": date_from or "", "to": date_to or ""}  # fmt: skip
        return render(request, "validations.html", {
            "title": "核损记录", "nav": "validations", "found": found, "refs": refs,
            "form": query, "page_no": page, "pages": (found.total + PAGE_SIZE - 1) // PAGE_SIZE,
            "query": urlencode(query),
        })  # fmt: skip

    @get("/{validation_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, validation_id: PathId
    ) -> Template:
        stored = await run(state, validations.get_validation, validation_id)
        result, sent = stored.result, stored.request
        lines = []
        for line in result.get("lines", []):
            flags = [{**flag, "severity_name": SEVERITY_NAMES.get(flag.get("severity"), ""),
                      "feedback_url": _feedback_url(result, sent, line, flag)}
                     for flag in line.get("flags", [])]  # fmt: skip
            lines.append({**line, "flags": flags, "kind_name": LINE_KINDS.get(line["kind"], ""),
                          "status_name": STATUS_NAMES.get(line["status"], line["status"])})  # fmt: skip
        return render(request, "validation.html", {
            "title": f"核损记录 #{validation_id}", "nav": "validations", "v": stored.summary,
            "result": result, "lines": lines, "sent": sent,
        })  # fmt: skip
