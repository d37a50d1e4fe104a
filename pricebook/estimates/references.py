"""Every reference an estimate's rules need, in a fixed number of statements whatever the
number of lines (`load_refs`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pricebook import review
from pricebook.days import days_from
from pricebook.errors import InvalidInput
from pricebook.estimates.lines import _check_damaged_components, _named_parts
from pricebook.estimates.memo import (
    MAX_REFERENCES,
    Generation,
    HoursKey,
    PriceKey,
    _Card,
    _connection,
    _load_static,
    _load_static_with,
    _Loaded,
    _looked_up,
    _Place,
    _ProfileRow,
    _References,
    _references,
    _Static,
    profile_of,
)
from pricebook.estimates.statements import _load_part_refs, _Statements, _statements
from pricebook.estimates.tariffs import _labor_rates, _load_card, _load_rescue
from pricebook.money import from_fen
from pricebook.prices import (
    PriceVersion,
)

#: where prices are read: the branch chain's branch ids, its region ids and the estimate date
Where = tuple[tuple[int, ...], tuple[int, ...], date]
#: an earlier validation of the VIN: id, estimate id, version, date, replaced part ids
EarlierRow = tuple[int, str, int, date, list[int] | None]


def load_refs(
    session: Session | Connection,
    estimate: review.Estimate,
    matches: dict[int, review.MatchInfo],
    *,
    keep: int = MAX_REFERENCES,
    generation: Generation | None = None,
    prior: Sequence[EarlierRow] | None = None,
) -> review.Refs:
    """Everything `review.review` needs, in a fixed number of statements whatever the line
    count: one for the reference generation (unless given), then at most one per kind of
    reference this process does not hold yet for that generation (`_References`): the small
    static tables, vehicle, profile, parts, components, fitment, prices, labor rates, standard
    hours, inclusions, the channel's card, consumable standards, the rescue tariff — and,
    always, what is not kept: OE lookups, earlier claims on the VIN (unless given: `prior`, the
    VIN's earlier validations up to the estimate date, as `_Statements.opening` reads them).
    The statements are built once per process (`_Statements`); the stages below run in order,
    each reading what the memo lacks (the figure in brackets: its statements)."""
    # Core queries on the connection: the ORM layer would only add overhead
    db = _connection(session)
    load = _Loading(db, _statements(session), _references(db, keep, generation), estimate)  # (0–1)
    load.static_tables()  # (0–1 on PostgreSQL, with the vehicle and profiles; 0 or 4 on SQLite)
    place = load.place()
    load.check_price_types()
    vehicle = load.vehicle()  # (0–1)
    profile = load.profile(place)  # (0–1)
    vclass = (
        (vehicle.vehicle_class if vehicle else None)
        or estimate.vehicle.vehicle_class
        or profile.settings.default_vehicle_class
    )
    parts, oe_parts = load.parts(matches)  # (0–1; by OE 0 or 2)
    components = load.components(parts)  # (0–1)
    line_part_ids = list(parts)
    where = (tuple(place.branch_ids), tuple(place.region_ids), load.on)
    with_labor = bool(line_part_ids) and any(
        isinstance(line, review.LaborLine) for line in estimate.lines
    )
    load.prefetch(line_part_ids, vehicle, where, vclass, with_labor)  # (0–1 on PostgreSQL)
    fitted = load.fitment(line_part_ids, vehicle)  # (0–1)
    versions = load.prices(line_part_ids, where)  # (0–1)
    card = load.card()  # (0–2)
    load.check_labor_kinds()
    labor = load.labor_rates(place, vclass, card)  # (0–1)
    hours, inclusions = load.hours_and_inclusions(line_part_ids, vclass, parts, with_labor)  # (0–2)
    channel = estimate.shop.channel_code
    resolved = load.memo.resolved.setdefault((*where, channel), {})
    if len(resolved) > keep:
        resolved.clear()
    static = load.static
    refs = review.Refs(
        resolved=resolved,
        branch=place.branch,
        profile=profile,
        vehicle=vehicle,
        parts=parts,
        oe_parts=oe_parts,
        matches=matches,
        components=components,
        fitted=fitted,
        price_versions=versions,
        chain=place.chain,
        price_types=static.price_types,
        card_parts=card.parts,
        labor_rates=labor,
        labor_kinds=static.labor_kinds,
        hours=hours,
        inclusions=tuple(inclusions),
        consumables=load.consumables(vclass),  # (0–1)
        rescue=load.rescue(place),  # (0–1)
        earlier=load.earlier(profile, prior),  # (0–1)
    )
    _check_damaged_components(estimate, refs)
    return refs


def _part_info(row: Any) -> review.PartInfo:
    return review.PartInfo(*row[:9])


@dataclass(slots=True)
class _Loading:
    """One estimate's references being loaded: where they are read (the connection, the
    process's statements, its memo for the database's generation) and the static tables and
    the prefetched rows the later stages share."""

    db: Connection
    q: _Statements
    memo: _References
    estimate: review.Estimate
    #: the small tables read together with the vehicle and profiles (PostgreSQL, memo empty)
    loaded: _Loaded | None = None
    #: fitment, prices, hours and inclusions the memo lacked, read in one statement (PostgreSQL)
    pre: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def on(self) -> date:
        return self.estimate.date

    @property
    def static(self) -> _Static:
        assert self.memo.static is not None  # `static_tables` ran first
        return self.memo.static

    def static_tables(self) -> None:
        """Branches, regions, price types, labor kinds."""
        memo = self.memo
        _looked_up(memo.static is not None, memo.static is None)
        if memo.static is None and self.q.pg:
            self.loaded = _load_static_with(
                self.db, self.q, self.estimate.vehicle.model_id, self.on
            )
            memo.static = self.loaded.static
        elif memo.static is None:
            memo.static = _load_static(self.db)

    def place(self) -> _Place:
        code = self.estimate.branch
        place = self.memo.places.get(code)
        _looked_up(place is not None, place is None)
        if place is None:
            branch = self.static.branch_by_code.get(code)
            if branch is None:
                raise InvalidInput(f"no branch with code {code!r}", field="branch")
            place = self.memo.places[code] = _Place.of(branch, self.static)
        return place

    def check_price_types(self) -> None:
        type_codes = self.static.type_codes
        for line in self.estimate.lines:
            if (
                isinstance(line, review.PartLine)
                and line.price_type
                and line.price_type not in type_codes
            ):
                raise InvalidInput(
                    f"line {line.index + 1}: price_type must be one of {', '.join(sorted(type_codes))}",
                    field=f"lines[{line.index}].price_type",
                )

    def check_labor_kinds(self) -> None:
        labor_kinds = self.static.labor_kinds
        for line in self.estimate.lines:
            if isinstance(line, review.LaborLine) and line.labor_kind not in labor_kinds:
                raise InvalidInput(
                    f"line {line.index + 1}: labor_kind must be one of {', '.join(sorted(labor_kinds))}",
                    field=f"lines[{line.index}].labor_kind",
                )

    def vehicle(self) -> review.VehicleInfo | None:
        model_id, vehicles = self.estimate.vehicle.model_id, self.memo.vehicles
        if model_id is None:
            return None
        _looked_up(model_id in vehicles, model_id not in vehicles)
        if model_id not in vehicles:
            if self.loaded is not None:
                row = self.loaded.vehicle
            else:
                row = self.db.execute(self.q.vehicle, {"model_id": model_id}).first()
            vehicles[model_id] = (
                None
                if row is None
                else review.VehicleInfo(row[0], row[1], row[2], row[4], row[5], row[3])
            )
            self.memo.entries += 1
        vehicle = vehicles[model_id]
        if vehicle is None:
            raise InvalidInput(f"no vehicle model with id {model_id}", field="vehicle.model_id")
        return vehicle

    def profile(self, place: _Place) -> review.RuleProfile:
        """The branch's rule profile, else its nearest parent's, else the default."""
        branch_ids = place.branch_ids
        key = (tuple(branch_ids), self.on)
        profile = self.memo.profiles.get(key)
        _looked_up(profile is not None, profile is None)
        if profile is not None:
            return profile
        if self.loaded is not None:
            rows = [
                p for p in self.loaded.profiles if p.branch_id is None or p.branch_id in branch_ids
            ]
        else:
            rows = [
                _ProfileRow(r.id, r.code, r.branch_id, r.version, r.settings)
                for r in self.db.execute(self.q.profiles, {"branch_ids": branch_ids, "on": self.on})
            ]
        depth = {bid: n for n, bid in enumerate(branch_ids)}
        rows.sort(
            key=lambda r: (
                depth.get(r.branch_id, len(depth)) if r.branch_id else len(depth) + 1,
                -r.id,
            )
        )
        best = rows[0] if rows else None
        branches = self.static.branches
        profile = profile_of(
            best, branches[best.branch_id].code if best and best.branch_id else None
        )
        self.memo.profiles[key] = profile
        return profile

    def parts(
        self, matches: dict[int, review.MatchInfo]
    ) -> tuple[dict[int, review.PartInfo], dict[str, int]]:
        """The parts the lines name: by id, by matched custom name, by OE number (current or
        superseded), and the components named as damaged (with the parts, so that one the
        catalogue has but that is not a component of the line's assembly, a 422, is told from
        one the catalogue lacks)."""
        part_ids, oes = _named_parts(self.estimate, matches)
        memo = self.memo
        parts: dict[int, review.PartInfo] = {}
        oe_parts: dict[str, int] = {}
        missing = [pid for pid in part_ids if pid not in memo.parts]
        _looked_up(len(part_ids) - len(missing), len(missing))
        if missing or oes:
            statement = self.q.parts_oe if oes else self.q.parts
            for row in self.db.execute(statement, {"part_ids": missing, "oes": list(oes)}):
                memo.parts[row[0]] = parts[row[0]] = _part_info(row)
                if row[8] in oes:
                    oe_parts.setdefault(row[8], row[0])
            for pid in missing:
                memo.parts.setdefault(pid, None)  # not in the catalogue
            memo.entries += len(missing)
        if oes - set(oe_parts):
            for old, pid in self.db.execute(self.q.superseded, {"oes": list(oes - set(oe_parts))}):
                oe_parts.setdefault(old, pid)
        for pid in part_ids:
            if (info := memo.parts[pid]) is not None:
                parts.setdefault(pid, info)
        return parts, oe_parts

    def components(
        self, parts: dict[int, review.PartInfo]
    ) -> dict[int, tuple[review.Component, ...]]:
        """Assemblies' components, with their own part rows (added to `parts`)."""
        memo = self.memo

        def load(assemblies: list[int]) -> dict[int, tuple[review.Component, ...]]:
            found: dict[int, list[review.Component]] = defaultdict(list)
            for assembly_id, quantity, *row in self.db.execute(
                self.q.components, {"assemblies": assemblies}
            ):
                found[assembly_id].append(review.Component(row[0], quantity))
                memo.parts[row[0]] = _part_info(row)
            return {a: tuple(comps) for a, comps in found.items()}

        assemblies = [p.id for p in parts.values() if p.is_assembly]
        memo.fill(memo.components, assemblies, load, ())
        components = {a: memo.components[a] for a in assemblies if memo.components[a]}
        for comps in components.values():
            for c in comps:
                parts.setdefault(c.part_id, _catalogue_part(memo, c.part_id))
        return components

    def prefetch(
        self,
        part_ids: list[int],
        vehicle: review.VehicleInfo | None,
        where: Where,
        vclass: str,
        with_labor: bool,
    ) -> None:
        """PostgreSQL: what the memo lacks of fitment, prices, standard hours and inclusions in
        one statement; each kind's stage below takes its rows from it."""
        if not (self.q.pg and part_ids):
            return
        memo, on = self.memo, self.on
        wants = (
            [pid for pid in part_ids if (vehicle.model_id, pid) not in memo.fitted]
            if vehicle is not None
            else [],
            [pid for pid in part_ids if (pid, *where) not in memo.prices],
            [pid for pid in part_ids if (pid, vclass, on) not in memo.hours] if with_labor else [],
            [pid for pid in part_ids if pid not in memo.inclusions] if with_labor else [],
        )
        kinds = tuple(bool(w) for w in wants)
        if any(kinds):
            self.pre = _load_part_refs(
                self.db,
                kinds,
                {
                    "model_id": vehicle.model_id if vehicle is not None else None,
                    "f_part_ids": wants[0],
                    "p_part_ids": wants[1],
                    "h_part_ids": wants[2],
                    "i_part_ids": wants[3],
                    "p_region_ids": list(where[1]),
                    "p_branch_ids": list(where[0]),
                    "on": on,
                    "vclass": vclass,
                },
            )

    def fitment(
        self, part_ids: list[int], vehicle: review.VehicleInfo | None
    ) -> dict[int, bool | None]:
        """Whether each part fits the selected model; a part with no fitment recorded at all
        is left out."""
        fitted: dict[int, bool | None] = {}
        if vehicle is None or not part_ids:
            return fitted
        mid = vehicle.model_id

        def load(keys: list[tuple[int, int]]) -> dict[tuple[int, int], bool]:
            rows = (
                self.pre["fitment"]
                if self.pre
                else self.db.execute(
                    self.q.fitment, {"model_id": mid, "part_ids": [pid for _, pid in keys]}
                )
            )
            return {(mid, pid): bool(fits) for pid, fits in rows}

        self.memo.fill(self.memo.fitted, [(mid, pid) for pid in part_ids], load, None)
        for pid in part_ids:
            if (fits := self.memo.fitted[(mid, pid)]) is not None:
                fitted[pid] = fits
        return fitted

    def prices(self, part_ids: list[int], where: Where) -> dict[int, tuple[PriceVersion, ...]]:
        """The prices in force of every part and component, on the chain's scopes."""
        branch_ids, region_ids, on = list(where[0]), list(where[1]), self.on

        def load(keys: list[PriceKey]) -> dict[PriceKey, tuple[PriceVersion, ...]]:
            found: dict[PriceKey, list[PriceVersion]] = defaultdict(list)
            for p in (
                self.pre["prices"]
                if self.pre
                else self.db.execute(
                    self.q.prices,
                    {
                        "part_ids": [k[0] for k in keys],
                        "on": on,
                        "region_ids": region_ids,
                        "branch_ids": branch_ids,
                    },
                )
            ):
                found[(p[1], *where)].append(
                    PriceVersion(
                        p[0],
                        p[1],
                        p[2],
                        p[3],
                        p[4],
                        p[5],
                        p[6],
                        from_fen(p[7]),
                        p[8],
                        p[9],
                        p[10],
                        p[11],
                        p[12],
                        p[13],
                    )
                )
            return {k: tuple(v) for k, v in found.items()}

        memo = self.memo
        memo.fill(memo.prices, [(pid, *where) for pid in part_ids], load, ())
        return {pid: v for pid in part_ids if (v := memo.prices[(pid, *where)])}

    def card(self) -> _Card:
        """The channel's rate card: parts terms and labor lines (none without a channel)."""
        channel, on, cards = self.estimate.shop.channel_code, self.on, self.memo.cards
        if not channel:
            return _Card({}, {})
        _looked_up((channel, on) in cards, (channel, on) not in cards)
        if (channel, on) not in cards:
            cards[(channel, on)] = _load_card(self.db, self.q, channel, on)
            self.memo.entries += 1
        card = cards[(channel, on)]
        if card is None:
            raise InvalidInput(f"no channel with code {channel!r}", field="shop.channel_code")
        return card

    def labor_rates(
        self, place: _Place, vclass: str, card: _Card
    ) -> dict[str, review.LaborRateRef]:
        """The branch standard rates along the chain, the card's labor lines applied."""
        branch_ids, tier = place.branch_ids, self.estimate.shop.tier
        key = (tuple(branch_ids), tier, vclass, self.on)
        rows = self.memo.labor_rates.get(key)
        _looked_up(rows is not None, rows is None)
        if rows is None:
            rows = self.memo.labor_rates[key] = list(
                self.db.execute(
                    self.q.labor_rates,
                    {"branch_ids": branch_ids, "tier": tier, "vclass": vclass, "on": self.on},
                )
            )
        static = self.static
        return _labor_rates(
            rows,
            branch_ids,
            static.branches,
            card.labor,
            self.estimate.shop.channel_code,
            static.labor_kind_code,
        )

    def hours_and_inclusions(
        self,
        part_ids: list[int],
        vclass: str,
        parts: dict[int, review.PartInfo],
        with_labor: bool,
    ) -> tuple[dict[tuple[int, str], review.HoursRef], list[review.InclusionRef]]:
        """Standard hours of the parts the labor lines act on, and every inclusion reachable
        from their operations, through parts no line names too (added to `parts`)."""
        hours: dict[tuple[int, str], review.HoursRef] = {}
        inclusions: list[review.InclusionRef] = []
        if not with_labor:
            return hours, inclusions
        memo, on = self.memo, self.on
        memo.fill(memo.hours, [(pid, vclass, on) for pid in part_ids], self._hours_of(vclass), ())
        for pid in part_ids:
            for h in memo.hours[(pid, vclass, on)]:
                hours[(h.part_id, h.operation)] = h
        memo.fill(memo.inclusions, part_ids, self._inclusions_of, ())
        every = {inc_id: inc for pid in part_ids for inc_id, inc in memo.inclusions[pid]}
        for inc_id in sorted(every):
            inc = every[inc_id]
            inclusions.append(inc)
            parts.setdefault(inc.included_part_id, _catalogue_part(memo, inc.included_part_id))
        return hours, inclusions

    def _hours_of(
        self, vclass: str
    ) -> Callable[[list[HoursKey]], dict[HoursKey, tuple[review.HoursRef, ...]]]:
        on = self.on

        def load(keys: list[HoursKey]) -> dict[HoursKey, tuple[review.HoursRef, ...]]:
            found: dict[HoursKey, list[review.HoursRef]] = defaultdict(list)
            rows = (
                self.pre["hours"]
                if self.pre
                else self.db.execute(
                    self.q.hours, {"part_ids": [k[0] for k in keys], "vclass": vclass, "on": on}
                )
            )
            for h in rows:
                found[(h.part_id, vclass, on)].append(
                    review.HoursRef(
                        h.part_id,
                        h.operation,
                        h.code,
                        (Decimal(h.hours_centi) / 100).quantize(review.CENTI),
                        h.vehicle_class,
                        h.id,
                        h.valid_from,
                    )
                )
            return {k: tuple(v) for k, v in found.items()}

        return load

    def _inclusions_of(
        self, roots: list[int]
    ) -> dict[int, tuple[tuple[int, review.InclusionRef], ...]]:
        found: dict[int, list[tuple[int, review.InclusionRef]]] = defaultdict(list)
        rows = (
            self.pre["inclusions"]
            if self.pre
            else self.db.execute(self.q.inclusions, {"part_ids": roots})
        )
        for root, inc_id, pid, op, included_pid, included_op, *row in rows:
            found[root].append((inc_id, review.InclusionRef(pid, op, included_pid, included_op)))
            self.memo.parts[included_pid] = _part_info(row)
        return {root: tuple(v) for root, v in found.items()}

    def consumables(self, vclass: str) -> dict[str, review.ConsumableStandard]:
        """Consumable standards of the kinds claimed, the vehicle class's over every class's."""
        kinds = {
            line.kind for line in self.estimate.lines if isinstance(line, review.ConsumableLine)
        }
        on = self.on

        def load(
            keys: list[tuple[str, str, date]],
        ) -> dict[tuple[str, str, date], review.ConsumableStandard]:
            rows = self.db.execute(
                self.q.consumables, {"kinds": [k[0] for k in keys], "vclass": vclass, "on": on}
            )
            found: dict[tuple[str, str, date], review.ConsumableStandard] = {}
            for c in sorted(rows, key=lambda c: c.vehicle_class is not None):
                found[(c.kind, vclass, on)] = review.ConsumableStandard(
                    c.kind,
                    c.name,
                    c.unit,
                    Decimal(c.max_quantity_milli) / 1000,
                    from_fen(c.max_unit_price_fen) if c.max_unit_price_fen is not None else None,
                    c.vehicle_class,
                    c.id,
                    c.valid_from,
                )
            return found

        memo = self.memo
        memo.fill(memo.consumables, [(k, vclass, on) for k in kinds], load, None)
        return {k: std for k in kinds if (std := memo.consumables[(k, vclass, on)])}

    def rescue(self, place: _Place) -> review.RescueTariff | None:
        """The rescue tariff of the nearest region (only for an estimate with a rescue line)."""
        region_ids = place.region_ids
        if not region_ids or not any(
            isinstance(line, review.RescueLine) for line in self.estimate.lines
        ):
            return None
        key, kept = (tuple(region_ids), self.on), self.memo.rescue
        _looked_up(key in kept, key not in kept)
        if key not in kept:
            kept[key] = _load_rescue(self.db, self.q, region_ids, self.on, self.static)
            self.memo.entries += 1
        return kept[key]

    def earlier(
        self, profile: review.RuleProfile, prior: Sequence[EarlierRow] | None
    ) -> tuple[review.EarlierClaim, ...]:
        """Earlier claims on the VIN within the profile's window (`prior`: `validate` read them
        with the generation)."""
        estimate, on = self.estimate, self.on
        if not estimate.vehicle.vin:
            return ()
        since = days_from(on, -profile.settings.repeat_claim_window_days)
        if prior is None:
            prior = self.db.execute(
                self.q.earlier,
                {"vin": estimate.vehicle.vin, "estimate_id": estimate.id, "on": on, "since": since},
            ).all()
        return tuple(
            review.EarlierClaim(eid, ever, edate, int(p), vid)
            for vid, eid, ever, edate, replaced in prior
            if edate >= since
            for p in replaced or ()
        )


def _catalogue_part(memo: _References, part_id: int) -> review.PartInfo:
    """A component's or an included operation's part, loaded with it: a catalogue part (the
    foreign keys say so), never an unknown id."""
    info = memo.parts[part_id]
    assert info is not None, part_id
    return info
