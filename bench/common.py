"""Shared by the benchmarks: a throw-away PostgreSQL database per run, open-loop load."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from queue import Empty
from typing import TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pricebook.db import sync_url

#: the checkout the bench runs from: the server runs from it too
ROOT = Path(__file__).resolve().parent.parent

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


def serve_command(port: int, workers: int) -> list[str]:
    """`pricebook serve` as production runs it (uvicorn workers, a SO_REUSEPORT socket each),
    quiet: no access log, warnings only, so the server's own output costs the load nothing."""
    return [
        sys.executable,
        "-m",
        "pricebook.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def _die_with_parent() -> None:
    """In the server's process before it runs: SIGTERM it when the bench dies, however it dies
    (an interrupted bench left its server running, its workers polling the database)."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_serve(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    """`serve_command` in a process of its own that ends with the bench."""
    return subprocess.Popen(
        serve_command(port, workers), cwd=ROOT, env=env, preexec_fn=_die_with_parent
    )


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


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends prepared request bytes and reads each
    answer just far enough to know its status and where it ends (Content-Length).

    The open-loop generator shares the server's cores on this machine; an HTTP client library
    (aiohttp) cost as much CPU per request as a cheap endpoint, slowing the server it measures.
    This is the least a client can do, as if it ran elsewhere."""

    def __init__(self, on_answer: Callable[[_Connection, int | None, str | None], None]) -> None:
        self.on_answer = on_answer
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need: int | None = None  # bytes of head + body, once the head is in
        self.status: int | None = None
        #: the answer's `Server-Timing` (`api.timing`): the server's own time (`app`) and the
        #: part of it in the request's statements (`db`), in ms
        self.timing: dict[str, float] = {}
        self.busy = False
        #: the server said `Connection: close` (it closes keep-alive connections after a while,
        #: `api.rebalance`): the answer counts, and a new connection takes this one's place
        self.closing = False
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, raw: bytes) -> None:
        self.busy = True
        assert self.transport is not None
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
                self.status = int(head[0].split(" ", 2)[1])
                self.timing = {}
                length = None
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value.strip() == "close":
                        self.closing = True
                    elif name == "server-timing":
                        self.timing = server_timing(value)
                if length is None:  # our server always sends a length; anything else is a bug
                    self.fail("no Content-Length")
                    return
                self.need = end + 4 + length
            if len(self.buffer) < self.need:
                return
            del self.buffer[: self.need]
            self.need = None
            self.busy = False
            self.on_answer(self, self.status, None)

    def fail(self, why: str) -> None:
        if self.busy:
            self.busy = False
            self.on_answer(self, None, why)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self.on_answer(self, None, type(exc).__name__ if exc else "ConnectionClosed")
        if not self.lost.done():
            self.lost.set_result(None)


