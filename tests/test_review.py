"""The review rules, pure: every rule with a worked example in numbers, composition, deadlines
(weekends, holidays, make-up working days), authority and escalation."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from msgspec.structs import replace

from pricebook import review as r
from pricebook.prices import CardTerms, PriceTypeInfo, PriceVersion, ScopeStep

PT = {
    1: PriceTypeInfo(1, "4s", "4S店价/原厂件", 50),
    2: PriceTypeInfo(2, "oem", "市场原厂件", 40),
    3: PriceTypeInfo(3, "brand", "品牌件", 30),
}
CHAIN = (
    ScopeStep("branch", "branch", 10, "SZ01", 0),
    ScopeStep("parent_branch", "branch", 11, "GD01", 1),
    ScopeStep("region", "region", 100, "440300", 0),
    ScopeStep("system", "system", None, "system"),
)
FENDER = r.PartInfo(1, "VW1-0018", "左前翼子板", 1, "body")
HEADLAMP = r.PartInfo(2, "VW1-0024", "左前照灯总成", 2, "lamp", is_assembly=True)
BULB = r.PartInfo(3, "VW1-0026", "前照灯灯泡", 2, "lamp")
LENS = r.PartInfo(4, "VW1-0029", "左前照灯灯罩", 2, "lamp")
BRACKET = r.PartInfo(5, "VW1-0027", "左前照灯支架", 2, "lamp")
BUMPER = r.PartInfo(6, "VW1-0002", "前保险杠皮", 1, "body")
FOG = r.PartInfo(7, "VW1-0007", "左前雾灯", 2, "lamp")
GLASS = r.PartInfo(8, "VW1-0040", "前挡风玻璃", 3, "glass")
PARTS = {p.id: p for p in (FENDER, HEADLAMP, BULB, LENS, BRACKET, BUMPER, FOG, GLASS)}
SZ01 = r.BranchInfo(10, "SZ01", "深圳中心支公司", D("50000.00"), "GD01")
SUBMITTED = datetime(2025, 9, 12, 10, 0, tzinfo=r.CHINA)  # a Friday
_ids = iter(range(1, 10_000))


def price(part: r.PartInfo, amount: str, type_id: int = 1, scope: str = "system",
          target: int | None = None, model_id: int | None = None) -> PriceVersion:  # fmt: skip
    return PriceVersion(
        id=next(_ids), part_id=part.id, model_id=model_id, scope=scope,
        region_id=target if scope == "region" else None,
        branch_id=target if scope == "branch" else None, price_type_id=type_id,
        amount=D(amount), valid_from=date(2025, 1, 1), valid_to=None, source="staff",
        source_ref="", created_by="pricing", reason="",
    )  # fmt: skip


PRICES = [
    price(FENDER, "1200.00"),  # system 4s
    price(FENDER, "1050.00", scope="branch", target=10),  # SZ01 localized 4s
    price(FENDER, "700.00", type_id=3),  # system brand
    price(HEADLAMP, "2800.00"),
    price(BULB, "150.00"),
    price(LENS, "500.00"),
    price(BRACKET, "120.00", type_id=3),  # the bracket only has a brand price
    price(BUMPER, "1500.00"),
    price(FOG, "300.00"),
    price(GLASS, "2000.00"),
    price(GLASS, "900.00", type_id=3),
]


def refs(**kw) -> r.Refs:
    versions: dict[int, list[PriceVersion]] = {}
    for v in kw.pop("prices", PRICES):
        versions.setdefault(v.part_id, []).append(v)
    base = dict(
        branch=SZ01,
        profile=r.RuleProfile("SZ01", 3, "SZ01", r.ProfileSettings()),
        parts=PARTS,
        price_versions={k: tuple(v) for k, v in versions.items()},
        chain=CHAIN,
        price_types=PT,
        components={HEADLAMP.id: (r.Component(BULB.id, 2), r.Component(LENS.id, 1),
                                  r.Component(BRACKET.id, 1))},
        labor_kinds={"sheet_metal": "钣金", "paint": "喷漆", "remove_refit": "拆装"},
        labor_rates={
            "sheet_metal": r.LaborRateRef("sheet_metal", D("91.00"), D("91.00"), "branch SZ01 standard rate", "SZ01", 107),
            "remove_refit": r.LaborRateRef("remove_refit", D("72.00"), D("72.00"), "branch SZ01 standard rate", "SZ01", 187),
        },
    )  # fmt: skip
    base.update(kw)
    return r.Refs(**base)


def estimate(*lines: r.Line, **kw) -> r.Estimate:
    base = dict(
        id="E-1", version=1, date=date(2025, 9, 10), submitted_at=SUBMITTED, branch="SZ01",
        vehicle=r.Vehicle(model_id=None, brand="大众", model="朗逸", vin="LSVAB4BR5PN000001"),
        shop=r.Shop("4s"), policy=r.Policy(), lines=lines,
    )  # fmt: skip
    base.update(kw)
    return r.Estimate(**base)


def part(index: int = 0, p: r.PartInfo = FENDER, unit: str = "1280.00", qty: str = "1", **kw) -> r.PartLine:  # fmt: skip
    return r.PartLine(index=index, quantity=D(qty), claimed_unit_price=D(unit), part_id=p.id, **kw)


def labor(index: int, p: r.PartInfo | None, op: str, kind: str, hours: str, rate: str, **kw) -> r.LaborLine:  # fmt: skip
    return r.LaborLine(index, op, kind, D(hours), D(rate), part_id=p.id if p else None, **kw)


def one(result: r.Result, index: int = 0) -> r.LineResult:
    return result.lines[index]


def codes(line: r.LineResult) -> list[str]:
    return [f.code for f in line.flags]


def check_cuts_add_up(result: r.Result) -> None:
    for line in result.lines:
        assert sum((f.cut for f in line.flags), D(0)) == line.cut == line.claimed - line.allowed
    assert result.totals.cut == sum((line.cut for line in result.lines), D(0))


# ------------------------------------------------------------------------------------------------
# Part rules
# ------------------------------------------------------------------------------------------------


def test_price_above_reference_sz01_localized():
    """claimed 1,280.00, reference 1,050.00 (SZ01 localized), tolerance 5% → allowed 1,102.50,
    cut 177.50."""
    line = one(r.review(estimate(part(price_type="4s")), refs()))
    assert line.status == "flagged" and codes(line) == ["PART_PRICE_ABOVE_REFERENCE"]
    flag = line.flags[0]
    assert (flag.claimed, flag.allowed, flag.cut) == (D("1280.00"), D("1102.50"), D("177.50"))
    assert flag.reference.value == D("1050.00")
    assert flag.reference.provenance["layer"] == "branch"
    assert flag.reference.provenance["scope"] == "SZ01"
    assert "SZ01 localized" in flag.message_en and "本地化价格 SZ01" in flag.message_zh
    assert flag.severity == "warning"


def test_price_above_reference_quantity_and_within_tolerance():
    # 2 × 1,280.00 = 2,560.00 → 2 × 1,102.50 = 2,205.00, cut 355.00
    line = one(r.review(estimate(part(qty="2")), refs()))
    assert (line.claimed, line.allowed, line.cut) == (D("2560.00"), D("2205.00"), D("355.00"))
    # 1,102.50 is exactly the limit: not above it
    assert one(r.review(estimate(part(unit="1102.50")), refs())).status == "ok"


def test_price_tolerance_per_category_from_the_profile():
    # glass at 0%: claimed 2,050.00 vs 2,000.00 → allowed 2,000.00, cut 50.00
    settings = r.ProfileSettings(price_tolerance_by_category={"glass": D("0")})
    profile = r.RuleProfile("SZ01", 4, "SZ01", settings)
    line = one(r.review(estimate(part(p=GLASS, unit="2050.00")), refs(profile=profile)))
    assert (line.allowed, line.cut) == (D("2000.00"), D("50.00"))
    assert line.flags[0].details["tolerance_pct"] == D("0")


def test_rounding_is_half_up_to_the_fen():
    # 10.10 × 1.05 = 10.605 → 10.61 (half up; banker's rounding would give 10.60)
    prices = [price(FENDER, "10.10", scope="branch", target=10)]
    line = one(r.review(estimate(part(unit="20.00")), refs(prices=prices)))
    assert line.allowed == D("10.61")
    # 999.99 × 1.05 = 1,049.9895 → 1,049.99
    prices = [price(FENDER, "999.99", scope="branch", target=10)]
    assert one(r.review(estimate(part()), refs(prices=prices))).allowed == D("1049.99")


def test_part_no_reference():
    line = one(r.review(estimate(part(p=FENDER)), refs(prices=[])))
    assert codes(line) == ["PART_NO_REFERENCE"]
    assert line.cut == 0 and line.status == "flagged"


def test_unknown_part_id_is_flagged_unchecked_not_an_error():
    """Part id 424242 (not in the catalogue), 2 × 10.00 = 20.00: nothing to check it against,
    so nothing is cut (allowed 20.00, cut 0.00), but the line is not silently allowed in full:
    status unknown and an UNCHECKED flag naming the part id, in zh and en."""
    line = r.PartLine(index=0, quantity=D(2), claimed_unit_price=D("10.00"), part_id=424242)
    result = r.review(estimate(line), refs())
    out = one(result)
    assert (out.status, out.claimed, out.allowed, out.cut) == ("unknown", D("20.00"), D("20.00"), D("0.00"))  # fmt: skip
    assert (out.index, out.line_no) == (0, 1)
    (flag,) = out.flags
    assert (flag.code, flag.severity, flag.allowed, flag.cut) == ("UNCHECKED", "warning", D("20.00"), D("0.00"))  # fmt: skip
    assert flag.details == {"reason": "unknown_part_id", "value": 424242}
    assert "424242" in flag.message_zh and "人工核定" in flag.message_zh
    assert "part id 424242 is not in the catalogue" in flag.message_en
    assert result.counts == {"UNCHECKED": 1} and result.totals.allowed == D("20.00")


def test_labor_on_an_unknown_part_id_is_unchecked_but_its_rate_is_checked():
    """Labor on part 424242: 2.00 h × 100.00 = 200.00; the hours cannot be checked (UNCHECKED),
    the rate can: sheet metal standard 91.00 → allowed 182.00, cut 18.00."""
    out = one(r.review(estimate(r.LaborLine(0, "repair", "sheet_metal", D(2), D("100.00"), part_id=424242)), refs()))  # fmt: skip
    assert codes(out) == ["LABOR_RATE_ABOVE_STANDARD", "UNCHECKED"] and out.status == "unknown"
    assert (out.allowed, out.cut) == (D("182.00"), D("18.00"))
    assert out.flags[1].details["reason"] == "unknown_part_id"


def test_assumed_defaults_are_noted():
    """A shop tier left out is assumed class2 (brand parts at most, profile default) and said
    so in `notes`, zh and en; a vehicle typed by hand without a class, the profile's class B;
    a missing submitted_at, the request's arrival."""
    est = estimate(part(), shop=r.Shop("class2"), defaults=("shop.tier", "submitted_at"))
    notes = {n.field: n for n in r.review(est, refs()).notes}
    assert set(notes) == {"shop.tier", "vehicle.vehicle_class", "submitted_at"}
    tier = notes["shop.tier"]
    assert tier.code == "DEFAULT_APPLIED" and tier.details == {"assumed": "class2", "max_price_type": "brand"}  # fmt: skip
    assert "二类修理厂" in tier.message_zh and "assumed class2" in tier.message_en
    assert notes["vehicle.vehicle_class"].details == {"assumed": "B"}
    assert "2025-09-12T10:00:00+08:00" in notes["submitted_at"].message_en
    # given: nothing assumed
    given = estimate(part(), vehicle=r.Vehicle(brand="大众", model="朗逸", vehicle_class="B"))
    assert r.review(given, refs()).notes == ()


