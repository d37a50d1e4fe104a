"""``/api/v1/price-type-words``: the one price-type vocabulary (原厂件 → oem), edited by pricing
staff like the synonym dictionary: reason required, audited, If-Match on the whole vocabulary.
The core is `pricebook.price_words`."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, put
from litestar.datastructures import State
from litestar.params import Body, PathParameter
from msgspec import Meta, Struct

from api.auth import require
from api.controllers import (
    NO_STORE,
    VERSIONS_ERRORS,
    Actor,
    IfMatch,
    ReasonQuery,
)
from api.controllers.match import CONFIRM_REFRESH_TIMEOUT
from api.controllers.versioned import REASON_IN_QUERY, edit, edit_route, tagged
from api.schemas import ONE_LINE, Code, Reason
from pricebook import price_words

#: a word in the path: one line, not blank (the core refuses the rest with 422)
WordPath = Annotated[
    str, PathParameter(min_length=1, max_length=20, schema_extra={"pattern": ONE_LINE})
]


class PriceTypeWordOut(Struct):
    word: str
    price_type: str


class PriceTypeVocabulary(Struct):
    #: words in order, each with the price type code it means
    words: list[PriceTypeWordOut]
    etag: str
    #: added, updated, removed or unchanged (writes only)
    action: str = ""


class PriceTypeWordEdit(Struct, forbid_unknown_fields=True, kw_only=True):
    price_type: Annotated[Code, Meta(description="a price type code, e.g. oem, 4s, brand")]
    reason: Reason = ""


async def index_follows(state: State) -> None:
    """The matcher reads the vocabulary with its index: this process's matches and validations
    follow an edit at once, other processes at their next poll of the catalogue generation."""
    cache = getattr(state, "match_index", None)
    if cache is not None:
        await cache.refresh_now(CONFIRM_REFRESH_TIMEOUT)


def _out(found: price_words.Vocabulary) -> PriceTypeVocabulary:
    words = [PriceTypeWordOut(w, c) for w, c in found.words.items()]
    return PriceTypeVocabulary(words, found.etag, found.action)


class PriceTypeWordController(Controller):
    path = "/price-type-words"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    cache_control = NO_STORE

    @get(
        "/",
        summary="The price type vocabulary (word → price type), with its ETag",
        description="What market listings (their price type text, else their title), import "
        "files' `price_type` column and the quality words of a typed part name (the match "
        "`attributes.price_type`, the type a custom-named estimate line claims) mean by 原厂件, "
        "品牌件, 拆车件 …; a source file's `[price_type_words]` overrides it for that source.",
        responses=VERSIONS_ERRORS,
    )
    async def words(self, state: State) -> Response[PriceTypeVocabulary]:
        return await tagged(state, _out, price_words.vocabulary)

    @edit_route(
        put,
        "/{word:str}",
        summary="Map a word to a price type (add it, or change its type)",
        description="201 when the word is new, 200 when its type changed (or already was that "
        "one). The next crawl and import read it, and the matcher once its index follows (at "
        "once on the server that took the edit); stored observations keep their type.",
        adds=PriceTypeVocabulary,
    )
    async def set_word(
        self,
        state: State,
        word: WordPath,
        data: Annotated[PriceTypeWordEdit, Body()],
        actor: Actor,
        if_match: IfMatch,
    ) -> Response[PriceTypeVocabulary]:
        answer = await edit(
            state,
            _out,
            price_words.set_word,
            word,
            data.price_type,
            actor=actor,
            reason=data.reason,
            if_match=if_match,
        )
        await index_follows(state)
        return answer

    @edit_route(
        delete,
        "/{word:str}",
        summary="Remove a word from the vocabulary",
        description=REASON_IN_QUERY,
    )
    async def remove_word(
        self,
        state: State,
        word: WordPath,
        actor: Actor,
        if_match: IfMatch,
        reason: ReasonQuery = "",
    ) -> Response[PriceTypeVocabulary]:
        answer = await edit(
            state,
            _out,
            price_words.remove_word,
            word,
            actor=actor,
            reason=reason,
            if_match=if_match,
        )
        await index_follows(state)
        return answer
