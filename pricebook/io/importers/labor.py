"""The labor kinds: labor rates, standard hours and channel rate cards."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pricebook.io.importers.cells import (
    ImportContext,
    basis_points_cell,
    choice_cell,
    code_ids,
    date_range_cells,
    lookup_cell,
    money_cell,
    price_type_codes,
    price_type_word,
    split_list,
    text_cell,
)
from pricebook.io.importers.kinds import LABOR_KINDS, STANDARD_HOURS_EPOCH
from pricebook.io.importers.plain import ensure_links
from pricebook.io.importers.versions import NewVersion, apply_versions
from pricebook.io.tables import Row
from pricebook.labor import MAX_HOURS, MAX_RATE
from pricebook.models import (
    OPERATIONS,
    SHOP_TIERS,
    VEHICLE_CLASSES,
    Branch,
    Category,
    Channel,
    LaborKind,
    LaborRate,
    OperationInclusion,
    Part,
    RateCard,
    RateCardLabor,
    RateCardParts,
    StandardHours,
)
from pricebook.money import MoneyError, parse_plain, quote


def _labor_kinds(ctx: ImportContext) -> dict[str, int]:
    """Labor kinds are fixed: created on first use so every database has the same five."""
    kinds = code_ids(ctx.session, LaborKind)
    missing = {c: {"name": n} for c, n in LABOR_KINDS.items() if c not in kinds}
    if missing and not ctx.dry_run:
        for code, values in missing.items():
            ctx.session.add(LaborKind(code=code, **values))
        ctx.session.flush()
        kinds = code_ids(ctx.session, LaborKind)
    return kinds | {c: 0 for c in missing if c not in kinds}


def import_labor_rates(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    branches = code_ids(ctx.session, Branch)
    kinds = _labor_kinds(ctx)
    items = []
    for n, row in rows:
        branch = lookup_cell(ctx, n, row, "branch_code", branches, "branch")
        kind = lookup_cell(ctx, n, row, "labor_kind", kinds, "labor kind")
        tier = choice_cell(ctx, n, row, "shop_tier", SHOP_TIERS)
        vclass = choice_cell(ctx, n, row, "vehicle_class", VEHICLE_CLASSES)
        rate = money_cell(ctx, n, row, "rate_yuan", maximum=MAX_RATE)
        valid_from, valid_to = date_range_cells(ctx, n, row)
        if not (branch and kind is not None and tier and vclass and rate and valid_from):
            continue
        key = (branch, kind, tier, vclass)
        items.append(
            NewVersion(
                n,
                key,
                valid_from,
                valid_to,
                rate,
                {
                    "branch_id": branch,
                    "labor_kind_id": kind,
                    "shop_tier": tier,
                    "vehicle_class": vclass,
                    "rate_fen": rate,
                    "source": "import",
                    "created_by": ctx.actor,
                    "reason": ctx.reason,
                },
            )
        )
    ctx.raise_if_errors()
    apply_versions(
        ctx,
        LaborRate,
        ("branch_id", "labor_kind_id", "shop_tier", "vehicle_class"),
        lambda r: r["rate_fen"],
        items,
        load_column="branch_id",
    )


def _hours_centi(ctx: ImportContext, n: int, row: Row) -> int | None:
    value = text_cell(ctx, n, row, "hours")
    if not value:
        return None
    try:
        hours = parse_plain(value, places=2, maximum=MAX_HOURS)
    except MoneyError as exc:
        ctx.error(n, "hours", f"hours: {exc}")
        return None
    centi = hours * 100
    return int(centi)


def import_standard_hours(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    parts = code_ids(ctx.session, Part)
    kinds = _labor_kinds(ctx)
    items = []
    inclusions: set[tuple[int, str, int, str]] = set()
    for n, row in rows:
        part = lookup_cell(ctx, n, row, "part_code", parts, "part")
        operation = choice_cell(ctx, n, row, "operation", OPERATIONS)
        vclass = choice_cell(ctx, n, row, "vehicle_class", VEHICLE_CLASSES)
        kind = lookup_cell(ctx, n, row, "labor_kind", kinds, "labor kind")
        centi = _hours_centi(ctx, n, row)
        valid_from, valid_to = date_range_cells(ctx, n, row, default_from=STANDARD_HOURS_EPOCH)
        for included in split_list(row.get("includes", "")):
            op, _, other = included.partition("@")
            if op not in OPERATIONS:
                ctx.error(n, "includes", f"{quote(op)} is not one of {', '.join(OPERATIONS)}")
            elif other and other not in parts:
                ctx.error(n, "includes", f"unknown part {quote(other)}")
            elif part and operation:
                inclusions.add((part, operation, parts[other] if other else part, op))
        if not (part and operation and vclass and kind is not None and centi and valid_from):
            continue
        items.append(
            NewVersion(
                n,
                (part, operation, vclass),
                valid_from,
                valid_to,
                (centi, kind),
                {
                    "part_id": part,
                    "operation": operation,
                    "vehicle_class": vclass,
                    "labor_kind_id": kind,
                    "hours_centi": centi,
                    "created_by": ctx.actor,
                    "reason": ctx.reason,
                },
            )
        )
    ctx.raise_if_errors()
    apply_versions(
        ctx,
        StandardHours,
        ("part_id", "operation", "vehicle_class"),
        lambda r: (r["hours_centi"], r["labor_kind_id"]),
        items,
        load_column="part_id",
    )
    existing = set(
        ctx.session.execute(
            select(
                OperationInclusion.part_id,
                OperationInclusion.operation,
                OperationInclusion.included_part_id,
                OperationInclusion.included_operation,
            )
        )
    )
    ensure_links(
        ctx,
        OperationInclusion,
        inclusions,
        ("part_id", "operation", "included_part_id", "included_operation"),
        existing,
    )


#: a rate card line: ("labor", kind id, rate fen, pct bp) or ("parts", category id, price type
#: id, discount bp)
CardLine = tuple[str, int, int | None, int | None]


def _card_line(
    ctx: ImportContext,
    n: int,
    row: Row,
    kinds: dict[str, int],
    categories: dict[str, int],
    price_types: dict[str, int],
) -> CardLine | None:
    """A rate card row's line as stored: ("labor", kind, rate fen, pct bp) or ("parts",
    category, price type, discount bp); None (with the errors noted) when it is not one."""
    line = choice_cell(ctx, n, row, "line", ("labor", "parts"))
    if line == "labor":
        kind = lookup_cell(ctx, n, row, "labor_kind", kinds, "labor kind")
        rate = money_cell(ctx, n, row, "rate_yuan", required=False, maximum=MAX_RATE)
        pct = (
            basis_points_cell(ctx, n, row, "pct_of_standard", upper=100000)
            if row.get("pct_of_standard", "").strip()
            else None
        )
        if (rate is None) == (pct is None):
            ctx.error(n, "rate_yuan", "give exactly one of rate_yuan and pct_of_standard")
        elif kind is not None:
            return ("labor", kind, rate, pct)
    elif line == "parts":
        category = lookup_cell(ctx, n, row, "category", categories, "category")
        price_type = lookup_cell(
            ctx, n, row, "price_type", price_types, "price type", spelling=price_type_word
        )
        discount = basis_points_cell(ctx, n, row, "discount_pct", upper=9999)
        if category and price_type and discount is not None:
            return ("parts", category, price_type, discount)
    return None


def import_rate_cards(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    session = ctx.session
    cards = _read_cards(ctx, rows)
    ctx.raise_if_errors()
    stored_lines = _stored_card_lines(session)
    items = [
        NewVersion(
            card["row"],
            (channel,),
            valid_from,
            card["valid_to"],
            frozenset(card["lines"].values()),
            {"channel_id": channel, "created_by": ctx.actor, "reason": ctx.reason},
        )
        for (channel, valid_from), card in cards.items()
    ]
    apply_versions(
        ctx,
        RateCard,
        ("channel_id",),
        lambda r: frozenset(stored_lines[r["id"]]),
        items,
        load_column="channel_id",
        on_insert=lambda inserted: _insert_card_lines(session, inserted),
    )


def _read_cards(
    ctx: ImportContext, rows: list[tuple[int, Row]]
) -> dict[tuple[int, date], dict[str, Any]]:
    """The file's cards, by (channel, valid_from): the first row, the end day and the lines."""
    session = ctx.session
    channels = code_ids(session, Channel)
    kinds = _labor_kinds(ctx)
    categories = code_ids(session, Category)
    price_types = price_type_codes(session)
    cards: dict[tuple[int, date], dict[str, Any]] = {}
    for n, row in rows:
        channel = lookup_cell(ctx, n, row, "channel_code", channels, "channel")
        valid_from, valid_to = date_range_cells(ctx, n, row)
        entry = _card_line(ctx, n, row, kinds, categories, price_types)
        if not (channel and valid_from and entry):
            continue
        card = cards.setdefault(
            (channel, valid_from), {"row": n, "valid_to": valid_to, "lines": {}}
        )
        if card["valid_to"] != valid_to:
            ctx.error(n, "valid_to", f"differs from row {card['row']} of the same card")
        line_key = entry[:2]
        if line_key in card["lines"]:
            ctx.error(n, "line", "the card already has this line")
        card["lines"][line_key] = entry
    return cards


