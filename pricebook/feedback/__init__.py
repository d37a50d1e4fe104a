"""The feedback queue: reviewers' price-mismatch feedback and market drift tasks, one table.

Market drift opens and updates its tasks here (`drift`: `open_or_update_drift`,
`resolved_price_ids`); the reviewer workflow (`workflow`: submit, accept, reject, need_info,
answer) works on the same `FeedbackItem` rows, which staff read through `views` (one item, the
queue, turnaround). `store` keeps at most one unresolved item per part × branch × price type ×
kind.
"""

from pricebook.feedback.drift import (
    MARKET_RESOLVED,
    close_drift_by_market,
    open_or_update_drift,
    resolved_price_ids,
    unresolved_drift_tasks,
)
from pricebook.feedback.store import find_unresolved
from pricebook.feedback.views import FeedbackView, feedback_queue, get_feedback, list_feedback
from pricebook.feedback.workflow import (
    accept_feedback,
    answer_feedback,
    need_info_feedback,
    reject_feedback,
    submit_feedback,
)

__all__ = [
    "MARKET_RESOLVED",
    "FeedbackView",
    "accept_feedback",
    "answer_feedback",
    "close_drift_by_market",
    "feedback_queue",
    "find_unresolved",
    "get_feedback",
    "list_feedback",
    "need_info_feedback",
    "open_or_update_drift",
    "reject_feedback",
    "resolved_price_ids",
    "submit_feedback",
    "unresolved_drift_tasks",
]
