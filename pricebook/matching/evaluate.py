"""Accuracy of a `MatchIndex` on labelled names.

Figures:

* **top-1 / top-3**: the expected part is the first / among the first three candidates.
* **false auto-accept rate**: of the names the matcher decided ``matched``, the share whose
  match is wrong — the errors no person would look at.
* **side errors**: names whose first candidate sits on a side that contradicts the expected
  part's (左 for 右, 前 for 后). The hard rule should make these zero whenever the name says its
  side; this counts them regardless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from pricebook.matching.index import MatchIndex
from pricebook.matching.sides import contradicts

__all__ = ["EvalFailure", "EvalReport", "EvalRow", "evaluate"]


class EvalRow(NamedTuple):
    name: str
    model_id: int | None
    expected_part_code: str


@dataclass(frozen=True, slots=True)
class EvalFailure:
    name: str
    model_id: int | None
    expected: str
    got: str | None
    got_name: str | None
    decision: str
    score: float | None
    side_error: bool


@dataclass(frozen=True, slots=True)
class EvalReport:
    n: int
    top1: float
    top3: float
    false_auto_accept_rate: float
    side_errors: int
    matched: int = 0
    false_auto_accepts: int = 0
    suggested: int = 0
    unmatched: int = 0
    failures: list[EvalFailure] = field(default_factory=list)

    def summary(self, max_failures: int = 20) -> str:
        lines = [
            f"names               {self.n}",
            f"top-1               {self.top1:.1%}",
            f"top-3               {self.top3:.1%}",
            f"matched (auto)      {self.matched} ({self.matched / max(self.n, 1):.1%})",
            f"suggested           {self.suggested}",
            f"unmatched           {self.unmatched}",
            f"false auto-accepts  {self.false_auto_accepts} "
            f"({self.false_auto_accept_rate:.2%} of auto-accepted)",
            f"side errors         {self.side_errors}",
        ]
        if self.failures:
            lines.append(f"top-1 failures ({len(self.failures)}, first {max_failures}):")
            for f in self.failures[:max_failures]:
                lines.append(
                    f"  {f.name!r} model={f.model_id} expected={f.expected} "
                    f"got={f.got} {f.got_name or ''} [{f.decision} {f.score}]"
                    + (" SIDE ERROR" if f.side_error else "")
                )
        return "\n".join(lines)


def evaluate(index: MatchIndex, rows: Iterable[tuple[str, int | None, str]]) -> EvalReport:
    """Match every row's name with its model and compare with the expected part code."""
    n = top1 = top3 = matched = false_accepts = side_errors = suggested = unmatched = 0
    failures: list[EvalFailure] = []
    for name, model_id, expected in rows:
        n += 1
        result = index.match([name], model_id=model_id, top_k=5)[0]
        codes = [c.part_code for c in result.candidates]
        first = result.candidates[0] if result.candidates else None
        ok1 = bool(codes) and codes[0] == expected
        top1 += ok1
        top3 += expected in codes[:3]
        if result.decision == "matched":
            matched += 1
            false_accepts += not ok1
        elif result.decision == "suggested":
            suggested += 1
        else:
            unmatched += 1
        side_error = False
        if first is not None and not ok1:
            want, got = index.side_of(expected), index.side_of(first.part_code)
            side_error = want is not None and got is not None and contradicts(want, got)
        side_errors += side_error
        if not ok1:
            failures.append(
                EvalFailure(
                    name=name,
                    model_id=model_id,
                    expected=expected,
                    got=first.part_code if first else None,
                    got_name=first.name if first else None,
                    decision=result.decision,
                    score=first.score if first else None,
                    side_error=side_error,
                )
            )
    return EvalReport(
        n=n,
        top1=top1 / n if n else 0.0,
        top3=top3 / n if n else 0.0,
        false_auto_accept_rate=false_accepts / matched if matched else 0.0,
        side_errors=side_errors,
        matched=matched,
        false_auto_accepts=false_accepts,
        suggested=suggested,
        unmatched=unmatched,
        failures=failures,
    )
