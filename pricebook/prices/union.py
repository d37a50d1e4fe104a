"""The one statement a batch resolve reads: parts by id, OE number or superseded OE number,
the models named, the price versions on every chain's scopes and the market observations, as
one `UNION ALL` whose first column says the kind of each row; and the market references drawn
from its market rows."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CompoundSelect,
    Date,
    DateTime,
    Integer,
    Row,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
)

from pricebook.catalog import oe_lookup
from pricebook.days import day_end, day_start, days_from
from pricebook.db import as_utc, in_list, in_select
from pricebook.models import Category, MarketObservation, OeSupersession, Part, Price, VehicleModel
from pricebook.money import from_fen
from pricebook.prices.resolve import MarketReference, PriceTypeInfo

# the kinds of row `union_statement` returns (its first column)
K_PART, K_OLD_OE, K_MODEL, K_PRICE, K_MARKET = 0, 1, 2, 3, 4
TIMESTAMP = DateTime(timezone=True)
#: a price version's columns, in `PriceVersion`'s order
PRICE_COLUMNS = (
    Price.id,
    Price.part_id,
    Price.model_id,
    Price.scope,
    Price.region_id,
    Price.branch_id,
    Price.price_type_id,
    Price.amount_fen,
    Price.valid_from,
    Price.valid_to,
    Price.source,
    Price.source_ref,
    Price.created_by,
    Price.reason,
)
#: a row of `union_statement`: its 17 columns' types depend on its kind (the first column)
UnionRow = Row[*tuple[Any, ...]]


class Dated(Protocol):
    """What `market_references` reads of a planned item: the date it is priced on."""

    @property
    def on(self) -> date: ...


@functools.cache
def union_statement(
    oes: bool, models: bool, postgresql: bool, pairs: bool = False
) -> CompoundSelect[*tuple[Any, ...]]:
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
    part_cond, wanted, observed = _item_filters(oes, postgresql)
    selects = [
        _price_rows(wanted, _at_branch(pairs, postgresql), postgresql),
        _part_rows(part_cond),
        _market_rows(observed),
    ]
    if oes:
        selects.append(_old_oe_rows(postgresql))
    if models:
        selects.append(_model_rows(postgresql))
    return union_all(*selects)


def _null(type_: Any) -> Any:
    return cast(null(), type_)


def _item_filters(oes: bool, postgresql: bool) -> tuple[Any, Any, Any]:
    """The parts asked for, and the prices' and observations' conditions on them."""
    if oes:
        current, superseded = oe_lookup(
            lambda column: in_list(column, "oes", postgresql=postgresql), postgresql=postgresql
        )
        part_cond = or_(in_list(Part.id, "part_ids", postgresql=postgresql), current, superseded)
        wanted = in_select(Price.part_id, select(Part.id).where(part_cond), postgresql=postgresql)
        observed = in_select(
            MarketObservation.part_id, select(Part.id).where(part_cond), postgresql=postgresql
        )
        return part_cond, wanted, observed
    # by id only: the prices' and observations' own part_id against the list, no join
    return (
        in_list(Part.id, "part_ids", postgresql=postgresql),
        in_list(Price.part_id, "part_ids", postgresql=postgresql),
        in_list(MarketObservation.part_id, "part_ids", postgresql=postgresql),
    )


def _at_branch(pairs: bool, postgresql: bool) -> Any:
    """Which branch prices are read: on every branch of `branch_ids`, or only the pairs'."""
    if not pairs:
        return in_list(Price.branch_id, "branch_ids", postgresql=postgresql)
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
    return tuple_(Price.part_id, Price.branch_id).in_(
        select(wanted_pairs.c.part_id, wanted_pairs.c.branch_id)
    )


