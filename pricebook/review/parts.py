"""Part lines: the part's identity and references, and one function per rule of 第六条."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import msgspec

from pricebook.matching.normalize import normalize_oe
from pricebook.money import round_yuan
from pricebook.prices import (
    AGREEMENTS,
    PriceQuery,
    PriceTypeInfo,
    Resolution,
    resolve,
)
from pricebook.review.checks import PartCheck
from pricebook.review.estimate import Estimate, PartLine
from pricebook.review.refs import Component, MatchInfo, PartInfo, Refs
from pricebook.review.result import Proposal, Reference
from pricebook.review.text import TIER_ZH, ZERO, pct_text, with_tolerance, yuan


class PartContext(msgspec.Struct, frozen=True):
    """What the part rules know about one part line once its part is identified."""

    line: PartLine
    part: PartInfo | None
    matched_by: str | None  # part_id | oe | custom_name
    match: MatchInfo | None
    cap_type: PriceTypeInfo | None  # the highest price type the shop/policy allow
    cap_reason_zh: str
    cap_reason_en: str
    claimed_type: PriceTypeInfo | None
    reference: Resolution | None  # for the claimed type (or the cap, when claimed above it)
    cap_reference: Resolution | None  # for the cap type
    tolerance_pct: Decimal
    #: the line's `damaged_components` resolved against its part (None: it names none)
    damaged: DamagedComponents | None = None


def identify(line: PartLine, refs: Refs) -> tuple[PartInfo | None, str | None, MatchInfo | None]:
    """The catalogue part a line names: its part id, its OE number, or its custom name matched
    by the index (only a `matched` decision counts)."""
    if line.part_id is not None:
        return refs.parts.get(line.part_id), "part_id", None
    match = refs.matches.get(line.index)
    if line.oe_number:
        pid = refs.oe_parts.get(normalize_oe(line.oe_number))
        if pid is not None and pid in refs.parts:
            return refs.parts[pid], "oe", None
    if match is not None and match.decision == "matched" and match.part_id in refs.parts:
        return refs.parts[match.part_id], "custom_name", match
    return None, None, match


def price_cap(part: PartInfo, estimate: Estimate, refs: Refs) -> tuple[str | None, str, str]:
    """The highest price type the line may claim, and why: the channel card's type for its
    category; else a glass agreement (国产/进口玻璃) for glass; else 4S when the policy allows
    4S/专修厂; else the profile's type for the shop tier."""
    card = refs.card_parts.get(part.category_id)
    if card is not None and card.price_type_id in refs.price_types:
        code = refs.price_types[card.price_type_id].code
        return (
            code,
            f"合作渠道 {card.channel_code} 协议：{part.category} 类按 {code}",
            f"channel {card.channel_code}'s rate card prices {part.category} as {code}",
        )
    policy = estimate.policy
    if part.category == "glass" and policy.glass in ("domestic", "imported"):
        agreement = AGREEMENTS[f"glass_{policy.glass}"]
        return (
            agreement.price_types[0],
            f"保单特别约定：{agreement.name}",
            f"policy agreement {agreement.code}",
        )
    if policy.four_s_allowed:
        agreement = AGREEMENTS["4s_repair"]
        return (
            agreement.price_types[0],
            f"保单特别约定：{agreement.name}",
            f"policy agreement {agreement.code}",
        )
    tier = estimate.shop.tier
    cap = refs.profile.settings.max_price_type_by_tier.get(tier)
    return (
        cap,
        f"{TIER_ZH.get(tier, tier)} 最高按 {cap}",
        f"a {tier} shop may claim up to {cap}",
    )


def reference_for(
    part: PartInfo, price_type: str | None, estimate: Estimate, refs: Refs
) -> Resolution:
    """The reference price through the one precedence function (`prices.resolve`)."""
    key = (part.id, price_type, estimate.date, estimate.vehicle.model_id)
    if (known := refs.resolved.get(key)) is not None:
        return known
    card = refs.card_parts.get(part.category_id)
    query = PriceQuery(
        part_id=part.id,
        category_id=part.category_id,
        category=part.category,
        on=estimate.date,
        model_id=estimate.vehicle.model_id,
        price_type=price_type,
    )
    versions = refs.price_versions.get(part.id, ())
    resolution = resolve(query, versions, refs.chain, refs.price_types, card, explain=False)
    refs.resolved[key] = resolution
    return resolution


