"""Position and side (左/右, 前/后, 上/下, 内/外, 中) read out of a part name into structure.

Catalogues and adjusters write a side in front (左前翼子板), behind (前叶子板（左）, 前叶子板左,
前叶子板-左, 叶子板左前), in both places (前叶子板左), as Latin letters (LH, RH, L, R, FL …),
or by seat (主驾 = left, 副驾 = right: China drives on the right, so the driver sits left).
`parse_side` returns a `Side` and the *core* name with the side words taken out, so that
左前翼子板 and 前叶子板（左） reduce to the same core 翼子板 (after synonyms) with the same side.

前/后 are read as a side even where they look like part of the name (前保险杠 / 后保险杠): the
two are different parts and differ exactly on the longitudinal axis, so `contradicts` keeps
them apart. Words in which a side character is really part of the word (后视镜, 前照灯, 中网,
中控, 侧围 …) are protected and left in the core. 中 is only read as a side when written on its
own (``(中)``, ``… 中``) or as 中间/中部 — inside a word (中网, 中冷器) it is never a side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

__all__ = ["AXES", "Side", "contradicts", "drop_bracket_notes", "parse_side", "side_hints"]

AXES = ("lateral", "longitudinal", "vertical", "depth")


class Side(msgspec.Struct, frozen=True, gc=False):
    """Where a part sits. Each axis is None when the name does not say.

    ``gc=False`` (it holds only strings): the groups of the matching index's blocks hold it,
    and a group holding only untracked objects is one the garbage collector never walks
    (`pricebook.matching.blocks`)."""

    lateral: str | None = None  # 左 / 右 / 中
    longitudinal: str | None = None  # 前 / 后
    vertical: str | None = None  # 上 / 下
    depth: str | None = None  # 内 / 外
    #: The name said two different things on one axis (左右, 前后): that axis is left None and
    #: the match must not be auto-accepted.
    ambiguous: bool = False

    def is_empty(self) -> bool:
        return all(getattr(self, axis) is None for axis in AXES)

    def label(self) -> str:
        """The side as a Chinese prefix, e.g. ``左前``; empty when unspecified."""
        return "".join(getattr(self, axis) or "" for axis in AXES)

    def fill(self, other: Side) -> Side:
        """This side with its unspecified axes taken from ``other``."""
        changes = {
            axis: getattr(other, axis)
            for axis in AXES
            if getattr(self, axis) is None and getattr(other, axis) is not None
        }
        return msgspec.structs.replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, str | bool | None]:
        return {name: getattr(self, name) for name in self.__struct_fields__}


def contradicts(query: Side, candidate: Side) -> bool:
    """True when both name an axis and disagree on it (左 vs 右, 前 vs 后 …)."""
    for axis in AXES:
        q, c = getattr(query, axis), getattr(candidate, axis)
        if q is not None and c is not None and q != c:
            return True
    return False


# --- vocabulary -------------------------------------------------------------------------------

# Side words and what they say. Multi-character words are tried first (longest match).
_WORDS: dict[str, dict[str, str]] = {
    "左": {"lateral": "左"},
    "右": {"lateral": "右"},
    "前": {"longitudinal": "前"},
    "后": {"longitudinal": "后"},
    "上": {"vertical": "上"},
    "下": {"vertical": "下"},
    "内": {"depth": "内"},
    "外": {"depth": "外"},
    "中": {"lateral": "中"},
    "中间": {"lateral": "中"},
    "中部": {"lateral": "中"},
    "主驾驶": {"lateral": "左"},
    "主驾": {"lateral": "左"},
    "正驾驶": {"lateral": "左"},
    "正驾": {"lateral": "左"},
    "驾驶侧": {"lateral": "左"},
    "驾驶位": {"lateral": "左"},
    "司机侧": {"lateral": "左"},
    "副驾驶": {"lateral": "右"},
    "副驾": {"lateral": "右"},
    "乘客侧": {"lateral": "右"},
}
_SIDE_FIRST_CHARS = frozenset(w[0] for w in _WORDS)
# Filler that may follow a side word and goes with it: 左侧, 右边, 前部, 左面.
_FILLERS = ("侧", "边", "部", "面", "端")
# Latin forms, read only as whole words (LH, RH, L, R, FL …), never inside other letters.
_LATIN: dict[str, dict[str, str]] = {
    "lh": {"lateral": "左"},
    "rh": {"lateral": "右"},
    "l": {"lateral": "左"},
    "r": {"lateral": "右"},
    "fl": {"lateral": "左", "longitudinal": "前"},
    "fr": {"lateral": "右", "longitudinal": "前"},
    "rl": {"lateral": "左", "longitudinal": "后"},
    "rr": {"lateral": "右", "longitudinal": "后"},
    "lf": {"lateral": "左", "longitudinal": "前"},
    "rf": {"lateral": "右", "longitudinal": "前"},
    "lr": {"lateral": "左", "longitudinal": "后"},
}
_LATIN_RE = re.compile(
    r"(?<![a-z0-9])(" + "|".join(sorted(_LATIN, key=len, reverse=True)) + r")(?![a-z0-9])"
)

# Words that start with (or are made of) a side character but are not a side. Checked before
# a side word is taken at any position, so 左后视镜 reads 左 + 后视镜.
PROTECTED_WORDS: tuple[str, ...] = (
    "后视镜", "前照灯", "后备箱", "后备厢", "前脸", "后尾", "前后",
    "中网", "中控", "中冷", "中央", "中柱", "中门", "中排", "中通", "中缸", "中桥", "中段",
    "上下", "内饰", "内衬", "内胎", "外观", "外胎", "外壳", "外皮",
    "侧围", "侧裙", "侧窗", "侧板", "侧梁", "侧门", "侧标", "侧气", "侧踏", "侧饰", "侧滑",
    "侧转", "侧灯", "侧镜", "侧面板", "边梁", "边框", "边条", "面板", "面罩", "面漆", "部件",
    "端盖", "端子",
)  # fmt: skip

# Words the prefix run must not take 中 from: only 中间/中部 are read as a side there.
_PREFIX_ONLY_MULTI = {"中"}


_PROTECTED_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _w in PROTECTED_WORDS:
    _PROTECTED_BY_FIRST[_w[0]] = (*_PROTECTED_BY_FIRST.get(_w[0], ()), _w)
_WORDS_LONGEST_FIRST = sorted(_WORDS, key=len, reverse=True)


def _is_protected_at(text: str, i: int) -> bool:
    if i >= len(text):
        return False
    return any(text.startswith(w, i) for w in _PROTECTED_BY_FIRST.get(text[i], ()))


def _side_word_at(text: str, i: int, *, allow_bare_zhong: bool) -> str | None:
    """The longest side word starting at ``i`` (with a trailing filler), or None."""
    if i >= len(text) or text[i] not in _SIDE_FIRST_CHARS or _is_protected_at(text, i):
        return None
    for word in _WORDS_LONGEST_FIRST:
        if text.startswith(word, i):
            if word in _PREFIX_ONLY_MULTI and not allow_bare_zhong:
                return None
            end = i + len(word)
            if end < len(text) and text[end] in _FILLERS and not _is_protected_at(text, end):
                # 左侧 / 前部: take the filler too, unless it starts a word (侧围 in 左侧围).
                return text[i : end + 1]
            return word
    return None


def _meaning(word: str) -> dict[str, str]:
    if word in _WORDS:
        return _WORDS[word]
    return _WORDS[word[:-1]]  # word + filler


def _all_side_words(text: str) -> list[str] | None:
    """Split ``text`` into side words if it consists only of them (``左上``, ``外右``)."""
    words: list[str] = []
    i = 0
    while i < len(text):
        word = _side_word_at(text, i, allow_bare_zhong=True)
        if word is None:
            return None
        words.append(word)
        i += len(word)
    return words


class _Collector:
    """Gathers side readings; a second, different reading on an axis makes it ambiguous."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.conflicts: set[str] = set()

    def add(self, meaning: dict[str, str]) -> None:
        for axis, value in meaning.items():
            seen = self.values.get(axis)
            if seen is None:
                self.values[axis] = value
            elif seen != value:
                self.conflicts.add(axis)

    def add_words(self, words: Iterable[str]) -> None:
        for word in words:
            self.add(_meaning(word))

    def side(self) -> Side:
        values = {axis: v for axis, v in self.values.items() if axis not in self.conflicts}
        return Side(**values, ambiguous=bool(self.conflicts))


