"""The reviewer feedback workflow: submit → open, linking instead of duplicates, reviewers see
their own, the staff queue with filters, accept (the new price version in the same transaction),
reject (reason required), need_info and the answer, turnaround, drift tasks in the same queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from pricebook import feedback
from pricebook.db import make_engine, transaction
from pricebook.models import AuditEntry, Branch, FeedbackItem, Part, Price, PriceType
from tests.api_client import Api, db_scalars, part_id_of

TODAY = date.today()
STAFF = "pricing_staff"


def fb(api: Api, **extra) -> dict:
    body = {
        "part_id": part_id_of(api),
        "branch": "SZ01",
        "price_type": "4s",
        "reference": "990.00",
        "observed": "900.00",
        "note": "三家4S店报价均为900",
        "url": "https://example.com/quote/1",
        "estimate_ref": "DS2026-0001",
    }
    return {**body, **extra}


async def submit(api: Api, role: str = "reviewer", **extra):
    r = await api.client.post("/api/v1/feedback", json=fb(api, **extra), headers=api.h(role))
    assert r.status_code == 201, r.text
    return r.json()


async def test_submit_then_link_instead_of_duplicating(api: Api):
    first = await submit(api)
    assert first["status"] == "open" and first["kind"] == "reviewer"
    assert first["branch"] == "SZ01" and first["price_type"] == "4s"
    assert first["reference"] == "990.00" and first["observed"] == "900.00"
    assert first["part_code"] == "VW1-0001" and first["linked_to_id"] is None
    assert first["created_by"].endswith(":test reviewer")
    second = await submit(api, role=STAFF, observed="880.00", note="另一家报价")
    assert second["linked_to_id"] == first["id"] and second["status"] == "open"
    # another branch or price type is another key
    other = await submit(api, branch="GD01")
    assert other["linked_to_id"] is None
    system = await submit(api, branch=None)
    assert system["branch"] is None and system["linked_to_id"] is None
    queue = (await api.client.get("/api/v1/feedback", headers=api.h(STAFF))).json()
    ids = [i["id"] for i in queue["items"]]
    assert ids == [first["id"], other["id"], system["id"]]  # oldest first, linked left out
    assert queue["items"][0]["linked_count"] == 1
    with_linked = await api.client.get(
        "/api/v1/feedback", params={"include_linked": "true"}, headers=api.h(STAFF)
    )
    assert with_linked.json()["total"] == 4


async def test_submit_checks_its_input(api: Api):
    for extra, field in [
        ({"observed": "0"}, "observed"),
        ({"observed": "1.234"}, "observed"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"branch": "NOPE"}, "branch"),
        ({"price_type": "nope"}, "price_type"),
        ({"part_id": 999999}, "part_id"),
        ({"model_id": 999999}, "model_id"),
    ]:
        r = await api.client.post(
            "/api/v1/feedback", json=fb(api, **extra), headers=api.h("reviewer")
        )
        assert r.status_code == 422 and r.json()["field"] == field, (extra, r.text)
    body = fb(api)
    del body["observed"]
    r = await api.client.post("/api/v1/feedback", json=body, headers=api.h("reviewer"))
    assert r.status_code == 400
    r = await api.client.post("/api/v1/feedback", json=fb(api), headers=api.h("estimate_tool"))
    assert r.status_code == 403


async def test_reviewers_see_their_own_staff_see_the_queue(api: Api):
    mine = await submit(api)
    theirs = await submit(api, role=STAFF, branch="GD01")
    r = await api.client.get("/api/v1/feedback", params={"mine": "true"}, headers=api.h("reviewer"))
    assert [i["id"] for i in r.json()["items"]] == [mine["id"]]
    # a reviewer without mine=true still sees only their own
    r = await api.client.get("/api/v1/feedback", headers=api.h("reviewer"))
    assert [i["id"] for i in r.json()["items"]] == [mine["id"]]
    r = await api.client.get(f"/api/v1/feedback/{theirs['id']}", headers=api.h("reviewer"))
    assert r.status_code == 404
    r = await api.client.get(f"/api/v1/feedback/{mine['id']}", headers=api.h("reviewer"))
    assert r.status_code == 200 and r.json()["id"] == mine["id"]
    r = await api.client.get("/api/v1/feedback", params={"branch": "GD01"}, headers=api.h(STAFF))
    assert [i["id"] for i in r.json()["items"]] == [theirs["id"]]
    r = await api.client.get("/api/v1/feedback", params={"mine": "true"}, headers=api.h(STAFF))
    assert [i["id"] for i in r.json()["items"]] == [theirs["id"]]


async def test_queue_filters_by_status_kind_and_age_and_pages(api: Api):
    old = await submit(api)
    new = await submit(api, branch="GD01")
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            session.execute(
                update(FeedbackItem)
                .where(FeedbackItem.id == old["id"])
                .values(created_at=datetime.now(UTC) - timedelta(days=10))
            )
            pid = session.scalar(select(Part.id).where(Part.code == "VW1-0002"))
            sz = session.scalar(select(Branch.id).where(Branch.code == "SZ01"))
            brand = session.scalar(select(PriceType.id).where(PriceType.code == "brand"))
            _, drift_id = feedback.open_or_update_drift(
                session,
                part_id=pid,
                branch_id=sz,
                price_type_id=brand,
                model_id=None,
                reference_fen=150050,
                observed_fen=120000,
                evidence={"price_id": 0, "market": {}},
                note="market median 1200.00",
            )
    finally:
        engine.dispose()

    async def ids(**params):
        r = await api.client.get("/api/v1/feedback", params=params, headers=api.h(STAFF))
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids() == [old["id"], new["id"], drift_id]
    assert await ids(kind="drift") == [drift_id]
    assert await ids(kind="reviewer") == [old["id"], new["id"]]
    assert await ids(min_age_days=7) == [old["id"]]
    assert await ids(max_age_days=7) == [new["id"], drift_id]
    assert await ids(status="accepted") == []
    assert await ids(status="unresolved", branch="SZ01") == [old["id"], drift_id]
    page = (
        await api.client.get(
            "/api/v1/feedback", params={"limit": 1, "offset": 1}, headers=api.h(STAFF)
        )
    ).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [new["id"]]
    r = await api.client.get("/api/v1/feedback", params={"status": "nope"}, headers=api.h(STAFF))
    assert r.status_code == 400


async def test_accept_writes_the_price_in_the_same_transaction(api: Api):
    item = await submit(api)
    linked = await submit(api, observed="880.00")
    r = await api.client.post(
        f"/api/v1/feedback/{item['id']}/accept",
        json={"valid_to": "2027-01-01"},
        headers=api.h("reviewer"),
    )
    assert r.status_code == 403  # a reviewer cannot accept
    r = await api.client.post(
        f"/api/v1/feedback/{linked['id']}/accept", json={}, headers=api.h(STAFF)
    )
    assert r.status_code == 409  # act on the primary item
    asked_on = date.today()  # the price starts on the day of acceptance (midnight may pass)
    r = await api.client.post(
        f"/api/v1/feedback/{item['id']}/accept",
        json={"valid_to": "2027-01-01"},
        headers=api.h(STAFF),
    )
    answered_on = date.today()
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["resolved_by"].endswith(
        ":test pricing_staff"
    )
    assert accepted["turnaround_hours"] is not None and accepted["resolved_at"]
    price_id = accepted["resulting_price_id"]
    (price,) = db_scalars(api, select(Price).where(Price.id == price_id))
    assert price.source == "feedback" and price.source_ref == str(item["id"])
    assert price.amount_fen == 90000 and price.scope == "branch" and price.model_id is None
    assert price.valid_from in {asked_on, answered_on} and price.valid_to == date(2027, 1, 1)
    # the reference resolves to it now
    resolved = await api.get(
        f"/api/v1/prices/resolve?part_id={item['part_id']}&branch=SZ01&price_type=4s"
    )
    assert resolved.json()["amount"] == "900.00"
    assert resolved.json()["winner"]["source"] == "feedback"
    # the linked item follows
    r = await api.client.get(f"/api/v1/feedback/{linked['id']}", headers=api.h("reviewer"))
    assert r.json()["status"] == "accepted" and r.json()["resulting_price_id"] == price_id
    # decided once
    r = await api.client.post(
        f"/api/v1/feedback/{item['id']}/reject", json={"reason": "x"}, headers=api.h(STAFF)
    )
    assert r.status_code == 409
    actions = db_scalars(
        api, select(AuditEntry.action).where(AuditEntry.entity == "feedback_items")
    )
    assert actions.count("accept") == 1 and actions.count("submit") == 2


async def test_a_failed_accept_changes_nothing(api: Api):
    item = await submit(api)
    # open-ended from today would reach into the 2027 version: 409, and the item stays open
    r = await api.client.post(
        f"/api/v1/feedback/{item['id']}/accept", json={}, headers=api.h(STAFF)
    )
    assert r.status_code == 409, r.text
    r = await api.client.get(f"/api/v1/feedback/{item['id']}", headers=api.h(STAFF))
    assert r.json()["status"] == "open" and r.json()["resulting_price_id"] is None
    assert db_scalars(api, select(Price.id).where(Price.source == "feedback")) == []
    # a given amount and a branch without later versions
    other = await submit(api, branch="GD01")
    r = await api.client.post(
        f"/api/v1/feedback/{other['id']}/accept",
        json={"amount": "910.00", "reason": "取中间价"},
        headers=api.h(STAFF),
    )
    assert r.status_code == 200 and r.json()["resolution_reason"] == "取中间价"
    (price,) = db_scalars(api, select(Price).where(Price.source == "feedback"))
    assert price.amount_fen == 91000 and price.valid_to is None and price.reason == "取中间价"


async def test_reject_needs_a_reason_and_need_info_round_trip(api: Api):
    item = await submit(api)
    url = f"/api/v1/feedback/{item['id']}"
    r = await api.client.post(f"{url}/reject", json={}, headers=api.h(STAFF))
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = await api.client.post(
        f"{url}/need-info", json={"reason": "请提供报价单照片"}, headers=api.h(STAFF)
    )
    assert r.status_code == 200 and r.json()["status"] == "need_info"
    assert r.json()["resolved_at"] is None
    r = await api.client.post(f"{url}/answer", json={"note": "x"}, headers=api.h("admin"))
    assert r.status_code == 200  # staff may answer for anyone; back to open
    r = await api.client.post(f"{url}/need-info", json={"reason": "再补充"}, headers=api.h(STAFF))
    assert r.status_code == 200
    other_reviewer = await api.client.post(
        f"{url}/answer", json={"note": "x"}, headers=api.h("estimate_tool")
    )
    assert other_reviewer.status_code == 403
    r = await api.client.post(
        f"{url}/answer",
        json={"note": "报价单见链接", "url": "https://example.com/q.jpg"},
        headers=api.h("reviewer"),
    )
    assert r.status_code == 200 and r.json()["status"] == "open"
    assert [a["note"] for a in r.json()["evidence"]["answers"]] == ["x", "报价单见链接"]
    r = await api.client.post(
        f"{url}/reject", json={"reason": "报价单为非4S店报价"}, headers=api.h(STAFF)
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["resolution_reason"] == "报价单为非4S店报价"
    assert r.json()["turnaround_hours"] is not None
    # the reviewer sees the decision and why
    mine = await api.client.get("/api/v1/feedback?mine=true", headers=api.h("reviewer"))
    assert mine.json()["items"][0]["status"] == "rejected"


async def test_drift_tasks_are_accepted_on_their_own_key(api: Api):
    engine = make_engine(api.settings)
    try:
        with transaction(engine) as session:
            pid = session.scalar(select(Part.id).where(Part.code == "VW1-0002"))
            price = session.scalars(select(Price).where(Price.part_id == pid)).one()
            gd = session.scalar(select(Branch.id).where(Branch.code == "GD01"))
            _, task = feedback.open_or_update_drift(
                session,
                part_id=pid,
                branch_id=gd,
                price_type_id=price.price_type_id,
                model_id=price.model_id,
                reference_fen=price.amount_fen,
                observed_fen=130000,
                evidence={"price_id": price.id, "market": {"median": "1300.00"}},
            )
            model_id = price.model_id
    finally:
        engine.dispose()
    r = await api.client.post(f"/api/v1/feedback/{task}/accept", json={}, headers=api.h(STAFF))
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "drift"
    (new,) = db_scalars(api, select(Price).where(Price.source == "feedback"))
    assert (new.amount_fen, new.branch_id is not None, new.model_id) == (130000, True, model_id)


def test_core_functions_the_web_ui_calls(settings):
    """The keyword arguments the web UI (api/ui/feedback.py) calls the core with."""
    from tests.api_client import seed

    seed(settings)
    engine = make_engine(settings)
    try:
        with transaction(engine) as session:
            pid = session.scalar(select(Part.id).where(Part.code == "VW1-0001"))
            gd = session.scalar(select(Branch.id).where(Branch.code == "GD01"))
            t4s = session.scalar(select(PriceType.id).where(PriceType.code == "4s"))
            item = feedback.submit_feedback(
                session,
                part_id=pid,
                model_id=None,
                branch_id=gd,
                price_type_id=t4s,
                reference=None,
                observed="800.00",
                note="",
                url="",
                estimate_ref="",
                actor="api-key:9:ui",
            )
            items = feedback.list_feedback(
                session,
                status="open",
                branch_id=gd,
                created_by=None,
                max_age_days=None,
                limit=200,
            )
            assert [i.id for i in items] == [item.id]
            done = feedback.accept_feedback(
                session,
                item.id,
                actor="api-key:1:staff",
                amount=None,
                valid_from=TODAY,
                reason="",
            )
            assert done.status == "accepted" and done.resolution_reason.startswith("feedback #")
    finally:
        engine.dispose()
