"""Prices: versions over time per key, and which one is the reference on a day.

- `resolve`: the layered precedence as one pure function over plain records;
- `load`: everything `resolve` needs for many items in a fixed number of statements, as named
  stages; `union` is the one statement it reads prices, parts and market references with;
- `history`: the versions in force on a day and a part's history page;
- `write`: staff edits of price keys through the one versioned-write path (`pricebook.versioned`);
- `options`: what an edit form offers.
"""

from pricebook.prices.history import HistoryRow, history, price_history, versions_in_force
from pricebook.prices.load import (
    BranchNode,
    PartRef,
    ReferenceData,
    ResolveOutcome,
    ResolveRequest,
    chain_for,
    load_and_resolve,
    load_reference,
    reference_generation,
)
from pricebook.prices.options import Coded, ReferenceLists, reference_lists
from pricebook.prices.resolve import (
    AGREEMENTS,
    Agreement,
    Candidate,
    CardTerms,
    MarketReference,
    PriceQuery,
    PriceTypeInfo,
    PriceVersion,
    Resolution,
    ScopeStep,
    chain_steps,
    resolve,
)
from pricebook.prices.union import MARKET_WINDOW_DAYS
from pricebook.prices.write import (
    PRICE_KEY_COLUMNS,
    KeyTuple,
    PriceKey,
    PriceKeyVersions,
    PriceWrite,
    check_price_key,
    end_price,
    etags_by_key,
    price_key,
    price_key_versions,
    write_price,
)

__all__ = [
    "AGREEMENTS",
    "MARKET_WINDOW_DAYS",
    "PRICE_KEY_COLUMNS",
    "Agreement",
    "BranchNode",
    "Candidate",
    "CardTerms",
    "Coded",
    "HistoryRow",
    "KeyTuple",
    "MarketReference",
    "PartRef",
    "PriceKey",
    "PriceKeyVersions",
    "PriceQuery",
    "PriceTypeInfo",
    "PriceVersion",
    "PriceWrite",
    "ReferenceData",
    "ReferenceLists",
    "Resolution",
    "ResolveOutcome",
    "ResolveRequest",
    "ScopeStep",
    "chain_for",
    "chain_steps",
    "check_price_key",
    "end_price",
    "etags_by_key",
    "history",
    "load_and_resolve",
    "load_reference",
    "price_history",
    "price_key",
    "price_key_versions",
    "reference_generation",
    "reference_lists",
    "resolve",
    "versions_in_force",
    "write_price",
]
