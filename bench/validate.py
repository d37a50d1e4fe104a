"""Estimate validation under load, side by side with /health in the same run.

    .venv/bin/python bench/validate.py [--prices 1000000] [--parts 50000] [--connections 16]
                                       [--seconds 15] [--rounds 3] [--workers 2]
                                       [--open-rate 0.5] [--reference-cache N]
                                       [--synchronous-commit on|off]

A scratch PostgreSQL database gets the demo catalogue, `demo scale` (≥ 1,000,000 prices) and the
demo review configuration. The app runs as production does (`pricebook serve`: uvicorn, a
SO_REUSEPORT socket per worker) in its own processes; the load generator
(aiohttp, `--connections` concurrent keep-alive connections) in another. Each validation is a
new estimate (id and VIN), 40 lines: 20 catalogue parts, 10 custom names (typed as adjusters
do: aliases and the other naming convention), 10 labor lines. The lines are drawn before the
clock starts (50 estimates per connection, each request stamps a new id and VIN into one), so
the generator's share of the two cores is its HTTP work, as for /health. Prints req/s, p50 and
p99 for both and the ratio (goal: validate ≥ 25% of /health req/s), then what a request of each
cost in CPU: the server's workers, PostgreSQL and the generator (`bench.common.CpuMeter`; the
three share the cores, so 25% means validate may cost at most 4× a /health). Each measured load
starts at a fresh `CHECKPOINT`, so no run has a checkpoint inside it that another lacks. The
pair of loads runs `--rounds` times, alternating, and the round with the median ratio is the
one reported (identical loads on one machine differ by ±5%, as much as many a change).

Those runs are closed-loop (each connection sends its next request as soon as the previous one
answers): they find the saturation throughput, and their latency is mostly queueing (≈
connections ÷ req/s). Then validate runs open-loop (`bench.common.open_loop`, another process, at
most `--connections` keep-alive connections) at a fixed arrival rate, `--open-rate` × the
closed-loop validate req/s (default 0.5; 0 skips it), for `--seconds`, with fresh estimates built
the same way; its p50, p99 and max are timed from each request's scheduled send time, so
queueing is not hidden (goal: validate p99 < 50 ms at that load).

The estimates draw on one model's parts (134 of them, 576 aliases), so after the warm-up every
reference a validation needs is in the server processes' memo (`pricebook.estimates.
_References`, kept until the next catalogue change). `--reference-cache 0` runs the server
with `PRICEBOOK_REFERENCE_CACHE_ENTRIES=0`: every validation reads every reference, as the
first validations after a change do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.common import CpuMeter, free_port, open_loop, scratch_database  # noqa: E402
from pricebook import keys, migrate  # noqa: E402
from pricebook.db import make_engine, transaction  # noqa: E402
from pricebook.demo.scale import scale_demo  # noqa: E402
from pricebook.estimates import load_demo_review_config  # noqa: E402
from pricebook.models import Part, PartAlias, VehicleModel  # noqa: E402
from pricebook.settings import Settings  # noqa: E402


def prepare(url: str, parts: int, prices: int, *, fill: bool = True) -> tuple[str, dict]:
    engine = make_engine(Settings(database_url=url))
    try:
        migrate.upgrade(engine)  # a database kept from an earlier run may be behind the code
        if fill:
            scale_demo(engine, parts=parts, prices=prices)
            with transaction(engine) as session:
                load_demo_review_config(session)
        with transaction(engine) as session:
            _, key = keys.create_key(session, name="bench", role="estimate_tool", actor="bench")
            model = session.scalar(
                select(VehicleModel.id).where(VehicleModel.code.like("VW-LAVIDA%")).order_by(VehicleModel.id)
            )  # fmt: skip
            vw = session.execute(
                select(Part.id, Part.name).where(Part.code.like("VW1-%")).order_by(Part.id)
            ).all()
            aliases = session.execute(
                select(PartAlias.alias)
                .join(Part, Part.id == PartAlias.part_id)
                .where(Part.code.like("VW1-%"))
                .order_by(PartAlias.id)
            ).scalars().all()  # fmt: skip
        with engine.begin() as conn:  # committed: statistics from a rolled-back ANALYZE vanish
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return key, {"model": model, "parts": [p for p, _ in vw], "aliases": list(aliases)}


#: stand-ins in an estimate template for its id and VIN (`stamp` fills them in)
_ID, _VIN = b"@@estimate@@", b"@@vehicle@@@@@"
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def template(data: dict, rng: random.Random) -> bytes:
    """An estimate of 40 lines drawn from the model's parts and aliases, with stand-ins for its
    id and VIN: each validation must be a new estimate on a new vehicle (a stored id is answered
    from storage; a VIN seen before brings repeat claims)."""
    parts = rng.sample(data["parts"], 20)
    names = rng.sample(data["aliases"], 10)
    lines: list[dict] = []
    for pid in parts:
        lines.append({"type": "part", "part_id": pid, "price_type": "4s",
                      "claimed_unit_price": f"{rng.randint(100, 3000)}.00"})  # fmt: skip
    for name in names:
        lines.append({"type": "part", "custom_name": name,
                      "claimed_unit_price": f"{rng.randint(100, 3000)}.00"})  # fmt: skip
    for i in range(10):
        lines.append({"type": "labor", "line_ref": i, "operation": "replace",
                      "labor_kind": "sheet_metal", "hours": "1.5", "claimed_rate": "120.00"})  # fmt: skip
    return json.dumps({
        "estimate_id": _ID.decode(), "version": 1,
        "date": "2025-09-10", "branch": "SZ01", "vehicle": {"model_id": data["model"], "vin": _VIN.decode()},
        "shop": {"tier": "class1"}, "lines": lines,
    }).encode()  # fmt: skip


def stamp(body: bytes, run: str, worker: int, n: int) -> bytes:
    """A template made the `n`th estimate of `worker` in `run` (a few letters, fresh per run:
    a database kept from an earlier run must not answer with its stored validations)."""
    vin = f"LSV{run[:5]}{worker:03d}{n:06d}"  # 17 characters, unique per run, worker and n
    return body.replace(_ID, f"BENCH-{run}-{worker}-{n}".encode()).replace(_VIN, vin.encode())


def new_run() -> str:
    return "".join(random.choice(_VIN_CHARS) for _ in range(8))


def estimate(n: int, worker: int, data: dict, rng: random.Random, run: str = "") -> bytes:
    return stamp(template(data, rng), run or new_run(), worker, n)


OPEN_WORKER = 999  # the open-loop run's "worker" number in estimate ids
TEMPLATES = 50  # estimate templates per closed-loop connection


def open_requests(data: dict, total: int) -> list[tuple[str, str, bytes]]:
    """The open-loop run's `total` validations: fresh estimates, as `_load` builds them (a fresh
    seed per run; worker number `OPEN_WORKER` keeps the ids apart from the closed-loop ones)."""
    run = new_run()
    rng = random.Random(f"{run}-open")
    path = "/api/v1/estimates/validate"
    return [("POST", path, estimate(n, OPEN_WORKER, data, rng, run)) for n in range(total)]


async def _load(url: str, key: str, data: dict | None, connections: int, seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: dict[int, int] = {}
    run = new_run()
    headers = {"X-API-Key": key, "content-type": "application/json"}
    # the bodies' lines are drawn before the clock starts (TEMPLATES per connection, then each
    # request stamps a new id and VIN in one): the generator shares the machine's two cores
    # with the server, and building 40-line JSON bodies per request took ~0.15 ms of them
    templates = []
    if data is not None:
        for w in range(connections):
            rng = random.Random(f"{run}-{w}")
            templates.append([template(data, rng) for _ in range(TEMPLATES)])
    deadline = time.perf_counter() + seconds

    async def worker(w: int, session: aiohttp.ClientSession) -> None:
        n = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if data is None:
                async with session.get(url) as resp:
                    await resp.read()
                    status = resp.status
            else:
                payload = stamp(templates[w][n % TEMPLATES], run, w, n)
                start = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            latencies.append(time.perf_counter() - start)
            if status >= 300:
                errors[status] = errors.get(status, 0) + 1
            n += 1

    connector = aiohttp.TCPConnector(limit=connections)
    started, cpu = time.perf_counter(), time.process_time()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(w, session) for w in range(connections)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
        "generator_cpu_s": cpu,
    }


def load_process(url: str, key: str, data: dict | None, connections: int, seconds: float, out) -> None:  # fmt: skip
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    out.put(asyncio.run(_load(url, key, data, connections, seconds)))


def measure(
    url: str, key: str, data: dict | None, connections: int, seconds: float,
    meter: CpuMeter | None = None,
) -> dict:  # fmt: skip
    """Run the load generator in its own process (not the server's, not this one); with a
    meter, also the CPU milliseconds per request of the server, PostgreSQL and the generator."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=load_process, args=(url, key, data, connections, seconds, queue))  # fmt: skip
    if meter:
        meter.start()  # the generator builds its bodies first: server and database idle meanwhile
    proc.start()
    result = queue.get()
    spent = meter.stop() if meter else {}
    proc.join()
    n = max(result["requests"], 1)
    spent["generator"] = result["generator_cpu_s"]
    result["cpu_ms"] = {k: (v * 1000 / n if v is not None else None) for k, v in spent.items()}
    return result


def _execute(url: str, sql: str) -> None:
    """One statement outside any transaction, on an engine of its own."""
    engine = make_engine(Settings(database_url=url))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def checkpoint(url: str) -> None:
    """Start a measurement at a fresh checkpoint: a validation writes ~14 KB of WAL, so with the
    stock `max_wal_size` PostgreSQL checkpoints every minute or so, and a checkpoint falling
    inside one run and not another moved its CPU per validation by half. Needs a superuser (or
    `pg_checkpoint`); skipped otherwise."""
    from sqlalchemy.exc import DBAPIError

    try:
        _execute(url, "CHECKPOINT")
    except DBAPIError as exc:
        print(f"(no CHECKPOINT before measuring: {exc.orig})", flush=True)


def vacuum_validations(url: str) -> None:
    """After the warm-up: its thousands of stored validations would otherwise bring
    autovacuum and ANALYZE into the first measured load (a /health one), slowing it by ~10%
    and flattering that round's ratio."""
    _execute(url, "VACUUM (ANALYZE) estimate_validations")


def _ratio(health: dict, validate: dict) -> float:
    return validate["rps"] / health["rps"] if health["rps"] else 0.0


def print_cpu(health: dict, validate: dict) -> None:
    """Who pays for a request: the three share the machine's cores, so validate reaches 25%
    of /health's req/s only if it costs at most 4× the CPU of a /health, all three counted."""
    cols = ("server", "postgres", "generator")
    print()
    print(f"{'CPU ms per request':21}{'server':>11}{'postgres':>11}{'generator':>11}{'total':>11}")
    totals = []
    for name, r in (("GET /health", health), ("POST validate", validate)):
        cpu = r["cpu_ms"]
        if any(cpu.get(c) is None for c in cols):
            print(f"{name:21}  (not measured: needs Linux and a readable /proc)")
            return
        totals.append(sum(cpu[c] for c in cols))
        print(f"{name:21}" + "".join(f"{cpu[c]:>11.3f}" for c in cols) + f"{totals[-1]:>11.3f}")
    print(f"validate costs {totals[1] / totals[0]:.1f}× a /health (25% of its req/s needs ≤ 4×: "
          f"≤ {totals[0] * 4:.2f} ms in all)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prices", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure /health then validate this many times, alternating; the "
                        "round with the median ratio is the one reported (default 3)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="server processes (one per core)")
    parser.add_argument("--database", help="reuse a database this script prepared before")
    parser.add_argument("--reference-cache", type=int, metavar="N",
                        help="the server's PRICEBOOK_REFERENCE_CACHE_ENTRIES (0: keep none)")  # fmt: skip
    parser.add_argument("--synchronous-commit", choices=("on", "off"),
                        help="the server's PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT (default: "
                        "its default, on: each stored validation waits for its WAL flush)")  # fmt: skip
    parser.add_argument("--open-rate", type=float, default=0.5, metavar="FRACTION",
                        help="open-loop arrival rate as a fraction of the closed-loop validate "
                        "req/s (default 0.5; 0 skips the open-loop run)")  # fmt: skip
    args = parser.parse_args()

    from contextlib import nullcontext

    scratch = nullcontext(args.database) if args.database else scratch_database("pricebook_bench_validate")  # fmt: skip
    with scratch as db_url:
        t0 = time.perf_counter()
        key, data = prepare(db_url, args.parts, args.prices, fill=not args.database)
        print(f"prepared {args.prices:,} prices, {args.parts:,} parts in {time.perf_counter() - t0:.0f}s", flush=True)  # fmt: skip
        port = free_port()
        env = {**os.environ, "PRICEBOOK_DATABASE_URL": db_url,
               "PRICEBOOK_POOL_SIZE": str(max(4, args.connections // args.workers + 2)),
               "PRICEBOOK_RATE_LIMIT": "0"}  # a throughput bench, not a limit test  # fmt: skip
        if args.reference_cache is not None:
            env["PRICEBOOK_REFERENCE_CACHE_ENTRIES"] = str(args.reference_cache)
        if args.synchronous_commit is not None:
            env["PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT"] = args.synchronous_commit
        server = subprocess.Popen(
            [sys.executable, "-m", "pricebook.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--workers", str(args.workers), "--no-access-log", "--log-level",
             "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            # warm up: one validation builds the matching index (seconds at 50,000 parts), then
            # a short load warms the pools (and builds the index in every other worker)
            import urllib.request

            first = urllib.request.Request(
                f"{base}/api/v1/estimates/validate", estimate(0, 99, data, random.Random(0)),
                {"X-API-Key": key, "content-type": "application/json"},
            )  # fmt: skip
            t1 = time.perf_counter()
            with urllib.request.urlopen(first, timeout=300) as resp:
                resp.read()
            print(f"first validation (builds the matching index): {time.perf_counter() - t1:.1f}s", flush=True)  # fmt: skip
            measure(f"{base}/health", key, None, args.connections, 2)
            warm = measure(f"{base}/api/v1/estimates/validate", key, data, args.connections, 10)
            if warm["errors"]:
                print(f"warm-up errors: {warm['errors']}", flush=True)
            vacuum_validations(db_url)
            meter = CpuMeter(server.pid)
            rounds = []
            for n in range(1, max(1, args.rounds) + 1):
                checkpoint(db_url)
                health = measure(f"{base}/health", key, None, args.connections, args.seconds, meter)
                checkpoint(db_url)
                validate = measure(f"{base}/api/v1/estimates/validate", key, data, args.connections, args.seconds, meter)  # fmt: skip
                rounds.append((health, validate))
                print(f"round {n}: /health {health['rps']:,.0f} req/s, validate "
                      f"{validate['rps']:,.0f} req/s: {_ratio(health, validate):.1%}", flush=True)  # fmt: skip
            # the machine's speed drifts by several percent between identical loads: alternate,
            # and report the middle round rather than the best or the last
            health, validate = sorted(rounds, key=lambda r: _ratio(*r))[len(rounds) // 2]
            opened = None
            if args.open_rate > 0 and validate["rps"] > 0:
                opened = open_loop(
                    base, partial(open_requests, data),
                    headers={"X-API-Key": key, "content-type": "application/json"},
                    rate=args.open_rate * validate["rps"], seconds=args.seconds,
                    connections=args.connections,
                )  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)

    print()
    kept = "" if args.reference_cache is None else f", reference cache {args.reference_cache:,}"
    if args.synchronous_commit is not None:
        kept += f", validation synchronous_commit {args.synchronous_commit}"
    print(f"{args.connections} connections, {args.seconds:.0f}s each, server workers: {args.workers}, "
          f"{args.prices:,} prices; validate = 40 lines, 10 custom names{kept}")  # fmt: skip
    print(f"{'':22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}")
    for name, r in (("GET /health", health), ("POST validate", validate)):
        print(
            f"{name:22}{r['rps']:>10.1f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['requests']:>10}"
        )
        if r["errors"]:
            print(f"{'':22}errors: {r['errors']}")
    ratio = _ratio(health, validate)
    print(f"validate/health: {ratio:.1%} (goal ≥ 25%); validate p99 {validate['p99_ms']:.1f} ms (goal < 50 ms)")  # fmt: skip
    if len(rounds) > 1:
        ratios = ", ".join(f"{_ratio(*r):.1%}" for r in rounds)
        print(f"(the median of {len(rounds)} alternating rounds: {ratios})")
    print_cpu(health, validate)
    if opened:
        r = opened
        print()
        print(f"open loop: evenly spaced arrivals, ≤ {args.connections} keep-alive connections, "
              f"{args.seconds:.0f}s; latency from each request's scheduled send time")  # fmt: skip
        print(f"{'':22}{'offered/s':>10}{'achieved':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'requests':>10}")  # fmt: skip
        print(f"{'POST validate':22}{r['offered']:>10.1f}{r['achieved']:>10.1f}{r['p50_ms']:>10.1f}"
              f"{r['p99_ms']:>10.1f}{r['max_ms']:>10.1f}{r['requests']:>10}")  # fmt: skip
        print(f"{'':22}errors: {r['errors'] or 0}; generator's own scheduling delay p99 {r['lag_p99_ms']:.2f} ms")  # fmt: skip
        print(f"open loop at {r['offered']:.0f} req/s ({args.open_rate:.0%} of closed-loop): "
              f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms (goal < 50 ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
