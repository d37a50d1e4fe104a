"""Prometheus metrics at GET /api/v1/metrics: what an operator graphs and alerts on — each
route's requests by status and their latency as a histogram, the reference memo's and the
matcher's memo's hits and misses, the database pool in use, the validations stored.

Each server process counts its own (plain integers, one event loop, no locks). `pricebook serve
--workers N` gives its workers a shared directory (`Settings.worker_stats_dir`) in which each
writes its numbers every `SNAPSHOT_SECONDS`; the worker a scrape reaches answers its own numbers
as they are and the others' from their latest snapshot, every series labelled with its `worker`
(the index the supervisor gave it, kept across restarts, so a restarted worker's counters read
as a counter reset, which Prometheus's `rate()` expects). One scrape thus sees every worker of
a node, the others at most `SNAPSHOT_SECONDS` behind; `pricebook_worker_snapshot_timestamp_
seconds` says how far.

A request's latency runs to its answer's last byte, measured by `api.timing` (which also
writes Server-Timing and the slow-request warning); the route is its path template, so the
series stay few whatever the ids in the paths. The router's own 404/405 answers (no route
matched) are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from api.auth import require
from api.problems import problem_responses
from pricebook.estimates import reference_cache_stats

log = logging.getLogger("pricebook.api.metrics")

#: the latency histogram's upper bounds, in seconds (Prometheus's default buckets)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: how often each worker writes its numbers for the others to answer
SNAPSHOT_SECONDS = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestStats:
    """Requests by (method, route, status), and their latency by (method, route): a count per
    bucket of `BUCKETS` and one past the last, then the sum of the seconds."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        hist = self.latency.get((method, route))
        if hist is None:
            hist = self.latency[method, route] = [0] * (len(BUCKETS) + 2)
        hist[bisect_left(BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def dump(self) -> dict[str, list[Any]]:
        """The counts as a snapshot holds them (JSON lists)."""
        return {
            "requests": [[m, r, s, n] for (m, r, s), n in self.counts.items()],
            "latency": [[m, r, h] for (m, r), h in self.latency.items()],
        }


def snapshot(state: State) -> dict[str, Any]:
    """This process's numbers as plain JSON: what `render` reads, here and from a file."""
    stats: RequestStats = state.request_stats
    out: dict[str, Any] = {
        "worker": state.settings.worker,
        "at": time.time(),
        "started": state.started_at,
        **stats.dump(),
        "reference_memo": reference_cache_stats(),
    }
    cache = getattr(state, "match_index", None)
    current = cache.snapshot if cache is not None else None
    if current is not None:
        memo = current.index.memo
        out["match_memo"] = {
            "hits": memo.hits,
            "misses": memo.misses,
            "entries": memo.entries,
            "rebuilds": cache.rebuilds,
        }
    pool = state.engine.pool
    if hasattr(pool, "checkedout"):  # a QueuePool; the other kinds keep no count
        out["pool"] = {"checked_out": pool.checkedout(), "idle": pool.checkedin()}
    writer = getattr(state, "validation_writer", None)
    if writer is not None:
        out["validations"] = {"rows": writer.rows, "inserts": writer.inserts}
    return out


def _file(directory: str, worker: int) -> Path:
    return Path(directory) / f"worker-{worker}.json"


def write_snapshot(state: State) -> None:
    """Write this worker's numbers where the other workers read them (atomically: a reader
    sees the previous file or the new one)."""
    target = _file(state.settings.worker_stats_dir, state.settings.worker)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(snapshot(state)))
    os.replace(partial, target)


#: what every snapshot has (the rest is there when the worker has it)
_REQUIRED = {"worker", "at", "started", "requests", "latency", "reference_memo"}


def others(directory: str, worker: int) -> list[dict[str, Any]]:
    """The latest snapshots of the node's other workers; a file that cannot be read or is not
    a snapshot is skipped (only the workers write there, but a scrape never fails on it)."""
    found = []
    for path in sorted(Path(directory).glob("worker-*.json")):
        if path == _file(directory, worker):
            continue
        with contextlib.suppress(OSError, ValueError):
            snap = json.loads(path.read_text())
            if isinstance(snap, dict) and snap.keys() >= _REQUIRED:
                found.append(snap)
    return found


@contextlib.asynccontextmanager
async def metrics_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Under `pricebook serve --workers N`: write this worker's numbers now and every
    `SNAPSHOT_SECONDS` until the app stops."""
    settings = app.state.settings
    if not settings.worker_stats_dir:
        yield
        return

    async def keep_writing() -> None:
        while True:
            try:
                write_snapshot(app.state)
            except OSError as exc:  # the directory went away: the supervisor is stopping
                log.warning("metrics: cannot write this worker's numbers: %s", exc)
            await asyncio.sleep(SNAPSHOT_SECONDS)

    task = asyncio.create_task(keep_writing(), name="metrics-snapshot")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- the text format ---------------------------------------------------------------------------


def _labels(**labels: object) -> str:
    def escape(value: object) -> str:
        return str(value).replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    # counts as integers, seconds as Python writes a float (both are Prometheus numbers)
    return repr(value) if isinstance(value, float) else str(value)


_Sample = tuple[str, dict[str, object], float]  # (name's suffix, labels, value)


def _requests(snap: dict[str, Any]) -> Iterator[_Sample]:
    for method, route, status, n in snap["requests"]:
        yield "", {"method": method, "route": route, "status": status}, n


def _latency(snap: dict[str, Any]) -> Iterator[_Sample]:
    for method, route, hist in snap["latency"]:
        running = 0
        for bound, n in zip([*map(str, BUCKETS), "+Inf"], hist[:-1], strict=True):
            running += n
            yield "_bucket", {"method": method, "route": route, "le": bound}, running
        yield "_sum", {"method": method, "route": route}, hist[-1]
        yield "_count", {"method": method, "route": route}, running


def _lookups(part: str) -> Callable[[dict[str, Any]], Iterator[_Sample]]:
    def samples(snap: dict[str, Any]) -> Iterator[_Sample]:
        if part in snap:
            yield "", {"result": "hit"}, snap[part]["hits"]
            yield "", {"result": "miss"}, snap[part]["misses"]

    return samples


def _one(part: str, *field: str) -> Callable[[dict[str, Any]], Iterator[_Sample]]:
    """The snapshot's number at `part` (or at `part`'s `field`), when the worker has it."""

    def samples(snap: dict[str, Any]) -> Iterator[_Sample]:
        if part in snap:
            yield "", {}, snap[part][field[0]] if field else snap[part]

    return samples


def _pool(snap: dict[str, Any]) -> Iterator[_Sample]:
    if "pool" in snap:
        for state in ("checked_out", "idle"):
            yield "", {"state": state}, snap["pool"][state]


#: every family: (name, type, help, its samples in one worker's snapshot)
FAMILIES: tuple[tuple[str, str, str, Callable[[dict[str, Any]], Iterator[_Sample]]], ...] = (
    (
        "pricebook_http_requests_total",
        "counter",
        "Requests answered, by route and status.",
        _requests,
    ),
    (
        "pricebook_http_request_duration_seconds",
        "histogram",
        "Time from a request reaching the app to its answer's last byte.",
        _latency,
    ),
    (
        "pricebook_reference_memo_lookups_total",
        "counter",
        "References validations looked up in the memo: found (hit) or read (miss).",
        _lookups("reference_memo"),
    ),
    (
        "pricebook_reference_memo_dropped_total",
        "counter",
        "Times a reference memo outgrew its bound and was dropped.",
        _one("reference_memo", "dropped"),
    ),
    (
        "pricebook_reference_memo_entries",
        "gauge",
        "References the memo holds.",
        _one("reference_memo", "entries"),
    ),
    (
        "pricebook_match_memo_lookups_total",
        "counter",
        "Typed names answered from the matcher's memo (hit) or matched (miss), since the "
        "matching index was last built.",
        _lookups("match_memo"),
    ),
    (
        "pricebook_match_memo_entries",
        "gauge",
        "Answers the matcher's memo holds.",
        _one("match_memo", "entries"),
    ),
    (
        "pricebook_match_index_rebuilds_total",
        "counter",
        "Rebuilds of the matching index since the worker started.",
        _one("match_memo", "rebuilds"),
    ),
    ("pricebook_db_pool_connections", "gauge", "The database pool's connections.", _pool),
    (
        "pricebook_validations_stored_total",
        "counter",
        "Validations stored.",
        _one("validations", "rows"),
    ),
    (
        "pricebook_validation_inserts_total",
        "counter",
        "INSERT statements that stored them (validations arriving together share one).",
        _one("validations", "inserts"),
    ),
    (
        "pricebook_process_start_time_seconds",
        "gauge",
        "When the worker started (Unix time).",
        _one("started"),
    ),
    (
        "pricebook_worker_snapshot_timestamp_seconds",
        "gauge",
        "When the worker's numbers were taken (Unix time).",
        _one("at"),
    ),
)


def render(snapshots: Iterable[dict[str, Any]]) -> str:
    """The Prometheus text exposition (format 0.0.4) of the workers' `snapshot`s."""
    snaps = sorted(snapshots, key=lambda s: s["worker"])
    lines: list[str] = []
    for name, kind, text, samples in FAMILIES:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for snap in snaps:
            lines += [
                f"{name}{suffix}{_labels(worker=snap['worker'], **labels)} {_number(value)}"
                for suffix, labels, value in samples(snap)
            ]
    return "\n".join(lines) + "\n"


@get(
    "/metrics",
    guards=[require("estimate_tool")],
    media_type=CONTENT_TYPE,
    tags=["health"],
    summary="This node's metrics in Prometheus's text format",
    description="Each route's requests by status and latency histogram, the reference and "
    "matcher memos' hits and misses, the database pool, the validations stored; one series per "
    "worker process of the node (`worker` label), the other workers' as of their latest "
    f"snapshot (at most {SNAPSHOT_SECONDS:.0f} s old). Counters count from the worker's start.",
    responses=problem_responses(401, 403),
)
async def metrics(state: State) -> str:
    settings = state.settings
    snaps = [snapshot(state)]
    if settings.worker_stats_dir:
        snaps += others(settings.worker_stats_dir, settings.worker)
    return render(snaps)
