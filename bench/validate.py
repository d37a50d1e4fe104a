"""Estimate validation under load, side by side with /health in the same run, for three
reference mixes: warm, realistic and cold.

    .venv/bin/python bench/validate.py [--prices 1000000] [--parts 50000] [--models N]
                                       [--connections 16]
                                       [--seconds 15] [--rounds 3] [--workers 2]
                                       [--mixes warm,realistic,cold] [--seed 1] [--zipf 1.1]
                                       [--open-rate 0.5] [--open-mixes realistic]
                                       [--reference-cache N] [--synchronous-commit on|off]

A scratch PostgreSQL database (new for every run, dropped at the end) gets the demo catalogue,
`demo scale` (≥ 1,000,000 prices) and the demo review configuration. The app runs as production
does (`pricebook serve`: uvicorn, a SO_REUSEPORT socket per worker) in its own processes, a new
server for each mix (so each starts with an empty memo); the load generator (aiohttp,
`--connections` concurrent keep-alive connections) in another. Each validation is a new estimate
(id and VIN), 40 lines: 20 catalogue parts, 10 custom names (typed as adjusters do: aliases and
the other naming convention), 10 labor lines. The lines are drawn before the clock starts, so
the generator's share of the two cores is its HTTP work, as for /health.

The mixes differ in which references the validations need, and so in how often the server
processes find them in their memo (`pricebook.estimates.memo._References`, at most
`PRICEBOOK_REFERENCE_CACHE_ENTRIES` entries per process, then the oldest half let go):

- warm: every estimate on one model (VW-LAVIDA) and its 134 parts (576 aliases): after the
  warm-up every reference is in the memo. 50 estimates per connection, reused with a new id and
  VIN stamped in (repeating lines costs the memo nothing here: it already holds them all).
- realistic: the scaled catalogue's synthetic models and parts (`demo scale`: each SCALE part
  fits the 3 models of its platform, as the `fitments` table says). Models are ranked in a
  seeded order and drawn with P(rank k) ∝ 1/k^s (`--zipf`, default s = 1.1; models with fewer
  than 20 fitted parts left out); the 20 parts come from that model's fitted parts, ranked by
  their place in the platform (one seeded order of the part templates, so the same kind of
  part, a bumper say, is popular on every model) and drawn with the same law, without
  repetition. The 10 custom names are aliases of 10 more of that model's parts, drawn the
  same way (what an adjuster types for a part of the vehicle in front of them). Every request is a
  different estimate (enough are drawn beforehand from the warm-up's rate; a connection that
  runs out draws more on the fly), so nothing is answered from the memo by repetition.
- cold: the realistic lines on a server started with `PRICEBOOK_REFERENCE_CACHE_ENTRIES=0`:
  every validation reads every reference, as the first validations after a catalogue change do.

`--reference-cache N` sets the memo's bound for the warm and realistic servers (default: the
server's own default); `--mixes` runs a subset; `--seed` fixes the rankings and every draw.

The hit rate is measured, not assumed: each server process counts the references its
validations looked up in its memo, found (hits) or read from the database (misses)
(`pricebook.estimates.REFERENCE_STATS`: plain integers, never reset), and answers them with its
pid at GET /api/v1/estimates/reference-cache. Before and after each measured validate load the
bench asks that endpoint on new connections until every worker has answered (SO_REUSEPORT
hands each new connection to a worker by its address hash: a few asks reach both), and the hit
rate is Σ hits ÷ Σ (hits + misses) of the differences, over the workers. The endpoint is asked
only between loads, never during one. A memo that outgrew its bound and was dropped counts in
`dropped`. The typed names are counted the same way from each worker's matching index
(GET /api/v1/match/index, `answers`): the share answered from its memo of answers ("names").

Per mix: the pair of loads (/health, then validate) runs `--rounds` times, alternating, each
from a fresh `CHECKPOINT`, and the round with the median ratio is the one reported (identical
loads on one machine differ by ±5%). Printed: validations/s, the ratio to /health's req/s of
the same server and round (goals: warm ≥ 25%, realistic ≥ 15%, cold ≥ 10%), p50 and p99, what
a validation cost in CPU — the server's workers, PostgreSQL (every postgres process on the
machine: other users' queries count too) and the generator (`bench.common.CpuMeter`; the three
share the cores, so 25% means validate may cost at most 4× a /health) — and the hit rate.

Those runs are closed-loop (each connection sends its next request as soon as the previous one
answers): they find the saturation throughput, and their latency is mostly queueing (≈
connections ÷ req/s). Then, for the mixes in `--open-mixes` (default realistic), validate runs
open-loop (`bench.common.open_loop`, another process, at most `--connections` keep-alive
connections) at a fixed arrival rate, `--open-rate` × that mix's closed-loop validate req/s
(default 0.5; 0 skips it), for `--seconds`, with fresh estimates of the mix; its p50, p99 and
max are timed from each request's scheduled send time, so queueing is not hidden (goal: p99 <
50 ms at that load). Beside it: how busy the CPUs were and how long the server's processes and
PostgreSQL waited runnable for a CPU (`bench.common.ContentionMeter`).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import functools
import itertools
import json
import math
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import nullcontext
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.common import (  # noqa: E402
    ContentionMeter,
    CpuMeter,
    contention_line,
    free_port,
    open_loop,
    scratch_database,
    server_line,
    start_serve,
)
from pricebook import keys, migrate  # noqa: E402
from pricebook.db import make_engine, transaction  # noqa: E402
from pricebook.demo.national import NationalShape, national_demo  # noqa: E402
from pricebook.demo.scale import scale_demo  # noqa: E402
from pricebook.models import Fitment, Part, PartAlias, VehicleModel  # noqa: E402
from pricebook.review_config import load_demo_review_config  # noqa: E402
from pricebook.settings import Settings  # noqa: E402

MIXES = ("warm", "realistic", "cold")
#: validations/s as a share of /health's req/s that the issue asks of each mix
GOALS = {"warm": 0.25, "realistic": 0.15, "cold": 0.10}
OPEN_P99_GOAL_MS = 50.0
PART_LINES, NAME_LINES, LABOR_LINES = 20, 10, 10
STATS_PATH = "/api/v1/estimates/reference-cache"
MATCH_PATH = "/api/v1/match/index"  # the matcher's memo of answers: `answers`
VALIDATE_PATH = "/api/v1/estimates/validate"


def prepare(
    url: str,
    parts: int,
    prices: int,
    *,
    fill: bool = True,
    seed: int = 1,
    zipf: float = 1.1,
    models: int | None = None,
) -> tuple[str, dict[str, dict]]:
    """Fill the database (unless `fill` is false: a database this script prepared before; with
    `models`, national-shaped), make an API key, and read what the mixes draw on: {mix: data}
    (see `template`)."""
    engine = make_engine(Settings(database_url=url))
    try:
        migrate.upgrade(engine)  # a database kept from an earlier run may be behind the code
        if fill and models:
            national_demo(engine, NationalShape(models=models, parts=parts, prices=prices))
        elif fill:
            scale_demo(engine, parts=parts, prices=prices)
            with transaction(engine) as session:
                load_demo_review_config(session)
        with transaction(engine) as session:
            _, key = keys.create_key(session, name="bench", role="estimate_tool", actor="bench")
            model = session.scalar(
                select(VehicleModel.id)
                .where(VehicleModel.code.like("VW-LAVIDA%"))
                .order_by(VehicleModel.id)
            )
            vw = session.execute(
                select(Part.id, Part.name).where(Part.code.like("VW1-%")).order_by(Part.id)
            ).all()
            aliases = (
                session.execute(
                    select(PartAlias.alias)
                    .join(Part, Part.id == PartAlias.part_id)
                    .where(Part.code.like("VW1-%"))
                    .order_by(PartAlias.id)
                )
                .scalars()
                .all()
            )
            # the synthetic models and the synthetic parts that fit each (`demo scale`)
            fitted = session.execute(
                select(Fitment.model_id, Fitment.part_id)
                .join(VehicleModel, VehicleModel.id == Fitment.model_id)
                .join(Part, Part.id == Fitment.part_id)
                .where(VehicleModel.code.like("SCALE-M%"), Part.code.like("SCALE-%"))
                .order_by(Fitment.model_id, Fitment.part_id)
            ).all()
            # what adjusters type for the synthetic parts (`demo scale` copies the demo's)
            typed: dict[int, list[str]] = {}
            for part_id, alias in session.execute(
                select(PartAlias.part_id, PartAlias.alias)
                .join(Part, Part.id == PartAlias.part_id)
                .where(Part.code.like("SCALE-%"))
                .order_by(PartAlias.id)
            ):
                typed.setdefault(part_id, []).append(alias)
    finally:
        engine.dispose()
    warm = {
        "mix": "warm",
        "models": [model],
        "parts": [[p for p, _ in vw]],
        "aliases": list(aliases),
        "zipf": None,
    }
    return key, {"warm": warm, "realistic": realistic_mix(fitted, typed, seed, zipf)}


def realistic_mix(fitted: list, typed: dict[int, list[str]], seed: int, zipf: float) -> dict:
    """Models in a seeded popularity order, each with its fitted parts in popularity order: a
    part's rank is its place in the platform (parts by id) in one seeded order of places.
    Custom names are aliases of the model's own parts (`typed`: part → aliases), as an
    adjuster types the name of a part of the vehicle in front of them."""
    by_model: dict[int, list[int]] = {}
    for model_id, part_id in fitted:
        by_model.setdefault(model_id, []).append(part_id)
    usable = sorted(m for m, ps in by_model.items() if len(ps) >= PART_LINES)
    if not usable:
        raise SystemExit(f"no synthetic model with ≥ {PART_LINES} fitted parts: run `demo scale`")
    rng = random.Random(f"{seed}-ranking")
    rng.shuffle(usable)
    widest = max(len(by_model[m]) for m in usable)
    places = rng.sample(range(widest), widest)  # the most popular place first
    ranked = []
    for m in usable:
        ps = by_model[m]
        ranked.append([ps[i] for i in places if i < len(ps)])
    return {"mix": "realistic", "models": usable, "parts": ranked, "typed": typed, "zipf": zipf}


@functools.cache
def _zipf_cumulative(n: int, s: float) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1 / k**s for k in range(1, n + 1)))


def zipf_rank(rng: random.Random, n: int, s: float) -> int:
    """A rank in 0 … n-1 with P(rank k) ∝ 1/(k+1)^s."""
    cumulative = _zipf_cumulative(n, s)
    return min(n - 1, bisect.bisect_right(cumulative, rng.random() * cumulative[-1]))


def zipf_distinct(rng: random.Random, ranked: list[int], s: float, k: int) -> list[int]:
    """`k` different items of `ranked` (most popular first), each drawn by `zipf_rank` (a
    repeat is drawn again)."""
    chosen: dict[int, None] = {}
    while len(chosen) < k:
        chosen.setdefault(ranked[zipf_rank(rng, len(ranked), s)], None)
    return list(chosen)


#: stand-ins in an estimate template for its id and VIN (`stamp` fills them in)
_ID, _VIN = b"@@estimate@@", b"@@vehicle@@@@@"
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def template(data: dict, rng: random.Random) -> bytes:
    """An estimate of 40 lines drawn from a mix (`prepare`), with stand-ins for its id and VIN:
    each validation must be a new estimate on a new vehicle (a stored id is answered from
    storage; a VIN seen before brings repeat claims). The warm mix: its one model, 20 of its
    parts evenly; the realistic: a model and 20 of its parts by Zipf's law."""
    if data["zipf"] is None:
        model = data["models"][0]
        parts = rng.sample(data["parts"][0], PART_LINES)
        names = rng.sample(data["aliases"], NAME_LINES)
    else:
        s = data["zipf"]
        m = zipf_rank(rng, len(data["models"]), s)
        model = data["models"][m]
        chosen = zipf_distinct(rng, data["parts"][m], s, PART_LINES + NAME_LINES)
        parts, named = chosen[:PART_LINES], chosen[PART_LINES:]
        names = [rng.choice(data["typed"][p]) for p in named if data["typed"].get(p)]
    lines: list[dict] = []
    for pid in parts:
        lines.append(
            {
                "type": "part",
                "part_id": pid,
                "price_type": "4s",
                "claimed_unit_price": f"{rng.randint(100, 3000)}.00",
            }
        )
    for name in names:
        lines.append(
            {
                "type": "part",
                "custom_name": name,
                "claimed_unit_price": f"{rng.randint(100, 3000)}.00",
            }
        )
    for i in range(LABOR_LINES):
        lines.append(
            {
                "type": "labor",
                "line_ref": i,
                "operation": "replace",
                "labor_kind": "sheet_metal",
                "hours": "1.5",
                "claimed_rate": "120.00",
            }
        )
    return json.dumps(
        {
            "estimate_id": _ID.decode(),
            "version": 1,
            "date": "2025-09-10",
            "branch": "SZ01",
            "vehicle": {"model_id": model, "vin": _VIN.decode()},
            "shop": {"tier": "class1"},
            "lines": lines,
        }
    ).encode()


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
TEMPLATES = 50  # estimate templates per closed-loop connection, at least


