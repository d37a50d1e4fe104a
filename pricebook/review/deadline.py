"""Time limits and authority (第七条): the review deadline in working days, and escalation
above the branch's authority."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pricebook.errors import InvalidInput
from pricebook.review.profiles import ProfileSettings
from pricebook.review.refs import BranchInfo
from pricebook.review.result import Deadline, Escalation
from pricebook.review.text import CHINA


def is_working_day(day: date, settings: ProfileSettings) -> bool:
    if day in settings.workdays:
        return True
    if day in settings.holidays:
        return False
    return day.weekday() < 5


def working_days_for(amount: Decimal, settings: ProfileSettings) -> int:
    for tier in settings.deadline_tiers:
        if amount <= tier.max_amount:
            return tier.days
    return settings.deadline_days_above


def review_deadline(amount: Decimal, submitted_at: datetime, settings: ProfileSettings) -> Deadline:
    """第七条: by closing time of the Nth working day after the day of submission (weekends and
    the profile's holidays skipped, its make-up working days counted); N by amount."""
    if submitted_at.tzinfo is None:
        # which day a naive time falls on depends on a zone nobody named: the caller decides
        # (`pricebook.estimates` reads a request's naive time as China time)
        raise ValueError("submitted_at must carry a time zone")
    past = InvalidInput(
        "the review deadline counted from submitted_at falls outside the calendar (years 1 to "
        "9999)",
        field="submitted_at",
    )
    try:
        local = submitted_at.astimezone(CHINA)
    except OverflowError:
        raise past from None
    days = working_days_for(amount, settings)
    day = local.date()
    counted = 0
    while counted < days:
        if day == date.max:
            raise past
        day += timedelta(days=1)
        if is_working_day(day, settings):
            counted += 1
    hour, minute = (int(x) for x in settings.closing_time.split(":"))
    return Deadline(
        amount=amount,
        working_days=days,
        submitted_at=local,
        due_at=datetime.combine(day, time(hour, minute), CHINA),
        night_shift_eligible=amount < settings.night_shift_below,
        holiday_duty_eligible=amount < settings.holiday_duty_below,
    )


def escalation(amount: Decimal, branch: BranchInfo) -> Escalation:
    """超权限上报: an estimate above the branch's review authority goes to its parent branch
    (or head office for a 分公司)."""
    required = amount > branch.authority_limit
    return Escalation(
        required=required,
        amount=amount,
        authority_limit=branch.authority_limit,
        branch=branch.code,
        escalate_to=(branch.parent_code or "head_office") if required else None,
    )
