"""Normalisation of part names and OE numbers as adjusters type them.

An adjuster's custom part line mixes the part's name with things that are not the name: the
quality wanted (原厂, 副厂, 拆车 …), a quantity (x2, 2个, 一对), the assembly marker 总成, and
typing noise (full-width characters, any of four bracket styles, traditional characters, spaces
and punctuation). `normalize` separates those, so that scoring sees only the name and the
attributes travel alongside as data.

Sides (左/右/前/后 …) are *not* handled here: `sides.parse_side` works on the normalised text,
where brackets have already been unified to ``(`` ``)``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "QUALITY_WORDS",
    "Normalized",
    "clean_text",
    "normalize",
    "normalize_oe",
    "to_simplified",
]


@dataclass(frozen=True, slots=True)
class Normalized:
    """A name split into the name proper and the attributes typed around it."""

    raw: str
    #: Name text: half-width, simplified, lower case, brackets as ``(`` ``)``, one space between
    #: words; quality, quantity and 总成 removed.
    text: str
    #: Quality words found, in canonical form (原厂件 → 原厂), in order of appearance.
    quality: tuple[str, ...] = ()
    #: The same words as written (原厂件), which the price type vocabulary reads.
    quality_written: tuple[str, ...] = ()
    quantity: int | None = None
    #: Unit written with the quantity (个, 只, 对, 套 …), if any.
    unit: str | None = None
    is_assembly: bool = False
    #: What is to be done, if written (需更换 → 更换, 修复 …): noise for matching.
    action: str | None = None

    @property
    def compact(self) -> str:
        """The text without spaces: the form used as a lookup key."""
        return self.text.replace(" ", "")


@cache
def _t2s() -> Any:
    # Building the OpenCC converter reads its dictionaries; do it once, and only when needed.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (a no-op for text that is already simplified)."""
    if text.isascii():
        return text
    return str(_t2s().convert(text))


# NFKC already folds full-width forms (（ → (, ［ → [, ＬＨ → LH, digits, the ideographic space);
# what remains are the CJK brackets that have no half-width twin.
_BRACKETS = str.maketrans(
    {
        "[": "(",
        "]": ")",
        "{": "(",
        "}": ")",
        "【": "(",
        "】": ")",
        "〔": "(",
        "〕": ")",
        "〖": "(",
        "〗": ")",
        "《": "(",
        "》": ")",
        "〈": "(",
        "〉": ")",
        "「": "(",
        "」": ")",
        "『": "(",
        "』": ")",
        "<": "(",
        ">": ")",
    }
)

# Separators become one space. ``*`` and ``×`` are kept for the quantity pattern, which removes
# them; stray ones are cleared afterwards.
_SEPARATORS = re.compile(r"[\s\-_/\\|,.;:!?~'\"`、，。；：！？·•…―—–=+#&@%$^]+")
_SPACES = re.compile(r"\s+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)")


def clean_text(text: str) -> str:
    """Character-level clean-up only: NFKC, simplified, lower case, unified brackets, spaces.

    Used for dictionary terms (synonyms, protected words) so they compare equal to names that
    went through `normalize`.
    """
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower().translate(_BRACKETS)
    text = _SEPARATORS.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


#: Quality / origin words → canonical form, which drops a trailing 件 (原厂件 → 原厂). What
#: price type each stands for is the vocabulary's to say (`pricebook.matching.quality`).
QUALITY_WORDS: dict[str, str] = {
    "原厂件": "原厂",
    "原厂": "原厂",
    "原装件": "原厂",
    "原装": "原厂",
    "正厂件": "正厂",
    "正厂": "正厂",
    "纯正件": "原厂",
    "纯正": "原厂",
    "正品": "正品",
    "4s店件": "4s",
    "4s店": "4s",
    "4s件": "4s",
    "oem": "oem",
    "副厂件": "副厂",
    "副厂": "副厂",
    "品牌件": "品牌",
    "品牌": "品牌",
    "配套件": "配套",
    "配套": "配套",
    "高仿件": "高仿",
    "高仿": "高仿",
    "全新件": "全新",
    "全新": "全新",
    "新件": "全新",
    "拆车件": "拆车",
    "拆车": "拆车",
    "二手件": "二手",
    "二手": "二手",
    "旧件": "二手",
    "再制造件": "再制造",
    "再制造": "再制造",
    "翻新件": "翻新",
    "翻新": "翻新",
    "适用件": "适用",
    "国产": "国产",
    "进口": "进口",
    "合资": "合资",
}
# Longest first, so 原厂件 wins over 原厂. ASCII words must not be glued to other letters/digits
# (``oem`` inside an OE-like token is not a quality word).
_QUALITY_RE = re.compile(
    "|".join(
        rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])"
        if w.isascii() or w[0].isascii()
        else re.escape(w)
        for w in sorted(QUALITY_WORDS, key=len, reverse=True)
    )
)

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9, "十": 10}  # fmt: skip
_UNITS = "个只件套对片副块根条支张组台把颗粒"
# Quantity forms, tried in order:
#   x2 ×2 *2 (not glued to preceding letters/digits, so a model code like ``x5`` inside a word is
#   left alone unless it ends the word), 2个 / 两只 / 一对 / 2pcs, 数量:2, and a bare unit word
#   standing on its own (``刹车片 (套)``).
# A Latin side glued to a multiplier (``Rx2``, ``LH*1``): the side stays, the quantity is read.
_SIDE_THEN_QTY = re.compile(r"(?<![a-z0-9])(lh|rh|l|r)(?=[x×*]\s*\d{1,3}(?![0-9a-z]))")
_QTY_MULT = re.compile(r"(?<![a-z0-9])[x×*]\s*(\d{1,3})(?![0-9a-z])")
_QTY_UNIT = re.compile(
    rf"(\d{{1,3}}|[一二两俩三四五六七八九十]{{1,2}})\s*(pcs|pc|[{_UNITS}])(?![a-z])"
)
_QTY_FIELD = re.compile(r"数量\s*[:：]?\s*(\d{1,3})")
_QTY_BARE_UNIT = re.compile(rf"(?:(?<=^)|(?<=[\s(]))([{_UNITS}])(?=$|[\s)])")
_ASSEMBLY = re.compile(r"总成件|总成|总承|总程|(?<![a-z])(?:assy|assembly)(?![a-z])")
# What the adjuster wants done with the part: not part of its name.
_ACTIONS: dict[str, str] = {
    "需要更换": "更换", "需更换": "更换", "待更换": "更换", "更换": "更换", "需换": "更换",
    "换新": "更换", "需修复": "修复", "修复": "修复", "维修": "修复",
}  # fmt: skip
_ACTION_RE = re.compile("|".join(sorted(_ACTIONS, key=len, reverse=True)))
# Spaces between two Chinese characters: typed apart (前 挡 风 玻 璃, 空  线 束), read together.
# A side or a word written apart still reads the same joined (大灯总成 左 = 大灯总成左).
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


