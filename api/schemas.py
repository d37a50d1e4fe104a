"""The API's boundary types: msgspec Structs. Money is `Decimal` yuan, sent as a JSON string
("1050.00"), never a float; dates are ISO 8601."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from pricebook.money import MONEY_PATTERN

#: ids are 32-bit in the database; anything larger cannot exist.
MAX_ID = 2_147_483_647
Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
#: NUL is refused in every body before it is decoded (`api.controllers.nul_in_json`, and the
#: document says so for every text, `api.spec`): a pattern here was a regular expression per
#: string, 160 of the 200 µs a batch of 100 items took to decode
Code = Annotated[str, Meta(min_length=1, max_length=64)]
Money = Annotated[Decimal, Meta(description='yuan, as a decimal string such as "1050.00"')]
#: money sent to the API: kept as the text sent, parsed by `pricebook.money.parse_money` (one
#: rule for every amount: ASCII digits, at most two decimals, above 0, at most 10,000,000 yuan;
#: no exponent, `_`, full-width digits or spaces), a bad one → 422 naming the field.
MoneyIn = Annotated[
    str,
    Meta(
        description="yuan as a decimal string: ASCII digits with up to two decimals, above 0 and "
        'at most 10000000.00, e.g. "1050.00"',
        max_length=40,
        examples=["1050.00"],
        # documented, not enforced by the decoder: parse_money's 422 names the field with a hint
        extra_json_schema={"pattern": MONEY_PATTERN},
    ),
]

T = TypeVar("T")


class Page(Struct, Generic[T]):
    """One page of a list: `items` from `offset` on, at most `limit` of them, out of `total`."""

    items: list[T]
    total: int
    limit: int
    offset: int


def to(dto: type[T], value: Any) -> T:
    """A core record (or list of them) as the boundary type."""
    return msgspec.convert(value, dto, from_attributes=True)


class Named(Struct):
    id: int
    code: str
    name: str


class Model(Struct):
    id: int
    code: str
    name: str
    brand: Named
    series: Named
    model_year: int
    body: str
    engine: str
    vehicle_class: str
    manufacturer_code: str


class VinCandidate(Struct):
    prefix: str
    model: Model


class VinLookup(Struct):
    vin: str
    wmi: str
    check_digit: str
    candidates: list[VinCandidate]


class Part(Struct):
    id: int
    code: str
    name: str
    category: Named
    position: str
    unit: str
    oe_number: str
    is_assembly: bool
    universal: bool
    matched_by: Literal["oe", "superseded_oe", "name", "alias"] | None = None


class ComponentLine(Struct):
    part: Part
    quantity: int


class PartDetail(Struct):
    part: Part
    aliases: list[str]
    components: list[ComponentLine]
    assemblies: list[ComponentLine]
    superseded_oe: list[str]
    fitment: list[Model]


class Candidate(Struct):
    layer: Literal["channel", "branch", "parent_branch", "region", "system", "market"]
    scope_code: str
    price_type: str | None
    model_specific: bool
    amount: Money
    valid_from: dt.date | None
    valid_to: dt.date | None
    source: str
    source_ref: str
    created_by: str
    reason: str
    price_id: int | None
    won: bool
    why: str
    base_amount: Money | None = None
    discount_pct: Decimal | None = None
    rate_card_id: int | None = None


class PartRef(Struct):
    id: int
    code: str
    name: str
    category: str
    oe_number: str


class Resolution(Struct):
    part: PartRef
    matched_by: str
    date: dt.date
    model_id: int | None
    branch: str | None
    channel: str | None
    agreement: str | None
    price_type: str
    price_type_reason: str
    amount: Money
    currency: Literal["CNY"]
    layer: str
    winner: Candidate
    candidates: list[Candidate]


class ResolveItem(Struct, forbid_unknown_fields=True):
    part_id: Id | None = None
    oe: Code | None = None
    model_id: Id | None = None
    branch: Code | None = None
    price_type: Code | None = None
    channel: Code | None = None
    agreement: Code | None = None
    #: the estimate's date; the batch's `date` (else today) when absent
    date: dt.date | None = None


class ResolveBatch(Struct, forbid_unknown_fields=True):
    items: Annotated[list[ResolveItem], Meta(min_length=1, max_length=500)]
    date: dt.date | None = None
    #: "winner": each result's `candidates` holds its winner alone (no losing versions, no
    #: market references): the prices without their explanation, a third of the answer's size
    candidates: Literal["all", "winner"] = "all"


class ItemError(Struct):
    title: str
    detail: str
    field: str | None = None


class BatchResult(Struct):
    index: int
    status: int
    result: Resolution | None = None
    error: ItemError | None = None


class BatchResolution(Struct):
    results: list[BatchResult]
    resolved: int
    failed: int


class PriceVersion(Struct):
    id: int
    part_id: int
    model_id: int | None
    scope: str
    region_id: int | None
    branch_id: int | None
    price_type_id: int
    amount: Money
    valid_from: dt.date
    valid_to: dt.date | None
    source: str
    source_ref: str
    created_by: str
    reason: str


class HistoryRow(Struct):
    version: PriceVersion
    price_type: str
    layer: str
    scope_code: str
    model_code: str | None
    withdrawn: bool
    created_at: dt.datetime | None


class ChannelRate(Struct):
    channel: str
    rate_card_id: int
    rate: Money
    pct_of_standard: Decimal | None
    valid_from: dt.date
    valid_to: dt.date | None


class LaborRate(Struct):
    branch: str
    rate_branch: str
    labor_kind: Named
    shop_tier: str
    vehicle_class: str
    standard_rate: Money
    valid_from: dt.date
    valid_to: dt.date | None
    source: str
    rate_id: int
    channel: ChannelRate | None
    rate: Money
    why: str


class Inclusion(Struct):
    part_id: int
    part_code: str
    part_name: str
    operation: str


class StandardHours(Struct):
    id: int
    part_id: int
    part_code: str
    part_name: str
    operation: str
    vehicle_class: str
    labor_kind: Named
    hours: Decimal
    valid_from: dt.date
    valid_to: dt.date | None
    includes: list[Inclusion]


class ApiKey(Struct):
    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime | None
    revoked_at: dt.datetime | None


VISIBLE_NAME = r"^[^\x00]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^\x00]*$"


class NewKey(Struct, forbid_unknown_fields=True):
    # one visible character at least, spelled out: `\S` means other characters to Python's re
    # (msgspec) than to the JSON Schema clients and fuzzers read (ECMA-262: \x1c-\x1f, \x85)
    name: Annotated[str, Meta(min_length=1, max_length=100, pattern=VISIBLE_NAME)]
    role: Literal["estimate_tool", "reviewer", "pricing_staff", "admin"]


class CreatedKey(Struct):
    key: ApiKey
    #: the key itself: shown once, never stored
    secret: str


class Caller(Struct):
    id: int
    name: str
    role: str
    prefix: str


# --- staff writes: versioned keys, aliases, synonyms --------------------------------

#: why the change is made: required by every write (422 when missing or blank)
#: why a change is made: required, but refused by the core (422 naming `reason`), not the
#: decoder; the document says so (`api.spec` makes a field whose default it refuses required)
Reason = Annotated[
    str,
    Meta(
        max_length=1000,
        pattern=r"^[^\x00]*$",  # NUL: 400 (PostgreSQL cannot store it); blank: the core's 422
        description="why: required (422 when missing or blank)",
        # the decoder's pattern wins in msgspec's schema: the stricter one goes beside it
        extra_json_schema={"minLength": 1, "allOf": [{"pattern": r"\S"}]},
    ),
]
#: why, when the server has a default of its own
OptionalReason = Annotated[str, Meta(max_length=1000, description="why (optional)")]
#: one line, not blank: what `pricebook.aliases` accepts as a term (a blank one is its 422)
ONE_LINE = r"^[^\x00\t\r\n]*[^\s\x00][^\x00\t\r\n]*$"
Term = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=50,
        pattern=r"^[^\x00\t\r\n]*$",
        extra_json_schema={"allOf": [{"pattern": ONE_LINE}]},
    ),
]
ShopTier = Literal["4s", "class1", "class2", "class3"]
VehicleClass = Literal["A", "B", "C", "D", "E"]
Operation = Literal["replace", "repair", "paint", "remove_refit"]


class PriceKeyOut(Struct):
    part_id: int
    model_id: int | None
    scope: str
    region: str | None
    branch: str | None
    price_type: str


class PriceVersions(Struct):
    """A price key's versions, oldest first; `etag` (also the ETag header) goes in If-Match."""

    key: PriceKeyOut
    etag: str
    versions: list[PriceVersion]


