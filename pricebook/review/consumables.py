"""Consumables and rescue: quantities against the standard and fees against the tariff."""

from __future__ import annotations

from decimal import Decimal

from pricebook.money import round_yuan
from pricebook.review.checks import ConsumableCheck, RescueCheck
from pricebook.review.result import Proposal, Reference
from pricebook.review.text import HUNDRED, pct_text, with_tolerance, yuan

_UNITS: dict[str, tuple[str, Decimal]] = {
    "l": ("l", Decimal(1)), "升": ("l", Decimal(1)), "ml": ("l", Decimal("0.001")),
    "毫升": ("l", Decimal("0.001")), "kg": ("kg", Decimal(1)), "千克": ("kg", Decimal(1)),
    "公斤": ("kg", Decimal(1)), "g": ("kg", Decimal("0.001")), "克": ("kg", Decimal("0.001")),
}  # fmt: skip


def convert_quantity(quantity: Decimal, unit: str, to_unit: str) -> Decimal | None:
    """quantity in `unit` expressed in `to_unit`; None when they cannot be compared."""
    a, b = unit.strip().lower(), to_unit.strip().lower()
    if a == b:
        return quantity
    if a in _UNITS and b in _UNITS and _UNITS[a][0] == _UNITS[b][0]:
        return quantity * _UNITS[a][1] / _UNITS[b][1]
    return None


def rule_consumable(c: ConsumableCheck) -> Proposal | None:
    """CONSUMABLE_ABOVE_STANDARD (第六条 4(7)): quantity above the standard quantity for the
    vehicle class and/or unit price above the standard price: allowed = min(quantity, standard)
    × min(price, standard price), in the standard's unit."""
    line, refs = c.line, c.refs
    if c.standard is None:
        return None
    std = c.standard
    qty = convert_quantity(line.quantity, line.unit, std.unit)
    if qty is None:
        return None
    price = round_yuan(line.claimed / qty) if qty else line.unit_price
    tol = refs.profile.settings.consumable_tolerance_pct
    max_qty = (std.max_quantity * (HUNDRED + tol) / HUNDRED).quantize(Decimal("0.001"))
    max_price = with_tolerance(std.max_unit_price, tol) if std.max_unit_price is not None else None
    over_qty = qty > max_qty
    over_price = max_price is not None and price > max_price
    if not over_qty and not over_price:
        return None
    allowed_qty = min(qty, max_qty)
    if over_price and max_price is not None:
        allowed_price = max_price
        allowed = round_yuan(allowed_qty * max_price)
    else:
        allowed_price = price
        allowed = round_yuan(line.claimed * allowed_qty / qty)
    parts_zh, parts_en = [], []
    if over_qty:
        parts_zh.append(
            f"用量 {qty.normalize():f}{std.unit} 超过标准 {std.max_quantity.normalize():f}{std.unit}"
        )
        parts_en.append(
            f"quantity {qty.normalize():f} {std.unit} above the standard "
            f"{std.max_quantity.normalize():f} {std.unit}"
        )
    if over_price and std.max_unit_price is not None:
        standard = yuan(std.max_unit_price)
        parts_zh.append(f"单价 {yuan(price)} 元/{std.unit} 高于标准 {standard} 元")
        parts_en.append(f"price {yuan(price)}/{std.unit} above the standard {standard}")
    return Proposal(
        "CONSUMABLE_ABOVE_STANDARD",
        f"{std.name}：{'，'.join(parts_zh)}（{refs.vehicle_class} 级车，容差 {pct_text(tol)}），"
        "超标准用量剔除（第六条4(7)）。",
        f"{std.name}: {'; '.join(parts_en)} (class {refs.vehicle_class}, tolerance "
        f"{pct_text(tol)}): the excess is cut.",
        reference=Reference(
            std.max_quantity,
            std.unit,
            f"辅料标准 {std.name}",
            f"consumable standard {std.kind}",
            {
                "consumable_standard_id": std.id,
                "max_unit_price": std.max_unit_price,
                "vehicle_class": std.vehicle_class,
                "valid_from": std.valid_from,
            },
        ),
        allowed=allowed,
        details={
            "quantity": qty,
            "allowed_quantity": allowed_qty,
            "unit_price": price,
            "allowed_unit_price": allowed_price,
            "unit": std.unit,
        },
    )


def rule_rescue(c: RescueCheck) -> Proposal | None:
    """RESCUE_FEE_ABOVE_TARIFF (第六条 9(1)): above the local tariff (base fee covering the first
    km + per km beyond): allowed = the tariff."""
    line, refs = c.line, c.refs
    t = refs.rescue
    if t is None:
        return None
    tariff = t.fee(line.distance_km)
    tol = refs.profile.settings.rescue_tolerance_pct
    limit = with_tolerance(tariff, tol)
    if line.claimed <= limit:
        return None
    km = line.distance_km.normalize()
    return Proposal(
        "RESCUE_FEE_ABOVE_TARIFF",
        f"施救费 {yuan(line.claimed)} 元高于 {t.region} 收费标准：起步 {yuan(t.base_fee)} 元含 "
        f"{t.included_km.normalize():f} 公里，超出每公里 {yuan(t.per_km)} 元，{km:f} 公里合计 "
        f"{yuan(tariff)} 元，按标准核定（第六条9(1)）。",
        f"Rescue fee {yuan(line.claimed)} is above the {t.region} tariff: base "
        f"{yuan(t.base_fee)} incl. {t.included_km.normalize():f} km + {yuan(t.per_km)}/km "
        f"beyond → {yuan(tariff)} for {km:f} km.",
        reference=Reference(
            tariff,
            "yuan",
            f"{t.region} 施救收费标准",
            f"{t.region} rescue tariff",
            {
                "rescue_tariff_id": t.id,
                "base_fee": t.base_fee,
                "included_km": t.included_km,
                "per_km": t.per_km,
                "valid_from": t.valid_from,
            },
        ),
        allowed=limit,
        details={"distance_km": line.distance_km, "tariff": tariff, "tolerance_pct": tol},
    )
