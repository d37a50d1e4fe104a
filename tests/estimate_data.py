"""What the validation tests send: the review configuration of the test catalogue and
estimate bodies (the catalogue itself: `tests/catalog_rows.py`)."""

from __future__ import annotations

from types import SimpleNamespace

CONFIG = {
    "rule_profiles": [
        {"code": "default", "valid_from": "2025-01-01", "settings": {}},
        {"code": "SZ01", "branch": "SZ01", "valid_from": "2025-01-01",
         "settings": {"price_tolerance_pct": "5", "holidays": ["2025-10-01"]}},
    ],
    "consumable_standards": [
        {"kind": "refrigerant", "name": "制冷剂", "unit": "kg", "max_quantity": "0.6",
         "max_unit_price": "220.00", "vehicle_class": "B", "valid_from": "2025-01-01"},
    ],
    "rescue_tariffs": [
        {"region": "440300", "base_fee": "350.00", "included_km": 10, "per_km": "12.00",
         "valid_from": "2025-01-01"},
    ],
}  # fmt: skip


def body(db, lines, **kw) -> dict:
    base = {
        "estimate_id": "E-2025-0001", "version": 1, "date": "2025-09-10", "branch": "SZ01",
        "submitted_at": "2025-09-12T10:00:00+08:00",
        "vehicle": {"model_id": db.model, "vin": "LSVAB4BR5PN000001"},
        "shop": {"tier": "4s"}, "lines": lines,
    }  # fmt: skip
    base.update(kw)
    return base


def http_body(parts: dict[str, int], model: int, lines: list[dict], **kw) -> dict:
    return body(SimpleNamespace(parts=parts, model=model), lines, **kw)
