"""Everything `resolve` needs for many items, in a fixed number of statements: the branch and
region trees (`load_reference`), each request's scope chain (`chain_for`), and the prices, cards
and market references of every planned part in one UNION (`load_and_resolve`)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    and_,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from pricebook.catalog import oe_lookup
from pricebook.db import as_utc, dialect_of, in_list, in_select
from pricebook.errors import InvalidInput, NotFound, PricebookError
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
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
    region tree. The API keeps one per process for a few seconds (`load_reference`)."""

    price_types: dict[int, PriceTypeInfo]
    branches: dict[int, BranchNode]
    regions: dict[int, tuple[str, int | None]]
    branch_by_code: dict[str, BranchNode] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.branch_by_code:
            self.branch_by_code.update({b.code: b for b in self.branches.values()})


def load_reference(session: Session) -> ReferenceData:
    types = session.scalars(select(PriceType))
    branches = session.execute(select(Branch.id, Branch.code, Branch.parent_id, Branch.region_id))
    regions = session.execute(select(Region.id, Region.code, Region.parent_id))
    return ReferenceData(
        {t.id: PriceTypeInfo(t.id, t.code, t.name, t.rank) for t in types},
        {b: BranchNode(b, c, p, r) for b, c, p, r in branches},
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
    branches: dict[int, BranchNode] = {}
    if reference is not None:
        branches = reference.branches
    elif branch_codes or channel_branch_ids:
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
            region_chain_query({b.region_id for b in branches.values()})
        ):
            regions[rid] = (code, parent_id)

    # the chain of every item (it depends on the branch or channel only, not on the part)
    chains: list[tuple[BranchNode | None, list[ScopeStep]] | None] = []
    chain_cache: dict[int | None, tuple[BranchNode | None, list[ScopeStep]]] = {}
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
    planned: list[tuple[ResolveRequest, PartRef, str, BranchNode | None, list[ScopeStep]]] = []
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
        current, superseded = oe_lookup(lambda column: in_(column, "oes"), postgresql=postgresql)
        part_cond = or_(in_(Part.id, "part_ids"), current, superseded)
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