def part_context(line: PartLine, estimate: Estimate, refs: Refs) -> PartContext:
    part, matched_by, match = identify(line, refs)
    if part is None:
        return PartContext(line, None, None, match, None, "", "", None, None, None, ZERO)
    cap_code, cap_zh, cap_en = price_cap(part, estimate, refs)
    cap_type = refs.type_by_code(cap_code) if cap_code else None
    # A typed name's quality words (原厂件, 拆车件) say which price it claims, unless the line
    # names the type itself.
    claimed_code = line.price_type or (match.price_type if match is not None else None)
    claimed_type = refs.type_by_code(claimed_code) if claimed_code else None
    cap_ref = reference_for(part, cap_type.code, estimate, refs) if cap_type else None
    if claimed_type is None or (
        cap_type is not None and claimed_type.rank > cap_type.rank and cap_ref and cap_ref.winner
    ):
        ref = cap_ref
    else:
        ref = reference_for(part, claimed_type.code, estimate, refs)
    tolerance = refs.profile.settings.price_tolerance(part.category)
    damaged = damaged_components(line, part, refs) if line.damaged_components else None
    return PartContext(
        line,
        part,
        matched_by,
        match,
        cap_type,
        cap_zh,
        cap_en,
        claimed_type,
        ref,
        cap_ref,
        tolerance,
        damaged,
    )


def price_reference(res: Resolution | None, unit: str = "yuan") -> Reference | None:
    """A Reference from a price resolution: the winner's amount and where it comes from."""
    if res is None or res.winner is None:
        return None
    w = res.winner
    if w.layer == "system":
        zh, en = f"系统价格（{w.price_type}）", f"system price ({w.price_type})"
    elif w.layer == "channel":
        zh = f"合作渠道 {w.scope_code} 协议价（{w.price_type} 下浮 {w.discount_pct}%）"
        en = f"channel {w.scope_code} rate card ({w.price_type} less {w.discount_pct}%)"
    else:
        zh = f"本地化价格 {w.scope_code}（{w.price_type}）"
        en = f"{w.scope_code} localized ({w.price_type})"
    if w.model_specific:
        zh += "，本车型"
        en += ", this model"
    return Reference(
        value=w.amount,
        unit=unit,
        label_zh=zh,
        label_en=en,
        provenance={
            "layer": w.layer,
            "scope": w.scope_code,
            "price_type": w.price_type,
            "model_specific": w.model_specific,
            "price_id": w.price_id,
            "rate_card_id": w.rate_card_id,
            "valid_from": w.valid_from,
            "valid_to": w.valid_to,
            "source": w.source,
            "source_ref": w.source_ref,
            "created_by": w.created_by,
            "reason": w.reason,
            "why": w.why,
            "price_type_reason": res.price_type_reason,
        },
    )


def part_label(ctx: PartContext) -> str:
    if ctx.part is not None:
        return ctx.part.name
    return ctx.line.custom_name or ctx.line.oe_number or f"#{ctx.line.part_id}"


def rule_custom_part(c: PartCheck) -> Proposal | None:
    """CUSTOM_PART: a part typed by hand (自定义配件). Matched to the catalogue → info (its price
    is then checked as that part); suggested or unmatched → warning, price not checked."""
    ctx = c.ctx
    line = ctx.line
    if line.part_id is not None or ctx.matched_by == "oe":
        return None
    if not line.custom_name and not line.oe_number:
        return None
    typed = line.custom_name or line.oe_number
    m = ctx.match
    if ctx.part is not None and m is not None:
        best = m.candidates[0] if m.candidates else None
        conf = f"{best.confidence:.0%}" if best else ""
        return Proposal(
            "CUSTOM_PART",
            f"自定义配件“{typed}”已匹配目录配件 {ctx.part.code} {ctx.part.name}（{m.reason}，置信度 {conf}），"
            "按该配件核价；请定损员改为目录点选。",
            f"Custom part '{typed}' matched catalogue part {ctx.part.code} {ctx.part.name} "
            f"({m.reason}, confidence {conf}); priced as that part. Please pick it from the "
            "catalogue.",
            severity="info",
            details={"decision": m.decision, "part_id": ctx.part.id},
        )
    if m is not None and m.decision == "suggested" and m.candidates:
        names = "、".join(f"{c.part_code} {c.name}" for c in m.candidates[:3])
        names_en = "; ".join(f"{c.part_code} {c.name}" for c in m.candidates[:3])
        return Proposal(
            "CUSTOM_PART",
            f"自定义配件“{typed}”未能确定对应目录配件，候选：{names}；价格未核，请选定目录配件。",
            f"Custom part '{typed}' could not be matched with certainty; candidates: "
            f"{names_en}. Price not checked: pick the catalogue part.",
            details={"decision": "suggested"},
        )
    return Proposal(
        "CUSTOM_PART",
        f"自定义配件“{typed}”在目录中找不到对应配件，价格无法核对，请人工核价。",
        f"Custom part '{typed}' has no match in the catalogue; its price cannot be checked "
        "automatically.",
        details={"decision": m.decision if m else "unmatched"},
    )