def _raw_request(
    host: str, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def _open_loop(
    base: str,
    make_requests: Callable[[int], list[Request]],
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int,
) -> dict:
    from urllib.parse import urlsplit

    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    total = max(1, round(rate * seconds))
    requests = make_requests(total)  # all built before the clock starts (estimates take CPU)
    if len(requests) != total:
        raise ValueError(f"make_requests({total}) returned {len(requests)} requests")
    raw = [
        _raw_request(url.netloc, m, url.path.rstrip("/") + p, b, headers) for m, p, b in requests
    ]
    loop = asyncio.get_running_loop()
    latencies = [math.inf] * total  # from the scheduled send time; inf: never answered
    server = [math.inf] * total  # the server's own time to the answer's head (Server-Timing)
    db = [math.inf] * total  # of it, in the request's statements
    lags = [math.inf] * total  # scheduled time → handed to a connection (the generator's delay)
    errors: dict[str, int] = {}
    finished = asyncio.Event()
    state = {"completed": 0, "last": 0.0}
    stop = threading.Event()
    # `connections` keep-alive connections; a request that finds every one busy waits in
    # `pending`, and that wait is part of its latency
    # used in turn (FIFO): a connection left idle for seconds would be closed by the server
    # (uvicorn's keep-alive timeout is 5 s) and the request sent on it lost
    idle: deque[_Connection] = deque()
    pending: deque[int] = deque()
    in_flight: dict[_Connection, int] = {}
    reopening: set[asyncio.Task[None]] = set()

    def answered(conn: _Connection, status: int | None, error: str | None) -> None:
        i = in_flight.pop(conn)
        end = time.perf_counter()
        latencies[i] = end - (start + i / rate)
        if error is None and "app" in conn.timing:
            server[i] = conn.timing["app"] / 1000
            db[i] = conn.timing.get("db", math.inf) / 1000
        what = error or (str(status) if status is not None and status >= 300 else None)
        if what:
            errors[what] = errors.get(what, 0) + 1
        state["completed"] += 1
        state["last"] = end
        if state["completed"] == total:
            finished.set()
        if error is None and not conn.closing:
            send(conn)
        elif error is None:
            reopening.add(task := loop.create_task(replace()))
            task.add_done_callback(reopening.discard)

    async def replace() -> None:
        conn = (await loop.create_connection(lambda: _Connection(answered), host, port))[1]
        opened.append(conn)
        send(conn)

    def send(conn: _Connection) -> None:
        if pending:
            i = pending.popleft()
            in_flight[conn] = i
            conn.send(raw[i])
        else:
            idle.append(conn)

    async def ready(conn: _Connection) -> None:  # open the pool beforehand
        done = loop.create_future()
        conn.on_answer = lambda c, status, error: done.set_result(error)
        conn.send(_raw_request(url.netloc, "GET", "/health", None, {}))
        if error := await done:
            raise RuntimeError(f"open-loop generator: /health failed: {error}")
        conn.on_answer = answered

    opened = [
        (await loop.create_connection(lambda: _Connection(answered), host, port))[1]
        for _ in range(connections)
    ]
    await asyncio.gather(*(ready(c) for c in opened))
    idle.extend(opened)

    def dispatch(i: int) -> None:
        lags[i] = time.perf_counter() - (start + i / rate)
        pending.append(i)
        while idle and pending:
            conn = idle.popleft()
            if not conn.lost.done():  # closed by the server meanwhile: left out
                send(conn)

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
    scheduler = threading.Thread(target=schedule, daemon=True)
    scheduler.start()
    await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))
    drain = max(10.0, seconds)  # then give up on what is still queued or in flight
    with suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), drain)
    stop.set()
    scheduler.join()
    for conn in opened:
        if conn.transport is not None:
            conn.transport.close()

    completed = state["completed"]
    if completed < total:
        errors["unanswered"] = total - completed
    latencies.sort()
    lags.sort()
    server.sort()
    db.sort()
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
        "server_p50_ms": _pick(server, 0.5),
        "server_p99_ms": _pick(server, 0.99),
        "db_p50_ms": _pick(db, 0.5),
        "db_p99_ms": _pick(db, 0.99),
        "errors": errors,
    }


def server_timing(value: str) -> dict[str, float]:
    """`app;dur=4.2, db;dur=1.3` → {"app": 4.2, "db": 1.3} (entries without a duration left
    out)."""
    found = {}
    for entry in value.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        for param in params:
            if param.startswith("dur="):
                found[name] = float(param[4:])
    return found


def server_line(r: dict) -> str:
    """What of an open loop's latency the server itself spent (its Server-Timing), and of that
    its statements."""
    return (
        f"of which the server's own time (Server-Timing, to the answer's head): "
        f"p50 {r['server_p50_ms']:.1f} ms, p99 {r['server_p99_ms']:.1f} ms; in its statements "
        f"p50 {r['db_p50_ms']:.1f} ms, p99 {r['db_p99_ms']:.1f} ms"
    )


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
    connections, from a process of its own (`_Connection`: plain HTTP/1.1 on uvloop).

    `make_requests(total)` (picklable; called in that process before the clock starts) returns
    the requests in order. Latency runs from each request's scheduled send time to its
    response, so time spent waiting for a connection or in the server's queue counts. Returns
    offered and achieved req/s, p50/p99/max ms, the generator's own p99 scheduling delay, the
    server's own p50/p99 (its `Server-Timing`, from the request reaching the app to the answer's
    head: the rest of a latency is the wait for a connection or a CPU, the kernel and the
    network) and of that the request's statements' (`db`), and the errors (status or exception → count; "unanswered": still pending after the
    drain).
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


# -- where the CPU goes --------------------------------------------------------------------------
#
# Server, database and load generator share this machine's cores, so a ratio of two endpoints'
# req/s is a ratio of what a request costs all three. Reading each one's CPU time from /proc
# before and after a load (Linux only) says who pays: the server's worker processes, every
# PostgreSQL process (backends and the WAL writer, checkpointer …: the server's share of
# commits and checkpoints lands there), and the generator.

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_of(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of a process (its threads included); `reaped`: and of the
    children it has waited for (cutime, cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11 : 15 if reaped else 13]) / _TICKS


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children, the ones that ended included (a server such
    as PostgreSQL's postmaster reaps its backends: their time moves to its own counters)."""
    spent = _cpu_of(pid, reaped=True)
    for child in _children(pid):
        with suppress(OSError):
            spent += _cpu_of(child)
    return spent


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
            out.extend(int(c) for c in f.read().split())
    return out


def _postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError), open(f"/proc/{entry}/comm") as f:
                if f.read().startswith("postgres"):
                    pids.append(int(entry))
    return pids


