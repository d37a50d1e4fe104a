"""A small catalogue as import rows: enough to exercise every kind without the demo data."""

from __future__ import annotations

BASE: dict[str, list[dict[str, str]]] = {
    "regions": [
        {"code": "CN", "name": "中国", "level": "country", "parent_code": ""},
        {"code": "440000", "name": "广东省", "level": "province", "parent_code": "CN"},
        {"code": "440300", "name": "深圳市", "level": "city", "parent_code": "440000"},
        {"code": "440100", "name": "广州市", "level": "city", "parent_code": "440000"},
    ],
    "branches": [
        {"code": "GD01", "name": "广东分公司", "region_code": "440000", "kind": "branch",
         "authority_limit_yuan": "100000.00", "parent_code": ""},
        {"code": "SZ01", "name": "深圳中心支公司", "region_code": "440300", "kind": "sub_branch",
         "authority_limit_yuan": "30000.00", "parent_code": "GD01"},
    ],
    "price_types": [
        {"code": "4s", "name": "4S店价", "rank": "50"},
        {"code": "brand", "name": "品牌件", "rank": "30"},
    ],
    "categories": [
        {"code": "body", "name": "外观件"},
        {"code": "lamp", "name": "灯具"},
    ],
    "models": [
        {"model_code": "VW-LAVIDA-2023", "brand_code": "VW", "brand_name": "大众",
         "series_code": "VW-LAVIDA", "series_name": "朗逸", "name": "2023款 1.5L 自动舒适版",
         "model_year": "2023", "body": "三厢", "engine": "1.5L", "vehicle_class": "B",
         "manufacturer_code": "SVW71512BM", "vin_prefixes": "LSVAB4BR"},
        {"model_code": "TY-COROLLA-2022", "brand_code": "TY", "brand_name": "丰田",
         "series_code": "TY-COROLLA", "series_name": "卡罗拉", "name": "2022款 1.2T 先锋版",
         "model_year": "2022", "body": "三厢", "engine": "1.2T", "vehicle_class": "B",
         "manufacturer_code": "TV7122AT", "vin_prefixes": "LFMAP86C"},
    ],
    "parts": [
        {"part_code": "VW1-0001", "name": "左前翼子板", "aliases": "左前叶子板|左前叶",
         "category": "body", "oe_number": "5G0 821 105 A", "position": "左前"},
        {"part_code": "VW1-0002", "name": "前大灯总成（左）", "aliases": "左大灯",
         "category": "lamp", "oe_number": "5G1 941 005", "is_assembly": "1",
         "components": "VW1-0003|VW1-0004*2", "superseded_oe": "5G1 941 005 A"},
        {"part_code": "VW1-0003", "name": "大灯灯泡", "aliases": "", "category": "lamp",
         "oe_number": "N 105 182 02"},
        {"part_code": "VW1-0004", "name": "大灯支架（左）", "aliases": "", "category": "lamp",
         "oe_number": "5G0 805 071"},
    ],
    "fitment": [
        {"part_code": "VW1-0001", "model_code": "VW-LAVIDA-2023"},
        {"part_code": "VW1-0002", "model_code": "VW-LAVIDA-2023"},
    ],
    "prices": [
        {"part_code": "VW1-0001", "model_code": "", "scope": "system", "price_type": "4s",
         "amount_yuan": "980.00", "valid_from": "2024-01-01", "valid_to": "2025-07-01"},
        {"part_code": "VW1-0001", "model_code": "", "scope": "system", "price_type": "4s",
         "amount_yuan": "1050.00", "valid_from": "2025-07-01", "valid_to": ""},
        {"part_code": "VW1-0001", "model_code": "", "scope": "SZ01", "price_type": "4s",
         "amount_yuan": "990.00", "valid_from": "2025-07-01", "valid_to": "2027-01-01"},
        {"part_code": "VW1-0001", "model_code": "", "scope": "SZ01", "price_type": "4s",
         "amount_yuan": "1010.00", "valid_from": "2027-01-01", "valid_to": ""},
        {"part_code": "VW1-0002", "model_code": "VW-LAVIDA-2023", "scope": "440000",
         "price_type": "brand", "amount_yuan": "1500.50", "valid_from": "2025-01-01",
         "valid_to": ""},
    ],
    "labor_rates": [
        {"branch_code": "SZ01", "labor_kind": "paint", "shop_tier": "4s", "vehicle_class": "B",
         "rate_yuan": "110.00", "valid_from": "2025-01-01", "valid_to": ""},
    ],
    "standard_hours": [
        {"part_code": "VW1-0001", "operation": "replace", "vehicle_class": "B",
         "labor_kind": "sheet_metal", "hours": "2.5", "includes": "remove_refit"},
        {"part_code": "VW1-0001", "operation": "remove_refit", "vehicle_class": "B",
         "labor_kind": "remove_refit", "hours": "1.0", "includes": ""},
    ],
    "channels": [
        {"code": "CH-SHOP1", "name": "深圳鹏城汽修", "kind": "repair_shop", "branch_code": "SZ01"},
    ],
    "rate_cards": [
        {"channel_code": "CH-SHOP1", "valid_from": "2025-01-01", "valid_to": "", "line": "labor",
         "labor_kind": "paint", "rate_yuan": "", "pct_of_standard": "90", "category": "",
         "price_type": "", "discount_pct": ""},
        {"channel_code": "CH-SHOP1", "valid_from": "2025-01-01", "valid_to": "", "line": "parts",
         "labor_kind": "", "rate_yuan": "", "pct_of_standard": "", "category": "body",
         "price_type": "brand", "discount_pct": "12.5"},
    ],
}  # fmt: skip

ORDER = tuple(BASE)


def load(session, rows: dict[str, list[dict[str, str]]] | None = None, actor: str = "test") -> None:
    from pricebook.io import import_rows

    for kind, kind_rows in (rows or BASE).items():
        import_rows(session, kind, kind_rows, actor=actor, reason="test catalogue")
