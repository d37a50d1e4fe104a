"""Growth from 1,000,000 to 10,000,000 prices, side by side in one run: resolve, validation
(realistic mix), the matching index (build time, memory), import and the indicators.

    .venv/bin/python bench/growth.py [--sizes 2000:30000:1000000,20000:300000:10000000]
                                     [--workers 2] [--connections 16] [--seconds 10]

For each size (models:parts:prices) a fresh PostgreSQL database (the server of
PRICEBOOK_BENCH_POSTGRES_URL) is filled by `pricebook demo scale --national` (its own process:
its wall time and peak RSS are reported) and the demo review configuration; both sizes have the
same shape, ten times larger. Then, on a `pricebook serve` of its own:

- resolve: `bench.api`'s closed loop (wrk) over /health and then its single resolves (req/s,
  p99, and their ratio: the machine is shared, /health says what share this server had), then its
  open loop at one fixed arrival rate for every size (`--open-rate` × the first size's
  closed-loop req/s), whose p99 counts queueing, with how busy the CPUs were meanwhile and how
  long the server's processes waited runnable for a CPU (`bench.common.ContentionMeter`);
- validation: `bench.validate`'s realistic mix (40-line estimates over popular models),
  closed loop, the median of `--rounds` loads, and its ratio to a /health load after them;
- the matching index: the build in a process of its own (seconds, RSS added) and the server
  workers' RSS after the loads;
- the indicators: `compute_indicators` over `--validations` stored validations (the load's,
  copied up to that count), median of 3;
- import: one fixed file of `--import-rows` price rows (the system price of the first parts,
  superseding the version in force), `import_file` as the CLI runs it.

The database is dropped after each size. Prints a table with each figure and its ratio to the
first size. The machine is shared: quote the ratios of one run, not the absolute figures.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench import api, validate  # noqa: E402
from bench.common import (  # noqa: E402
    ContentionMeter,
    cycle_requests,
    database_name,
    open_loop,
    scratch_database,
)
from pricebook import indicators  # noqa: E402
from pricebook.db import make_engine, transaction  # noqa: E402
from pricebook.io import import_file  # noqa: E402
from pricebook.models import EstimateValidation, Part, Price, PriceType  # noqa: E402
from pricebook.review_config import load_demo_review_config  # noqa: E402
from pricebook.settings import Settings  # noqa: E402

BUILD_INDEX = """
import os, resource, sys, time
from pricebook.db import make_engine, session_factory
from pricebook.matching.loader import build_snapshot
from pricebook.settings import Settings

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

engine = make_engine(Settings(database_url=sys.argv[1]))
before = rss()
t = time.perf_counter()
with session_factory(engine)() as session:
    snapshot = build_snapshot(session)
