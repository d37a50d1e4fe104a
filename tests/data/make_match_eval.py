"""Generate ``match_eval.csv``: adjuster-style part names labelled with the demo part they mean.

Run from the repository root: ``.venv/bin/python tests/data/make_match_eval.py``.
Deterministic (fixed seed); rerunning rewrites the same file.

Each row starts from a demo part — its standard name or one of its aliases — and applies what
adjusters do when they type a custom part line, never the matcher's own code:

* move the side: prefix ↔ suffix, brackets of every style, bare, after a dash or a space,
  LH/RH/L/R, seat words (主驾/副驾), the whole side behind (叶子板左前);
* colloquial words for the standard ones (叶子板, 机盖, 倒车镜, 中网, 水箱, 杠, 大灯 …);
* drop or add 总成; quality words (原厂, 全新, 副厂 …) and quantities (x1, 一个, 2只 …);
* typos: a homophone or look-alike from a confusion table (翼/翌, 杠/扛, 盖/概 …) or one
  missing character;
* pinyin initials for the common parts;
* full-width characters and traditional characters now and then.

A variant that, once cleaned of noise, is literally another part's name or alias on the same
model is dropped: its label would be a guess.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pypinyin import Style, lazy_pinyin  # noqa: E402

from pricebook.demo.catalog import demo_rows  # noqa: E402

SEED = 4
OUT = Path(__file__).with_name("match_eval.csv")

COLLOQUIAL: list[tuple[str, tuple[str, ...]]] = [
    ("翼子板", ("叶子板", "叶子板", "翼板")),
    ("发动机盖", ("机盖", "头盖", "引擎盖", "发动机罩")),
    ("引擎盖", ("机盖", "发动机盖", "头盖")),
    ("后视镜", ("倒车镜", "反光镜")),
    ("倒车镜", ("后视镜", "反光镜")),
    ("进气格栅", ("中网",)),
    ("中网", ("进气格栅", "前格栅")),
    ("散热器", ("水箱",)),
    ("水箱", ("散热器",)),
    ("保险杠", ("杠", "保险杆")),
    ("前照灯", ("大灯", "头灯")),
    ("大灯", ("前照灯", "头灯")),
    ("行李箱盖", ("后备箱盖", "尾盖", "后盖")),
    ("后备箱盖", ("行李箱盖", "尾盖")),
    ("背门", ("尾门", "后背门")),
    ("轮毂", ("钢圈", "铝圈")),
    ("雨刮", ("雨刷",)),
    ("雨刷", ("雨刮",)),
    ("侧裙", ("裙边", "下裙")),
    ("减震器", ("避震", "减振器")),
    ("减振器", ("减震器", "避震器")),
    ("车门", ("门",)),
    ("玻璃升降器", ("升降器", "摇窗机")),
    ("蓄电池", ("电瓶",)),
    ("挡风玻璃", ("风挡玻璃", "挡玻璃")),
    ("风挡玻璃", ("挡风玻璃",)),
    ("转向节", ("羊角",)),
    ("下摆臂", ("下控制臂", "三角臂")),
    ("转向机", ("方向机",)),
    ("密封条", ("胶条",)),
    ("外拉手", ("外把手",)),
    ("支撑杆", ("撑杆", "液压杆")),
    ("冷凝器", ("空调散热器",)),
    ("空调压缩机", ("压缩机", "冷气泵")),
    ("电子风扇", ("电子扇",)),
    ("后翼子板", ("后叶子板",)),
    ("外板", ("皮",)),
]

# Homophones (same pinyin, picked wrongly from the input method) and look-alike glyphs.
TYPOS: dict[str, str] = {
    "翼": "翌", "杠": "扛", "盖": "概", "镜": "竟", "灯": "登", "板": "版", "器": "气",
    "框": "筐", "架": "驾", "罩": "照", "璃": "离", "轮": "论", "支": "枝", "臂": "壁",
    "饰": "式", "格": "隔", "栅": "删", "雾": "务", "尾": "委", "锁": "琐", "胶": "交",
    "泡": "炮", "箱": "厢", "叶": "页", "裙": "群", "扣": "叩", "喇": "拉", "梁": "粱",
    "撑": "称", "铰": "绞", "链": "连", "液": "夜", "缸": "扛", "散": "撒", "刮": "括",
    "震": "振", "挡": "档", "转": "专", "窗": "床", "皮": "坡", "壳": "克", "油": "由",
}  # fmt: skip

QUALITY = ["原厂", "原厂件", "全新", "副厂", "拆车件", "正厂", "品牌件", "原装", "全新原厂"]
QUANTITY = ["x1", "X2", "×1", "*1", "1个", "一个", "2只", "一只", "1件", "一套", "数量:1"]
BRACKETS = [("（", "）"), ("(", ")"), ("【", "】"), ("[", "]")]
SEAT = {"左": ("主驾", "主驾侧", "驾驶侧"), "右": ("副驾", "副驾驶", "副驾侧")}
LATIN = {"左": ("LH", "L", " LH", "-L"), "右": ("RH", "R", " RH", "-R")}
# Starting words in which 前/后 is not a side: never moved behind the name.
NOT_SIDE_STARTS = ("前照", "后视", "后备", "前挡", "后挡", "前标", "后三角")
SIDE_CHARS = set("左右前后上下内外")
TRAD = str.maketrans("后视镜杠灯门盖头发动机车叶轮厂总尾网", "後視鏡槓燈門蓋頭發動機車葉輪廠總尾網")
FULLWIDTH = str.maketrans("()-xX0123456789LRH ", "（）－ｘＸ０１２３４５６７８９ＬＲＨ\u3000")


def split_side(name: str) -> tuple[str, str]:
    """(side words, name without them) for the two catalogue conventions."""
    m = re.fullmatch(r"(.+?)（([左右前后上下内外中]+)）", name)
    if m:
        return m.group(2), m.group(1)
    if name[:1] in "左右":
        return name[0], name[1:]
    return "", name


def place_side(rng: random.Random, side: str, base: str, notes: list[str]) -> str:
    """Write ``side`` somewhere around ``base`` the way adjusters do."""
    lateral = side if side in ("左", "右") else ""
    options = ["prefix", "bracket", "bare", "dash", "space"]
    if lateral:
        options += ["latin", "seat", "ce"]
    if side and base[:1] in "前后" and not base.startswith(NOT_SIDE_STARTS) and lateral:
        options += ["whole-suffix", "whole-suffix"]
    how = rng.choice(options)
    notes.append(f"side-{how}")
    if how == "prefix":
        return side + base
    if how == "bracket":
        o, c = rng.choice(BRACKETS)
        return f"{base}{o}{side}{c}"
    if how == "bare":
        return base + side
    if how == "dash":
        return f"{base}-{side}"
    if how == "space":
        return f"{base} {side}"
    if how == "latin":
        return base + rng.choice(LATIN[lateral])
    if how == "seat":
        return rng.choice(SEAT[lateral]) + base
    if how == "ce":
        return f"{lateral}侧{base}"
    # whole-suffix: 前叶子板 + 左 → 叶子板左前
    return base[1:] + lateral + base[0]


def colloquial(rng: random.Random, text: str, notes: list[str]) -> str:
    found = [(w, alts) for w, alts in COLLOQUIAL if w in text]
    if not found:
        return text
    word, alts = rng.choice(found)
    notes.append("colloquial")
    return text.replace(word, rng.choice(alts), 1)


def typo(rng: random.Random, text: str, notes: list[str]) -> str:
    positions = [i for i, ch in enumerate(text) if ch in TYPOS]
    if positions and rng.random() < 0.7:
        i = rng.choice(positions)
        notes.append("typo-char")
        return text[:i] + TYPOS[text[i]] + text[i + 1 :]
    # One missing character, never a side character and never leaving fewer than two.
    core = [i for i, ch in enumerate(text) if ch not in SIDE_CHARS and "\u4e00" <= ch <= "\u9fff"]
    if len(core) < 4:
        return text
    i = rng.choice(core[1:-1] or core)
    notes.append("typo-missing")
    return text[:i] + text[i + 1 :]


def noise(rng: random.Random, text: str, notes: list[str]) -> str:
    if rng.random() < 0.3:
        q = rng.choice(QUALITY)
        text = f"{q} {text}" if rng.random() < 0.5 else f"{text}({q})"
        notes.append("quality")
    if rng.random() < 0.25:
        text = f"{text} {rng.choice(QUANTITY)}"
        notes.append("qty")
    if rng.random() < 0.04:
        text = text.translate(TRAD)
        notes.append("traditional")
    if rng.random() < 0.08:
        text = text.translate(FULLWIDTH)
        notes.append("fullwidth")
    return text


def initials(text: str) -> str:
    return "".join(s[0] for s in lazy_pinyin(text, style=Style.FIRST_LETTER))


def clean(text: str) -> str:
    return re.sub(r"[\s()（）\-]", "", text)


def main() -> None:
    rows = demo_rows()
    rng = random.Random(SEED)
    fits: dict[str, list[str]] = {}
    for f in rows["fitment"]:
        fits.setdefault(f["part_code"], []).append(f["model_code"])
    all_models = [m["model_code"] for m in rows["models"]]
    parts = rows["parts"]

    # Every name and alias written on each model, to drop ambiguous variants.
    names_on_model: dict[str, dict[str, set[str]]] = {}
    for p in parts:
        forms = [p["name"], *[a for a in p["aliases"].split("|") if a]]
        models = all_models if p["universal"] == "1" else fits.get(p["part_code"], [])
        for m in models:
            for form in forms:
                for key in (clean(form), initials(clean(form))):
                    names_on_model.setdefault(m, {}).setdefault(key, set()).add(p["part_code"])

    out: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for p in parts:
        code = p["part_code"]
        models = all_models if p["universal"] == "1" else fits.get(code, [])
        if not models:
            continue
        aliases = [a for a in p["aliases"].split("|") if a]
        n_variants = 1 if p["universal"] == "1" else rng.choice((1, 1, 2))
        for _ in range(n_variants):
            model = rng.choice(models)
            notes: list[str] = []
            use_alias = aliases and rng.random() < 0.45
            start = rng.choice(aliases) if use_alias else p["name"]
            notes.append("alias" if use_alias else "standard")
            side, base = split_side(start)

            roll = rng.random()
            if roll < 0.07 and len(clean(start)) >= 2:
                # Pinyin initials of the standard name with its side in front.
                side_p, base_p = split_side(p["name"])
                name = initials(side_p + base_p) if side_p else initials(clean(p["name"]))
                name = re.sub(r"[^a-z]", "", name)
                notes = ["pinyin"]
                if len(name) < 3:
                    continue
            else:
                if rng.random() < 0.5:
                    base = colloquial(rng, base, notes)
                if p["is_assembly"] == "1" and "总成" in base and rng.random() < 0.4:
                    base = base.replace("总成", "", 1)
                    notes.append("drop-assembly")
                elif p["is_assembly"] == "1" and "总成" not in base and rng.random() < 0.3:
                    base += "总成"
                    notes.append("add-assembly")
                if rng.random() < 0.22:
                    base = typo(rng, base, notes)
                name = place_side(rng, side, base, notes) if side else base
            # Ambiguity check on the name proper, before the noise.
            owners = names_on_model.get(model, {}).get(clean(name))
            if owners and owners != {code}:
                continue
            if "pinyin" not in notes:
                name = noise(rng, name, notes)
            if (name, model) in seen:
                continue
            seen.add((name, model))
            out.append((name, model, code, "+".join(notes)))

    with OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "model_code", "expected_part_code", "note"])
        w.writerows(out)
    print(f"wrote {len(out)} rows to {OUT}")


if __name__ == "__main__":
    main()
