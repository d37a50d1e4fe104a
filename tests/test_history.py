"""The versioning rule, pure: unchanged, supersede, close early, conflicts."""

from datetime import date

import pytest

from pricebook.errors import Conflict
from pricebook.history import Version, in_force, plan_version

D = date.fromisoformat


def test_same_value_in_force_is_unchanged():
    versions = [Version(1, D("2025-01-01"), None, 100)]
    assert plan_version(versions, D("2025-06-01"), None, 100).unchanged


def test_new_value_closes_the_version_in_force_on_its_first_day():
    current = Version(1, D("2025-01-01"), None, 100)
    plan = plan_version([current], D("2025-06-01"), None, 120)
    assert plan.insert
    assert plan.close == (current, D("2025-06-01"))


def test_same_value_with_earlier_end_closes_early_without_new_version():
    current = Version(1, D("2025-01-01"), None, 100)
    plan = plan_version([current], D("2025-01-01"), D("2026-01-01"), 100)
    assert not plan.insert
    assert plan.close == (current, D("2026-01-01"))


def test_open_ended_version_may_not_swallow_a_future_one():
    versions = [
        Version(1, D("2025-01-01"), D("2027-01-01"), 100),
        Version(2, D("2027-01-01"), None, 130),
    ]
    with pytest.raises(Conflict, match="2027-01-01"):
        plan_version(versions, D("2026-03-01"), None, 110)
    # bounded before the future version: allowed, and it supersedes the one in force
    plan = plan_version(versions, D("2026-03-01"), D("2027-01-01"), 110)
    assert plan.insert and plan.close == (versions[0], D("2026-03-01"))


def test_a_version_is_never_extended():
    versions = [Version(1, D("2025-01-01"), D("2026-01-01"), 100)]
    with pytest.raises(Conflict, match="never extended"):
        plan_version(versions, D("2025-01-01"), D("2026-06-01"), 100)


def test_in_force_respects_half_open_periods_and_ignores_withdrawn_versions():
    versions = [
        Version(1, D("2025-01-01"), D("2025-07-01"), 100),
        Version(2, D("2025-07-01"), None, 110),
        Version(3, D("2026-01-01"), D("2026-01-01"), 999),  # withdrawn before its day
    ]
    assert in_force(versions, D("2025-06-30")).value == 100
    assert in_force(versions, D("2025-07-01")).value == 110
    assert in_force(versions, D("2026-01-01")).value == 110
    assert in_force(versions, D("2024-12-31")) is None
