"""The reviewer workflow (第六条 7(2)(3)): reviewers submit price-mismatch feedback, pricing staff
work the queue (reviewer feedback and drift tasks alike) and accept, reject or ask for more.

- A reviewer's feedback on a part × branch × price type that already has an unresolved
  reviewer item is stored linked to it (`linked_to_id`) instead of opening a duplicate; linked
  items follow their primary item's status, so one decision answers every reviewer.
- `accept` writes the new price version (source `feedback`, source_ref = the item's id) and
  the status change in the caller's transaction: both or neither.
- Turnaround is resolved_at − created_at (accepted or rejected; need_info is not a decision).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, or_, update
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.errors import Conflict, InvalidInput, NotFound
from pricebook.feedback.store import find_unresolved, insert_unless_open
from pricebook.feedback.views import FeedbackView, get_feedback
from pricebook.models import (
    FEEDBACK_UNRESOLVED,
    Branch,
    FeedbackItem,
    Part,
    Price,
    PriceType,
    VehicleModel,
)
from pricebook.money import from_fen, to_fen, yuan_field

MAX_NOTE = 2000
MAX_URL = 2000
MAX_REF = 100


def _yuan(value: Decimal | str | None, field: str, *, required: bool) -> int | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    return to_fen(yuan_field(value, field))


def _text(value: str | None, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit or "\x00" in value:
        raise InvalidInput(f"{field}: at most {limit} characters", field=field)
    return value


def submit_feedback(
    session: Session,
    *,
    part_id: int,
    model_id: int | None,
    branch_id: int | None,
    price_type_id: int,
    reference: Decimal | str | None,
    observed: Decimal | str | None,
    note: str = "",
    url: str = "",
    estimate_ref: str = "",
    actor: str,
) -> FeedbackView:
    """A reviewer's price-mismatch feedback → `open`; linked to the unresolved reviewer item of
    the same part × branch × price type when there is one."""
    from pricebook.versioned import lock_key

    if not actor:
        raise InvalidInput("feedback needs an actor", field="actor")
    _check_ids(session, part_id, model_id, branch_id, price_type_id)
    reference_fen = _yuan(reference, "reference", required=False)
    observed_fen = _yuan(observed, "observed", required=True)
    note = _text(note, "note", MAX_NOTE)
    url = _text(url, "url", MAX_URL)
    if url and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("the evidence URL must start with http:// or https://", field="url")
    estimate_ref = _text(estimate_ref, "estimate_ref", MAX_REF)
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "kind": "reviewer",
        "part_id": part_id,
        "model_id": model_id,
        "branch_id": branch_id,
        "price_type_id": price_type_id,
        "reference_fen": reference_fen,
        "observed_fen": observed_fen,
        "evidence": {},
        "note": note,
        "url": url,
        "estimate_ref": estimate_ref,
        "status": "open",
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
        "resolution_reason": "",
    }
    lock_key(session, "feedback_items", "reviewer", part_id, branch_id, price_type_id)
    new_id = _insert_linked_or_open(session, values)
    view = get_feedback(session, new_id)
    audit.record(
        session,
        actor=actor,
        action="submit",
        entity="feedback_items",
        entity_id=new_id,
        after={
            "part_id": part_id,
            "branch_id": branch_id,
            "price_type_id": price_type_id,
            "observed_fen": observed_fen,
            "reference_fen": reference_fen,
            "linked_to_id": view.linked_to_id,
        },
        reason=note,
    )
    return view


def _check_ids(
    session: Session, part_id: int, model_id: int | None, branch_id: int | None, price_type_id: int
) -> None:
    if session.get(Part, part_id) is None:
        raise InvalidInput(f"no part with id {part_id}", field="part_id")
    if model_id is not None and session.get(VehicleModel, model_id) is None:
        raise InvalidInput(f"no vehicle model with id {model_id}", field="model_id")
    if branch_id is not None and session.get(Branch, branch_id) is None:
        raise InvalidInput(f"no branch with id {branch_id}", field="branch")
    if session.get(PriceType, price_type_id) is None:
        raise InvalidInput(f"no price type with id {price_type_id}", field="price_type")


def _insert_linked_or_open(session: Session, values: dict[str, Any]) -> int:
    """Insert a reviewer item: linked to the unresolved item of its key (taking its status),
    else as the key's open item; returns its id."""
    for _attempt in range(3):
        primary = find_unresolved(
            session, "reviewer", values["part_id"], values["branch_id"], values["price_type_id"]
        )
        if primary is not None:
            return session.execute(
                insert(FeedbackItem)
                .values(**values | {"linked_to_id": primary.id, "status": primary.status})
                .returning(FeedbackItem.id)
            ).scalar_one()
        new_id = insert_unless_open(session, values)
        if new_id is not None:
            return new_id
    # three lost races in a row
    raise Conflict("the feedback queue is busy: try again", field="part_id")  # pragma: no cover


def _lock_item(session: Session, item_id: int) -> FeedbackItem:
    """The item, locked against concurrent decisions, re-read after the lock."""
    from pricebook.versioned import lock_key

    lock_key(session, "feedback_item", item_id)
    item = session.get(FeedbackItem, item_id, populate_existing=True)
    if item is None:
        raise NotFound(f"no feedback item with id {item_id}", field="id")
    if item.linked_to_id is not None:
        raise Conflict(
            f"feedback #{item.id} is linked to #{item.linked_to_id}: act on #{item.linked_to_id}",
            field="id",
        )
    return item


