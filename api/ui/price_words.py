"""The price type vocabulary (价格类型词表): the words shops, files and adjusters write for a price
type (原厂件 → oem, 4S价 → 4s), as `pricebook.price_words` keeps them. Market listings, imports
and the matcher's quality words all read it.

Search (a word, or a price type's code or name), sorting (by word, by price type), 50 words a
page, CSV export (word, price_type). Pricing staff add a word or change its type and delete one,
each with a reason. Every form carries the ETag of the vocabulary the page showed; a vocabulary
changed meanwhile is refused (412, Chinese) with what was typed kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.controllers.price_words import index_follows
from api.ui.auth import login_required
from api.ui.common import PageNo, SortParam, text
from api.ui.listing import Sort, csv_response
from api.ui.word_lists import Code, Q, Word, WordListPages, form_etag
from pricebook import price_words
from pricebook.matching.pinyin import pinyin_full
from pricebook.models import PriceType

SORTS = {"word": "词语", "price_type": "价格类型"}
DEFAULT_SORT = "word"
DONE = {
    "added": "已添加“{word}”（{type}）：下次爬取、导入和配件匹配即按此识别。",
    "updated": "已把“{word}”改为 {type}：下次爬取、导入和配件匹配即按此识别。",
    "unchanged": "“{word}”本来就是 {type}，未作修改。",
    "removed": "已删除“{word}”。",
}


@dataclass(frozen=True, slots=True)
class WordRow:
    word: str
    code: str
    #: the price type's name (4S店价), or the code when the type is gone
    type_name: str


@dataclass(frozen=True, slots=True)
class Words:
    rows: list[WordRow]
    etag: str
    #: (code, name) of every price type, for the forms
    types: list[tuple[str, str]]


def _load(session: Session) -> Words:
    """The vocabulary with its ETag and the price types' names (two statements)."""
    found = price_words.vocabulary(session)
    types = [(c, n) for c, n in session.execute(select(PriceType.code, PriceType.name))]
    names = dict(types)
    rows = [WordRow(w, c, names.get(c, c)) for w, c in found.words.items()]
    return Words(rows, found.etag, sorted(types))


def _matching(words: Words, q: str, sort: Sort) -> list[WordRow]:
    """The words with `q` in the word, the type's code or its name, in the order asked for."""
    q = price_words.normalize_word(q)
    rows = [r for r in words.rows if not q or q in r.word or q in r.code or q in r.type_name]
    if sort.column == "price_type":
        rows.sort(key=lambda r: (r.code, pinyin_full(r.word), r.word))
    else:
        rows.sort(key=lambda r: (pinyin_full(r.word), r.word))
    if sort.descending:
        rows.reverse()
    return rows


class PriceWordPages(WordListPages):
    path = "/price-type-words"
    title = "价格类型词表"
    template = "price_words.html"
    sorts = SORTS
    default_sort = DEFAULT_SORT
    load = _load
    matching = _matching

    @get("/")
    async def vocabulary(
        self,
        request: Request[Any, Any, Any],
        state: State,
        q: Q = "",
        page: PageNo = 1,
        sort: SortParam = "",
        done: Code = "",
        word: Word = "",
        price_type: Code = "",
    ) -> Template:
        message = DONE.get(done, "").format(word=word, type=price_type) if word else ""
        return await self._page(
            request, state, q=q, page=page, sort=sort, done=message, done_word=word
        )

    def _context(self, found: Words, rows: Sequence[WordRow]) -> dict[str, Any]:
        return {
            "rows": rows,
            "word_count": len(found.rows),
            "types": found.types,
            "etag": found.etag,
        }

    @get("/export.csv")
    async def export(self, state: State, q: Q = "", sort: SortParam = "") -> Response[bytes]:
        """The words the search finds, in the page's order: word, price type code."""
        _, matched, _ = await self._search(state, q, sort)
        rows = [[r.word, r.code] for r in matched]
        return csv_response("价格类型词表.csv", ["word", "price_type"], rows)

    @post("/", guards=[login_required("pricing_staff")], status_code=303)
    async def save(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        """Add a word, or change the type of one (the add form and each row's form)."""
        form = await request.form()
        values = {
            "op": text(form, "op", 10) or "add",
            "word": text(form, "word", 100),
            "price_type": text(form, "price_type", 16),
            "reason": text(form, "reason", 1000),
        }
        args = (values["word"], values["price_type"])
        change = price_words.set_word
        return await self._save(
            request, state, values, change, *args, expected=partial(form_etag, form)
        )

    @post("/remove", guards=[login_required("pricing_staff")], status_code=303)
    async def remove(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        form = await request.form()
        values = {
            "op": "remove",
            "word": text(form, "word", 100),
            "reason": text(form, "reason", 1000),
        }
        change = price_words.remove_word
        return await self._save(
            request, state, values, change, values["word"], expected=partial(form_etag, form)
        )

    def _refused_search(self, values: dict[str, str]) -> str:
        """A row's word, what the list shows; the add form's, the whole list."""
        return values["word"] if values["op"] != "add" else ""

    def _done_query(
        self, written: price_words.Vocabulary, values: dict[str, str]
    ) -> dict[str, str]:
        """The word saved, and its type (none when removed)."""
        word = price_words.normalize_word(values["word"])
        code = written.words.get(word, "")
        return {"q": word, "done": written.action, "word": word, "price_type": code}

    async def _changed(self, state: State) -> None:
        """The match index follows the vocabulary (its quality words)."""
        await index_follows(state)
