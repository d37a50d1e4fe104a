"""The demo catalogue: shape, size and consistency of its import rows (docs/import-formats.md)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from itertools import pairwise

import pytest

from pricebook.demo import SYNONYM_GROUPS, demo_rows

IMPORT_ORDER = [
    "regions", "branches", "price_types", "categories", "models", "parts", "fitment", "prices",
    "labor_rates", "standard_hours", "channels", "rate_cards",
]  # fmt: skip

# The contract's required columns per kind, and the optional ones it names.
REQUIRED = {
    "regions": {"code", "name", "level", "parent_code"},
    "branches": {"code", "name", "region_code", "kind", "authority_limit_yuan"},
    "price_types": {"code", "name", "rank"},
    "categories": {"code", "name"},
    "models": {
        "model_code", "brand_code", "brand_name", "series_code", "series_name", "name",
        "model_year", "body", "engine", "vehicle_class",
    },
    "parts": {"part_code", "name", "aliases", "category", "oe_number"},
    "fitment": {"part_code", "model_code"},
    "prices": {
        "part_code", "model_code", "scope", "price_type", "amount_yuan", "valid_from", "valid_to",
    },
    "labor_rates": {
        "branch_code", "labor_kind", "shop_tier", "vehicle_class", "rate_yuan", "valid_from",
        "valid_to",
    },
    "standard_hours": {"part_code", "operation", "vehicle_class", "labor_kind", "hours"},
    "channels": {"code", "name", "kind"},
    "rate_cards": {
        "channel_code", "valid_from", "valid_to", "line", "labor_kind", "rate_yuan",
        "pct_of_standard", "category", "price_type", "discount_pct",
    },
}  # fmt: skip
OPTIONAL = {
    "branches": {"parent_code"},
    "models": {"price_band", "manufacturer_code", "brand_country", "vin_prefixes"},
    "parts": {"position", "unit", "is_assembly", "components", "superseded_oe", "universal"},
    "prices": {"source", "reason"},
    "standard_hours": {"includes"},
    "channels": {"branch_code"},
}

MONEY = re.compile(r"^\d+\.\d{2}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict[str, str]]]:
    return demo_rows()


def _day(text: str) -> date:
    return date.fromisoformat(text)


def test_kinds_in_import_order(rows):
    assert list(rows) == IMPORT_ORDER
    assert all(rows[kind] for kind in IMPORT_ORDER)


def test_deterministic(rows):
    assert demo_rows() == rows


def test_every_row_has_the_contract_columns_as_strings(rows):
    for kind, kind_rows in rows.items():
        columns = set(kind_rows[0])
        assert REQUIRED[kind] <= columns, kind
        assert columns <= REQUIRED[kind] | OPTIONAL.get(kind, set()), kind
        for row in kind_rows:
            assert set(row) == columns, (kind, row)
            assert all(isinstance(v, str) for v in row.values()), (kind, row)
            assert all(v == v.strip() for v in row.values()), (kind, row)


def test_money_and_dates_are_formatted(rows):
    money = [
        ("branches", "authority_limit_yuan"),
        ("prices", "amount_yuan"),
        ("labor_rates", "rate_yuan"),
        ("rate_cards", "rate_yuan"),
    ]
    for kind, column in money:
        for row in rows[kind]:
            if row[column]:
                assert MONEY.match(row[column]), (kind, row)
                assert float(row[column]) > 0
    for kind in ("prices", "labor_rates", "rate_cards"):
        for row in rows[kind]:
            assert DAY.match(row["valid_from"]), row
            assert row["valid_to"] == "" or _day(row["valid_to"]) > _day(row["valid_from"])


def test_regions_and_branches(rows):
    regions = {r["code"]: r for r in rows["regions"]}
    assert regions["CN"]["level"] == "country" and regions["CN"]["parent_code"] == ""
    provinces = [r for r in regions.values() if r["level"] == "province"]
    cities = [r for r in regions.values() if r["level"] == "city"]
    assert len(provinces) >= 6 and len(cities) >= 10
    assert regions["440300"]["name"] == "深圳市" and regions["440300"]["parent_code"] == "440000"
    for r in cities:
        assert regions[r["parent_code"]]["level"] == "province"
        assert r["code"][:2] == r["parent_code"][:2]

    branches = {b["code"]: b for b in rows["branches"]}
    assert len(branches) >= 10
    for b in branches.values():
        assert b["region_code"] in regions
        limit = float(b["authority_limit_yuan"])
        if b["kind"] == "branch":
            assert b["parent_code"] == "" and 50000 <= limit <= 200000
        else:
            assert b["kind"] == "sub_branch"
            assert branches[b["parent_code"]]["kind"] == "branch"
            assert 20000 <= limit <= 50000
            assert (
                regions[b["region_code"]]["parent_code"]
                == branches[b["parent_code"]]["region_code"]
            )


def test_price_types_and_categories_are_the_built_ins(rows):
    assert {(r["code"], r["rank"]) for r in rows["price_types"]} == {
        ("4s", "50"), ("oem", "40"), ("brand", "30"), ("compatible", "20"), ("reman", "15"),
        ("salvage", "10"),
    }  # fmt: skip
    assert {r["code"] for r in rows["categories"]} == {
        "body", "lamp", "glass", "mechanical", "electrical", "interior", "chassis", "consumable",
    }  # fmt: skip


def test_models(rows):
    models = rows["models"]
    assert len({m["brand_code"] for m in models}) >= 20
    assert len(models) >= 60
    assert len({m["model_code"] for m in models}) == len(models)
    prefixes = [p for m in models for p in m["vin_prefixes"].split("|")]
    assert len(prefixes) == len(set(prefixes)), "a VIN prefix names one model"
    for m in models:
        assert m["vehicle_class"] in "ABCDE" and len(m["vehicle_class"]) == 1
        assert m["body"] in {"三厢", "两厢", "SUV", "MPV"}
        assert m["name"].startswith(f"{m['model_year']}款 ")
        assert all(len(p) == 8 and not set(p) & set("IOQ") for p in m["vin_prefixes"].split("|"))
    brands = {m["brand_name"] for m in models}
    assert {"大众", "丰田", "本田", "比亚迪", "吉利", "特斯拉", "宝马", "奔驰"} <= brands


def test_parts_counts_and_conventions(rows):
    parts = rows["parts"]
    assert len(parts) >= 400
    assert len({p["part_code"] for p in parts}) == len(parts)
    names = {p["name"] for p in parts}
    assert {"左前翼子板", "前叶子板（左）", "倒车镜总成（右）", "右后视镜总成"} <= names
    assert {"后保险杠支架（左上）", "尾灯（外右）", "尾灯（内左）", "引擎盖", "中网"} <= names
    assert {"发动机盖", "进气格栅"} <= names
    universal = [p for p in parts if p["universal"] == "1"]
    assert len(universal) >= 15
    assert all(p["category"] == "consumable" for p in universal)
    superseded = [p for p in parts if p["superseded_oe"]]
    assert len(superseded) >= 15


def test_oe_numbers_unique(rows):
    numbers = [p["oe_number"] for p in rows["parts"] if p["oe_number"]]
    numbers += [o for p in rows["parts"] for o in p["superseded_oe"].split("|") if o]
    normalized = [re.sub(r"[\s.\-]", "", n).upper() for n in numbers]
    assert len(normalized) == len(set(normalized))


def test_aliases_never_name_the_opposite_side(rows):
    for p in rows["parts"]:
        aliases = [a for a in p["aliases"].split("|") if a]
        assert p["name"] not in aliases
        assert len(aliases) == len(set(aliases))
        for mine, other in (("左", "右"), ("右", "左"), ("上", "下"), ("下", "上")):
            if mine in p["position"]:
                assert not any(other in a for a in aliases), p
        if p["universal"] != "1":
            assert len(aliases) >= 2, p


def test_components_are_parts_of_the_same_platform(rows):
    by_code = {p["part_code"]: p for p in rows["parts"]}
    assemblies = [p for p in rows["parts"] if p["is_assembly"] == "1"]
    assert len(assemblies) >= 10
    for p in rows["parts"]:
        if p["components"]:
            assert p["is_assembly"] == "1"
        for item in p["components"].split("|") if p["components"] else []:
            code, _, qty = item.partition("*")
            assert code in by_code and code != p["part_code"], item
            assert code.split("-")[0] == p["part_code"].split("-")[0], item
            assert qty == "" or qty.isdigit()
    names = {p["name"]: p for p in assemblies}
    headlamp = names["前大灯总成（左）"]
    component_names = {
        by_code[c.partition("*")[0]]["name"] for c in headlamp["components"].split("|")
    }
    assert {"大灯灯泡", "大灯支架（左）", "大灯灯罩（左）"} <= component_names


def test_fitment(rows):
    parts = {p["part_code"]: p for p in rows["parts"]}
    models = {m["model_code"] for m in rows["models"]}
    fitted = defaultdict(set)
    for f in rows["fitment"]:
        assert f["part_code"] in parts and f["model_code"] in models
        fitted[f["part_code"]].add(f["model_code"])
    platforms = {code.split("-")[0] for code in fitted}
    assert len(platforms) >= 6
    for code, p in parts.items():
        assert (p["universal"] == "1") == (code not in fitted), code


def test_prices(rows):
    parts = {p["part_code"]: p for p in rows["parts"]}
    branches = {b["code"] for b in rows["branches"]}
    regions = {r["code"] for r in rows["regions"]}
    types = {t["code"] for t in rows["price_types"]}
    versions = defaultdict(list)
    for r in rows["prices"]:
        assert r["part_code"] in parts
        assert r["scope"] == "system" or r["scope"] in branches | regions
        assert r["price_type"] in types
        versions[(r["part_code"], r["model_code"], r["scope"], r["price_type"])].append(r)

    assert {key[3] for key in versions} == types, "all six price types used"
    for code in parts:
        assert (code, "", "system", "4s") in versions, code
    assert any(key[2] != "system" for key in versions), "localized prices"
    assert any(key[1] for key in versions), "model-specific prices"

    # Never two versions of one key in force on the same day.
    for key, vs in versions.items():
        spans = sorted((_day(v["valid_from"]), v["valid_to"]) for v in vs)
        for (_, end), (next_start, _) in pairwise(spans):
            assert end and _day(end) <= next_start, key
    future = [r for r in rows["prices"] if _day(r["valid_from"]) > date(2026, 12, 31)]
    history = [
        r for r in rows["prices"] if r["valid_to"] and _day(r["valid_to"]) < date(2026, 1, 1)
    ]
    assert future and history


def test_price_ratios(rows):
    system = {
        (r["part_code"], r["price_type"]): float(r["amount_yuan"])
        for r in rows["prices"]
        if r["scope"] == "system" and not r["model_code"] and not r["valid_to"]
    }
    for (code, ptype), amount in system.items():
        four_s = system.get((code, "4s"))
        if four_s is None or ptype == "4s":
            continue
        assert amount < four_s, (code, ptype)
        if ptype == "brand":
            assert 0.5 <= amount / four_s <= 0.8, (code, amount, four_s)
        if ptype == "compatible":
            assert 0.35 <= amount / four_s <= 0.6, (code, amount, four_s)
    names = {p["part_code"]: p["name"] for p in rows["parts"]}
    bumpers = [a for (c, t), a in system.items() if t == "4s" and names[c] == "前保险杠皮"]
    assert bumpers and all(800 <= a <= 6000 for a in bumpers)


def test_labor_rates(rows):
    branches = {b["code"] for b in rows["branches"]}
    current = {
        (r["branch_code"], r["labor_kind"], r["shop_tier"], r["vehicle_class"])
        for r in rows["labor_rates"]
        if not r["valid_to"]
    }
    kinds = {"sheet_metal", "paint", "mechanical", "electrical", "remove_refit"}
    tiers = {"4s", "class1", "class2", "class3"}
    assert current == {
        (b, k, t, c) for b in branches for k in kinds for t in tiers for c in "ABCDE"
    }
    assert any(r["valid_to"] for r in rows["labor_rates"]), "an older version"
    rate = {
        (r["branch_code"], r["labor_kind"], r["shop_tier"], r["vehicle_class"]): float(
            r["rate_yuan"]
        )
        for r in rows["labor_rates"]
        if not r["valid_to"]
    }
    assert rate[("BJ01", "paint", "4s", "C")] > rate[("SC01", "paint", "4s", "C")]
    assert rate[("SC01", "sheet_metal", "4s", "C")] > rate[("SC01", "sheet_metal", "class3", "C")]


def test_standard_hours(rows):
    parts = {p["part_code"]: p for p in rows["parts"]}
    ops = defaultdict(set)
    for h in rows["standard_hours"]:
        assert h["part_code"] in parts
        assert h["operation"] in {"replace", "repair", "paint", "remove_refit"}
        assert float(h["hours"]) > 0
        ops[h["part_code"]].add(h["operation"])
    for h in rows["standard_hours"]:
        for inc in h["includes"].split("|") if h["includes"] else []:
            op, _, other = inc.partition("@")
            assert op in ops[other or h["part_code"]], inc
            assert not other or other.split("-")[0] == h["part_code"].split("-")[0]
    replace = [h for h in rows["standard_hours"] if h["operation"] == "replace"]
    assert all(h["includes"].split("|")[0] == "remove_refit" for h in replace)
    assert any("@" in h["includes"] for h in replace)
    # Hours grow with the vehicle class.
    by_class = defaultdict(dict)
    for h in rows["standard_hours"]:
        by_class[(h["part_code"], h["operation"])][h["vehicle_class"]] = float(h["hours"])
    for hours in by_class.values():
        assert hours["A"] <= hours["C"] <= hours["E"]


def test_channels_and_rate_cards(rows):
    channels = {c["code"]: c for c in rows["channels"]}
    assert len(channels) >= 3
    assert {"repair_shop", "dealer_group", "parts_platform"} <= {
        c["kind"] for c in channels.values()
    }
    cards = defaultdict(set)
    for line in rows["rate_cards"]:
        assert line["channel_code"] in channels
        cards[line["channel_code"]].add((line["valid_from"], line["valid_to"]))
        if line["line"] == "labor":
            assert bool(line["rate_yuan"]) != bool(line["pct_of_standard"]), line
        else:
            assert line["line"] == "parts" and line["category"] and line["price_type"]
            assert line["discount_pct"]
    assert any(len(spans) >= 2 for spans in cards.values()), "a channel with card history"
    for spans in cards.values():
        ordered = sorted(spans)
        for (_, end), (start, _) in pairwise(ordered):
            assert end == start


def test_synonym_groups():
    assert len(SYNONYM_GROUPS) >= 25
    assert ["翼子板", "叶子板"] in SYNONYM_GROUPS
    for group in SYNONYM_GROUPS:
        assert len(group) >= 2 and len(set(group)) == len(group)
