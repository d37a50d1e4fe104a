"""The pages of a labor key whose page is addressed by one of its versions' ids (labor rates,
standard hours): the list, its export, and the create, supersede and end forms, written once.
Each kind (`api.ui.labor_rates`, `api.ui.standard_hours`) names its list, fields and core
writes, and draws its own new-key and key pages (`_new_page`, `_detail`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api.ui.auth import login_required
from api.ui.common import PathId
from api.ui.labor import (
    END_FIELDS,
    STAFF,
    ListSetup,
    export_page,
    form_values,
    list_page,
    query_params,
    save,
)
from pricebook import labor

#: a core write of one form: (session, version id or nothing, values, actor)
Change = Callable[..., labor.LaborWrite]


class VersionedPages(Controller):
    guards = [login_required()]  # noqa: RUF012

    #: the list: its setup, template and heading
    listing: ClassVar[ListSetup]
    list_template: ClassVar[str]
    title: ClassVar[str]
    #: the fields of the create form and the supersede form
    create_fields: ClassVar[tuple[str, ...]]
    edit_fields: ClassVar[tuple[str, ...]]
    #: the core writes behind the create, supersede and end forms
    create_key: ClassVar[Callable[[Session, dict[str, str], str], labor.LaborWrite]]
    supersede_key: ClassVar[Change]
    end_key: ClassVar[Change]

    @property
    def nav(self) -> str:
        """The list's name in the menu, the export's file name: its address."""
        return self.path.strip("/")

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Template:
        extra = {"title": self.title, "nav": self.nav}
        params = query_params(request)
        return await list_page(request, state, self.listing, self.list_template, extra, params)

    @get(["/export.csv", "/export.xlsx"])
    async def export(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        return await export_page(request, state, self.listing, self.nav)

    @post("/", guards=STAFF, status_code=303)
    async def create(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        values = form_values(await request.form(), self.create_fields)
        return await save(
            request,
            state,
            type(self).create_key,
            (values,),
            form="create",
            again=partial(self._new_page, request, state),
            shown={"form": values},
            after=self._to_history,
        )

    @post("/{version_id:int}/versions", guards=STAFF, status_code=303)
    async def supersede(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        values = form_values(await request.form(), self.edit_fields)
        change = type(self).supersede_key
        return await self._save(request, state, version_id, change, values, "form", "edit")

    @post("/{version_id:int}/end", guards=STAFF, status_code=303)
    async def end(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId
    ) -> Redirect | Template:
        values = form_values(await request.form(), END_FIELDS)
        change = type(self).end_key
        return await self._save(request, state, version_id, change, values, "end_form", "end")

    async def _save(
        self,
        request: Request[Any, Any, Any],
        state: State,
        version_id: int,
        change: Change,
        values: dict[str, str],
        shown_as: str,
        form: str,
    ) -> Redirect | Template:
        """A form on a key's page: saved, the page of the version written; refused, the
        key's page again with the values as typed (its `_detail` argument `shown_as`)."""
        return await save(
            request,
            state,
            change,
            (version_id, values),
            form=form,
            again=partial(self._detail, request, state, version_id),
            shown={shown_as: values},
            after=self._to_history,
        )

    def _to_history(self, written: labor.LaborWrite) -> str:
        return f"{self.path}/{written.version.id}?done={written.action}#history"

    async def _new_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        form: dict[str, str],
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        raise NotImplementedError

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        state: State,
        version_id: int,
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        raise NotImplementedError