_BRACKET_GROUP = re.compile(r"\(([^()]*)\)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATERAL_RUN_CHARS = "左右前后上下内外"


def parse_side(text: str) -> tuple[Side, str]:
    """Read the side out of normalised ``text``; return it and the core name (no spaces).

    ``text`` is the output of `normalize` (lower case, ``(`` ``)`` brackets, single spaces),
    ideally after synonyms were applied. Pure ASCII text (pinyin, OE numbers) has no side.
    """
    found = _Collector()
    if not _CJK.search(text):
        return Side(), text.replace(" ", "")

    # 1. Latin side words standing alone or glued to Chinese: 前叶子板LH, 大灯 R.
    def take_latin(m: re.Match[str]) -> str:
        found.add(_LATIN[m.group(1)])
        return " "

    text = _LATIN_RE.sub(take_latin, text)

    # 2. Bracket groups made only of side words: (左), (左上), (外右). Other groups keep their
    #    content (it is part of the name) and lose the brackets.
    def take_group(m: re.Match[str]) -> str:
        inner = m.group(1).replace(" ", "")
        words = _all_side_words(inner)
        if words:
            found.add_words(words)
            return " "
        return " " + m.group(1) + " "

    text = _BRACKET_GROUP.sub(take_group, text)
    text = text.replace("(", " ").replace(")", " ")

    # 3. Whole words made only of side words: ``大灯总成 左``, ``左前 叶子板``.
    kept: list[str] = []
    for token in text.split():
        words = _all_side_words(token)
        if words:
            found.add_words(words)
        else:
            kept.append(token)
    core = "".join(kept)

    # 4. Prefix run: 左前翼子板, 右后门. 中 alone is not taken here (中网, 中冷器).
    i = 0
    while i < len(core):
        word = _side_word_at(core, i, allow_bare_zhong=False)
        if word is None:
            break
        found.add(_meaning(word))
        i += len(word)
    core = core[i:]

    # 5. Suffix run: 前叶子板左, 叶子板左前, 尾灯外右. Read right to left; the run is taken only
    #    if it splits cleanly into side words and leaves a name in front.
    j = len(core)
    while j > 0:
        for start in range(max(0, j - 4), j):
            word = _side_word_at(core, start, allow_bare_zhong=True)
            if word is not None and start + len(word) == j and not _ends_protected(core, start):
                found.add(_meaning(word))
                j = start
                break
        else:
            break
    core = core[:j]

    # 6. A run containing 左/右 in the middle: 前杠左支架, 后保险杠左下支架. 左/右 are (almost)
    #    never part of a part's own name, so this is safe; other side characters in the middle
    #    stay in the name (保险杠下格栅).
    core = _take_inner_lateral_runs(core, found)

    # 7. A side word with its filler in the middle: 后保险杠下侧支架, 门内侧饰板. With the filler
    #    it is a side, not part of a word (下摆臂 has none); 侧 starting a word (侧围) is left.
    core = _INNER_WITH_FILLER.sub(lambda m: _take_filled(core, m, found), core)
    return found.side(), core


_INNER_WITH_FILLER = re.compile(r"(?<=.)([上下前后内外])([侧边])(?=.)")


def _take_filled(core: str, m: re.Match[str], found: _Collector) -> str:
    if _is_protected_at(core, m.start(2)) or _ends_protected(core, m.start(1)):
        return m.group(0)
    found.add(_WORDS[m.group(1)])
    return ""


_HINT_CHARS = {"前": "longitudinal", "后": "longitudinal", "上": "vertical", "下": "vertical",
               "内": "depth", "外": "depth"}  # fmt: skip


def drop_bracket_notes(text: str) -> str:
    """``text`` without bracketed notes that are not sides: 前挡风玻璃(带雨量传感器)(左) →
    前挡风玻璃(左). Catalogues and adjusters both add such notes (含骨架, LED, -35℃ 4L)."""
    return _BRACKET_GROUP.sub(
        lambda m: m.group(0) if _all_side_words(m.group(1).replace(" ", "")) else " ", text
    ).strip()


def side_hints(core: str) -> Side:
    """Side characters left inside a core name (保险杠下支架, 车门外拉手): weak evidence.

    They stay part of the name, because inside a word they are often the name itself
    (下摆臂, 外拉手); `parse_side` does not read them. Scoring uses them only to break ties
    between parts that differ on that axis (后保险杠支架 左上 / 左下 for 后杠下支架 左).
    """
    found = _Collector()
    for i, ch in enumerate(core):
        axis = _HINT_CHARS.get(ch)
        if axis and not _is_protected_at(core, i) and not _ends_protected(core, i):
            found.add({axis: ch})
    return found.side()


def _ends_protected(core: str, start: int) -> bool:
    """Whether the character at ``start`` is the tail of a protected word (…后视镜 is not 镜)."""
    return any(
        core.startswith(w, start - k)
        for w in PROTECTED_WORDS
        for k in range(1, len(w))
        if start - k >= 0
    )


def _take_inner_lateral_runs(core: str, found: _Collector) -> str:
    out: list[str] = []
    i = 0
    while i < len(core):
        if core[i] in "左右":
            # Extend the run backwards over side characters already emitted? No: only forwards
            # and backwards over plain side characters adjacent to 左/右.
            start = i
            while (
                start > 0
                and out
                and out[-1] in _LATERAL_RUN_CHARS
                and not _ends_protected(core, start - 1)
            ):
                start -= 1
                out.pop()
            end = i + 1
            while (
                end < len(core)
                and core[end] in _LATERAL_RUN_CHARS
                and not _is_protected_at(core, end)
            ):
                end += 1
            found.add_words(_split_run(core[start:end]))
            if end < len(core) and core[end] in _FILLERS and not _is_protected_at(core, end):
                end += 1  # 后保险杠左下侧支架: the filler goes with the side
            i = end
            continue
        out.append(core[i])
        i += 1
    return "".join(out)


def _split_run(run: str) -> list[str]:
    return [ch for ch in run if ch in _WORDS]
