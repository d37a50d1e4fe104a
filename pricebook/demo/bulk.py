"""Bulk loading shared by the generated catalogues (`demo scale`, `demo scale --national`): the
demo's part templates, rows streamed into COPY (batched INSERTs on SQLite) with a progress bar,
and the id sequences moved past the explicit ids COPY gave."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.orm import Session

from pricebook.db import session_factory
from pricebook.matching.normalize import normalize_oe
from pricebook.models import (
    Base,
    Brand,
    Category,
    Fitment,
    Part,
    PartAlias,
    Price,
    PriceType,
    Series,
    VehicleModel,
)
from pricebook.progress import ProgressBar

#: a generated row as COPY writes it: its columns in `TABLES` order
BulkRow = tuple[int | str | bool | date | None, ...]

#: what each generated table is written with: its progress bar's name → (table, the columns
#: in the order its rows give them)
TABLES: dict[str, tuple[str, list[str]]] = {
    "models": ("vehicle_models", [
        "id", "code", "series_id", "name", "model_year", "body", "engine", "vehicle_class",
        "price_band", "manufacturer_code", "search_text",
    ]),
    "parts": ("parts", [
        "id", "code", "name", "category_id", "position", "unit", "oe_number", "oe_normalized",
        "is_assembly", "universal",
    ]),
    "aliases": ("part_aliases", ["part_id", "alias"]),
    "fitment": ("fitments", ["part_id", "model_id"]),
    "prices": ("prices", [
        "part_id", "model_id", "scope", "region_id", "branch_id", "price_type_id", "amount_fen",
        "valid_from", "valid_to", "source", "source_ref", "created_by", "reason",
    ]),
}  # fmt: skip
#: the catalogue tables both generators fill, ANALYZEd after them
FILLED = (Brand, Series, VehicleModel, Part, PartAlias, Fitment, Price)


def part_templates() -> list[dict[str, str]]:
    """The demo's parts of one carmaker (universal parts left out), repeated per platform."""
    from pricebook.demo import demo_rows

    rows = [r for r in demo_rows()["parts"] if r.get("universal", "0") != "1"]
    prefix = rows[0]["part_code"].split("-")[0]
    return [r for r in rows if r["part_code"].startswith(prefix + "-")]


def model_row(
    model_id: int, code: str, series_id: int, name: str, year: int, vehicle_class: str, search: str
) -> BulkRow:
    """A generated model's row (`TABLES` "models"): a 1.5L saloon."""
    return (model_id, code, series_id, name, year, "三厢", "1.5L", vehicle_class, "", "", search)


def part_row(
    part_id: int, code: str, template: dict[str, str], categories: dict[str, int], oe: str
) -> BulkRow:
    """A generated part's row (`TABLES` "parts"): the template's name, category, position and
    assembly flag under its own code and OE number."""
    category = categories[template["category"]]
    assembly = template.get("is_assembly") == "1"
    position = template.get("position", "")
    return (
        part_id,
        code,
        template["name"],
        category,
        position,
        "个",
        oe,
        normalize_oe(oe),
        assembly,
        False,
    )


def alias_rows(start_part: int, templates: list[dict[str, str]], parts: int) -> Iterator[BulkRow]:
    """The aliases of `parts` generated parts from `start_part`, each its template's."""
    for i in range(parts):
        for alias in [a for a in templates[i % len(templates)]["aliases"].split("|") if a]:
            yield start_part + i, alias


def ensure_demo(engine: Engine) -> None:
    """Load the demo catalogue unless the database has one."""
    from pricebook.demo import load_demo

    with session_factory(engine)() as session:
        if not session.scalar(select(func.count()).select_from(Category)):
            session.close()
            for _ in load_demo(engine):
                pass


def catalogue_ids(session: Session) -> tuple[dict[str, int], list[int], int, int]:
    """Category code → id, the price types best-ranked first, and the first free model and part
    ids (the generated rows are given explicit ids from there)."""
    categories = dict(session.execute(select(Category.code, Category.id)).all())
    price_types = list(session.scalars(select(PriceType.id).order_by(PriceType.rank.desc())))
    start_model = (session.scalar(select(func.max(VehicleModel.id))) or 0) + 1
    start_part = (session.scalar(select(func.max(Part.id))) or 0) + 1
    return categories, price_types, start_model, start_part


def copy_table(
    session: Session, name: str, rows: Iterator[BulkRow], total: int | None = None
) -> tuple[int, float]:
    """Write `rows` into the table `TABLES` names `name`, behind a progress bar of that name;
    returns the rows written and the seconds taken."""
    bar = ProgressBar(name, total)
    table, columns = TABLES[name]
    count = copy_rows(session, Base.metadata.tables[table], columns, rows, bar)
    return count, bar.finish()


def copy_rows(
    session: Session, table: Table, columns: list[str], rows: Iterator[BulkRow], bar: ProgressBar
) -> int:
    connection = session.connection()
    count = 0
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None  # a pooled connection is open
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
                if count % 20000 == 0:
                    bar(count)
    else:
        batch: list[dict[str, object]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            count += 1
            if len(batch) == 5000:
                session.execute(insert(table), batch)
                batch.clear()
                bar(count)
        if batch:
            session.execute(insert(table), batch)
    bar(count)
    return count


def move_sequences(session: Session) -> None:
    """COPY gave the models and parts explicit ids: move their sequences past them (PostgreSQL)."""
    if session.connection().dialect.name == "postgresql":
        for table in ("vehicle_models", "parts"):
            session.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