def _stored_card_lines(session: Session) -> dict[int, set[CardLine]]:
    """Every stored card's lines, as `_card_line` reads a row's."""
    stored_lines: dict[int, set[CardLine]] = defaultdict(set)
    for r in session.execute(select(RateCardLabor)).scalars():
        stored_lines[r.rate_card_id].add(
            ("labor", r.labor_kind_id, r.rate_fen, r.pct_of_standard_bp)
        )
    for rp in session.execute(select(RateCardParts)).scalars():
        stored_lines[rp.rate_card_id].add(
            ("parts", rp.category_id, rp.price_type_id, rp.discount_bp)
        )
    return stored_lines


def _insert_card_lines(session: Session, inserted: list[NewVersion]) -> None:
    """The lines of the cards just inserted."""
    card_ids = {
        (c, f): i
        for i, c, f in session.execute(
            select(RateCard.id, RateCard.channel_id, RateCard.valid_from)
        )
    }
    labor, parts = [], []
    for item in inserted:
        card_id = card_ids[(item.key[0], item.valid_from)]
        for kind, a, b, bp in item.value:  # type: ignore[attr-defined]  # a frozenset of lines
            if kind == "labor":
                labor.append(
                    {
                        "rate_card_id": card_id,
                        "labor_kind_id": a,
                        "rate_fen": b,
                        "pct_of_standard_bp": bp,
                    }
                )
            else:
                parts.append(
                    {
                        "rate_card_id": card_id,
                        "category_id": a,
                        "price_type_id": b,
                        "discount_bp": bp,
                    }
                )
    if labor:
        session.execute(insert(RateCardLabor), labor)
    if parts:
        session.execute(insert(RateCardParts), parts)
