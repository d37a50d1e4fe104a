"""API benchmark: /health, single price resolve and batch resolve (100 items) on a catalogue of
≥ 1,000,000 prices, side by side in one run.

    .venv/bin/python bench/api.py [--parts 50000] [--prices 1000000] [--models N] [--workers 2]
                                  [--connections 32] [--duration 10] [--open-rate 0.5[,…]]

Creates its own PostgreSQL database on the server of PRICEBOOK_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test) and fills it as a user does, with `pricebook.demo.
scale.scale_demo` (COPY, then the ANALYZE every bulk load runs; the bench adds no tuning of its
own), runs the app as production does (`pricebook serve`: uvicorn, a SO_REUSEPORT socket per
worker; a separate process) and drives it with `wrk` (Debian's `wrk` package; without it an
asyncio/httpx load generator in a separate process, which saturates first at ~400 req/s on this
machine: its figures measure the generator), 32 connections, ~10 s per endpoint. Prints
req/s, p50 and p99 for each, the resolve/health ratio (goal: ≥ 50 %) and the batch/health ratio
(goal: ≥ 10 %), and beside it the same batches with `"candidates": "winner"` (each item's winner
alone, no losing candidates: what a tool that needs the prices only asks for). The database is
dropped at the end; `--keep`/`--reuse` keep one between runs for development only (a kept
database's figures are not the ones to quote).

Those runs are closed-loop (each connection sends its next request as soon as the previous one
answers): they find the saturation throughput, and their latency is mostly queueing (≈
connections ÷ req/s). Then resolve runs open-loop (`bench.common.open_loop`: a plain HTTP/1.1
client in a separate process, at most `--connections` keep-alive connections) at a fixed arrival
rate, `--open-rate` × the closed-loop req/s (default 0.5; several fractions, comma-separated, run
one after the other; 0 skips it), for `--duration`; its p50, p99 and max are timed from each
request's scheduled send time, so queueing is not hidden (goal: resolve p99 < 10 ms at 0.5).
Beside each open-loop run it prints the server's own p50 and p99 (each answer's Server-Timing:
the rest of a latency was spent outside the app), how busy the CPUs were and how long the
server's processes and PostgreSQL waited runnable for a CPU (`bench.common.ContentionMeter`):
on a machine they share with the generator, that wait is where a tail comes from.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

WRK_SCRIPT = """
local paths = {%s}
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  local path = paths[(i %% #paths) + 1]
  if #bodies > 0 then
    return wrk.format("POST", path, {["X-API-Key"] = "%s", ["Content-Type"] = "application/json"},
                      bodies[(i %% #bodies) + 1])
  end
  return wrk.format("GET", path, {["X-API-Key"] = "%s"})
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %%d, \\"seconds\\": %%f, \\"p50\\": %%f, \\"p99\\": %%f, \\"errors\\": %%d, \\"non2xx\\": %%d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""

PY_LOADGEN = r"""
import asyncio, json, sys, time
import httpx

async def main(base, paths, key, connections, duration, bodies=None):
    latencies, errors = [], 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits) as c:
        stop = time.perf_counter() + duration
        async def worker(n):
            nonlocal errors
            i = n
            while time.perf_counter() < stop:
                t = time.perf_counter()
                if bodies:
                    r = await c.post(paths[i % len(paths)], content=bodies[i % len(bodies)],
                                     headers={"Content-Type": "application/json"})
                else:
                    r = await c.get(paths[i % len(paths)])
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200
                i += connections
        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(connections)))
        seconds = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print("JSON " + json.dumps({"requests": len(latencies), "seconds": seconds, "p50": pick(0.5),
                                "p99": pick(0.99), "errors": 0, "non2xx": errors}))

args = json.loads(sys.stdin.read())
asyncio.run(main(**args))
"""


def prepare(
    url: str, parts: int, prices: int, models: int | None = None
) -> tuple[str, str, list[str]]:
    """A new database with the scaled demo (national-shaped with `models`) and a key; returns
    (name, key, resolve paths)."""
    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.engine import make_url

    from pricebook import keys, migrate
    from pricebook.db import make_engine, sync_url, transaction
    from pricebook.demo.national import NationalShape, national_demo
    from pricebook.demo.scale import scale_demo
    from pricebook.models import Branch, Price
    from pricebook.settings import Settings

    name = f"pricebook_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=db_url))
    ok = False
    try:
        migrate.upgrade(engine)
        started = time.perf_counter()
        # as a user loads one: `demo scale` leaves statistics behind itself (no ANALYZE here)
        if models:
            national_demo(engine, NationalShape(models=models, parts=parts, prices=prices))
        else:
            scale_demo(engine, parts=parts, prices=prices)
        with transaction(engine) as session:
            count = session.scalar(select(func.count()).select_from(Price))
            print(
                f"\ndatabase {name}: {count:,} prices "
                f"(loaded in {time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            _, key = keys.create_key(session, name="bench", role="estimate_tool", actor="bench")
            branches = list(session.scalars(select(Branch.code)))
            part_ids = list(
                session.scalars(
                    select(Price.part_id).where(Price.scope == "system").distinct().limit(20000)
                )
            )
        paths = resolve_paths(part_ids, branches)
        ok = True
    finally:
        engine.dispose()
        if not ok:
            drop(url, name)
    return name, key, paths


def reuse(url: str, name: str) -> tuple[str, str, list[str]]:
    from sqlalchemy import select
    from sqlalchemy.engine import make_url

    from pricebook import keys
    from pricebook.db import make_engine, transaction
    from pricebook.models import Branch, Price
    from pricebook.settings import Settings

    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=db_url))
    try:
        with transaction(engine) as session:
            _, key = keys.create_key(session, name="bench", role="estimate_tool", actor="bench")
            branches = list(session.scalars(select(Branch.code)))
            part_ids = list(
                session.scalars(
                    select(Price.part_id).where(Price.scope == "system").distinct().limit(20000)
                )
            )
    finally:
        engine.dispose()
    return name, key, resolve_paths(part_ids, branches)


def resolve_paths(part_ids: list[int], branches: list[str]) -> list[str]:
    """Single resolves, then the batches as JSON lines after a `#batch` marker (see split)."""
    rng = random.Random(1)
    paths = [
        f"/api/v1/prices/resolve?part_id={rng.choice(part_ids)}"
        f"&branch={rng.choice(branches)}&date=2026-01-15"
        for _ in range(2000)
    ]
    batches = [
        json.dumps(
            {
                "date": "2026-01-15",
                "items": [
                    {"part_id": rng.choice(part_ids), "branch": rng.choice(branches)}
                    for _ in range(BATCH_ITEMS)
                ],
            }
        )
        for _ in range(200)
    ]
    return [*paths, "#batch", *batches]


def split(paths: list[str]) -> tuple[list[str], list[str]]:
    cut = paths.index("#batch")
    return paths[:cut], paths[cut + 1 :]


#: items per batch resolve (goal: ≥ 10% of /health req/s)
BATCH_ITEMS = 100


def drop(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from pricebook.db import sync_url

    admin = create_engine(sync_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def load(
    base: str,
    paths: list[str],
    key: str,
    connections: int,
    duration: float,
    bodies: list[str] | None = None,
) -> dict:
    given = None
    if shutil.which("wrk"):
        quoted = ", ".join(json.dumps(p) for p in paths)
        # JSON strings of ASCII are Lua string literals too (the batches hold ids and codes)
        sent = ", ".join(json.dumps(b) for b in bodies or ())
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(WRK_SCRIPT % (quoted, sent, key, key))
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "-s", f.name, base]
    else:
        args = {
            "base": base,
            "paths": paths,
            "key": key,
            "connections": connections,
            "duration": duration,
            "bodies": bodies,
        }
        cmd = [sys.executable, "-c", PY_LOADGEN]
        given = json.dumps(args)  # on stdin: the batches do not fit an argument list
    out = subprocess.run(cmd, input=given, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def _fractions(text: str) -> tuple[float, ...]:
    """`--open-rate`: comma-separated fractions of the closed-loop rate (0 alone: none)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError("each fraction is between 0 and 1")
    return tuple(v for v in values if v > 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=int, default=50_000)
    parser.add_argument("--prices", type=int, default=1_000_000)
    parser.add_argument(
        "--models",
        type=int,
        help="a national-shaped catalogue of this many "
        "models (`demo scale --national`), e.g. --models 20000 --parts 300000 "
        "--prices 10000000",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="DATABASE", help="a database kept by --keep")
    parser.add_argument(
        "--open-rate",
        type=_fractions,
        default=(0.5,),
        metavar="FRACTION[,FRACTION…]",
        help="open-loop arrival rates as fractions of the closed-loop resolve req/s, one run "
        "each (default 0.5, the goal's; e.g. 0.25,0.5 shows how the tail grows with load; 0 "
        "skips the open loop)",
    )
    args = parser.parse_args()
    url = os.environ.get("PRICEBOOK_BENCH_POSTGRES_URL", DEFAULT_URL)

    if args.reuse:
        name, key, paths = reuse(url, args.reuse)
        args.keep = True
    else:
        name, key, paths = prepare(url, args.parts, args.prices, args.models)
    paths, batches = split(paths)
    from sqlalchemy.engine import make_url

    from bench.common import (
        ContentionMeter,
        contention_line,
        cycle_requests,
        free_port,
        open_loop,
        server_line,
        start_serve,
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pool = max(10, -(-args.connections // args.workers) + 2)
    env = {
        **os.environ,
        "PRICEBOOK_DATABASE_URL": make_url(url)
        .set(database=name)
        .render_as_string(hide_password=False),
        "PRICEBOOK_POOL_SIZE": str(pool),
        "PRICEBOOK_RATE_LIMIT": "0",  # a throughput bench, not a limit test
    }
    server = start_serve(port, args.workers, env)
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).json()["database"] == "ok":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        check = httpx.get(base + paths[0], headers={"X-API-Key": key}, timeout=5)
        assert check.status_code in (200, 404), check.text
        # every worker builds its matching index at start (seconds at 50,000 parts, and a CPU
        # hog meanwhile): measure after the builds, each request on a new connection so that
        # every worker is asked (the route waits for its process's first build)
        for _ in range(8 * args.workers):
            httpx.get(f"{base}/api/v1/match/index", headers={"X-API-Key": key}, timeout=120)
        tool = "wrk" if shutil.which("wrk") else "httpx (asyncio, separate process)"
        print(
            f"pricebook serve (uvicorn), {args.workers} worker(s), pool {pool}; load: {tool}, "
            f"{args.connections} connections, {args.duration:.0f} s each",
            flush=True,
        )
        load(base, ["/health"], key, args.connections, 2)  # warm-up
        load(base, paths, key, args.connections, 2)
        batch_path = ["/api/v1/prices/resolve"]
        load(base, batch_path, key, args.connections, 2, batches)
        health = load(base, ["/health"], key, args.connections, args.duration)
        resolve = load(base, paths, key, args.connections, args.duration)
        batch = load(base, batch_path, key, args.connections, args.duration, batches)
        # the same batches without their explanation (each winner alone): what a tool that
        # needs the prices only asks for; beside the goal's figure, not instead of it
        lean_batches = [json.dumps({**json.loads(b), "candidates": "winner"}) for b in batches]
        lean = load(base, batch_path, key, args.connections, args.duration, lean_batches)
        opened = []
        for fraction in args.open_rate if resolve["rps"] > 0 else ():
            meter = ContentionMeter(server.pid)
            meter.start()
            run = open_loop(
                base,
                partial(cycle_requests, "GET", paths),
                headers={"X-API-Key": key},
                rate=fraction * resolve["rps"],
                seconds=args.duration,
                connections=args.connections,
            )
            opened.append((fraction, run, meter.stop()))
    finally:
        server.terminate()
        server.wait(15)
        if not args.keep:
            drop(url, name)

    print(f"\n{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    rows = (
        ("GET /health", health),
        ("GET /api/v1/prices/resolve", resolve),
        (f"POST resolve ×{BATCH_ITEMS}", batch),
        ("  … candidates: winner", lean),
    )
    for label, r in rows:
        print(
            f"{label:<28}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}"
            f"{r['non2xx'] + r['errors']:>10}"
        )
    ratio = resolve["rps"] / health["rps"]
    print(f"\nresolve / health: {ratio:.1%} (goal ≥ 50%)")
    print(
        f"batch of {BATCH_ITEMS} / health: {batch['rps'] / health['rps']:.1%} (goal ≥ 10%; "
        f"{batch['rps'] * BATCH_ITEMS:,.0f} items/s)"
    )
    print(
        f"batch of {BATCH_ITEMS}, candidates winner / health: {lean['rps'] / health['rps']:.1%} "
        f"(each winner alone; {lean['rps'] * BATCH_ITEMS:,.0f} items/s)"
    )
    if opened:
        print(
            f"\nopen loop: evenly spaced arrivals, ≤ {args.connections} keep-alive connections "
            f"(plain HTTP/1.1 client), latency from each request's scheduled send time"
        )
        print(
            f"{'endpoint':<28}{'offered/s':>10}{'achieved':>10}{'p50 ms':>10}{'p99 ms':>10}"
            f"{'max ms':>10}{'errors':>10}"
        )
        for _, r, _ in opened:
            print(
                f"{'GET /api/v1/prices/resolve':<28}{r['offered']:>10.0f}{r['achieved']:>10.0f}"
                f"{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['max_ms']:>10.2f}"
                f"{sum(r['errors'].values()):>10}"
            )
            if r["errors"]:
                print(f"{'':28}errors: {r['errors']}")
            print(f"{'':28}(generator's own scheduling delay p99 {r['lag_p99_ms']:.2f} ms)")
            print(f"{'':28}{server_line(r)}")
        for fraction, r, seen in opened:
            goal = " (goal < 10 ms at 50%)" if fraction == 0.5 else ""
            print(
                f"\nopen loop at {r['offered']:.0f} req/s ({fraction:.0%} of closed-loop): "
                f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms{goal}"
            )
            print(f"  {server_line(r)}")
            print(f"  meanwhile {contention_line(seen, r['completed'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
