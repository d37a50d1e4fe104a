"""Everything `resolve` needs for many items, in a fixed number of statements: the branch and
region trees (`load_reference`), each request's scope chain (`chain_for`), and the prices, cards
and market references of every planned part in one UNION (`load_and_resolve`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    and_,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from pricebook.db import dialect_of
from pricebook.errors import InvalidInput, NotFound, PricebookError
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    Branch,
    Channel,
    PriceType,
    RateCard,
    RateCardParts,
    ReferenceGeneration,
    Region,
)
from pricebook.money import from_fen
from pricebook.prices.resolve import (
    AGREEMENTS,
    CardTerms,
    MarketReference,
    PriceQuery,
    PriceTypeInfo,
    PriceVersion,
    Resolution,
    ScopeStep,
    chain_steps,
    resolve,
)
from pricebook.prices.union import (
    K_MARKET,
    K_OLD_OE,
    K_PART,
    K_PRICE,
    market_references,
    market_window,
    union_statement,
)


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
class BranchNode:
    id: int
    code: str
    parent_id: int | None
    region_id: int


def branch_chain_query(codes: set[str]) -> Any:
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


def region_chain_query(ids: set[int]) -> Any:
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
    branch: BranchNode | None,
    branches: dict[int, BranchNode],
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
    region tree. The API keeps one per process while the database's reference generation stays
    where it was when they were read (`generation`; see `reference_generation`)."""

    price_types: dict[int, PriceTypeInfo]
    branches: dict[int, BranchNode]
    regions: dict[int, tuple[str, int | None]]
    branch_by_code: dict[str, BranchNode] = msgspec.field(default_factory=dict)
    #: `reference_generation.value` when these were read (None: unknown)
    generation: int | None = None

    def __post_init__(self) -> None:
        if not self.branch_by_code:
            self.branch_by_code.update({b.code: b for b in self.branches.values()})


def reference_generation(session: Session) -> int:
    """Where the database's references stand: `reference_generation.value` moves in every
    transaction that changes price types, branches or regions (among others: migration
    0007), so a `ReferenceData` read at this value is still current."""
    return session.execute(_GENERATION).scalar_one()


_GENERATION = select(ReferenceGeneration.value).where(ReferenceGeneration.id == 1)


def load_reference(session: Session) -> ReferenceData:
    """The reference tables and the generation they were read at (read first: a change
    committed between the two reads makes the data newer than its generation, never older)."""
    generation = reference_generation(session)
    types = session.scalars(select(PriceType))
    branches = session.execute(select(Branch.id, Branch.code, Branch.parent_id, Branch.region_id))
    regions = session.execute(select(Region.id, Region.code, Region.parent_id))
    return ReferenceData(
        {t.id: PriceTypeInfo(t.id, t.code, t.name, t.rank) for t in types},
        {b: BranchNode(b, c, p, r) for b, c, p, r in branches},
        {r: (c, p) for r, c, p in regions},
        generation=generation,
    )


def _price_types(
    db: Session | Connection, reference: ReferenceData | None
) -> dict[int, PriceTypeInfo]:
    if reference is not None:
        return reference.price_types
    stmt = select(PriceType.id, PriceType.code, PriceType.name, PriceType.rank)
    return {tid: PriceTypeInfo(tid, code, name, rank) for tid, code, name, rank in db.execute(stmt)}


def _channels(
    db: Session | Connection, requests: Sequence[ResolveRequest]
) -> tuple[dict[str, int | None], dict[str, list[CardTerms]]]:
    """The channels the requests name (code → its branch id) and the parts lines of their rate
    cards in force at some point between the earliest and the latest date asked for."""
    channel_codes = {r.channel for r in requests if r.channel}
    channels: dict[str, int | None] = {}
    cards: dict[str, list[CardTerms]] = defaultdict(list)
    if not channel_codes:
        return channels, cards
    lo = min(r.on for r in requests)
    hi = max(r.on for r in requests)
    stmt = (
        select(
            Channel.code,
            Channel.branch_id,
            RateCard.id,
            RateCard.valid_from,
            RateCard.valid_to,
            RateCard.created_by,
            RateCard.reason,
            RateCardParts.category_id,
            RateCardParts.price_type_id,
            RateCardParts.discount_bp,
        )
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
    )
    for code, branch_id, card_id, vf, vt, by, why, category_id, type_id, bp in db.execute(stmt):
        channels[code] = branch_id
        if card_id is not None and category_id is not None:
            cards[code].append(CardTerms(code, card_id, category_id, type_id, bp, vf, vt, by, why))
    return channels, cards