def rule_added_equipment(c: PartCheck) -> Proposal | None:
    """NON_STANDARD_EQUIPMENT_NOT_COVERED (第六条 4(5)): added equipment (加装) without the
    new-equipment cover is excluded: allowed 0."""
    ctx = c.ctx
    line = ctx.line
    if not line.added_equipment or line.added_equipment_covered:
        return None
    return Proposal(
        "NON_STANDARD_EQUIPMENT_NOT_COVERED",
        f"{part_label(ctx)} 为车辆标准配置外新增设备，保单未投保新增设备损失险，剔除（第六条4(5)）。",
        f"{part_label(ctx)} is non-standard added equipment and the policy has no new-equipment "
        "cover: excluded.",
        allowed=ZERO,
    )


def rule_not_fitted(c: PartCheck) -> Proposal | None:
    """PART_NOT_FITTED (非本车配件): the selected model is not among the part's fitments."""
    ctx, refs = c.ctx, c.refs
    if ctx.part is None or ctx.part.universal or refs.vehicle is None:
        return None
    if refs.fitted.get(ctx.part.id) is not False:
        return None
    v = refs.vehicle
    return Proposal(
        "PART_NOT_FITTED",
        f"{ctx.part.code} {ctx.part.name} 不适用于本车型 {v.brand} {v.name}（非本车配件），剔除。",
        f"{ctx.part.code} {ctx.part.name} does not fit this vehicle ({v.brand} {v.name}): "
        "excluded.",
        allowed=ZERO,
        details={"model_id": v.model_id},
    )


def rule_repeat_claim(c: PartCheck) -> Proposal | None:
    """REPEAT_CLAIM (第六条 4(3)): the same part of the same VIN was replaced in an earlier
    validated estimate within the profile's window: excluded."""
    ctx, estimate, refs = c.ctx, c.estimate, c.refs
    if ctx.part is None or ctx.line.action != "replace" or not estimate.vehicle.vin:
        return None
    window = refs.profile.settings.repeat_claim_window_days
    hits = [
        e
        for e in refs.earlier
        if e.part_id == ctx.part.id
        and e.estimate_id != estimate.id
        and timedelta(0) <= estimate.date - e.date <= timedelta(days=window)
    ]
    if not hits:
        return None
    e = max(hits, key=lambda h: (h.date, h.estimate_version))
    days = (estimate.date - e.date).days
    return Proposal(
        "REPEAT_CLAIM",
        f"{ctx.part.name} 已在 {e.date} 的定损单 {e.estimate_id}（第{e.estimate_version}版）中更换，"
        f"相隔 {days} 天（窗口 {window} 天），疑似重复索赔，剔除。",
        f"{ctx.part.name} was replaced in estimate {e.estimate_id} v{e.estimate_version} on "
        f"{e.date}, {days} days earlier (window {window} days): repeat claim, excluded.",
        allowed=ZERO,
        details={
            "earlier_estimate_id": e.estimate_id,
            "earlier_estimate_version": e.estimate_version,
            "earlier_date": e.date,
            "days": days,
            "window_days": window,
        },
    )