#: what `_per_process` reads of each process
T = TypeVar("T")


def _per_process(server_pid: int, read: Callable[[int], T]) -> dict[str, dict[int, T]]:
    """`read(pid)` of the server's process and its children ("server") and of every PostgreSQL
    process ("postgres"); a process gone (or its file cut short) while being read is left
    out, and a group is empty where /proc cannot be listed."""
    groups: dict[str, dict[int, T]] = {"server": {}, "postgres": {}}
    with suppress(OSError):
        members = {
            "server": [server_pid, *_children(server_pid)],
            "postgres": _postgres_pids(),
        }
        for group, pids in members.items():
            for pid in pids:
                with suppress(OSError, ValueError, IndexError):
                    groups[group][pid] = read(pid)
    return groups


class CpuMeter:
    """CPU seconds spent by a server process and its children (the workers) and by PostgreSQL
    between `start()` and `stop()`; `None` figures where /proc is not readable (not Linux, or
    another user's PostgreSQL)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._before: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        return _per_process(self.server_pid, _cpu_of)

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float | None]:
        after = self._read()
        out: dict[str, float | None] = {}
        for group, now in after.items():
            then = self._before.get(group, {})
            # a process that started in between counts from 0; one that ended in between is
            # lost (rare here: the server keeps its pooled connections)
            spent = sum(cpu - then.get(pid, 0.0) for pid, cpu in now.items())
            out[group] = spent if now else None
        return out


# -- waiting for a CPU ---------------------------------------------------------------------------
#
# Where server, database and generator share the cores, a request can be ready and still wait:
# its worker, or the backend answering it, is runnable while another process holds the core.
# The scheduler counts that wait per thread (/proc/<pid>/task/<tid>/schedstat: ns on a CPU, ns
# runnable on a run queue, timeslices). An open-loop tail that comes with a large wait share is
# the machine's contention, not a stall of the server's own.


def _schedstat(pid: int) -> tuple[int, int]:
    """Nanoseconds a process's threads ran and waited runnable for a CPU, summed."""
    ran = waited = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
            fields = f.read().split()
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran, waited


def _cpu_ticks() -> tuple[int, int]:
    """(busy, all) ticks of every CPU since boot, from /proc/stat (idle and iowait are idle)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


class ContentionMeter:
    """Between `start()` and `stop()`: how busy the machine's CPUs were, and how long the server's
    processes (the one given and its children) and PostgreSQL's waited runnable for a CPU beside
    how long they ran. `stop()` returns {"busy": share, "server": (ran s, waited s), "postgres":
    (ran s, waited s)}, with None where /proc does not say (not Linux, no schedstat)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._before: dict[str, dict[int, tuple[int, int]]] = {}
        self._ticks = (0, 0)

    def _read(self) -> dict[str, dict[int, tuple[int, int]]]:
        return _per_process(self.server_pid, _schedstat)

    def start(self) -> None:
        self._before = self._read()
        with suppress(OSError):
            self._ticks = _cpu_ticks()

    def stop(self) -> dict[str, object]:
        after = self._read()
        out: dict[str, object] = {"busy": None}
        with suppress(OSError):
            busy, total = _cpu_ticks()
            if total > self._ticks[1]:
                out["busy"] = (busy - self._ticks[0]) / (total - self._ticks[1])
        for group, now in after.items():
            then = self._before.get(group, {})
            # as CpuMeter: a process that started in between counts from 0
            ran = sum(r - then.get(pid, (0, 0))[0] for pid, (r, _) in now.items())
            waited = sum(w - then.get(pid, (0, 0))[1] for pid, (_, w) in now.items())
            out[group] = (ran / 1e9, waited / 1e9) if now and ran > 0 else None
        return out


def contention_line(seen: dict[str, object], requests: int | None = None) -> str:
    """One line saying how contended the CPUs were during a load (`ContentionMeter.stop()`),
    with the waits per request when `requests` says how many were answered."""
    parts = []
    if seen.get("busy") is not None:
        parts.append(f"the machine's CPUs {seen['busy']:.0%} busy")
    for group, label in (("server", "the server's processes"), ("postgres", "PostgreSQL")):
        times = seen.get(group)
        if isinstance(times, tuple):
            ran, waited = times
            each = f", {waited * 1000 / requests:.2f} ms a request" if requests else ""
            parts.append(
                f"{label} waited runnable for a CPU {waited / ran:.0%} of the time they ran{each}"
            )
    return "; ".join(parts) if parts else "CPU contention not readable here (needs Linux /proc)"
