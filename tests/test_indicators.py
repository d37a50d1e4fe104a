"""The desk's indicators on a worked example: every figure with its numerator and denominator."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from pricebook import indicators
from pricebook.db import make_engine, transaction
from pricebook.io import import_rows
from pricebook.models import FeedbackItem
from tests.api_client import Api, seed
from tests.indicator_rows import add_validation, catalog_ids

NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)


def test_median_and_nearest_rank_percentile():
    values = [Decimal(v) for v in ("30", "2", "100", "10", "4")]
    assert indicators.median(values) == Decimal("10")
    assert indicators.median(values[:4]) == Decimal("20")  # 2 10 | 30 100 → (10 + 30) / 2
    assert indicators.percentile(values, 90) == Decimal("100")  # rank ceil(4.5) = 5
    assert indicators.percentile(values, 50) == Decimal("10")
    assert indicators.percentile(values[:1], 90) == Decimal("30")
    assert indicators.median([]) is None and indicators.percentile([], 90) is None
    assert indicators.rate(2, 3) == {"numerator": 2, "denominator": 3, "rate": Decimal("0.6667")}
    assert indicators.rate(0, 0)["rate"] is None


def _item(session, ids, *, part, branch, status, hours=None, created=None, linked=None, ptype="4s"):
    created = created or datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
    resolved = created + timedelta(hours=hours) if hours is not None else None
    return session.execute(
        insert(FeedbackItem)
        .values(
            kind="reviewer",
            part_id=ids[part],
            branch_id=ids[branch],
            price_type_id=ids[ptype],
            evidence={},
            note="",
            url="",
            estimate_ref="",
            status=status,
            created_by="r",
            created_at=created,
            updated_at=created,
            resolved_by="s" if resolved else None,
            resolved_at=resolved,
            resolution_reason="",
            linked_to_id=linked,
        )
        .returning(FeedbackItem.id)
    ).scalar_one()


@pytest.fixture
def example(settings):
    """Estimates E1 (two versions), E2, E3 in SZ01, E4 before the period, E5 in GD01; feedback
    decided in 2, 4, 10, 30 and 100 hours, plus open ones."""
    seed(settings)
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            ids = catalog_ids(session)
            P1, P2, P3, P4 = ids["P1"], ids["P2"], ids["P3"], ids["P4"]
            sz, gd = ids["SZ01"], ids["GD01"]
            add_validation(session, "E1", 1, date(2026, 11, 1), sz, ids["m1"], [P1], 4, 2)
            # E1 v2: 5 part lines, 1 custom (the None), one custom the matcher resolved to P1
            add_validation(
                session, "E1", 2, date(2026, 11, 2), sz, ids["m1"], [P1, P2, P3, None, P1], 5, 1
            )
            add_validation(session, "E2", 1, date(2026, 11, 5), sz, ids["m2"], [P1, P4], 2, 0)
            add_validation(session, "E3", 1, date(2026, 11, 6), sz, None, [None, None, P3], 3, 3)
            add_validation(session, "E4", 1, date(2026, 10, 1), sz, ids["m2"], [P4], 9, 9)
            add_validation(session, "E5", 1, date(2026, 11, 7), gd, ids["m1"], [P2], 1, 0)
            hours = [2, 4, 10, 30, 100]
            done = [
                _item(session, ids, part="P1", branch="SZ01", status="accepted", hours=h)
                for h in hours
            ]
            first = done[0]
            # a linked item follows its primary: not counted again
            _item(
                session, ids, part="P1", branch="SZ01", status="accepted", hours=500, linked=first
            )
            # decided before the period: not counted
            _item(
                session,
                ids,
                part="P1",
                branch="SZ01",
                status="rejected",
                hours=1,
                created=datetime(2026, 9, 1, tzinfo=UTC),
            )
            _item(session, ids, part="P2", branch="SZ01", status="open")
            _item(session, ids, part="P3", branch="SZ01", status="need_info")
            _item(session, ids, part="P3", branch="GD01", status="open")
            _item(session, ids, part="P3", branch="SZ01", status="open", linked=first)
    finally:
        engine.dispose()
    return settings, ids


def compute(settings, **kwargs):
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            return indicators.compute_indicators(session, **kwargs)
    finally:
        engine.dispose()


def test_worked_example_for_one_branch(example):
    settings, ids = example
    result = compute(settings, branch="SZ01", date_from=NOV_1, date_to=NOV_30, top=2)
    assert result.estimates == 3  # E1 (its latest version), E2, E3
    # (1 + 0 + 3) custom lines of (5 + 2 + 3)
    assert result.custom_part_rate == {"numerator": 4, "denominator": 10, "rate": Decimal("0.4000")}
    # E1 and E2 picked a catalogue model, E3 typed one
    assert result.model_selection_rate == {
        "numerator": 2,
        "denominator": 3,
        "rate": Decimal("0.6667"),
    }
    # top models: m1 (E1), m2 (E2) — one each, by id; top parts: P1 (3 lines), P3 (2 lines)
    assert result.top_models == [ids["m1"], ids["m2"]]
    assert result.top_parts == [ids["P1"], ids["P3"]]
    # pairs: (m1, P1) (P1 fits only m1), (m1, P3), (m2, P3) (P3 has no fitment rows);
    # localized in SZ01's chain on 11-30: P1 (SZ01's 4s price, all models) only
    assert result.localization_rate == {"numerator": 1, "denominator": 3, "rate": Decimal("0.3333")}
    # feedback decided in the period: 2, 4, 10, 30, 100 hours → median 10, p90 100
    assert result.feedback_turnaround == {
        "count": 5,
        "median_hours": Decimal("10.0"),
        "p90_hours": Decimal("100.0"),
    }
    assert result.open_queue == 2  # open + need_info in SZ01, the linked one not counted

    # a region price for P3 on model m2 in 440000 (SZ01's province) localizes (m2, P3)
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            import_rows(
                session,
                "prices",
                [
                    {
                        "part_code": "VW1-0003",
                        "model_code": "TY-COROLLA-2022",
                        "scope": "440000",
                        "price_type": "brand",
                        "amount_yuan": "60.00",
                        "valid_from": "2026-11-15",
                        "valid_to": "",
                    }
                ],
                actor="test",
                reason="本地化",
            )
    finally:
        engine.dispose()
    result = compute(settings, branch="SZ01", date_from=NOV_1, date_to=NOV_30, top=2)
    assert result.localization_rate["numerator"] == 2
    # on a day before it took effect it does not count
    result = compute(settings, branch="SZ01", date_from=NOV_1, date_to=date(2026, 11, 14), top=2)
    assert result.localization_rate["numerator"] == 1


def test_worked_example_for_all_branches(example):
    settings, ids = example
    result = compute(settings, date_from=NOV_1, date_to=NOV_30, top=2)
    assert result.estimates == 4  # E1, E2, E3, E5
    assert (result.custom_part_rate["numerator"], result.custom_part_rate["denominator"]) == (4, 11)
    assert (
        result.model_selection_rate["numerator"],
        result.model_selection_rate["denominator"],
    ) == (3, 4)
    # m1 in E1 and E5; P1 3 lines, P2 and P3 2 each (P2 first by id)
    assert result.top_models == [ids["m1"], ids["m2"]]
    assert result.top_parts == [ids["P1"], ids["P2"]]
    # pairs (m1, P1), (m1, P2) × branches SZ01, GD01: SZ01 has both (its own P1 price, the
    # 440000 region price of P2 for m1); GD01 only P2 (the SZ01 price is not on its chain)
    assert result.localization_rate == {"numerator": 3, "denominator": 4, "rate": Decimal("0.7500")}
    assert result.open_queue == 3
    # no period: E4 counts too
    assert compute(settings).estimates == 5


def _breakdown(settings, **kwargs):
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            return indicators.breakdown(session, **kwargs)
    finally:
        engine.dispose()


def _figures(part):
    return (
        part.estimates,
        part.custom_part_rate["numerator"],
        part.custom_part_rate["denominator"],
        part.model_selection_rate["numerator"],
        part.model_selection_rate["denominator"],
    )


def test_breakdown_by_week_month_and_branch(example):
    settings, _ = example
    weeks = _breakdown(settings, by="week", date_from=NOV_1, date_to=NOV_30)
    # Sunday 11-01 falls in the week of Monday 10-26; E1 (v2, 11-02), E2, E3, E5 in 11-02's
    assert [(w.key, *_figures(w)) for w in weeks] == [
        ("2026-10-26", 0, 0, 0, 0, 0), ("2026-11-02", 4, 4, 11, 3, 4),
        ("2026-11-09", 0, 0, 0, 0, 0), ("2026-11-16", 0, 0, 0, 0, 0),
        ("2026-11-23", 0, 0, 0, 0, 0), ("2026-11-30", 0, 0, 0, 0, 0),
    ]  # fmt: skip
    assert weeks[1].custom_part_rate["rate"] == Decimal("0.3636")
    months = _breakdown(settings, by="month", date_from=date(2026, 10, 1), date_to=NOV_30)
    assert [(m.key, *_figures(m)) for m in months] == [
        ("2026-10-01", 1, 9, 9, 1, 1), ("2026-11-01", 4, 4, 11, 3, 4),
    ]  # fmt: skip
    branches = _breakdown(settings, by="branch", date_from=NOV_1, date_to=NOV_30)
    figures = {b.key: _figures(b) for b in branches}
    assert figures.pop("SZ01") == (3, 4, 10, 2, 3) and figures.pop("GD01") == (1, 0, 1, 1, 1)
    assert figures == {}  # the test catalogue's two branches
    # a branch without estimates in the period (GD01's E5 is of 11-07) is listed, empty
    early = _breakdown(settings, by="branch", date_from=NOV_1, date_to=date(2026, 11, 6))
    assert [(b.key, *_figures(b)) for b in early] == [
        ("GD01", 0, 0, 0, 0, 0), ("SZ01", 3, 4, 10, 2, 3),
    ]  # fmt: skip
    assert next(b.name for b in branches if b.key == "SZ01") == "深圳中心支公司"
    one = _breakdown(settings, by="month", branch="GD01", date_from=NOV_1, date_to=NOV_30)
    assert [(m.key, *_figures(m)) for m in one] == [("2026-11-01", 1, 0, 1, 1, 1)]


def test_no_estimates_gives_empty_rates(settings):
    seed(settings)
    result = compute(settings, branch="GD01")
    assert result.estimates == 0
    assert result.custom_part_rate == {"numerator": 0, "denominator": 0, "rate": None}
    assert result.localization_rate["denominator"] == 0
    assert result.feedback_turnaround == {"count": 0, "median_hours": None, "p90_hours": None}


async def test_indicators_over_http(api: Api):
    r = await api.client.get(
        "/api/v1/indicators",
        params={"branch": "SZ01", "from": "2026-11-01", "to": "2026-11-30"},
        headers=api.h("reviewer"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["custom_part_rate"] == {"numerator": 0, "denominator": 0, "rate": None}
    assert body["branch"] == "SZ01" and body["date_from"] == "2026-11-01"
    assert set(body) >= {
        "model_selection_rate",
        "localization_rate",
        "feedback_turnaround",
        "open_queue",
    }
    r = await api.client.get(
        "/api/v1/indicators", params={"branch": "NOPE"}, headers=api.h("reviewer")
    )
    assert r.status_code == 422 and r.json()["field"] == "branch"
    r = await api.client.get(
        "/api/v1/indicators",
        params={"from": "2026-12-01", "to": "2026-11-01"},
        headers=api.h("reviewer"),
    )
    assert r.status_code == 422
    r = await api.client.get("/api/v1/indicators", headers=api.h("estimate_tool"))
    assert r.status_code == 403
