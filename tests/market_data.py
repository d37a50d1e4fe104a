"""The market tests' data: the catalogue the fixture market (tests/market_site) is matched
against, a scraped listing to vary, the ground truth of the fixture title shop, and unmatched
listings for the UI's queue.

The catalogue (`market_catalog_rows`) is `tests.catalog_rows` plus the parts the fixture market
sells, so real crawls (tests/test_crawl.py) match against it: OE numbers of the listings, a
superseded OE, a universal consumable sold by all three sources, and a localized price of that
consumable far below the market (the one drift task).
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from pricebook.db import make_engine, transaction
from pricebook.models import MarketObservation
from pricebook.settings import Settings
from tests import catalog_rows
from tests.api_client import part_id_of

TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def market_catalog_rows() -> dict[str, list[dict[str, str]]]:
    """`tests.catalog_rows` plus the parts, models and prices the fixture market needs."""
    rows = copy.deepcopy(catalog_rows.BASE)
    rows["regions"] += [
        {"code": "320000", "name": "江苏省", "level": "province", "parent_code": "CN"},
        {"code": "320500", "name": "苏州市", "level": "city", "parent_code": "320000"},
    ]
    rows["price_types"] += [
        {"code": "oem", "name": "市场原厂件", "rank": "40"},
        {"code": "compatible", "name": "适用件", "rank": "20"},
        {"code": "salvage", "name": "拆车件", "rank": "10"},
    ]
    rows["categories"] += [
        {"code": "consumable", "name": "辅料/油液"},
        {"code": "mechanical", "name": "机械件"},
    ]
    model = dict.fromkeys(rows["models"][0], "")

    def vw(code: str, series_code: str, series: str, name: str, year: int) -> dict[str, str]:
        return model | {
            "model_code": code,
            "brand_code": "VW",
            "brand_name": "大众",
            "series_code": series_code,
            "series_name": series,
            "name": name,
            "model_year": str(year),
            "body": "两厢",
            "engine": "1.4T",
            "vehicle_class": "B",
        }

    rows["models"] += [
        vw("VW-GOLF7-2015", "VW-GOLF", "高尔夫", "2015款 1.4T 舒适型", 2015),
        vw("VW-SAGITAR-2019", "VW-SAGITAR", "速腾", "2019款 1.4T 舒适型", 2019),
    ]
    part = dict.fromkeys(rows["parts"][0], "")
    # the fixture market lists 左前叶子板 under the older OE number (no "A")
    rows["parts"][0]["superseded_oe"] = "5G0 821 105"
    rows["parts"] += [
        part | {"part_code": "GF7-0001", "name": "前保险杠皮", "aliases": "前杠|前保险杠",
                "category": "body", "oe_number": "5G0 807 221 A", "position": "前"},
        part | {"part_code": "GF7-0002", "name": "后视镜总成（左）", "aliases": "左后视镜",
                "category": "body", "oe_number": "5G0 857 507", "position": "左",
                "is_assembly": "1"},
        part | {"part_code": "SG-0001", "name": "左前翼子板", "aliases": "左前叶子板",
                "category": "body", "oe_number": "5GD 821 105", "position": "左前"},
        part | {"part_code": "TY1-0001", "name": "散热器", "aliases": "水箱|散热器总成",
                "category": "mechanical", "oe_number": "16400-0T040"},
        part | {"part_code": "OIL-0001", "name": "全合成机油（4L）",
                "aliases": "机油|机油 4L|发动机油", "category": "consumable", "universal": "1",
                "unit": "桶"},
    ]  # fmt: skip
    rows["fitment"] += [
        {"part_code": "GF7-0001", "model_code": "VW-GOLF7-2015"},
        {"part_code": "GF7-0002", "model_code": "VW-GOLF7-2015"},
        {"part_code": "SG-0001", "model_code": "VW-SAGITAR-2019"},
        {"part_code": "TY1-0001", "model_code": "TY-COROLLA-2022"},
    ]
    price = dict.fromkeys(rows["prices"][0], "")
    rows["prices"] += [
        # market median of 品牌件 机油 in the fixture market: 398 (398, 399, 329)
        price | {"part_code": "OIL-0001", "scope": "system", "price_type": "brand",
                 "amount_yuan": "390.00", "valid_from": "2025-01-01"},  # within 20%: no task
        price | {"part_code": "OIL-0001", "scope": "SZ01", "price_type": "brand",
                 "amount_yuan": "300.00", "valid_from": "2025-01-01"},  # 24.6% below: a task
    ]  # fmt: skip
    return rows


def load_market_catalog(engine: Engine) -> None:
    with transaction(engine) as session:
        catalog_rows.load(session, market_catalog_rows())


def scraped_item(name: str = "机油 4L", price: str = "398", **kw: object) -> dict[str, object]:
    """A scraped listing as the spiders yield it: 机油 4L at 398 from source s1 in Shenzhen."""
    item = {
        "source": "s1",
        "url": "http://m.test/list",
        "fetched_at": NOW.isoformat(),
        "raw_name": name,
        "raw_price": price,
        "raw_oe": None,
        "raw_brand_text": None,
        "price_type_hint": "品牌件",
        "region_code": "440300",
        "raw_region": None,
        "price_unit_hint": "元",
        "page": 1,
    }
    item.update(kw)
    return item


#: Name-only shop titles over the demo catalogue (`pricebook.demo`): title → the part it sells,
#: or None where the catalogue has no such part for that vehicle (the series has no parts of
#: its own, or the part does not exist): those must stay unmatched.
TITLES: dict[str, str | None] = {
    "大众朗逸 左后叶子板 原厂": "VW1-0092",
    "本田雅阁 前大灯 左 原厂": "HD1-0012",
    "比亚迪秦PLUS 左后视镜": "BYD1-0035",
    "大众朗逸 左后雾灯 原厂": "VW1-0111",
    "丰田卡罗拉 左前叶子板": "TY1-0018",
    "日产轩逸 水箱 原厂": "NS1-0019",
    "吉利帝豪 右大灯": "GL1-0013",
    "哈弗H6 2023款 机盖": "HV1-0009",
    "比亚迪秦 PLUS 右前大灯总成": "BYD1-0013",
    "宝马3系 左前门": "BM1-0027",
    "奔驰C级 右后视镜总成 原厂": "BZ1-0036",
    "特斯拉Model Y 前挡风玻璃": "TS1-0022",
    "东风日产轩逸 右前门玻璃": "NS1-0024",
    "帝豪 左后门玻璃 品牌件": "GL1-0025",
    "适用于丰田卡罗拉 右大灯灯罩": "TY1-0030",
    "一汽丰田卡罗拉 21款 水箱": "TY1-0035",
    "宝马 3系 右后视镜壳": "BM1-0040",
    "朗逸 1.5L 右前叶子板": "VW1-0019",
    "本田雅阁 前杠": "HD1-0002",  # 前杠 names the skin and the assembly: a person decides
    # not in the catalogue for that vehicle: never matched
    "一汽大众速腾 右前大灯总成": None,  # 速腾 has no parts in the demo catalogue
    "广汽本田思域 右后视镜": None,
    "特斯拉Model 3 前挡风玻璃": None,
    "本田雅阁 行车记录仪": None,
    "丰田卡罗拉 左后轮眉": None,
}


def add_unmatched_listings(settings: Settings) -> dict[str, int]:
    """Two unmatched listings: one with a suggestion, one without; name → observation id."""
    suggested = part_id_of(settings, "VW1-0002")
    seen = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            rows = {}
            for name, suggestion in (("大灯总成 左 原厂", suggested), ("门槛 右", None)):
                obs = MarketObservation(
                    source="shop-a",
                    item_key=name,
                    url="http://127.0.0.1/list",
                    listing_url=f"http://127.0.0.1/item/{len(rows)}",
                    seller="华强汽配",
                    fetched_at=seen,
                    first_seen=seen,
                    last_seen=seen,
                    raw_name=name,
                    raw_price="¥1,234.50",
                    suggested_part_id=suggestion,
                    confidence_bp=7100,
                    amount_fen=123450,
                    status="unmatched",
                )
                session.add(obs)
                session.flush()
                rows[name] = obs.id
            return rows
    finally:
        engine.dispose()
