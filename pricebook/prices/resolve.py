"""Which price is the reference on a day, and why: the layered precedence (channel card →
policy agreement → branch → parent branches → region up the tree → system) as one pure function
(`resolve`) over plain records, shared by the price API and the review rules.

The value types here are ``gc=False``, as those of `pricebook.review.refs` (which says why)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

import msgspec

from pricebook.history import applies_on
from pricebook.models import (
    Price,
)
from pricebook.money import from_fen, round_yuan


class PriceVersion(msgspec.Struct, frozen=True, gc=False):
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


class PriceTypeInfo(msgspec.Struct, frozen=True, gc=False):
    id: int
    code: str
    name: str
    rank: int


class ScopeStep(msgspec.Struct, frozen=True, gc=False):
    """One step of the localized chain, nearest first: the branch, its parent branches, the
    branch's region and the regions above it, then the system price."""

    layer: str  # branch | parent_branch | region | system
    scope: str  # the price scope it matches: branch | region | system
    target_id: int | None
    code: str
    depth: int = 0


class CardTerms(msgspec.Struct, frozen=True, gc=False):
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
        return applies_on(self.valid_from, self.valid_to, on)


class MarketReference(msgspec.Struct, frozen=True, gc=False):
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


class Candidate(msgspec.Struct, frozen=True, gc=False):
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


class Resolution(msgspec.Struct, frozen=True, gc=False):
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


#: a candidate version with its sort key (step, all-models after model-specific, -rank, id)
#: and its step of the chain
_Ranked = tuple[tuple[int, int, int, int], PriceVersion, int]


def _ranked(
    query: PriceQuery,
    versions: Sequence[PriceVersion],
    steps: Mapping[tuple[str, int | None], int],
    price_types: dict[int, PriceTypeInfo],
) -> list[_Ranked]:
    """The versions that can apply to the query, nearest step first."""
    ranked: list[_Ranked] = []
    for v in versions:
        if v.part_id != query.part_id or not applies_on(v.valid_from, v.valid_to, query.on):
            continue
        if v.model_id is not None and v.model_id != query.model_id:
            continue
        scope = v.scope
        step = steps.get(
            ("system", None)
            if scope == "system"
            else (scope, v.branch_id if scope == "branch" else v.region_id)
        )
        if step is None or v.price_type_id not in price_types:
            continue
        rank = price_types[v.price_type_id].rank
        ranked.append(((step, 0 if v.model_id is not None else 1, -rank, v.id), v, step))
    ranked.sort(key=lambda r: r[0])
    return ranked


def _label(chain: Sequence[ScopeStep], step: int) -> str:
    s = chain[step]
    return "system price" if s.layer == "system" else f"{s.layer.replace('_', ' ')} {s.code}"


def _by_card(
    query: PriceQuery,
    card: CardTerms | None,
    best: dict[str, tuple[PriceVersion, int]],
    price_types: dict[int, PriceTypeInfo],
    chain: Sequence[ScopeStep],
    notes: list[str],
) -> tuple[str | None, str, Candidate | None]:
    """First precedence: a channel card covering the category (its type's price less the
    card's discount). (chosen type, why, the channel candidate) or (None, "", None)."""
    if card is None or card.category_id != query.category_id or not card.in_force(query.on):
        return None, "", None
    card_type = price_types[card.price_type_id].code if card.price_type_id in price_types else ""
    if card_type not in best:
        notes.append(
            f"channel {card.channel_code}'s card names {card_type or 'an unknown type'} for "
            f"{query.category}, which has no price in force: not applied"
        )
        return None, "", None
    base, step = best[card_type]
    amount = round_yuan(base.amount * (BP - card.discount_bp) / BP)
    reason = (
        f"channel {card.channel_code}'s rate card covers category {query.category}: "
        f"{card_type} reference less {_pct(card.discount_bp)}%"
    )
    channel = Candidate(
        layer="channel",
        scope_code=card.channel_code,
        price_type=card_type,
        model_specific=base.model_id is not None,
        amount=amount,
        valid_from=card.valid_from,
        valid_to=card.valid_to,
        source="rate_card",
        source_ref=f"rate_card:{card.rate_card_id}",
        created_by=card.created_by,
        reason=card.reason,
        price_id=None,
        won=True,
        why=f"{reason} ({_label(chain, step)} {base.amount})",
        base_amount=base.amount,
        discount_pct=_pct(card.discount_bp),
        rate_card_id=card.rate_card_id,
    )
    return card_type, reason, channel


