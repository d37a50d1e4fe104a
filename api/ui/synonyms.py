"""The synonym dictionary (同义词词典) the matcher reads: groups of words for one thing,
canonical first (翼子板 ← 叶子板, 翼板), as `pricebook.aliases` keeps them.

Search (a word anywhere in a group), sorting (dictionary order, by the canonical word's pinyin,
by group size), 50 groups a page, CSV export in the `synonyms` import's columns (so an export
imports back). Pricing staff add a word to a group (a new canonical word starts a group) and
remove one, each with a reason. Every form carries what the page showed: the add form the ETag
of every group (`seen`, as the part page's price form does), each remove form its group's ETag;
a group changed meanwhile is refused (412, Chinese) with what was typed kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from api.ui.auth import login_required
from api.ui.common import PageNo, SortParam, page_expired, refusal, render, run, text, write
from api.ui.listing import Sort, export_response, parse_sort, searched_page
from pricebook import aliases
from pricebook.errors import PricebookError
from pricebook.matching.pinyin import pinyin_full

#: `order` is the dictionary's own (the default, no header)
SORTS = {"order": "词典顺序", "canonical": "标准词", "size": "词数"}
DEFAULT_SORT = "order"
SOURCE_NAMES = {"shipped": "内置词典", "database": "数据库"}
DONE = {
    "added": "已把“{term}”加入“{canonical}”组：配件匹配会在几秒内用上它。",
    "removed": "已把“{term}”移出“{canonical}”组。",
    "unchanged": "“{term}”本来就在“{canonical}”组中，未作修改。",
}
#: the longest `seen` a form may carry (the ETags of every group)
MAX_SEEN = 500_000

Q = Annotated[str, QueryParameter(max_length=50)]
Word = Annotated[str, QueryParameter(max_length=50)]
Code = Annotated[str, QueryParameter(max_length=16)]


def _matching(
    dictionary: aliases.SynonymDictionary, q: str, sort: Sort
) -> list[aliases.SynonymGroup]:
    """The groups with `q` in any of their words, in the order asked for."""
    q = q.strip()
    groups = [g for g in dictionary.groups if not q or any(q in t for t in g.terms)]
    if sort.column == "canonical":
        groups.sort(key=lambda g: (pinyin_full(g.canonical), g.canonical), reverse=sort.descending)
    elif sort.column == "size":
        groups.sort(key=lambda g: len(g.terms), reverse=sort.descending)
    elif sort.descending:
        groups.reverse()
    return groups


def encode_seen(dictionary: aliases.SynonymDictionary) -> str:
    """What the add form saw: every group's ETag and the ETag of a group not yet there."""
    groups = {g.canonical: g.etag for g in dictionary.groups}
    return json.dumps(
        {"new": dictionary.new_group_etag, "groups": groups},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def expected_from_seen(seen: str, canonical: str) -> str:
    """The ETag the page showed for `canonical`'s group (or for a group not there yet);
    InvalidInput when the form carries no record of what it showed."""
    try:
        data = json.loads(seen) if seen else None
        etag = data["groups"].get(canonical) or data["new"]  # type: ignore[index]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise page_expired("seen") from None
    if not isinstance(etag, str):
        raise page_expired("seen")
    return etag


def _values(form: Any, op: str) -> dict[str, str]:
    """What an add or remove form typed, kept for the page if the change is refused."""
    return {
        "op": op,
        "canonical": text(form, "canonical", 100),
        "term": text(form, "term", 100),
        "reason": text(form, "reason", 1000),
    }


class SynonymPages(Controller):
    path = "/synonyms"
    guards = [login_required()]  # noqa: RUF012

    @get("/")
    async def dictionary(
        self,
        request: Request[Any, Any, Any],
        state: State,
        q: Q = "",
        page: PageNo = 1,
        sort: SortParam = "",
        done: Code = "",
        canonical: Word = "",
        term: Word = "",
    ) -> Template:
        message = DONE.get(done, "").format(canonical=canonical, term=term) if term else ""
        return await self._page(
            request, state, q=q, page=page, sort=sort, done=message, done_term=term
        )

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
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        dictionary = await run(state, aliases.synonym_dictionary)
        groups, shown = searched_page(self.path, _matching(dictionary, q, order), q, order, page)
        context = {
            "title": "同义词词典",
            "nav": "synonyms",
            "groups": groups,
            "group_count": len(dictionary.groups),
            "source_name": SOURCE_NAMES.get(dictionary.source, dictionary.source),
            "shipped": dictionary.source == "shipped",
            "canonicals": [g.canonical for g in dictionary.groups],
            "seen": encode_seen(dictionary),
            "form": {},
        }
        return render(
            request, "synonyms.html", {**context, **shown, **extra}, status_code=status_code
        )

    @get(["/export.csv", "/export.xlsx"])
    async def export(
        self, request: Request[Any, Any, Any], state: State, q: Q = "", sort: SortParam = ""
    ) -> Response[bytes]:
        """The groups the search finds, in the page's order, one row per word in the columns
        of the `synonyms` import (canonical, term): the file imports back as it is."""
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        dictionary = await run(state, aliases.synonym_dictionary)
        rows = [[g.canonical, t] for g in _matching(dictionary, q, order) for t in g.terms]
        return export_response(request, "同义词词典", ["canonical", "term"], rows)

    @post("/terms", guards=[login_required("pricing_staff")], status_code=303)
    async def add(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        """Add a word to a group (a canonical word not yet in the dictionary starts one)."""
        form = await request.form()
        values = _values(form, "add")
        seen = form.get("seen")
        seen = seen[:MAX_SEEN] if isinstance(seen, str) else ""
        try:
            expected = expected_from_seen(seen, values["canonical"])
            found = await self._change(state, aliases.add_synonym, values, request, expected)
        except PricebookError as exc:
            return await self._refused(request, state, exc, values)
        return self._done(found.action, found.canonical, values["term"])

    @post("/terms/remove", guards=[login_required("pricing_staff")], status_code=303)
    async def remove(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        """Take a word out of its group; the form carries the group's ETag."""
        form = await request.form()
        values = _values(form, "remove")
        etag = text(form, "etag", 100)
        try:
            if not etag:
                raise page_expired("etag")
            found = await self._change(state, aliases.remove_synonym, values, request, etag)
        except PricebookError as exc:
            return await self._refused(request, state, exc, values)
        return self._done(found.action, found.canonical, values["term"])

    @staticmethod
    async def _change(
        state: State,
        change: Callable[..., aliases.SynonymGroup],
        values: dict[str, str],
        request: Request[Any, Any, Any],
        expected: str,
    ) -> aliases.SynonymGroup:
        """`change` (add or remove) of the form's word in its group, by whoever is logged in."""
        return await write(
            state,
            change,
            values["canonical"],
            values["term"],
            actor=request.state.ui_user.actor,
            reason=values["reason"],
            expected_etag=expected,
        )

    @staticmethod
    def _done(action: str, canonical: str, term: str) -> Redirect:
        query = urlencode({"q": canonical, "done": action, "canonical": canonical, "term": term})
        return Redirect(f"/synonyms?{query}", status_code=303)

    async def _refused(
        self,
        request: Request[Any, Any, Any],
        state: State,
        exc: PricebookError,
        values: dict[str, str],
    ) -> Template:
        """The page as the dictionary is now (fresh ETags), the error on top, what was typed
        kept in its form; the group concerned is what the list shows."""
        q = values["canonical"] if values["op"] == "remove" else ""
        return await self._page(request, state, q=q, form=values, **refusal(exc))
