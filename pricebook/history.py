"""Versions over time: how a new value for a key supersedes the one in force.

Pure planning (`plan_version`) is kept apart from writing, so single edits, imports and feedback
all follow one rule, and the rule is tested without a database:

- the version in force on `valid_from` with the same value → nothing changes (re-import is a no-op);
  the same value with an earlier `valid_to` → that version is closed early (end of validity);
- another value → the version in force is closed on `valid_from` and the new one opens;
- a new version may never reach into a later version's period: that is a conflict to resolve
  by hand (give `valid_to`), never something to overwrite.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date

from pricebook.errors import Conflict

FOREVER = date(9999, 12, 31)


def withdrawn(valid_from: date, valid_to: date | None) -> bool:
    """An empty period: a version withdrawn before its first day, which never applies."""
    return valid_to is not None and valid_to <= valid_from


def applies_on(valid_from: date, valid_to: date | None, day: date) -> bool:
    """Python's "in force on a day" (`pricebook.versioned.in_force` is the SQL one): from
    `valid_from` up to, not including, `valid_to`; never for a withdrawn version (its period
    is empty: no day is both ≥ valid_from and < a valid_to ≤ valid_from). One expression, no
    call: a price resolution asks it of every candidate version."""
    return valid_from <= day and (valid_to is None or day < valid_to)


@dataclass(slots=True)
class Version:
    """One stored (or, during an import, pending) version of a key."""

    id: int | None
    valid_from: date
    valid_to: date | None
    value: Hashable

    @property
    def end(self) -> date:
        return self.valid_to or FOREVER

    @property
    def is_empty(self) -> bool:
        return withdrawn(self.valid_from, self.valid_to)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one new (valid_from, valid_to, value)."""

    insert: bool
    #: the version to close, and the day it closes on.
    close: tuple[Version, date] | None = None

    @property
    def unchanged(self) -> bool:
        return not self.insert and self.close is None


def in_force(versions: Sequence[Version], day: date) -> Version | None:
    for version in versions:
        if applies_on(version.valid_from, version.valid_to, day):
            return version
    return None


def plan_version(
    versions: Sequence[Version], valid_from: date, valid_to: date | None, value: Hashable
) -> Plan:
    if valid_to is not None and valid_to <= valid_from:
        raise Conflict(
            f"valid_to {valid_to} must be after valid_from {valid_from}", field="valid_to"
        )
    current = in_force(versions, valid_from)
    later = [v for v in versions if not v.is_empty and v.valid_from > valid_from]
    next_start = min((v.valid_from for v in later), default=None)

    if current is not None and current.value == value:
        if valid_to is None or valid_to == current.valid_to:
            return Plan(insert=False)
        if valid_to < current.end:
            return Plan(insert=False, close=(current, valid_to))
        raise Conflict(
            f"the version from {current.valid_from} ends on {current.valid_to}; a version is never "
            f"extended: add a new one from {current.valid_to}",
            field="valid_to",
        )

    if next_start is not None and (valid_to is None or valid_to > next_start):
        raise Conflict(
            f"overlaps the version from {next_start}: give valid_to {next_start} or earlier",
            field="valid_to",
        )
    close = (current, valid_from) if current is not None else None
    return Plan(insert=True, close=close)
