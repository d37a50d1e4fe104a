"""The price type vocabulary (价格类型词表): the words shops, files and adjusters write for a price
type (原厂件 → oem, 4S价 → 4s), as `pricebook.price_words` keeps them. Market listings, imports
and the matcher's quality words all read it.

Search (a word, or a price type's code or name), sorting (by word, by price type), 50 words a
page, CSV export (word, price_type). Pricing staff add a word or change its type and delete one,
each with a reason. Every form carries the ETag of the vocabulary the page showed; a vocabulary
changed meanwhile is refused (412, Chinese) with what was typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.controllers.price_words import index_follows
from api.ui.auth import login_required
from api.ui.common import PageNo, SortParam, page_expired, refusal, render, run, text, write
from api.ui.listing import Sort, csv_response, parse_sort, searched_page
from pricebook import price_words
from pricebook.errors import PricebookError
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

Q = Annotated[str, QueryParameter(max_length=50)]
Word = Annotated[str, QueryParameter(max_length=50)]
Code = Annotated[str, QueryParameter(max_length=16)]


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


def load(session: Session) -> Words:
    """The vocabulary with its ETag and the price types' names (two statements)."""
    found = price_words.vocabulary(session)
    types = [(c, n) for c, n in session.execute(select(PriceType.code, PriceType.name))]
    names = dict(types)
    rows = [WordRow(w, c, names.get(c, c)) for w, c in found.words.items()]
    return Words(rows, found.etag, sorted(types))


def matching(words: Words, q: str, sort: Sort) -> list[WordRow]:
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


class PriceWordPages(Controller):
    path = "/price-type-words"
    guards = [login_required()]  # noqa: RUF012

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
        words = await run(state, load)
        rows, shown = searched_page(self.path, matching(words, q, order), q, order, page)
        context = {
            "title": "价格类型词表",
            "nav": "price-type-words",
            "rows": rows,
            "word_count": len(words.rows),
            "types": words.types,
            "etag": words.etag,
            "form": {},
        }
        return render(
            request, "price_words.html", {**context, **shown, **extra}, status_code=status_code
        )

    @get("/export.csv")
    async def export(self, state: State, q: Q = "", sort: SortParam = "") -> Response[bytes]:
        """The words the search finds, in the page's order: word, price type code."""
        order = parse_sort(sort, SORTS, DEFAULT_SORT)
        words = await run(state, load)
        rows = [[r.word, r.code] for r in matching(words, q, order)]
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
        try:
            found = await write(
                state,
                price_words.set_word,
                values["word"],
                values["price_type"],
                actor=request.state.ui_user.actor,
                reason=values["reason"],
                expected_etag=_etag(form),
            )
        except PricebookError as exc:
            return await self._refused(request, state, exc, values)
        await index_follows(state)
        word = price_words.normalize_word(values["word"])
        return self._done(found.action, word, found.words.get(word, ""))

    @post("/remove", guards=[login_required("pricing_staff")], status_code=303)
    async def remove(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        form = await request.form()
        values = {
            "op": "remove",
            "word": text(form, "word", 100),
            "reason": text(form, "reason", 1000),
        }
        try:
            found = await write(
                state,
                price_words.remove_word,
                values["word"],
                actor=request.state.ui_user.actor,
                reason=values["reason"],
                expected_etag=_etag(form),
            )
        except PricebookError as exc:
            return await self._refused(request, state, exc, values)
        await index_follows(state)
        return self._done(found.action, price_words.normalize_word(values["word"]), "")

    @staticmethod
    def _done(action: str, word: str, code: str) -> Redirect:
        query = urlencode({"q": word, "done": action, "word": word, "price_type": code})
        return Redirect(f"/price-type-words?{query}", status_code=303)

    async def _refused(
        self,
        request: Request[Any, Any, Any],
        state: State,
        exc: PricebookError,
        values: dict[str, str],
    ) -> Template:
        """The page as the vocabulary is now (a fresh ETag), the error on top, what was typed
        kept in its form; a row's word is what the list shows."""
        q = values["word"] if values["op"] != "add" else ""
        return await self._page(request, state, q=q, form=values, **refusal(exc))


def _etag(form: Any) -> str:
    """The vocabulary's ETag the page showed: a form without one is from no page of ours."""
    etag = text(form, "etag", 100)
    if not etag:
        raise page_expired("etag")
    return etag
