"""Validating estimates: the request, one bulk load of every reference, the pure rules
(`pricebook.review`), and the stored result.

`validate(session, request)`:
1. the database's reference generation, the stored result of the same estimate id and
   version (returned unless `force`) and the VIN's earlier validations (one statement);
2. custom part names (and OE numbers) through the in-memory matching index — no SQL;
3. every reference the rules need, in a fixed number of statements whatever the number of
   lines (prices of the lines' parts and their components, fitment, labor rates, standard hours
   and every operation inclusion reachable from theirs (one recursive query), the channel's
   card, the rule profile, consumable standards, the rescue tariff). What does not change
   between estimates is kept in this process per generation (`_References`): once warm, a
   validation reads none of them, OE lookups apart;
4. `review.review(estimate, refs)`;
5. one INSERT of the request, the result and the indicator figures.

Rule profiles, consumable standards and rescue tariffs are configured in
`pricebook.review_config`.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from pricebook import hints, review
from pricebook.catalog import Page
from pricebook.db import as_utc, dialect_of, in_list
from pricebook.errors import InvalidInput, NotFound
from pricebook.labor import applied_rate
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    Branch,
    Brand,
    Category,
    Channel,
    ConsumableStandardVersion,
    EstimateValidation,
    Fitment,
    LaborKind,
    LaborRate,
    OeSupersession,
    OperationInclusion,
    Part,
    PartComponent,
    Price,
    PriceType,
    RateCard,
    RateCardLabor,
    RateCardParts,
    ReferenceGeneration,
    Region,
    RescueTariffVersion,
    RuleProfileVersion,
    Series,
    StandardHours,
    VehicleModel,
)
from pricebook.money import MAX_YUAN, MONEY_PATTERN, MoneyError, from_fen, parse_money, to_fen
from pricebook.prices import BranchNode, CardTerms, PriceTypeInfo, PriceVersion, chain_for
from pricebook.versioned import in_force as _in_force

MAX_LINES = 500
MAX_AMOUNT = Decimal("100000000")  # 1亿 yuan: anything above is a typo, not a claim
MAX_QUANTITY = Decimal("100000")
MAX_HOURS = Decimal("1000")
MAX_KM = Decimal("10000")

# ------------------------------------------------------------------------------------------------
# The request (msgspec: the API decodes into it; the CLI and the bench build it)
# ------------------------------------------------------------------------------------------------

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]  # an INTEGER id
Index = Annotated[int, msgspec.Meta(ge=0, le=MAX_LINES * 10)]


class VehicleIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A catalogue model (`model_id`, 系统车型点选) or brand/model typed by hand; the VIN."""

    model_id: Id | None = None
    brand: ShortText = ""
    model: ShortText = ""
    vin: Annotated[str, msgspec.Meta(max_length=17)] = ""
    vehicle_class: Literal["A", "B", "C", "D", "E"] | None = None


#: the shop tier assumed when the request gives none (the answer's `notes` say so)
DEFAULT_TIER = "class2"


class ShopIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: None (left out): `DEFAULT_TIER`, with a DEFAULT_APPLIED note in the answer
    tier: Literal["4s", "class1", "class2", "class3"] | None = None
    channel_code: Code | None = None


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """保单特别约定: 4S/专修厂 allowed; domestic (国产) or imported (进口) glass."""

    four_s_allowed: bool = False
    glass: Literal["domestic", "imported"] | None = None


class DamagedComponentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A component of the line's assembly that is damaged: `part_id` or `oe_number`."""

    part_id: Id | None = None
    oe_number: Annotated[str, msgspec.Meta(max_length=64)] = ""


MAX_DAMAGED = 50


#: an amount of yuan as text, read by `pricebook.money.parse_money` (its rules and limit)
MoneyText = Annotated[
    str,
    msgspec.Meta(
        max_length=40,
        pattern=MONEY_PATTERN,
        description="yuan as a decimal string: ASCII digits with up to two decimals, at most "
        f'{MAX_YUAN}, e.g. "1050.00"',
        examples=["1050.00"],
    ),
]