def open_requests(data: dict, seed: str, total: int) -> list[tuple[str, str, bytes]]:
    """The open-loop run's `total` validations: fresh estimates of the mix, as `_load` builds
    them (worker number `OPEN_WORKER` keeps the ids apart from the closed-loop ones)."""
    run = new_run()
    rng = random.Random(f"{seed}-open")
    return [("POST", VALIDATE_PATH, estimate(n, OPEN_WORKER, data, rng, run)) for n in range(total)]


async def _load(
    url: str,
    key: str,
    data: dict | None,
    connections: int,
    seconds: float,
    seed: str,
    expect: int,
) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: dict[int, int] = {}
    run = new_run()
    headers = {"X-API-Key": key, "content-type": "application/json"}
    # the bodies' lines are drawn before the clock starts (then each request stamps a new id
    # and VIN in one): the generator shares the machine's two cores with the server, and
    # building 40-line JSON bodies per request took ~0.15 ms of them. The warm mix reuses its
    # TEMPLATES per connection; the others need a new estimate per request (`expect` in all
    # drawn beforehand, more on the fly if a connection runs out)
    fresh = data is not None and data["zipf"] is not None
    per_connection = max(TEMPLATES, math.ceil(expect / connections)) if fresh else TEMPLATES
    templates: list[list[bytes]] = []
    rngs: list[random.Random] = []
    if data is not None:
        for w in range(connections):
            rngs.append(random.Random(f"{seed}-{w}"))
            templates.append([template(data, rngs[w]) for _ in range(per_connection)])
    drawn_late = 0

    async def worker(w: int, session: aiohttp.ClientSession) -> None:
        nonlocal drawn_late
        n = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if data is None:
                async with session.get(url) as resp:
                    await resp.read()
                    status = resp.status
            else:
                if fresh and n == len(templates[w]):
                    templates[w].append(template(data, rngs[w]))
                    drawn_late += 1
                payload = stamp(templates[w][n % len(templates[w])], run, w, n)
                start = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            latencies.append(time.perf_counter() - start)
            if status >= 300:
                errors[status] = errors.get(status, 0) + 1
            n += 1

    connector = aiohttp.TCPConnector(limit=connections)
    deadline = time.perf_counter() + seconds
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
        "drawn_late": drawn_late,
    }