def _set_status(
    session: Session,
    item: FeedbackItem,
    *,
    status: str,
    actor: str,
    reason: str,
    action: str,
    resulting_price_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> FeedbackView:
    """Move an item and the items linked to it to `status`, audited."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"status": status, "updated_at": now, "resolution_reason": reason}
    if status in ("accepted", "rejected"):
        values |= {"resolved_by": actor, "resolved_at": now}
    if resulting_price_id is not None:
        values["resulting_price_id"] = resulting_price_id
    before = {"status": item.status}
    session.execute(
        update(FeedbackItem)
        .where(or_(FeedbackItem.id == item.id, FeedbackItem.linked_to_id == item.id))
        .values(**values)
    )
    if evidence is not None:
        session.execute(
            update(FeedbackItem).where(FeedbackItem.id == item.id).values(evidence=evidence)
        )
    audit.record(
        session,
        actor=actor,
        action=action,
        entity="feedback_items",
        entity_id=item.id,
        before=before,
        after={"status": status, "resulting_price_id": resulting_price_id},
        reason=reason,
    )
    return get_feedback(session, item.id)


def _require_unresolved(item: FeedbackItem) -> None:
    if item.status not in FEEDBACK_UNRESOLVED:
        raise Conflict(
            f"feedback #{item.id} is already {item.status} by {item.resolved_by}", field="status"
        )


def accept_feedback(
    session: Session,
    item_id: int,
    *,
    actor: str,
    amount: Decimal | str | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    reason: str = "",
    model_specific: bool | None = None,
    expected_etag: str | None = None,
) -> FeedbackView:
    """Accept: a new localized price version (the branch's price; the system price for an item
    without branch) of `amount` (else the observed price) from `valid_from` (else today), with
    source `feedback` and source_ref = the item's id — in the caller's transaction, with the
    status change. `model_specific` prices only the item's model (default: for drift tasks,
    the drifted price's own key; for reviewer feedback, all models)."""
    from pricebook.prices import PriceKey, write_price

    item = _lock_item(session, item_id)
    _require_unresolved(item)
    fen = _yuan(amount, "amount", required=False)
    if fen is None:
        fen = item.observed_fen
    if fen is None:
        raise InvalidInput("give the amount to accept", field="amount")
    model_id: int | None = None
    if model_specific is None:
        model_specific = False
        if item.kind == "drift":
            price = session.get(Price, (item.evidence or {}).get("price_id") or 0)
            model_specific = price is not None and price.model_id is not None
    if model_specific:
        model_id = item.model_id
    reason = (reason or "").strip() or f"feedback #{item.id} accepted"
    key = PriceKey(
        item.part_id,
        model_id,
        "branch" if item.branch_id is not None else "system",
        None,
        item.branch_id,
        item.price_type_id,
    )
    written = write_price(
        session,
        key,
        amount=from_fen(fen),
        valid_from=valid_from or date.today(),
        valid_to=valid_to,
        actor=actor,
        reason=reason,
        source="feedback",
        source_ref=str(item.id),
        expected_etag=expected_etag,
    )
    return _set_status(
        session,
        item,
        status="accepted",
        actor=actor,
        reason=reason,
        action="accept",
        resulting_price_id=written.version.id,
    )


def reject_feedback(session: Session, item_id: int, *, actor: str, reason: str) -> FeedbackView:
    """Reject, saying why (the reviewer reads it)."""
    reason = _text(reason, "reason", MAX_NOTE)
    if not reason:
        raise InvalidInput("say why the feedback is rejected", field="reason")
    item = _lock_item(session, item_id)
    _require_unresolved(item)
    return _set_status(
        session, item, status="rejected", actor=actor, reason=reason, action="reject"
    )


def need_info_feedback(session: Session, item_id: int, *, actor: str, reason: str) -> FeedbackView:
    """Ask the reviewer for more (what is missing goes in `reason`); the item stays in the queue."""
    reason = _text(reason, "reason", MAX_NOTE)
    if not reason:
        raise InvalidInput("say what information is needed", field="reason")
    item = _lock_item(session, item_id)
    if item.status != "open":
        raise Conflict(f"feedback #{item.id} is {item.status}, not open", field="status")
    return _set_status(
        session, item, status="need_info", actor=actor, reason=reason, action="need_info"
    )


def answer_feedback(
    session: Session,
    item_id: int,
    *,
    actor: str,
    note: str,
    url: str = "",
    must_own: bool = True,
) -> FeedbackView:
    """The reviewer answers a need_info request: the answer is kept in the evidence and the item
    is open again. With `must_own`, only the item's author may answer."""
    note = _text(note, "note", MAX_NOTE)
    url = _text(url, "url", MAX_URL)
    if not note:
        raise InvalidInput("give the information asked for", field="note")
    if url and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("the evidence URL must start with http:// or https://", field="url")
    item = _lock_item(session, item_id)
    if must_own and item.created_by != actor:
        raise InvalidInput("only the reviewer who sent the feedback can answer it", field="id")
    if item.status != "need_info":
        raise Conflict(f"feedback #{item.id} is {item.status}, not need_info", field="status")
    evidence = dict(item.evidence or {})
    answers = list(evidence.get("answers") or [])
    answers.append({"by": actor, "at": datetime.now(UTC).isoformat(), "note": note, "url": url})
    evidence["answers"] = answers
    return _set_status(
        session, item, status="open", actor=actor, reason="", action="answer", evidence=evidence
    )
