"""The catalogue: vehicle models, parts, aliases, assemblies, fitment, OE numbers.

Helpers here are shared by imports, the API and matching: how OE numbers are normalised, how a
model's search text is built (names, pinyin, initials, codes), how a VIN is checked.
"""

from __future__ import annotations

import re
from functools import lru_cache

_OE_NOISE = re.compile(r"[\s\-_./\\·]+")


def normalize_oe(text: str) -> str:
    """'5G0 807 221 A' / '5g0-807-221a' → '5G0807221A': what OE searches compare."""
    return _OE_NOISE.sub("", text).upper()


@lru_cache(maxsize=4096)
def pinyin_forms(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of a Chinese text, lower case, no separators: 朗逸 → (langyi, ly)."""
    from pypinyin import Style, lazy_pinyin

    full = "".join(lazy_pinyin(text, errors="default")).lower()
    initials = "".join(s[0] for s in lazy_pinyin(text, style=Style.FIRST_LETTER, strict=False) if s)
    return re.sub(r"\W+", "", full), re.sub(r"\W+", "", initials.lower())


def model_search_text(
    brand: str, series: str, name: str, code: str, manufacturer_code: str, year: int
) -> str:
    """One lower-case text holding everything a user may type to find a model, including pinyin
    initials of brand+series (大众朗逸 → dzly) and of each word."""
    words = [brand, series, name, code, manufacturer_code, str(year)]
    full_bs, initials_bs = pinyin_forms(brand + series)
    full_b, initials_b = pinyin_forms(brand)
    full_s, initials_s = pinyin_forms(series)
    words += [full_bs, initials_bs, full_b, initials_b, full_s, initials_s]
    return " ".join(w.lower() for w in words if w)


# VIN (ISO 3779 / GB 16735): 17 characters, no I, O, Q; position 9 is a check digit in North
# America and in China (GB 16735 makes it mandatory).
_VIN_RE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_problem(vin: str) -> str | None:
    """Why `vin` is not a valid VIN, or None. Chinese-market VINs (WMI starting with L) must
    carry a correct check digit; others are checked for form only."""
    if len(vin) != 17:
        return f"a VIN has 17 characters, this one has {len(vin)}"
    if not _VIN_RE.match(vin):
        return "a VIN uses digits and capital letters except I, O and Q"
    if vin[0] == "L" and vin[8] != vin_check_digit(vin):
        return f"check digit (9th character) should be {vin_check_digit(vin)}"
    return None