def _trees(
    db: Session | Connection,
    requests: Sequence[ResolveRequest],
    channels: dict[str, int | None],
) -> ReferenceData:
    """The branches the requests name (by code, or through their channel) with their parents,
    and the regions above them: the part of `ReferenceData` this batch needs."""
    branch_codes = {r.branch for r in requests if r.branch}
    channel_branch_ids = {b for b in channels.values() if b is not None}
    branches: dict[int, BranchNode] = {}
    if branch_codes or channel_branch_ids:
        stmt = branch_chain_query(branch_codes)
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
            branches[bid] = BranchNode(bid, code, parent_id, region_id)
    regions: dict[int, tuple[str, int | None]] = {}
    if branches:
        for rid, code, parent_id in db.execute(
            region_chain_query({b.region_id for b in branches.values()})
        ):
            regions[rid] = (code, parent_id)
    return ReferenceData({}, branches, regions)


_Chain = tuple[BranchNode | None, list[ScopeStep]]
_Steps = dict[tuple[str, int | None], int]


def _chains(
    requests: Sequence[ResolveRequest], trees: ReferenceData, channels: dict[str, int | None]
) -> tuple[list[_Chain | None], dict[int, _Steps], int]:
    """Each request's branch and chain (None for an unknown branch or channel), each chain's
    `chain_steps` by the chain's id, and how many distinct chains there are. A chain depends
    on the branch or channel only, not on the part: one per branch."""
    chains: list[_Chain | None] = []
    by_branch: dict[int | None, _Chain] = {}
    steps_of: dict[int, _Steps] = {}
    for r in requests:
        if (r.branch and r.branch not in trees.branch_by_code) or (
            r.channel and r.channel not in channels
        ):
            chains.append(None)
            continue
        branch = trees.branch_by_code.get(r.branch) if r.branch else None
        channel_branch = channels.get(r.channel) if r.channel else None
        if branch is None and channel_branch is not None:
            branch = trees.branches.get(channel_branch)
        key = branch.id if branch is not None else None
        if key not in by_branch:
            by_branch[key] = (branch, chain_for(branch, trees.branches, trees.regions))
            steps_of[id(by_branch[key][1])] = chain_steps(by_branch[key][1])
        chains.append(by_branch[key])
    return chains, steps_of, len(by_branch)


@dataclass(slots=True)
class _Rows:
    """What `union_statement` returned, sorted by kind."""

    parts: dict[int, PartRef] = field(default_factory=dict)
    category_ids: dict[int, int] = field(default_factory=dict)
    by_oe: dict[str, int] = field(default_factory=dict)
    by_old_oe: dict[str, int] = field(default_factory=dict)
    known_models: set[int] = field(default_factory=set)
    prices: list[Any] = field(default_factory=list)
    market: list[Any] = field(default_factory=list)


def _union_params(
    requests: Sequence[ResolveRequest],
    chains: Sequence[_Chain | None],
    part_ids: set[int],
    oes: set[str],
    model_ids: set[int],
) -> dict[str, Any]:
    region_ids = {st.target_id for c in chains if c for st in c[1] if st.scope == "region"}
    branch_ids = {st.target_id for c in chains if c for st in c[1] if st.scope == "branch"}
    lo = min(r.on for r in requests)
    hi = max(r.on for r in requests)
    # the statement binds them as zone-less `DateTime` (`union_statement`), as it always has
    m_lo, m_hi = (bound.replace(tzinfo=None) for bound in market_window(lo, hi))
    return {
        "part_ids": list(part_ids),
        "oes": list(oes),
        "model_ids": list(model_ids),
        "region_ids": list(region_ids),
        "branch_ids": list(branch_ids),
        "lo": lo,
        "hi": hi,
        "m_lo": m_lo,
        "m_hi": m_hi,
    }


