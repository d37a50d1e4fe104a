"""Prices: versions over time per key, and what is in force on a day.

Layered resolution (channel card → policy agreement → branch → region up the tree → system) is
built on `versions_in_force`; writes go through `pricebook.history`.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    func,
    insert,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from pricebook import audit
from pricebook.db import as_utc, dialect_of, in_list, in_select
from pricebook.errors import Conflict, InvalidInput, NotFound, PricebookError, StaleVersion
from pricebook.history import Version, plan_version
from pricebook.history import in_force as version_in_force
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    PRICE_SCOPES,
    PRICE_SOURCES,
    Branch,
    Category,
    Channel,
    OeSupersession,
    Part,
    Price,
    PriceType,
    RateCard,
    RateCardParts,
    Region,
    VehicleModel,
)
from pricebook.money import MoneyError, from_fen, parse_money, round_yuan, to_fen


class PriceVersion(msgspec.Struct, frozen=True):
    id: int
    part_id: int
    model_id: int | None
    scope: str
    region_id: int | None
    branch_id: int | None
    price_type_id: int
    amount: Decimal
    valid_from: date
    valid_to: date | None
    source: str
    source_ref: str
    created_by: str
    reason: str

    @classmethod
    def of(cls, row: Price) -> PriceVersion:
        return cls(
            id=row.id,
            part_id=row.part_id,
            model_id=row.model_id,
            scope=row.scope,
            region_id=row.region_id,
            branch_id=row.branch_id,
            price_type_id=row.price_type_id,
            amount=from_fen(row.amount_fen),
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            source=row.source,
            source_ref=row.source_ref,
            created_by=row.created_by,
            reason=row.reason,
        )


def in_force_clause(on: date) -> ColumnElement[bool]:
    return and_(
        Price.valid_from <= on,
        or_(Price.valid_to.is_(None), Price.valid_to > on),
        # withdrawn versions (empty periods) never apply
        or_(Price.valid_to.is_(None), Price.valid_to > Price.valid_from),
    )


def versions_in_force(
    session: Session, part_ids: Sequence[int], on: date, price_type_ids: Sequence[int] | None = None
) -> list[PriceVersion]:
    """Every price version in force on `on` for these parts, all scopes, in one statement."""
    stmt = select(Price).where(Price.part_id.in_(part_ids), in_force_clause(on))
    if price_type_ids is not None:
        stmt = stmt.where(Price.price_type_id.in_(price_type_ids))
    return [PriceVersion.of(p) for p in session.scalars(stmt.order_by(Price.id))]


def history(session: Session, part_id: int) -> list[PriceVersion]:
    """Every version of every key of a part, oldest first."""
    stmt = select(Price).where(Price.part_id == part_id).order_by(Price.valid_from, Price.id)
    return [PriceVersion.of(p) for p in session.scalars(stmt)]


# ------------------------------------------------------------------------------------------------
# Layered resolution: which price is the reference, and why. `resolve` is pure; `load_*` fetch
# everything it needs for many items in a fixed number of statements.
# ------------------------------------------------------------------------------------------------

FOREVER = date(9999, 12, 31)
BP = 10000


class Agreement(msgspec.Struct, frozen=True):
    """A policy special agreement (保单特别约定) as a choice of price type: the first type in
    `price_types` with a price in force wins. `categories` limits it (None = every category)."""

    code: str
    name: str
    price_types: tuple[str, ...]
    categories: frozenset[str] | None = None

    def applies_to(self, category: str) -> bool:
        return self.categories is None or category in self.categories


AGREEMENTS: dict[str, Agreement] = {
    a.code: a
    for a in (
        Agreement("4s_repair", "指定4S店/专修厂修理", ("4s", "oem")),
        Agreement("glass_imported", "进口玻璃", ("4s", "oem"), frozenset({"glass"})),
        Agreement("glass_domestic", "国产玻璃", ("brand", "compatible"), frozenset({"glass"})),
    )
}


class PriceTypeInfo(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    rank: int


class ScopeStep(msgspec.Struct, frozen=True):
    """One step of the localized chain, nearest first: the branch, its parent branches, the
    branch's region and the regions above it, then the system price."""

    layer: str  # branch | parent_branch | region | system
    scope: str  # the price scope it matches: branch | region | system
    target_id: int | None
    code: str
    depth: int = 0


class CardTerms(msgspec.Struct, frozen=True):
    """The parts line of a channel's rate card for one category."""

    channel_code: str
    rate_card_id: int
    category_id: int
    price_type_id: int
    discount_bp: int
    valid_from: date
    valid_to: date | None
    created_by: str
    reason: str

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on < (self.valid_to or FOREVER) and not (
            self.valid_to is not None and self.valid_to <= self.valid_from
        )


class MarketReference(msgspec.Struct, frozen=True):
    """A market reference price: evidence shown beside the candidates, never the winner."""

    amount: Decimal
    observed_on: date
    source: str
    price_type: str | None = None


class PriceQuery(msgspec.Struct, frozen=True):
    part_id: int
    category_id: int
    category: str
    on: date
    model_id: int | None = None
    price_type: str | None = None
    agreement: str | None = None


class Candidate(msgspec.Struct, frozen=True):
    layer: str  # channel | branch | parent_branch | region | system | market
    scope_code: str
    price_type: str | None
    model_specific: bool
    amount: Decimal
    valid_from: date | None
    valid_to: date | None
    source: str
    source_ref: str
    created_by: str
    reason: str
    price_id: int | None
    won: bool
    why: str
    #: channel candidates: the reference the card's discount applies to.
    base_amount: Decimal | None = None
    discount_pct: Decimal | None = None
    rate_card_id: int | None = None


class Resolution(msgspec.Struct, frozen=True):
    part_id: int
    on: date
    model_id: int | None
    price_type: str | None
    price_type_reason: str
    winner: Candidate | None
    candidates: tuple[Candidate, ...]

    @property
    def amount(self) -> Decimal | None:
        return self.winner.amount if self.winner else None


def _in_force(v: PriceVersion, on: date) -> bool:
    if v.valid_to is not None and v.valid_to <= v.valid_from:
        return False  # withdrawn before its first day
    return v.valid_from <= on < (v.valid_to or FOREVER)


def chain_steps(chain: Sequence[ScopeStep]) -> dict[tuple[str, int | None], int]:
    """Which step of `chain` a price version is on: (its scope, its branch id for a branch
    price, its region id for a region price, None for the system price) → the index of the
    first step of that scope and target; a version whose key is missing is on none."""
    steps: dict[tuple[str, int | None], int] = {}
    for n, step in enumerate(chain):
        steps.setdefault((step.scope, None if step.scope == "system" else step.target_id), n)
    return steps


def _pct(bp: int) -> Decimal:
    return (Decimal(bp) / 100).quantize(Decimal("0.01"))


