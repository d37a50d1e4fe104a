"""Matching from the command line: match (names from stdin) and match-eval (accuracy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pricebook.cli.common import open_engine
from pricebook.errors import InvalidInput
from pricebook.settings import Settings

if TYPE_CHECKING:
    from pricebook.cli.common import Subcommands
    from pricebook.matching.loader import Snapshot


def _match_snapshot(settings: Settings) -> Snapshot:
    from pricebook.db import session_factory
    from pricebook.matching.loader import build_snapshot

    engine = open_engine(settings)
    try:
        with session_factory(engine)() as session:
            return build_snapshot(session, warm=False)
    finally:
        engine.dispose()


def _model_id(snapshot: Snapshot, value: str | None) -> int | None:
    """--model as an id or a model code."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit() and int(value) in snapshot.model_brands:
        return int(value)
    if value in snapshot.model_codes:
        return int(snapshot.model_codes[value])
    raise InvalidInput(f"unknown model {value!r} (give a model id or code)", field="model")


def cmd_match(args: argparse.Namespace, settings: Settings) -> int:
    import json

    snapshot = _match_snapshot(settings)
    model_id = _model_id(snapshot, args.model)
    brand_id = None
    if args.brand:
        brand_id = snapshot.brands.get(args.brand.strip())
        if brand_id is None:
            raise InvalidInput(f"unknown brand {args.brand!r} (give a brand code or name)")
    names = [line.rstrip("\r\n") for line in sys.stdin]
    results = snapshot.index.match(names, model_id=model_id, brand_id=brand_id, top_k=args.top)
    out = sys.stdout
    if args.json:
        for r in results:
            side = r.side
            obj = {
                "query": r.query,
                "decision": r.decision,
                "reason": r.reason,
                "side": {
                    "lateral": side.lateral,
                    "longitudinal": side.longitudinal,
                    "vertical": side.vertical,
                    "depth": side.depth,
                    "ambiguous": side.ambiguous,
                    "label": side.label(),
                },
                "candidates": [
                    {
                        "part_code": c.part_code,
                        "name": c.name,
                        "score": c.score,
                        "reason": c.reason,
                        "confidence": c.confidence,
                    }
                    for c in r.candidates
                ],
            }
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        return 0
    for r in results:
        side_text = r.side.label() or "-"
        out.write(
            f"{r.query}  [{r.decision}{', ' + r.reason if r.reason else ''}; side {side_text}]\n"
        )
        for n, c in enumerate(r.candidates, start=1):
            out.write(f"  {n}. {c.part_code:<14} {c.name}  {c.score:5.1f}  {c.reason}\n")
        if not r.candidates:
            out.write("  (no candidate)\n")
    return 0


#: The issue's acceptance thresholds for `match-eval`.
EVAL_MIN_TOP1 = 0.95
EVAL_MAX_FALSE_AUTO_ACCEPT = 0.01
#: The thresholds for `match-eval --typed` on its held-out half (names as adjusters type them).
TYPED_MIN_TOP1 = 0.98
TYPED_MIN_TOP3 = 0.995
TYPED_MAX_FALSE_AUTO_ACCEPT = 0.005


def _eval_failures(
    report: Any,
    min_top1: float,
    max_false: float,
    min_top3: float | None = None,
) -> list[str]:
    failed = []
    if report.top1 < min_top1:
        failed.append(f"top-1 {report.top1:.1%} < {min_top1:.0%}")
    if min_top3 is not None and report.top3 < min_top3:
        failed.append(f"top-3 {report.top3:.1%} < {min_top3:.1%}")
    if report.side_errors:
        failed.append(f"{report.side_errors} side error(s)")
    if report.false_auto_accept_rate > max_false:
        failed.append(f"false auto-accepts {report.false_auto_accept_rate:.2%} > {max_false:.1%}")
    return failed