def test_custom_part_matched_is_priced_as_the_catalogue_part():
    line = r.PartLine(index=0, quantity=D(1), claimed_unit_price=D("1280.00"), custom_name="左前叶子板")  # fmt: skip
    cand = r.MatchCandidate(FENDER.id, FENDER.code, FENDER.name, 97.0, 0.97)
    match = r.MatchInfo("左前叶子板", "matched", "alias_exact", FENDER.id, (cand,))
    out = one(r.review(estimate(line), refs(matches={0: match})))
    assert codes(out) == ["CUSTOM_PART", "PART_PRICE_ABOVE_REFERENCE"]
    assert out.flags[0].severity == "info" and out.part.matched_by == "custom_name"
    assert out.match == match and out.cut == D("177.50")
    result = r.review(estimate(line), refs(matches={0: match}))
    assert result.indicators.custom_part_lines == 1 and result.indicators.custom_matched == 1


def test_custom_part_unmatched_and_suggested_are_warnings():
    line = r.PartLine(index=0, quantity=D(1), claimed_unit_price=D("99.00"), custom_name="神秘零件")
    out = one(r.review(estimate(line), refs()))
    assert codes(out) == ["CUSTOM_PART"] and out.flags[0].severity == "warning"
    assert out.status == "flagged" and out.allowed == D("99.00")
    cand = r.MatchCandidate(FENDER.id, FENDER.code, FENDER.name, 70.0, 0.6)
    match = r.MatchInfo("叶子板", "suggested", "fuzzy", None, (cand,))
    out = one(r.review(estimate(replace(line, custom_name="叶子板")), refs(matches={0: match})))
    assert "VW1-0018" in out.flags[0].message_en and out.part is None