def _rows(
    db: Session | Connection,
    requests: Sequence[ResolveRequest],
    chains: Sequence[_Chain | None],
    n_chains: int,
) -> _Rows:
    """Parts, models, price versions and market references of every request: one statement."""
    out = _Rows()
    part_ids = {r.part_id for r in requests if r.part_id is not None}
    oes = {normalize_oe(r.oe) for r in requests if r.oe}
    oes.discard("")
    model_ids = {r.model_id for r in requests if r.model_id is not None}
    if not (part_ids or oes or model_ids):
        return out
    params = _union_params(requests, chains, part_ids, oes, model_ids)
    postgresql = dialect_of(db) == "postgresql"
    # items over several branches, each by part id: a part's branch prices are read only at
    # its own items' branches, (part, branch) pairs, not at every item's branch
    pairs = postgresql and not oes and n_chains > 1
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
    oe_of: dict[int, str] = {}
    for row in db.execute(
        union_statement(bool(oes), bool(model_ids), postgresql, pairs), params
    ).all():
        kind = row[0]
        if kind == K_PRICE:
            out.prices.append(row)
        elif kind == K_PART:
            pid = row[1]
            out.parts[pid] = PartRef(pid, row[11], row[12], row[4], row[13])
            out.category_ids[pid] = row[2]
            oe_of[pid] = row[14]
        elif kind == K_MARKET:
            out.market.append(row)
        elif kind == K_OLD_OE:
            old = row[14]
            if old not in out.by_old_oe or row[2] < out.by_old_oe[old]:
                out.by_old_oe[old] = row[2]
        else:
            out.known_models.add(row[1])
    for pid in sorted(oe_of):
        if oe_of[pid] in oes:
            out.by_oe.setdefault(oe_of[pid], pid)
    return out


def _find_part(r: ResolveRequest, rows: _Rows) -> tuple[PartRef | None, str, PricebookError | None]:
    """The request's part, how it was found (part_id | oe | superseded_oe), or why not."""
    if r.part_id is not None and r.oe:
        return None, "", InvalidInput("give part_id or oe, not both", field="oe")
    if r.part_id is not None:
        part = rows.parts.get(r.part_id)
        if part is None:
            return None, "part_id", NotFound(f"no part with id {r.part_id}", field="part_id")
        return part, "part_id", None
    if not r.oe:
        return None, "", InvalidInput("give part_id or oe", field="part_id")
    norm = normalize_oe(r.oe)
    if not norm:
        return None, "", InvalidInput("an OE number needs letters or digits", field="oe")
    if norm in rows.by_oe:
        return rows.parts[rows.by_oe[norm]], "oe", None
    if norm in rows.by_old_oe:
        return rows.parts[rows.by_old_oe[norm]], "superseded_oe", None
    return None, "", NotFound(f"no part with OE number {r.oe!r}", field="oe")


def _check(
    r: ResolveRequest,
    rows: _Rows,
    trees: ReferenceData,
    channels: dict[str, int | None],
    type_codes: set[str],
) -> PricebookError | None:
    """What is wrong with the rest of a request whose part was found."""
    if r.model_id is not None and r.model_id not in rows.known_models:
        return InvalidInput(f"no vehicle model with id {r.model_id}", field="model_id")
    if r.branch and r.branch not in trees.branch_by_code:
        return InvalidInput(f"no branch with code {r.branch!r}", field="branch")
    if r.channel and r.channel not in channels:
        return InvalidInput(f"no channel with code {r.channel!r}", field="channel")
    if r.price_type and r.price_type not in type_codes:
        return InvalidInput(
            f"price_type must be one of {', '.join(sorted(type_codes))}", field="price_type"
        )
    if r.agreement and r.agreement not in AGREEMENTS:
        return InvalidInput(f"agreement must be one of {', '.join(AGREEMENTS)}", field="agreement")
    return None


_Planned = tuple[ResolveRequest, PartRef, str, BranchNode | None, list[ScopeStep]]


def _versions(
    planned: Sequence[_Planned], price_rows: Sequence[Any], steps_of: dict[int, _Steps]
) -> dict[int, list[PriceVersion]]:
    """The price rows `resolve` can rank for some request of their part, as PriceVersions.

    The statement reads the prices of every item's part on the scopes of every item's chain
    and for every model; most rows of a batch over many branches are a part's price at another
    item's branch, which `resolve` would drop anyway."""
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
    versions: dict[int, list[PriceVersion]] = defaultdict(list)
    for row in kept:
        versions[row[2]].append(
            PriceVersion(
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                from_fen(row[8]),
                row[9],
                row[10],
                row[11],
                row[12],
                row[13],
                row[14],
            )
        )
    return versions


