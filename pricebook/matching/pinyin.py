"""Pinyin of part names, for two uses.

1. Queries typed as Latin letters: initials (``qbxg``) or full pinyin (``qianbaoxiangang``)
   are compared with the catalogue names' initials and full pinyin (reason ``pinyin``).
2. Homophone typos: adjusters type with a pinyin input method and pick the wrong character
   (翌子板 for 翼子板, 前保险概 for 前保险盖). The full pinyin of a core name is scored beside
   its characters, so such a typo costs almost nothing.

pypinyin's lazy style (no tones) is used; characters without pinyin (Latin letters, digits) pass
through unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "common_by_syllable",
    "fuzzy_syllable",
    "homophones",
    "initials",
    "is_pinyin_query",
    "near_homophones",
    "pinyin_full",
]

_LETTERS = re.compile(r"^[a-z]+$")


@lru_cache(maxsize=65536)
def _syllables(text: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(text))


def pinyin_full(text: str) -> str:
    """``前保险杠`` → ``qianbaoxiangang``."""
    if text.isascii():
        return text
    return "".join(_syllables(text))


def initials(text: str) -> str:
    """``前保险杠`` → ``qbxg``. Non-Chinese runs keep their first letter only."""
    if text.isascii():
        return text
    return "".join(s[0] for s in _syllables(text) if s)


def is_pinyin_query(compact: str) -> bool:
    """Whether a normalised, space-free query is Latin letters only (and so pinyin)."""
    return len(compact) >= 2 and bool(_LETTERS.match(compact))


@lru_cache(maxsize=1)
def common_by_syllable() -> dict[str, tuple[str, ...]]:
    """Toneless syllable → the 3,755 common characters (GB 2312 level 1) read so: what an input
    method offers first for a syllable, and so what a wrong pick is made of."""
    out: dict[str, list[str]] = {}
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                ch = bytes((hi, lo)).decode("gb2312")
            except UnicodeDecodeError:
                continue
            out.setdefault(pinyin_full(ch), []).append(ch)
    return {k: tuple(v) for k, v in out.items()}


def homophones(ch: str) -> tuple[str, ...]:
    """The common characters of ``ch``'s toneless syllable (``ch`` itself included)."""
    return common_by_syllable().get(pinyin_full(ch), (ch,))


# An input method's fuzzy pinyin (模糊音): the pairs people confuse and phones accept for each
# other. Each syllable is reduced to one form of its pair.
_FUZZY_INITIAL = re.compile(r"^(zh|ch|sh)")
_FUZZY_FINAL = re.compile(r"(ang|eng|ing)$")


def fuzzy_syllable(syllable: str) -> str:
    """``zhong`` → ``zon``, ``cheng`` → ``cen``: equal for syllables a fuzzy input method
    confuses (zh/z, ch/c, sh/s, an/ang, en/eng, in/ing)."""
    syllable = _FUZZY_INITIAL.sub(lambda m: m.group(1)[0], syllable)
    return _FUZZY_FINAL.sub(lambda m: m.group(1)[:-1], syllable)


def near_homophones(ch: str) -> tuple[str, ...]:
    """The common characters whose syllable is ``ch``'s under fuzzy pinyin (homophones too)."""
    key = fuzzy_syllable(pinyin_full(ch))
    return tuple(
        c
        for syllable, chars in common_by_syllable().items()
        if fuzzy_syllable(syllable) == key
        for c in chars
    )
