"""Rule profiles, consumable standards and rescue tariffs, configured as one JSON document
(`import_review_config`, format in its docstring); `load_demo_review_config` adds the demo's."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import (
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from pricebook import audit, hints, review
from pricebook.errors import InvalidInput
from pricebook.estimates.memo import clear_caches
from pricebook.estimates.references import load_refs
from pricebook.estimates.request import (
    MAX_LINES,
    MAX_QUANTITY,
    Code,
    EstimateRequest,
    MoneyText,
    _amount,
    _money,
    decode_request,
    to_estimate,
)
from pricebook.estimates.validation import (
    Unstored,
    Validation,
    _canonical,
    list_validations,
    store_validations,
    validate,
    validate_unstored,
)
from pricebook.history import Version, plan_version
from pricebook.models import (
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Branch,
    ConsumableStandardVersion,
    Region,
    RescueTariffVersion,
    RuleProfileVersion,
)
from pricebook.money import to_fen
from pricebook.prices import (
    require_reason,
)


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Code
    #: the branch the profile belongs to; "" or absent: the default profile
    branch: str = ""
    valid_from: date
    valid_to: date | None = None
    #: partial: what is not given takes the built-in default (`review.ProfileSettings`)
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class ConsumableIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    unit: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    max_quantity: Decimal
    max_unit_price: MoneyText | None = None
    vehicle_class: Literal["A", "B", "C", "D", "E"] | None = None
    valid_from: date
    valid_to: date | None = None


class RescueIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    region: Code
    base_fee: MoneyText
    included_km: Annotated[int, msgspec.Meta(ge=0, le=10000)]
    per_km: MoneyText
    valid_from: date
    valid_to: date | None = None


class ReviewConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    rule_profiles: list[ProfileIn] = msgspec.field(default_factory=list)
    consumable_standards: list[ConsumableIn] = msgspec.field(default_factory=list)
    rescue_tariffs: list[RescueIn] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConfigReport:
    inserted: dict[str, int]
    closed: dict[str, int]
    unchanged: dict[str, int]

    def summary(self) -> str:
        return ", ".join(
            f"{k}: {self.inserted[k]} new, {self.closed[k]} closed, {self.unchanged[k]} unchanged"
            for k in self.inserted
        )


def _settings_json(raw: dict[str, Any], field: str) -> dict[str, Any]:
    known = {f.name for f in msgspec.structs.fields(review.ProfileSettings)}
    for key in raw:
        if key not in known:
            raise InvalidInput(
                f"{field}.{key}: unknown setting (known: {', '.join(sorted(known))})",
                field=f"{field}.{key}",
            )
    try:
        settings = msgspec.convert(raw, review.ProfileSettings, strict=False)
    except msgspec.ValidationError as exc:
        sub, text = hints.describe(str(exc), review.ProfileSettings)
        at = hints.join(field, sub or "")
        raise InvalidInput(text.replace(sub, at, 1) if sub else f"{field}: {text}", field=at) from None  # fmt: skip
    for tier in settings.max_price_type_by_tier:
        if tier not in SHOP_TIERS:
            raise InvalidInput(f"{field}.max_price_type_by_tier: unknown shop tier {tier!r}", field=f"{field}.max_price_type_by_tier")  # fmt: skip
    if settings.default_vehicle_class not in VEHICLE_CLASSES:
        raise InvalidInput(f"{field}.default_vehicle_class must be one of A–E", field=f"{field}.default_vehicle_class")  # fmt: skip
    for code, severity in settings.severities.items():
        if code not in review.CODES or severity not in ("info", "warning", "error"):
            raise InvalidInput(f"{field}.severities: {code}={severity} is not a rule code and severity", field=f"{field}.severities")  # fmt: skip
    built: dict[str, Any] = msgspec.to_builtins(settings)
    return built


def import_review_config(
    session: Session, document: bytes | str | dict[str, Any], *, actor: str, reason: str = ""
) -> ConfigReport:
    """Import rule profiles, consumable standards and rescue tariffs, all or nothing.

    Format (JSON; every list optional)::

        {"rule_profiles": [{"code": "SZ01", "branch": "SZ01", "valid_from": "2025-01-01",
                            "settings": {"price_tolerance_pct": "3",
                                         "price_tolerance_by_category": {"glass": "0"},
                                         "holidays": ["2025-10-01"]}}],
         "consumable_standards": [{"kind": "refrigerant", "name": "制冷剂", "unit": "kg",
                                   "max_quantity": "0.8", "max_unit_price": "220.00",
                                   "vehicle_class": "B", "valid_from": "2025-01-01"}],
         "rescue_tariffs": [{"region": "440300", "base_fee": "350.00", "included_km": 10,
                             "per_km": "12.00", "valid_from": "2025-01-01"}]}

    Versions follow `pricebook.history.plan_version`: the same value again changes nothing; a
    new value closes the version in force on its `valid_from`; a profile's `version` counts up
    per code. Unknown settings keys are errors; settings not given take the defaults. A change
    needs a `reason` (as every staff edit does), and closing a version is audited like creating one.
    """
    if isinstance(document, dict):
        try:
            config = msgspec.convert(document, ReviewConfig)
        except msgspec.ValidationError as exc:
            raise InvalidInput(str(exc)) from None
    else:
        try:
            config = msgspec.json.decode(document, type=ReviewConfig)
        except msgspec.ValidationError as exc:
            raise InvalidInput(str(exc)) from None
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"not valid JSON: {exc}") from None
    inserted = dict.fromkeys(("rule_profiles", "consumable_standards", "rescue_tariffs"), 0)
    closed, unchanged = dict(inserted), dict(inserted)
    branches = dict(session.execute(select(Branch.code, Branch.id)).all())
    regions = dict(session.execute(select(Region.code, Region.id)).all())

    def apply(kind: str, model: Any, key: dict[str, Any], valid_from: date, valid_to: date | None,
              value: Any, values: dict[str, Any], extra: Callable[[list[Any]], dict[str, Any]]) -> None:  # fmt: skip
        existing = list(session.scalars(select(model).filter_by(**key).order_by(model.valid_from)))
        versions = [Version(r.id, r.valid_from, r.valid_to, _value_of(kind, r)) for r in existing]
        plan = plan_version(versions, valid_from, valid_to, value)
        if plan.close is not None or plan.insert:
            why = require_reason(reason, actor)  # a change says who and why, as a staff edit does
        if plan.close is not None:
            old, day = plan.close
            session.execute(update(model).where(model.id == old.id).values(valid_to=day))
            closed[kind] += 1
            audit.record(session, actor=actor, action="close", entity=model.__tablename__,
                         entity_id=old.id, before={"valid_to": old.valid_to},
                         after={"valid_to": day}, reason=why)  # fmt: skip
        if plan.insert:
            row = {**key, **values, **extra(existing), "valid_from": valid_from, "valid_to": valid_to,
                   "created_by": actor, "reason": why}  # fmt: skip
            session.execute(insert(model).values(**row))
            inserted[kind] += 1
            audit.record(session, actor=actor, action="create", entity=model.__tablename__,
                         entity_id=json.dumps(key, default=str), after=row, reason=why)  # fmt: skip
        elif plan.close is None:
            unchanged[kind] += 1

    for n, p in enumerate(config.rule_profiles):
        field = f"rule_profiles[{n}]"
        branch_id = None
        if p.branch:
            if p.branch not in branches:
                raise InvalidInput(f"{field}.branch: no branch {p.branch!r}", field=f"{field}.branch")  # fmt: skip
            branch_id = branches[p.branch]
        settings = _settings_json(p.settings, f"{field}.settings")
        owners = set(
            session.scalars(
                select(RuleProfileVersion.branch_id).where(RuleProfileVersion.code == p.code)
            )
        )
        if owners and owners != {branch_id}:
            raise InvalidInput(
                f"{field}.branch: profile {p.code} belongs to another branch",
                field=f"{field}.branch",
            )
        apply("rule_profiles", RuleProfileVersion, {"code": p.code}, p.valid_from, p.valid_to,
              _canonical(settings), {"branch_id": branch_id, "settings": settings},
              lambda rows: {"version": max((r.version for r in rows), default=0) + 1})  # fmt: skip
    for n, c in enumerate(config.consumable_standards):
        field = f"consumable_standards[{n}]"
        qty = _amount(c.max_quantity, f"{field}.max_quantity", places=3, maximum=MAX_QUANTITY, positive=True)  # fmt: skip
        price = None if c.max_unit_price is None else _money(c.max_unit_price, f"{field}.max_unit_price", positive=True)  # fmt: skip
        values = {"name": c.name, "unit": c.unit, "max_quantity_milli": int(qty * 1000),
                  "max_unit_price_fen": None if price is None else to_fen(price)}  # fmt: skip
        apply("consumable_standards", ConsumableStandardVersion,
              {"kind": c.kind, "vehicle_class": c.vehicle_class}, c.valid_from, c.valid_to,
              _canonical(values), values, lambda rows: {})  # fmt: skip
    for n, t in enumerate(config.rescue_tariffs):
        field = f"rescue_tariffs[{n}]"
        if t.region not in regions:
            raise InvalidInput(f"{field}.region: no region {t.region!r}", field=f"{field}.region")
        values = {"base_fen": to_fen(_money(t.base_fee, f"{field}.base_fee")),
                  "included_km": t.included_km,
                  "per_km_fen": to_fen(_money(t.per_km, f"{field}.per_km"))}  # fmt: skip
        apply("rescue_tariffs", RescueTariffVersion, {"region_id": regions[t.region]},
              t.valid_from, t.valid_to, _canonical(values), values, lambda rows: {})  # fmt: skip
    clear_caches()
    return ConfigReport(inserted, closed, unchanged)


def _value_of(kind: str, row: Any) -> str:
    if kind == "rule_profiles":
        return _canonical(row.settings)
    if kind == "consumable_standards":
        return _canonical({"name": row.name, "unit": row.unit, "max_quantity_milli": row.max_quantity_milli,
                           "max_unit_price_fen": row.max_unit_price_fen})  # fmt: skip
    return _canonical({"base_fen": row.base_fen, "included_km": row.included_km, "per_km_fen": row.per_km_fen})  # fmt: skip


#: 2025 public holidays (国务院办公厅通知) and the make-up working days (调休) around them.
HOLIDAYS_2025 = (
    ["2025-01-01", "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-03",
     "2025-02-04", "2025-04-04", "2025-05-01", "2025-05-02", "2025-05-05", "2025-06-02",
     "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08"],
    ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
)  # fmt: skip


def demo_review_config() -> dict[str, Any]:
    holidays, workdays = HOLIDAYS_2025
    base = {"holidays": holidays, "workdays": workdays}
    return {
        "rule_profiles": [
            {"code": "default", "branch": "", "valid_from": "2025-01-01", "settings": base},
            {"code": "SZ01", "branch": "SZ01", "valid_from": "2025-01-01",
             "settings": {**base, "price_tolerance_pct": "5",
                          "price_tolerance_by_category": {"glass": "0", "electrical": "3"},
                          "labor_hours_tolerance_pct": "10"}},
            {"code": "BJ01", "branch": "BJ01", "valid_from": "2025-01-01",
             "settings": {**base, "price_tolerance_pct": "3", "repeat_claim_window_days": 730}},
        ],
        "consumable_standards": [
            *({"kind": "refrigerant", "name": "制冷剂R134a", "unit": "kg", "vehicle_class": c,
               "max_quantity": q, "max_unit_price": "220.00", "valid_from": "2025-01-01"}
              for c, q in (("A", "0.5"), ("B", "0.6"), ("C", "0.7"), ("D", "0.8"), ("E", "1.0"))),
            *({"kind": "coolant", "name": "防冻液", "unit": "L", "vehicle_class": c,
               "max_quantity": q, "max_unit_price": "45.00", "valid_from": "2025-01-01"}
              for c, q in (("A", "5"), ("B", "6"), ("C", "7"), ("D", "8"), ("E", "10"))),
            {"kind": "engine_oil", "name": "机油", "unit": "L", "max_quantity": "6",
             "max_unit_price": "110.00", "valid_from": "2025-01-01"},
            {"kind": "brake_fluid", "name": "制动液", "unit": "L", "max_quantity": "1",
             "max_unit_price": "120.00", "valid_from": "2025-01-01"},
            {"kind": "glass_adhesive", "name": "风挡玻璃胶", "unit": "支", "max_quantity": "2",
             "max_unit_price": "150.00", "valid_from": "2025-01-01"},
            {"kind": "washer_fluid", "name": "玻璃水", "unit": "L", "max_quantity": "4",
             "max_unit_price": "15.00", "valid_from": "2025-01-01"},
        ],
        "rescue_tariffs": [
            {"region": "CN", "base_fee": "300.00", "included_km": 10, "per_km": "10.00", "valid_from": "2025-01-01"},
            {"region": "110000", "base_fee": "400.00", "included_km": 10, "per_km": "15.00", "valid_from": "2025-01-01"},
            {"region": "310000", "base_fee": "400.00", "included_km": 10, "per_km": "15.00", "valid_from": "2025-01-01"},
            {"region": "440000", "base_fee": "320.00", "included_km": 10, "per_km": "10.00", "valid_from": "2025-01-01"},
            {"region": "440300", "base_fee": "350.00", "included_km": 10, "per_km": "12.00", "valid_from": "2025-01-01"},
            {"region": "510000", "base_fee": "260.00", "included_km": 15, "per_km": "8.00", "valid_from": "2025-01-01"},
        ],
    }  # fmt: skip


def load_demo_review_config(session: Session, *, actor: str = "demo") -> ConfigReport:
    """The demo's rule profiles, consumable standards and rescue tariffs; loading twice changes
    nothing. Needs the demo regions and branches."""
    return import_review_config(
        session, demo_review_config(), actor=actor, reason="demo review config"
    )


__all__ = [
    "MAX_LINES",
    "EstimateRequest",
    "Unstored",
    "Validation",
    "decode_request",
    "import_review_config",
    "list_validations",
    "load_demo_review_config",
    "load_refs",
    "store_validations",
    "to_estimate",
    "validate",
    "validate_unstored",
]