def _price_rows(wanted: Any, at_branch: Any, postgresql: bool) -> Any:
    lo = bindparam("lo", type_=Date)
    hi = bindparam("hi", type_=Date)
    scope_cond = [
        Price.scope == "system",
        in_list(Price.region_id, "region_ids", postgresql=postgresql),
        at_branch,
    ]
    # the first SELECT gives the columns their types
    return select(
        literal(K_PRICE, Integer),
        *PRICE_COLUMNS,
        _null(TIMESTAMP),
        _null(TIMESTAMP),
    ).where(
        wanted,
        Price.valid_from <= hi,
        or_(Price.valid_to.is_(None), Price.valid_to > lo),
        or_(*scope_cond),
        # another model's price is never a candidate
        or_(Price.model_id.is_(None), in_list(Price.model_id, "model_ids", postgresql=postgresql)),
    )


def _part_rows(part_cond: Any) -> Any:
    columns: dict[int, Any] = {
        1: Part.id,
        2: Part.category_id,
        4: Category.code,
        11: Part.code,
        12: Part.name,
        13: Part.oe_number,
        14: Part.oe_normalized,
    }
    return _row(K_PART, columns).join(Category, Category.id == Part.category_id).where(part_cond)


def _market_rows(observed: Any) -> Any:
    mo = MarketObservation
    columns: dict[int, Any] = {
        1: mo.id,
        2: mo.part_id,
        5: mo.region_id,
        7: mo.price_type_id,
        8: mo.amount_fen,
        11: mo.source,
        15: mo.first_seen,
        16: mo.last_seen,
    }
    return _row(K_MARKET, columns).where(
        observed,
        mo.status == "matched",
        mo.last_seen >= bindparam("m_lo", type_=DateTime),
        mo.first_seen < bindparam("m_hi", type_=DateTime),
    )


def _old_oe_rows(postgresql: bool) -> Any:
    old_oe = OeSupersession.old_oe_normalized
    return _row(K_OLD_OE, {2: OeSupersession.part_id, 14: old_oe}).where(
        in_list(old_oe, "oes", postgresql=postgresql)
    )


def _model_rows(postgresql: bool) -> Any:
    return _row(K_MODEL, {1: VehicleModel.id}).where(
        in_list(VehicleModel.id, "model_ids", postgresql=postgresql)
    )


#: the type of each column after the kind (1 to 16, as the price rows give them): a row without
#: a value there has a NULL of that type
_COLUMN_TYPES: tuple[Any, ...] = (
    Integer,
    Integer,
    Integer,
    String,
    Integer,
    Integer,
    Integer,
    BigInteger,
    Date,
    Date,
    String,
    String,
    String,
    String,
    TIMESTAMP,
    TIMESTAMP,
)


def _row(kind: int, columns: dict[int, Any]) -> Any:
    """A SELECT of the union's 17 columns: the kind, then `columns` by position, NULLs between."""
    return select(
        literal(kind, Integer),
        *(columns.get(i, _null(type_)) for i, type_ in enumerate(_COLUMN_TYPES, start=1)),
    )


#: market observations older than this before the earliest date are not shown as references.
MARKET_WINDOW_DAYS = 180


def market_window(lo: date, hi: date) -> tuple[datetime, datetime]:
    """Where market observations count for items priced from `lo` to `hi` (UTC): seen from
    `MARKET_WINDOW_DAYS` before `lo` through `hi`. The statement reads with it, and
    `market_references` keeps each row within it."""
    return day_start(days_from(lo, -MARKET_WINDOW_DAYS)), day_end(hi)


def market_references(
    rows: Sequence[UnionRow],
    planned: Sequence[tuple[Dated, *tuple[object, ...]]],
    planned_ids: set[int],
    price_types: dict[int, PriceTypeInfo],
) -> dict[int, list[tuple[int, date, date, int | None, MarketReference]]]:
    """Matched market observations of the planned parts (`union_statement`'s market rows),
    newest first, within `market_window` of the planned dates."""
    out: dict[int, list[tuple[int, date, date, int | None, MarketReference]]] = defaultdict(list)
    if not rows:
        return out
    lo, hi = market_window(min(p[0].on for p in planned), max(p[0].on for p in planned))

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
            from_fen(amount_fen),
            last.date(),
            source,
            price_types[type_id].code if type_id in price_types else None,
        )
        out[part_id].append((part_id, first.date(), last.date(), region_id, ref))
    return out
