"""One price-type vocabulary: the words shops and files write for a price type (原厂件 → 4s).

Market listings, import files and staff say the same thing many ways (原厂件, 原厂, 正厂,
4S店价 …). Two vocabularies once sent HTML "原厂件" to ``4s`` and JSON "原厂" to ``oem``, and
drift tasks landed on the wrong price. There is now one: the ``price_type_words`` table
(word → price type code), seeded by migration 0013 with `DEFAULT_WORDS`, edited by pricing
staff (`set_word`, `remove_word`: reason required, audited, ETag-checked, the catalogue version
moved so every process's market cache reloads it). A source file may override words for its
own site (``[price_type_words]``), and those win.

The matcher reads the vocabulary with its index (`pricebook.matching.quality`: the quality
words of a typed name, 原厂件 左前叶子板, name the price type an estimate line claims), and so do
imports (a price file's ``price_type`` column may say 原厂件 or 4S价): both through `type_words`.

How a market hint is read (`resolve`): the source's overrides, then the vocabulary's exact word, then a
price type's own code or name, then the longest vocabulary word the hint contains. A word whose
type the database lacks falls back along `FALLBACK` (``oem`` → ``4s``, ``compatible`` →
``brand``), as the market's hints always did.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.errors import InvalidInput, NotFound
from pricebook.models import PriceType, PriceTypeWord
from pricebook.versioned import ETagLike, check_etag, lock_key, require_reason

#: The words migration 0013 seeds (the market's hint table of 2026-12-06). A shop's 原厂件 is
#: a genuine part sold on the market: ``oem`` (市场原厂件); the 4S store's own price is ``4s``.
DEFAULT_WORDS: dict[str, str] = {
    "4s": "4s", "4s店": "4s", "4s店价": "4s", "4s价": "4s", "4s店件": "4s",
    "oem": "oem", "市场原厂": "oem", "市场原厂件": "oem", "原厂": "oem", "原厂件": "oem",
    "原装": "oem", "原装件": "oem", "正厂": "oem", "正厂件": "oem", "纯正": "oem",
    "纯正件": "oem",
    "品牌": "brand", "品牌件": "brand", "副厂": "brand", "副厂件": "brand",
    "适用": "compatible", "适用件": "compatible", "同质": "compatible", "同质件": "compatible",
    "配套": "compatible", "配套件": "compatible",
    "再制造": "reman", "再制造件": "reman", "翻新": "reman", "翻新件": "reman",
    "拆车": "salvage", "拆车件": "salvage", "二手": "salvage", "二手件": "salvage",
}  # fmt: skip

#: code the database lacks → the code to use instead
FALLBACK: dict[str, str] = {"oem": "4s", "compatible": "brand"}

#: longest word (characters)
MAX_WORD = 20


def normalize_word(value: str | None) -> str:
    """How words are compared: NFKC (full-width letters), lower case, no spaces."""
    return "".join(unicodedata.normalize("NFKC", value or "").lower().split())


def resolve(
    hint: str | None,
    words: Mapping[str, str],
    types: Mapping[str, int],
    overrides: Mapping[str, str] | None = None,
) -> int | None:
    """The price type id a hint means, or None. ``words``: the vocabulary (normalised word →
    code); ``types``: code and name parts (lower case) → id; ``overrides``: a source's words."""
    key = normalize_word(hint)
    if not key:
        return None
    own = {normalize_word(w): c for w, c in (overrides or {}).items()}
    for table in (own, words):
        if key in table:
            return _type_id(table[key], types)
    if key in types:
        return types[key]
    for table in (own, words):
        found = max((w for w in table if w and w in key), key=len, default=None)
        if found is not None:
            return _type_id(table[found], types)
    return None


def _type_id(code: str, types: Mapping[str, int]) -> int | None:
    code = code.lower()
    found = types.get(code)
    if found is None and code in FALLBACK:
        found = types.get(FALLBACK[code])
    return found