def test_part_not_fitted():
    vehicle = r.VehicleInfo(1, "VW-LAVIDA-23A", "2023款 1.5L", 1, "大众", "B")
    out = one(r.review(estimate(part()), refs(vehicle=vehicle, fitted={FENDER.id: False})))
    assert codes(out) == ["PART_NOT_FITTED"]  # the price flag is moot on an excluded line
    assert (out.allowed, out.cut, out.flags[0].severity) == (D("0.00"), D("1280.00"), "error")


def test_spec_above_original():
    """A class2 shop may claim brand: 4S claimed at 1,280.00, brand reference 700.00 + 5% →
    allowed 735.00, cut 545.00."""
    est = estimate(part(price_type="4s"), shop=r.Shop("class2"))
    out = one(r.review(est, refs()))
    assert codes(out) == ["SPEC_ABOVE_ORIGINAL"]
    assert (out.allowed, out.cut) == (D("735.00"), D("545.00"))
    assert out.flags[0].details["allowed_type"] == "brand"
    # the policy allows 4S/专修厂: 4S is within what is allowed (reference: SZ01 1,050.00)
    est = replace(est, policy=r.Policy(four_s_allowed=True))
    assert codes(one(r.review(est, refs()))) == ["PART_PRICE_ABOVE_REFERENCE"]


def test_spec_above_original_glass_agreement():
    # 国产玻璃 agreement: imported (4s) glass claimed at 2,000.00 → brand 900.00 + 5% = 945.00
    est = estimate(part(p=GLASS, unit="2000.00", price_type="4s"),
                   policy=r.Policy(four_s_allowed=True, glass="domestic"))  # fmt: skip
    out = one(r.review(est, refs()))
    assert codes(out) == ["SPEC_ABOVE_ORIGINAL"] and out.allowed == D("945.00")
    assert "glass_domestic" in out.flags[0].message_en


def test_channel_card_is_the_reference():
    # channel card: body at brand less 12.5% → 700.00 × 0.875 = 612.50; a 4S claim is above it
    card = CardTerms("CH-SHOP1", 5, FENDER.category_id, 3, 1250, date(2025, 1, 1), None, "x", "")
    est = estimate(part(unit="700.00", price_type="brand"), shop=r.Shop("class1", "CH-SHOP1"))
    out = one(r.review(est, refs(card_parts={FENDER.category_id: card})))
    assert out.flags[0].reference.provenance["layer"] == "channel"
    # 612.50 × 1.05 = 643.13 (643.125 half up)
    assert (out.allowed, out.cut) == (D("643.13"), D("56.87"))


def test_repair_cost_ge_replace():
    """Repair 1,200.00 ≥ replacement 1,050.00 (SZ01 localized) → replace: allowed 1,050.00,
    cut 150.00."""
    line = r.PartLine(index=0, quantity=D(1), part_id=FENDER.id, action="repair", repair_cost=D("1200.00"))  # fmt: skip
    out = one(r.review(estimate(line), refs()))
    assert codes(out) == ["REPAIR_COST_GE_REPLACE"]
    assert (out.claimed, out.allowed, out.cut) == (D("1200.00"), D("1050.00"), D("150.00"))
    # equal: still "replace instead", nothing to cut
    out = one(r.review(estimate(replace(line, repair_cost=D("1050.00"))), refs()))
    assert codes(out) == ["REPAIR_COST_GE_REPLACE"] and out.cut == 0
    assert one(r.review(estimate(replace(line, repair_cost=D("800.00"))), refs())).status == "ok"


