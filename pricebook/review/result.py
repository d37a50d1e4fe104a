"""The result of a review, and how a line's rules compose into its allowed amount and flags."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec

from pricebook.review.refs import MatchInfo

Severity = Literal["info", "warning", "error"]
Status = Literal["ok", "flagged", "unknown"]

# ------------------------------------------------------------------------------------------------
# The result
# ------------------------------------------------------------------------------------------------


class Reference(msgspec.Struct, frozen=True):
    """The value a claim was compared with, and where it comes from."""

    value: Decimal | None
    unit: str  # yuan | yuan/h | h | the consumable's unit
    label_zh: str
    label_en: str
    provenance: dict[str, Any] = msgspec.field(default_factory=dict)


class Flag(msgspec.Struct, frozen=True):
    code: str
    severity: Severity
    message_zh: str
    message_en: str
    reference: Reference | None
    claimed: Decimal
    allowed: Decimal  # the line's allowed amount once this flag's rule applied
    cut: Decimal  # what this rule cut, on top of the rules before it
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class PartRefOut(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    category: str
    matched_by: str  # part_id | oe | custom_name


class LineResult(msgspec.Struct, frozen=True):
    index: int  # 0-based, as in the request's `lines`
    line_no: int  # index + 1: the line as adjusters count them (and every message names it)
    kind: str
    line_id: str
    status: Status
    claimed: Decimal
    allowed: Decimal
    cut: Decimal
    flags: tuple[Flag, ...]
    part: PartRefOut | None = None
    match: MatchInfo | None = None
    #: labor lines: what the standard hours of this operation already include (shown, since
    #: estimators find it hard to see)
    includes: tuple[dict[str, Any], ...] = ()


class Totals(msgspec.Struct, frozen=True):
    claimed: Decimal
    allowed: Decimal
    cut: Decimal


class Deadline(msgspec.Struct, frozen=True):
    amount: Decimal
    working_days: int
    submitted_at: datetime
    due_at: datetime
    night_shift_eligible: bool
    holiday_duty_eligible: bool


class Escalation(msgspec.Struct, frozen=True):
    required: bool
    amount: Decimal
    authority_limit: Decimal
    branch: str
    escalate_to: str | None


class Indicators(msgspec.Struct, frozen=True):
    """Inputs of the desk's indicators (第四条): 配件自定义率 and 系统车型点选率."""

    part_lines: int
    custom_part_lines: int
    custom_matched: int
    model_selected: bool


class Note(msgspec.Struct, frozen=True, omit_defaults=True):
    """Something the answer rests on that no line's flag says: a default the validation
    assumed for a field left out (`DEFAULT_APPLIED`, `field` names it), a damaged component
    the catalogue does not have (`DAMAGED_COMPONENT_UNKNOWN`, on line `line_no`)."""

    code: str
    message_zh: str
    message_en: str
    field: str | None = None
    index: int | None = None
    line_no: int | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class Result(msgspec.Struct, frozen=True):
    estimate_id: str
    estimate_version: int
    estimate_date: date
    branch: str
    profile_code: str
    profile_version: int
    lines: tuple[LineResult, ...]
    totals: Totals
    counts: dict[str, int]
    deadline: Deadline
    escalation: Escalation
    indicators: Indicators
    notes: tuple[Note, ...] = ()


# ------------------------------------------------------------------------------------------------
# Composition: a line's allowed amount through its rules
# ------------------------------------------------------------------------------------------------


class Proposal(msgspec.Struct, frozen=True):
    """What one rule says about a line: a flag, and optionally a lower allowed amount."""

    code: str
    message_zh: str
    message_en: str
    reference: Reference | None = None
    allowed: Decimal | None = None  # None: no money effect
    severity: Severity | None = None  # None: the profile's severity for the code
    details: dict[str, Any] = msgspec.field(default_factory=dict)