_MarketRefs = dict[int, list[tuple[int, date, date, int | None, MarketReference]]]


def _market_for(
    r: ResolveRequest, part: PartRef, chain: Sequence[ScopeStep], market: _MarketRefs
) -> tuple[MarketReference, ...]:
    """The newest market reference per source, region and type observed by the request's day
    in its chain's regions (or without a region)."""
    seen: dict[tuple[str, int | None, str | None], MarketReference] = {}
    refs = market.get(part.id, ())
    if refs:
        region_ids = {step.target_id for step in chain if step.scope == "region"}
        for obs_part, first, _last, m_region, ref in refs:
            if first <= r.on and (m_region is None or m_region in region_ids) and obs_part:
                seen.setdefault((ref.source, m_region, ref.price_type), ref)
    return tuple(seen.values())


def _outcome(
    planned: _Planned,
    rows: _Rows,
    cards: dict[str, list[CardTerms]],
    versions: dict[int, list[PriceVersion]],
    market: _MarketRefs,
    price_types: dict[int, PriceTypeInfo],
    steps_of: dict[int, _Steps],
    explain: bool = True,
) -> ResolveOutcome:
    r, part, matched_by, branch, chain = planned
    category_id = rows.category_ids[part.id]
    card = None
    if r.channel:
        card = next(
            (
                c
                for c in cards.get(r.channel, ())
                if c.category_id == category_id and c.in_force(r.on)
            ),
            None,
        )
    query = PriceQuery(
        part_id=part.id,
        category_id=category_id,
        category=part.category,
        on=r.on,
        model_id=r.model_id,
        price_type=r.price_type,
        agreement=r.agreement,
    )
    resolution = resolve(
        query,
        versions[part.id],
        chain,
        price_types,
        card,
        _market_for(r, part, chain, market),
        explain=explain,
        steps=steps_of[id(chain)],
    )
    error = None
    if resolution.winner is None:
        kind = f"{resolution.price_type} " if resolution.price_type else ""
        error = NotFound(f"part {part.code} has no {kind}price in force on {r.on}")
    return ResolveOutcome(
        r, part, matched_by, branch.code if branch else None, r.channel, resolution, error
    )


def load_and_resolve(
    db: Session | Connection,
    requests: Sequence[ResolveRequest],
    reference: ReferenceData | None = None,
    *,
    explain: bool = True,
) -> list[ResolveOutcome]:
    """Resolve many items at once in a fixed number of statements whatever their number: one
    when `reference` is given (two with channels), four (five with channels) without it.
    Without `explain` each resolution lists its winner alone (`resolve`): no losing versions,
    no market references — what a tool that needs the prices only asks for.

    The parts (by id, OE number or superseded OE number), the models named, the price versions
    and the market references all come from one `UNION ALL` statement (`union_statement`). Only Core
    statements: `db` may be a Session or a bare Connection (the API's price routes pass their
    connection: a Session around one statement costs a measurable share of a resolve)."""
    price_types = _price_types(db, reference)
    channels, cards = _channels(db, requests)
    trees = reference if reference is not None else _trees(db, requests, channels)
    chains, steps_of, n_chains = _chains(requests, trees, channels)
    rows = _rows(db, requests, chains, n_chains)

    type_codes = {t.code for t in price_types.values()}
    planned: list[_Planned] = []
    outcomes: list[ResolveOutcome | None] = []
    for r, found in zip(requests, chains, strict=True):
        part, matched_by, error = _find_part(r, rows)
        if error is None:
            error = _check(r, rows, trees, channels, type_codes)
        if error is not None or part is None:
            outcomes.append(ResolveOutcome(r, part, matched_by or None, error=error))
            continue
        assert found is not None
        planned.append((r, part, matched_by, *found))
        outcomes.append(None)

    versions: dict[int, list[PriceVersion]] = defaultdict(list)
    market: _MarketRefs = {}
    if planned:
        versions = _versions(planned, rows.prices, steps_of)
        if explain:
            market = market_references(
                rows.market, planned, {p[1].id for p in planned}, price_types
            )
    results = iter(planned)
    return [
        outcome
        if outcome is not None
        else _outcome(next(results), rows, cards, versions, market, price_types, steps_of, explain)
        for outcome in outcomes
    ]
