"""What a rule sees: one check per line kind, one signature per rule (`Rule`); and the one
rule every kind of line shares, DUPLICATE_LINE."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, NamedTuple, Protocol, TypeVar

from pricebook.review.estimate import (
    ConsumableLine,
    Estimate,
    LaborLine,
    Line,
    PartLine,
    RescueLine,
)
from pricebook.review.refs import ConsumableStandard, PartInfo, Refs
from pricebook.review.result import Flag, Proposal, Severity
from pricebook.review.text import ZERO

if TYPE_CHECKING:
    from pricebook.review.labor import InclusionGraph
    from pricebook.review.parts import PartContext


class LineCheck(Protocol):
    """What every check has: the rules shared by several line kinds (DUPLICATE_LINE) read it."""

    @property
    def line(self) -> Line: ...
    @property
    def first(self) -> int | None: ...
    @property
    def label(self) -> str: ...


class PartCheck(NamedTuple):
    line: PartLine
    ctx: PartContext
    estimate: Estimate
    refs: Refs
    #: the earlier line claiming the same part and action (DUPLICATE_LINE), if any
    first: int | None
    #: the part as messages name it
    label: str
    #: the line names a part id the catalogue does not have
    unknown: bool


class LaborCheck(NamedTuple):
    line: LaborLine
    part: PartInfo | None
    refs: Refs
    first: int | None
    label: str
    #: the flag that excluded the part line this labor works on, if one did
    excluded: Flag | None
    #: the first labor line of each (part, operation), for LABOR_OVERLAP
    claimed_ops: dict[tuple[int, str], LaborLine]
    graph: InclusionGraph
    unknown: bool
    #: the hours the rate rule prices: the claimed ones, or the standard's when cut to it
    hours: Decimal


class ConsumableCheck(NamedTuple):
    line: ConsumableLine
    standard: ConsumableStandard | None
    refs: Refs
    first: int | None
    label: str


class RescueCheck(NamedTuple):
    line: RescueLine
    refs: Refs


C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Rule(Generic[C]):
    """One review rule, with what the rest of the service knows about it. A line's rules run
    in their registry's order (see the module doc); adding a rule is a function, a registry
    line and its worked example in tests/test_review.py."""

    #: the flag it raises (None: the flag that excluded the line's part, LABOR_OF_EXCLUDED_PART)
    code: str | None
    #: its severity unless the branch's rule profile sets another
    severity: Severity
    check: Callable[[C], Proposal | None]
    #: its flag stays on a line an earlier rule already took to 0 (an exclusion says why)
    reported_when_out: bool = False
    #: a part line it flags loses its labor too
    excludes_labor: bool = False


def duplicate_key(line: Line, part_of: Callable[[int], int | None]) -> tuple[Hashable, ...] | None:
    """Lines with the same key claim the same thing twice."""
    if isinstance(line, PartLine):
        pid = part_of(line.index)
        ident: int | tuple[str, str] = (
            pid if pid is not None else ("name", (line.custom_name or line.oe_number).strip())
        )
        return ("part", ident, line.action)
    if isinstance(line, LaborLine):
        pid = part_of(line.line_ref) if line.line_ref is not None else line.part_id
        if pid is None:
            return None
        return ("labor", pid, line.operation, line.labor_kind)
    if isinstance(line, ConsumableLine):
        return ("consumable", line.kind)
    return None


def rule_duplicate(c: LineCheck) -> Proposal | None:
    """DUPLICATE_LINE: the same part/operation/consumable claimed on an earlier line: this one
    is excluded (merge quantities on one line)."""
    line, first, label = c.line, c.first, c.label
    if first is None or first == line.index:
        return None
    return Proposal(
        "DUPLICATE_LINE",
        f"{label} 与第 {first + 1} 行重复，本行剔除；如确需多件请合并数量。",
        f"{label} repeats line {first + 1}: this line is excluded; put the total quantity on "
        "one line.",
        allowed=ZERO,
        details={"duplicate_of": first, "duplicate_of_line_no": first + 1},
    )