def rule_repair_ge_replace(c: PartCheck) -> Proposal | None:
    """REPAIR_COST_GE_REPLACE (第六条 3(3)): a repair costing at least the replacement part is
    replaced instead: allowed = the replacement (reference × quantity)."""
    ctx = c.ctx
    line = ctx.line
    if line.action != "repair" or ctx.reference is None or ctx.reference.winner is None:
        return None
    unit = ctx.reference.winner.amount
    replace_cost = round_yuan(unit * line.quantity)
    reference = price_reference(ctx.reference)
    if line.claimed < replace_cost or reference is None:
        return None
    return Proposal(
        "REPAIR_COST_GE_REPLACE",
        f"{part_label(ctx)} 修复费 {yuan(line.claimed)} 元不低于更换费 {yuan(replace_cost)} 元"
        f"（{reference.label_zh}），应更换，核减差额（第六条3(3)）。",
        f"Repairing {part_label(ctx)} costs {yuan(line.claimed)}, at least the replacement "
        f"{yuan(replace_cost)} ({reference.label_en}): replace it; the "
        "difference is cut.",
        reference=reference,
        allowed=replace_cost,
        details={"replacement_cost": replace_cost},
    )


class DamagedComponents(msgspec.Struct, frozen=True):
    """What an assembly line's `damaged_components` name, resolved against the catalogue."""

    #: the named components of the assembly, each once, in the order first named
    components: tuple[Component, ...] = ()
    #: positions (in `damaged_components`) of names the catalogue does not have
    unknown: tuple[int, ...] = ()
    #: positions of catalogue parts that are not components of this assembly (load_refs: 422)
    not_components: tuple[int, ...] = ()


def damaged_components(line: PartLine, assembly: PartInfo, refs: Refs) -> DamagedComponents:
    """Resolve the components a line names as damaged: a part id, or an OE number (a component
    whose own OE it is first, else the catalogue's current or superseded OE, as part lines)."""
    comps = refs.components.get(assembly.id, ())
    by_id = {c.part_id: c for c in comps}
    chosen: dict[int, Component] = {}
    unknown: list[int] = []
    foreign: list[int] = []
    for j, name in enumerate(line.damaged_components):
        pid: int | None = name.part_id
        if pid is None and (oe := normalize_oe(name.oe_number)):
            own = (c.part_id for c in comps if c.part_id in refs.parts)
            pid = next((i for i in own if refs.parts[i].oe_normalized == oe), None)
            pid = pid if pid is not None else refs.oe_parts.get(oe)
        if pid is None or pid not in refs.parts:
            unknown.append(j)
        elif pid not in by_id:
            foreign.append(j)
        else:
            chosen.setdefault(pid, by_id[pid])
    return DamagedComponents(tuple(chosen.values()), tuple(unknown), tuple(foreign))


def rule_assembly(check: PartCheck) -> Proposal | None:
    """ASSEMBLY_WHERE_COMPONENT_AVAILABLE (第六条 4(4)): an assembly claimed where the damaged
    component is sold separately is allowed that component's price, not the assembly's.

    When the line names the damaged component(s) (`damaged_components`) and every one is a
    component of the assembly with a reference price: allowed = Σ named component's reference ×
    its quantity in the assembly × line quantity. Without them (or when a name is not in the
    catalogue: the service cannot tell which component it is) every component must be sold
    separately and allowed = Σ all components' — the flag lists each component's price so the
    reviewer can cut further. A damaged component that is not sold separately justifies the
    assembly: no flag."""
    ctx, estimate, refs = check.ctx, check.estimate, check.refs
    part = ctx.part
    if part is None or ctx.line.action != "replace" or not part.is_assembly:
        return None
    comps = refs.components.get(part.id, ())
    if not comps:
        return None
    named = ctx.damaged
    chosen, by_name = comps, False
    if named is not None and named.components and not (named.unknown or named.not_components):
        chosen, by_name = named.components, True
    found = _priced_components(chosen, ctx, estimate, refs)
    if found is None:
        return None  # a component not sold separately: the assembly is justified
    priced, total = found
    allowed = round_yuan(total * ctx.line.quantity)
    listing = "；".join(f"{p['name']}×{p['quantity']} {yuan(p['amount'])}" for p in priced)
    listing_en = "; ".join(f"{p['name']} ×{p['quantity']} {yuan(p['amount'])}" for p in priced)
    details: dict[str, Any] = {
        "basis": "damaged_components" if by_name else "all_components",
        "components": priced,
    }
    if by_name:
        details["damaged_components"] = [p["part_id"] for p in priced]
        return Proposal(
            "ASSEMBLY_WHERE_COMPONENT_AVAILABLE",
            f"{part.name} 为总成件，定损单注明受损部件为 {listing}（合计 {yuan(total)} 元），均可"
            "单独更换；应换受损部件不换总成，按受损部件价核定（第六条4(4)）。",
            f"{part.name} is an assembly and the line names the damaged component(s): "
            f"{listing_en} (total {yuan(total)}), sold separately: replace those, not the "
            "assembly; allowed at their price.",
            reference=Reference(total, "yuan", "受损部件价合计", "damaged components' total", {}),
            allowed=allowed,
            details=details,
        )
    note_zh = note_en = ""
    if named is not None and (named.unknown or named.not_components):
        names = ctx.line.damaged_components
        odd = [names[j].text() for j in (*named.unknown, *named.not_components)]
        details["unresolved_damaged_components"] = odd
        note_zh = f"定损单注明的受损部件 {'、'.join(odd)} 不是目录中本总成的部件，无法据此核定；"
        note_en = (
            f" The damaged component(s) named, {', '.join(odd)}, are not catalogue components "
            "of this assembly: the allowance cannot use them."
        )
    return Proposal(
        "ASSEMBLY_WHERE_COMPONENT_AVAILABLE",
        f"{part.name} 为总成件，其部件均可单独更换（{listing}，合计 {yuan(total)} 元）；{note_zh}"
        "应换部件不换总成，按部件价核定（第六条4(4)）。",
        f"{part.name} is an assembly whose components are sold separately ({listing_en}; "
        f"total {yuan(total)}): replace the damaged component, not the assembly; allowed at "
        f"the components' price.{note_en}",
        reference=Reference(total, "yuan", "部件价合计", "components' total", {}),
        allowed=allowed,
        details=details,
    )


