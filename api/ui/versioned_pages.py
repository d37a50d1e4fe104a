"""The pages of a key with versions (labor rates, standard hours, special channels' rate cards),
written once. `KeyPages` draws a key's new-key page and its own page (its facts, its version
history, the supersede and end forms); `VersionedPages` adds the list, its export and the
create, supersede and end handlers of the kinds whose page is addressed by one of the key's
versions' ids (`api.ui.labor_rates`, `api.ui.standard_hours`). Each kind names only what is
its own: its list, fields and core writes, how its key's page loads (`_load`) and what its new
version's form starts from (`_terms`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Annotated, Any, ClassVar

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api.ui.auth import login_required
from api.ui.common import PathId, run
from api.ui.labor import (
    END_FIELDS,
    STAFF,
    ListSetup,
    Version,
    export_page,
    flash,
    form_page,
    form_values,
    history_context,
    in_force,
    list_page,
    query_params,
    refs,
    save,
)
from pricebook import labor

#: a short code in a query (what a save did, a part's code)
Code = Annotated[str, QueryParameter(max_length=64)]
#: a core write of one form: (session, version id or nothing, values, actor)
Change = Callable[..., labor.LaborWrite]


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as its page shows it: the heading, its versions (oldest first) and the facts its
    template names."""

    title: str
    versions: Sequence[Version]
    facts: dict[str, Any]


class KeyPages(Controller):
    guards = [login_required()]  # noqa: RUF012

    #: the list's heading, which the key's page links back to
    title: ClassVar[str]
    #: the new-key page: its heading and template, and whether its selects offer the
    #: reference lists (branches, price types, categories, channels)
    new_title: ClassVar[str]
    new_template: ClassVar[str]
    new_refs: ClassVar[bool] = True
    #: the key's page
    key_template: ClassVar[str]

    @property
    def nav(self) -> str:
        """The list's name in the menu, the export's file name: its address."""
        return self.path.strip("/")

    def _load(self, session: Session, key: Any) -> KeyView:
        """The key a page is addressed by (a version's id, a channel's code), as its page shows
        it; NotFound when there is none."""
        raise NotImplementedError

    def _terms(self, current: Any) -> dict[str, str]:
        """The new version's form's values besides its period and reason: those of the version
        in force (`current`), or empty when there is none."""
        raise NotImplementedError

    def _saved(self, done: str) -> dict[str, Any]:
        """The key page's confirmation of what the save that led there did (`done`), as
        `_detail`'s arguments."""
        return {"saved": flash(done, self.path, f"返回{self.title}列表")}

    async def _save(
        self,
        request: Request[Any, Any, Any],
        state: State,
        key: Any,
        change: Change,
        values: dict[str, str],
        shown_as: str,
        form: str,
    ) -> Redirect | Template:
        """A form on a key's page: saved, the key's page at its history; refused, the key's
        page again with the values as typed (its `_detail` argument `shown_as`)."""
        return await save(
            request,
            state,
            change,
            (key, values),
            form=form,
            again=partial(self._detail, request, state, key),
            shown={shown_as: values},
            after=partial(self._to_history, key),
        )

    def _to_history(self, key: Any, written: labor.LaborWrite) -> str:
        """The address a saved form on `key`'s page leads to: the key's page at its history,
        saying what was done."""
        raise NotImplementedError

    async def _new_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        form: dict[str, str],
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        """The new-key page: its form empty, or as typed with a refused save's message."""
        data = await run(state, refs) if self.new_refs else {}
        context = {"title": self.new_title, "nav": self.nav, **data, "form": form}
        return form_page(request, self.new_template, context, status_code, extra)

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        state: State,
        key: Any,
        status_code: int = 200,
        form: dict[str, str] | None = None,
        end_form: dict[str, str] | None = None,
        **extra: Any,
    ) -> Template:
        """A key's page. The new version's form starts from the version in force today, from
        today, unless a refused save's values (`form`); the end form likewise (`end_form`)."""
        view = await run(state, self._load, key)
        today = date.today()
        current = in_force(view.versions, today)
        start = self._terms(current if form is None else None)
        period = {"valid_from": today.isoformat(), "valid_to": "", "reason": ""}
        context = {
            "title": view.title,
            "nav": self.nav,
            **view.facts,
            **history_context(view.versions, current, today, end_form),
            "form": {**start, **period} | (form or {}),
        }
        return form_page(request, self.key_template, context, status_code, extra)


class VersionedPages(KeyPages):
    #: the list: its setup and template
    listing: ClassVar[ListSetup]
    list_template: ClassVar[str]
    #: the fields of the create form and the supersede form
    create_fields: ClassVar[tuple[str, ...]]
    edit_fields: ClassVar[tuple[str, ...]]
    #: the core writes behind the create, supersede and end forms
    create_key: ClassVar[Callable[[Session, dict[str, str], str], labor.LaborWrite]]
    supersede_key: ClassVar[Change]
    end_key: ClassVar[Change]

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
            after=partial(self._to_history, None),  # a new key: the page of its version
        )

    @get("/{version_id:int}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, version_id: PathId, done: Code = ""
    ) -> Template:
        return await self._detail(request, state, version_id, **self._saved(done))

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

    def _to_history(self, key: int | None, written: labor.LaborWrite) -> str:
        """The page of the version written: the key's page is addressed by any of them."""
        return f"{self.path}/{written.version.id}?done={written.action}#history"