def test_assembly_where_components_available_composes_with_the_price_rule():
    """Headlamp assembly claimed 3,000.00 (reference 2,800.00 → limit 2,940.00); components
    bulb 2 × 150.00 + lens 500.00 + bracket 120.00 (brand: its only price) = 920.00 → allowed
    920.00, cut 2,080.00 — all of it by the assembly rule, which runs first; the price rule
    still says the claim is above its reference, with cut 0."""
    out = one(r.review(estimate(part(p=HEADLAMP, unit="3000.00")), refs()))
    assert codes(out) == ["ASSEMBLY_WHERE_COMPONENT_AVAILABLE", "PART_PRICE_ABOVE_REFERENCE"]
    assembly, price_flag = out.flags
    assert (assembly.allowed, assembly.cut) == (D("920.00"), D("2080.00"))
    assert (price_flag.allowed, price_flag.cut) == (D("920.00"), D("0.00"))
    assert [c["amount"] for c in assembly.details["components"]] == [D("300.00"), D("500.00"), D("120.00")]  # fmt: skip
    assert out.cut == D("2080.00")


def test_assembly_not_flagged_when_a_component_is_not_sold():
    prices = [p for p in PRICES if p.part_id != LENS.id]
    out = one(r.review(estimate(part(p=HEADLAMP, unit="2900.00")), refs(prices=prices)))
    assert out.status == "ok"


def headlamp(qty: str = "1", *names: r.ComponentName, unit: str = "3000.00") -> r.PartLine:
    return part(p=HEADLAMP, unit=unit, qty=qty, damaged_components=names)


def test_assembly_damaged_component_named_allows_only_its_price():
    """Headlamp assembly claimed 3,000.00; the line names the damaged lens (500.00) → allowed
    500.00, cut 2,500.00 (all components would allow 920.00). The flag names the lens."""
    out = one(r.review(estimate(headlamp("1", r.ComponentName(LENS.id))), refs()))
    assert codes(out) == ["ASSEMBLY_WHERE_COMPONENT_AVAILABLE", "PART_PRICE_ABOVE_REFERENCE"]
    flag = out.flags[0]
    assert (flag.allowed, flag.cut, out.cut) == (D("500.00"), D("2500.00"), D("2500.00"))
    assert flag.details["basis"] == "damaged_components"
    assert flag.details["damaged_components"] == [LENS.id]
    assert [c["name"] for c in flag.details["components"]] == ["左前照灯灯罩"]
    assert "受损部件为 左前照灯灯罩×1 500.00" in flag.message_zh
    assert "damaged component(s): 左前照灯灯罩 ×1 500.00 (total 500.00)" in flag.message_en
    assert flag.reference.value == D("500.00")


def test_assembly_damaged_components_by_id_and_oe_times_quantities():
    """2 headlamps, damaged: the bulbs (2 a headlamp × 150.00 = 300.00, named by part id) and the
    lens (500.00, named by OE number, and again by id: counted once) → (300.00 + 500.00) × 2 =
    1,600.00; claimed 2 × 3,000.00 = 6,000.00 → cut 4,400.00. The price rule's own limit
    (2 × 2,940.00 = 5,880.00) is above that: its cut is 0."""
    line = headlamp("2", r.ComponentName(BULB.id), r.ComponentName(oe_number="5G0 941 029"),
                    r.ComponentName(LENS.id))  # fmt: skip
    result = r.review(estimate(line), refs(oe_parts={"5G0941029": LENS.id}))
    out = one(result)
    assembly, price_flag = out.flags
    assert (out.claimed, out.allowed, out.cut) == (D("6000.00"), D("1600.00"), D("4400.00"))
    assert [(c["name"], c["quantity"], c["amount"]) for c in assembly.details["components"]] == [
        ("前照灯灯泡", 2, D("300.00")), ("左前照灯灯罩", 1, D("500.00"))]  # fmt: skip
    assert (price_flag.code, price_flag.cut) == ("PART_PRICE_ABOVE_REFERENCE", D("0.00"))
    check_cuts_add_up(result)


def test_assembly_damaged_component_oe_prefers_the_assemblys_own_component():
    # the OE number is also on another catalogue part: the component of this assembly wins
    bulb = replace(BULB, oe_normalized="N10518202")
    parts = {**PARTS, BULB.id: bulb}
    line = headlamp("1", r.ComponentName(oe_number="N 105 182 02"))
    out = one(r.review(estimate(line), refs(parts=parts, oe_parts={"N10518202": FENDER.id})))
    assert (out.allowed, out.flags[0].details["damaged_components"]) == (D("300.00"), [BULB.id])


def test_assembly_damaged_component_sold_separately_even_if_another_is_not():
    """The lens is not sold separately, so without names the assembly stands (claimed 3,000.00
    vs 2,800.00 + 5%: cut 60.00 by price only). Named: the bulbs are damaged and sold →
    allowed 2 × 150.00 = 300.00, cut 2,700.00; the lens named damaged → the assembly stands."""
    prices = [p for p in PRICES if p.part_id != LENS.id]
    out = one(r.review(estimate(headlamp()), refs(prices=prices)))
    assert codes(out) == ["PART_PRICE_ABOVE_REFERENCE"] and out.cut == D("60.00")
    out = one(r.review(estimate(headlamp("1", r.ComponentName(BULB.id))), refs(prices=prices)))
    assert codes(out)[0] == "ASSEMBLY_WHERE_COMPONENT_AVAILABLE"
    assert (out.allowed, out.cut) == (D("300.00"), D("2700.00"))
    out = one(r.review(estimate(headlamp("1", r.ComponentName(LENS.id))), refs(prices=prices)))
    assert codes(out) == ["PART_PRICE_ABOVE_REFERENCE"] and out.cut == D("60.00")


