"""The estimate as the API receives it: wire types with their limits, the checks that name
the bad field, and the conversion to the review's `Estimate`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from pricebook import hints, review
from pricebook.errors import InvalidInput
from pricebook.money import MAX_YUAN, MONEY_PATTERN, MoneyError, parse_money

MAX_LINES = 500
MAX_AMOUNT = Decimal("100000000")  # 1亿 yuan: anything above is a typo, not a claim
MAX_QUANTITY = Decimal("100000")
MAX_HOURS = Decimal("1000")
MAX_KM = Decimal("10000")


Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]  # an INTEGER id
Index = Annotated[int, msgspec.Meta(ge=0, le=MAX_LINES * 10)]


class VehicleIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A catalogue model (`model_id`, 系统车型点选) or brand/model typed by hand; the VIN."""

    model_id: Id | None = None
    brand: ShortText = ""
    model: ShortText = ""
    vin: Annotated[str, msgspec.Meta(max_length=17)] = ""
    vehicle_class: Literal["A", "B", "C", "D", "E"] | None = None


#: the shop tier assumed when the request gives none (the answer's `notes` say so)
DEFAULT_TIER = "class2"


class ShopIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: None (left out): `DEFAULT_TIER`, with a DEFAULT_APPLIED note in the answer
    tier: Literal["4s", "class1", "class2", "class3"] | None = None
    channel_code: Code | None = None


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """保单特别约定: 4S/专修厂 allowed; domestic (国产) or imported (进口) glass."""

    four_s_allowed: bool = False
    glass: Literal["domestic", "imported"] | None = None


class DamagedComponentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A component of the line's assembly that is damaged: `part_id` or `oe_number`."""

    part_id: Id | None = None
    oe_number: Annotated[str, msgspec.Meta(max_length=64)] = ""


MAX_DAMAGED = 50


#: an amount of yuan as text, read by `pricebook.money.parse_money` (its rules and limit)
MoneyText = Annotated[
    str,
    msgspec.Meta(
        max_length=40,
        pattern=MONEY_PATTERN,
        description="yuan as a decimal string: ASCII digits with up to two decimals, at most "
        f'{MAX_YUAN}, e.g. "1050.00"',
        examples=["1050.00"],
    ),
]