print(time.perf_counter() - t, rss() - before, snapshot.size.entries)
"""


def generate(url: str, models: int, parts: int, prices: int) -> dict:
    """`pricebook demo scale --national` in its own process: wall seconds and peak RSS."""
    env = {**os.environ, "PRICEBOOK_DATABASE_URL": url}
    run = partial(subprocess.run, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    run([sys.executable, "-m", "pricebook.cli", "db", "upgrade"])
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pricebook.cli",
            "demo",
            "scale",
            "--national",
            "--models",
            str(models),
            "--parts",
            str(parts),
            "--prices",
            str(prices),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # this child's own peak (RUSAGE_CHILDREN would be the largest of every child so far)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"demo scale --national failed (exit {process.returncode})")
    seconds = time.perf_counter() - started
    engine = make_engine(Settings(database_url=url))
    try:
        with transaction(engine) as session:
            load_demo_review_config(session)
            count = session.scalar(select(func.count()).select_from(Price))
    finally:
        engine.dispose()
    return {"load_s": seconds, "load_rss_mb": usage.ru_maxrss / 1024, "prices": count}


def index_build(url: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", BUILD_INDEX, url],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {"index_s": float(out[0]), "index_mb": int(out[1]) / 1e6, "index_entries": int(out[2])}


def worker_rss_mb(server_pid: int) -> float:
    """The largest RSS among the server's worker processes."""
    from bench.common import _children

    sizes = []
    for pid in _children(server_pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return max(sizes, default=0.0)


def measure_server(url: str, args: argparse.Namespace, open_rate: float | None) -> dict:
    """Resolve and validation loads on a server of its own; the server's RSS after them."""
    key, data = validate.prepare(url, 0, 0, fill=False)
    _, _, paths = api.reuse(url, database_name(url))
    singles, _ = api.split(paths)
    server, port = validate.start_server(
        url,
        SimpleNamespace(
            connections=args.connections, workers=args.workers, synchronous_commit=None
        ),
        None,
    )
    base = f"http://127.0.0.1:{port}"
    out: dict = {}
    try:
        started = time.perf_counter()
        for _ in range(8 * args.workers):  # every worker's first index build
            ask = urllib.request.Request(f"{base}/api/v1/match/index", headers={"X-API-Key": key})
            with urllib.request.urlopen(ask, timeout=600) as resp:
                resp.read()
        out["ready_s"] = time.perf_counter() - started
        api.load(base, ["/health"], key, args.connections, 2)  # warm-up
        api.load(base, singles, key, args.connections, 2)
        # /health beside resolve: the machine's share for this server at the time
        health = api.load(base, ["/health"], key, args.connections, args.seconds)
        closed = api.load(base, singles, key, args.connections, args.seconds)
        out.update(
            health_rps=health["rps"],
            resolve_rps=closed["rps"],
            resolve_p99=closed["p99"],
            resolve_share=closed["rps"] / health["rps"],
        )
        rate = open_rate or args.open_rate * closed["rps"]
        contention = ContentionMeter(server.pid)
        contention.start()
        opened = open_loop(
            base,
            partial(cycle_requests, "GET", singles),
            headers={"X-API-Key": key},
            rate=rate,
            seconds=args.seconds,
            connections=args.connections,
        )
        # errors by kind (a status, an exception's name, "unanswered"): a count alone does not
        # tell a refused connection from a server's 5xx
        out.update(open_rate=rate, open_p99=opened["p99_ms"], open_errors=dict(opened["errors"]))
        seen = contention.stop()
        server_times = seen.get("server")
        out.update(
            open_busy=seen.get("busy"),
            # how long the server's processes waited runnable for a CPU, per their running time
            open_server_wait=server_times[1] / server_times[0]
            if isinstance(server_times, tuple)
            else None,
        )
        real = data["realistic"]
        validate_url = f"{base}{validate.VALIDATE_PATH}"
        validate.measure(validate_url, key, real, args.connections, 5, seed="growth-warmup")
        rounds = [
            validate.measure(
                validate_url,
                key,
                real,
                args.connections,
                args.seconds,
                seed=f"growth-{n}",
                expect=int(200 * args.seconds),
            )
            for n in range(args.rounds)
        ]
        middle = sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]
        health = api.load(base, ["/health"], key, args.connections, args.seconds)
        out.update(
            validate_rps=middle["rps"],
            validate_p99=middle["p99_ms"],
            validate_share=middle["rps"] / health["rps"],
            validate_errors=_merged(r["errors"] for r in rounds),
        )
        out["worker_rss_mb"] = worker_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def measure_indicators(url: str, validations: int) -> dict:
    engine = make_engine(Settings(database_url=url))
    try:
        with engine.begin() as conn:
            stored = conn.scalar(select(func.count()).select_from(EstimateValidation)) or 1
            copies = max(0, -(-validations // stored) - 1)
            conn.exec_driver_sql(
                f"INSERT INTO estimate_validations (estimate_id, {_COPIED}) "
                f"SELECT estimate_id || '-' || g, {_COPIED} "
                f"FROM estimate_validations, generate_series(1, {copies}) AS g"
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) estimate_validations")
        times = []
        for _ in range(3):
            with transaction(engine) as session:
                t = time.perf_counter()
                indicators.compute_indicators(session)
                times.append(time.perf_counter() - t)
            with transaction(engine) as session:
                count = session.scalar(select(func.count()).select_from(EstimateValidation))
    finally:
        engine.dispose()
    return {"indicators_s": statistics.median(times), "validations": count}


def measure_import(url: str, rows: int) -> dict:
    """A fixed file: the system price of the top-ranked type of the first `rows` synthetic
    parts (the same codes at every size), from a date after every generated version."""
    engine = make_engine(Settings(database_url=url))
    try:
        with transaction(engine) as session:
            codes = list(
                session.scalars(
                    select(Part.code)
                    .where(Part.code.like("SCALE-N%"))
                    .order_by(Part.id)
                    .limit(rows)
                )
            )
            top = session.scalar(select(PriceType.code).order_by(PriceType.rank.desc()))
        rng = random.Random(5)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prices.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    [
                        "part_code",
                        "model_code",
                        "scope",
                        "price_type",
                        "amount_yuan",
                        "valid_from",
                        "valid_to",
                    ]
                )
                for code in codes:
                    fen = rng.randrange(10_000, 400_000)
                    writer.writerow(
                        [code, "", "system", top, f"{fen // 100}.{fen % 100:02d}", "2030-01-01", ""]
                    )
            started = time.perf_counter()
            report = import_file(engine, "prices", path, actor="bench", reason="growth bench")
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    if report.changed != len(codes):
        raise SystemExit(f"the import changed other than every row: {report.summary()}")
    return {"import_s": seconds, "import_rows": len(codes)}


_COPIED = (
    "estimate_version, estimate_date, branch_id, vin, model_id, model_selected, part_lines, "
    "custom_part_lines, custom_matched, claimed_fen, allowed_fen, cut_fen, profile_id, "
    "profile_code, profile_version, replaced_part_ids, part_ids, flag_counts, flagged_lines, "
    "request, result, created_by, created_at"
)

ROWS = (
    ("prices", "prices", "{:,}"),
    ("demo scale --national, s", "load_s", "{:.0f}"),
    ("demo scale peak RSS, MB", "load_rss_mb", "{:.0f}"),
    ("match index build, s", "index_s", "{:.1f}"),
    ("match index RSS, MB", "index_mb", "{:.0f}"),
    ("match index entries", "index_entries", "{:,}"),
    ("server ready (index built), s", "ready_s", "{:.1f}"),
    ("server worker RSS after loads, MB", "worker_rss_mb", "{:.0f}"),
    ("/health closed loop, req/s", "health_rps", "{:.0f}"),
    ("resolve closed loop, req/s", "resolve_rps", "{:.0f}"),
    ("resolve / health", "resolve_share", "{:.1%}"),
    ("resolve closed loop p99, ms", "resolve_p99", "{:.1f}"),
    ("resolve open loop, offered/s", "open_rate", "{:.0f}"),
    ("resolve open loop p99, ms", "open_p99", "{:.1f}"),
    ("  meanwhile CPUs busy", "open_busy", "{:.0%}"),
    ("  server waiting for a CPU / running", "open_server_wait", "{:.0%}"),
    ("validate realistic, req/s", "validate_rps", "{:.1f}"),
    ("validate realistic p99, ms", "validate_p99", "{:.0f}"),
    ("validate / health (after it)", "validate_share", "{:.1%}"),
    ("indicators, s", "indicators_s", "{:.2f}"),
    ("stored validations", "validations", "{:,}"),
    ("import fixed file, s", "import_s", "{:.1f}"),
)


def report(sizes: list[tuple[int, int, int]], results: list[dict]) -> None:
    head = "".join(f"{f'{m:,}/{p:,}/{n / 1e6:g}M':>24}" for m, p, n in sizes)
    print(f"\n{'models/parts/prices':36}{head}{'ratio':>8}")
    for label, key, fmt in ROWS:
        values = [r.get(key) for r in results]
        cells = "".join(f"{(fmt.format(v) if v is not None else 'n/a'):>24}" for v in values)
        first, last = values[0], values[-1]
        ratio = f"{last / first:>7.2f}×" if first and last is not None else ""
        print(f"{label:36}{cells}{ratio}")
    for label, key in (("resolve open loop", "open_errors"), ("validate", "validate_errors")):
        kinds = [r.get(key) or {} for r in results]
        print(f"{label + ' errors by kind':36}" + "".join(f"{k or 'none'!s:>24}" for k in kinds))
    print("(ratio: last size ÷ first)")


def _merged(counts: Iterable[dict[Any, int]]) -> dict[str, int]:
    """Error counts by kind, summed over rounds."""
    total: dict[str, int] = {}
    for each in counts:
        for kind, n in each.items():
            total[str(kind)] = total.get(str(kind), 0) + n
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="2000:30000:1000000,20000:300000:10000000",
        help="models:parts:prices, comma-separated, smallest first",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--open-rate", type=float, default=0.5, metavar="FRACTION")
    parser.add_argument("--validations", type=int, default=20_000)
    parser.add_argument("--import-rows", type=int, default=20_000)
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.split(":")) for s in args.sizes.split(",")]
    results: list[dict] = []
    for models, parts, prices in sizes:
        with scratch_database("pricebook_bench_growth") as url:
            print(f"[{prices:,} prices] loading …", flush=True)
            result = generate(url, models, parts, prices)
            print(f"[{prices:,} prices] loaded in {result['load_s']:.0f} s", flush=True)
            result.update(index_build(url))
            open_rate = results[0]["open_rate"] if results else None
            result.update(measure_server(url, args, open_rate))
            print(
                f"[{prices:,} prices] resolve {result['resolve_rps']:.0f}/s, validate "
                f"{result['validate_rps']:.1f}/s",
                flush=True,
            )
            result.update(measure_indicators(url, args.validations))
            result.update(measure_import(url, args.import_rows))
            results.append(result)
            report(sizes[: len(results)], results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
