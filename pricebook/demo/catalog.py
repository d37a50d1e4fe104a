"""A deterministic, realistic demo catalogue, as import rows (docs/import-formats.md).

`demo_rows()` returns, per import kind and in import order, the rows a CSV file of that kind
would hold: every cell is text exactly as written in the file ('' = not given). The data is made
up but shaped like a Chinese estimating catalogue: real administrative codes, real brands and
series, both part-naming conventions (左前翼子板 / 前叶子板（左）), the colloquial aliases adjusters
type, assemblies with separately sold components, several price types with realistic ratios,
localized prices, and validity history (past, current and future-dated versions).

Everything random comes from `random.Random` seeded per section, so two calls return identical
data and changing one section does not reshuffle the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pricebook.demo.data import (
    BASE_FROM,
    BRANCHES,
    BRANDS,
    CATEGORIES,
    CATEGORY_TYPES,
    CHANNELS,
    CITIES,
    CLASS_HOURS,
    CLASS_LABOR,
    CLASS_PRICE,
    COLUMNS,
    CONSUMABLES,
    DEFAULT_REPLACE_HOURS,
    FUTURE_SWITCH,
    HISTORY_FROM,
    HISTORY_SWITCH,
    LABOR_BASE,
    LABOR_HISTORY_BRANCH,
    LOCAL_SCOPES,
    LOCAL_TEMPLATES,
    MFR_LETTERS,
    PLATFORMS,
    PRICE_TYPES,
    PROVINCES,
    RATE_CARDS,
    RATIO,
    REPLACE_KIND,
    SEED,
    SERIES,
    SHOP_TIER,
    TEMPLATE_BY_KEY,
    TEMPLATES,
    VEHICLE_CLASSES,
    VIN_LETTERS,
    Platform,
    Series,
    Tpl,
)


def _rng(section: str) -> random.Random:
    # One generator per section: str seeds hash with SHA-512, stable across processes.
    return random.Random(f"{SEED}:{section}")


def _yuan(amount: float) -> str:
    # Prices above a few yuan are whole yuan, as 4S price lists are; small items keep 0.50s.
    value = round(amount) if amount >= 20 else round(amount * 2) / 2
    return f"{value:.2f}"


def _series(code: str) -> Series:
    return next(s for s in SERIES if s.code == code)


def _model_codes(series: Series) -> list[str]:
    return [
        f"{series.code}-{year % 100:02d}{chr(65 + i)}"
        for i, (year, _, _) in enumerate(series.models)
    ]


# OE numbers in each brand's written style. `n` is the part's number on its platform (unique
# there, so every OE number is unique), `side` its side index, `v` its revision (a superseded
# part keeps v-1 as its old number).
_TOYOTA_BASE = {"body": 52000, "lamp": 81000, "glass": 56000, "mechanical": 16000,
                "electrical": 86000, "chassis": 48000, "interior": 73000}  # fmt: skip
_HONDA_BASE = {"body": 71000, "lamp": 33000, "glass": 73000, "mechanical": 19000,
               "electrical": 38000, "chassis": 51000, "interior": 77000}  # fmt: skip
_NISSAN_BASE = {"body": 62000, "lamp": 26000, "glass": 72000, "mechanical": 21000,
                "electrical": 28000, "chassis": 54000, "interior": 68000}  # fmt: skip
_VW_GROUP = {"mechanical": 121, "chassis": 407, "body": 805, "glass": 845, "interior": 867,
             "lamp": 941, "electrical": 959}  # fmt: skip
_BMW_GROUP = {"body": "51 11", "lamp": "63 11", "glass": "51 31", "mechanical": "11 53",
              "electrical": "61 35", "chassis": "31 12", "interior": "52 10"}  # fmt: skip
_BENZ_GROUP = {"body": 880, "lamp": 820, "glass": 670, "mechanical": 500, "electrical": 540,
               "chassis": 330, "interior": 680}  # fmt: skip
_HAVAL_GROUP = {"body": 2803, "lamp": 4121, "glass": 5206, "mechanical": 1301,
                "electrical": 3701, "chassis": 2904, "interior": 5305}  # fmt: skip


def _oe(style: str, key: str, cat: str, n: int, side: int, v: int) -> str:
    if style == "vw":  # 18G 805 121 A
        letter = f" {chr(64 + v)}" if v else ""
        return f"{key} {_VW_GROUP[cat] + n // 10:03d} {(n % 10) * 100 + 21 + side:03d}{letter}"
    if style == "toyota":  # 52119-02A10
        return f"{_TOYOTA_BASE[cat] + n * 5 + side:05d}-{key}{10 + v:02d}"
    if style == "honda":  # 71101-TVA-H00
        return f"{_HONDA_BASE[cat] + n * 5 + side:05d}-{key}-H{v:02d}"
    if style == "nissan":  # 62022-6LK0A
        return f"{_NISSAN_BASE[cat] + n * 5 + side:05d}-{key}{chr(65 + v)}"
    if style == "bmw":  # 51 11 7 354 813
        num = 7_000_000 + int(key) * 1000 + v * 600 + n * 4 + side
        return f"{_BMW_GROUP[cat]} {num // 1_000_000} {num // 1000 % 1000:03d} {num % 1000:03d}"
    if style == "benz":  # A 206 880 01 40
        return f"A {key} {_BENZ_GROUP[cat] + n // 100:03d} {n % 100:02d} {side * 10 + v:02d}"
    if style == "byd":  # 10080515-00
        return f"{10_000_000 + int(key) * 1000 + n * 100 + side * 10 + v:08d}-00"
    if style == "geely":  # 6600012100
        return f"{key}{n:03d}{side}{v}00"
    if style == "tesla":  # 1490121-00-A
        return f"{int(key) * 10000 + n * 10 + side:07d}-00-{chr(65 + v)}"
    if style == "haval":  # 2803121XKZ16A
        return f"{_HAVAL_GROUP[cat] * 1000 + n * 10 + side:07d}X{key}{chr(65 + v)}"
    raise ValueError(style)


@dataclass
class Part:
    code: str
    tpl: Tpl
    platform: Platform
    side_idx: int
    side: dict[str, str]
    name: str
    position: str
    aliases: list[str]
    oe: str = ""
    superseded: str = ""
    components: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


def _names(pf: Platform, tpl: Tpl, side: dict[str, str]) -> tuple[str, str, list[str]]:
    """Standard name, position and aliases of one template side on a platform."""
    suv = _series(pf.series).body == "SUV"
    values = side | {
        "trunk_p": "背门" if suv else "行李箱盖",
        "trunk_s": "尾门" if suv else "后备箱盖",
    }
    prefix_name = tpl.prefix.format(**values)
    suffix_name = tpl.suffix.format(**values)
    # One position for both conventions, in the matcher's axis order (左右, 前后, 上下, 内外):
    # 左前翼子板 and 前叶子板（左） both sit at 左前.
    position = tpl.pos.format(**values)
    if pf.convention == "prefix":
        name, other = prefix_name, suffix_name
    else:
        name, other = suffix_name, prefix_name
    # The other convention's name is what an adjuster used to the other catalogue types.
    aliases: list[str] = []
    for alias in (other, *(a.format(**values) for a in tpl.aliases)):
        if alias != name and alias not in aliases:
            aliases.append(alias)
    return name, position, aliases


def _related(parts: dict[str, list[Part]], src: Part, spec: str) -> list[str]:
    """Codes of the `spec` template's parts related to `src`: the same side when both
    templates have the same sides, else every side (a bumper's two brackets)."""
    key, _, qty = spec.partition("*")
    targets = parts.get(key, [])
    if TEMPLATE_BY_KEY[key].sides == src.tpl.sides:
        targets = [t for t in targets if t.side_idx == src.side_idx]
    return [t.code + (f"*{qty}" if qty else "") for t in targets]


def _platform_parts(pf: Platform, rng: random.Random) -> list[Part]:
    out: list[Part] = []
    for tpl in TEMPLATES:
        if not (pf.full or tpl.core):
            continue
        for side_idx, side in enumerate(tpl.sides):
            name, position, aliases = _names(pf, tpl, side)
            code = f"{pf.code}-{len(out) + 1:04d}"
            out.append(Part(code, tpl, pf, side_idx, side, name, position, aliases))
    by_key: dict[str, list[Part]] = {}
    for part in out:
        by_key.setdefault(part.tpl.key, []).append(part)
    # Two parts per platform were re-numbered by the maker: the old number stays searchable.
    revised = {p.code for p in rng.sample(out, 2)}
    for n, part in enumerate(out, start=1):
        v = 1 if part.code in revised else 0
        part.oe = _oe(pf.oe_style, pf.oe_key, part.tpl.cat, n, part.side_idx, v)
        if v:
            part.superseded = _oe(pf.oe_style, pf.oe_key, part.tpl.cat, n, part.side_idx, 0)
        for spec in part.tpl.comps:
            part.components += _related(by_key, part, spec)
        for key in part.tpl.incl:
            part.includes += _related(by_key, part, key)
    return out


def _all_parts() -> list[Part]:
    rng = _rng("parts")
    return [part for pf in PLATFORMS for part in _platform_parts(pf, rng)]


def _consumable_code(i: int) -> str:
    return f"GEN-{i + 1:04d}"


# --------------------------------------------------------------------------------------------
# Builders, one per kind
# --------------------------------------------------------------------------------------------


def _regions() -> list[dict[str, str]]:
    rows = [{"code": "CN", "name": "中国", "level": "country", "parent_code": ""}]
    rows += [{"code": c, "name": n, "level": "province", "parent_code": "CN"} for c, n in PROVINCES]
    rows += [{"code": c, "name": n, "level": "city", "parent_code": p} for c, n, p in CITIES]
    return rows


def _branches() -> list[dict[str, str]]:
    return [
        {
            "code": code,
            "name": name,
            "region_code": region,
            "kind": kind,
            "authority_limit_yuan": f"{limit:.2f}",
            "parent_code": parent,
        }
        for code, name, region, kind, limit, parent, _ in BRANCHES
    ]


def _models() -> list[dict[str, str]]:
    rows = []
    for s in SERIES:
        brand_name, country = BRANDS[s.brand]
        for i, (code, (year, engine, config)) in enumerate(
            zip(_model_codes(s), s.models, strict=True)
        ):
            rows.append(
                {
                    "model_code": code,
                    "brand_code": s.brand,
                    "brand_name": brand_name,
                    "series_code": s.code,
                    "series_name": s.name,
                    "name": f"{year}款 {engine} {config}",
                    "model_year": str(year),
                    "body": s.body,
                    "engine": engine,
                    "vehicle_class": s.vehicle_class,
                    "price_band": s.price_band,
                    "manufacturer_code": s.mfr_stem + MFR_LETTERS[i],
                    "brand_country": country,
                    "vin_prefixes": s.vin_stem + VIN_LETTERS[i],
                }
            )
    return rows


def _parts(parts: list[Part]) -> list[dict[str, str]]:
    rows = [
        {
            "part_code": p.code,
            "name": p.name,
            "aliases": "|".join(p.aliases),
            "category": p.tpl.cat,
            "oe_number": p.oe,
            "position": p.position,
            "unit": p.tpl.unit,
            "is_assembly": "1" if p.components else "0",
            "components": "|".join(p.components),
            "superseded_oe": p.superseded,
            "universal": "0",
        }
        for p in parts
    ]
    for i, (name, aliases, unit, _, _) in enumerate(CONSUMABLES):
        rows.append(
            {
                "part_code": _consumable_code(i),
                "name": name,
                "aliases": "|".join(a for a in aliases if a != name),
                "category": "consumable",
                "oe_number": "",
                "position": "",
                "unit": unit,
                "is_assembly": "0",
                "components": "",
                "superseded_oe": "",
                "universal": "1",
            }
        )
    return rows


def _fitment(parts: list[Part]) -> list[dict[str, str]]:
    models = {pf.code: _model_codes(_series(pf.series)) for pf in PLATFORMS}
    return [{"part_code": p.code, "model_code": m} for p in parts for m in models[p.platform.code]]


def _price_versions(
    rng: random.Random, key: dict[str, str], amount: float, source: str
) -> list[dict[str, str]]:
    """The versions of one price key, oldest first, never overlapping: usually one open
    version; ~10% also an older 2024 version; ~3% a future version from 2027."""
    history = rng.random() < 0.10
    future = rng.random() < 0.03
    rows = []

    def row(value: float, start: str, end: str, reason: str) -> None:
        rows.append(
            key
            | {
                "amount_yuan": _yuan(value),
                "valid_from": start,
                "valid_to": end,
                "source": source,
                "reason": reason,
            }
        )

    current_from = BASE_FROM
    if history:
        row(amount * rng.uniform(0.88, 0.97), HISTORY_FROM, HISTORY_SWITCH, "")
        current_from = HISTORY_SWITCH
    if future:
        row(amount, current_from, FUTURE_SWITCH, "2025年下半年调价" if history else "")
        row(amount * rng.uniform(1.03, 1.10), FUTURE_SWITCH, "", "厂家2027年调价通知")
    else:
        row(amount, current_from, "", "2025年下半年调价" if history else "")
    return rows


def _type_amounts(rng: random.Random, four_s: float, types: tuple[str, ...]) -> dict[str, float]:
    amounts = {"4s": four_s}
    for t in types:
        lo, hi = RATIO[t]
        amounts[t] = four_s * rng.uniform(lo, hi)
    return amounts


def _prices(parts: list[Part]) -> list[dict[str, str]]:
    rng = _rng("prices")
    rows: list[dict[str, str]] = []
    for p in parts:
        series = _series(p.platform.series)
        four_s = rng.uniform(p.tpl.lo, p.tpl.hi) * CLASS_PRICE[series.vehicle_class]
        # Not every part has a market OEM source; reman/salvage only where the template says.
        types = (
            tuple(t for t in CATEGORY_TYPES[p.tpl.cat] if t != "oem" or rng.random() < 0.85)
            + p.tpl.extra
        )
        amounts = _type_amounts(rng, four_s, types)
        for ptype, amount in amounts.items():
            key = {"part_code": p.code, "model_code": "", "scope": "system", "price_type": ptype}
            rows += _price_versions(rng, key, amount, "system")
        # The top trim's headlamp is the LED matrix unit: a model-specific 4S price.
        if p.tpl.key == "hl_asm" and len(series.models) > 1:
            key = {
                "part_code": p.code,
                "model_code": _model_codes(series)[-1],
                "scope": "system",
                "price_type": "4s",
            }
            rows += _price_versions(rng, key, four_s * 1.35, "system")
        # Localized prices for common parts in a few branches/regions, ±5–15% off system.
        if p.tpl.key in LOCAL_TEMPLATES:
            scopes = _rng(f"scopes:{p.platform.code}").sample(LOCAL_SCOPES, 4)
            for scope in scopes:
                for ptype in ("4s", "brand"):
                    if ptype not in amounts or (ptype == "brand" and rng.random() < 0.5):
                        continue
                    shift = rng.uniform(0.05, 0.15) * rng.choice((-1, 1))
                    key = {
                        "part_code": p.code,
                        "model_code": "",
                        "scope": scope,
                        "price_type": ptype,
                    }
                    rows += _price_versions(rng, key, amounts[ptype] * (1 + shift), "staff")
    for i, (_, _, _, lo, hi) in enumerate(CONSUMABLES):
        amounts = _type_amounts(rng, rng.uniform(lo, hi), CATEGORY_TYPES["consumable"])
        for ptype, amount in amounts.items():
            key = {
                "part_code": _consumable_code(i),
                "model_code": "",
                "scope": "system",
                "price_type": ptype,
            }
            rows += _price_versions(rng, key, amount, "system")
    return rows


def _labor_rates() -> list[dict[str, str]]:
    rows = []
    for code, _, _, _, _, _, level in BRANCHES:
        versions = [(1.0, BASE_FROM, "")]
        if code == LABOR_HISTORY_BRANCH:
            versions.insert(0, (0.94, "2024-01-01", BASE_FROM))
        for factor, start, end in versions:
            for kind, base in LABOR_BASE.items():
                for tier, tier_f in SHOP_TIER.items():
                    for vclass in VEHICLE_CLASSES:
                        rate = base * tier_f * CLASS_LABOR[vclass] * level * factor
                        rows.append(
                            {
                                "branch_code": code,
                                "labor_kind": kind,
                                "shop_tier": tier,
                                "vehicle_class": vclass,
                                "rate_yuan": f"{round(rate):.2f}",
                                "valid_from": start,
                                "valid_to": end,
                            }
                        )
    return rows


def _standard_hours(parts: list[Part]) -> list[dict[str, str]]:
    rows = []
    for p in parts:
        tpl = p.tpl
        replace = tpl.rep or DEFAULT_REPLACE_HOURS[tpl.cat]
        # Replacing a part includes taking it off and putting the new one on, and the R&I of
        # the parts mounted on it (see the templates' `incl`).
        ops = [
            (
                "replace",
                REPLACE_KIND[tpl.cat],
                replace,
                "|".join(["remove_refit"] + [f"remove_refit@{c}" for c in p.includes]),
            )
        ]
        if tpl.fix:
            ops.append(("repair", "sheet_metal", tpl.fix, ""))
        if tpl.paint:
            ops.append(("paint", "paint", tpl.paint, ""))
        ops.append(("remove_refit", "remove_refit", max(0.2, replace * 0.6), ""))
        for op, kind, hours, includes in ops:
            for vclass in VEHICLE_CLASSES:
                rows.append(
                    {
                        "part_code": p.code,
                        "operation": op,
                        "vehicle_class": vclass,
                        "labor_kind": kind,
                        "hours": f"{max(0.1, round(hours * CLASS_HOURS[vclass], 1)):.1f}",
                        "includes": includes,
                    }
                )
    return rows


def _rate_cards() -> list[dict[str, str]]:
    rows = []
    empty = dict.fromkeys(COLUMNS["rate_cards"], "")
    for channel, start, end, labor, parts in RATE_CARDS:
        head = empty | {"channel_code": channel, "valid_from": start, "valid_to": end}
        for kind, (how, value) in labor.items():
            line = head | {"line": "labor", "labor_kind": kind}
            if how == "rate":
                line["rate_yuan"] = f"{value:.2f}"
            else:
                line["pct_of_standard"] = str(value)
            rows.append(line)
        for category, (ptype, discount) in parts.items():
            rows.append(
                head
                | {
                    "line": "parts",
                    "category": category,
                    "price_type": ptype,
                    "discount_pct": str(discount),
                }
            )
    return rows


def demo_rows() -> dict[str, list[dict[str, str]]]:
    """kind -> rows, each row a dict of column name -> cell text exactly as in a CSV file of
    docs/import-formats.md. Keys, in import order: regions, branches, price_types, categories,
    models, parts, fitment, prices, labor_rates, standard_hours, channels, rate_cards."""
    parts = _all_parts()
    return {
        "regions": _regions(),
        "branches": _branches(),
        "price_types": [{"code": c, "name": n, "rank": str(r)} for c, n, r in PRICE_TYPES],
        "categories": [{"code": c, "name": n} for c, n in CATEGORIES],
        "models": _models(),
        "parts": _parts(parts),
        "fitment": _fitment(parts),
        "prices": _prices(parts),
        "labor_rates": _labor_rates(),
        "standard_hours": _standard_hours(parts),
        "channels": [
            {"code": c, "name": n, "kind": k, "branch_code": b} for c, n, k, b in CHANNELS
        ],
        "rate_cards": _rate_cards(),
    }