class NewPrice(Struct, forbid_unknown_fields=True, kw_only=True):
    """A new version of a localized (or system) price key from `valid_from`."""

    part_id: Id
    #: None: the price of every model the part fits
    model_id: Id | None = None
    scope: Literal["system", "region", "branch"]
    #: the region code (scope region) or branch code (scope branch)
    region: Code | None = None
    branch: Code | None = None
    price_type: Code
    amount: MoneyIn
    valid_from: dt.date
    valid_to: dt.date | None = None
    reason: Reason = ""


class EndValidity(Struct, forbid_unknown_fields=True, kw_only=True):
    """End a version's validity on `valid_to` (its `valid_from` withdraws it)."""

    valid_to: dt.date
    reason: Reason = ""


class PriceEdit(Struct):
    #: created | superseded | closed | withdrawn | unchanged
    action: str
    version: PriceVersion
    etag: str


class LaborRateVersion(Struct):
    id: int
    branch: str
    labor_kind: str
    shop_tier: str
    vehicle_class: str
    rate: Money
    valid_from: dt.date
    valid_to: dt.date | None
    source: str
    created_by: str
    reason: str


class LaborRateVersions(Struct):
    etag: str
    versions: list[LaborRateVersion]


class NewLaborRate(Struct, forbid_unknown_fields=True, kw_only=True):
    branch: Code
    labor_kind: Code
    shop_tier: ShopTier
    vehicle_class: VehicleClass
    rate: MoneyIn
    valid_from: dt.date
    valid_to: dt.date | None = None
    reason: Reason = ""


