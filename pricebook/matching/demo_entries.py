"""The demo catalogue (`pricebook.demo.catalog.demo_rows`) as matcher entries.

For tests, the evaluation and benchmarks without a database: ids are synthetic, in row order
starting at 1 (models, brands in order of first appearance, parts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pricebook.matching.index import CatalogEntry
from pricebook.matching.normalize import normalize_oe

__all__ = ["DemoCatalog", "demo_catalog", "entries_from_rows"]

Rows = Mapping[str, Sequence[Mapping[str, str]]]


@dataclass(frozen=True, slots=True)
class DemoCatalog:
    entries: list[CatalogEntry]
    model_ids: dict[str, int]  # model_code → id
    brand_ids: dict[str, int]  # brand_code → id
    model_brands: dict[int, int]  # model id → brand id


def _split(cell: str) -> list[str]:
    return [x.strip() for x in (cell or "").split("|") if x.strip()]


def entries_from_rows(rows: Rows) -> DemoCatalog:
    """Turn import rows (``models``, ``parts``, ``fitment``) into `CatalogEntry` objects."""
    model_ids: dict[str, int] = {}
    brand_ids: dict[str, int] = {}
    model_brands: dict[int, int] = {}
    for row in rows["models"]:
        mid = model_ids.setdefault(row["model_code"], len(model_ids) + 1)
        bid = brand_ids.setdefault(row["brand_code"], len(brand_ids) + 1)
        model_brands[mid] = bid

    fits: dict[str, set[int]] = {}
    for row in rows["fitment"]:
        fits.setdefault(row["part_code"], set()).add(model_ids[row["model_code"]])

    entries: list[CatalogEntry] = []
    for n, row in enumerate(rows["parts"], start=1):
        universal = row.get("universal", "") == "1"
        models = frozenset() if universal else frozenset(fits.get(row["part_code"], ()))
        oes = [
            normalize_oe(o)
            for o in [row.get("oe_number", ""), *_split(row.get("superseded_oe", ""))]
        ]
        entries.append(
            CatalogEntry(
                part_id=n,
                part_code=row["part_code"],
                name=row["name"],
                aliases=tuple(_split(row.get("aliases", ""))),
                oe_numbers=tuple(dict.fromkeys(o for o in oes if o)),
                is_assembly=row.get("is_assembly", "") == "1",
                model_ids=models,
                brand_ids=frozenset(model_brands[m] for m in models),
                category=row.get("category", ""),
                position=row.get("position", ""),
            )
        )
    return DemoCatalog(entries, model_ids, brand_ids, model_brands)


def demo_catalog() -> DemoCatalog:
    """The demo catalogue's parts as entries, with the id maps used to build them."""
    from pricebook.demo.catalog import demo_rows

    return entries_from_rows(demo_rows())