def _by_agreement(
    query: PriceQuery, best: dict[str, tuple[PriceVersion, int]], notes: list[str]
) -> tuple[str | None, str]:
    """Second precedence: a policy special agreement's first price type with a price."""
    if not query.agreement:
        return None, ""
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
            return found, f"agreement {agreement.code} ({agreement.name}) selects {found}"
        notes.append(
            f"agreement {agreement.code} selects {'/'.join(agreement.price_types)}, "
            "none of which has a price in force"
        )
    return None, ""


def _by_type(
    query: PriceQuery, ranked: Sequence[_Ranked], price_types: dict[int, PriceTypeInfo]
) -> tuple[str | None, str]:
    """Last precedence: the requested price type, else the highest-ranked type with a price."""
    if query.price_type:
        return query.price_type, f"price type {query.price_type} requested"
    if ranked:
        top = min(ranked, key=lambda r: (r[0][2], r[0][0], r[0][1]))[1]
        chosen = price_types[top.price_type_id].code
        return chosen, f"no price type requested: {chosen} is the highest-ranked type with a price"
    return None, "no price in force"


def _why(
    v: PriceVersion,
    step: int,
    type_code: str,
    won: bool,
    chosen: str | None,
    reason: str,
    channel: Candidate | None,
    winner_version: PriceVersion | None,
    best: dict[str, tuple[PriceVersion, int]],
    chain: Sequence[ScopeStep],
) -> str:
    if won:
        why = f"{_label(chain, step)} is the nearest layer with a {type_code} price"
        return why + " (model-specific)" if v.model_id is not None else why
    if type_code != chosen:
        return f"price type {type_code} not chosen ({reason})"
    if channel is not None and v is winner_version:
        return f"reference of the channel card's price ({channel.discount_pct}% off applies)"
    assert winner_version is not None
    win_step = best[type_code][1]
    if win_step == step:
        return "an all-models price: the model-specific price of the same layer wins"
    return f"outranked by the nearer {_label(chain, win_step)}"


def _version_candidate(
    v: PriceVersion, step: ScopeStep, type_code: str, won: bool, why: str
) -> Candidate:
    return Candidate(
        layer=step.layer,
        scope_code=step.code,
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


def _market_candidate(m: MarketReference) -> Candidate:
    return Candidate(
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
    ranked = _ranked(query, versions, chain_steps(chain) if steps is None else steps, price_types)
    best: dict[str, tuple[PriceVersion, int]] = {}
    for _, v, step in ranked:
        best.setdefault(price_types[v.price_type_id].code, (v, step))

    notes: list[str] = []
    chosen, reason, channel = _by_card(query, card, best, price_types, chain, notes)
    if chosen is None:
        chosen, reason = _by_agreement(query, best, notes)
    if chosen is None:
        chosen, reason = _by_type(query, ranked, price_types)
    if notes:
        reason = "; ".join([*notes, reason])

    winner_version = best.get(chosen or "", (None, None))[0]
    candidates: list[Candidate] = [channel] if channel else []
    for _, v, step in ranked:
        type_code = price_types[v.price_type_id].code
        won = channel is None and v is winner_version
        if won or explain:
            why = _why(
                v, step, type_code, won, chosen, reason, channel, winner_version, best, chain
            )
            candidates.append(_version_candidate(v, chain[step], type_code, won, why))
    if explain:
        candidates += [_market_candidate(m) for m in market]
    winner = next((c for c in candidates if c.won), None)
    return Resolution(
        part_id=query.part_id,
        on=query.on,
        model_id=query.model_id,
        price_type=chosen if winner else (query.price_type or chosen),
        price_type_reason=reason,
        winner=winner,
        candidates=tuple(candidates),
    )