class PartLineIn(
    msgspec.Struct, tag="part", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    """A part: `part_id`, or `oe_number` and/or `custom_name` (自定义配件). An assembly (总成)
    may name its damaged components: the assembly rule then allows only theirs."""

    part_id: Id | None = None
    oe_number: Annotated[str, msgspec.Meta(max_length=64)] = ""
    custom_name: ShortText = ""
    quantity: Decimal = Decimal(1)
    claimed_unit_price: MoneyText | None = None
    price_type: Code | None = None
    action: Literal["replace", "repair"] = "replace"
    repair_cost: MoneyText | None = None
    added_equipment: bool = False
    added_equipment_covered: bool = False
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    damaged_components: Annotated[
        list[DamagedComponentIn], msgspec.Meta(max_length=MAX_DAMAGED)
    ] = msgspec.field(default_factory=list)


class LaborLineIn(
    msgspec.Struct, tag="labor", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    """Labor on a part: `line_ref` (index of a part line in `lines`) or `part_id`."""

    operation: Literal["replace", "repair", "paint", "remove_refit"]
    labor_kind: Code
    hours: Decimal
    claimed_rate: MoneyText
    part_id: Id | None = None
    line_ref: Index | None = None
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


class ConsumableLineIn(
    msgspec.Struct, tag="consumable", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    kind: Code
    quantity: Decimal
    unit: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    unit_price: MoneyText
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


class RescueLineIn(
    msgspec.Struct, tag="rescue", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    distance_km: Decimal
    claimed_fee: MoneyText
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


LineIn = PartLineIn | LaborLineIn | ConsumableLineIn | RescueLineIn


class EstimateRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    estimate_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    date: date
    branch: Code
    vehicle: VehicleIn
    shop: ShopIn = msgspec.field(default_factory=ShopIn)
    policy: PolicyIn = msgspec.field(default_factory=PolicyIn)
    lines: list[LineIn]
    #: when the estimate was submitted for review (the deadline counts from it); default now
    submitted_at: datetime | None = None


_LINE = re.compile(r"^lines\[(\d+)\]")


def line_message(field: str | None, message: str) -> str:
    """A message about `lines[i]…` numbered as adjusters count lines, from 1 (`field` keeps
    the 0-based JSON path): "line 4: lines[3].quantity must be more than 0"."""
    found = _LINE.match(field or "")
    return f"line {int(found.group(1)) + 1}: {message}" if found else message


def decode_request(body: bytes | str) -> EstimateRequest:
    """JSON → EstimateRequest; a decoding error names its field (`lines[3].quantity`, `branch`
    when it is missing) with a hint (a date's format, an enum's allowed values)."""
    try:
        return msgspec.json.decode(body, type=EstimateRequest)
    except msgspec.ValidationError as exc:
        field, text = hints.describe(str(exc), EstimateRequest)
        raise InvalidInput(line_message(field, text), field=field) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None


def _money(value: str | None, field: str, *, positive: bool = False) -> Decimal:
    """A claimed amount, by the one money parser (`pricebook.money.parse_money`)."""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    try:
        return parse_money(value, allow_zero=not positive)
    except MoneyError as exc:
        raise InvalidInput(f"{field}: {exc}", field=field) from None


def _amount(
    value: Decimal | None,
    field: str,
    *,
    places: int = 2,
    maximum: Decimal = MAX_AMOUNT,
    positive: bool = False,
) -> Decimal:
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not value.is_finite():
        raise InvalidInput(f"{field} must be a finite number", field=field)
    if value < 0 or (positive and value == 0):
        raise InvalidInput(
            f"{field} must be {'more than' if positive else 'at least'} 0", field=field
        )
    if value > maximum:
        raise InvalidInput(f"{field} must be at most {maximum}", field=field)
    rounded = value.quantize(_STEPS[places])
    if rounded != value:
        raise InvalidInput(f"{field} has more than {places} decimals", field=field)
    return rounded


_STEPS = {places: Decimal(1).scaleb(-places) for places in range(4)}


def normalized_vin(vin: str) -> str:
    return vin.strip().upper()


def to_estimate(request: EstimateRequest, *, now: datetime | None = None) -> review.Estimate:
    """Check what the types cannot (amounts, consistency between fields) and build the core's
    estimate. Errors name the field (`lines[3].repair_cost`) and number lines from 1 in their
    message ("line 4: …")."""
    if not request.lines:
        raise InvalidInput("lines: an estimate needs at least one line", field="lines")
    if len(request.lines) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} lines", field="lines")
    v = request.vehicle
    if v.model_id is None and not (v.brand or v.model):
        raise InvalidInput(
            "give vehicle.model_id, or the brand/model typed by hand", field="vehicle.model_id"
        )
    lines: list[review.Line] = []
    part_indexes = {i for i, line in enumerate(request.lines) if isinstance(line, PartLineIn)}
    for i, line in enumerate(request.lines):
        try:
            lines.append(_line(i, line, part_indexes))
        except InvalidInput as exc:
            raise InvalidInput(line_message(exc.field, exc.message), field=exc.field) from None
    defaults = tuple(
        name
        for name, missing in (
            ("shop.tier", request.shop.tier is None),
            ("submitted_at", request.submitted_at is None),
        )
        if missing
    )
    submitted = request.submitted_at or now or datetime.now(UTC)
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=review.CHINA)
    return review.Estimate(
        id=request.estimate_id,
        version=request.version,
        date=request.date,
        submitted_at=submitted,
        branch=request.branch,
        vehicle=review.Vehicle(
            v.model_id, v.brand.strip(), v.model.strip(), normalized_vin(v.vin), v.vehicle_class
        ),
        shop=review.Shop(request.shop.tier or DEFAULT_TIER, request.shop.channel_code),
        policy=review.Policy(request.policy.four_s_allowed, request.policy.glass),
        lines=tuple(lines),
        defaults=defaults,
    )


def _line(i: int, line: LineIn, part_indexes: set[int]) -> review.Line:
    """One request line as the core's, checked; errors name `lines[i].…`."""
    at = f"lines[{i}]"
    if isinstance(line, PartLineIn):
        return _part_line(i, at, line)
    if isinstance(line, LaborLineIn):
        return _labor_line(i, at, line, part_indexes)
    if isinstance(line, ConsumableLineIn):
        return _consumable_line(i, at, line)
    return _rescue_line(i, at, line)


def _part_line(i: int, at: str, line: PartLineIn) -> review.PartLine:
    if line.part_id is not None and (line.oe_number or line.custom_name):
        raise InvalidInput(
            "give part_id, or oe_number/custom_name, not both", field=f"{at}.part_id"
        )
    if line.part_id is None and not line.oe_number.strip() and not line.custom_name.strip():
        raise InvalidInput("give part_id, oe_number or custom_name", field=f"{at}.part_id")
    qty = _amount(line.quantity, f"{at}.quantity", places=2, maximum=MAX_QUANTITY, positive=True)
    unit = repair = None
    if line.action == "replace":
        if line.repair_cost is not None:
            raise InvalidInput("repair_cost is only for action repair", field=f"{at}.repair_cost")
        unit = _money(line.claimed_unit_price, f"{at}.claimed_unit_price")
    else:
        repair = _money(line.repair_cost, f"{at}.repair_cost")
        if line.claimed_unit_price is not None:
            unit = _money(line.claimed_unit_price, f"{at}.claimed_unit_price")
    if line.added_equipment_covered and not line.added_equipment:
        raise InvalidInput(
            "added_equipment_covered needs added_equipment",
            field=f"{at}.added_equipment_covered",
        )
    damaged = _damaged_components(at, line)
    return review.PartLine(
        index=i,
        quantity=qty,
        claimed_unit_price=unit,
        part_id=line.part_id,
        oe_number=line.oe_number.strip(),
        custom_name=line.custom_name.strip(),
        price_type=line.price_type,
        action=line.action,
        repair_cost=repair,
        added_equipment=line.added_equipment,
        added_equipment_covered=line.added_equipment_covered,
        line_id=line.line_id,
        damaged_components=damaged,
    )


def _damaged_components(at: str, line: PartLineIn) -> tuple[review.ComponentName, ...]:
    damaged = []
    for j, c in enumerate(line.damaged_components):
        oe = c.oe_number.strip()
        if (c.part_id is None) == (not oe):
            raise InvalidInput(
                "give part_id or oe_number, one of them",
                field=f"{at}.damaged_components[{j}].part_id",
            )
        damaged.append(review.ComponentName(c.part_id, oe))
    return tuple(damaged)


def _labor_line(i: int, at: str, line: LaborLineIn, part_indexes: set[int]) -> review.LaborLine:
    if line.line_ref is not None and line.part_id is not None:
        raise InvalidInput("give line_ref or part_id, not both", field=f"{at}.line_ref")
    if line.line_ref is not None and line.line_ref not in part_indexes:
        raise InvalidInput(
            f"line_ref {line.line_ref} (line {line.line_ref + 1}) is not a part line",
            field=f"{at}.line_ref",
        )
    return review.LaborLine(
        index=i,
        operation=line.operation,
        labor_kind=line.labor_kind,
        hours=_amount(line.hours, f"{at}.hours", maximum=MAX_HOURS, positive=True),
        claimed_rate=_money(line.claimed_rate, f"{at}.claimed_rate"),
        part_id=line.part_id,
        line_ref=line.line_ref,
        line_id=line.line_id,
    )


def _consumable_line(i: int, at: str, line: ConsumableLineIn) -> review.ConsumableLine:
    return review.ConsumableLine(
        index=i,
        kind=line.kind,
        quantity=_amount(
            line.quantity,
            f"{at}.quantity",
            places=3,
            maximum=MAX_QUANTITY,
            positive=True,
        ),
        unit=line.unit.strip(),
        unit_price=_money(line.unit_price, f"{at}.unit_price"),
        line_id=line.line_id,
    )


def _rescue_line(i: int, at: str, line: RescueLineIn) -> review.RescueLine:
    return review.RescueLine(
        index=i,
        distance_km=_amount(line.distance_km, f"{at}.distance_km", places=1, maximum=MAX_KM),
        claimed_fee=_money(line.claimed_fee, f"{at}.claimed_fee"),
        line_id=line.line_id,
    )