def test_assembly_damaged_component_unknown_falls_back_to_all_components():
    """A damaged component the catalogue does not have (id 424242) is not an error, like an
    unknown part id on a line: the service cannot tell which component it is, so the assembly
    is allowed all its components (920.00, cut 2,080.00, as without names), and says so."""
    line = headlamp("1", r.ComponentName(LENS.id), r.ComponentName(424242))
    result = r.review(estimate(line), refs())
    out = one(result)
    flag = out.flags[0]
    assert (out.allowed, out.cut, out.status) == (D("920.00"), D("2080.00"), "flagged")
    assert flag.details["basis"] == "all_components"
    assert flag.details["unresolved_damaged_components"] == ["#424242"]
    assert "#424242" in flag.message_zh and "#424242" in flag.message_en
    (note,) = [n for n in result.notes if n.code == "DAMAGED_COMPONENT_UNKNOWN"]
    assert (note.index, note.line_no, note.field) == (0, 1, "lines[0].damaged_components[1]")
    assert note.message_en == "line 1: damaged_components[1] '#424242' is not in the catalogue: the assembly rule allows all the components."  # fmt: skip
    assert note.message_zh.startswith("第 1 行 damaged_components[1] #424242 不在目录中")


def test_damaged_components_resolution():
    line = headlamp("1", r.ComponentName(BULB.id), r.ComponentName(FENDER.id),
                    r.ComponentName(oe_number="NOPE-1"), r.ComponentName(BULB.id))  # fmt: skip
    named = r.damaged_components(line, HEADLAMP, refs())
    assert named == r.DamagedComponents((r.Component(BULB.id, 2),), unknown=(2,), not_components=(1,))  # fmt: skip
    # without names the rule is as before: every component (test above: 920.00)
    assert one(r.review(estimate(headlamp()), refs())).allowed == D("920.00")


def test_duplicate_line():
    result = r.review(estimate(part(0, unit="1000.00"), part(1, unit="1000.00")), refs())
    assert result.lines[0].status == "ok"
    dup = result.lines[1]
    assert codes(dup) == ["DUPLICATE_LINE"] and dup.allowed == 0 and dup.cut == D("1000.00")
    assert dup.flags[0].details["duplicate_of"] == 0 and dup.flags[0].details["duplicate_of_line_no"] == 1  # fmt: skip
    # lines count from 1 in messages, as adjusters count them; `index` stays 0-based
    assert (
        "与第 1 行重复" in dup.flags[0].message_zh and "repeats line 1:" in dup.flags[0].message_en
    )
    assert (dup.index, dup.line_no) == (1, 2)


def test_added_equipment_not_covered_takes_its_labor_too():
    added = part(0, unit="800.00", added_equipment=True)
    fit = labor(1, None, "replace", "sheet_metal", "1.0", "91.00", line_ref=0)
    result = r.review(estimate(added, replace(fit, part_id=None)), refs())
    assert codes(result.lines[0]) == ["NON_STANDARD_EQUIPMENT_NOT_COVERED"]
    assert result.lines[0].allowed == 0 and result.lines[0].flags[0].severity == "error"
    assert codes(result.lines[1]) == ["NON_STANDARD_EQUIPMENT_NOT_COVERED"]
    assert result.lines[1].cut == D("91.00")
    covered = replace(added, added_equipment_covered=True)
    assert r.review(estimate(covered), refs()).lines[0].status == "ok"


def test_repeat_claim_within_the_window():
    """左前翼子板 replaced in E-0 v2 on 2025-03-01; claimed again on 2025-09-10, 193 days later,
    window 365 days → excluded."""
    earlier = (r.EarlierClaim("E-0", 2, date(2025, 3, 1), FENDER.id, 7),)
    out = one(r.review(estimate(part()), refs(earlier=earlier)))
    assert codes(out) == ["REPEAT_CLAIM"] and out.allowed == 0
    assert out.flags[0].details["days"] == 193 and "E-0" in out.flags[0].message_zh
    short = r.RuleProfile("SZ01", 4, "SZ01", r.ProfileSettings(repeat_claim_window_days=180))
    assert codes(one(r.review(estimate(part()), refs(earlier=earlier, profile=short)))) == [
        "PART_PRICE_ABOVE_REFERENCE"
    ]
    same = (r.EarlierClaim("E-1", 1, date(2025, 9, 1), FENDER.id, 8),)  # an earlier version
    assert "REPEAT_CLAIM" not in codes(one(r.review(estimate(part()), refs(earlier=same))))


# ------------------------------------------------------------------------------------------------
# Labor rules
# ------------------------------------------------------------------------------------------------


def test_labor_rate_above_standard():
    """钣金 claimed 150.00/h × 2 h = 300.00; SZ01 standard 91.00/h → allowed 182.00, cut 118.00."""
    out = one(r.review(estimate(labor(0, None, "repair", "sheet_metal", "2", "150.00")), refs()))
    assert codes(out) == ["LABOR_RATE_ABOVE_STANDARD"]
    assert (out.claimed, out.allowed, out.cut) == (D("300.00"), D("182.00"), D("118.00"))
    assert out.flags[0].reference.value == D("91.00")


def test_labor_rate_channel_card():
    rates = {"sheet_metal": r.LaborRateRef("sheet_metal", D("72.00"), D("91.00"), "channel card",
                                           "SZ01", 107, "CH-SHOP1", 5)}  # fmt: skip
    out = one(r.review(estimate(labor(0, None, "repair", "sheet_metal", "2", "91.00")), refs(labor_rates=rates)))  # fmt: skip
    assert (out.allowed, out.cut) == (D("144.00"), D("38.00"))
    assert "CH-SHOP1" in out.flags[0].message_en


