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
from collections.abc import Sequence
from functools import partial
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from api.ui.auth import login_required
from api.ui.common import PageNo, SortParam, page_expired, text
from api.ui.listing import Sort, export_response
from api.ui.word_lists import Code, Q, Word, WordListPages, form_etag
from pricebook import aliases
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


class SynonymPages(WordListPages):
    path = "/synonyms"
    title = "同义词词典"
    template = "synonyms.html"
    sorts = SORTS
    default_sort = DEFAULT_SORT
    load = aliases.synonym_dictionary
    matching = _matching

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

    def _context(
        self, found: aliases.SynonymDictionary, rows: Sequence[aliases.SynonymGroup]
    ) -> dict[str, Any]:
        return {
            "groups": rows,
            "group_count": len(found.groups),
            "source_name": SOURCE_NAMES.get(found.source, found.source),
            "shipped": found.source == "shipped",
            "canonicals": [g.canonical for g in found.groups],
            "seen": encode_seen(found),
        }

    @get(["/export.csv", "/export.xlsx"])
    async def export(
        self, request: Request[Any, Any, Any], state: State, q: Q = "", sort: SortParam = ""
    ) -> Response[bytes]:
        """The groups the search finds, in the page's order, one row per word in the columns
        of the `synonyms` import (canonical, term): the file imports back as it is."""
        _, matched, _ = await self._search(state, q, sort)
        rows = [[g.canonical, t] for g in matched for t in g.terms]
        return export_response(request, "同义词词典", ["canonical", "term"], rows)

    @post("/terms", guards=[login_required("pricing_staff")], status_code=303)
    async def add(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        """Add a word to a group (a canonical word not yet in the dictionary starts one)."""
        form = await request.form()
        values = _values(form, "add")
        seen = form.get("seen")
        seen = seen[:MAX_SEEN] if isinstance(seen, str) else ""
        args = (values["canonical"], values["term"])
        expected = partial(expected_from_seen, seen, values["canonical"])
        return await self._save(
            request, state, values, aliases.add_synonym, *args, expected=expected
        )

    @post("/terms/remove", guards=[login_required("pricing_staff")], status_code=303)
    async def remove(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        """Take a word out of its group; the form carries the group's ETag."""
        form = await request.form()
        values = _values(form, "remove")
        args = (values["canonical"], values["term"])
        expected = partial(form_etag, form)
        return await self._save(
            request, state, values, aliases.remove_synonym, *args, expected=expected
        )

    def _refused_search(self, values: dict[str, str]) -> str:
        """A remove form's group, what the list shows; the add form's, the whole list."""
        return values["canonical"] if values["op"] == "remove" else ""

    def _done_query(self, written: aliases.SynonymGroup, values: dict[str, str]) -> dict[str, str]:
        """The group saved, and the word added or removed."""
        canonical = written.canonical
        return {
            "q": canonical,
            "done": written.action,
            "canonical": canonical,
            "term": values["term"],
        }
