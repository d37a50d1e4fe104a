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

__all__ = ["initials", "is_pinyin_query", "pinyin_full"]

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