@cache
def _assembly_homophones() -> re.Pattern[str]:
    """总成 typed with an input method's wrong pick (衷成, 总程, 踪承, 众层): a common character
    read zong (or zhong, fuzzy pinyin) followed by one read cheng (chen, ceng). Side characters
    (中) never count: 中撑 is not 总成."""
    from pricebook.matching.pinyin import near_homophones

    def chars(ch: str) -> str:
        return "".join(c for c in near_homophones(ch) if c not in "左右前后上下内外中")

    return re.compile(f"[{chars('总')}][{chars('成')}]")


def _cn_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if len(text) == 2 and text[0] == "十":  # 十二
        return 10 + _CN_DIGITS.get(text[1], 0)
    if len(text) == 2 and text[1] == "十":  # 二十
        return _CN_DIGITS.get(text[0], 1) * 10
    return _CN_DIGITS.get(text[0], 1)


def normalize(text: str) -> Normalized:
    """Normalise a typed part name; see the module docstring."""
    raw = text
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower().translate(_BRACKETS)
    text = _CJK_SPACE.sub("", text)

    action: str | None = None

    def take_action(m: re.Match[str]) -> str:
        nonlocal action
        action = action or _ACTIONS[m.group(0)]
        return " "

    text = _ACTION_RE.sub(take_action, text)
    quality: list[str] = []
    written: list[str] = []

    def take_quality(m: re.Match[str]) -> str:
        quality.append(QUALITY_WORDS[m.group(0)])
        written.append(m.group(0))
        return " "

    text = _QUALITY_RE.sub(take_quality, text)

    is_assembly = False

    def take_assembly(_m: re.Match[str]) -> str:
        nonlocal is_assembly
        is_assembly = True
        return " "

    text = _ASSEMBLY.sub(take_assembly, text)
    if not is_assembly:
        text = _assembly_homophones().sub(take_assembly, text)

    quantity: int | None = None
    unit: str | None = None

    def take_qty(m: re.Match[str]) -> str:
        nonlocal quantity, unit
        if quantity is None:  # the first one written counts
            quantity = _cn_number(m.group(1))
            if m.re is _QTY_UNIT:
                unit = "个" if m.group(2).startswith("pc") else m.group(2)
        return " "

    text = _SIDE_THEN_QTY.sub(r"\1 ", text)
    for pattern in (_QTY_FIELD, _QTY_MULT, _QTY_UNIT):
        text = pattern.sub(take_qty, text)

    # Separators first, so a unit word standing alone (``刹车片/套``) becomes a word of its own.
    text = _SEPARATORS.sub(" ", text).replace("*", " ").replace("×", " ")

    def take_bare_unit(m: re.Match[str]) -> str:
        nonlocal quantity, unit
        if quantity is None:
            quantity, unit = 1, m.group(1)
        return " "

    text = _QTY_BARE_UNIT.sub(take_bare_unit, text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    # Tidy spaces around brackets: ``大灯 ( 左 )`` → ``大灯(左)``.
    text = text.replace("( ", "(").replace(" )", ")").replace(" (", "(")
    return Normalized(
        raw=raw,
        text=text,
        quality=tuple(dict.fromkeys(quality)),
        quality_written=tuple(dict.fromkeys(written)),
        quantity=quantity,
        unit=unit,
        is_assembly=is_assembly,
        action=action,
    )


_OE_STRIP = re.compile(r"[\s\-_./\\·]+")


def normalize_oe(text: str) -> str:
    """An OE number as compared: no spaces, dashes, dots or slashes; upper case; half-width."""
    return _OE_STRIP.sub("", unicodedata.normalize("NFKC", text)).upper()
