"""The core functions the feedback and indicator pages call, found by name at call time.

The reviewer feedback workflow and the indicators are being written in the core
(`pricebook.feedback`, `pricebook.indicators`) alongside this UI. The pages call them through
this one module, so wiring them is a matter of these names and keyword arguments:

    pricebook.feedback.submit_feedback(session, *, part_id, model_id, branch_id, price_type_id,
        reference, observed, note, url, estimate_ref, actor)        -> item (with .id)
    pricebook.feedback.list_feedback(session, *, status, branch_id, created_by, max_age_days,
        limit)                                                       -> list of items
    pricebook.feedback.accept_feedback(session, item_id, *, actor, amount, valid_from, reason)
    pricebook.feedback.reject_feedback(session, item_id, *, actor, reason)
    pricebook.feedback.need_info_feedback(session, item_id, *, actor, reason)
    pricebook.indicators.compute_indicators(session, *, branch, date_from, date_to)

Items are read by attribute: id, kind, part_id, model_id, branch_id, price_type_id, reference
(or reference_fen), observed (or observed_fen), note, url, estimate_ref, status, created_by,
created_at, resolved_by, resolved_at, resolution_reason, linked_to_id, resulting_price_id.
A page whose function is missing says so instead of failing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

NAMES = {
    "submit": ("pricebook.feedback", "submit_feedback"),
    "list": ("pricebook.feedback", "list_feedback"),
    "accept": ("pricebook.feedback", "accept_feedback"),
    "reject": ("pricebook.feedback", "reject_feedback"),
    "need_info": ("pricebook.feedback", "need_info_feedback"),
    "indicators": ("pricebook.indicators", "compute_indicators"),
}


class Missing(LookupError):
    """The core function behind a page does not exist yet."""


def find(feature: str) -> Callable[..., Any] | None:
    module_name, name = NAMES[feature]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    fn = getattr(module, name, None)
    return fn if callable(fn) else None


def get(feature: str) -> Callable[..., Any]:
    fn = find(feature)
    if fn is None:
        module_name, name = NAMES[feature]
        raise Missing(f"{module_name}.{name}")
    return fn


def available() -> dict[str, bool]:
    return {feature: find(feature) is not None for feature in NAMES}
