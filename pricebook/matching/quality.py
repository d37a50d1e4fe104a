"""The price type vocabulary as the matcher reads it: quality words in a typed name → a price type.

An adjuster's "原厂 左前叶子板" or "拆车件 前大灯" says which price the line claims. The words
and what they mean are the one vocabulary pricing staff keep (``price_type_words``, see
`pricebook.price_words`), which scrapers and imports read too; the matching index holds the
vocabulary of its snapshot, so an edit (which moves the catalogue generation) reaches every
process with the next rebuild.

`normalize` already takes out the quality words every catalogue shares (原厂, 副厂, 拆车 …);
`QualityWords.take` also takes out the words staff added to the vocabulary, so a new word never
counts against the part name, and `QualityWords.price_type` names the type the first word the
vocabulary knows stands for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from pricebook.matching.normalize import QUALITY_WORDS, Normalized

__all__ = ["QualityWords"]

#: A one-character word would eat into part names (件, 厂): the vocabulary's own are longer.
_MIN_CHARS = 2


class QualityWords:
    """``words``: the vocabulary, normalised word (NFKC, lower case, no spaces) → price type
    code."""

    def __init__(self, words: Mapping[str, str] | None = None) -> None:
        self.words: dict[str, str] = dict(words or {})
        extra = sorted(
            (w for w in self.words if len(w) >= _MIN_CHARS and w not in QUALITY_WORDS),
            key=lambda w: (-len(w), w),
        )
        # ASCII words must not be glued to other letters or digits (4s inside an OE number)
        self._extra = (
            re.compile(
                "|".join(
                    rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])" if w.isascii() else re.escape(w)
                    for w in extra
                )
            )
            if extra
            else None
        )

    def take(self, n: Normalized) -> Normalized:
        """``n`` with the vocabulary's words `normalize` does not know taken out of the text and
        added to the quality words."""
        if self._extra is None:
            return n
        found: list[str] = []

        def take_word(m: re.Match[str]) -> str:
            found.append(m.group(0))
            return " "

        text = self._extra.sub(take_word, n.text)
        if not found:
            return n
        return replace(
            n,
            text=" ".join(text.split()),
            quality=tuple(dict.fromkeys([*n.quality, *found])),
            quality_written=tuple(dict.fromkeys([*n.quality_written, *found])),
        )

    def price_type(self, n: Normalized) -> str | None:
        """The price type code the name's first quality word in the vocabulary stands for (the
        word as written, else its canonical form: 原厂件, else 原厂), or None."""
        for written in n.quality_written:
            word = written.replace(" ", "")
            code = self.words.get(word) or self.words.get(QUALITY_WORDS.get(word, word))
            if code is not None:
                return code
        return None