def _priced_components(
    chosen: Sequence[Component], ctx: PartContext, estimate: Estimate, refs: Refs
) -> tuple[list[dict[str, Any]], Decimal] | None:
    """Each component with its reference price × its quantity in the assembly, and their
    total; None when one has no reference (or is not in the catalogue)."""
    priced: list[dict[str, Any]] = []
    total = ZERO
    for c in chosen:
        info = refs.parts.get(c.part_id)
        if info is None:
            return None
        res = component_reference(info, ctx.claimed_type or ctx.cap_type, estimate, refs)
        if res.winner is None:
            return None
        amount = round_yuan(res.winner.amount * c.quantity)
        total += amount
        priced.append(
            {
                "part_id": info.id,
                "code": info.code,
                "name": info.name,
                "quantity": c.quantity,
                "unit_price": res.winner.amount,
                "amount": amount,
                "reference": price_reference(res),
            }
        )
    return priced, total


def component_reference(
    part: PartInfo, wanted: PriceTypeInfo | None, estimate: Estimate, refs: Refs
) -> Resolution:
    """A component's reference for the assembly rule: the assembly line's price type, else
    the nearest type above it (never harsher than like for like), else the nearest below."""
    types = sorted(refs.price_types.values(), key=lambda t: t.rank)
    if wanted is None:
        order = sorted(types, key=lambda t: -t.rank)
    else:
        above = [t for t in types if t.rank > wanted.rank]
        below = [t for t in reversed(types) if t.rank < wanted.rank]
        order = [wanted, *above, *below]
    res = reference_for(part, order[0].code if order else None, estimate, refs)
    for t in order[1:]:
        if res.winner is not None:
            break
        res = reference_for(part, t.code, estimate, refs)
    return res


