"""Validate an estimate and store the result; read stored validations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import msgspec
from sqlalchemy import (
    Text,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pricebook import review
from pricebook.db import as_utc
from pricebook.errors import NotFound
from pricebook.estimates.memo import MAX_REFERENCES, Generation, _connection
from pricebook.estimates.references import load_refs
from pricebook.estimates.request import EstimateRequest, normalized_vin, to_estimate
from pricebook.estimates.statements import _statements
from pricebook.models import (
    Brand,
    EstimateValidation,
)
from pricebook.money import from_fen, to_fen
from pricebook.paging import Page

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.12


class MatchedCandidate(Protocol):
    """A catalogue part a custom name may be (`pricebook.matching.Candidate`)."""

    @property
    def part_id(self) -> int: ...
    @property
    def part_code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def confidence(self) -> float: ...


class MatchedAttributes(Protocol):
    """What a name says besides the part (`pricebook.matching.Attributes`)."""

    @property
    def price_type(self) -> str | None: ...


class Matched(Protocol):
    """What the matcher decided for one name (`pricebook.matching.MatchResult`)."""

    @property
    def decision(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def attributes(self) -> MatchedAttributes: ...
    @property
    def candidates(self) -> Sequence[MatchedCandidate]: ...


class Matcher(Protocol):
    """Maps typed part names to catalogue parts (`pricebook.matching.MatchIndex`)."""

    def match(
        self, names: Sequence[str], model_id: int | None = None, brand_id: int | None = None
    ) -> Sequence[Matched]: ...


def run_matcher(
    matcher: Matcher | None, names: Sequence[str], model_id: int | None, brand_id: int | None
) -> list[review.MatchInfo]:
    if not names:
        return []
    if matcher is None:
        return [review.MatchInfo(n, "unmatched", None, None) for n in names]
    results = matcher.match(list(names), model_id=model_id, brand_id=brand_id)
    out = []
    for name, r in zip(names, results, strict=True):
        cands = tuple(
            review.MatchCandidate(
                c.part_id, c.part_code, c.name, float(c.score), float(c.confidence)
            )
            for c in r.candidates
        )
        decision = r.decision
        part_id = cands[0].part_id if decision == "matched" and cands else None
        if decision == "matched" and part_id is None:
            decision = "unmatched"
        price_type = r.attributes.price_type
        out.append(review.MatchInfo(name, decision, r.reason, part_id, cands, price_type))
    return out


@dataclass(frozen=True, slots=True)
class Validation:
    id: int
    created_at: datetime | None
    created_by: str
    #: the stored result of an earlier validation of the same estimate id and version
    reused: bool
    #: reused, and this request differs from the one stored
    request_differs: bool
    #: the result as a JSON object, encoded once: stored as is and answered as is
    result_json: bytes

    @property
    def result(self) -> dict[str, Any]:
        decoded: dict[str, Any] = msgspec.json.decode(self.result_json, type=dict[str, Any])
        return decoded

    def to_json(self) -> bytes:
        """The answer: who and when, then the result's own members (spliced, not re-encoded:
        a result runs to tens of kilobytes)."""
        head = msgspec.json.encode(
            {
                "validation_id": self.id,
                "validated_at": as_utc(self.created_at).isoformat() if self.created_at else None,
                "validated_by": self.created_by,
                "reused": self.reused,
                "request_differs": self.request_differs,
            }
        )
        return _merged(head, self.result_json)


def _merged(head: bytes, rest: bytes) -> bytes:
    """Two encoded JSON objects as one: `head`'s members, then `rest`'s (not decoded)."""
    rest = rest.strip()
    return head if rest in (b"", b"{}") else head[:-1] + b"," + rest[1:]


def _matches_for(
    db: Connection, estimate: review.Estimate, matcher: Matcher | None
) -> dict[int, review.MatchInfo]:
    wanted = [
        (line.index, line.custom_name or line.oe_number)
        for line in estimate.lines
        if isinstance(line, review.PartLine) and line.part_id is None
    ]
    if not wanted:
        return {}
    brand_id = None
    v = estimate.vehicle
    if v.model_id is None and v.brand:
        brand_id = db.scalar(
            select(Brand.id)
            .where(or_(Brand.name == v.brand, Brand.code == v.brand.upper()))
            .limit(1)
        )
    infos = run_matcher(matcher, [n for _, n in wanted], v.model_id, brand_id)
    return {index: info for (index, _), info in zip(wanted, infos, strict=True)}


@dataclass(frozen=True, slots=True)
class Unstored:
    """A validation worked out and not stored yet: its row and its answer."""

    row: dict[str, Any]
    result_json: bytes
    actor: str


class Options(TypedDict, total=False):
    """`validate`'s options, as `validate_unstored` takes them."""

    force: bool
    matcher: Matcher | None
    actor: str
    now: datetime | None
    keep: int


