"""Rows the indicator tests write straight into the database: estimate validations over the
test catalogue (`tests/catalog_rows.py`), and the ids of that catalogue they refer to."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pricebook.models import Branch, EstimateValidation, Part, PriceType, VehicleModel


def catalog_ids(session: Session) -> dict[str, int]:
    """The ids the worked example refers to, by short name (m1, P1, SZ01, 4s …)."""

    def of(model, code):
        return session.scalar(select(model.id).where(model.code == code))

    return {
        "m1": of(VehicleModel, "VW-LAVIDA-2023"), "m2": of(VehicleModel, "TY-COROLLA-2022"),
        "P1": of(Part, "VW1-0001"), "P2": of(Part, "VW1-0002"), "P3": of(Part, "VW1-0003"),
        "P4": of(Part, "VW1-0004"), "SZ01": of(Branch, "SZ01"), "GD01": of(Branch, "GD01"),
        "4s": of(PriceType, "4s"), "brand": of(PriceType, "brand"),
    }  # fmt: skip


def add_validation(
    session: Session,
    estimate: str,
    version: int,
    day: date,
    branch: int,
    model: int | None,
    parts: list[int | None],
    part_lines: int,
    custom: int,
) -> None:
    """A stored validation of `estimate` as the indicators count it: its part lines, how many
    were custom, the parts it named and whether a model was picked."""
    session.execute(
        insert(EstimateValidation).values(
            estimate_id=estimate,
            estimate_version=version,
            estimate_date=day,
            branch_id=branch,
            vin="",
            model_id=model,
            model_selected=model is not None,
            part_lines=part_lines,
            custom_part_lines=custom,
            custom_matched=0,
            claimed_fen=0,
            allowed_fen=0,
            cut_fen=0,
            profile_id=None,
            profile_code="default",
            profile_version=1,
            replaced_part_ids=[],
            part_ids=[p for p in parts if p],
            request={},
            result={},
        )
    )
