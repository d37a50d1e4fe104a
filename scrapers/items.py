"""Items the spiders yield: raw market evidence, exactly as found on the page.

Nothing is converted here: ``raw_price`` keeps the text (``"¥1,280.00"``, ``"0.35万元"``,
``"850-920元"``); the core (``pricebook.market``) validates, normalises and matches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class MarketItem:
    source: str  # source name (the TOML file's `name`)
    url: str  # the page the row was found on
    fetched_at: str  # ISO 8601, UTC, e.g. "2025-01-31T08:00:00+00:00"
    raw_name: str  # part name as written, e.g. "前叶子板（左）"
    raw_price: str  # price text as written, e.g. "0.35万元" or "850-920元"
    raw_oe: str | None = None  # OE number as written, e.g. "5G0 807 221 A"
    raw_brand_text: str | None = None  # brand / fitment text, e.g. "大众 速腾 2019-"
    price_type_hint: str | None = None  # row text (e.g. "原厂件") or the source's default code
    region_code: str | None = None  # the source's region code, e.g. "440300"
    raw_region: str | None = None  # region text on the row, if the source has one (e.g. "广州")
    price_unit_hint: str = "元"  # the source's unit for bare numbers: "元" or "万元"
    page: int = 1  # page number within the crawl of one start URL (1-based)
    #: the source's order of price labels for texts with two prices, e.g. ["现价", "会员价"]
    price_preference: list[str] = field(default_factory=list)
    #: the source's own price type words (word → code), which win over the vocabulary
    price_type_words: dict[str, str] = field(default_factory=dict)
    listing_url: str | None = None  # the listing's own page, absolute, if the source links it
    item_id: str | None = None  # the source's id of the listing (SKU, goods id), if it has one
    seller: str | None = None  # the shop or seller offering it, if the source names one

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


ITEM_KEYS: tuple[str, ...] = tuple(MarketItem.__dataclass_fields__)
