"""Part names as adjusters really type them, generated from a catalogue's standard names.

`generate` takes catalogue entries and writes, for each standard name, a few variants that
combine two or three of the things people do when typing fast with a pinyin input method:

* **homophone**: one character replaced by another of the same pinyin (档 for 挡, 坐 for 座);
  **near-homophone**: of nearly the same pinyin (the input method's fuzzy pairs zh/z, ch/c,
  sh/s, n/l, an/ang, en/eng, in/ing: 相 for 箱 is a homophone, 心 for 星 a near one);
* **missing** or **doubled** character (前大喷嘴, 前叶叶子板);
* **spaces** between every character or between some, one or two of them;
* **traditional** characters, the whole name or some characters;
* **side** written another way: 左侧/右侧/上侧/下侧, LH/RH before or after, 前左 for 左前,
  a half-width bracket ``(左)``, at the front, the back or in the middle;
* **abbreviation** (前杠, 后杠, 风挡, 尾箱, 叶子 for 叶子板);
* **noise**: quality and quantity words around the name (副厂, 拆车件, 原装, 需更换, x2, 1个).

Deterministic for a seed. The homophones come from pypinyin's dictionary over the 3,755
common characters (GB 2312 level 1) — what an input method offers first — and never from the
matcher's code.

**Held-out half**: a standard name belongs to the held-out half when a hash of it is odd
(`is_held_out`), so every variant of a name sits in the same half and no tuning looks at the
held-out names at all.

**Fairness**: a variant is dropped when, after undoing its spelling (read as the syllables the
adjuster typed, sides and noise taken off, traditional characters simplified), another catalogue
name on the same model is as close to it as the true part's names are — its label would be a
guess. Closeness is the edit distance over toneless syllables, computed here, independently of
the matcher.
"""

from __future__ import annotations

import itertools
import random
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from rapidfuzz.distance import Levenshtein

from pricebook.matching.index import CatalogEntry
from pricebook.matching.pinyin import common_by_syllable

__all__ = ["Variant", "generate", "is_held_out", "split"]

SEED = 20
KINDS = (
    "homophone", "near-homophone", "missing", "doubled", "spaces", "traditional", "side",
    "abbreviation", "noise",
)  # fmt: skip

_SIDE_CHARS = "左右前后上下内外中"
_AXIS = {"左": "lat", "右": "lat", "中": "lat", "前": "lon", "后": "lon", "上": "ver",
         "下": "ver", "内": "dep", "外": "dep"}  # fmt: skip
_BRACKET_SIDE = re.compile(r"^(.+?)[（(]([左右前后上下内外中]+)[)）]$")
_BRACKET_ANY = re.compile(r"[（(][^（()）]*[)）]")
_CJK = re.compile(r"[\u4e00-\u9fff]")

# What adjusters shorten (word → short forms). Applied to the name without its side.
_ABBREVIATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("保险杠", ("杠",)),
    ("叶子板", ("叶子",)),
    ("翼子板", ("叶子",)),
    ("挡风玻璃", ("风挡",)),
    ("风挡玻璃", ("风挡",)),
    ("后备箱", ("尾箱",)),
    ("行李箱", ("尾箱",)),
    ("发动机盖", ("机盖",)),
    ("发动机", ("机",)),
    ("车门", ("门",)),
    ("后视镜", ("后镜",)),
    ("倒车镜", ("倒镜",)),
    ("前照灯", ("大灯",)),
    ("雾灯饰框", ("雾灯框",)),
    ("玻璃升降器", ("升降器",)),
    ("总成", ("",)),
)
_QUALITY = ("副厂", "拆车件", "品牌件", "原装", "原厂", "全新", "正厂件", "副厂件")
_ACTION = ("需更换", "更换", "换新", "需换")
_QUANTITY = ("x2", "x1", "*1", "*2", "1个", "2个", "X1", "×1", "一个")
_LATIN = {"左": ("LH", "lh", "L"), "右": ("RH", "rh", "R")}
# An input method's fuzzy pinyin pairs: initials, then finals.
_FUZZY = {"zh": "z", "z": "zh", "ch": "c", "c": "ch", "sh": "s", "s": "sh", "n": "l", "l": "n",
          "ang": "an", "an": "ang", "eng": "en", "en": "eng", "ing": "in", "in": "ing"}  # fmt: skip
