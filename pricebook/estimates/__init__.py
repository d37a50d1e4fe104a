"""Validating estimates: the request, one bulk load of every reference, the pure rules
(`pricebook.review`), and the stored result.

`validate(session, request)`:
1. the database's reference generation, the stored result of the same estimate id and
   version (returned unless `force`) and the VIN's earlier validations (one statement);
2. custom part names (and OE numbers) through the in-memory matching index — no SQL;
3. every reference the rules need, in a fixed number of statements whatever the number of
   lines (prices of the lines' parts and their components, fitment, labor rates, standard hours
   and every operation inclusion reachable from theirs (one recursive query), the channel's
   card, the rule profile, consumable standards, the rescue tariff). What does not change
   between estimates is kept in this process per generation (`_References`): once warm, a
   validation reads none of them, OE lookups apart;
4. `review.review(estimate, refs)`;
5. one INSERT of the request, the result and the indicator figures.

Modules: `request` (the wire types and their checks), `statements` (built once per process),
`memo` (what a process keeps per reference generation), `references` (`load_refs`) and `validation`
(validate, store, read back). Rule profiles, consumable standards and rescue tariffs are
configured in `pricebook.review_config`.
"""

from pricebook.estimates.memo import (
    MAX_REFERENCES,
    REFERENCE_STATS,
    Generation,
    ReferenceStats,
    clear_caches,
    reference_cache_stats,
)
from pricebook.estimates.references import load_refs
from pricebook.estimates.request import (
    MAX_AMOUNT,
    MAX_DAMAGED,
    MAX_HOURS,
    MAX_KM,
    MAX_LINES,
    MAX_QUANTITY,
    ConsumableLineIn,
    EstimateRequest,
    LaborLineIn,
    PartLineIn,
    RescueLineIn,
    decode_request,
    line_message,
    normalized_vin,
    to_estimate,
)
from pricebook.estimates.validation import (
    Matcher,
    Unstored,
    Validation,
    list_validations,
    run_matcher,
    store_validations,
    stored_validation,
    validate,
    validate_unstored,
)

__all__ = [
    "MAX_AMOUNT",
    "MAX_DAMAGED",
    "MAX_HOURS",
    "MAX_KM",
    "MAX_LINES",
    "MAX_QUANTITY",
    "MAX_REFERENCES",
    "REFERENCE_STATS",
    "ConsumableLineIn",
    "EstimateRequest",
    "Generation",
    "LaborLineIn",
    "Matcher",
    "PartLineIn",
    "ReferenceStats",
    "RescueLineIn",
    "Unstored",
    "Validation",
    "clear_caches",
    "decode_request",
    "line_message",
    "list_validations",
    "load_refs",
    "normalized_vin",
    "reference_cache_stats",
    "run_matcher",
    "store_validations",
    "stored_validation",
    "to_estimate",
    "validate",
    "validate_unstored",
]
