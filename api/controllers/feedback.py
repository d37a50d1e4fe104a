"""The feedback queue: reviewers send price-mismatch feedback; pricing staff decide.

Reviewers (and up) submit and see their own items; pricing staff (and up) see the whole queue —
reviewer feedback and market drift tasks — and accept (a new localized price version, source
`feedback`, in the same transaction), reject (with a reason) or ask for more information.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import Body, FromQuery, QueryParameter
from sqlalchemy import select

from api.auth import require
from api.controllers import (
    NO_STORE,
    STAFF,
    Actor,
    CallerKey,
    Limit,
    Offset,
    OptCode,
    OptionalIfMatch,
    PathId,
    optional_if_match,
    run,
    write,
)
from api.problems import problem_responses
from api.schemas import (
    AcceptFeedback,
    Decision,
    Feedback,
    FeedbackAnswer,
    NewFeedback,
    Page,
)
from pricebook import feedback
from pricebook.errors import InvalidInput, NotFound
from pricebook.keys import KeyInfo, role_allows
from pricebook.models import Branch, PriceType

Days = Annotated[int | None, QueryParameter(ge=0, le=3650)]
ACT_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 422, 503)
#: the route of a pricing-staff decision on an item
_decision = partial(post, guards=STAFF, status_code=200, responses=ACT_ERRORS)


def out(view: feedback.FeedbackView) -> Feedback:
    return Feedback(
        id=view.id,
        kind=view.kind,
        status=view.status,
        part_id=view.part_id,  # type: ignore[arg-type]
        part_code=view.part_code,
        part_name=view.part_name,
        model_id=view.model_id,
        branch=view.branch_code,
        price_type=view.price_type,
        reference=view.reference,
        observed=view.observed,
        evidence=view.evidence,
        note=view.note,
        url=view.url,
        estimate_ref=view.estimate_ref,
        created_by=view.created_by,
        created_at=view.created_at,
        updated_at=view.updated_at,
        resolved_by=view.resolved_by,
        resolved_at=view.resolved_at,
        resolution_reason=view.resolution_reason,
        linked_to_id=view.linked_to_id,
        linked_count=view.linked_count,
        resulting_price_id=view.resulting_price_id,
        turnaround_hours=view.turnaround_hours,
    )


async def _decide(
    state: State,
    decide: Callable[..., feedback.FeedbackView],
    item_id: int,
    actor: str,
    **decision: Any,
) -> Feedback:
    """A decision on an item, in one transaction, answered with the item as it is after."""
    return out(await write(state, decide, item_id, actor=actor, **decision))


def _branch_id(session: Any, code: str | None) -> int | None:
    if not code:
        return None
    found = session.scalar(select(Branch.id).where(Branch.code == code))
    if found is None:
        raise InvalidInput(f"no branch with code {code!r}", field="branch")
    return found


def _submit(session: Any, data: NewFeedback, actor: str) -> feedback.FeedbackView:
    type_id = session.scalar(select(PriceType.id).where(PriceType.code == data.price_type))
    if type_id is None:
        raise InvalidInput(f"no price type with code {data.price_type!r}", field="price_type")
    return feedback.submit_feedback(
        session,
        part_id=data.part_id,
        model_id=data.model_id,
        branch_id=_branch_id(session, data.branch),
        price_type_id=type_id,
        reference=data.reference,
        observed=data.observed,
        note=data.note,
        url=data.url,
        estimate_ref=data.estimate_ref,
        actor=actor,
    )


def _queue(session: Any, branch: str | None, **kwargs: Any) -> Any:
    return feedback.feedback_queue(session, branch_id=_branch_id(session, branch), **kwargs)


def _is_staff(caller: KeyInfo) -> bool:
    return role_allows(caller.role, "pricing_staff")


class FeedbackController(Controller):
    path = "/feedback"
    tags = ["feedback"]  # noqa: RUF012
    guards = [require("reviewer")]  # noqa: RUF012
    cache_control = NO_STORE

    @post(
        "/",
        summary="Send price-mismatch feedback (→ open)",
        description="The part, the vehicle model, the branch whose price is wrong (none: the "
        "system price), the price type, the reference as the reviewer saw it, the observed "
        "market price, evidence (text, URL) and the estimate. When the part × branch × price "
        "type already has an unresolved reviewer item, the new one is linked to it "
        "(`linked_to_id`) and follows its decision instead of opening a duplicate.",
        status_code=201,
        responses=problem_responses(400, 401, 403, 422, 503),
    )
    async def submit(
        self, state: State, data: Annotated[NewFeedback, Body()], actor: Actor
    ) -> Feedback:
        return out(await write(state, _submit, data, actor))

    @get(
        "/",
        summary="The feedback queue (pricing staff) or your own feedback (reviewers)",
        description="Reviewers always see only their own items (as with `mine=true`), newest "
        "first, linked items included. Pricing staff see the queue, oldest first — reviewer "
        "feedback and market drift tasks — filtered by branch, status (`unresolved` = open "
        "and need_info), kind and age in days; linked items are counted on their primary item "
        "(`linked_count`) unless `include_linked`.",
        responses=problem_responses(400, 401, 403, 422, 503),
    )
    async def queue(
        self,
        state: State,
        caller: CallerKey,
        actor: Actor,
        mine: FromQuery[bool] = False,
        status: FromQuery[
            Literal["open", "need_info", "accepted", "rejected", "resolved_by_market", "unresolved"]
            | None
        ] = None,
        kind: FromQuery[Literal["reviewer", "drift"] | None] = None,
        branch: OptCode = None,
        min_age_days: Days = None,
        max_age_days: Days = None,
        include_linked: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[Feedback]:
        mine = mine or not _is_staff(caller)
        page = await run(
            state,
            _queue,
            branch,
            status=status,
            kind=kind,
            created_by=actor if mine else None,
            min_age_days=min_age_days,
            max_age_days=max_age_days,
            include_linked=include_linked,
            newest_first=mine,
            limit=limit,
            offset=offset,
        )
        return Page[Feedback]([out(v) for v in page.items], page.total, page.limit, page.offset)

    @get(
        "/{item_id:int}",
        summary="One feedback item (reviewers: their own)",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def item(
        self, state: State, item_id: PathId, caller: CallerKey, actor: Actor
    ) -> Feedback:
        view = await run(state, feedback.get_feedback, item_id)
        if not _is_staff(caller) and view.created_by != actor:
            raise NotFound(f"no feedback item with id {item_id}", field="id")
        return out(view)

    @_decision(
        "/{item_id:int}/accept",
        summary="Accept: the new price version and the decision, in one transaction",
        description="Creates the new localized price version (the item's branch; the system "
        "price for an item without branch) of `amount` (else the observed price) from "
        "`valid_from` (else today), source `feedback`, source_ref = the item's id; linked "
        "items are accepted with it. 409 when already decided or when the period reaches into "
        "a later version. An `If-Match` header, when sent, must be the price key's ETag.",
        dependencies={"if_match": Provide(optional_if_match, sync_to_thread=False)},
    )
    async def accept(
        self,
        state: State,
        item_id: PathId,
        data: Annotated[AcceptFeedback, Body()],
        actor: Actor,
        if_match: OptionalIfMatch,
    ) -> Feedback:
        return await _decide(
            state,
            feedback.accept_feedback,
            item_id,
            actor,
            amount=data.amount,
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            reason=data.reason,
            model_specific=data.model_specific,
            expected_etag=if_match,
        )

    @_decision(
        "/{item_id:int}/reject", summary="Reject, with a reason the reviewer reads (422 without)"
    )
    async def reject(
        self, state: State, item_id: PathId, data: Annotated[Decision, Body()], actor: Actor
    ) -> Feedback:
        return await _decide(state, feedback.reject_feedback, item_id, actor, reason=data.reason)

    @_decision(
        "/{item_id:int}/need-info",
        summary="Ask the reviewer for more information (`reason`: what is needed)",
    )
    async def need_info(
        self, state: State, item_id: PathId, data: Annotated[Decision, Body()], actor: Actor
    ) -> Feedback:
        return await _decide(state, feedback.need_info_feedback, item_id, actor, reason=data.reason)

    @post(
        "/{item_id:int}/answer",
        summary="Answer a need_info request (the item's author; staff for anyone)",
        description="The answer is kept in the item's evidence and the item is open again.",
        status_code=200,
        responses=ACT_ERRORS,
    )
    async def answer(
        self,
        state: State,
        item_id: PathId,
        data: Annotated[FeedbackAnswer, Body()],
        caller: CallerKey,
        actor: Actor,
    ) -> Feedback:
        staff = _is_staff(caller)
        try:
            view = await write(
                state,
                feedback.answer_feedback,
                item_id,
                actor=actor,
                note=data.note,
                url=data.url,
                must_own=not staff,
            )
        except InvalidInput as exc:
            if exc.field == "id":
                raise PermissionDeniedException(exc.message) from exc
            raise
        return out(view)
