"""The prices kind: one price version per row, keyed by part, model, scope and price type."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pricebook.io.importers.cells import (
    ImportContext,
    code_ids,
    date_range_cells,
    lookup_cell,
    money_cell,
    price_type_codes,
    price_type_word,
    text_cell,
)
from pricebook.io.importers.versions import NewVersion, apply_versions
from pricebook.io.tables import Row
from pricebook.models import PRICE_SOURCES, Branch, Part, Price, Region, VehicleModel
from pricebook.money import quote


def _scope_codes(session: Session) -> dict[str, tuple[str, int | None]]:
    """Scope cell → (scope, region or branch id); region and branch codes share one namespace."""
    scopes: dict[str, tuple[str, int | None]] = {"system": ("system", None)}
    scopes |= {code: ("region", id_) for code, id_ in code_ids(session, Region).items()}
    scopes |= {code: ("branch", id_) for code, id_ in code_ids(session, Branch).items()}
    return scopes


def import_prices(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    session = ctx.session
    parts = code_ids(session, Part)
    models = code_ids(session, VehicleModel)
    price_types = price_type_codes(session)
    scopes = _scope_codes(session)
    items: list[NewVersion] = []
    for n, row in rows:
        part = lookup_cell(ctx, n, row, "part_code", parts, "part")
        model = lookup_cell(ctx, n, row, "model_code", models, "model", required=False)
        scope_cell = text_cell(ctx, n, row, "scope")
        scope = scopes.get(scope_cell or "")
        if scope_cell and scope is None:
            ctx.error(
                n, "scope", f"{quote(scope_cell)} is not system, a region code or a branch code"
            )
        price_type = lookup_cell(
            ctx, n, row, "price_type", price_types, "price type", spelling=price_type_word
        )
        amount = money_cell(ctx, n, row, "amount_yuan")
        valid_from, valid_to = date_range_cells(ctx, n, row)
        source = row.get("source", "").strip() or "import"
        if source not in PRICE_SOURCES:
            ctx.error(n, "source", f"{quote(source)} is not one of {', '.join(PRICE_SOURCES)}")
        if not (part and scope and price_type and amount and valid_from):
            continue
        scope_name, target = scope
        region_id = target if scope_name == "region" else None
        branch_id = target if scope_name == "branch" else None
        key = (part, model, scope_name, region_id, branch_id, price_type)
        items.append(
            NewVersion(
                n,
                key,
                valid_from,
                valid_to,
                amount,
                {
                    "part_id": part,
                    "model_id": model,
                    "scope": scope_name,
                    "region_id": region_id,
                    "branch_id": branch_id,
                    "price_type_id": price_type,
                    "amount_fen": amount,
                    "source": source,
                    "source_ref": ctx.source_ref,
                    "created_by": ctx.actor,
                    "reason": row.get("reason", "").strip() or ctx.reason,
                },
            )
        )
    ctx.raise_if_errors()
    apply_versions(
        ctx,
        Price,
        ("part_id", "model_id", "scope", "region_id", "branch_id", "price_type_id"),
        lambda r: r["amount_fen"],
        items,
        load_column="part_id",
    )
