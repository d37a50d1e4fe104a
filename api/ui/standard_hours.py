"""Standard hours (标准工时) and what each operation includes (包含项目): the list, a page per
key with its versions and inclusions, and the create, supersede, end and inclusions forms
(see `api.ui.labor` for what the labor pages share)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.ui.common import PathId, person, shown_etag
from api.ui.labor import (
    CLASS_NAMES,
    OPERATION_NAMES,
    STAFF,
    KeyExists,
    ListSetup,
    VersionArgs,
    choice,
    create_once,
    end_args,
    flash,
    form_values,
    number,
    save,
    version_args,
)
from api.ui.versioned_pages import Code, KeyView, VersionedPages
from pricebook import labor
from pricebook.errors import InvalidInput
from pricebook.io.importers import LABOR_KINDS
from pricebook.models import Part
from pricebook.versioned import EMPTY_ETAG


def _includes_text(row: labor.HoursRow) -> str:
    return "；".join(
        f"{i.part_name} {OPERATION_NAMES.get(i.operation, i.operation)}" for i in row.includes
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
        ("修改人", lambda r: person(r.created_by)),
        ("原因", lambda r: r.reason),
    ),
)
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
INCLUDES_FIELDS = ("add_part", "add_operation", "reason", "etag")


def _hours_values(
    values: dict[str, str], actor: str, etag: str
) -> tuple[str, Decimal, VersionArgs]:
    kind = choice(values["kind"], LABOR_KINDS, "kind", "工种")
    hours = number(values["hours"], "hours", "标准工时", labor.MAX_HOURS)
    return kind, hours, version_args(values, actor, etag)


def _create_hours(session: Session, values: dict[str, str], actor: str) -> labor.LaborWrite:
    code = values["part"]
    if not code:
        raise InvalidInput("请填写配件编码", field="part")
    part_id = session.scalar(select(Part.id).where(Part.code == code))
    if part_id is None:
        raise InvalidInput(f"没有编码为“{code[:40]}”的配件", field="part")
    operation = choice(values["operation"], OPERATION_NAMES, "operation", "作业")
    vclass = choice(values["vehicle_class"], CLASS_NAMES, "vehicle_class", "车辆级别")
    kind, hours, period = _hours_values(values, actor, EMPTY_ETAG)
    key = labor.hours_key(session, part_id=part_id, operation=operation, vehicle_class=vclass)
    return create_once(
        lambda: labor.hours_versions(session, key).versions,
        lambda: labor.write_standard_hours(session, key, labor_kind=kind, hours=hours, **period),
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
    etag = shown_etag(values.get("etag"))
    kind, hours, period = _hours_values(values, actor, etag)
    key = labor.hours_key(
        session, part_id=view.part_id, operation=view.operation, vehicle_class=view.vehicle_class
    )
    return labor.write_standard_hours(session, key, labor_kind=kind, hours=hours, **period)


def _end_hours(
    session: Session, version_id: int, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    view = labor.hours_key_view(session, version_id)
    etag = shown_etag(values.get("etag"))
    target, valid_to = end_args(values, view.versions)
    return labor.end_standard_hours(
        session, target, valid_to=valid_to, actor=actor, reason=values["reason"], expected_etag=etag
    )


def _set_includes(
    session: Session, version_id: int, keep: list[str], values: dict[str, str], actor: str
) -> labor.InclusionSet:
    """The set an inclusions form asks for: the included operations it kept ticked, and the
    one it adds."""
    view = labor.hours_key_view(session, version_id)
    etag = shown_etag(values.get("etag"))
    pairs = []
    for item in keep:
        operation, _, code = item.partition("@")
        pairs.append((code, operation))
    if values["add_part"] or values["add_operation"]:
        if not values["add_part"]:
            raise InvalidInput("请填写要新增的配件编码", field="add_part")
        choice(values["add_operation"], OPERATION_NAMES, "add_operation", "要新增的作业")
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


class StandardHoursPages(VersionedPages):
    path = "/standard-hours"
    listing = HOURS
    list_template = "standard_hours.html"
    title = "标准工时"
    new_title = "新增标准工时"
    new_template = "standard_hours_new.html"
    new_refs = False
    key_template = "standard_hours_one.html"
    create_fields = HOURS_CREATE
    edit_fields = HOURS_EDIT
    create_key = _create_hours
    supersede_key = _supersede_hours
    end_key = _end_hours

    @get("/new", guards=STAFF)
    async def new(self, request: Request[Any, Any, Any], state: State, part: Code = "") -> Template:
        form = dict.fromkeys(HOURS_CREATE, "") | {
            "valid_from": date.today().isoformat(),
            "part": part,
        }
        return await self._new_page(request, state, form)

    def _load(self, session: Session, version_id: int) -> KeyView:
        view = labor.hours_key_view(session, version_id)
        operation = OPERATION_NAMES.get(view.operation, view.operation)
        facts = {
            "view": view,
            "page_id": version_id,
            "includes_form": {"add_part": view.part_code, "add_operation": "", "reason": ""},
        }
        return KeyView(f"标准工时 · {view.part_name} {operation}", view.versions, facts)

    def _terms(self, current: labor.HoursVersion | None) -> dict[str, str]:
        return {
            "hours": str(current.hours) if current else "",
            "kind": current.labor_kind if current else "",
        }

    def _saved(self, done: str) -> dict[str, Any]:
        if done in ("updated", "same"):  # the confirmation sits by the form the redirect scrolls to
            return {"includes_saved": flash(done)}
        return super()._saved(done)

    @post("/{version_id:int}/includes", guards=STAFF, status_code=303)
    async def includes(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        raw = await request.form()
        keep = [str(v)[:200] for v in raw.getall("keep")] if "keep" in raw else []
        values = form_values(raw, INCLUDES_FIELDS)

        def to_form(written: labor.InclusionSet) -> str:
            done = "updated" if written.action == "updated" else "same"
            return f"/standard-hours/{version_id}?done={done}#includes-edit"

        return await save(
            request,
            state,
            _set_includes,
            (version_id, keep[:100], values),
            form="includes",
            again=partial(self._detail, request, state, version_id),
            shown={"includes_form": values},
            after=to_form,
        )
