"""The statements `load_refs` and `validate` run, built once per process."""

from __future__ import annotations

import functools
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
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
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.orm.util import AliasedClass

from pricebook.days import from_iso
from pricebook.db import dialect_of, in_list
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
from pricebook.prices.union import PRICE_COLUMNS
from pricebook.versioned import V, VersionedRow, in_force

_ON = bindparam("on", type_=Date)


def _in_force_on(model: type[VersionedRow] | AliasedClass[V]) -> ColumnElement[bool]:
    """`versioned.in_force` on the bound parameter `on` (for the prebuilt statements)."""
    return in_force(model, _ON)


#: a branch as `_BranchRow` holds it
BRANCH_COLUMNS = (
    Branch.id,
    Branch.code,
    Branch.name,
    Branch.parent_id,
    Branch.region_id,
    Branch.authority_limit_fen,
)

_PART_COLS = (
    Part.id,
    Part.code,
    Part.name,
    Part.category_id,
    Category.code,
    Part.is_assembly,
    Part.universal,
    Part.unit,
    Part.oe_normalized,
)


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
        self._catalogue()
        self._labor()
        self._claims()
        self._validations()
        self._inclusions()
        self._static()

    def _catalogue(self) -> None:
        """The vehicle, profiles, parts (by id, by OE, superseded OE), components, fitment and
        prices."""
        self.vehicle = (
            select(
                VehicleModel.id,
                VehicleModel.code,
                VehicleModel.name,
                VehicleModel.vehicle_class,
                Brand.id,
                Brand.name,
            )
            .join(Series, Series.id == VehicleModel.series_id)
            .join(Brand, Brand.id == Series.brand_id)
            .where(VehicleModel.id == bindparam("model_id"))
        )
        self.profiles = select(RuleProfileVersion).where(
            or_(
                self._in(RuleProfileVersion.branch_id, "branch_ids"),
                RuleProfileVersion.branch_id.is_(None),
            ),
            _in_force_on(RuleProfileVersion),
        )
        parts = select(*_PART_COLS).join(Category, Category.id == Part.category_id)
        self.parts = parts.where(self._in(Part.id, "part_ids"))
        superseded = select(OeSupersession.part_id).where(
            self._in(OeSupersession.old_oe_normalized, "oes")
        )
        self.parts_oe = parts.where(
            or_(
                self._in(Part.id, "part_ids"),
                self._in(Part.oe_normalized, "oes"),
                Part.id.in_(superseded),
            )
        )
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
            select(*PRICE_COLUMNS)
            .where(
                self._in(Price.part_id, "part_ids"),
                _in_force_on(Price),
                or_(
                    Price.scope == "system",
                    self._in(Price.region_id, "region_ids"),
                    self._in(Price.branch_id, "branch_ids"),
                ),
            )
            .order_by(Price.id)
        )

    def _labor(self) -> None:
        """A channel's card, branch labor rates, standard hours and operation inclusions."""
        self.card_parts = (
            select(
                Channel.id,
                RateCard.id,
                RateCard.valid_from,
                RateCard.valid_to,
                RateCard.created_by,
                RateCard.reason,
                RateCardParts.category_id,
                RateCardParts.price_type_id,
                RateCardParts.discount_bp,
            )
            .outerjoin(RateCard, and_(RateCard.channel_id == Channel.id, _in_force_on(RateCard)))
            .outerjoin(RateCardParts, RateCardParts.rate_card_id == RateCard.id)
            .where(Channel.code == bindparam("channel"))
        )
        self.card_labor = (
            select(
                RateCardLabor.rate_card_id,
                RateCardLabor.labor_kind_id,
                RateCardLabor.rate_fen,
                RateCardLabor.pct_of_standard_bp,
            )
            .join(RateCard, RateCard.id == RateCardLabor.rate_card_id)
            .join(Channel, Channel.id == RateCard.channel_id)
            .where(Channel.code == bindparam("channel"), _in_force_on(RateCard))
        )
        self.labor_rates = select(
            LaborRate.id,
            LaborRate.branch_id,
            LaborRate.labor_kind_id,
            LaborRate.rate_fen,
            LaborRate.valid_from,
        ).where(
            self._in(LaborRate.branch_id, "branch_ids"),
            LaborRate.shop_tier == bindparam("tier"),
            LaborRate.vehicle_class == bindparam("vclass"),
            _in_force_on(LaborRate),
        )
        self.hours = (
            select(
                StandardHours.id,
                StandardHours.part_id,
                StandardHours.operation,
                StandardHours.hours_centi,
                StandardHours.vehicle_class,
                StandardHours.valid_from,
                LaborKind.code,
            )
            .join(LaborKind, LaborKind.id == StandardHours.labor_kind_id)
            .where(
                self._in(StandardHours.part_id, "part_ids"),
                StandardHours.vehicle_class == bindparam("vclass"),
                _in_force_on(StandardHours),
            )
        )

    def _inclusions(self) -> None:
        """Operation inclusions, followed from the estimate's parts."""
        # every inclusion reachable from an operation on the estimate's parts (A includes B, B
        # includes C …, through parts not on the estimate too), with the included part's row;
        # UNION (not UNION ALL) ends cycles: an inclusion already found is not followed again
        # (`root`: the estimate's part it was reached from, so that each part's closure can
        # be kept on its own)
        inc = OperationInclusion
        start = (
            select(
                inc.part_id.label("root"),
                inc.id,
                inc.part_id,
                inc.operation,
                inc.included_part_id,
                inc.included_operation,
            )
            .where(self._in(inc.part_id, "part_ids"))
            .cte("inclusion_closure", recursive=True)
        )
        step = aliased(OperationInclusion)
        closure = start.union(
            select(
                start.c.root,
                step.id,
                step.part_id,
                step.operation,
                step.included_part_id,
                step.included_operation,
            ).join(
                start,
                and_(
                    step.part_id == start.c.included_part_id,
                    step.operation == start.c.included_operation,
                ),
            )
        )
        self.inclusions = (
            select(
                closure.c.root,
                closure.c.id,
                closure.c.part_id,
                closure.c.operation,
                closure.c.included_part_id,
                closure.c.included_operation,
                *_PART_COLS,
            )
            .join(Part, Part.id == closure.c.included_part_id)
            .join(Category, Category.id == Part.category_id)
            .order_by(closure.c.root, closure.c.id)
        )

    def _claims(self) -> None:
        """Consumable standards, rescue tariffs and the VIN's earlier claims."""
        self.consumables = select(ConsumableStandardVersion).where(
            self._in(ConsumableStandardVersion.kind, "kinds"),
            or_(
                ConsumableStandardVersion.vehicle_class.is_(None),
                ConsumableStandardVersion.vehicle_class == bindparam("vclass"),
            ),
            _in_force_on(ConsumableStandardVersion),
        )
        self.rescue = select(RescueTariffVersion).where(
            self._in(RescueTariffVersion.region_id, "region_ids"),
            _in_force_on(RescueTariffVersion),
        )
        self.earlier = select(
            EstimateValidation.id,
            EstimateValidation.estimate_id,
            EstimateValidation.estimate_version,
            EstimateValidation.estimate_date,
            EstimateValidation.replaced_part_ids,
        ).where(
            EstimateValidation.vin == bindparam("vin"),
            EstimateValidation.estimate_id != bindparam("estimate_id"),
            EstimateValidation.estimate_date <= _ON,
            EstimateValidation.estimate_date >= bindparam("since"),
        )

    def _validations(self) -> None:
        """The opening statement, the stored validation, the INSERTs and (PostgreSQL) the static
        tables in one row."""
        # a validation's first statement, one round trip for three things: the generation,
        # the newest stored validation of the estimate id and version (its id, or NULL), and
        # the earlier validations of the VIN (a row each, or one row of NULLs: an outer join).
        # The profile, and so the repeat-claim window, is not known yet: `load_refs` applies it.
        # `owner` (a key id, or NULL for any) limits the stored validation to one key's.
        owner = cast(bindparam("owner", type_=Integer), Integer)
        stored = (
            select(func.max(EstimateValidation.id))
            .where(
                EstimateValidation.estimate_id == bindparam("estimate_id"),
                EstimateValidation.estimate_version == bindparam("version"),
                or_(owner.is_(None), EstimateValidation.created_by_key_id == owner),
            )
            .scalar_subquery()
        )
        prior = aliased(EstimateValidation, name="prior")  # not correlated with `stored`
        self.opening = (
            select(
                ReferenceGeneration.token,
                ReferenceGeneration.value,
                ReferenceGeneration.prices,
                stored,
                prior.id,
                prior.estimate_id,
                prior.estimate_version,
                prior.estimate_date,
                prior.replaced_part_ids,
            )
            .select_from(ReferenceGeneration)
            .outerjoin(
                prior,
                and_(
                    prior.vin == bindparam("vin"),
                    prior.estimate_id != bindparam("estimate_id"),
                    prior.estimate_date <= _ON,
                ),
            )
            .where(ReferenceGeneration.id == 1)
            .order_by(prior.id)
        )
        self.stored = select(
            EstimateValidation.id,
            EstimateValidation.created_at,
            EstimateValidation.created_by,
            EstimateValidation.request,
            EstimateValidation.result,
        ).where(EstimateValidation.id == bindparam("id"))
        table = EstimateValidation.metadata.tables[EstimateValidation.__tablename__]
        self.insert = insert(table).returning(table.c.id, table.c.created_at)
        # several validations in one statement, RETURNING in the order of their rows
        self.insert_many = insert(table).returning(
            table.c.id, table.c.created_at, sort_by_parameter_order=True
        )

    def _static(self) -> None:
        """PostgreSQL: the static tables, the vehicle and the profiles in force in one row."""
        if not self.pg or self.prefix:
            return

        # `_load_static_with`: one row, a JSON array per table (each a scalar subquery)
        def rows(*columns: QueryableAttribute[object]) -> ColumnElement[object]:
            return func.json_agg(func.json_build_array(*columns))

        vehicle = self.vehicle.with_only_columns(
            func.json_build_array(*self.vehicle.selected_columns)
        )
        rpv = RuleProfileVersion
        self.static = select(
            select(rows(*BRANCH_COLUMNS)).scalar_subquery(),
            select(rows(Region.id, Region.code, Region.parent_id, Region.name)).scalar_subquery(),
            select(
                rows(PriceType.id, PriceType.code, PriceType.name, PriceType.rank)
            ).scalar_subquery(),
            select(rows(LaborKind.id, LaborKind.code, LaborKind.name)).scalar_subquery(),
            vehicle.scalar_subquery(),
            select(rows(rpv.id, rpv.code, rpv.branch_id, rpv.version, rpv.settings))
            .where(_in_force_on(rpv))
            .scalar_subquery(),
        )

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
            rows = [(*r[:8], from_iso(r[8]), r[9] and from_iso(r[9]), *r[10:]) for r in rows]
        elif name == "hours":
            rows = [_HoursRow(r[0], r[1], r[2], r[3], r[4], from_iso(r[5]), r[6]) for r in rows]
        out[name] = rows
    return out


@functools.cache
def _statements_for(dialect: str) -> _Statements:
    return _Statements(dialect)


def _statements(db: Session | Connection) -> _Statements:
    return _statements_for(dialect_of(db))