_SYLLABLE = re.compile(r"^(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?([a-zü]+)$")


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    model_id: int | None
    expected_part_code: str
    standard_name: str
    kinds: tuple[str, ...]
    held_out: bool


def is_held_out(standard_name: str) -> bool:
    """Whether a standard name belongs to the held-out half (a fixed hash, never tuned on)."""
    return zlib.crc32(standard_name.encode("utf-8")) % 2 == 1


def split(variants: Iterable[Variant]) -> tuple[list[Variant], list[Variant]]:
    """(tuning half, held-out half)."""
    tuning: list[Variant] = []
    held: list[Variant] = []
    for v in variants:
        (held if v.held_out else tuning).append(v)
    return tuning, held


# --- dictionaries -------------------------------------------------------------------------------


@cache
def _syllable(ch: str) -> str:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0] if _CJK.match(ch) else ch


def _near_syllables(syl: str) -> list[str]:
    """Syllables an input method's fuzzy pinyin confuses with ``syl`` (common ones only)."""
    m = _SYLLABLE.match(syl)
    if not m:
        return []
    initial, final = m.group(1) or "", m.group(2)
    out = [_FUZZY.get(initial, initial) + final, initial + _FUZZY.get(final, final)]
    table = common_by_syllable()
    return [s for s in dict.fromkeys(out) if s != syl and s in table]


@cache
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


@cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


# --- reading a standard name --------------------------------------------------------------------


def _split_side(name: str) -> tuple[str, str]:
    """(side, name without it): ``前叶子板（左）`` → 左, 前叶子板; ``左前翼子板`` → 左, 前翼子板.

    Only the side the catalogue writes apart is taken (a bracket, or 左/右 in front); 前/后
    inside the name stay (前保险杠 is its own part)."""
    m = _BRACKET_SIDE.match(name)
    if m:
        return m.group(2), m.group(1)
    if name[:1] in "左右":
        return name[0], name[1:]
    return "", name


def _side_axes(text: str) -> dict[str, str]:
    return {_AXIS[ch]: ch for ch in text if ch in _AXIS}


def _skeleton(text: str) -> list[str]:
    """A name as the syllables typed, without side characters, brackets' notes or spaces."""
    text = _t2s().convert(text)
    text = _BRACKET_ANY.sub("", text)
    return [_syllable(ch) for ch in text if _CJK.match(ch) and ch not in _SIDE_CHARS]


# --- transformations ----------------------------------------------------------------------------


def _typo_positions(base: str) -> list[int]:
    return [i for i, ch in enumerate(base) if _CJK.match(ch) and ch not in _SIDE_CHARS]


def _homophone(rng: random.Random, base: str, *, near: bool) -> str | None:
    positions = _typo_positions(base)
    rng.shuffle(positions)
    table = common_by_syllable()
    for i in positions:
        syl = _syllable(base[i])
        pool_syl = _near_syllables(syl) if near else [syl]
        pool = [c for s in pool_syl for c in table.get(s, ()) if c != base[i]]
        pool = [c for c in pool if c not in _SIDE_CHARS]
        if pool:
            return base[:i] + rng.choice(pool) + base[i + 1 :]
    return None


def _missing(rng: random.Random, base: str) -> str | None:
    positions = _typo_positions(base)
    if len(positions) < 4:
        return None
    i = rng.choice(positions[1:])
    return base[:i] + base[i + 1 :]


def _doubled(rng: random.Random, base: str) -> str | None:
    positions = _typo_positions(base)
    if not positions:
        return None
    i = rng.choice(positions)
    return base[: i + 1] + base[i] + base[i + 1 :]


def _abbreviate(rng: random.Random, base: str) -> str | None:
    found = [(w, short) for w, short in _ABBREVIATIONS if w in base and len(base) > len(w)]
    if not found:
        return None
    word, short = rng.choice(found)
    out = base.replace(word, rng.choice(short), 1)
    return out if len(_typo_positions(out)) >= 2 else None