def resolve(
    query: PriceQuery,
    versions: Sequence[PriceVersion],
    chain: Sequence[ScopeStep],
    price_types: dict[int, PriceTypeInfo],
    card: CardTerms | None = None,
    market: Sequence[MarketReference] = (),
    *,
    explain: bool = True,
    steps: Mapping[tuple[str, int | None], int] | None = None,
) -> Resolution:
    """The reference price of one part on one day, with every candidate and why it won or lost
    (only the winner when not `explain`: the review rules need no more).

    Precedence: a channel card covering the part's category (its price type's reference less
    its discount) → a policy agreement's price type → the requested price type (else the
    highest-ranked type with a price) — and for the chosen type, the nearest step of `chain`
    (branch, parent branches, regions up the tree, system). In one step a price for the queried
    model beats an all-models price. Versions not in force on `query.on` (future-dated,
    expired, withdrawn), for other models, or for scopes outside the chain are not candidates.
    """
    on = query.on
    if steps is None:
        steps = chain_steps(chain)
    ranked: list[tuple[tuple[int, int, int, int], PriceVersion, int]] = []
    for v in versions:
        if v.part_id != query.part_id or not _in_force(v, on):
            continue
        if v.model_id is not None and v.model_id != query.model_id:
            continue
        scope = v.scope
        step = steps.get(
            ("system", None) if scope == "system"
            else (scope, v.branch_id if scope == "branch" else v.region_id)
        )  # fmt: skip
        if step is None or v.price_type_id not in price_types:
            continue
        rank = price_types[v.price_type_id].rank
        ranked.append(((step, 0 if v.model_id is not None else 1, -rank, v.id), v, step))
    ranked.sort(key=lambda r: r[0])
    best: dict[str, tuple[PriceVersion, int]] = {}
    for _, v, step in ranked:
        best.setdefault(price_types[v.price_type_id].code, (v, step))

    def label(step: int) -> str:
        s = chain[step]
        return "system price" if s.layer == "system" else f"{s.layer.replace('_', ' ')} {s.code}"

    chosen: str | None = None
    reason = ""
    channel: Candidate | None = None
    notes: list[str] = []

    # 1. channel card covering the category
    if card is not None and card.category_id == query.category_id and card.in_force(on):
        card_type = (
            price_types[card.price_type_id].code if card.price_type_id in price_types else ""
        )
        if card_type in best:
            base, step = best[card_type]
            amount = round_yuan(base.amount * (BP - card.discount_bp) / BP)
            chosen = card_type
            reason = (
                f"channel {card.channel_code}'s rate card covers category {query.category}: "
                f"{card_type} reference less {_pct(card.discount_bp)}%"
            )
            channel = Candidate(
                layer="channel", scope_code=card.channel_code, price_type=card_type,
                model_specific=base.model_id is not None, amount=amount,
                valid_from=card.valid_from, valid_to=card.valid_to, source="rate_card",
                source_ref=f"rate_card:{card.rate_card_id}", created_by=card.created_by,
                reason=card.reason, price_id=None, won=True,
                why=f"{reason} ({label(step)} {base.amount})", base_amount=base.amount,
                discount_pct=_pct(card.discount_bp), rate_card_id=card.rate_card_id,
            )  # fmt: skip
        else:
            notes.append(
                f"channel {card.channel_code}'s card names {card_type or 'an unknown type'} for "
                f"{query.category}, which has no price in force: not applied"
            )

    # 2. policy special agreement
    if chosen is None and query.agreement:
        agreement = AGREEMENTS.get(query.agreement)
        if agreement is None:
            notes.append(f"agreement {query.agreement} is unknown: not applied")
        elif not agreement.applies_to(query.category):
            notes.append(
                f"agreement {agreement.code} ({agreement.name}) does not cover category "
                f"{query.category}"
            )
        else:
            found = next((t for t in agreement.price_types if t in best), None)
            if found:
                chosen = found
                reason = f"agreement {agreement.code} ({agreement.name}) selects {found}"
            else:
                notes.append(
                    f"agreement {agreement.code} selects {'/'.join(agreement.price_types)}, "
                    "none of which has a price in force"
                )

    # 3. requested price type, else the highest-ranked type with a price
    if chosen is None:
        if query.price_type:
            chosen = query.price_type
            reason = f"price type {chosen} requested"
        elif ranked:
            top = min(ranked, key=lambda r: (r[0][2], r[0][0], r[0][1]))[1]
            chosen = price_types[top.price_type_id].code
            reason = f"no price type requested: {chosen} is the highest-ranked type with a price"
        else:
            reason = "no price in force"
    if notes:
        reason = "; ".join([*notes, reason])

    winner_version = best.get(chosen or "", (None, None))[0]
    candidates: list[Candidate] = [channel] if channel else []
    for _, v, step in ranked:
        type_code = price_types[v.price_type_id].code
        won = channel is None and v is winner_version
        if not (won or explain):
            continue
        if won:
            why = f"{label(step)} is the nearest layer with a {type_code} price"
            if v.model_id is not None:
                why += " (model-specific)"
        elif type_code != chosen:
            why = f"price type {type_code} not chosen ({reason})"
        elif channel is not None and v is winner_version:
            why = f"reference of the channel card's price ({channel.discount_pct}% off applies)"
        else:
            assert winner_version is not None
            win_step = best[type_code][1]
            if win_step == step:
                why = "an all-models price: the model-specific price of the same layer wins"
            else:
                why = f"outranked by the nearer {label(win_step)}"
        candidates.append(
            Candidate(
                layer=chain[step].layer,
                scope_code=chain[step].code,
                price_type=type_code,
                model_specific=v.model_id is not None,
                amount=v.amount,
                valid_from=v.valid_from,
                valid_to=v.valid_to,
                source=v.source,
                source_ref=v.source_ref,
                created_by=v.created_by,
                reason=v.reason,
                price_id=v.id,
                won=won,
                why=why,
            )
        )
    for m in market if explain else ():
        candidates.append(
            Candidate(
                layer="market",
                scope_code="market",
                price_type=None,
                model_specific=False,
                amount=m.amount,
                valid_from=m.observed_on,
                valid_to=None,
                source="market",
                source_ref=m.source,
                created_by="",
                reason="",
                price_id=None,
                won=False,
                why="market reference: evidence for review, never the reference price",
            )
        )
    winner = next((c for c in candidates if c.won), None)
    return Resolution(
        part_id=query.part_id, on=on, model_id=query.model_id,
        price_type=chosen if winner else (query.price_type or chosen), price_type_reason=reason,
        winner=winner, candidates=tuple(candidates),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Loading: everything `resolve` needs for many items, in a fixed number of statements.
# ------------------------------------------------------------------------------------------------


class ResolveRequest(msgspec.Struct, frozen=True):
    on: date
    part_id: int | None = None
    oe: str | None = None
    model_id: int | None = None
    branch: str | None = None
    price_type: str | None = None
    channel: str | None = None
    agreement: str | None = None


class PartRef(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    category: str
    oe_number: str


class ResolveOutcome(msgspec.Struct, frozen=True):
    request: ResolveRequest
    part: PartRef | None = None
    matched_by: str | None = None  # part_id | oe | superseded_oe
    branch: str | None = None
    channel: str | None = None
    resolution: Resolution | None = None
    error: PricebookError | None = None


@dataclass(slots=True)
class _Branch:
    id: int
    code: str
    parent_id: int | None
    region_id: int


def _branch_chain(codes: set[str]) -> Any:
    base = (
        select(Branch.id, Branch.code, Branch.parent_id, Branch.region_id)
        .where(Branch.code.in_(codes))
        .cte("branch_chain", recursive=True)
    )
    parent = aliased(Branch)
    rec = base.union(
        select(parent.id, parent.code, parent.parent_id, parent.region_id).join(
            base, parent.id == base.c.parent_id
        )
    )
    return select(rec)


def _region_chain(ids: set[int]) -> Any:
    base = (
        select(Region.id, Region.code, Region.parent_id)
        .where(Region.id.in_(ids))
        .cte("region_chain", recursive=True)
    )
    parent = aliased(Region)
    rec = base.union(
        select(parent.id, parent.code, parent.parent_id).join(base, parent.id == base.c.parent_id)
    )
    return select(rec)


def chain_for(
    branch: _Branch | None,
    branches: dict[int, _Branch],
    regions: dict[int, tuple[str, int | None]],
) -> list[ScopeStep]:
    steps: list[ScopeStep] = []
    seen: set[int] = set()
    node = branch
    depth = 0
    while node is not None and node.id not in seen:
        seen.add(node.id)
        layer = "branch" if depth == 0 else "parent_branch"
        steps.append(ScopeStep(layer, "branch", node.id, node.code, depth))
        node = branches.get(node.parent_id) if node.parent_id is not None else None
        depth += 1
    region_id = branch.region_id if branch is not None else None
    depth = 0
    seen = set()
    while region_id is not None and region_id in regions and region_id not in seen:
        seen.add(region_id)
        code, parent_id = regions[region_id]
        steps.append(ScopeStep("region", "region", region_id, code, depth))
        region_id = parent_id
        depth += 1
    steps.append(ScopeStep("system", "system", None, "system"))
    return steps


class ReferenceData(msgspec.Struct, frozen=True):
    """The small, rarely edited tables resolution walks: price types, the branch tree, the
    region tree. The API keeps one per process for a few seconds (`load_reference`)."""

    price_types: dict[int, PriceTypeInfo]
    branches: dict[int, _Branch]
    regions: dict[int, tuple[str, int | None]]
    branch_by_code: dict[str, _Branch] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.branch_by_code:
            self.branch_by_code.update({b.code: b for b in self.branches.values()})


def load_reference(session: Session) -> ReferenceData:
    types = session.scalars(select(PriceType))
    branches = session.execute(select(Branch.id, Branch.code, Branch.parent_id, Branch.region_id))
    regions = session.execute(select(Region.id, Region.code, Region.parent_id))
    return ReferenceData(
        {t.id: PriceTypeInfo(t.id, t.code, t.name, t.rank) for t in types},
        {b: _Branch(b, c, p, r) for b, c, p, r in branches},
        {r: (c, p) for r, c, p in regions},
    )


def load_and_resolve(
    db: Session | Connection,
    requests: Sequence[ResolveRequest],
    reference: ReferenceData | None = None,
) -> list[ResolveOutcome]:
    """Resolve many items at once in a fixed number of statements whatever their number: one
    when `reference` is given (two with channels), four (five with channels) without it.

    The parts (by id, OE number or superseded OE number), the models named, the price versions
    and the market references all come from one `UNION ALL` statement (`_union`). Only Core
    statements: `db` may be a Session or a bare Connection (the API's price routes pass their
    connection — a Session around one statement cost ~5% of a resolve's CPU)."""
    if reference is not None:
        price_types = reference.price_types
    else:
        price_types = {
            tid: PriceTypeInfo(tid, code, name, rank)
            for tid, code, name, rank in db.execute(
                select(PriceType.id, PriceType.code, PriceType.name, PriceType.rank)
            )
        }
    type_codes = {t.code for t in price_types.values()}

    channel_codes = {r.channel for r in requests if r.channel}
    channels: dict[str, int | None] = {}
    cards: dict[str, list[CardTerms]] = defaultdict(list)
    if channel_codes:
        lo = min(r.on for r in requests)
        hi = max(r.on for r in requests)
        stmt = (
            select(Channel.code, Channel.branch_id, RateCard.id, RateCard.valid_from,
                   RateCard.valid_to, RateCard.created_by, RateCard.reason,
                   RateCardParts.category_id, RateCardParts.price_type_id,
                   RateCardParts.discount_bp)
            .outerjoin(
                RateCard,
                and_(
                    RateCard.channel_id == Channel.id,
                    RateCard.valid_from <= hi,
                    or_(RateCard.valid_to.is_(None), RateCard.valid_to > lo),
                ),
            )
            .outerjoin(RateCardParts, RateCardParts.rate_card_id == RateCard.id)
            .where(Channel.code.in_(channel_codes))
        )  # fmt: skip
        for code, branch_id, card_id, vf, vt, by, why, category_id, type_id, bp in db.execute(stmt):
            channels[code] = branch_id
            if card_id is not None and category_id is not None:
                cards[code].append(
                    CardTerms(code, card_id, category_id, type_id, bp, vf, vt, by, why)
                )

    branch_codes = {r.branch for r in requests if r.branch}
    channel_branch_ids = {b for c, b in channels.items() if b is not None and c in channel_codes}
    branches: dict[int, _Branch] = {}
    if reference is not None:
        branches = reference.branches
    elif branch_codes or channel_branch_ids:
        stmt = _branch_chain(branch_codes)
        if channel_branch_ids:
            base = (
                select(Branch.id, Branch.code, Branch.parent_id, Branch.region_id)
                .where(or_(Branch.code.in_(branch_codes), Branch.id.in_(channel_branch_ids)))
                .cte("branch_chain", recursive=True)
            )
            parent = aliased(Branch)
            stmt = select(
                base.union(
                    select(parent.id, parent.code, parent.parent_id, parent.region_id).join(
                        base, parent.id == base.c.parent_id
                    )
                )
            )
        for bid, code, parent_id, region_id in db.execute(stmt):
            branches[bid] = _Branch(bid, code, parent_id, region_id)
    branch_by_code = (
        reference.branch_by_code
        if reference is not None
        else {b.code: b for b in branches.values()}
    )
    regions: dict[int, tuple[str, int | None]] = {}
    if reference is not None:
        regions = reference.regions
    elif branches:
        for rid, code, parent_id in db.execute(
            _region_chain({b.region_id for b in branches.values()})
        ):
            regions[rid] = (code, parent_id)

    # the chain of every item (it depends on the branch or channel only, not on the part)
    chains: list[tuple[_Branch | None, list[ScopeStep]] | None] = []
    chain_cache: dict[int | None, tuple[_Branch | None, list[ScopeStep]]] = {}
    #: each chain's `chain_steps`, by the chain's id (the chains live as long as this call)
    steps_of: dict[int, dict[tuple[str, int | None], int]] = {}
    for r in requests:
        if (r.branch and r.branch not in branch_by_code) or (
            r.channel and r.channel not in channels
        ):
            chains.append(None)
            continue
        branch = branch_by_code.get(r.branch) if r.branch else None
        if branch is None and r.channel and channels.get(r.channel) is not None:
            branch = branches.get(channels[r.channel])  # type: ignore[arg-type]
        branch_key = branch.id if branch is not None else None
        if branch_key not in chain_cache:
            chain_cache[branch_key] = (branch, chain_for(branch, branches, regions))
            steps_of[id(chain_cache[branch_key][1])] = chain_steps(chain_cache[branch_key][1])
        chains.append(chain_cache[branch_key])

    part_ids = {r.part_id for r in requests if r.part_id is not None}
    oes = {normalize_oe(r.oe) for r in requests if r.oe}
    oes.discard("")
    model_ids = {r.model_id for r in requests if r.model_id is not None}
    parts: dict[int, PartRef] = {}
    category_ids: dict[int, int] = {}
    by_oe: dict[str, int] = {}
    by_old_oe: dict[str, int] = {}
    known_models: set[int] = set()
    oe_of: dict[int, str] = {}
    price_rows: list[Any] = []
    market_rows: list[Any] = []
    if part_ids or oes or model_ids:
        region_ids = {st.target_id for c in chains if c for st in c[1] if st.scope == "region"}
        branch_ids = {st.target_id for c in chains if c for st in c[1] if st.scope == "branch"}
        lo = min(r.on for r in requests)
        hi = max(r.on for r in requests)
        params = {
            "part_ids": list(part_ids), "oes": list(oes), "model_ids": list(model_ids),
            "region_ids": list(region_ids), "branch_ids": list(branch_ids), "lo": lo, "hi": hi,
            "m_lo": datetime.combine(_days_from(lo, -MARKET_WINDOW_DAYS), time.min),
            "m_hi": datetime.combine(_days_from(hi, 1), time.min),
        }  # fmt: skip
        postgresql = dialect_of(db) == "postgresql"
        # items over several branches, each by part id: a part's branch prices are read only
        # at its own items' branches, (part, branch) pairs, not at every item's branch (a
        # batch of 100 over 20 branches read ~1,680 price rows for ~630 candidates)
        pairs = postgresql and not oes and len(chain_cache) > 1
        if pairs:
            wanted_pairs = {
                (r.part_id, st.target_id)
                for r, c in zip(requests, chains, strict=True)
                if c and r.part_id is not None
                for st in c[1]
                if st.scope == "branch"
            }
            params["pair_parts"] = [p for p, _ in wanted_pairs]
            params["pair_branches"] = [b for _, b in wanted_pairs]
        statement = _union(bool(oes), bool(model_ids), postgresql, pairs)
        for row in db.execute(statement, params).all():
            kind = row[0]
            if kind == _K_PRICE:
                price_rows.append(row)
            elif kind == _K_PART:
                pid = row[1]
                parts[pid] = PartRef(pid, row[11], row[12], row[4], row[13])
                category_ids[pid] = row[2]
                oe_of[pid] = row[14]
            elif kind == _K_MARKET:
                market_rows.append(row)
            elif kind == _K_OLD_OE:
                old = row[14]
                if old not in by_old_oe or row[2] < by_old_oe[old]:
                    by_old_oe[old] = row[2]
            else:
                known_models.add(row[1])
        for pid in sorted(oe_of):
            if oe_of[pid] in oes:
                by_oe.setdefault(oe_of[pid], pid)

    # validate each item and find its part, branch and chain
    planned: list[tuple[ResolveRequest, PartRef, str, _Branch | None, list[ScopeStep]]] = []
    outcomes: list[ResolveOutcome | None] = []
    for r, found in zip(requests, chains, strict=True):
        error: PricebookError | None = None
        part: PartRef | None = None
        matched_by = ""
        if r.part_id is not None and r.oe:
            error = InvalidInput("give part_id or oe, not both", field="oe")
        elif r.part_id is not None:
            part = parts.get(r.part_id)
            matched_by = "part_id"
            if part is None:
                error = NotFound(f"no part with id {r.part_id}", field="part_id")
        elif r.oe:
            norm = normalize_oe(r.oe)
            if not norm:
                error = InvalidInput("an OE number needs letters or digits", field="oe")
            elif norm in by_oe:
                part, matched_by = parts[by_oe[norm]], "oe"
            elif norm in by_old_oe:
                part, matched_by = parts[by_old_oe[norm]], "superseded_oe"
            else:
                error = NotFound(f"no part with OE number {r.oe!r}", field="oe")
        else:
            error = InvalidInput("give part_id or oe", field="part_id")
        if error is None and r.model_id is not None and r.model_id not in known_models:
            error = InvalidInput(f"no vehicle model with id {r.model_id}", field="model_id")
        if error is None and r.branch and r.branch not in branch_by_code:
            error = InvalidInput(f"no branch with code {r.branch!r}", field="branch")
        if error is None and r.channel and r.channel not in channels:
            error = InvalidInput(f"no channel with code {r.channel!r}", field="channel")
        if error is None and r.price_type and r.price_type not in type_codes:
            error = InvalidInput(
                f"price_type must be one of {', '.join(sorted(type_codes))}", field="price_type"
            )
        if error is None and r.agreement and r.agreement not in AGREEMENTS:
            error = InvalidInput(
                f"agreement must be one of {', '.join(AGREEMENTS)}", field="agreement"
            )
        if error is not None or part is None:
            outcomes.append(ResolveOutcome(r, part, matched_by or None, error=error))
            continue
        assert found is not None
        branch, chain = found
        planned.append((r, part, matched_by, branch, chain))
        outcomes.append(None)

    versions: dict[int, list[PriceVersion]] = defaultdict(list)
    market: dict[int, list[tuple[int, date, date, int | None, MarketReference]]] = {}
    if planned:
        planned_ids = {p[1].id for p in planned}
        # the statement reads the prices of every item's part on the scopes of every item's
        # chain (most rows of a batch over many branches are a part's price at another item's
        # branch) and for every model: only the versions `resolve` can rank for an item that
        # asks for the part become PriceVersions (`resolve` drops the others anyway)
        on_steps: dict[int, set[tuple[str, int | None]]] = defaultdict(set)
        for_models: dict[int, set[int]] = defaultdict(set)
        for r, part, _, _, chain in planned:
            on_steps[part.id].update(steps_of[id(chain)])
            if r.model_id is not None:
                for_models[part.id].add(r.model_id)
        kept = []
        for row in price_rows:
            steps = on_steps.get(row[2])
            if steps is None:
                continue
            scope = row[4]
            if scope == "system":
                key: tuple[str, int | None] = ("system", None)
            else:
                key = (scope, row[6] if scope == "branch" else row[5])
            if key not in steps:
                continue
            if row[3] is not None and row[3] not in for_models.get(row[2], ()):
                continue
            kept.append(row)
        kept.sort(key=lambda row: row[1])
        for row in kept:
            versions[row[2]].append(
                PriceVersion(
                    row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                    from_fen(row[8]), row[9], row[10], row[11], row[12], row[13], row[14],
                )
            )  # fmt: skip
        market = _market_references(market_rows, planned, planned_ids, price_types)

    results = iter(planned)
    final: list[ResolveOutcome] = []
    for outcome in outcomes:
        if outcome is not None:
            final.append(outcome)
            continue
        r, part, matched_by, branch, chain = next(results)
        card = None
        if r.channel:
            card = next(
                (c for c in cards.get(r.channel, ())
                 if c.category_id == category_ids[part.id] and c.in_force(r.on)),
                None,
            )  # fmt: skip
        query = PriceQuery(
            part_id=part.id, category_id=category_ids[part.id], category=part.category, on=r.on,
            model_id=r.model_id, price_type=r.price_type, agreement=r.agreement,
        )  # fmt: skip
        seen_market: dict[tuple[str, int | None, str | None], MarketReference] = {}
        refs = market.get(part.id, ())
        if refs:
            region_ids = {step.target_id for step in chain if step.scope == "region"}
            for obs_part, first, _last, m_region, ref in refs:
                if first <= r.on and (m_region is None or m_region in region_ids) and obs_part:
                    seen_market.setdefault((ref.source, m_region, ref.price_type), ref)
        resolution = resolve(
            query, versions[part.id], chain, price_types, card, tuple(seen_market.values()),
            steps=steps_of[id(chain)],
        )  # fmt: skip
        error = None
        if resolution.winner is None:
            kind = f"{resolution.price_type} " if resolution.price_type else ""
            error = NotFound(f"part {part.code} has no {kind}price in force on {r.on}")
        final.append(
            ResolveOutcome(
                r, part, matched_by, branch.code if branch else None, r.channel, resolution, error
            )
        )
    return final


# the kinds of row `_union` returns (its first column)
_K_PART, _K_OLD_OE, _K_MODEL, _K_PRICE, _K_MARKET = 0, 1, 2, 3, 4


@functools.cache
def _union(oes: bool, models: bool, postgresql: bool, pairs: bool = False) -> Any:
    """One statement for everything item-specific `load_and_resolve` needs: the parts asked for
    (by id, OE number, superseded OE number), the models named, the price versions of those
    parts on the items' scopes and dates, and their market references. Built once per shape
    (with or without OE numbers, with or without models) with bound parameters `part_ids`,
    `oes`, `model_ids`, `region_ids`, `branch_ids`, `lo`, `hi` (dates) and `m_lo`, `m_hi` (the
    market window), so that neither the statement nor its SQL is built again per request.
    With `pairs` (PostgreSQL, parts by id), a branch price is read only for the (part, branch)
    pairs of the parameters `pair_parts` and `pair_branches` (an item's part on its own
    chain's branches) instead of on every branch of `branch_ids`; a model-specific price only
    for a model of `model_ids` (whatever the shape).

    Every row has the same 17 columns, the first saying what it is:

    ====  ========  =========  ========  ===========  ===========  =========  ====  ===  ==  ==
    kind  1         2          3         4            5, 6, 7      8          9/10  11   12  13
    ====  ========  =========  ========  ===========  ===========  =========  ====  ===  ==  ==
    part  id        category   –         category     –            –          –     code name oe
    old   –         part id    –         –            –            –          –     –    –   –
    price id        part id    model id  scope        reg/br/type  amount     from/to source… (14)
    mkt   id        part id    –         –            region/–/type amount    –     source
    ====  ========  =========  ========  ===========  ===========  =========  ====  ===  ==  ==

    (14: normalised OE number for `part`, old OE number for `old`, reason for `price`; 15/16:
    a market row's first and last seen). Rows are not ordered: the caller sorts.
    """
    from sqlalchemy import (
        ARRAY,
        BigInteger,
        Date,
        DateTime,
        Integer,
        String,
        bindparam,
        cast,
        literal,
        null,
        tuple_,
    )

    from pricebook.models import MarketObservation

    timestamp = DateTime(timezone=True)

    def in_(column: Any, name: str) -> Any:
        return in_list(column, name, postgresql=postgresql)

    lo = bindparam("lo", type_=Date)
    hi = bindparam("hi", type_=Date)
    m_lo = bindparam("m_lo", type_=DateTime)
    m_hi = bindparam("m_hi", type_=DateTime)

    def n(type_: Any) -> Any:
        return cast(null(), type_)

    if oes:
        superseded = select(OeSupersession.part_id).where(
            in_(OeSupersession.old_oe_normalized, "oes")
        )
        part_cond = or_(
            in_(Part.id, "part_ids"),
            in_(Part.oe_normalized, "oes"),
            in_select(Part.id, superseded, postgresql=postgresql),
        )
        wanted = in_select(Price.part_id, select(Part.id).where(part_cond), postgresql=postgresql)
        observed = in_select(
            MarketObservation.part_id, select(Part.id).where(part_cond), postgresql=postgresql
        )
    else:
        # by id only: the prices' and observations' own part_id against the list, no join
        part_cond = in_(Part.id, "part_ids")
        wanted = in_(Price.part_id, "part_ids")
        observed = in_(MarketObservation.part_id, "part_ids")
    if pairs:
        # a hashed SubPlan: the pairs are hashed once, each price row read by its part_id is
        # looked up in them
        wanted_pairs = (
            func.unnest(
                bindparam("pair_parts", type_=ARRAY(Integer)),
                bindparam("pair_branches", type_=ARRAY(Integer)),
            )
            .table_valued("part_id", "branch_id")
            .render_derived()
        )
        at_branch = tuple_(Price.part_id, Price.branch_id).in_(
            select(wanted_pairs.c.part_id, wanted_pairs.c.branch_id)
        )
    else:
        at_branch = in_(Price.branch_id, "branch_ids")
    scope_cond = [Price.scope == "system", in_(Price.region_id, "region_ids"), at_branch]
    # the first SELECT gives the columns their types
    price_rows = select(
        literal(_K_PRICE, Integer), Price.id, Price.part_id, Price.model_id, Price.scope,
        Price.region_id, Price.branch_id, Price.price_type_id, Price.amount_fen,
        Price.valid_from, Price.valid_to, Price.source, Price.source_ref, Price.created_by,
        Price.reason, n(timestamp), n(timestamp),
    ).where(
        wanted,
        Price.valid_from <= hi,
        or_(Price.valid_to.is_(None), Price.valid_to > lo),
        or_(*scope_cond),
        # another model's price is never a candidate
        or_(Price.model_id.is_(None), in_(Price.model_id, "model_ids")),
    )  # fmt: skip
    part_rows = select(
        literal(_K_PART, Integer), Part.id, Part.category_id, n(Integer), Category.code,
        n(Integer), n(Integer), n(Integer), n(BigInteger), n(Date), n(Date), Part.code,
        Part.name, Part.oe_number, Part.oe_normalized, n(timestamp), n(timestamp),
    ).join(Category, Category.id == Part.category_id).where(part_cond)  # fmt: skip
    mo = MarketObservation
    market_rows = select(
        literal(_K_MARKET, Integer), mo.id, mo.part_id, n(Integer), n(String), mo.region_id,
        n(Integer), mo.price_type_id, mo.amount_fen, n(Date), n(Date), mo.source, n(String),
        n(String), n(String), mo.first_seen, mo.last_seen,
    ).where(
        observed, mo.status == "matched", mo.last_seen >= m_lo,
        mo.first_seen < m_hi,
    )  # fmt: skip
    selects = [price_rows, part_rows, market_rows]
    if oes:
        selects.append(
            select(
                literal(_K_OLD_OE, Integer), n(Integer), OeSupersession.part_id, n(Integer),
                n(String), n(Integer), n(Integer), n(Integer), n(BigInteger), n(Date), n(Date),
                n(String), n(String), n(String), OeSupersession.old_oe_normalized, n(timestamp),
                n(timestamp),
            ).where(in_(OeSupersession.old_oe_normalized, "oes"))
        )  # fmt: skip
    if models:
        selects.append(
            select(
                literal(_K_MODEL, Integer), VehicleModel.id, n(Integer), n(Integer), n(String),
                n(Integer), n(Integer), n(Integer), n(BigInteger), n(Date), n(Date), n(String),
                n(String), n(String), n(String), n(timestamp), n(timestamp),
            ).where(in_(VehicleModel.id, "model_ids"))
        )  # fmt: skip
    return union_all(*selects)


#: market observations older than this before the earliest date are not shown as references.
MARKET_WINDOW_DAYS = 180


def _days_from(day: date, days: int) -> date:
    """`day` + `days`, held within the calendar (an estimate dated 0001-01-01 or 9999-12-31
    is a valid date whose market window reaches past it)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def _market_references(
    rows: Sequence[Any],
    planned: Sequence[tuple[Any, ...]],
    planned_ids: set[int],
    price_types: dict[int, PriceTypeInfo],
) -> dict[int, list[tuple[int, date, date, int | None, MarketReference]]]:
    """Matched market observations of the planned parts (`_union`'s market rows), newest first,
    within `MARKET_WINDOW_DAYS` before the earliest planned date."""
    from datetime import UTC

    out: dict[int, list[tuple[int, date, date, int | None, MarketReference]]] = defaultdict(list)
    if not rows:
        return out
    lo = datetime.combine(
        _days_from(min(p[0].on for p in planned), -MARKET_WINDOW_DAYS), time.min, tzinfo=UTC
    )
    hi = datetime.combine(_days_from(max(p[0].on for p in planned), 1), time.min, tzinfo=UTC)

    wanted = [
        row
        for row in rows
        if row[2] in planned_ids and as_utc(row[16]) >= lo and as_utc(row[15]) < hi
    ]
    wanted.sort(key=lambda row: (row[16], row[1]), reverse=True)
    for row in wanted:
        part_id, region_id, type_id, amount_fen, source = row[2], row[5], row[7], row[8], row[11]
        first, last = row[15], row[16]
        ref = MarketReference(
            from_fen(amount_fen), last.date(), source,
            price_types[type_id].code if type_id in price_types else None,
        )  # fmt: skip
        out[part_id].append((part_id, first.date(), last.date(), region_id, ref))
    return out


class HistoryRow(msgspec.Struct, frozen=True):
    version: PriceVersion
    price_type: str
    layer: str
    scope_code: str
    model_code: str | None
    withdrawn: bool
    created_at: Any


def price_history(
    session: Session,
    part_id: int,
    *,
    branch: str = "",
    price_type: str = "",
    limit: int = 100,
    offset: int = 0,
) -> Any:
    """Every version of a part's prices, oldest first; `branch` keeps the versions that can
    apply there (the branch, its parents, its regions up the tree, system)."""
    from pricebook.catalog import Page

    if session.get(Part, part_id) is None:
        raise NotFound(f"no part with id {part_id}", field="id")
    types = {t.id: t.code for t in session.scalars(select(PriceType))}
    stmt = select(Price, VehicleModel.code).outerjoin(
        VehicleModel, VehicleModel.id == Price.model_id
    )
    stmt = stmt.where(Price.part_id == part_id)
    if price_type:
        ids = [i for i, c in types.items() if c == price_type]
        if not ids:
            raise InvalidInput(
                f"price_type must be one of {', '.join(sorted(types.values()))}", field="price_type"
            )
        stmt = stmt.where(Price.price_type_id.in_(ids))
    chain: list[ScopeStep] | None = None
    if branch:
        branches = {
            b: _Branch(b, c, p, r) for b, c, p, r in session.execute(_branch_chain({branch}))
        }
        start = next((b for b in branches.values() if b.code == branch), None)
        if start is None:
            raise InvalidInput(f"no branch with code {branch!r}", field="branch")
        regions = {r: (c, p) for r, c, p in session.execute(_region_chain({start.region_id}))}
        chain = chain_for(start, branches, regions)
        stmt = stmt.where(
            or_(
                Price.scope == "system",
                Price.region_id.in_([s.target_id for s in chain if s.scope == "region"]),
                Price.branch_id.in_([s.target_id for s in chain if s.scope == "branch"]),
            )
        )
    codes: dict[tuple[str, int | None], str] = {}
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(Price.valid_from, Price.id).limit(limit).offset(offset)
    ).all()
    need_regions = {p.region_id for p, _ in rows if p.region_id is not None}
    need_branches = {p.branch_id for p, _ in rows if p.branch_id is not None}
    if need_regions:
        codes |= {
            ("region", i): c
            for i, c in session.execute(
                select(Region.id, Region.code).where(Region.id.in_(need_regions))
            )
        }
    if need_branches:
        codes |= {
            ("branch", i): c
            for i, c in session.execute(
                select(Branch.id, Branch.code).where(Branch.id.in_(need_branches))
            )
        }
    layers = {(s.scope, s.target_id): s.layer for s in chain or ()}
    items = []
    for p, model_code in rows:
        key = (p.scope, p.branch_id if p.scope == "branch" else p.region_id)
        items.append(
            HistoryRow(
                version=PriceVersion.of(p),
                price_type=types[p.price_type_id],
                layer=layers.get(key, p.scope) if p.scope != "system" else "system",
                scope_code=codes.get(key, "system") if p.scope != "system" else "system",
                model_code=model_code,
                withdrawn=p.valid_to is not None and p.valid_to <= p.valid_from,
                created_at=as_utc(p.created_at),
            )
        )
    return Page(items, total, limit, offset)


# ------------------------------------------------------------------------------------------------
# Writes: staff edits of versioned keys (prices here; labor rates, standard hours and rate cards
# in `pricebook.labor` use the same machinery). Every write follows `history.plan_version`:
# nothing is overwritten, a new version closes the one in force, and the only change a stored
# version ever sees is an earlier `valid_to`. Each change writes an audit row in the same
# transaction.
#
# Concurrency: a key's ETag hashes the ids and validity of all its versions, so it changes with
# every write. A writer first locks the key (`lock_key`), then reads the versions and compares
# the ETag it was given: of two edits sent with the same ETag, the second waits for the first
# to commit, then finds the ETag moved and gets StaleVersion (412). Nothing is lost.
# ------------------------------------------------------------------------------------------------

ETagLike = str | Sequence[str] | None


def etag_of(rows: Iterable[tuple[int, date, date | None]]) -> str:
    """A key's ETag: a hash of the id and validity of each of its versions."""
    text_ = ";".join(f"{i}:{f}:{t or ''}" for i, f, t in sorted(rows))
    return '"' + hashlib.sha256(text_.encode()).hexdigest()[:20] + '"'


#: the ETag of a key without versions: what a client sends to create a key's first version.
EMPTY_ETAG = etag_of([])


def lock_key(session: Session, *key: Hashable) -> None:
    """Serialise writers of one key until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of the key (it also covers
    a key without rows, which SELECT … FOR UPDATE cannot). SQLite: a first write of the
    transaction, which takes the database's single write lock (waiting up to busy_timeout) and
    makes every later read of the transaction see what the previous writer committed. Call it
    before reading what the write depends on.
    """
    if dialect_of(session) == "postgresql":
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        session.execute(
            select(func.pg_advisory_xact_lock(int.from_bytes(digest, "big", signed=True)))
        )
    else:
        session.execute(text("UPDATE catalog_versions SET id = id WHERE id < 0"))


#: a versioned table's keys are locked in this many stripes (PostgreSQL advisory locks): an
#: import of 200,000 keys takes at most this many locks (the server's lock table is shared and
#: small), and two writers of one key always meet on the same stripe.
VERSION_LOCK_STRIPES = 256


def _stripe(key: Mapping[str, Any]) -> int:
    canonical = repr(tuple(sorted(key.items())))
    digest = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % VERSION_LOCK_STRIPES


def lock_version_keys(session: Session, table: str, keys: Iterable[Mapping[str, Any]]) -> None:
    """Serialise writers of versioned keys (column → value) of `table` until the transaction
    ends: a staff edit locks its one key, an import all of its keys, in ascending stripe order
    so that two imports cannot deadlock. SQLite: one `lock_key` (the database's write lock)."""
    stripes = sorted({_stripe(key) for key in keys})
    if not stripes:
        return
    if dialect_of(session) != "postgresql":
        lock_key(session, table)
        return
    for stripe in stripes:
        lock_key(session, table, "stripe", stripe)


def check_etag(current: str, expected: ETagLike, what: str = "it") -> None:
    """StaleVersion unless `expected` (one ETag or several, as If-Match allows) names `current`."""
    if expected is None:
        return
    wanted = (expected,) if isinstance(expected, str) else tuple(expected)
    if current not in {e.strip() for e in wanted}:
        raise StaleVersion(
            f"{what} changed since you loaded it (ETag {current} now): reload and edit again",
            field="etag",
        )


def require_reason(reason: str, actor: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why: a reason is required for every change", field="reason")
    if len(reason) > 1000:
        raise InvalidInput("a reason has at most 1000 characters", field="reason")
    if not actor:
        raise InvalidInput("a change needs an actor", field="actor")
    return reason


class Written(msgspec.Struct, frozen=True):
    """What a versioned write did: created | superseded | closed | withdrawn | unchanged; the
    version it wrote (or found in force, when unchanged); the key's ETag afterwards."""

    action: str
    id: int
    etag: str


def _eq(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _key_rows(session: Session, model: Any, key: Mapping[str, Any]) -> list[Any]:
    stmt = (
        select(model)
        .where(*(_eq(getattr(model, c), v) for c, v in key.items()))
        .order_by(model.valid_from, model.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def _rows_etag(rows: Iterable[Any]) -> str:
    return etag_of((r.id, r.valid_from, r.valid_to) for r in rows)


def key_versions(session: Session, model: Any, key: Mapping[str, Any]) -> tuple[list[Any], str]:
    """The stored versions of one key, oldest first, and the key's ETag."""
    rows = _key_rows(session, model, key)
    return rows, _rows_etag(rows)


def write_version(
    session: Session,
    model: Any,
    key: Mapping[str, Any],
    *,
    value: Hashable,
    value_of: Callable[[Any], Hashable],
    record: Mapping[str, Any],
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    expected_etag: ETagLike,
    describe: Callable[[Any], dict[str, Any]],
    after: Mapping[str, Any],
    on_insert: Callable[[int], None] | None = None,
) -> Written:
    """Add `value` to a key from `valid_from` (closing the version in force), or close the version
    in force early when it already has `value` — in the caller's transaction, audited."""
    table = model.__tablename__
    reason = require_reason(reason, actor)
    lock_version_keys(session, table, [key])
    rows = _key_rows(session, model, key)
    check_etag(_rows_etag(rows), expected_etag)
    versions = [Version(r.id, r.valid_from, r.valid_to, value_of(r)) for r in rows]
    plan = plan_version(versions, valid_from, valid_to, value)
    by_id = {r.id: r for r in rows}
    if plan.unchanged:
        current = version_in_force(versions, valid_from)
        assert current is not None and current.id is not None
        return Written("unchanged", current.id, _rows_etag(rows))
    closed_id: int | None = None
    before: dict[str, Any] | None = None
    try:
        if plan.close is not None:
            closed, day = plan.close
            assert closed.id is not None
            closed_id = closed.id
            before = describe(by_id[closed.id])
            session.execute(update(model).where(model.id == closed.id).values(valid_to=day))
            audit.record(
                session, actor=actor, action="close", entity=table, entity_id=closed.id,
                before={"valid_to": closed.valid_to}, after={"valid_to": day}, reason=reason,
            )  # fmt: skip
        if not plan.insert:
            assert closed_id is not None
            return Written("closed", closed_id, _rows_etag(_key_rows(session, model, key)))
        new_id = session.execute(
            insert(model)
            .values(**key, **record, valid_from=valid_from, valid_to=valid_to)
            .returning(model.id)
        ).scalar_one()
        if on_insert is not None:
            on_insert(new_id)
        session.flush()
    except IntegrityError as exc:  # the database's history guards: should not happen under the lock
        raise Conflict(
            "another edit of this key was saved at the same time: reload and edit again",
            field="valid_from",
        ) from exc
    audit.record(
        session, actor=actor, action="supersede" if closed_id is not None else "create",
        entity=table, entity_id=new_id, before=before,
        after={**after, "valid_from": valid_from, "valid_to": valid_to}, reason=reason,
    )  # fmt: skip
    return Written(
        "superseded" if closed_id is not None else "created",
        new_id,
        _rows_etag(_key_rows(session, model, key)),
    )


def end_version(
    session: Session,
    model: Any,
    version_id: int,
    key_columns: Sequence[str],
    *,
    valid_to: date,
    actor: str,
    reason: str,
    expected_etag: ETagLike,
) -> Written:
    """End a version's validity on `valid_to` (a version is only ever shortened; `valid_to` equal
    to its `valid_from` withdraws a version that should never have applied), audited."""
    table = model.__tablename__
    reason = require_reason(reason, actor)
    found = session.execute(
        select(*(getattr(model, c) for c in key_columns)).where(model.id == version_id)
    ).first()
    if found is None:
        raise NotFound(f"no {table} version with id {version_id}", field="id")
    key = dict(zip(key_columns, found, strict=True))
    lock_version_keys(session, table, [key])
    rows = _key_rows(session, model, key)
    check_etag(_rows_etag(rows), expected_etag)
    row = next(r for r in rows if r.id == version_id)
    end = row.valid_to or FOREVER
    if valid_to == row.valid_to:
        return Written("unchanged", row.id, _rows_etag(rows))
    if valid_to < row.valid_from or valid_to >= end:
        raise Conflict(
            f"the version runs from {row.valid_from} to {row.valid_to or 'open end'}: it can only "
            f"end between those days (a version is never extended: add a new one)",
            field="valid_to",
        )
    # the UPDATE refreshes `row` in the session: keep the old end for the audit first
    old_end = row.valid_to
    session.execute(update(model).where(model.id == row.id).values(valid_to=valid_to))
    action = "withdraw" if valid_to == row.valid_from else "close"
    audit.record(
        session, actor=actor, action=action, entity=table, entity_id=row.id,
        before={"valid_to": old_end}, after={"valid_to": valid_to}, reason=reason,
    )  # fmt: skip
    return Written(
        "withdrawn" if action == "withdraw" else "closed",
        row.id,
        _rows_etag(_key_rows(session, model, key)),
    )


# --- prices -------------------------------------------------------------------------------------

PRICE_KEY_COLUMNS = ("part_id", "model_id", "scope", "region_id", "branch_id", "price_type_id")


class PriceKey(msgspec.Struct, frozen=True):
    """One versioned price key: part × model (None: all models) × scope target × price type."""

    part_id: int
    model_id: int | None
    scope: str
    region_id: int | None
    branch_id: int | None
    price_type_id: int

    def columns(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in PRICE_KEY_COLUMNS}


class PriceKeyVersions(msgspec.Struct, frozen=True):
    key: PriceKey
    etag: str
    versions: list[PriceVersion]


class PriceWrite(msgspec.Struct, frozen=True):
    action: str
    version: PriceVersion
    etag: str


def check_price_key(session: Session, key: PriceKey) -> None:
    """InvalidInput / NotFound unless the key names an existing part, model, target and type."""
    scope, region_id, branch_id = key.scope, key.region_id, key.branch_id
    if scope not in PRICE_SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(PRICE_SCOPES)}", field="scope")
    if scope == "system" and (region_id is not None or branch_id is not None):
        raise InvalidInput("a system price has no region or branch", field="scope")
    if scope == "region" and (region_id is None or branch_id is not None):
        raise InvalidInput("a region price needs a region and no branch", field="region")
    if scope == "branch" and (branch_id is None or region_id is not None):
        raise InvalidInput("a branch price needs a branch and no region", field="branch")
    if session.get(Part, key.part_id) is None:
        raise NotFound(f"no part with id {key.part_id}", field="part_id")
    if key.model_id is not None and session.get(VehicleModel, key.model_id) is None:
        raise InvalidInput(f"no vehicle model with id {key.model_id}", field="model_id")
    if region_id is not None and session.get(Region, region_id) is None:
        raise InvalidInput(f"no region with id {region_id}", field="region")
    if branch_id is not None and session.get(Branch, branch_id) is None:
        raise InvalidInput(f"no branch with id {branch_id}", field="branch")
    if session.get(PriceType, key.price_type_id) is None:
        raise InvalidInput(f"no price type with id {key.price_type_id}", field="price_type")


def price_key(
    session: Session,
    *,
    part_id: int,
    model_id: int | None,
    scope: str,
    region: str | None,
    branch: str | None,
    price_type: str,
) -> PriceKey:
    """A price key from the codes the API speaks (region / branch / price type codes)."""
    region_id = branch_id = None
    if region:
        region_id = session.scalar(select(Region.id).where(Region.code == region))
        if region_id is None:
            raise InvalidInput(f"no region with code {region!r}", field="region")
    if branch:
        branch_id = session.scalar(select(Branch.id).where(Branch.code == branch))
        if branch_id is None:
            raise InvalidInput(f"no branch with code {branch!r}", field="branch")
    type_id = session.scalar(select(PriceType.id).where(PriceType.code == price_type))
    if type_id is None:
        raise InvalidInput(f"no price type with code {price_type!r}", field="price_type")
    key = PriceKey(part_id, model_id, scope, region_id, branch_id, type_id)
    check_price_key(session, key)
    return key


def price_key_versions(session: Session, key: PriceKey) -> PriceKeyVersions:
    rows, etag = key_versions(session, Price, key.columns())
    return PriceKeyVersions(key, etag, [PriceVersion.of(r) for r in rows])


KeyTuple = tuple[int | None, str, int | None, int | None, int]


def etags_by_key(session: Session, part_id: int) -> dict[KeyTuple, str]:
    """The ETag of every price key of a part, (model, scope, region, branch, price type) → ETag,
    in one statement (what an edit form sends back as `expected_etag`)."""
    rows: dict[KeyTuple, list[tuple[int, date, date | None]]] = defaultdict(list)
    stmt = select(
        Price.model_id, Price.scope, Price.region_id, Price.branch_id, Price.price_type_id,
        Price.id, Price.valid_from, Price.valid_to,
    ).where(Price.part_id == part_id)  # fmt: skip
    for model_id, scope, region_id, branch_id, type_id, id_, start, end in session.execute(stmt):
        rows[(model_id, scope, region_id, branch_id, type_id)].append((id_, start, end))
    return {key: etag_of(versions) for key, versions in rows.items()}


def _describe_price(row: Price) -> dict[str, Any]:
    return {
        "id": row.id, "amount": from_fen(row.amount_fen), "valid_from": row.valid_from,
        "valid_to": row.valid_to, "source": row.source, "source_ref": row.source_ref,
    }  # fmt: skip


def write_price(
    session: Session,
    key: PriceKey,
    *,
    amount: Decimal | str,
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    source: str = "staff",
    source_ref: str = "",
    expected_etag: ETagLike = None,
) -> PriceWrite:
    """A new version of a price key from `valid_from`, closing the one in force on that day (or
    closing it early when it has this amount and `valid_to` is earlier); unchanged when it
    already has this amount and period. Raises InvalidInput (amount, key, empty reason),
    StaleVersion (`expected_etag` no longer names the key) and Conflict (the period reaches
    into a later version's)."""
    require_reason(reason, actor)
    if source not in PRICE_SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(PRICE_SOURCES)}", field="source")
    try:
        yuan = parse_money(amount)
    except MoneyError as exc:
        raise InvalidInput(f"amount: {exc}", field="amount") from exc
    check_price_key(session, key)
    fen = to_fen(yuan)
    written = write_version(
        session, Price, key.columns(), value=fen, value_of=lambda r: r.amount_fen,
        record={"amount_fen": fen, "source": source, "source_ref": source_ref,
                "created_by": actor, "reason": reason.strip()},
        valid_from=valid_from, valid_to=valid_to, actor=actor, reason=reason,
        expected_etag=expected_etag, describe=_describe_price,
        after={**key.columns(), "amount": yuan, "source": source, "source_ref": source_ref},
    )  # fmt: skip
    row = session.get(Price, written.id, populate_existing=True)
    assert row is not None
    return PriceWrite(written.action, PriceVersion.of(row), written.etag)


def supersede_price(
    session: Session,
    *,
    part_id: int,
    model_id: int | None,
    scope: str,
    region_id: int | None,
    branch_id: int | None,
    price_type_id: int,
    amount: Decimal,
    valid_from: date,
    valid_to: date | None,
    actor: str,
    reason: str,
    source: str = "staff",
    source_ref: str = "",
    expected_etag: ETagLike = None,
) -> PriceVersion:
    """`write_price` by ids, returning the version written (or in force, when unchanged)."""
    key = PriceKey(part_id, model_id, scope, region_id, branch_id, price_type_id)
    return write_price(
        session, key, amount=amount, valid_from=valid_from, valid_to=valid_to, actor=actor,
        reason=reason, source=source, source_ref=source_ref, expected_etag=expected_etag,
    ).version  # fmt: skip


def end_price(
    session: Session,
    version_id: int,
    *,
    valid_to: date,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> PriceWrite:
    """End a price version's validity on `valid_to` (never extended, never deleted)."""
    written = end_version(
        session, Price, version_id, PRICE_KEY_COLUMNS, valid_to=valid_to, actor=actor,
        reason=reason, expected_etag=expected_etag,
    )  # fmt: skip
    row = session.get(Price, written.id, populate_existing=True)
    assert row is not None
    return PriceWrite(written.action, PriceVersion.of(row), written.etag)


class Coded(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str


class ReferenceLists(msgspec.Struct, frozen=True):
    """What an edit form offers: branches, regions and price types (highest rank first)."""

    branches: list[Coded]
    regions: list[Coded]
    price_types: list[Coded]


def reference_lists(session: Session) -> ReferenceLists:
    return ReferenceLists(
        branches=[
            Coded(*r)
            for r in session.execute(
                select(Branch.id, Branch.code, Branch.name).order_by(Branch.code)
            )
        ],
        regions=[
            Coded(*r)
            for r in session.execute(
                select(Region.id, Region.code, Region.name).order_by(Region.code)
            )
        ],
        price_types=[
            Coded(*r)
            for r in session.execute(
                select(PriceType.id, PriceType.code, PriceType.name).order_by(PriceType.rank.desc())
            )
        ],
    )