class PartLineIn(
    msgspec.Struct, tag="part", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    """A part: `part_id`, or `oe_number` and/or `custom_name` (自定义配件). An assembly (总成)
    may name its damaged components: the assembly rule then allows only theirs."""

    part_id: Id | None = None
    oe_number: Annotated[str, msgspec.Meta(max_length=64)] = ""
    custom_name: ShortText = ""
    quantity: Decimal = Decimal(1)
    claimed_unit_price: MoneyText | None = None
    price_type: Code | None = None
    action: Literal["replace", "repair"] = "replace"
    repair_cost: MoneyText | None = None
    added_equipment: bool = False
    added_equipment_covered: bool = False
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    damaged_components: Annotated[
        list[DamagedComponentIn], msgspec.Meta(max_length=MAX_DAMAGED)
    ] = msgspec.field(default_factory=list)


class LaborLineIn(
    msgspec.Struct, tag="labor", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    """Labor on a part: `line_ref` (index of a part line in `lines`) or `part_id`."""

    operation: Literal["replace", "repair", "paint", "remove_refit"]
    labor_kind: Code
    hours: Decimal
    claimed_rate: MoneyText
    part_id: Id | None = None
    line_ref: Index | None = None
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


class ConsumableLineIn(
    msgspec.Struct, tag="consumable", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    kind: Code
    quantity: Decimal
    unit: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    unit_price: MoneyText
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


class RescueLineIn(
    msgspec.Struct, tag="rescue", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    distance_km: Decimal
    claimed_fee: MoneyText
    line_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


LineIn = PartLineIn | LaborLineIn | ConsumableLineIn | RescueLineIn


class EstimateRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    estimate_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    date: date
    branch: Code
    vehicle: VehicleIn
    shop: ShopIn = msgspec.field(default_factory=ShopIn)
    policy: PolicyIn = msgspec.field(default_factory=PolicyIn)
    lines: list[LineIn]
    #: when the estimate was submitted for review (the deadline counts from it); default now
    submitted_at: datetime | None = None


_LINE = re.compile(r"^lines\[(\d+)\]")


def line_message(field: str | None, message: str) -> str:
    """A message about `lines[i]…` numbered as adjusters count lines, from 1 (`field` keeps
    the 0-based JSON path): "line 4: lines[3].quantity must be more than 0"."""
    found = _LINE.match(field or "")
    return f"line {int(found.group(1)) + 1}: {message}" if found else message


def decode_request(body: bytes | str) -> EstimateRequest:
    """JSON → EstimateRequest; a decoding error names its field (`lines[3].quantity`, `branch`
    when it is missing) with a hint (a date's format, an enum's allowed values)."""
    try:
        return msgspec.json.decode(body, type=EstimateRequest)
    except msgspec.ValidationError as exc:
        field, text = hints.describe(str(exc), EstimateRequest)
        raise InvalidInput(line_message(field, text), field=field) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None


def _money(value: str | None, field: str, *, positive: bool = False) -> Decimal:
    """A claimed amount, by the one money parser (`pricebook.money.parse_money`)."""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    try:
        return parse_money(value, allow_zero=not positive)
    except MoneyError as exc:
        raise InvalidInput(f"{field}: {exc}", field=field) from None


def _amount(value: Decimal | None, field: str, *, places: int = 2, maximum: Decimal = MAX_AMOUNT,
            positive: bool = False) -> Decimal:  # fmt: skip
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not value.is_finite():
        raise InvalidInput(f"{field} must be a finite number", field=field)
    if value < 0 or (positive and value == 0):
        raise InvalidInput(
            f"{field} must be {'more than' if positive else 'at least'} 0", field=field
        )
    if value > maximum:
        raise InvalidInput(f"{field} must be at most {maximum}", field=field)
    rounded = value.quantize(_STEPS[places])
    if rounded != value:
        raise InvalidInput(f"{field} has more than {places} decimals", field=field)
    return rounded


_STEPS = {places: Decimal(1).scaleb(-places) for places in range(4)}


def normalized_vin(vin: str) -> str:
    return vin.strip().upper()


def to_estimate(request: EstimateRequest, *, now: datetime | None = None) -> review.Estimate:
    """Check what the types cannot (amounts, consistency between fields) and build the core's
    estimate. Errors name the field (`lines[3].repair_cost`) and number lines from 1 in their
    message ("line 4: …")."""
    if not request.lines:
        raise InvalidInput("lines: an estimate needs at least one line", field="lines")
    if len(request.lines) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} lines", field="lines")
    v = request.vehicle
    if v.model_id is None and not (v.brand or v.model):
        raise InvalidInput("give vehicle.model_id, or the brand/model typed by hand", field="vehicle.model_id")  # fmt: skip
    lines: list[review.Line] = []
    part_indexes = {i for i, line in enumerate(request.lines) if isinstance(line, PartLineIn)}
    for i, line in enumerate(request.lines):
        try:
            lines.append(_line(i, line, part_indexes))
        except InvalidInput as exc:
            raise InvalidInput(line_message(exc.field, exc.message), field=exc.field) from None
    defaults = tuple(
        name for name, missing in (("shop.tier", request.shop.tier is None),
                                   ("submitted_at", request.submitted_at is None)) if missing
    )  # fmt: skip
    submitted = request.submitted_at or now or datetime.now(UTC)
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=review.CHINA)
    return review.Estimate(
        id=request.estimate_id, version=request.version, date=request.date,
        submitted_at=submitted, branch=request.branch,
        vehicle=review.Vehicle(v.model_id, v.brand.strip(), v.model.strip(), normalized_vin(v.vin), v.vehicle_class),
        shop=review.Shop(request.shop.tier or DEFAULT_TIER, request.shop.channel_code),
        policy=review.Policy(request.policy.four_s_allowed, request.policy.glass),
        lines=tuple(lines), defaults=defaults,
    )  # fmt: skip


def _line(i: int, line: LineIn, part_indexes: set[int]) -> review.Line:
    """One request line as the core's, checked; errors name `lines[i].…`."""
    at = f"lines[{i}]"
    if isinstance(line, PartLineIn):
        if line.part_id is not None and (line.oe_number or line.custom_name):
            raise InvalidInput("give part_id, or oe_number/custom_name, not both", field=f"{at}.part_id")  # fmt: skip
        if line.part_id is None and not line.oe_number.strip() and not line.custom_name.strip():
            raise InvalidInput("give part_id, oe_number or custom_name", field=f"{at}.part_id")
        qty = _amount(line.quantity, f"{at}.quantity", places=2, maximum=MAX_QUANTITY, positive=True)  # fmt: skip
        unit = repair = None
        if line.action == "replace":
            if line.repair_cost is not None:
                raise InvalidInput("repair_cost is only for action repair", field=f"{at}.repair_cost")  # fmt: skip
            unit = _money(line.claimed_unit_price, f"{at}.claimed_unit_price")
        else:
            repair = _money(line.repair_cost, f"{at}.repair_cost")
            if line.claimed_unit_price is not None:
                unit = _money(line.claimed_unit_price, f"{at}.claimed_unit_price")
        if line.added_equipment_covered and not line.added_equipment:
            raise InvalidInput("added_equipment_covered needs added_equipment", field=f"{at}.added_equipment_covered")  # fmt: skip
        damaged = []
        for j, c in enumerate(line.damaged_components):
            oe = c.oe_number.strip()
            if (c.part_id is None) == (not oe):
                raise InvalidInput("give part_id or oe_number, one of them", field=f"{at}.damaged_components[{j}].part_id")  # fmt: skip
            damaged.append(review.ComponentName(c.part_id, oe))
        return review.PartLine(
            index=i,
            quantity=qty,
            claimed_unit_price=unit,
            part_id=line.part_id,
            oe_number=line.oe_number.strip(),
            custom_name=line.custom_name.strip(),
            price_type=line.price_type,
            action=line.action,
            repair_cost=repair,
            added_equipment=line.added_equipment,
            added_equipment_covered=line.added_equipment_covered,
            line_id=line.line_id,
            damaged_components=tuple(damaged),
        )
    elif isinstance(line, LaborLineIn):
        if line.line_ref is not None and line.part_id is not None:
            raise InvalidInput("give line_ref or part_id, not both", field=f"{at}.line_ref")
        if line.line_ref is not None and line.line_ref not in part_indexes:
            raise InvalidInput(f"line_ref {line.line_ref} (line {line.line_ref + 1}) is not a part line", field=f"{at}.line_ref")  # fmt: skip
        return review.LaborLine(
            index=i,
            operation=line.operation,
            labor_kind=line.labor_kind,
            hours=_amount(line.hours, f"{at}.hours", maximum=MAX_HOURS, positive=True),
            claimed_rate=_money(line.claimed_rate, f"{at}.claimed_rate"),
            part_id=line.part_id,
            line_ref=line.line_ref,
            line_id=line.line_id,
        )
    elif isinstance(line, ConsumableLineIn):
        return review.ConsumableLine(
            index=i,
            kind=line.kind,
            quantity=_amount(
                line.quantity,
                f"{at}.quantity",
                places=3,
                maximum=MAX_QUANTITY,
                positive=True,
            ),
            unit=line.unit.strip(),
            unit_price=_money(line.unit_price, f"{at}.unit_price"),
            line_id=line.line_id,
        )
    else:
        return review.RescueLine(
            index=i,
            distance_km=_amount(line.distance_km, f"{at}.distance_km", places=1, maximum=MAX_KM),
            claimed_fee=_money(line.claimed_fee, f"{at}.claimed_fee"),
            line_id=line.line_id,
        )


# ------------------------------------------------------------------------------------------------
# Matching custom names
# ------------------------------------------------------------------------------------------------

#: `matcher(names, model_id, brand_id) -> results`, or an object with `.match(names, model_id=,
#: brand_id=)` (pricebook.matching.MatchIndex). A result has `decision`, `reason` and
#: `candidates` (each with part_id, part_code, name, score, confidence).
Matcher = Any


def run_matcher(
    matcher: Matcher, names: Sequence[str], model_id: int | None, brand_id: int | None
) -> list[review.MatchInfo]:
    if not names:
        return []
    if matcher is None:
        return [review.MatchInfo(n, "unmatched", None, None) for n in names]
    if hasattr(matcher, "match"):
        results = matcher.match(list(names), model_id=model_id, brand_id=brand_id)
    else:
        results = matcher(list(names), model_id, brand_id)
    out = []
    for name, r in zip(names, results, strict=True):
        cands = tuple(
            review.MatchCandidate(c.part_id, c.part_code, c.name, float(c.score), float(c.confidence))
            for c in (r.candidates or ())
        )  # fmt: skip
        decision = r.decision
        part_id = cands[0].part_id if decision == "matched" and cands else None
        if decision == "matched" and part_id is None:
            decision = "unmatched"
        out.append(review.MatchInfo(name, decision, r.reason, part_id, cands))
    return out


# ------------------------------------------------------------------------------------------------
# Loading every reference in a fixed number of statements
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Static:
    """The small tables every validation reads, and what is derived from them."""

    branches: dict[int, Any]
    branch_by_code: dict[str, Any]
    #: region id → (code, parent id), and as the rescue tariff names it
    regions: dict[int, tuple[str, int | None]]
    region_names: dict[int, str]
    price_types: dict[int, PriceTypeInfo]
    type_codes: frozenset[str]
    #: labor kind code → name, id → code
    labor_kinds: dict[str, str]
    labor_kind_code: dict[int, str]


@dataclass(frozen=True, slots=True)
class _Card:
    """A channel's rate card in force: parts terms per category id, and per labor kind id the
    card id with its fixed rate or percentage of the standard."""

    parts: dict[int, CardTerms]
    labor: dict[int, tuple[int, int | None, int | None]]


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an estimate is reviewed: its branch and the chain of branches and regions whose
    prices, rates and profiles apply to it, nearest first."""

    branch: review.BranchInfo
    chain: tuple[Any, ...]
    branch_ids: list[int]
    region_ids: list[int]

    @classmethod
    def of(cls, branch: Any, static: _Static) -> _Place:
        branches = static.branches
        light = {
            b.id: BranchNode(b.id, b.code, b.parent_id, b.region_id) for b in branches.values()
        }
        chain = tuple(chain_for(light[branch.id], light, static.regions))
        parent = branches.get(branch.parent_id) if branch.parent_id else None
        info = review.BranchInfo(
            branch.id, branch.code, branch.name, from_fen(branch.authority_limit_fen),
            parent.code if parent else None,
        )  # fmt: skip
        return cls(
            info, chain,
            [s.target_id for s in chain if s.scope == "branch" and s.target_id is not None],
            [s.target_id for s in chain if s.scope == "region" and s.target_id is not None],
        )  # fmt: skip


#: by default a process keeps at most this many entries (a part's prices in one context, its
#: fitment on one model, …) per database before it starts afresh: ~100 MB at worst
#: (`Settings.reference_cache_entries`)
MAX_REFERENCES = 100_000


class Generation(NamedTuple):
    """Where the database's references stand (its `reference_generation` row): `value` moves
    in every transaction that changes what validation keeps, prices apart; `prices` in every
    one that changes prices (migrations 0007, 0009, 0010). `token` tells databases apart."""

    token: str
    value: int
    prices: int


@dataclass(slots=True)
class _References:
    """What validations read of one database as of one reference generation: kept in this
    process and shared by every validation that reads the same generation. The database moves
    the generation in every transaction that changes one of these tables, so nothing here is
    ever stale, whoever wrote; a price change replaces only the prices (`after_prices_moved`).

    A validation loads only what the memo lacks, each kind in one statement for all the parts
    missing it (so the number of statements stays fixed, cold or warm). A part's entry is kept
    per context that decides it: prices per (branch chain, date), fitment per model, standard
    hours per (vehicle class, date); None is kept for "the catalogue has none"."""

    generation: Generation
    static: _Static | None = None
    #: per branch code (as estimates give it)
    places: dict[str, _Place] = field(default_factory=dict)
    profiles: dict[tuple[Any, ...], review.RuleProfile] = field(default_factory=dict)
    labor_rates: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    vehicles: dict[int, review.VehicleInfo | None] = field(default_factory=dict)
    parts: dict[int, review.PartInfo | None] = field(default_factory=dict)
    components: dict[int, tuple[review.Component, ...]] = field(default_factory=dict)
    fitted: dict[tuple[int, int], bool | None] = field(default_factory=dict)
    prices: dict[tuple[Any, ...], tuple[PriceVersion, ...]] = field(default_factory=dict)
    hours: dict[tuple[Any, ...], tuple[review.HoursRef, ...]] = field(default_factory=dict)
    #: `review.reference_for`'s answers per (branch chain, date, channel)
    resolved: dict[tuple[Any, ...], dict[tuple[Any, ...], Any]] = field(default_factory=dict)
    #: a channel's card on a date: parts terms per category, labor terms per labor kind (None:
    #: no channel with that code)
    cards: dict[tuple[str, date], _Card | None] = field(default_factory=dict)
    #: per (kind, vehicle class, date); per (region chain, date)
    consumables: dict[tuple[str, str, date], review.ConsumableStandard | None] = field(
        default_factory=dict
    )
    rescue: dict[tuple[tuple[int, ...], date], review.RescueTariff | None] = field(
        default_factory=dict
    )
    #: part → every inclusion reachable from its operations, as (inclusion id, inclusion)
    inclusions: dict[int, tuple[tuple[int, review.InclusionRef], ...]] = field(default_factory=dict)
    entries: int = 0

    def after_prices_moved(self, generation: Generation) -> _References:
        """The same references as of `generation`, a later one in which only prices moved:
        everything but the prices and the resolutions made from them, shared (the dicts are
        the same objects: what a validation of either generation adds to them holds for both)."""
        return replace(
            self, generation=generation, prices={}, resolved={},
            entries=self.entries - len(self.prices),
        )  # fmt: skip

    def newest(self, keep: int) -> _References:
        """A memo of the same generation holding about `keep` of these entries, those read
        last: over its bound a memo lets go of what it read first, not of everything (starting
        afresh cost every validation after it a full read, and under a wide mix of parts the
        bound came round every few seconds). New dicts: a validation still reading this memo
        (it waits on the database between statements) keeps finding what it loaded.
        Components and inclusions name parts they expect to find in `parts`: they start
        afresh, and `resolved` with them (it is rebuilt from the prices)."""
        share = keep / max(self.entries, 1)

        def last(kept: dict[Any, Any]) -> dict[Any, Any]:
            return dict(itertools.islice(kept.items(), len(kept) - int(len(kept) * share), None))

        fresh = replace(
            self, vehicles=last(self.vehicles), parts=last(self.parts), components={},
            fitted=last(self.fitted), prices=last(self.prices), hours=last(self.hours),
            resolved={}, consumables=last(self.consumables), inclusions={},
        )  # fmt: skip
        kinds = (fresh.vehicles, fresh.parts, fresh.fitted, fresh.prices, fresh.hours)
        fresh.entries = sum(len(k) for k in kinds) + len(fresh.consumables)
        return fresh

    def fill(
        self,
        kept: dict[Any, Any],
        keys: Sequence[Any],
        load: Callable[[list[Any]], dict[Any, Any]],
        nothing: Any,
    ) -> None:
        """Load into `kept` (one of the dicts above) the `keys` it lacks, all of them with one
        call of `load(missing) -> {key: value}`; a key `load` finds nothing for keeps `nothing`,
        so that it is not asked for again."""
        missing = [k for k in keys if k not in kept]
        _looked_up(len(keys) - len(missing), len(missing))
        if missing:
            found = load(missing)
            for k in missing:
                kept[k] = found.get(k, nothing)
            self.entries += len(missing)


#: per database (its URL): the references of the newest generation this process has read
_REFERENCES: dict[str, _References] = {}


@dataclass(slots=True)
class ReferenceStats:
    """How this process's validations found their references, since it started: `hits` in the
    memo (`_References`), `misses` not (read from the database). One count per reference looked
    up: the static tables, the branch's place, the vehicle, the profile, each part's row, its
    components, its fitment on the model, its prices in the estimate's context, its standard
    hours and inclusions, each consumable standard, the card, the labor rates, the rescue
    tariff (OE lookups and earlier claims are never kept: not counted). `dropped`: how often a
    memo over its bound let go of the entries it read first (`_References.newest`). Plain integers, never reset (readers take
    differences; `clear_caches` leaves them), without a lock: the API validates on its event
    loop's thread (run_sync), and a lost increment elsewhere would only blur a statistic."""

    hits: int = 0
    misses: int = 0
    dropped: int = 0


REFERENCE_STATS = ReferenceStats()


def _looked_up(found: int, read: int) -> None:
    REFERENCE_STATS.hits += found
    REFERENCE_STATS.misses += read


def reference_cache_stats() -> dict[str, int]:
    """This process's `REFERENCE_STATS` and the entries its memos hold now."""
    s = REFERENCE_STATS
    entries = sum(r.entries for r in _REFERENCES.values())
    return {"hits": s.hits, "misses": s.misses, "dropped": s.dropped, "entries": entries}


def clear_caches() -> None:
    _PROFILES.clear()
    _REFERENCES.clear()


def _connection(db: Session | Connection) -> Connection:
    """The connection of a session (in its transaction), or the connection itself: the
    reference queries are Core, and the API validates on a bare autocommit connection."""
    return db if isinstance(db, Connection) else db.connection()


def _references(
    db: Connection, keep: int = MAX_REFERENCES, generation: Generation | None = None
) -> _References:
    """This process's references for the database's current generation (read in one statement
    unless given: `validate` reads it in its first statement); with `keep` 0, a memo of this
    validation's own."""
    url = str(db.engine.url)
    if generation is None:
        generation = Generation(*db.execute(_statements(db).generation).one())
    refs = _REFERENCES.get(url)
    if refs is not None and refs.generation == generation and refs.entries <= keep:
        return refs
    if not keep:
        return _References(generation)
    if refs is not None and refs.generation.token == generation.token:
        # the counters only grow, and one snapshot sees both as of one moment: (value,
        # prices) of two snapshots are ordered the same way
        if refs.generation[1:] > generation[1:]:
            # this request's snapshot is older than the memo's: a memo of its own (under
            # snapshot isolation, as on SQLite, what it loads would be older than the shared
            # memo claims)
            return _References(generation)
        if refs.generation.value == generation.value:
            if refs.generation.prices != generation.prices:
                refs = refs.after_prices_moved(generation)
            if refs.entries > keep:
                # half the bound: the next trim is another keep/2 misses away
                REFERENCE_STATS.dropped += 1
                refs = refs.newest(keep // 2)
            _REFERENCES[url] = refs
            return refs
    _REFERENCES[url] = _References(generation)
    return _REFERENCES[url]


def _load_static(db: Connection) -> _Static:
    branches = {
        b.id: b
        for b in db.execute(
            select(Branch.id, Branch.code, Branch.name, Branch.parent_id, Branch.region_id,
                   Branch.authority_limit_fen)
        )
    }  # fmt: skip
    regions = db.execute(select(Region.id, Region.code, Region.parent_id, Region.name)).all()
    price_types = {
        t.id: PriceTypeInfo(t.id, t.code, t.name, t.rank)
        for t in db.execute(select(PriceType.id, PriceType.code, PriceType.name, PriceType.rank))
    }  # fmt: skip
    kinds = db.execute(select(LaborKind.id, LaborKind.code, LaborKind.name)).all()
    return _Static(
        branches, {b.code: b for b in branches.values()},
        {r.id: (r.code, r.parent_id) for r in regions},
        {r.id: f"{r.name}（{r.code}）" for r in regions},
        price_types, frozenset(t.code for t in price_types.values()),
        {code: name for _, code, name in kinds}, {kid: code for kid, code, _ in kinds},
    )  # fmt: skip


class _BranchRow(NamedTuple):
    id: int
    code: str
    name: str
    parent_id: int | None
    region_id: int
    authority_limit_fen: int


class _ProfileRow(NamedTuple):
    """What `profile_of` reads of a `rule_profiles` row."""

    id: int
    code: str
    branch_id: int | None
    version: int
    settings: Any


class _Loaded(NamedTuple):
    """`_load_static_with`'s answer: the static tables, the estimate's vehicle row (None: no
    such model, or none asked for) and every rule profile version in force on its date."""

    static: _Static
    vehicle: Any
    profiles: list[_ProfileRow]


def _load_static_with(db: Connection, q: _Statements, model_id: int | None, on: date) -> _Loaded:
    """PostgreSQL: the four static tables, the vehicle and the profiles in force on `on`, in
    one statement (`_Statements.static`: a row of JSON arrays) instead of six."""
    branch_rows, region_rows, type_rows, kind_rows, vehicle, profiles = db.execute(
        q.static, {"model_id": model_id, "on": on}
    ).one()
    branches = {b[0]: _BranchRow(*b) for b in branch_rows or ()}
    regions = region_rows or ()
    price_types = {t[0]: PriceTypeInfo(*t) for t in type_rows or ()}
    kinds = kind_rows or ()
    static = _Static(
        branches, {b.code: b for b in branches.values()},
        {rid: (code, parent_id) for rid, code, parent_id, _ in regions},
        {rid: f"{name}（{code}）" for rid, code, _, name in regions},
        price_types, frozenset(t.code for t in price_types.values()),
        {code: name for _, code, name in kinds}, {kid: code for kid, code, _ in kinds},
    )  # fmt: skip
    return _Loaded(static, vehicle, [_ProfileRow(*p) for p in profiles or ()])


_PROFILES: dict[int, review.RuleProfile] = {}


def profile_of(row: Any, branch_code: str | None) -> review.RuleProfile:
    """The core's profile of a stored version (a `rule_profiles` row); cached per process by
    id, since a stored version's settings never change (the database refuses it)."""
    if row is None:
        return review.DEFAULT_PROFILE
    cached = _PROFILES.get(row.id)
    if cached is None:
        settings = msgspec.convert(row.settings, review.ProfileSettings, strict=False)
        cached = review.RuleProfile(row.code, row.version, branch_code, settings, row.id)
        if len(_PROFILES) > 1000:
            _PROFILES.clear()
        _PROFILES[row.id] = cached
    return cached


_PRICE_COLUMNS = (
    Price.id, Price.part_id, Price.model_id, Price.scope, Price.region_id, Price.branch_id,
    Price.price_type_id, Price.amount_fen, Price.valid_from, Price.valid_to, Price.source,
    Price.source_ref, Price.created_by, Price.reason,
)  # fmt: skip


_ON = bindparam("on", type_=Date)


def _in_force_on(model: Any) -> Any:
    """`_in_force` on the bound parameter `on` (for the prebuilt statements)."""
    return _in_force(model, _ON)


_PART_COLS = (Part.id, Part.code, Part.name, Part.category_id, Category.code, Part.is_assembly,
              Part.universal, Part.unit, Part.oe_normalized)  # fmt: skip


class _Statements:
    """The statements `load_refs` and `validate` run, built once per process with bound
    parameters: building a statement (and its cache key) costs more CPU than running it."""

    def __init__(self, dialect: str, prefix: str = "") -> None:
        self.pg = dialect == "postgresql"
        #: before every list parameter's name (`_part_refs_statement` combines several of these
        #: statements, each of which names its part ids `part_ids`)
        self.prefix = prefix
        self.generation = select(
            ReferenceGeneration.token, ReferenceGeneration.value, ReferenceGeneration.prices
        ).where(ReferenceGeneration.id == 1)
        self.vehicle = (
            select(VehicleModel.id, VehicleModel.code, VehicleModel.name,
                   VehicleModel.vehicle_class, Brand.id, Brand.name)
            .join(Series, Series.id == VehicleModel.series_id)
            .join(Brand, Brand.id == Series.brand_id)
            .where(VehicleModel.id == bindparam("model_id"))
        )  # fmt: skip
        self.profiles = select(RuleProfileVersion).where(
            or_(self._in(RuleProfileVersion.branch_id, "branch_ids"),
                RuleProfileVersion.branch_id.is_(None)),
            _in_force_on(RuleProfileVersion),
        )  # fmt: skip
        parts = select(*_PART_COLS).join(Category, Category.id == Part.category_id)
        self.parts = parts.where(self._in(Part.id, "part_ids"))
        superseded = select(OeSupersession.part_id).where(
            self._in(OeSupersession.old_oe_normalized, "oes")
        )
        self.parts_oe = parts.where(
            or_(self._in(Part.id, "part_ids"), self._in(Part.oe_normalized, "oes"),
                Part.id.in_(superseded))
        )  # fmt: skip
        self.superseded = (
            select(OeSupersession.old_oe_normalized, OeSupersession.part_id)
            .where(self._in(OeSupersession.old_oe_normalized, "oes"))
            .order_by(OeSupersession.part_id)
        )
        self.components = (
            select(PartComponent.assembly_id, PartComponent.quantity, *_PART_COLS)
            .join(Part, Part.id == PartComponent.component_id)
            .join(Category, Category.id == Part.category_id)
            .where(self._in(PartComponent.assembly_id, "assemblies"))
            .order_by(PartComponent.assembly_id, PartComponent.component_id)
        )
        self.fitment = (
            select(
                Fitment.part_id,
                func.max(case((Fitment.model_id == bindparam("model_id"), 1), else_=0)),
            )
            .where(self._in(Fitment.part_id, "part_ids"))
            .group_by(Fitment.part_id)
        )
        self.prices = (
            select(*_PRICE_COLUMNS)
            .where(
                self._in(Price.part_id, "part_ids"),
                _in_force_on(Price),
                or_(Price.scope == "system", self._in(Price.region_id, "region_ids"),
                    self._in(Price.branch_id, "branch_ids")),
            )
            .order_by(Price.id)
        )  # fmt: skip
        self.card_parts = (
            select(Channel.id, RateCard.id, RateCard.valid_from, RateCard.valid_to,
                   RateCard.created_by, RateCard.reason, RateCardParts.category_id,
                   RateCardParts.price_type_id, RateCardParts.discount_bp)
            .outerjoin(RateCard, and_(RateCard.channel_id == Channel.id, _in_force_on(RateCard)))
            .outerjoin(RateCardParts, RateCardParts.rate_card_id == RateCard.id)
            .where(Channel.code == bindparam("channel"))
        )  # fmt: skip
        self.card_labor = (
            select(RateCardLabor.rate_card_id, RateCardLabor.labor_kind_id, RateCardLabor.rate_fen,
                   RateCardLabor.pct_of_standard_bp)
            .join(RateCard, RateCard.id == RateCardLabor.rate_card_id)
            .join(Channel, Channel.id == RateCard.channel_id)
            .where(Channel.code == bindparam("channel"), _in_force_on(RateCard))
        )  # fmt: skip
        self.labor_rates = select(
            LaborRate.id, LaborRate.branch_id, LaborRate.labor_kind_id, LaborRate.rate_fen,
            LaborRate.valid_from,
        ).where(
            self._in(LaborRate.branch_id, "branch_ids"), LaborRate.shop_tier == bindparam("tier"),
            LaborRate.vehicle_class == bindparam("vclass"), _in_force_on(LaborRate),
        )  # fmt: skip
        self.hours = (
            select(StandardHours.id, StandardHours.part_id, StandardHours.operation,
                   StandardHours.hours_centi, StandardHours.vehicle_class,
                   StandardHours.valid_from, LaborKind.code)
            .join(LaborKind, LaborKind.id == StandardHours.labor_kind_id)
            .where(self._in(StandardHours.part_id, "part_ids"),
                   StandardHours.vehicle_class == bindparam("vclass"),
                   _in_force_on(StandardHours))
        )  # fmt: skip
        # every inclusion reachable from an operation on the estimate's parts (A includes B, B
        # includes C …, through parts not on the estimate too), with the included part's row;
        # UNION (not UNION ALL) ends cycles: an inclusion already found is not followed again
        # (`root`: the estimate's part it was reached from, so that each part's closure can
        # be kept on its own)
        inc = OperationInclusion
        start = (
            select(inc.part_id.label("root"), inc.id, inc.part_id, inc.operation,
                   inc.included_part_id, inc.included_operation)
            .where(self._in(inc.part_id, "part_ids"))
            .cte("inclusion_closure", recursive=True)
        )  # fmt: skip
        step = aliased(OperationInclusion)
        closure = start.union(
            select(start.c.root, step.id, step.part_id, step.operation, step.included_part_id,
                   step.included_operation)
            .join(start, and_(step.part_id == start.c.included_part_id,
                              step.operation == start.c.included_operation))
        )  # fmt: skip
        self.inclusions = (
            select(closure.c.root, closure.c.id, closure.c.part_id, closure.c.operation,
                   closure.c.included_part_id, closure.c.included_operation, *_PART_COLS)
            .join(Part, Part.id == closure.c.included_part_id)
            .join(Category, Category.id == Part.category_id)
            .order_by(closure.c.root, closure.c.id)
        )  # fmt: skip
        self.consumables = select(ConsumableStandardVersion).where(
            self._in(ConsumableStandardVersion.kind, "kinds"),
            or_(ConsumableStandardVersion.vehicle_class.is_(None),
                ConsumableStandardVersion.vehicle_class == bindparam("vclass")),
            _in_force_on(ConsumableStandardVersion),
        )  # fmt: skip
        self.rescue = select(RescueTariffVersion).where(
            self._in(RescueTariffVersion.region_id, "region_ids"),
            _in_force_on(RescueTariffVersion),
        )
        self.earlier = select(
            EstimateValidation.id, EstimateValidation.estimate_id,
            EstimateValidation.estimate_version, EstimateValidation.estimate_date,
            EstimateValidation.replaced_part_ids,
        ).where(
            EstimateValidation.vin == bindparam("vin"),
            EstimateValidation.estimate_id != bindparam("estimate_id"),
            EstimateValidation.estimate_date <= _ON,
            EstimateValidation.estimate_date >= bindparam("since"),
        )  # fmt: skip
        # a validation's first statement, one round trip for three things: the generation,
        # the newest stored validation of the estimate id and version (its id, or NULL), and
        # the earlier validations of the VIN (a row each, or one row of NULLs: an outer join).
        # The profile, and so the repeat-claim window, is not known yet: `load_refs` applies it.
        # `owner` (a key id, or NULL for any) limits the stored validation to one key's.
        owner = cast(bindparam("owner", type_=Integer), Integer)
        stored = (
            select(func.max(EstimateValidation.id))
            .where(EstimateValidation.estimate_id == bindparam("estimate_id"),
                   EstimateValidation.estimate_version == bindparam("version"),
                   or_(owner.is_(None), EstimateValidation.created_by_key_id == owner))
            .scalar_subquery()
        )  # fmt: skip
        prior = aliased(EstimateValidation, name="prior")  # not correlated with `stored`
        self.opening = (
            select(ReferenceGeneration.token, ReferenceGeneration.value,
                   ReferenceGeneration.prices, stored, prior.id, prior.estimate_id,
                   prior.estimate_version, prior.estimate_date, prior.replaced_part_ids)
            .select_from(ReferenceGeneration)
            .outerjoin(prior, and_(prior.vin == bindparam("vin"),
                                   prior.estimate_id != bindparam("estimate_id"),
                                   prior.estimate_date <= _ON))
            .where(ReferenceGeneration.id == 1)
            .order_by(prior.id)
        )  # fmt: skip
        self.stored = select(
            EstimateValidation.id, EstimateValidation.created_at, EstimateValidation.created_by,
            EstimateValidation.request, EstimateValidation.result,
        ).where(EstimateValidation.id == bindparam("id"))  # fmt: skip
        table = EstimateValidation.metadata.tables[EstimateValidation.__tablename__]
        self.insert = insert(table).returning(table.c.id, table.c.created_at)
        # several validations in one statement, RETURNING in the order of their rows
        self.insert_many = insert(table).returning(
            table.c.id, table.c.created_at, sort_by_parameter_order=True
        )

        if self.pg and not prefix:
            # `_load_static_with`: one row, a JSON array per table (each a scalar subquery)
            def rows(*columns: Any) -> Any:
                return func.json_agg(func.json_build_array(*columns))

            vehicle = self.vehicle.with_only_columns(func.json_build_array(
                VehicleModel.id, VehicleModel.code, VehicleModel.name,
                VehicleModel.vehicle_class, Brand.id, Brand.name,
            ))  # fmt: skip
            rpv = RuleProfileVersion
            self.static = select(
                select(rows(Branch.id, Branch.code, Branch.name, Branch.parent_id,
                            Branch.region_id, Branch.authority_limit_fen)).scalar_subquery(),
                select(rows(Region.id, Region.code, Region.parent_id, Region.name)).scalar_subquery(),
                select(rows(PriceType.id, PriceType.code, PriceType.name, PriceType.rank)).scalar_subquery(),
                select(rows(LaborKind.id, LaborKind.code, LaborKind.name)).scalar_subquery(),
                vehicle.scalar_subquery(),
                select(rows(rpv.id, rpv.code, rpv.branch_id, rpv.version, rpv.settings))
                .where(_in_force_on(rpv)).scalar_subquery(),
            )  # fmt: skip

    def _in(self, column: Any, name: str) -> Any:
        return in_list(column, self.prefix + name, postgresql=self.pg)


#: `_part_refs_statement`'s kinds: the `_Statements` attribute read, its list parameters'
#: prefix, and how many leading columns order its rows (as the statement's ORDER BY)
_PART_REFS = (("fitment", "f_", 0), ("prices", "p_", 1), ("hours", "h_", 0),
              ("inclusions", "i_", 2))  # fmt: skip


@functools.cache
def _part_refs_statement(kinds: tuple[bool, ...]) -> Any:
    """PostgreSQL: the fitment, price, standard hours and inclusion statements of `load_refs`
    (those of `kinds`, in `_PART_REFS` order) as one statement: one row, each statement's rows
    as a JSON array of arrays (their list parameters prefixed: `f_part_ids`, `p_part_ids`,
    `p_region_ids` …; `on`, `model_id` and `vclass` shared). One round trip instead of four."""
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    columns = []
    for (name, prefix, ordered), wanted in zip(_PART_REFS, kinds, strict=True):
        if not wanted:
            continue
        sub = getattr(_Statements("postgresql", prefix), name).order_by(None).subquery()
        cols = list(sub.c)
        rows: ColumnElement[Any] = func.json_build_array(*cols)
        if ordered:
            rows = aggregate_order_by(rows, *cols[:ordered])
        columns.append(select(func.json_agg(rows)).select_from(sub).scalar_subquery())
    return select(*columns)


class _HoursRow(NamedTuple):
    id: int
    part_id: int
    operation: str
    hours_centi: int
    vehicle_class: str
    valid_from: date
    code: str


def _load_part_refs(
    db: Connection, kinds: tuple[bool, ...], params: dict[str, Any]
) -> dict[str, list[Any]]:
    """`_part_refs_statement(kinds)` run: {kind: its rows, as the statement alone gives them}."""
    found = iter(db.execute(_part_refs_statement(kinds), params).one())
    out: dict[str, list[Any]] = {}
    for (name, _, _), wanted in zip(_PART_REFS, kinds, strict=True):
        if not wanted:
            continue
        rows = next(found) or []
        if name == "prices":  # dates come as ISO text
            rows = [
                (*r[:8], date.fromisoformat(r[8]), r[9] and date.fromisoformat(r[9]), *r[10:])
                for r in rows
            ]
        elif name == "hours":
            rows = [
                _HoursRow(r[0], r[1], r[2], r[3], r[4], date.fromisoformat(r[5]), r[6])
                for r in rows
            ]
        out[name] = rows
    return out


@functools.cache
def _statements_for(dialect: str) -> _Statements:
    return _Statements(dialect)


def _statements(db: Session | Connection) -> _Statements:
    return _statements_for(dialect_of(db))


def load_refs(
    session: Session | Connection,
    estimate: review.Estimate,
    matches: dict[int, review.MatchInfo],
    *,
    keep: int = MAX_REFERENCES,
    generation: Generation | None = None,
    prior: Sequence[Any] | None = None,
) -> review.Refs:
    """Everything `review.review` needs, in a fixed number of statements whatever the line
    count: one for the reference generation (unless given), then at most one per kind of
    reference this process does not hold yet for that generation (`_References`): the small
    static tables, vehicle, profile, parts, components, fitment, prices, labor rates, standard
    hours, inclusions, the channel's card, consumable standards, the rescue tariff — and,
    always, what is not kept: OE lookups, earlier claims on the VIN (unless given: `prior`, the
    VIN's earlier validations up to the estimate date, as `_Statements.opening` reads them).
    The statements are built once per process (`_Statements`)."""
    on = estimate.date
    q = _statements(session)
    # Core queries on the connection: the ORM layer would only add overhead
    db = _connection(session)
    memo = _references(db, keep, generation)  # (0–1)
    _looked_up(memo.static is not None, memo.static is None)
    model_id = estimate.vehicle.model_id
    loaded: _Loaded | None = None
    if memo.static is None and q.pg:
        # branches, regions, price types, labor kinds, with the vehicle and the profiles (1)
        loaded = _load_static_with(db, q, model_id, on)
        memo.static = loaded.static
    elif memo.static is None:
        memo.static = _load_static(db)  # branches, regions, price types, labor kinds (4)
    static = memo.static
    branches = static.branches
    place = memo.places.get(estimate.branch)
    _looked_up(place is not None, place is None)
    if place is None:
        branch = static.branch_by_code.get(estimate.branch)
        if branch is None:
            raise InvalidInput(f"no branch with code {estimate.branch!r}", field="branch")
        place = memo.places[estimate.branch] = _Place.of(branch, static)
    chain, branch_ids, region_ids = place.chain, place.branch_ids, place.region_ids

    price_types = static.price_types
    type_codes = static.type_codes
    for line in estimate.lines:
        if (
            isinstance(line, review.PartLine)
            and line.price_type
            and line.price_type not in type_codes
        ):
            raise InvalidInput(
                f"line {line.index + 1}: price_type must be one of {', '.join(sorted(type_codes))}",
                field=f"lines[{line.index}].price_type",
            )

    # the vehicle (0–1)
    vehicle = None
    if model_id is not None:
        _looked_up(model_id in memo.vehicles, model_id not in memo.vehicles)
        if model_id not in memo.vehicles:
            if loaded is not None:
                row = loaded.vehicle
            else:
                row = db.execute(q.vehicle, {"model_id": model_id}).first()
            memo.vehicles[model_id] = (
                None if row is None else review.VehicleInfo(row[0], row[1], row[2], row[4], row[5], row[3])
            )  # fmt: skip
            memo.entries += 1
        vehicle = memo.vehicles[model_id]
        if vehicle is None:
            raise InvalidInput(f"no vehicle model with id {model_id}", field="vehicle.model_id")
    vclass = vehicle.vehicle_class if vehicle else None

    # the rule profile: the branch's, a parent's, else the default (0–1)
    profile_key = (tuple(branch_ids), on)
    profile = memo.profiles.get(profile_key)
    _looked_up(profile is not None, profile is None)
    if profile is None:
        if loaded is not None:
            profile_rows = [
                p for p in loaded.profiles if p.branch_id is None or p.branch_id in branch_ids
            ]
        else:
            profile_rows = [
                _ProfileRow(r.id, r.code, r.branch_id, r.version, r.settings)
                for r in db.execute(q.profiles, {"branch_ids": branch_ids, "on": on})
            ]
        depth = {bid: n for n, bid in enumerate(branch_ids)}
        profile_rows.sort(key=lambda r: (depth.get(r.branch_id, len(depth)) if r.branch_id else len(depth) + 1, -r.id))  # fmt: skip
        best = profile_rows[0] if profile_rows else None
        profile = profile_of(best, branches[best.branch_id].code if best and best.branch_id else None)  # fmt: skip
        memo.profiles[profile_key] = profile
    vclass = vclass or estimate.vehicle.vehicle_class or profile.settings.default_vehicle_class

    # parts: by id, matched custom names (0–1); by OE, current or superseded (0 or 2)
    part_ids = {l.part_id for l in estimate.lines if isinstance(l, review.PartLine) and l.part_id}  # noqa: E741
    part_ids |= {l.part_id for l in estimate.lines if isinstance(l, review.LaborLine) and l.part_id}  # noqa: E741
    part_ids |= {m.part_id for m in matches.values() if m.part_id is not None}
    oes = {normalize_oe(l.oe_number) for l in estimate.lines if isinstance(l, review.PartLine) and l.oe_number}  # noqa: E741  # fmt: skip
    # components named as damaged: with the parts, so that one the catalogue has but that is not
    # a component of the line's assembly (422) is told from one the catalogue lacks
    for line in estimate.lines:
        if isinstance(line, review.PartLine):
            for named in line.damaged_components:
                if named.part_id is not None:
                    part_ids.add(named.part_id)
                else:
                    oes.add(normalize_oe(named.oe_number))
    oes.discard("")
    oe_parts: dict[str, int] = {}
    parts: dict[int, review.PartInfo] = {}

    def part_info(row: Any) -> review.PartInfo:
        return review.PartInfo(*row[:9])

    missing = [pid for pid in part_ids if pid not in memo.parts]
    _looked_up(len(part_ids) - len(missing), len(missing))
    if missing or oes:
        for row in db.execute(
            q.parts_oe if oes else q.parts, {"part_ids": missing, "oes": list(oes)}
        ):
            memo.parts[row[0]] = parts[row[0]] = part_info(row)
            if row[8] in oes:
                oe_parts.setdefault(row[8], row[0])
        for pid in missing:
            memo.parts.setdefault(pid, None)  # not in the catalogue
        memo.entries += len(missing)
    if oes - set(oe_parts):
        for old, pid in db.execute(q.superseded, {"oes": list(oes - set(oe_parts))}):
            oe_parts.setdefault(old, pid)
    for pid in part_ids:
        if (info := memo.parts[pid]) is not None:
            parts.setdefault(pid, info)

    # assemblies' components, with their own part rows (0–1)
    def load_components(assemblies: list[int]) -> dict[int, tuple[review.Component, ...]]:
        found: dict[int, list[review.Component]] = defaultdict(list)
        for assembly_id, quantity, *row in db.execute(q.components, {"assemblies": assemblies}):
            found[assembly_id].append(review.Component(row[0], quantity))
            memo.parts[row[0]] = part_info(row)
        return {a: tuple(comps) for a, comps in found.items()}

    assemblies = [p.id for p in parts.values() if p.is_assembly]
    memo.fill(memo.components, assemblies, load_components, ())
    components = {a: memo.components[a] for a in assemblies if memo.components[a]}
    for comps in components.values():
        for c in comps:
            parts.setdefault(c.part_id, memo.parts[c.part_id])  # type: ignore[arg-type]
    line_part_ids = list(parts)

    where = (tuple(branch_ids), tuple(region_ids), on)
    with_labor = bool(line_part_ids) and any(isinstance(l, review.LaborLine) for l in estimate.lines)  # noqa: E741  # fmt: skip
    # PostgreSQL: what the memo lacks of fitment, prices, standard hours and inclusions comes in
    # one statement (0–1), each kind's load below taking its rows from it
    pre: dict[str, list[Any]] = {}
    if q.pg and line_part_ids:
        wants = (
            [pid for pid in line_part_ids if (vehicle.model_id, pid) not in memo.fitted]
            if vehicle is not None else [],
            [pid for pid in line_part_ids if (pid, *where) not in memo.prices],
            [pid for pid in line_part_ids if (pid, vclass, on) not in memo.hours]
            if with_labor else [],
            [pid for pid in line_part_ids if pid not in memo.inclusions] if with_labor else [],
        )  # fmt: skip
        kinds = tuple(bool(w) for w in wants)
        if any(kinds):
            pre = _load_part_refs(db, kinds, {
                "model_id": vehicle.model_id if vehicle is not None else None,
                "f_part_ids": wants[0], "p_part_ids": wants[1], "h_part_ids": wants[2],
                "i_part_ids": wants[3], "p_region_ids": region_ids, "p_branch_ids": branch_ids,
                "on": on, "vclass": vclass,
            })  # fmt: skip

    # fitment on the selected model (0–1); None: no fitment recorded for the part at all
    fitted: dict[int, bool | None] = {}
    if vehicle is not None and line_part_ids:
        mid = vehicle.model_id

        def load_fitment(keys: list[tuple[int, int]]) -> dict[tuple[int, int], bool]:
            rows = pre["fitment"] if pre else db.execute(
                q.fitment, {"model_id": mid, "part_ids": [pid for _, pid in keys]}
            )  # fmt: skip
            return {(mid, pid): bool(fits) for pid, fits in rows}

        memo.fill(memo.fitted, [(mid, pid) for pid in line_part_ids], load_fitment, None)
        for pid in line_part_ids:
            if (fits := memo.fitted[(mid, pid)]) is not None:
                fitted[pid] = fits

    # prices in force for every part and component, on the chain's scopes (0–1)
    def load_prices(keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[PriceVersion, ...]]:
        found: dict[tuple[Any, ...], list[PriceVersion]] = defaultdict(list)
        for p in pre["prices"] if pre else db.execute(
            q.prices,
            {"part_ids": [k[0] for k in keys], "on": on, "region_ids": region_ids,
             "branch_ids": branch_ids},
        ):  # fmt: skip
            found[(p[1], *where)].append(PriceVersion(
                p[0], p[1], p[2], p[3], p[4], p[5], p[6], from_fen(p[7]), p[8], p[9], p[10], p[11],
                p[12], p[13],
            ))  # fmt: skip
        return {k: tuple(v) for k, v in found.items()}

    memo.fill(memo.prices, [(pid, *where) for pid in line_part_ids], load_prices, ())
    versions = {pid: v for pid in line_part_ids if (v := memo.prices[(pid, *where)])}

    # the channel's card: parts terms, labor lines (0–2); the branch standard rates (0–1)
    card = _Card({}, {})
    channel = estimate.shop.channel_code
    if channel:
        _looked_up((channel, on) in memo.cards, (channel, on) not in memo.cards)
        if (channel, on) not in memo.cards:
            memo.cards[(channel, on)] = _load_card(db, q, channel, on)
            memo.entries += 1
        found_card = memo.cards[(channel, on)]
        if found_card is None:
            raise InvalidInput(f"no channel with code {channel!r}", field="shop.channel_code")
        card = found_card
    card_parts, card_labor = card.parts, card.labor
    labor_kinds, kind_code = static.labor_kinds, static.labor_kind_code
    for line in estimate.lines:
        if isinstance(line, review.LaborLine) and line.labor_kind not in labor_kinds:
            raise InvalidInput(
                f"line {line.index + 1}: labor_kind must be one of {', '.join(sorted(labor_kinds))}",
                field=f"lines[{line.index}].labor_kind",
            )
    rates_key = (tuple(branch_ids), estimate.shop.tier, vclass, on)
    rate_rows = memo.labor_rates.get(rates_key)
    _looked_up(rate_rows is not None, rate_rows is None)
    if rate_rows is None:
        rate_rows = memo.labor_rates[rates_key] = list(db.execute(
            q.labor_rates,
            {"branch_ids": branch_ids, "tier": estimate.shop.tier, "vclass": vclass, "on": on},
        ))  # fmt: skip
    labor = _labor_rates(rate_rows, branch_ids, branches, card_labor, channel, kind_code)

    # standard hours of the parts the labor lines act on, and every inclusion reachable from
    # their operations, through parts no line names too, with those parts' rows (0–2)
    hours: dict[tuple[int, str], review.HoursRef] = {}
    inclusions: list[review.InclusionRef] = []
    if with_labor:

        def load_hours(
            keys: list[tuple[Any, ...]],
        ) -> dict[tuple[Any, ...], tuple[review.HoursRef, ...]]:
            found: dict[tuple[Any, ...], list[review.HoursRef]] = defaultdict(list)
            rows = pre["hours"] if pre else db.execute(
                q.hours, {"part_ids": [k[0] for k in keys], "vclass": vclass, "on": on}
            )  # fmt: skip
            for h in rows:
                found[(h.part_id, vclass, on)].append(review.HoursRef(
                    h.part_id, h.operation, h.code, (Decimal(h.hours_centi) / 100).quantize(review.CENTI),
                    h.vehicle_class, h.id, h.valid_from,
                ))  # fmt: skip
            return {k: tuple(v) for k, v in found.items()}

        def load_inclusions(
            roots: list[int],
        ) -> dict[int, tuple[tuple[int, review.InclusionRef], ...]]:
            found: dict[int, list[tuple[int, review.InclusionRef]]] = defaultdict(list)
            rows = pre["inclusions"] if pre else db.execute(q.inclusions, {"part_ids": roots})
            for root, inc_id, pid, op, included_pid, included_op, *row in rows:
                found[root].append((inc_id, review.InclusionRef(pid, op, included_pid, included_op)))  # fmt: skip
                memo.parts[included_pid] = part_info(row)
            return {root: tuple(v) for root, v in found.items()}

        memo.fill(memo.hours, [(pid, vclass, on) for pid in line_part_ids], load_hours, ())
        for pid in line_part_ids:
            for h in memo.hours[(pid, vclass, on)]:
                hours[(h.part_id, h.operation)] = h
        memo.fill(memo.inclusions, line_part_ids, load_inclusions, ())
        every = {inc_id: inc for pid in line_part_ids for inc_id, inc in memo.inclusions[pid]}
        for inc_id in sorted(every):
            inc = every[inc_id]
            inclusions.append(inc)
            parts.setdefault(inc.included_part_id, memo.parts[inc.included_part_id])  # type: ignore[arg-type]

    # consumable standards of the kinds claimed, the vehicle class's over every class's (0–1)
    kinds_claimed = {l.kind for l in estimate.lines if isinstance(l, review.ConsumableLine)}  # noqa: E741

    def load_consumables(
        keys: list[tuple[str, str, date]],
    ) -> dict[tuple[str, str, date], review.ConsumableStandard]:
        rows = db.execute(
            q.consumables, {"kinds": [k[0] for k in keys], "vclass": vclass, "on": on}
        )
        found: dict[tuple[str, str, date], review.ConsumableStandard] = {}
        for c in sorted(rows, key=lambda c: c.vehicle_class is not None):
            found[(c.kind, vclass, on)] = review.ConsumableStandard(
                c.kind, c.name, c.unit, Decimal(c.max_quantity_milli) / 1000,
                from_fen(c.max_unit_price_fen) if c.max_unit_price_fen is not None else None,
                c.vehicle_class, c.id, c.valid_from,
            )  # fmt: skip
        return found

    memo.fill(memo.consumables, [(k, vclass, on) for k in kinds_claimed], load_consumables, None)
    consumables = {k: std for k in kinds_claimed if (std := memo.consumables[(k, vclass, on)])}

    # the rescue tariff of the nearest region (0–1)
    rescue = None
    if any(isinstance(l, review.RescueLine) for l in estimate.lines) and region_ids:  # noqa: E741
        rescue_key = (tuple(region_ids), on)
        _looked_up(rescue_key in memo.rescue, rescue_key not in memo.rescue)
        if rescue_key not in memo.rescue:
            memo.rescue[rescue_key] = _load_rescue(db, q, region_ids, on, static)
            memo.entries += 1
        rescue = memo.rescue[rescue_key]

    # earlier claims on the VIN within the profile's window (0–1: `validate` reads them with
    # the generation)
    earlier: list[review.EarlierClaim] = []
    if estimate.vehicle.vin:
        since = on - timedelta(days=profile.settings.repeat_claim_window_days)
        if prior is None:
            prior = db.execute(
                q.earlier,
                {"vin": estimate.vehicle.vin, "estimate_id": estimate.id, "on": on,
                 "since": since},
            ).all()  # fmt: skip
        for vid, eid, ever, edate, replaced in prior:
            if edate >= since:
                earlier.extend(
                    review.EarlierClaim(eid, ever, edate, int(p), vid) for p in replaced or ()
                )

    resolved = memo.resolved.setdefault((*where, channel), {})
    if len(resolved) > keep:
        resolved.clear()
    refs = review.Refs(
        resolved=resolved,
        branch=place.branch, profile=profile, vehicle=vehicle, parts=parts, oe_parts=oe_parts,
        matches=matches, components=components, fitted=fitted, price_versions=versions, chain=chain,
        price_types=price_types, card_parts=card_parts, labor_rates=labor, labor_kinds=labor_kinds,
        hours=hours, inclusions=tuple(inclusions), consumables=consumables, rescue=rescue,
        earlier=tuple(earlier),
    )  # fmt: skip
    _check_damaged_components(estimate, refs)
    return refs


def _load_card(db: Connection, q: _Statements, channel: str, on: date) -> _Card | None:
    rows = db.execute(q.card_parts, {"channel": channel, "on": on}).all()
    if not rows:
        return None  # no such channel
    parts: dict[int, CardTerms] = {}
    for _, card_id, vf, vt, by, why, category_id, type_id, discount in rows:
        if card_id is not None and category_id is not None:
            parts[category_id] = CardTerms(
                channel, card_id, category_id, type_id, discount, vf, vt, by, why
            )
    labor = {
        kind_id: (card_id, rate_fen, pct_bp)
        for card_id, kind_id, rate_fen, pct_bp in db.execute(
            q.card_labor, {"channel": channel, "on": on}
        )
    }
    return _Card(parts, labor)


def _load_rescue(
    db: Connection, q: _Statements, region_ids: list[int], on: date, static: _Static
) -> review.RescueTariff | None:
    """The tariff in force of the nearest region in the chain."""
    order = {rid: n for n, rid in enumerate(region_ids)}
    tariffs = sorted(
        db.execute(q.rescue, {"region_ids": region_ids, "on": on}),
        key=lambda t: order[t.region_id],
    )
    if not tariffs:
        return None
    t = tariffs[0]
    return review.RescueTariff(
        static.region_names[t.region_id], from_fen(t.base_fen), Decimal(t.included_km),
        from_fen(t.per_km_fen), t.id, t.valid_from,
    )  # fmt: skip


def _check_damaged_components(estimate: review.Estimate, refs: review.Refs) -> None:
    """A damaged component the catalogue has but that is not a component of the line's assembly
    is an error in the estimate (422 naming it). One the catalogue lacks is not: like an unknown
    part id on a line, it is passed through, and the assembly rule falls back to all components.
    A line whose own part is unknown cannot be checked."""
    for line in estimate.lines:
        if not isinstance(line, review.PartLine) or not line.damaged_components:
            continue
        assembly = review.identify(line, refs)[0]
        if assembly is None:
            continue
        named = review.damaged_components(line, assembly, refs)
        if named.not_components:
            j = named.not_components[0]
            name = line.damaged_components[j]
            pid = name.part_id if name.part_id is not None else refs.oe_parts.get(normalize_oe(name.oe_number))  # fmt: skip
            part = refs.parts.get(pid) if pid is not None else None
            what = f"part {part.code} {part.name}" if part else name.text()
            comps = refs.components.get(assembly.id, ())
            listed = ", ".join(refs.parts[c.part_id].code for c in comps if c.part_id in refs.parts)
            raise InvalidInput(
                f"line {line.index + 1}: {what} is not a component of {assembly.code} "
                f"{assembly.name}"
                + (f" (its components: {listed})" if listed else " (it has no components)"),
                field=f"lines[{line.index}].damaged_components[{j}]",
            )


def _labor_rates(
    rows: Sequence[Any],
    branch_ids: list[int],
    branches: dict[int, Any],
    card_labor: dict[int, tuple[int, int | None, int | None]],
    channel: str | None,
    kind_code: dict[int, str],
) -> dict[str, review.LaborRateRef]:
    """The rate per labor kind, as `pricebook.labor.labor_rates` decides it (the branch's own
    standard rate, else the nearest parent's; a channel card's labor line replaces it: a fixed
    rate or a percentage of the standard), from the chain's standard rates (`rows`)."""
    depth = {bid: n for n, bid in enumerate(branch_ids)}
    nearest: dict[int, Any] = {}
    for r in sorted(rows, key=lambda r: depth[r.branch_id]):
        nearest.setdefault(r.labor_kind_id, r)
    out: dict[str, review.LaborRateRef] = {}
    for kind_id, r in nearest.items():
        standard = from_fen(r.rate_fen)
        code = branches[r.branch_id].code
        card_id, rate_fen, pct_bp = card_labor.get(kind_id, (None, None, None))
        card_channel = channel if card_id else None
        rate, why, _ = applied_rate(standard, code, r.branch_id == branch_ids[0], card_channel,
                                    rate_fen, pct_bp)  # fmt: skip
        out[kind_code[kind_id]] = review.LaborRateRef(
            kind_code[kind_id], rate, standard, why, code, r.id, card_channel, card_id,
            r.valid_from,
        )  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------------
# Validate and store
# ------------------------------------------------------------------------------------------------


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
        return msgspec.json.decode(self.result_json)  # type: ignore[no-any-return]

    def to_json(self) -> bytes:
        """The answer: who and when, then the result's own members (spliced, not re-encoded:
        a result runs to tens of kilobytes)."""
        head = msgspec.json.encode({
            "validation_id": self.id,
            "validated_at": as_utc(self.created_at).isoformat() if self.created_at else None,
            "validated_by": self.created_by,
            "reused": self.reused,
            "request_differs": self.request_differs,
        })  # fmt: skip
        return _merged(head, self.result_json)


def _merged(head: bytes, rest: bytes) -> bytes:
    """Two encoded JSON objects as one: `head`'s members, then `rest`'s (not decoded)."""
    rest = rest.strip()
    return head if rest in (b"", b"{}") else head[:-1] + b"," + rest[1:]


def _matches_for(
    db: Connection, estimate: review.Estimate, matcher: Matcher
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


def validate(
    session: Session | Connection,
    request: EstimateRequest,
    *,
    force: bool = False,
    matcher: Matcher = None,
    actor: str = "",
    now: datetime | None = None,
    keep: int = MAX_REFERENCES,
) -> Validation:
    """Validate an estimate and store the result; the same estimate id and version again
    returns the stored result unless `force`. `keep`: how many reference entries this process
    keeps between validations (`load_refs`). `validate_unstored`, then `store_validations`
    (the API stores the validations of concurrent requests together: `api.estimates`)."""
    outcome = validate_unstored(
        session, request, force=force, matcher=matcher, actor=actor, now=now, keep=keep
    )
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
    matcher: Matcher = None,
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
        {"estimate_id": request.estimate_id, "version": request.version, "on": request.date,
         "vin": normalized_vin(request.vehicle.vin) or None,  # NULL: no VIN matches none
         "owner": key_id if own_only else None},
    ).all()  # fmt: skip
    generation, stored_id = Generation(*rows[0][:3]), rows[0][3]
    if stored_id is not None and not force:
        stored = db.execute(q.stored, {"id": stored_id}).one()
        return Validation(
            stored.id, stored.created_at, stored.created_by, True,
            _canonical(_as_now(stored.request)) != _canonical(_json(request)),
            msgspec.json.encode(stored.result),
        )  # fmt: skip
    prior = [row[4:] for row in rows if row[4] is not None]
    estimate = to_estimate(request, now=now)
    if references is not None:
        db = references
        generation = Generation(*db.execute(_statements(db).generation).one())
    matches = _matches_for(db, estimate, matcher)
    refs = load_refs(db, estimate, matches, keep=keep, generation=generation, prior=prior)
    result = review.review(estimate, refs)
    result_json = msgspec.json.encode(result)
    ind = result.indicators
    return Unstored(
        dict(
            estimate_id=estimate.id, estimate_version=estimate.version, estimate_date=estimate.date,
            branch_id=refs.branch.id, vin=estimate.vehicle.vin, model_id=estimate.vehicle.model_id,
            model_selected=ind.model_selected, part_lines=ind.part_lines,
            custom_part_lines=ind.custom_part_lines, custom_matched=ind.custom_matched,
            claimed_fen=to_fen(result.totals.claimed), allowed_fen=to_fen(result.totals.allowed),
            cut_fen=to_fen(result.totals.cut), profile_id=refs.profile.id,
            profile_code=refs.profile.code, profile_version=refs.profile.version,
            replaced_part_ids=review.replaced_parts(estimate, result),
            part_ids=review.line_part_ids(result), flag_counts=result.counts,
            flagged_lines=review.flagged_lines(result),
            # already JSON: msgspec.Raw goes into the column as it is
            request=msgspec.Raw(msgspec.json.encode(request)), result=msgspec.Raw(result_json),
            created_by=actor, created_by_key_id=key_id,
        ),
        result_json,
        actor,
    )  # fmt: skip


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
) -> Page:
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
                EstimateValidation.id, EstimateValidation.estimate_version,
                EstimateValidation.estimate_date, EstimateValidation.created_at,
                EstimateValidation.created_by, EstimateValidation.profile_code,
                EstimateValidation.profile_version, EstimateValidation.claimed_fen,
                EstimateValidation.allowed_fen, EstimateValidation.cut_fen,
                EstimateValidation.part_lines, EstimateValidation.custom_part_lines,
                EstimateValidation.model_selected, EstimateValidation.flag_counts,
                EstimateValidation.flagged_lines,
            )
            .where(*where)
            .order_by(EstimateValidation.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )  # fmt: skip
    items = [
        {
            "validation_id": r.id, "estimate_id": estimate_id,
            "estimate_version": r.estimate_version, "estimate_date": r.estimate_date.isoformat(),
            "validated_at": as_utc(r.created_at).isoformat() if r.created_at else None,
            "validated_by": r.created_by, "profile_code": r.profile_code,
            "profile_version": r.profile_version,
            "totals": {"claimed": str(from_fen(r.claimed_fen)), "allowed": str(from_fen(r.allowed_fen)),
                       "cut": str(from_fen(r.cut_fen))},
            "counts": r.flag_counts, "flagged_lines": r.flagged_lines,
            "part_lines": r.part_lines, "custom_part_lines": r.custom_part_lines,
            "model_selected": r.model_selected,
        }
        for r in rows
    ]  # fmt: skip
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
            EstimateValidation.created_at, EstimateValidation.created_by,
            cast(EstimateValidation.request, Text), cast(EstimateValidation.result, Text),
        ).where(EstimateValidation.id == validation_id, *_readable(estimate_id, only_key))
    ).one_or_none()  # fmt: skip
    if row is None:
        raise NotFound(
            f"estimate {estimate_id!r} has no validation {validation_id}", field="validation_id"
        )
    created_at, created_by, request, result = row
    head = msgspec.json.encode({
        "validation_id": validation_id,
        "validated_at": as_utc(created_at).isoformat() if created_at else None,
        "validated_by": created_by,
        "request": msgspec.Raw(request.encode()),
    })  # fmt: skip
    return _merged(head, result.encode())


__all__ = [
    "MAX_LINES",
    "EstimateRequest",
    "Unstored",
    "Validation",
    "decode_request",
    "list_validations",
    "load_refs",
    "store_validations",
    "to_estimate",
    "validate",
    "validate_unstored",
]
