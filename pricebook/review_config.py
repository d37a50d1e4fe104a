"""Review configuration: rule profiles, consumable standards and rescue tariffs, imported as one
JSON document (format in `import_review_config`), all or nothing. Each entry is a version of its
key and goes through the one versioned-write path (`pricebook.versioned.write_version`): the key
is locked, the reason required, the version planned by `pricebook.history.plan_version`, and
every close and create audited. The rules that read them are in `pricebook.review`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from pricebook import hints, review
from pricebook.errors import InvalidInput
from pricebook.estimates import clear_caches
from pricebook.estimates.request import Code, MoneyText
from pricebook.jsontypes import JSONObject
from pricebook.models import (
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Branch,
    ConsumableStandardVersion,
    Region,
    RescueTariffVersion,
    RuleProfileVersion,
)
from pricebook.money import quantity_field, to_fen, yuan_field
from pricebook.versioned import (
    Columns,
    VersionedRow,
    key_versions,
    lock_version_keys,
    require_reason,
    write_version,
)

#: the largest quantity a consumable standard allows per claim
MAX_QUANTITY = Decimal("100000")
KINDS = ("rule_profiles", "consumable_standards", "rescue_tariffs")


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Code
    #: the branch the profile belongs to; "" or absent: the default profile
    branch: str = ""
    valid_from: date
    valid_to: date | None = None
    #: partial: what is not given takes the built-in default (`review.ProfileSettings`)
    settings: JSONObject = msgspec.field(default_factory=dict)


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


def _settings_json(raw: JSONObject, field: str) -> JSONObject:
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
        raise InvalidInput(
            text.replace(sub, at, 1) if sub else f"{field}: {text}", field=at
        ) from None
    for tier in settings.max_price_type_by_tier:
        if tier not in SHOP_TIERS:
            raise InvalidInput(
                f"{field}.max_price_type_by_tier: unknown shop tier {tier!r}",
                field=f"{field}.max_price_type_by_tier",
            )
    if settings.default_vehicle_class not in VEHICLE_CLASSES:
        raise InvalidInput(
            f"{field}.default_vehicle_class must be one of A–E",
            field=f"{field}.default_vehicle_class",
        )
    for code, severity in settings.severities.items():
        if code not in review.CODES or severity not in ("info", "warning", "error"):
            raise InvalidInput(
                f"{field}.severities: {code}={severity} is not a rule code and severity",
                field=f"{field}.severities",
            )
    built: JSONObject = msgspec.to_builtins(settings)
    return built


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _decode(document: bytes | str | JSONObject) -> ReviewConfig:
    try:
        if isinstance(document, dict):
            return msgspec.convert(document, ReviewConfig)
        return msgspec.json.decode(document, type=ReviewConfig)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Entry:
    """One version to write: its table, key, value columns and period."""

    kind: str
    model: type[VersionedRow]
    key: Columns
    values: Columns
    #: what the version is compared on, as `value_of` reads it from a stored row
    value: str
    valid_from: date
    valid_to: date | None
    value_of: Callable[[Any], str]


def _profile_entry(session: Session, n: int, p: ProfileIn, branches: dict[str, int]) -> _Entry:
    field = f"rule_profiles[{n}]"
    branch_id = None
    if p.branch:
        if p.branch not in branches:
            raise InvalidInput(f"{field}.branch: no branch {p.branch!r}", field=f"{field}.branch")
        branch_id = branches[p.branch]
    settings = _settings_json(p.settings, f"{field}.settings")
    owners = set(
        session.scalars(
            select(RuleProfileVersion.branch_id).where(RuleProfileVersion.code == p.code)
        )
    )
    if owners and owners != {branch_id}:
        raise InvalidInput(
            f"{field}.branch: profile {p.code} belongs to another branch", field=f"{field}.branch"
        )
    return _Entry(
        "rule_profiles",
        RuleProfileVersion,
        {"code": p.code},
        {"branch_id": branch_id, "settings": settings},
        _canonical(settings),
        p.valid_from,
        p.valid_to,
        lambda row: _canonical(row.settings),
    )


_CONSUMABLE_VALUE = ("name", "unit", "max_quantity_milli", "max_unit_price_fen")


def _consumable_entry(n: int, c: ConsumableIn) -> _Entry:
    field = f"consumable_standards[{n}]"
    qty = quantity_field(c.max_quantity, f"{field}.max_quantity", places=3, maximum=MAX_QUANTITY)
    price = (
        None
        if c.max_unit_price is None
        else to_fen(yuan_field(c.max_unit_price, f"{field}.max_unit_price"))
    )
    values = {
        "name": c.name,
        "unit": c.unit,
        "max_quantity_milli": int(qty * 1000),
        "max_unit_price_fen": price,
    }
    return _Entry(
        "consumable_standards",
        ConsumableStandardVersion,
        {"kind": c.kind, "vehicle_class": c.vehicle_class},
        values,
        _canonical(values),
        c.valid_from,
        c.valid_to,
        lambda row: _canonical({k: getattr(row, k) for k in _CONSUMABLE_VALUE}),
    )


_RESCUE_VALUE = ("base_fen", "included_km", "per_km_fen")


def _rescue_entry(n: int, t: RescueIn, regions: dict[str, int]) -> _Entry:
    field = f"rescue_tariffs[{n}]"
    if t.region not in regions:
        raise InvalidInput(f"{field}.region: no region {t.region!r}", field=f"{field}.region")
    values = {
        "base_fen": to_fen(yuan_field(t.base_fee, f"{field}.base_fee")),
        "included_km": t.included_km,
        "per_km_fen": to_fen(yuan_field(t.per_km, f"{field}.per_km")),
    }
    return _Entry(
        "rescue_tariffs",
        RescueTariffVersion,
        {"region_id": regions[t.region]},
        values,
        _canonical(values),
        t.valid_from,
        t.valid_to,
        lambda row: _canonical({k: getattr(row, k) for k in _RESCUE_VALUE}),
    )


def _entries(session: Session, config: ReviewConfig) -> list[_Entry]:
    """Every entry of the document, checked before anything is written."""
    branches = dict(session.execute(select(Branch.code, Branch.id)).all())
    regions = dict(session.execute(select(Region.code, Region.id)).all())
    return [
        *(_profile_entry(session, n, p, branches) for n, p in enumerate(config.rule_profiles)),
        *(_consumable_entry(n, c) for n, c in enumerate(config.consumable_standards)),
        *(_rescue_entry(n, t, regions) for n, t in enumerate(config.rescue_tariffs)),
    ]


def _extra(session: Session, entry: _Entry) -> dict[str, object]:
    """Columns a new version derives from the stored ones: a profile's `version` counts up per
    code (read under the key's lock, so two imports never number alike)."""
    if entry.model is not RuleProfileVersion:
        return {}
    lock_version_keys(session, entry.model.__tablename__, [entry.key])
    rows, _ = key_versions(session, RuleProfileVersion, entry.key)
    return {"version": max((r.version for r in rows), default=0) + 1}


def _write(session: Session, entry: _Entry, *, actor: str, reason: str) -> str:
    written = write_version(
        session,
        entry.model,
        entry.key,
        value=entry.value,
        value_of=entry.value_of,
        record={**entry.values, **_extra(session, entry)},
        valid_from=entry.valid_from,
        valid_to=entry.valid_to,
        actor=actor,
        reason=reason,
        expected_etag=None,
        describe=lambda row: {"valid_to": row.valid_to},
        after={**entry.key, **entry.values},
    )
    return written.action


def import_review_config(
    session: Session, document: bytes | str | JSONObject, *, actor: str, reason: str = ""
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
    per code. Unknown settings keys are errors; settings not given take the defaults. Like every
    versioned write it needs a `reason`, and every close and create is audited.
    """
    entries = _entries(session, _decode(document))
    reason = require_reason(reason, actor)
    counts = {kind: {"created": 0, "superseded": 0, "closed": 0, "unchanged": 0} for kind in KINDS}
    for entry in entries:
        counts[entry.kind][_write(session, entry, actor=actor, reason=reason)] += 1
    clear_caches()
    return ConfigReport(
        inserted={k: c["created"] + c["superseded"] for k, c in counts.items()},
        closed={k: c["closed"] + c["superseded"] for k, c in counts.items()},
        unchanged={k: c["unchanged"] for k, c in counts.items()},
    )


# ------------------------------------------------------------------------------------------------
# Demo configuration (`pricebook demo load` calls `load_demo_review_config`)
# ------------------------------------------------------------------------------------------------

#: 2025 public holidays (国务院办公厅通知) and the make-up working days (调休) around them.
HOLIDAYS_2025 = (
    ["2025-01-01", "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-03",
     "2025-02-04", "2025-04-04", "2025-05-01", "2025-05-02", "2025-05-05", "2025-06-02",
     "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08"],
    ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
)  # fmt: skip


def demo_review_config() -> JSONObject:
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