def _place_side(rng: random.Random, side: str, base: str) -> str:
    """The side written one of the ways adjusters write it."""
    lateral = side[0] if side[:1] in "左右" else ""
    rest = side[1:] if lateral else side
    options = ["prefix", "suffix", "bracket", "ce-suffix", "ce-prefix"]
    if lateral:
        options += ["latin-before", "latin-after"]
        if base[:1] in "前后":
            options += ["after-first", "after-first"]  # 前左叶子板 for 左前叶子板
        if len(base) >= 5:
            options += ["middle"]
    if len(side) == 2:
        options += ["reversed"]
    how = rng.choice(options)
    if how == "prefix":
        return side + base
    if how == "suffix":
        return base + rng.choice(("", " ")) + side
    if how == "bracket":
        return f"{base}({side})"
    if how == "ce-suffix":
        return base + " " + side + "侧"
    if how == "ce-prefix":
        return side + "侧" + base
    if how == "reversed":
        return base + side[::-1] if rng.random() < 0.5 else side[::-1] + base
    if how in ("latin-before", "latin-after"):
        latin = rng.choice(_LATIN[lateral])
        sep = rng.choice((" ", "")) if len(latin) > 1 else " "
        if how == "latin-before":
            return f"{latin}{sep}{rest}{base}"
        return f"{rest}{base}{sep}{latin}"
    if how == "after-first":
        return base[0] + side + base[1:] if not rest else base[0] + lateral + rest + base[1:]
    # middle: before the last two characters (前保险杠左支架)
    return base[:-2] + side + base[-2:]


def _spaces(rng: random.Random, text: str) -> str:
    """Spaces between Chinese characters: all of them, or some (one or two spaces)."""
    every = rng.random() < 0.5
    out = [text[0]]
    for prev, ch in itertools.pairwise(text):
        if _CJK.match(prev) and _CJK.match(ch) and (every or rng.random() < 0.3):
            out.append(" " if every else rng.choice((" ", "  ")))
        out.append(ch)
    return "".join(out)


def _traditional(rng: random.Random, text: str) -> str:
    full = str(_s2t().convert(text))
    if rng.random() < 0.5:
        return full
    # Mixed: some characters only (a phone's input method switched halfway).
    return "".join(t if rng.random() < 0.5 else s for s, t in zip(text, full, strict=False))


def _noise(rng: random.Random, text: str) -> str:
    words = []
    for pool in (_QUALITY, _ACTION, _QUANTITY):
        if rng.random() < 0.5:
            words.append(rng.choice(pool))
    if not words:
        words.append(rng.choice(_QUALITY + _ACTION + _QUANTITY))
    for w in words:
        how = rng.random()
        if how < 0.4:
            text = f"{text} {w}"
        elif how < 0.6 and w in _QUALITY:
            text = f"{text}({w})"
        elif w not in _QUANTITY:
            text = f"{w} {text}"
        else:
            text = f"{text}{w}"
    return text


# --- generation ---------------------------------------------------------------------------------

_SPELLING = ("homophone", "near-homophone", "missing", "doubled", "abbreviation")
_WEIGHTS = {"homophone": 4, "near-homophone": 1, "missing": 2, "doubled": 1, "abbreviation": 2,
            "spaces": 3, "traditional": 3, "side": 4, "noise": 4}  # fmt: skip