def test_labor_hours_and_rate_compose_without_double_cutting():
    """replace 前保险杠皮: 3.00 h × 150.00 = 450.00; standard 1.50 h + 10% = 1.65 h; rate 91.00.
    Hours first at the claimed rate: 1.65 × 150.00 = 247.50 (cut 202.50); then the rate on the
    hours left: 1.65 × 91.00 = 150.15 (cut 97.35); 202.50 + 97.35 = 299.85 = 450.00 − 150.15."""
    hours = {
        (BUMPER.id, "replace"): r.HoursRef(BUMPER.id, "replace", "sheet_metal", D("1.50"), "B")
    }
    line = labor(0, BUMPER, "replace", "sheet_metal", "3", "150.00")
    result = r.review(estimate(line), refs(hours=hours))
    out = one(result)
    assert codes(out) == ["LABOR_HOURS_ABOVE_STANDARD", "LABOR_RATE_ABOVE_STANDARD"]
    assert [f.cut for f in out.flags] == [D("202.50"), D("97.35")]
    assert out.allowed == D("150.15")
    check_cuts_add_up(result)


def test_labor_overlap_names_the_including_operation():
    """Replacing 前保险杠皮 includes R&I of 左前雾灯: claiming that R&I too (0.50 h × 72.00 =
    36.00) counts it twice → cut 36.00; the replace line shows what it includes."""
    inclusions = (r.InclusionRef(BUMPER.id, "replace", FOG.id, "remove_refit"),)
    lines = (labor(0, BUMPER, "replace", "sheet_metal", "1.5", "91.00"),
             labor(1, FOG, "remove_refit", "remove_refit", "0.5", "72.00"))  # fmt: skip
    result = r.review(estimate(*lines), refs(inclusions=inclusions))
    host, overlap = result.lines
    assert codes(overlap) == ["LABOR_OVERLAP"] and overlap.cut == D("36.00")
    d = overlap.flags[0].details
    assert d["included_in_line"] == 0 and d["included_in"]["part_name"] == "前保险杠皮"
    assert d["included_in_line_no"] == 1
    assert "第 1 行“更换前保险杠皮”" in overlap.flags[0].message_zh
    assert "included in line 1 'replace 前保险杠皮'" in overlap.flags[0].message_en
    assert host.includes == ({"part_id": FOG.id, "part_name": "左前雾灯",
                              "operation": "remove_refit", "claimed_on_line": 1,
                              "claimed_on_line_no": 2},)  # fmt: skip
    assert host.status == "ok"


BEAM = r.PartInfo(9, "VW1-0003", "前保险杠骨架", 1, "body")


def test_labor_overlap_is_transitive_through_an_unclaimed_operation():
    """Replacing 前保险杠骨架 includes R&I of 前保险杠皮, whose R&I includes R&I of 左前雾灯.
    Claimed: replace the beam (2.00 h × 91.00 = 182.00) and R&I of the fog lamp (0.50 h × 72.00
    = 36.00), not the bumper cover's R&I: the fog lamp is still included → cut 36.00, and the
    flag gives the chain."""
    inclusions = (r.InclusionRef(BEAM.id, "replace", BUMPER.id, "remove_refit"),
                  r.InclusionRef(BUMPER.id, "remove_refit", FOG.id, "remove_refit"))  # fmt: skip
    lines = (labor(0, BEAM, "replace", "sheet_metal", "2", "91.00"),
             labor(1, FOG, "remove_refit", "remove_refit", "0.5", "72.00"))  # fmt: skip
    parts = {**PARTS, BEAM.id: BEAM}
    result = r.review(estimate(*lines), refs(parts=parts, inclusions=inclusions))
    host, fog = result.lines
    assert (host.status, host.cut) == ("ok", D("0.00"))
    assert codes(fog) == ["LABOR_OVERLAP"] and (fog.claimed, fog.cut) == (D("36.00"), D("36.00"))
    flag = fog.flags[0]
    assert flag.details["included_in_line"] == 0
    assert flag.details["included_in"] == {"part_id": BEAM.id, "part_name": "前保险杠骨架", "operation": "replace"}  # fmt: skip
    assert [(p["part_name"], p["operation"]) for p in flag.details["path"]] == [
        ("前保险杠骨架", "replace"), ("前保险杠皮", "remove_refit"), ("左前雾灯", "remove_refit")]  # fmt: skip
    assert "经包含链 更换前保险杠骨架 → 拆装前保险杠皮 → 拆装左前雾灯 已包含在第 1 行“更换前保险杠骨架”" in flag.message_zh  # fmt: skip
    assert "through replace 前保险杠骨架 → remove & refit 前保险杠皮 → remove & refit 左前雾灯" in flag.message_en  # fmt: skip
    # the bumper's R&I claimed too: the fog lamp is included in it, the nearest (line 2, 36.00),
    # and it in the beam (line 0): 0.80 h × 72.00 = 57.60 cut too
    lines = (*lines, labor(2, BUMPER, "remove_refit", "remove_refit", "0.8", "72.00"))
    result = r.review(estimate(*lines), refs(parts=parts, inclusions=inclusions))
    host, fog, cover = result.lines
    assert fog.flags[0].details["included_in_line"] == 2 and len(fog.flags[0].details["path"]) == 2
    assert cover.flags[0].details["included_in_line"] == 0 and cover.cut == D("57.60")
    assert result.totals.cut == D("93.60")


def test_labor_overlap_cycles_end_and_cut_only_the_later_line():
    """A includes B, B includes C, C includes A (a data loop): claimed A (line 0, 182.00) and C
    (line 1, 36.00) are the same work both ways — only the later line, C, is cut (36.00); a
    cycle with no claimed host flags nothing and ends."""
    a, b, c = (BEAM.id, "replace"), (BUMPER.id, "remove_refit"), (FOG.id, "remove_refit")
    inclusions = tuple(r.InclusionRef(*x, *y) for x, y in ((a, b), (b, c), (c, a), (c, c)))
    parts = {**PARTS, BEAM.id: BEAM}
    lines = (labor(0, BEAM, "replace", "sheet_metal", "2", "91.00"),
             labor(1, FOG, "remove_refit", "remove_refit", "0.5", "72.00"))  # fmt: skip
    first, later = r.review(estimate(*lines), refs(parts=parts, inclusions=inclusions)).lines
    assert (first.status, first.cut) == ("ok", D("0.00"))
    assert codes(later) == ["LABOR_OVERLAP"] and later.cut == D("36.00")
    assert [p["operation"] for p in later.flags[0].details["path"]] == ["replace", "remove_refit", "remove_refit"]  # fmt: skip
    # the other way round in the estimate: the beam is now the later line
    swapped = (replace(lines[1], index=0), replace(lines[0], index=1))
    first, later = r.review(estimate(*swapped), refs(parts=parts, inclusions=inclusions)).lines
    assert (first.cut, later.cut) == (D("0.00"), D("182.00"))
    alone = r.review(estimate(lines[1]), refs(parts=parts, inclusions=inclusions))
    assert one(alone).status == "ok"


