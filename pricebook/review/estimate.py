"""The estimate as the rules read it: vehicle, shop, policy and its lines (the input of `review`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec

from pricebook.money import round_yuan
from pricebook.review.text import ZERO


class Vehicle(msgspec.Struct, frozen=True):
    """A catalogue model (系统车型点选) or a model typed by hand; the VIN finds earlier claims."""

    model_id: int | None = None
    brand: str = ""
    model: str = ""
    vin: str = ""
    #: for a typed vehicle: the class its labor rates and hours use (else the profile default)
    vehicle_class: str | None = None


class Shop(msgspec.Struct, frozen=True):
    tier: str = "class2"  # 4s | class1 | class2 | class3
    channel_code: str | None = None


class Policy(msgspec.Struct, frozen=True):
    """保单特别约定: repair at a 4S/specialist shop allowed; domestic or imported glass."""

    four_s_allowed: bool = False
    glass: str | None = None  # domestic | imported


class ComponentName(msgspec.Struct, frozen=True):
    """A component an assembly line names as the damaged one: its catalogue part id or its OE
    number (current or superseded), as part lines name parts."""

    part_id: int | None = None
    oe_number: str = ""

    def text(self) -> str:
        return self.oe_number if self.part_id is None else f"#{self.part_id}"


class PartLine(msgspec.Struct, frozen=True):
    index: int
    quantity: Decimal
    #: replace: the claimed unit price; repair: optional (the claim is `repair_cost`)
    claimed_unit_price: Decimal | None = None
    part_id: int | None = None
    oe_number: str = ""
    custom_name: str = ""
    price_type: str | None = None
    action: str = "replace"  # replace | repair
    repair_cost: Decimal | None = None
    added_equipment: bool = False  # 加装 (non-standard added equipment)
    added_equipment_covered: bool = False  # 新增设备损失险
    line_id: str = ""
    #: an assembly line: the component(s) actually damaged (ASSEMBLY_WHERE_COMPONENT_AVAILABLE
    #: then allows those components' price, not all of them)
    damaged_components: tuple[ComponentName, ...] = ()

    @property
    def claimed(self) -> Decimal:
        if self.action == "repair":
            return round_yuan(self.repair_cost or ZERO)
        return round_yuan(self.quantity * (self.claimed_unit_price or ZERO))


class LaborLine(msgspec.Struct, frozen=True):
    index: int
    operation: str  # replace | repair | paint | remove_refit
    labor_kind: str  # sheet_metal | paint | mechanical | electrical | remove_refit
    hours: Decimal
    claimed_rate: Decimal
    part_id: int | None = None
    #: the index (in `lines`) of the part line this labor acts on
    line_ref: int | None = None
    line_id: str = ""

    @property
    def claimed(self) -> Decimal:
        return round_yuan(self.hours * self.claimed_rate)


class ConsumableLine(msgspec.Struct, frozen=True):
    index: int
    kind: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    line_id: str = ""

    @property
    def claimed(self) -> Decimal:
        return round_yuan(self.quantity * self.unit_price)


class RescueLine(msgspec.Struct, frozen=True):
    index: int
    distance_km: Decimal
    claimed_fee: Decimal
    line_id: str = ""

    @property
    def claimed(self) -> Decimal:
        return round_yuan(self.claimed_fee)


Line = PartLine | LaborLine | ConsumableLine | RescueLine


class Estimate(msgspec.Struct, frozen=True):
    id: str
    version: int
    date: date  # prices, rates and profiles as of this day
    submitted_at: datetime  # the review deadline counts from here
    branch: str
    vehicle: Vehicle
    shop: Shop
    policy: Policy
    lines: tuple[Line, ...]
    #: the request's fields left out and given their default here (`shop.tier`,
    #: `submitted_at`): the answer's `notes` say what was assumed
    defaults: tuple[str, ...] = ()
