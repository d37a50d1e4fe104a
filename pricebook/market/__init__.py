"""Market prices: observations, market references and drift detection.

Scrapers only fetch and parse (``scrapers/``); everything after that happens here, a module
per stage:

1. **Parse** (`parse`): a raw item's name, price (`price_text`: 元, ¥/￥, 万元, ranges counted
   at their midpoint, labels such as 会员价 and the rule that picks one of two prices; 面议 and
   friends are dropped with a reason), vehicle (`titles`), region, price type (the source's
   words, then `pricebook.price_words`) and `listing_key`. The raw text is kept.
2. **Match** (`match`): the OE number first (current, then superseded), else the matching
   engine, blocked by the brand/series the listing names; a part that does not fit that vehicle
   is at most a suggestion. Below the confidence threshold the observation is stored
   ``unmatched`` with its best candidate for a person to review (`review`). The catalogue the
   matcher and the parser read is kept per process (`catalog`), following the database's
   generations.
3. **Store** (`ingest`, `ingest_items`): change-only observations, one transaction and a
   constant number of statements per batch; ingests of one source take turns (`lock_key`).
4. **Market reference** (`references`): per part × region × price type over a window.
5. **Drift** (`drift`, `detect_drift`): prices in force against the market median; drift
   tasks in the feedback queue opened, updated, reopened or closed by the market.
"""

from pricebook.market.catalog import _catalog
from pricebook.market.drift import (
    DEFAULT_DRIFT_MIN_OBSERVATIONS,
    DEFAULT_DRIFT_THRESHOLD_PCT,
    DriftFinding,
    DriftReport,
    compare_with_market,
    detect_drift,
    deviation_bp,
    drift_note,
)
from pricebook.market.ingest import (
    DEFAULT_MATCH_THRESHOLD_BP,
    INGEST_CHUNK,
    IngestResult,
    dispose_engines,
    ingest_batch,
    ingest_items,
)
from pricebook.market.match import MATCH_CACHE_SIZE
from pricebook.market.parse import listing_key
from pricebook.market.price_text import explain_price, parse_price, read_price
from pricebook.market.references import (
    DEFAULT_WINDOW_DAYS,
    PART_OBSERVATIONS_LIMIT,
    MarketReference,
    PartObservation,
    market_references,
    part_observations,
    pick_reference,
    region_chains,
)

__all__ = [
    "DEFAULT_DRIFT_MIN_OBSERVATIONS",
    "DEFAULT_DRIFT_THRESHOLD_PCT",
    "DEFAULT_MATCH_THRESHOLD_BP",
    "DEFAULT_WINDOW_DAYS",
    "INGEST_CHUNK",
    "MATCH_CACHE_SIZE",
    "PART_OBSERVATIONS_LIMIT",
    "DriftFinding",
    "DriftReport",
    "IngestResult",
    "MarketReference",
    "PartObservation",
    "_catalog",
    "compare_with_market",
    "detect_drift",
    "deviation_bp",
    "dispose_engines",
    "drift_note",
    "explain_price",
    "ingest_batch",
    "ingest_items",
    "listing_key",
    "market_references",
    "parse_price",
    "part_observations",
    "pick_reference",
    "read_price",
    "region_chains",
]