# ------------------------------------------------------------------------------------------------
# Consumables and rescue
# ------------------------------------------------------------------------------------------------

REFRIGERANT = r.ConsumableStandard("refrigerant", "制冷剂R134a", "kg", D("0.6"), D("220.00"), "B")
COOLANT = r.ConsumableStandard("coolant", "防冻液", "L", D("6"), D("45.00"), "B")


def test_consumable_above_standard_quantity_and_price():
    """900 g at 0.30 = 270.00 → 0.9 kg at 300.00/kg; standard 0.6 kg at 220.00 → allowed
    0.6 × 220.00 = 132.00, cut 138.00."""
    line = r.ConsumableLine(0, "refrigerant", D("900"), "g", D("0.30"))
    out = one(r.review(estimate(line), refs(consumables={"refrigerant": REFRIGERANT})))
    assert codes(out) == ["CONSUMABLE_ABOVE_STANDARD"]
    assert (out.claimed, out.allowed, out.cut) == (D("270.00"), D("132.00"), D("138.00"))


def test_consumable_above_standard_quantity_only():
    """8 L at 40.00 = 320.00, standard 6 L → allowed 240.00, cut 80.00."""
    line = r.ConsumableLine(0, "coolant", D("8"), "升", D("40.00"))
    out = one(r.review(estimate(line), refs(consumables={"coolant": COOLANT})))
    assert (out.allowed, out.cut) == (D("240.00"), D("80.00"))


def test_consumable_unknown_kind_or_unit_is_flagged_unchecked():
    """2 桶 at 40.00 = 80.00: a standard in L cannot be compared with barrels, and with no standard for
    coolant at all nothing can be checked: either way allowed 80.00 (nothing to cut it by),
    status unknown, an UNCHECKED flag with the reason."""
    line = r.ConsumableLine(0, "coolant", D("2"), "桶", D("40.00"))
    odd_unit = one(r.review(estimate(line), refs(consumables={"coolant": COOLANT})))
    no_std = one(r.review(estimate(line), refs()))
    for out in (odd_unit, no_std):
        assert (out.status, out.allowed, out.cut, codes(out)) == ("unknown", D("80.00"), D("0.00"), ["UNCHECKED"])  # fmt: skip
    assert odd_unit.flags[0].details == {"reason": "unit_not_comparable", "value": "桶", "standard": "L"}  # fmt: skip
    assert no_std.flags[0].details == {"reason": "unknown_consumable_kind", "value": "coolant"}
    assert "辅料种类 coolant 无用量标准" in no_std.flags[0].message_zh


def test_rescue_without_tariff_is_flagged_unchecked():
    out = one(r.review(estimate(r.RescueLine(0, D("25"), D("650.00"))), refs()))
    assert (out.status, out.allowed, codes(out)) == ("unknown", D("650.00"), ["UNCHECKED"])
    assert out.flags[0].details == {"reason": "no_rescue_tariff"}


def test_rescue_fee_above_tariff():
    """深圳: 350.00 including 10 km + 12.00/km; 25 km → 350 + 15 × 12 = 530.00; claimed 650.00
    → cut 120.00."""
    tariff = r.RescueTariff("深圳市（440300）", D("350.00"), D("10"), D("12.00"))
    out = one(r.review(estimate(r.RescueLine(0, D("25"), D("650.00"))), refs(rescue=tariff)))
    assert codes(out) == ["RESCUE_FEE_ABOVE_TARIFF"]
    assert (out.allowed, out.cut, out.flags[0].reference.value) == (D("530.00"), D("120.00"), D("530.00"))  # fmt: skip
    within = r.RescueLine(0, D("8"), D("350.00"))  # inside the base distance
    assert one(r.review(estimate(within), refs(rescue=tariff))).status == "ok"


# ------------------------------------------------------------------------------------------------
# Time limits and authority (第七条)
# ------------------------------------------------------------------------------------------------

S = r.ProfileSettings()


@pytest.mark.parametrize(
    ("amount", "days"),
    [("19999.99", 1), ("20000.00", 2), ("50000.00", 2), ("50000.01", 3), ("0.00", 1)],
)
def test_working_days_by_amount(amount, days):
    assert r.working_days_for(D(amount), S) == days


def test_deadline_skips_weekends():
    # Friday 10:00: one working day → Monday 17:00; three → Wednesday 17:00
    assert r.review_deadline(D("8000"), SUBMITTED, S).due_at == datetime(2025, 9, 15, 17, 0, tzinfo=r.CHINA)  # fmt: skip
    assert r.review_deadline(D("60000"), SUBMITTED, S).due_at == datetime(2025, 9, 17, 17, 0, tzinfo=r.CHINA)  # fmt: skip
    # Saturday: the first working day after it is Monday
    saturday = datetime(2025, 9, 13, 9, 0, tzinfo=r.CHINA)
    assert r.review_deadline(D("30000"), saturday, S).due_at.date() == date(2025, 9, 16)
    # UTC input is read in China time: 2025-09-11 23:00 UTC is Friday 07:00 in Shenzhen
    from datetime import UTC

    utc = datetime(2025, 9, 11, 23, 0, tzinfo=UTC)
    assert r.review_deadline(D("8000"), utc, S).due_at.date() == date(2025, 9, 15)
    with pytest.raises(ValueError, match="time zone"):  # which day is "9 a.m." on? not guessed
        r.review_deadline(D("8000"), datetime(2025, 9, 12, 9, 0), S)


