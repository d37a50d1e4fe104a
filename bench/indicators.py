"""The desk's indicators over many stored validations, side by side with reading every result.

    .venv/bin/python bench/indicators.py [--validations 20000] [--rounds 3]

A scratch PostgreSQL database gets the demo catalogue, the demo review configuration and 50
real validations of 40-line estimates (`bench.validate`'s: 20 catalogue parts, 10 custom names,
10 labor lines; ~70 KB of stored result each), copied in SQL up to `--validations` stored rows,
each a different estimate. Then, in one run, `--rounds` times each:

- `compute_indicators` as it is: the top parts from each validation's `part_ids` (0011);
- the baseline, as it was before 0011: the same latest-validation query reading each `result`
  and counting the part of each part line in Python.

Prints the median seconds of each, and checks that both find the same top parts.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.common import scratch_database  # noqa: E402
from bench.validate import estimate, prepare  # noqa: E402
from pricebook import estimates, indicators  # noqa: E402
from pricebook.db import make_engine, transaction  # noqa: E402
from pricebook.models import EstimateValidation  # noqa: E402
from pricebook.settings import Settings  # noqa: E402

SEED_VALIDATIONS = 50

#: every column but the id and the estimate id, copied as they are
_COPIED = (
    "estimate_version, estimate_date, branch_id, vin, model_id, model_selected, part_lines, "
    "custom_part_lines, custom_matched, claimed_fen, allowed_fen, cut_fen, profile_id, "
    "profile_code, profile_version, replaced_part_ids, part_ids, flag_counts, flagged_lines, "
    "request, result, created_by, created_at"
)


def fill(url: str, validations: int) -> None:
    """The demo catalogue (5,000 parts, 100,000 prices: the indicators do not read prices), 50
    real validations, and copies of them up to `validations` rows."""
    _, data = prepare(url, 5_000, 100_000)
    engine = make_engine(Settings(database_url=url))
    try:
        from pricebook.matching.loader import build_snapshot

        with transaction(engine) as session:
            matcher = build_snapshot(session).index
            rng = random.Random(0)
            for n in range(SEED_VALIDATIONS):
                request = estimates.decode_request(estimate(n, 1, data, rng, run="INDICATORS"))
                estimates.validate(session, request, matcher=matcher, actor="bench")
        copies = -(-validations // SEED_VALIDATIONS) - 1
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"INSERT INTO estimate_validations (estimate_id, {_COPIED}) "
                f"SELECT estimate_id || '-' || g, {_COPIED} "
                f"FROM estimate_validations, generate_series(1, {copies}) AS g"
            )
            conn.exec_driver_sql("ANALYZE estimate_validations")
    finally:
        engine.dispose()


def baseline(session) -> list[int]:
    """The top parts as `compute_indicators` found them before 0011: from every result."""
    latest = (
        select(func.max(EstimateValidation.id).label("id"))
        .group_by(EstimateValidation.estimate_id)
        .subquery()
    )
    rows = session.execute(
        select(EstimateValidation.result).join(latest, latest.c.id == EstimateValidation.id)
    ).all()
    counts: Counter[int] = Counter()
    for r in rows:
        for line in (r.result or {}).get("lines") or ():
            part = line.get("part") if line.get("kind") == "part" else None
            if isinstance(part, dict) and isinstance(part.get("id"), int):
                counts[part["id"]] += 1
    return [p for p, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][
        : indicators.DEFAULT_TOP
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with scratch_database("pricebook_bench_indicators") as url:
        t0 = time.perf_counter()
        fill(url, args.validations)
        engine = make_engine(Settings(database_url=url))
        try:
            with transaction(engine) as session:
                stored = session.scalar(select(func.count()).select_from(EstimateValidation))
            print(f"{stored:,} stored validations in {time.perf_counter() - t0:.0f}s", flush=True)
            timings: dict[str, list[float]] = {"indicators": [], "baseline": []}
            for n in range(1, max(1, args.rounds) + 1):
                with transaction(engine) as session:
                    t = time.perf_counter()
                    found = indicators.compute_indicators(session)
                    timings["indicators"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    expected = baseline(session)
                    timings["baseline"].append(time.perf_counter() - t)
                if found.top_parts != expected:
                    print(f"the two disagree: {found.top_parts} vs {expected}")
                    return 1
                print(
                    f"round {n}: indicators {timings['indicators'][-1]:.2f}s, reading every "
                    f"result {timings['baseline'][-1]:.2f}s",
                    flush=True,
                )
        finally:
            engine.dispose()

    new, old = (statistics.median(timings[k]) for k in ("indicators", "baseline"))
    print()
    print(f"{stored:,} validations ({found.estimates:,} estimates), median of {args.rounds} rounds")
    print(f"{'GET /api/v1/indicators (core)':34}{'seconds':>10}")
    print(f"{'  part_ids (0011)':34}{new:>10.2f}")
    print(f"{'  every result (before 0011)':34}{old:>10.2f}")
    print(f"{old / new:.0f}× faster; the same top parts: {found.top_parts[:5]}…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