def cmd_match_eval(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.io.tables import read_table
    from pricebook.matching import EvalRow, evaluate

    if args.file is None and not args.typed:
        raise InvalidInput("give a labelled FILE, --typed, or both")
    snapshot = _match_snapshot(settings)
    index = snapshot.index
    print(f"index {snapshot.describe()}")
    failed: list[str] = []
    passed: list[str] = []
    if args.file is not None:
        header, rows = read_table(args.file)
        missing = [c for c in ("name", "model_code", "expected_part_code") if c not in header]
        if missing:
            raise InvalidInput(f"{args.file}: missing column(s) {', '.join(missing)}")
        eval_rows, problems = [], []
        for n, row in rows:
            code = row.get("expected_part_code", "").strip()
            model = row.get("model_code", "").strip()
            if index.entry_by_code(code) is None:
                problems.append(f"row {n}: unknown part {code!r}")
            elif model and model not in snapshot.model_codes:
                problems.append(f"row {n}: unknown model {model!r}")
            else:
                eval_rows.append(EvalRow(row["name"], snapshot.model_codes.get(model), code))
        if problems:
            shown = "; ".join(problems[:5]) + (
                f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            )
            raise InvalidInput(f"{args.file}: {len(problems)} bad row(s): {shown}")
        report = evaluate(index, eval_rows)
        print(report.summary(max_failures=args.failures))
        failed += _eval_failures(report, EVAL_MIN_TOP1, EVAL_MAX_FALSE_AUTO_ACCEPT)
        passed.append(
            f"top-1 >= {EVAL_MIN_TOP1:.0%}, no side error, "
            f"false auto-accepts <= {EVAL_MAX_FALSE_AUTO_ACCEPT:.0%}"
        )
    if args.typed:
        from pricebook.matching.variants import generate, split

        variants = generate(index.entries, model_codes=snapshot.model_codes)
        halves = dict(zip(("tuning", "held-out"), split(variants), strict=True))
        for label, half in halves.items():
            report = evaluate(
                index, [EvalRow(v.name, v.model_id, v.expected_part_code) for v in half]
            )
            print(f"\nnames as typed, {label} half (generated from the standard names):")
            print(report.summary(max_failures=args.failures))
            if label == "held-out":
                failed += [
                    f"held-out: {f}"
                    for f in _eval_failures(
                        report, TYPED_MIN_TOP1, TYPED_MAX_FALSE_AUTO_ACCEPT, TYPED_MIN_TOP3
                    )
                ]
                passed.append(
                    f"held-out top-1 >= {TYPED_MIN_TOP1:.0%}, top-3 >= {TYPED_MIN_TOP3:.1%}, "
                    f"no side error, false auto-accepts <= {TYPED_MAX_FALSE_AUTO_ACCEPT:.1%}"
                )
    if failed:
        print("FAIL: " + "; ".join(failed))
        return 0 if args.no_fail else 1
    print("PASS: " + "; ".join(passed))
    return 0


def add_match(sub: Subcommands) -> None:
    """pricebook match: names from stdin."""
    match = sub.add_parser(
        "match",
        help="match custom part names (stdin, one per line) to catalogue parts",
        description="Reads custom part names from stdin, one per line, and matches each to "
        "catalogue parts (side-safe). With --json, one JSON object per input line, in order: "
        "query, decision (matched|suggested|unmatched), reason, side (axes and label), "
        "candidates (best first: part_code, name, score, reason, confidence).",
    )
    match.add_argument("--model", metavar="ID|CODE", help="the vehicle model (id or code)")
    match.add_argument("--brand", metavar="CODE|NAME", help="the brand, without a model")
    match.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    match.add_argument("--top", type=int, default=5, metavar="K", help="candidates per name")
    match.set_defaults(handler=cmd_match)


def add_match_eval(sub: Subcommands) -> None:
    """pricebook match-eval: accuracy on a labelled file."""
    match_eval = sub.add_parser(
        "match-eval",
        help="accuracy of the matcher on a labelled file (name,model_code,expected_part_code)",
        description="Prints top-1, top-3, the false auto-accept rate and side errors. Exits 1 "
        f"when top-1 < {EVAL_MIN_TOP1:.0%}, any side error, or false auto-accepts > "
        f"{EVAL_MAX_FALSE_AUTO_ACCEPT:.0%} (the acceptance thresholds), unless --no-fail. "
        "--typed also generates names as adjusters type them (homophone typos, missing or "
        "doubled characters, spaces, traditional characters, sides written other ways, "
        "abbreviations, quality and quantity words) from the catalogue's standard names, and "
        "reports its tuning and held-out halves; the held-out half must reach top-1 "
        f"{TYPED_MIN_TOP1:.0%}, top-3 {TYPED_MIN_TOP3:.1%}, no side error and false "
        f"auto-accepts <= {TYPED_MAX_FALSE_AUTO_ACCEPT:.1%}.",
    )
    match_eval.add_argument("file", type=Path, nargs="?", metavar="FILE", help="CSV or XLSX")
    match_eval.add_argument(
        "--typed", action="store_true", help="also evaluate generated names as typed (both halves)"
    )
    match_eval.add_argument("--failures", type=int, default=20, help="failures to list")
    match_eval.add_argument("--no-fail", action="store_true", help="exit 0 under the thresholds")
    match_eval.set_defaults(handler=cmd_match_eval)