def test_deadline_skips_holidays_and_counts_make_up_days():
    """National Day 2025: Oct 1–8 off, Saturday Oct 11 a make-up working day. Submitted Tuesday
    Sep 30: 1 day → Thu Oct 9, 2 → Fri Oct 10, 3 → Sat Oct 11."""
    from pricebook.review_config import HOLIDAYS_2025

    holidays, workdays = HOLIDAYS_2025
    settings = r.ProfileSettings(holidays=tuple(date.fromisoformat(d) for d in holidays),
                                 workdays=tuple(date.fromisoformat(d) for d in workdays))  # fmt: skip
    sept30 = datetime(2025, 9, 30, 15, 0, tzinfo=r.CHINA)
    due = [r.review_deadline(D(a), sept30, settings).due_at.date() for a in ("1000", "30000", "90000")]  # fmt: skip
    assert due == [date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11)]


def test_night_shift_and_holiday_duty():
    d = r.review_deadline(D("4999.99"), SUBMITTED, S)
    assert d.night_shift_eligible and d.holiday_duty_eligible
    d = r.review_deadline(D("5000.00"), SUBMITTED, S)
    assert not d.night_shift_eligible and d.holiday_duty_eligible
    d = r.review_deadline(D("20000.00"), SUBMITTED, S)
    assert not d.night_shift_eligible and not d.holiday_duty_eligible


def test_escalation_above_the_branch_authority():
    big = part(unit="30000.00", qty="2", p=BUMPER)  # 60,000.00 > SZ01's 50,000.00
    prices = [price(BUMPER, "30000.00")]
    result = r.review(estimate(big), refs(prices=prices))
    assert result.escalation.required and result.escalation.escalate_to == "GD01"
    assert result.escalation.amount == D("60000.00")
    assert result.deadline.working_days == 3
    gd01 = r.BranchInfo(11, "GD01", "广东分公司", D("150000.00"), None)
    assert not r.escalation(D("60000.00"), gd01).required
    assert r.escalation(D("150000.01"), gd01).escalate_to == "head_office"


# ------------------------------------------------------------------------------------------------
# The whole estimate
# ------------------------------------------------------------------------------------------------


def test_totals_counts_and_money_is_decimal():
    hours = {
        (BUMPER.id, "replace"): r.HoursRef(BUMPER.id, "replace", "sheet_metal", D("1.50"), "B")
    }
    lines = (
        part(0),  # cut 177.50
        part(1, p=HEADLAMP, unit="3000.00"),  # cut 2,080.00
        labor(2, BUMPER, "replace", "sheet_metal", "3", "150.00"),  # cut 299.85
        r.RescueLine(3, D("25"), D("650.00")),  # cut 120.00
    )
    tariff = r.RescueTariff("深圳市", D("350.00"), D("10"), D("12.00"))
    result = r.review(estimate(*lines), refs(hours=hours, rescue=tariff))
    assert result.totals.claimed == D("5380.00")
    assert result.totals.cut == D("177.50") + D("2080.00") + D("299.85") + D("120.00")
    assert result.totals.allowed == result.totals.claimed - result.totals.cut
    assert result.counts == {
        "ASSEMBLY_WHERE_COMPONENT_AVAILABLE": 1, "LABOR_HOURS_ABOVE_STANDARD": 1,
        "LABOR_RATE_ABOVE_STANDARD": 1, "PART_PRICE_ABOVE_REFERENCE": 2,
        "RESCUE_FEE_ABOVE_TARIFF": 1,
    }  # fmt: skip
    assert (result.profile_code, result.profile_version) == ("SZ01", 3)
    check_cuts_add_up(result)

    def walk(value):
        assert not isinstance(value, float) or value in (97.0, 0.97)
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    import msgspec

    walk(msgspec.to_builtins(result))


def test_severity_override_from_the_profile():
    profile = r.RuleProfile("SZ01", 5, "SZ01", r.ProfileSettings(severities={"PART_PRICE_ABOVE_REFERENCE": "error"}))  # fmt: skip
    out = one(r.review(estimate(part()), refs(profile=profile)))
    assert out.flags[0].severity == "error"


def test_the_registries_agree_on_each_code_and_every_code_has_a_worked_example():
    """A code raised by several rules (DUPLICATE_LINE, UNCHECKED) has one default severity, and
    every code the registries declare is asserted by a worked example in this file."""
    rules = (*r.PART_RULES, *r.LABOR_RULES, *r.CONSUMABLE_RULES, *r.RESCUE_RULES)
    for rule in rules:
        if rule.code:
            assert r.DEFAULT_SEVERITY[rule.code] == rule.severity, rule
    assert len({id(rule.check) for rule in rules if rule.code != "DUPLICATE_LINE"}) == len(
        [rule for rule in rules if rule.code != "DUPLICATE_LINE"]
    )  # each rule function in one registry line (DUPLICATE_LINE's serves three kinds)
    this_file = Path(__file__).read_text(encoding="utf-8")
    missing = [code for code in r.CODES if f'"{code}"' not in this_file]
    assert not missing, missing
    assert r.CODES[0] == "CUSTOM_PART" and "UNCHECKED" in r.CODES
    assert {
        "NON_STANDARD_EQUIPMENT_NOT_COVERED",
        "PART_NOT_FITTED",
        "REPEAT_CLAIM",
    } == r.EXCLUDING_LABOR