def rule_spec_above(c: PartCheck) -> Proposal | None:
    """SPEC_ABOVE_ORIGINAL (低配高选, 第六条 3(4)): a price type ranked above what the shop and
    policy allow; allowed = the allowed type's reference × (1 + tolerance)."""
    ctx = c.ctx
    if ctx.claimed_type is None or ctx.cap_type is None or ctx.line.action != "replace":
        return None
    if ctx.claimed_type.rank <= ctx.cap_type.rank:
        return None
    ref = price_reference(ctx.cap_reference)
    name = part_label(ctx)
    claimed, cap = ctx.claimed_type, ctx.cap_type
    if ref is None or ref.value is None:
        return Proposal(
            "SPEC_ABOVE_ORIGINAL",
            f"{name} 按 {claimed.name} 报价，高于可用规格 {cap.name}（{ctx.cap_reason_zh}），"
            f"但无 {cap.name} 参考价，请人工核价。",
            f"{name} is claimed as {claimed.code}, above the allowed {cap.code} "
            f"({ctx.cap_reason_en}); no {cap.code} reference in force: check by hand.",
            details={"claimed_type": claimed.code, "allowed_type": cap.code},
        )
    unit = with_tolerance(ref.value, ctx.tolerance_pct)
    allowed = round_yuan(unit * ctx.line.quantity)
    return Proposal(
        "SPEC_ABOVE_ORIGINAL",
        f"{name} 按 {claimed.name} 报价，高于可用规格 {cap.name}（{ctx.cap_reason_zh}），低配高选；"
        f"按 {ref.label_zh} {yuan(ref.value)} 元（容差 {pct_text(ctx.tolerance_pct)}）核定单价 "
        f"{yuan(unit)} 元。",
        f"{name} is claimed as {claimed.code}, above the allowed {cap.code} "
        f"({ctx.cap_reason_en}); allowed at {ref.label_en} {yuan(ref.value)} + "
        f"{pct_text(ctx.tolerance_pct)} tolerance = {yuan(unit)} a unit.",
        reference=ref,
        allowed=allowed,
        details={
            "claimed_type": claimed.code,
            "allowed_type": cap.code,
            "claimed_unit_price": ctx.line.claimed_unit_price,
            "allowed_unit_price": unit,
            "quantity": ctx.line.quantity,
            "tolerance_pct": ctx.tolerance_pct,
        },
    )


def rule_price_above(c: PartCheck) -> Proposal | None:
    """PART_PRICE_ABOVE_REFERENCE (第六条 7(1)(2)): claimed unit price above the reference ×
    (1 + tolerance of the branch's profile for the category) → allowed that much a unit."""
    ctx = c.ctx
    line = ctx.line
    if line.action != "replace" or line.claimed_unit_price is None:
        return None
    if ctx.claimed_type is not None and ctx.cap_type is not None:
        above = ctx.claimed_type.rank > ctx.cap_type.rank
        if above and ctx.cap_reference is not None and ctx.cap_reference.winner is not None:
            return None  # SPEC_ABOVE_ORIGINAL compared it with the allowed type already
    ref = price_reference(ctx.reference)
    if ref is None or ref.value is None:
        return None
    unit = with_tolerance(ref.value, ctx.tolerance_pct)
    if line.claimed_unit_price <= unit:
        return None
    allowed = round_yuan(unit * line.quantity)
    return Proposal(
        "PART_PRICE_ABOVE_REFERENCE",
        f"{part_label(ctx)} 报价 {yuan(line.claimed_unit_price)} 元高于参考价 {yuan(ref.value)} 元"
        f"（{ref.label_zh}），容差 {pct_text(ctx.tolerance_pct)}，核定单价 {yuan(unit)} 元；"
        "如市场价确有变化，请通过价格反馈说明。",
        f"{part_label(ctx)} claimed at {yuan(line.claimed_unit_price)}, above the reference "
        f"{yuan(ref.value)} ({ref.label_en}); tolerance {pct_text(ctx.tolerance_pct)} → allowed "
        f"{yuan(unit)} a unit. If the market moved, send price feedback.",
        reference=ref,
        allowed=allowed,
        details={
            "claimed_unit_price": line.claimed_unit_price,
            "allowed_unit_price": unit,
            "quantity": line.quantity,
            "tolerance_pct": ctx.tolerance_pct,
        },
    )


def rule_no_reference(c: PartCheck) -> Proposal | None:
    """PART_NO_REFERENCE: a catalogue part without a reference price (of the type in question)
    in force on the estimate's date: nothing to compare with; priced by hand."""
    ctx = c.ctx
    if ctx.part is None or (ctx.reference is not None and ctx.reference.winner is not None):
        return None
    if ctx.line.action == "repair":
        return None  # a repair is judged against the replacement only when there is one
    wanted = (
        ctx.claimed_type.code if ctx.claimed_type else (ctx.cap_type.code if ctx.cap_type else "")
    )
    return Proposal(
        "PART_NO_REFERENCE",
        f"{ctx.part.code} {ctx.part.name} 在定损日无 {wanted} 参考价（系统价、本地化价均无），"
        "请人工核价。",
        f"{ctx.part.code} {ctx.part.name} has no {wanted} reference price (system or localized) "
        "in force on the estimate's date: price it by hand.",
        details={
            "price_type": wanted,
            "why": ctx.reference.price_type_reason if ctx.reference else "",
        },
    )