def load_process(args: tuple, out) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    out.put(asyncio.run(_load(*args)))


def measure(
    url: str,
    key: str,
    data: dict | None,
    connections: int,
    seconds: float,
    meter: CpuMeter | None = None,
    *,
    seed: str = "",
    expect: int = 0,
) -> dict:
    """Run the load generator in its own process (not the server's, not this one); with a
    meter, also the CPU milliseconds per request of the server, PostgreSQL and the generator."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    args = (url, key, data, connections, seconds, seed or new_run(), expect)
    proc = multiprocessing.Process(target=load_process, args=(args, queue))
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


# -- the memo's counters, from every worker ------------------------------------------------------


def reference_stats(
    base: str, key: str, workers: int, path: str = STATS_PATH, tries: int = 200
) -> dict[int, dict]:
    """{pid: counters} of the server's worker processes, on a new connection each time until
    `workers` different pids have answered: the reference memo's (`STATS_PATH`) or the matcher's
    memo of answers (`MATCH_PATH`, with the index version they count for)."""
    seen: dict[int, dict] = {}
    for _ in range(tries):
        ask = urllib.request.Request(f"{base}{path}", headers={"X-API-Key": key})
        with urllib.request.urlopen(ask, timeout=30) as resp:  # urllib: Connection: close
            answer = json.loads(resp.read())
        if "answers" in answer:
            answer = {**answer["answers"], "pid": answer["pid"], "version": answer["version"]}
        seen[answer["pid"]] = answer
        if len(seen) >= workers:
            break
    return seen


def hits_between(before: dict[int, dict], after: dict[int, dict]) -> dict:
    """The counters' differences summed over the workers (a worker that restarted or rebuilt
    its matching index in between counts from 0), its `entries` now, and the hit rate."""
    out = {"hits": 0, "misses": 0, "dropped": 0, "entries": 0, "workers": len(after)}
    for pid, now in after.items():
        then = before.get(pid, {})
        if then.get("version") != now.get("version"):
            then = {}
        for k in ("hits", "misses", "dropped"):
            out[k] += now[k] - then.get(k, 0)
        out["entries"] += now["entries"]
    looked_up = out["hits"] + out["misses"]
    out["rate"] = out["hits"] / looked_up if looked_up else None
    return out


# -- the database between loads ------------------------------------------------------------------


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


# -- one mix on a server of its own --------------------------------------------------------------


def start_server(
    db_url: str, args: argparse.Namespace, cache: int | None
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "PRICEBOOK_DATABASE_URL": db_url,
        "PRICEBOOK_POOL_SIZE": str(max(4, args.connections // args.workers + 2)),
        "PRICEBOOK_RATE_LIMIT": "0",
    }  # a throughput bench, not a limit test
    env.pop("PRICEBOOK_REFERENCE_CACHE_ENTRIES", None)
    if cache is not None:
        env["PRICEBOOK_REFERENCE_CACHE_ENTRIES"] = str(cache)
    if args.synchronous_commit is not None:
        env["PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT"] = args.synchronous_commit
    server = start_serve(port, args.workers, env)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    return server, port


def run_mix(mix: str, data: dict, db_url: str, key: str, args: argparse.Namespace) -> dict:
    """Start a server for `mix`, warm it up, measure `--rounds` pairs of loads and (if asked)
    the open loop; the median round, every round's ratio, the hit rates."""
    cache = 0 if mix == "cold" else args.reference_cache
    server, port = start_server(db_url, args, cache)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}{VALIDATE_PATH}"
    seed = f"{args.seed}-{mix}"
    try:
        # warm up: one validation builds the matching index (seconds at 50,000 parts), then a
        # short load warms the pools (and builds the index in every other worker)
        first = urllib.request.Request(
            url,
            estimate(0, 99, data, random.Random(f"{seed}-first")),
            {"X-API-Key": key, "content-type": "application/json"},
        )
        t1 = time.perf_counter()
        with urllib.request.urlopen(first, timeout=300) as resp:
            resp.read()
        print(
            f"[{mix}] first validation (builds the matching index): {time.perf_counter() - t1:.1f}s",
            flush=True,
        )
        measure(f"{base}/health", key, None, args.connections, 2)
        stats = reference_stats(base, key, args.workers)
        warm = measure(url, key, data, args.connections, 10, seed=f"{seed}-warmup")
        warmed = hits_between(stats, reference_stats(base, key, args.workers))
        print(
            f"[{mix}] warm-up: {warm['rps']:,.0f} validations/s, hit rate {_pct(warmed['rate'])}"
            + (f", errors {warm['errors']}" if warm["errors"] else ""),
            flush=True,
        )
        vacuum_validations(db_url)
        meter = CpuMeter(server.pid)
        rounds = []
        fastest = warm["rps"] * 2  # estimates to draw beforehand: a warm memo is faster
        for n in range(1, max(1, args.rounds) + 1):
            expect = math.ceil(fastest * args.seconds * 1.25)
            checkpoint(db_url)
            health = measure(f"{base}/health", key, None, args.connections, args.seconds, meter)
            checkpoint(db_url)
            before = reference_stats(base, key, args.workers)
            names_before = reference_stats(base, key, args.workers, MATCH_PATH)
            validate = measure(
                url,
                key,
                data,
                args.connections,
                args.seconds,
                meter,
                seed=f"{seed}-round{n}",
                expect=expect,
            )
            validate["memo"] = hits_between(before, reference_stats(base, key, args.workers))
            validate["names"] = hits_between(
                names_before, reference_stats(base, key, args.workers, MATCH_PATH)
            )
            rounds.append((health, validate))
            fastest = max(fastest, validate["rps"])
            late = (
                f", {validate['drawn_late']} estimates drawn during the load"
                if validate["drawn_late"]
                else ""
            )
            print(
                f"[{mix}] round {n}: /health {health['rps']:,.0f} req/s, validate "
                f"{validate['rps']:,.0f} req/s: {_ratio(health, validate):.1%}; hit rate "
                f"{_pct(validate['memo']['rate'])}, names from the matcher's memo "
                f"{_pct(validate['names']['rate'])}{late}",
                flush=True,
            )
        # the machine's speed drifts by several percent between identical loads: alternate, and
        # report the middle round rather than the best or the last
        health, validate = sorted(rounds, key=lambda r: _ratio(*r))[len(rounds) // 2]
        opened = None
        if mix in args.open_mixes and args.open_rate > 0 and validate["rps"] > 0:
            before = reference_stats(base, key, args.workers)
            contention = ContentionMeter(server.pid)
            contention.start()
            opened = open_loop(
                base,
                partial(open_requests, data, seed),
                headers={"X-API-Key": key, "content-type": "application/json"},
                rate=args.open_rate * validate["rps"],
                seconds=args.seconds,
                connections=args.connections,
            )
            opened["contention"] = contention.stop()
            opened["memo"] = hits_between(before, reference_stats(base, key, args.workers))
            print(
                f"[{mix}] open loop at {opened['offered']:.0f}/s: p99 {opened['p99_ms']:.1f} ms",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "mix": mix,
        "cache": cache,
        "health": health,
        "validate": validate,
        "rounds": rounds,
        "open": opened,
    }


# -- the report ----------------------------------------------------------------------------------


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


_CPU = ("server", "postgres", "generator")


def _cpu_total(r: dict) -> float | None:
    cpu = r["cpu_ms"]
    if any(cpu.get(c) is None for c in _CPU):
        return None
    return sum(cpu[c] for c in _CPU)


def report(results: list[dict], args: argparse.Namespace) -> None:
    print()
    cache = "server default" if args.reference_cache is None else f"{args.reference_cache:,}"
    sync = (
        ""
        if args.synchronous_commit is None
        else f"; validation synchronous_commit {args.synchronous_commit}"
    )
    print(
        f"{args.connections} connections, {args.seconds:.0f}s per load, median of {args.rounds} "
        f"round(s), server workers: {args.workers}; {args.prices:,} prices, {args.parts:,} "
        f"parts ({'a kept database: these figures do not count' if args.database else 'fresh database'}); "
        f"validate = {PART_LINES + NAME_LINES + LABOR_LINES} lines, {NAME_LINES} custom names; "
        f"memo bound (warm, realistic): {cache}; zipf s = {args.zipf}, seed {args.seed}{sync}"
    )
    print(
        f"{'mix':11}{'valid./s':>9}{'/health':>9}{'%health':>9}{'goal':>6}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'CPU ms':>8}{'hit rate':>10}{'misses':>8}{'entries':>9}{'dropped':>8}{'names':>7}"
    )
    for res in results:
        h, v, memo = res["health"], res["validate"], res["validate"]["memo"]
        total = _cpu_total(v)
        per = memo["misses"] / max(v["requests"], 1)
        ok = "✓" if _ratio(h, v) >= GOALS[res["mix"]] else "✗"
        print(
            f"{res['mix']:11}{v['rps']:>9.1f}{h['rps']:>9.0f}{_ratio(h, v):>8.1%}{ok}"
            f"{GOALS[res['mix']]:>6.0%}{v['p50_ms']:>8.1f}{v['p99_ms']:>8.1f}"
            f"{(f'{total:.2f}' if total is not None else 'n/a'):>8}{_pct(memo['rate']):>10}"
            f"{per:>8.1f}{memo['entries']:>9,}{memo['dropped']:>8}"
            f"{_pct(v['names']['rate']):>7}"
        )
        if v["errors"] or h["errors"]:
            print(f"{'':11}errors: validate {v['errors'] or 0}, /health {h['errors'] or 0}")
    print(
        "(valid./s and /health: req/s of the same server in the same round; CPU ms: per "
        "validation, server + PostgreSQL + generator; misses: references read per validation; "
        f"entries: in the memos of the {args.workers} workers at the end; dropped: memos let "
        "go over their bound during the load; names: the typed names answered from the "
        "matcher's memo of answers)"
    )
    for res in results:
        if len(res["rounds"]) > 1:
            ratios = ", ".join(f"{_ratio(*r):.1%}" for r in res["rounds"])
            rates = ", ".join(_pct(r[1]["memo"]["rate"]) for r in res["rounds"])
            names = ", ".join(_pct(r[1]["names"]["rate"]) for r in res["rounds"])
            print(f"{res['mix']:11}rounds: {ratios}; hit rates {rates}; names {names}")

    print()
    print(
        f"{'CPU ms per request':21}{'server':>11}{'postgres':>11}{'generator':>11}{'total':>11}{'× /health':>11}"
    )
    for res in results:
        h, v = res["health"], res["validate"]
        if _cpu_total(h) is None or _cpu_total(v) is None:
            print(f"{res['mix']:21}  (not measured: needs Linux and a readable /proc)")
            continue
        for name, r in ((f"{res['mix']} /health", h), (f"{res['mix']} validate", v)):
            cpu = r["cpu_ms"]
            times = f"{_cpu_total(r) / _cpu_total(h):>11.1f}"
            print(
                f"{name:21}"
                + "".join(f"{cpu[c]:>11.3f}" for c in _CPU)
                + f"{_cpu_total(r):>11.3f}{times}"
            )
    print(
        "(postgres: every postgres process on the machine, other users' queries included; "
        "25% of /health's req/s needs validate ≤ 4× a /health in all)"
    )

    opened = [res for res in results if res["open"]]
    if opened:
        print()
        print(
            f"open loop: evenly spaced arrivals at {args.open_rate:.0%} of the mix's closed-loop "
            f"validations/s, ≤ {args.connections} keep-alive connections, {args.seconds:.0f}s; "
            "latency from each request's scheduled send time"
        )
        print(
            f"{'mix':11}{'offered/s':>10}{'achieved':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
            f"{'requests':>10}{'hit rate':>10}"
        )
        for res in opened:
            r = res["open"]
            ok = "✓" if r["p99_ms"] < OPEN_P99_GOAL_MS else "✗"
            print(
                f"{res['mix']:11}{r['offered']:>10.1f}{r['achieved']:>10.1f}{r['p50_ms']:>10.1f}"
                f"{r['p99_ms']:>9.1f}{ok}{r['max_ms']:>10.1f}{r['requests']:>10}"
                f"{_pct(r['memo']['rate']):>10}"
            )
            print(
                f"{'':11}errors: {r['errors'] or 0}; generator's own scheduling delay p99 "
                f"{r['lag_p99_ms']:.2f} ms; goal p99 < {OPEN_P99_GOAL_MS:.0f} ms"
            )
            print(f"{'':11}{server_line(r)}")
            print(f"{'':11}meanwhile {contention_line(r['contention'], r['completed'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prices", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=50_000)
    parser.add_argument(
        "--models",
        type=int,
        help="a national-shaped catalogue of this many "
        "models (`demo scale --national`), e.g. --models 20000 --parts 300000 "
        "--prices 10000000",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="per mix, measure /health then validate this many times, "
        "alternating; the round with the median ratio is the one reported "
        "(default 3)",
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes (one per core)")
    parser.add_argument(
        "--mixes",
        default=",".join(MIXES),
        help="which reference mixes to run, in this order (default warm,realistic,cold)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="the realistic mix's rankings and every mix's draws (default 1)",
    )
    parser.add_argument(
        "--zipf",
        type=float,
        default=1.1,
        metavar="S",
        help="the realistic mix's exponent: P(rank k) ∝ 1/k^S for models and "
        "for a model's parts (default 1.1)",
    )
    parser.add_argument(
        "--database",
        help="reuse a database this script prepared before "
        "(its figures do not count: a fresh one is the measure)",
    )
    parser.add_argument(
        "--reference-cache",
        type=int,
        metavar="N",
        help="the warm and realistic servers' PRICEBOOK_REFERENCE_CACHE_ENTRIES "
        "(default: the server's default; cold is always 0)",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        help="the server's PRICEBOOK_VALIDATION_SYNCHRONOUS_COMMIT (default: "
        "its default, on: each stored validation waits for its WAL flush)",
    )
    parser.add_argument(
        "--open-rate",
        type=float,
        default=0.5,
        metavar="FRACTION",
        help="open-loop arrival rate as a fraction of the mix's closed-loop "
        "validate req/s (default 0.5; 0 skips the open-loop runs)",
    )
    parser.add_argument(
        "--open-mixes",
        default="realistic",
        help="the mixes that also run open-loop (default realistic)",
    )
    args = parser.parse_args()
    args.mixes = [m.strip() for m in args.mixes.split(",") if m.strip()]
    args.open_mixes = {m.strip() for m in args.open_mixes.split(",") if m.strip()}
    unknown = (set(args.mixes) | args.open_mixes) - set(MIXES)
    if unknown or not args.mixes:
        parser.error(
            f"--mixes/--open-mixes: each one of {', '.join(MIXES)} (not {', '.join(sorted(unknown)) or 'none'})"
        )

    scratch = (
        nullcontext(args.database)
        if args.database
        else scratch_database("pricebook_bench_validate")
    )
    results = []
    with scratch as db_url:
        t0 = time.perf_counter()
        key, data = prepare(
            db_url,
            args.parts,
            args.prices,
            fill=not args.database,
            seed=args.seed,
            zipf=args.zipf,
            models=args.models,
        )
        real = data["realistic"]
        print(
            f"prepared {args.prices:,} prices, {args.parts:,} parts in {time.perf_counter() - t0:.0f}s; "
            f"realistic mix: {len(real['models']):,} models, "
            f"{sum(len(p) for p in real['parts']):,} (model, part) pairs",
            flush=True,
        )
        for mix in args.mixes:
            results.append(
                run_mix(mix, data["warm" if mix == "warm" else "realistic"], db_url, key, args)
            )
    report(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