class LaborRateEdit(Struct):
    action: str
    version: LaborRateVersion
    etag: str


class HoursVersion(Struct):
    id: int
    part_id: int
    operation: str
    vehicle_class: str
    labor_kind: str
    hours: Decimal
    valid_from: dt.date
    valid_to: dt.date | None
    created_by: str
    reason: str


class HoursVersions(Struct):
    etag: str
    versions: list[HoursVersion]


class NewStandardHours(Struct, forbid_unknown_fields=True, kw_only=True):
    part_id: Id
    operation: Operation
    vehicle_class: VehicleClass
    labor_kind: Code
    hours: Annotated[Decimal, Meta(description='hours with at most two decimals, e.g. "2.5"')]
    valid_from: dt.date
    valid_to: dt.date | None = None
    reason: Reason = ""


class HoursEdit(Struct):
    action: str
    version: HoursVersion
    etag: str


class ChannelOut(Struct):
    id: int
    code: str
    name: str
    kind: str
    branch: str | None


class ChannelCard(Struct):
    """A channel's rate card in force: its period and what it covers (its terms: GET
    /channels/{code}/rate-cards, pricing staff)."""

    id: int
    valid_from: dt.date
    valid_to: dt.date | None
    labor_kinds: list[str]
    part_categories: list[str]


class ChannelListing(Struct):
    id: int
    code: str
    name: str
    kind: str
    branch: str | None
    rate_card: ChannelCard | None


class NewChannel(Struct, forbid_unknown_fields=True, kw_only=True):
    code: Code
    name: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    kind: Literal["repair_shop", "dealer_group", "parts_platform"]
    branch: Code | None = None
    reason: Reason = ""


class CardLaborLine(Struct, forbid_unknown_fields=True):
    """A labor line: a fixed `rate` or `pct_of_standard` of the branch standard rate."""

    labor_kind: Code
    rate: Money | None = None
    pct_of_standard: Decimal | None = None


class NewCardLaborLine(Struct, forbid_unknown_fields=True):
    """A labor line: a fixed `rate` or `pct_of_standard` of the branch standard rate."""

    labor_kind: Code
    rate: MoneyIn | None = None
    pct_of_standard: Decimal | None = None


class CardPartsLine(Struct, forbid_unknown_fields=True):
    """A parts line: `price_type` reference less `discount_pct` for a category."""

    category: Code
    price_type: Code
    discount_pct: Decimal


class RateCardVersion(Struct):
    id: int
    channel: str
    valid_from: dt.date
    valid_to: dt.date | None
    labor: list[CardLaborLine]
    parts: list[CardPartsLine]
    created_by: str
    reason: str


class RateCardVersions(Struct):
    etag: str
    versions: list[RateCardVersion]