def validate(
    session: Session | Connection, request: EstimateRequest, **options: Unpack[Options]
) -> Validation:
    """Validate an estimate and store the result; the same estimate id and version again
    returns the stored result unless `force`. `keep`: how many reference entries this process
    keeps between validations (`load_refs`). `validate_unstored`, then `store_validations`
    (the API stores the validations of concurrent requests together: `api.estimates`)."""
    outcome = validate_unstored(session, request, **options)
    if isinstance(outcome, Validation):
        return outcome
    return store_validations(session, [outcome])[0]


def store_validations(
    session: Session | Connection, unstored: Sequence[Unstored]
) -> list[Validation]:
    """Store validations in one INSERT, whatever their number; in the order given."""
    db = _connection(session)
    q = _statements(db)
    if len(unstored) == 1:
        rows = [db.execute(q.insert, unstored[0].row).one()]
    else:
        rows = list(db.execute(q.insert_many, [u.row for u in unstored]).all())
    return [
        Validation(row.id, row.created_at, u.actor, False, False, u.result_json)
        for u, row in zip(unstored, rows, strict=True)
    ]


def validate_unstored(
    session: Session | Connection,
    request: EstimateRequest,
    *,
    force: bool = False,
    matcher: Matcher | None = None,
    actor: str = "",
    now: datetime | None = None,
    keep: int = MAX_REFERENCES,
    key_id: int | None = None,
    own_only: bool = False,
    references: Connection | None = None,
) -> Validation | Unstored:
    """`validate` up to the INSERT: the stored validation when the estimate id and version
    have one (and not `force`), else the new one, unstored.

    A session validates in its transaction; a connection may be in autocommit mode (the API's
    is): every statement reads committed data anyway (READ COMMITTED).

    `key_id`: the API key validating (stored with the row). `own_only`: reuse only a validation
    that key stored (an estimate_tool key never receives another key's stored answer).

    `references`: another connection (a read replica's, `pricebook.replicas`) for the reference
    reads, with its own generation read there, so the memo of that database stays keyed on
    what it holds. The stored validations (this one's earlier answer, the VIN's earlier
    claims) are read on `session`: they are written on the primary and must not lag."""
    db = _connection(session)
    q = _statements(db)
    rows = db.execute(
        q.opening,
        {
            "estimate_id": request.estimate_id,
            "version": request.version,
            "on": request.date,
            "vin": normalized_vin(request.vehicle.vin) or None,  # NULL: no VIN matches none
            "owner": key_id if own_only else None,
        },
    ).all()
    generation, stored_id = Generation(*rows[0][:3]), rows[0][3]
    if stored_id is not None and not force:
        return _stored_answer(db, stored_id, request)
    prior = [row[4:] for row in rows if row[4] is not None]
    estimate = to_estimate(request, now=now)
    if references is not None:
        db = references
        generation = Generation(*db.execute(_statements(db).generation).one())
    matches = _matches_for(db, estimate, matcher)
    refs = load_refs(db, estimate, matches, keep=keep, generation=generation, prior=prior)
    result = review.review(estimate, refs)
    result_json = msgspec.json.encode(result)
    row = _row(request, estimate, refs, result, result_json)
    return Unstored({**row, "created_by": actor, "created_by_key_id": key_id}, result_json, actor)


def _stored_answer(db: Connection, stored_id: int, request: EstimateRequest) -> Validation:
    """The validation stored for this estimate id and version, answered again."""
    stored = db.execute(_statements(db).stored, {"id": stored_id}).one()
    return Validation(
        stored.id,
        stored.created_at,
        stored.created_by,
        True,
        _canonical(_as_now(stored.request)) != _canonical(_json(request)),
        msgspec.json.encode(stored.result),
    )