def load_words(session: Session) -> dict[str, str]:
    """The vocabulary in force: normalised word → price type code (one statement)."""
    rows = session.execute(select(PriceTypeWord.word, PriceTypeWord.price_type_code))
    return {word: code for word, code in rows}


def type_words(words: Mapping[str, str], codes: Collection[str]) -> dict[str, str]:
    """The vocabulary as the matcher and imports read it: word → the code of a price type the
    database has (a missing ``oem`` read as ``4s``, along `FALLBACK`); words whose type is
    missing altogether are left out."""
    out = {}
    for word, code in words.items():
        code = code.lower()
        if code not in codes:
            code = FALLBACK.get(code, "")
        if code in codes:
            out[word] = code
    return out


@dataclass(frozen=True, slots=True)
class Vocabulary:
    #: word → price type code, words sorted
    words: dict[str, str]
    etag: str
    action: str = ""


def _etag(words: Mapping[str, str]) -> str:
    text = "\x1f".join(f"{w}\x1e{c}" for w, c in sorted(words.items()))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"'


def vocabulary(session: Session) -> Vocabulary:
    """The whole vocabulary with its ETag (what an edit's If-Match names)."""
    words = dict(sorted(load_words(session).items()))
    return Vocabulary(words, _etag(words))


def _word(value: str) -> str:
    word = normalize_word(value)
    if not word:
        raise InvalidInput("word must not be empty", field="word")
    if len(word) > MAX_WORD or any(c in word for c in "\t\r\n\x00"):
        raise InvalidInput(f"word: at most {MAX_WORD} characters, one line", field="word")
    return word


def set_word(
    session: Session,
    word: str,
    price_type: str,
    *,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> Vocabulary:
    """Map ``word`` to the price type ``price_type`` (a code), adding or changing it. The next
    crawl's listings with that word get that type; observations already stored keep theirs."""
    reason = require_reason(reason, actor)
    word = _word(word)
    code = (price_type or "").strip()
    if session.scalar(select(PriceType.id).where(PriceType.code == code)) is None:
        raise InvalidInput(f"unknown price type {code!r}", field="price_type")
    lock_key(session, "price_type_words")
    current = vocabulary(session)
    check_etag(current.etag, expected_etag, "the price type vocabulary")
    before = current.words.get(word)
    if before == code:
        return Vocabulary(current.words, current.etag, "unchanged")
    if before is None:
        session.execute(
            insert(PriceTypeWord).values(word=word, price_type_code=code, created_by=actor)
        )
    else:
        session.execute(
            update(PriceTypeWord)
            .where(PriceTypeWord.word == word)
            .values(price_type_code=code, created_by=actor)
        )
    audit.record(
        session,
        actor=actor,
        action="update" if before else "create",
        entity="price_type_word",
        entity_id=word,
        before={"price_type": before} if before else None,
        after={"price_type": code},
        reason=reason,
    )
    audit.bump_catalog_version(session, actor=actor, reason=reason)
    after = vocabulary(session)
    return Vocabulary(after.words, after.etag, "updated" if before else "added")


def remove_word(
    session: Session, word: str, *, actor: str, reason: str, expected_etag: ETagLike = None
) -> Vocabulary:
    """Take ``word`` out of the vocabulary: listings with only that word get no price type
    from it."""
    reason = require_reason(reason, actor)
    word = _word(word)
    lock_key(session, "price_type_words")
    current = vocabulary(session)
    check_etag(current.etag, expected_etag, "the price type vocabulary")
    if word not in current.words:
        raise NotFound(f"{word!r} is not in the price type vocabulary", field="word")
    session.execute(delete(PriceTypeWord).where(PriceTypeWord.word == word))
    audit.record(
        session,
        actor=actor,
        action="delete",
        entity="price_type_word",
        entity_id=word,
        before={"price_type": current.words[word]},
        reason=reason,
    )
    audit.bump_catalog_version(session, actor=actor, reason=reason)
    after = vocabulary(session)
    return Vocabulary(after.words, after.etag, "removed")