class NewRateCard(Struct, forbid_unknown_fields=True, kw_only=True):
    """A whole card: every line it has from `valid_from` on."""

    valid_from: dt.date
    valid_to: dt.date | None = None
    labor: Annotated[list[NewCardLaborLine], Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    parts: Annotated[list[CardPartsLine], Meta(max_length=200)] = msgspec.field(
        default_factory=list
    )
    reason: Reason = ""


class RateCardEdit(Struct):
    action: str
    version: RateCardVersion
    etag: str


class AliasSet(Struct):
    part_id: int
    aliases: list[str]
    etag: str
    #: added | removed | unchanged (empty for a read)
    action: str = ""


class NewAlias(Struct, forbid_unknown_fields=True, kw_only=True):
    alias: Term
    reason: Reason = ""


class SynonymGroup(Struct):
    canonical: str
    terms: list[str]
    #: database, or shipped while no edit has been stored yet
    source: str
    etag: str
    action: str = ""


class NewTerm(Struct, forbid_unknown_fields=True, kw_only=True):
    term: Term
    reason: Reason = ""


# --- feedback ------------------------------------------------------------------------------------


class NewFeedback(Struct, forbid_unknown_fields=True, kw_only=True):
    """A reviewer's price-mismatch feedback (第六条 7(2)(3))."""

    part_id: Id
    #: the estimate's vehicle model
    model_id: Id | None = None
    #: the branch whose price is wrong; None: the system price
    branch: Code | None = None
    price_type: Code
    #: the reference price as the reviewer saw it
    reference: MoneyIn | None = None
    #: the market price the reviewer observed
    observed: MoneyIn
    #: evidence: what the reviewer saw (quotes, shops, dates)
    note: Annotated[str, Meta(max_length=2000)] = ""
    url: Annotated[str, Meta(max_length=2000)] = ""
    #: the estimate (or claim) the feedback comes from
    estimate_ref: Annotated[str, Meta(max_length=100)] = ""


class Feedback(Struct):
    id: int
    kind: Literal["reviewer", "drift"]
    status: Literal["open", "need_info", "accepted", "rejected", "resolved_by_market"]
    part_id: int
    part_code: str
    part_name: str
    model_id: int | None
    branch: str | None
    price_type: str
    reference: Money | None
    observed: Money | None
    evidence: dict[str, Any]
    note: str
    url: str
    estimate_ref: str
    created_by: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution_reason: str
    linked_to_id: int | None
    linked_count: int
    resulting_price_id: int | None
    turnaround_hours: Decimal | None


class AcceptFeedback(Struct, forbid_unknown_fields=True, kw_only=True):
    #: the new price; the observed price when absent
    amount: MoneyIn | None = None
    #: today when absent
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    #: "feedback #id accepted" when absent
    reason: OptionalReason = ""
    #: price only the item's model (default: drift tasks follow the drifted price's key,
    #: reviewer feedback prices every model)
    model_specific: bool | None = None


class Decision(Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Reason = ""


class FeedbackAnswer(Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[str, Meta(max_length=2000)] = ""
    url: Annotated[str, Meta(max_length=2000)] = ""


# --- indicators, audit, imports -------------------------------------------------------------------


class Rate(Struct):
    numerator: int
    denominator: int
    #: numerator / denominator (4 decimals); null when the denominator is 0
    rate: Decimal | None


class Turnaround(Struct):
    count: int
    median_hours: Decimal | None
    p90_hours: Decimal | None


class Indicators(Struct):
    branch: str | None
    date_from: dt.date | None
    date_to: dt.date | None
    estimates: int
    #: 配件自定义率: custom part lines / part lines
    custom_part_rate: Rate
    #: 系统车型点选率: estimates with a catalogue model / estimates
    model_selection_rate: Rate
    #: 常见车辆常见配件本地化率: top models × top parts with a localized price in force
    localization_rate: Rate
    top: int
    top_models: list[int]
    top_parts: list[int]
    feedback_turnaround: Turnaround
    open_queue: int


class AuditEntry(Struct):
    id: int
    at: dt.datetime | None
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str


class ImportReport(Struct):
    kind: str
    dry_run: bool
    rows: int
    #: rows that change something (created + updated + superseded + closed + removed)
    changed: int
    created: int
    updated: int
    superseded: int
    closed: int
    unchanged: int
    removed: int
    notes: list[str]
