"""Shared by the benchmarks: a throw-away PostgreSQL database per run, open-loop load."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from queue import Empty

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pricebook.db import sync_url

SERVER_URL = os.environ.get(
    "PRICEBOOK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _admin():
    return create_engine(
        sync_url(SERVER_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


@contextmanager
def scratch_database(prefix: str = "pricebook_bench", template: str | None = None) -> Iterator[str]:
    """A new database (optionally a copy of `template`), dropped on exit; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    with admin.connect() as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the server under test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_name(url: str) -> str:
    return make_url(url).database or ""


# -- open-loop load ------------------------------------------------------------------------------
#
# A closed-loop generator (N connections, each sending its next request when the previous one
# answers) measures throughput; its latency is mostly queueing (≈ connections ÷ throughput). An
# open-loop generator sends at a fixed arrival rate whatever the server does, and times each
# request from the moment it was *scheduled* to leave, so a stalled server cannot slow the
# arrivals down and hide its own queueing (coordinated omission).

Request = tuple[str, str, bytes | None]  # method, path (with query), body


def cycle_requests(method: str, paths: list[str], total: int) -> list[Request]:
    """`total` requests going round `paths` (a `make_requests` for `open_loop`, via partial)."""
    return [(method, paths[i % len(paths)], None) for i in range(total)]


def _pick(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values`, in ms."""
    return values[max(0, math.ceil(q * len(values)) - 1)] * 1000


async def _open_loop(
    base: str,
    make_requests: Callable[[int], list[Request]],
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int,
) -> dict:
    import aiohttp

    total = max(1, round(rate * seconds))
    requests = make_requests(total)  # all built before the clock starts (estimates take CPU)
    if len(requests) != total:
        raise ValueError(f"make_requests({total}) returned {len(requests)} requests")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue()
    latencies = [math.inf] * total  # from the scheduled send time; inf: never answered
    lags = [math.inf] * total  # scheduled time → handed to the workers (the generator's own delay)
    errors: dict[str, int] = {}
    finished = asyncio.Event()
    state = {"completed": 0, "last": 0.0}
    stop = threading.Event()

    # a pool of `connections` keep-alive connections: one worker each; when every worker is
    # busy a request waits in the queue, and that wait is part of its latency
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=300)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:  # fmt: skip

        async def ping() -> None:
            async with session.get(f"{base}/health") as resp:
                await resp.read()

        await asyncio.gather(*(ping() for _ in range(connections)))  # open the pool beforehand

        async def worker() -> None:
            while True:
                i = await queue.get()
                method, path, body = requests[i]
                try:
                    async with session.request(method, base + path, data=body) as resp:
                        await resp.read()
                        status = str(resp.status) if resp.status >= 300 else None
                except (aiohttp.ClientError, OSError) as exc:
                    status = type(exc).__name__
                end = time.perf_counter()
                latencies[i] = end - (start + i / rate)
                if status:
                    errors[status] = errors.get(status, 0) + 1
                state["completed"] += 1
                state["last"] = end
                if state["completed"] == total:
                    finished.set()

        def dispatch(i: int) -> None:
            lags[i] = time.perf_counter() - (start + i / rate)
            queue.put_nowait(i)

        def schedule() -> None:
            # a thread: time.sleep is precise to ~0.1 ms, the event loop's timers to ~1 ms
            for i in range(total):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(dispatch, i)

        start = time.perf_counter() + 0.05  # request i is scheduled at start + i / rate
        workers = [asyncio.create_task(worker()) for _ in range(connections)]
        scheduler = threading.Thread(target=schedule, daemon=True)
        scheduler.start()
        await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))
        drain = max(10.0, seconds)  # then give up on what is still queued or in flight
        with suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), drain)
        stop.set()
        for task in workers:
            task.cancel()
        outcomes = await asyncio.gather(*workers, return_exceptions=True)
        scheduler.join()
        for outcome in outcomes:  # a worker that died of a bug must not pass for a slow server
            if isinstance(outcome, Exception):
                raise outcome

    completed = state["completed"]
    if completed < total:
        errors["unanswered"] = total - completed
    latencies.sort()
    lags.sort()
    return {
        "offered": rate,
        "requests": total,
        "completed": completed,
        # responses ÷ the schedule's span, or the time to the last response if that is longer
        "achieved": completed / max(total / rate, state["last"] - start) if completed else 0.0,
        "p50_ms": _pick(latencies, 0.5),
        "p99_ms": _pick(latencies, 0.99),
        "max_ms": latencies[-1] * 1000,
        "lag_p99_ms": _pick(lags, 0.99),
        "errors": errors,
    }


def _open_loop_process(args: tuple, out: multiprocessing.Queue) -> None:
    sys.setswitchinterval(0.0002)  # the scheduler thread must not wait 5 ms for the GIL
    try:
        from uvloop import run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    out.put(run(_open_loop(*args)))


def open_loop(
    base: str,
    make_requests: Callable[[int], list[Request]],
    *,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int,
) -> dict:
    """Send `rate` requests/s, evenly spaced, for `seconds` over at most `connections` keep-alive
    connections, from a process of its own (aiohttp on uvloop).

    `make_requests(total)` (picklable; called in that process before the clock starts) returns
    the requests in order. Latency runs from each request's scheduled send time to its
    response, so time spent waiting for a connection or in the server's queue counts. Returns
    offered and achieved req/s, p50/p99/max ms, the generator's own p99 scheduling delay and
    the errors (status or exception → count; "unanswered": still pending after the drain).
    """
    queue: multiprocessing.Queue = multiprocessing.Queue()
    args = (base, make_requests, headers, rate, seconds, connections)
    proc = multiprocessing.Process(target=_open_loop_process, args=(args, queue))
    proc.start()
    try:
        while True:
            try:
                return queue.get(timeout=1)
            except Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"open-loop generator died (exit {proc.exitcode})") from None
    finally:
        proc.join()