def _one(rng: random.Random, entry: CatalogEntry) -> tuple[str, tuple[str, ...], list[str]] | None:
    """(variant, kinds applied, its skeleton) or None when the kinds drawn do not apply."""
    side, base = _split_side(entry.name)
    kinds_pool = [k for k in _WEIGHTS if k != "side" or side]
    n = rng.choice((2, 2, 3))
    kinds: list[str] = []
    while len(kinds) < n:
        k = rng.choices(kinds_pool, weights=[_WEIGHTS[k] for k in kinds_pool])[0]
        # At most one spelling change: two typos in a short name are a different name.
        if k in kinds or (k in _SPELLING and any(x in _SPELLING for x in kinds)):
            continue
        kinds.append(k)
    for k in (k for k in kinds if k in _SPELLING):
        if k == "homophone":
            new = _homophone(rng, base, near=False)
        elif k == "near-homophone":
            new = _homophone(rng, base, near=True)
        elif k == "missing":
            new = _missing(rng, base)
        elif k == "doubled":
            new = _doubled(rng, base)
        else:
            new = _abbreviate(rng, base)
        if new is None:
            return None
        base = new
    skeleton = _skeleton(base)
    if side:
        if "side" in kinds:
            text = _place_side(rng, side, base)
        else:
            text = f"{base}（{side}）" if _BRACKET_SIDE.match(entry.name) else side + base
    else:
        text = base
    if "spaces" in kinds:
        text = _spaces(rng, text)
    if "traditional" in kinds:
        text = _traditional(rng, text)
    if "noise" in kinds:
        text = _noise(rng, text)
    return text, tuple(k for k in KINDS if k in kinds), skeleton


def _contradicts(a: dict[str, str], b: dict[str, str]) -> bool:
    return any(axis in b and b[axis] != v for axis, v in a.items())


def generate(
    entries: Sequence[CatalogEntry],
    *,
    model_codes: Mapping[str, int] | None = None,
    per_name: int = 8,
    seed: int = SEED,
) -> list[Variant]:
    """Variants of every standard name of ``entries`` (see the module docstring).

    Each variant is labelled with a part of that name and one model it fits (universal parts:
    any model of ``model_codes``, or no model). ``model_codes`` (code → id) also orders the
    models by code, so that a database's ids and the demo's give the same variants. Names whose
    true part cannot be told from the others once the spelling is undone are dropped."""
    rng = random.Random(seed)
    code_of = {i: c for c, i in (model_codes or {}).items()}

    def by_code(ids: Iterable[int]) -> list[int]:
        return sorted(ids, key=lambda m: (code_of.get(m, ""), m))

    # Universal parts are asked for on a model that has parts of its own (one without any is
    # matched against its brand's: another candidate set than the one checked for fairness).
    models = by_code({m for e in entries for m in e.model_ids})
    # Per model, the parts there and the skeletons of their names and aliases.
    on_model: dict[int | None, list[int]] = {}
    universal: list[int] = []
    for i, e in enumerate(entries):
        if e.model_ids:
            for m in e.model_ids:
                on_model.setdefault(m, []).append(i)
        else:
            universal.append(i)
    skeletons: list[list[list[str]]] = []
    sides: list[dict[str, str]] = []
    for e in entries:
        forms = [e.name, *e.aliases]
        skeletons.append([_skeleton(f) for f in forms])
        side = _side_axes(e.position)
        if not side:
            side = _side_axes(_split_side(e.name)[0])
        sides.append(side)

    by_name: dict[str, list[int]] = {}
    for i, e in sorted(enumerate(entries), key=lambda x: x[1].part_code):
        by_name.setdefault(e.name, []).append(i)

    out: list[Variant] = []
    seen: set[tuple[str, int | None]] = set()
    for name in sorted(by_name):
        held = is_held_out(name)
        for _ in range(per_name):
            i = rng.choice(by_name[name])
            entry = entries[i]
            model = (
                rng.choice(by_code(entry.model_ids))
                if entry.model_ids
                else (rng.choice(models) if models else None)
            )
            made = _one(rng, entry)
            if made is None:
                continue
            text, kinds, skeleton = made
            if not skeleton:
                continue
            true_d = min(Levenshtein.distance(skeleton, s) for s in skeletons[i])
            rivals = [*on_model.get(model, []), *universal] if model is not None else []
            if model is None:
                rivals = list(range(len(entries)))
            fair = True
            for j in rivals:
                if entries[j].name == name or _contradicts(sides[i], sides[j]):
                    continue
                if min(Levenshtein.distance(skeleton, s) for s in skeletons[j]) <= true_d:
                    fair = False
                    break
            if not fair or (text, model) in seen:
                continue
            seen.add((text, model))
            out.append(Variant(text, model, entry.part_code, name, kinds, held))
    return out
