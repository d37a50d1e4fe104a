"""The pages of a word list held whole and searched in memory: the price type vocabulary
(`api.ui.price_words`) and the synonym dictionary (`api.ui.synonyms`), written once. A page
shows one searched, sorted page of the list; a change form's save runs by whoever is logged
in, with the form's reason and the ETag the page showed, and leads back to the list searched
for what changed; refused, the page shows again as the list is now (fresh ETags), the error on
top and what was typed kept. Each list names how it loads, what a search finds, what its page
shows and what a save's confirmation says."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode

from litestar import Controller, Request
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api.ui.auth import login_required
from api.ui.common import refusal, render, run, shown_etag, text, write
from api.ui.listing import Sort, parse_sort, searched_page
from pricebook.errors import PricebookError

#: the search, a word a confirmation names, and what a save did or a price type's code
Q = Annotated[str, QueryParameter(max_length=50)]
Word = Annotated[str, QueryParameter(max_length=50)]
Code = Annotated[str, QueryParameter(max_length=16)]


def form_etag(form: Any) -> str:
    """The ETag the page showed, as the word list's form sends it back."""
    return shown_etag(text(form, "etag", 100))


class WordListPages(Controller):
    guards = [login_required()]  # noqa: RUF012

    title: ClassVar[str]
    template: ClassVar[str]
    #: the sortable columns (name → heading) and the one a page without a sort uses
    sorts: ClassVar[dict[str, str]]
    default_sort: ClassVar[str]
    #: the core read of the whole list, and what a search finds in it in the order asked for
    load: ClassVar[Callable[[Session], Any]]
    matching: ClassVar[Callable[[Any, str, Sort], Sequence[Any]]]

    @property
    def nav(self) -> str:
        """The list's name in the menu: its address."""
        return self.path.strip("/")

    def _context(self, found: Any, rows: Sequence[Any]) -> dict[str, Any]:
        """What the page shows of the list (`found`) besides the page of rows searched for."""
        raise NotImplementedError

    def _refused_search(self, values: dict[str, str]) -> str:
        """The search of the page a refused form shows again: the row the form was on."""
        raise NotImplementedError

    def _done_query(self, written: Any, values: dict[str, str]) -> dict[str, str]:
        """The list's address after a save: the search for what changed and the confirmation."""
        raise NotImplementedError

    async def _changed(self, state: State) -> None:
        """What a saved change sets off besides (nothing unless a list says)."""

    async def _search(self, state: State, q: str, sort: str) -> tuple[Any, Sequence[Any], Sort]:
        """The list as it is now, what the search `q` finds in it, and the order asked for."""
        order = parse_sort(sort, self.sorts, self.default_sort)
        found = await run(state, type(self).load)
        return found, type(self).matching(found, q, order), order

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        *,
        q: str = "",
        page: int = 1,
        sort: str = "",
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        found, matched, order = await self._search(state, q, sort)
        rows, shown = searched_page(self.path, matched, q, order, page)
        context = {
            "title": self.title,
            "nav": self.nav,
            **self._context(found, rows),
            "form": {},
        }
        return render(
            request, self.template, {**context, **shown, **extra}, status_code=status_code
        )

    async def _save(
        self,
        request: Request[Any, Any, Any],
        state: State,
        values: dict[str, str],
        change: Callable[..., Any],
        *args: str,
        expected: Callable[[], str],
    ) -> Redirect | Template:
        """`change(session, *args)` with the form's reason and the ETag the page showed
        (`expected()`, refused like the change when the form has none)."""
        try:
            written = await write(
                state,
                change,
                *args,
                actor=request.state.ui_user.actor,
                reason=values["reason"],
                expected_etag=expected(),
            )
        except PricebookError as exc:
            q = self._refused_search(values)
            return await self._page(request, state, q=q, form=values, **refusal(exc))
        await self._changed(state)
        query = urlencode(self._done_query(written, values))
        return Redirect(f"{self.path}?{query}", status_code=303)