def _row(
    request: EstimateRequest,
    estimate: review.Estimate,
    refs: review.Refs,
    result: review.Result,
    result_json: bytes,
) -> dict[str, Any]:
    """A new validation's row but for who stored it: the request and result, and the columns
    the lists and indicators read without decoding them."""
    ind = result.indicators
    return dict(
        estimate_id=estimate.id,
        estimate_version=estimate.version,
        estimate_date=estimate.date,
        branch_id=refs.branch.id,
        vin=estimate.vehicle.vin,
        model_id=estimate.vehicle.model_id,
        model_selected=ind.model_selected,
        part_lines=ind.part_lines,
        custom_part_lines=ind.custom_part_lines,
        custom_matched=ind.custom_matched,
        claimed_fen=to_fen(result.totals.claimed),
        allowed_fen=to_fen(result.totals.allowed),
        cut_fen=to_fen(result.totals.cut),
        profile_id=refs.profile.id,
        profile_code=refs.profile.code,
        profile_version=refs.profile.version,
        replaced_part_ids=review.replaced_parts(estimate, result),
        part_ids=review.line_part_ids(result),
        flag_counts=result.counts,
        flagged_lines=review.flagged_lines(result),
        # already JSON: msgspec.Raw goes into the column as it is
        request=msgspec.Raw(msgspec.json.encode(request)),
        result=msgspec.Raw(result_json),
    )


def _as_now(stored: Any) -> Any:
    """A stored request as this version of the request type reads it: a field added since
    (with its default) does not make the same estimate look different."""
    try:
        return _json(msgspec.json.decode(msgspec.json.encode(stored), type=EstimateRequest))
    except (msgspec.ValidationError, msgspec.DecodeError):
        return stored


def _json(value: Any) -> Any:
    """What the value looks like in JSON (tuples as lists, Decimals and dates as text)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _readable(estimate_id: str, only_key: int | None) -> list[Any]:
    """The rows of an estimate a caller may read: all, or only those `only_key` stored."""
    where = [EstimateValidation.estimate_id == estimate_id]
    if only_key is not None:
        where.append(EstimateValidation.created_by_key_id == only_key)
    return where


def list_validations(
    session: Session,
    estimate_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    only_key: int | None = None,
) -> Page[dict[str, Any]]:
    """The stored validations of an estimate, newest first, a page at a time (404 when there
    is none). Their results are not read: the counts have columns of their own. `only_key`:
    only the validations that key stored (others' are as if they did not exist)."""
    where = _readable(estimate_id, only_key)
    total = session.scalar(select(func.count()).where(*where))
    if not total:
        raise NotFound(f"no validation of estimate {estimate_id!r}", field="id")
    rows = list(
        session.execute(
            select(
                EstimateValidation.id,
                EstimateValidation.estimate_version,
                EstimateValidation.estimate_date,
                EstimateValidation.created_at,
                EstimateValidation.created_by,
                EstimateValidation.profile_code,
                EstimateValidation.profile_version,
                EstimateValidation.claimed_fen,
                EstimateValidation.allowed_fen,
                EstimateValidation.cut_fen,
                EstimateValidation.part_lines,
                EstimateValidation.custom_part_lines,
                EstimateValidation.model_selected,
                EstimateValidation.flag_counts,
                EstimateValidation.flagged_lines,
            )
            .where(*where)
            .order_by(EstimateValidation.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    items = [
        {
            "validation_id": r.id,
            "estimate_id": estimate_id,
            "estimate_version": r.estimate_version,
            "estimate_date": r.estimate_date.isoformat(),
            "validated_at": as_utc(r.created_at).isoformat() if r.created_at else None,
            "validated_by": r.created_by,
            "profile_code": r.profile_code,
            "profile_version": r.profile_version,
            "totals": {
                "claimed": str(from_fen(r.claimed_fen)),
                "allowed": str(from_fen(r.allowed_fen)),
                "cut": str(from_fen(r.cut_fen)),
            },
            "counts": r.flag_counts,
            "flagged_lines": r.flagged_lines,
            "part_lines": r.part_lines,
            "custom_part_lines": r.custom_part_lines,
            "model_selected": r.model_selected,
        }
        for r in rows
    ]
    return Page(items, total, limit, offset)


def stored_validation(
    session: Session, estimate_id: str, validation_id: int, *, only_key: int | None = None
) -> bytes:
    """One stored validation as JSON, as it was answered (who and when, then the result's
    members) with the request it answered under `request`. Both are spliced in as stored, not
    decoded and encoded again. 404 when the estimate has no validation of that id (or, with
    `only_key`, none of that id stored by that key)."""
    row = session.execute(
        select(
            EstimateValidation.created_at,
            EstimateValidation.created_by,
            cast(EstimateValidation.request, Text),
            cast(EstimateValidation.result, Text),
        ).where(EstimateValidation.id == validation_id, *_readable(estimate_id, only_key))
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"estimate {estimate_id!r} has no validation {validation_id}", field="validation_id"
        )
    created_at, created_by, request, result = row
    head = msgspec.json.encode(
        {
            "validation_id": validation_id,
            "validated_at": as_utc(created_at).isoformat() if created_at else None,
            "validated_by": created_by,
            "request": msgspec.Raw(request.encode()),
        }
    )
    return _merged(head, result.encode())
