"""What every table shares: the metadata with its constraint naming convention, the value
lists the CHECK constraints name, and the version and audit columns as mixins."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    String,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PRICE_SCOPES = ("system", "region", "branch")
PRICE_SOURCES = ("system", "staff", "import", "feedback", "market")
OPERATIONS = ("replace", "repair", "paint", "remove_refit")
SHOP_TIERS = ("4s", "class1", "class2", "class3")
VEHICLE_CLASSES = ("A", "B", "C", "D", "E")
REGION_LEVELS = ("country", "province", "city")
BRANCH_KINDS = ("branch", "sub_branch")
CHANNEL_KINDS = ("repair_shop", "dealer_group", "parts_platform")
ROLES = ("estimate_tool", "reviewer", "pricing_staff", "admin")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {str: String(), dict[str, Any]: JSON()}


def _now() -> Any:
    return func.current_timestamp()


#: when a row was written, by the database's clock
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=_now())]


class Period:
    """A version's validity: in force from `valid_from`, until `valid_to` (None: open-ended)."""

    valid_from: Mapped[date]
    valid_to: Mapped[date | None]


class Recorded:
    """Who wrote a row, why and when: the audit columns of every staff-edited table."""

    created_by: Mapped[str]
    reason: Mapped[str] = mapped_column(default="")
    created_at: Mapped[CreatedAt]
