"""Read replicas: which database a replica-safe read goes to, decided per request from what a
small background check per process last measured (`ReplicaSet`).

**What goes where.** Reads that tolerate data a few seconds old (price resolves, catalogue
reads, validation's reference reads: the callers choose, `api.controllers.read`) may go to a
replica in use; everything else — every write, what a writer reads to write (versions and their
ETags), stored validations, API keys, the staff UI — goes to the primary.

**The lag rule.** Every check (each `max_lag / 5` seconds) reads the primary's WAL position
(`pg_current_wal_lsn()`) and notes when, on this process's monotonic clock; then each replica's
replay position (`pg_last_wal_replay_lsn()`). A replica that has replayed a position the
primary had at time t holds everything committed before t, so it is at most `now - t` behind,
now and until the next check (replay only moves forward): that t is its `fresh_as_of`, the
newest noted primary position it has replayed. While WAL waits un-replayed, the age of its
last replayed commit (`now() - pg_last_xact_replay_timestamp()` on the replica) bounds its lag
too, and the nearer of the two counts (it helps a process that just started, with no position
noted yet that the replica has replayed). An idle primary moves no WAL: its replica
has replayed the last noted position and is current, however old its last commit. A read goes
to a replica only while `now - fresh_as_of <= max_lag`, checked per request without SQL: the
bound holds between checks too, and a replica whose checks stop (the primary or the monitor
away) ages out by itself. A replica that fails a check or a read is dropped at once; the
primary serves (`api.controllers` retries the read there), so 503 only when the primary
cannot.

**Caches.** What a process keeps is keyed on a generation read from the same database, in the
same snapshot, as the data it was loaded from: validation's reference memo is kept per database
URL (`pricebook.estimates.memo._REFERENCES`), so a replica's memo holds the replica's generation and
data, never older than the replica and so within the bound; caches filled from the primary
(the matching index, the price types and branch trees of resolves) stay on the primary and
are never older than it; API keys are looked up on the primary at every request.

**Read your writes.** A write marks its API key (`wrote`); for `read_your_writes` seconds
(at least `max_lag`: after it every replica in use holds the write) that key's reads go to the
primary. The mark is kept in this process and on the primary (`api_keys.last_write_at`, which
every request's key lookup reads), so a key that wrote through one API node reads from the
primary on every node (node clocks are assumed in step with the primary's, as NTP keeps them;
the window is seconds). The staff UI reads from the primary anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("pricebook.replicas")


class ReplicaReport(TypedDict):
    """One replica's line of /health (`ReplicaSet.report`)."""

    name: str
    #: in_use | lagging | down | not_a_replica | unchecked
    state: str
    #: seconds behind the primary at most, as last measured (None: not measured)
    lag_seconds: float | None


_PRIMARY_POSITION = text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
_REPLICA_POSITION = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0'::pg_lsn, "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
)


def display_name(url: str) -> str:
    """host:port/database of a URL: what logs and /health show (never the password)."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


@dataclass(slots=True)
class Replica:
    """One replica and what the last check found."""

    name: str
    engine: AsyncEngine
    #: monotonic time as of which the replica holds everything the primary had; None: unusable
    fresh_as_of: float | None = None
    #: unchecked | in_use | lagging | down | not_a_replica
    state: str = "unchecked"
    #: seconds behind at the last check (None when not measured)
    lag: float | None = None
    error: str | None = None


class ReplicaSet:
    """The replicas of one process, their lag check and the read-your-writes marks."""

    def __init__(
        self,
        primary: AsyncEngine,
        replicas: Sequence[tuple[str, AsyncEngine]] = (),
        *,
        max_lag: float = 5.0,
        read_your_writes: float = 5.0,
        check_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replicas = [Replica(name, engine) for name, engine in replicas]
        self.max_lag = max_lag
        self.read_your_writes = read_your_writes
        self.interval = max_lag / 5
        self.check_timeout = check_timeout
        self._clock = clock
        #: (monotonic time, primary WAL position) of the checks of the last max_lag seconds
        self._positions: deque[tuple[float, int]] = deque()
        #: API key (or other writer) → monotonic time until which it reads from the primary
        self._writers: dict[Hashable, float] = {}
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self.checks = 0

    # --- per request, no SQL ---------------------------------------------------------------

    def for_read(
        self, reader: Hashable | None = None, wrote_at: datetime | None = None
    ) -> Replica | None:
        """A replica in use for a read of `reader` (None: the primary serves it). `wrote_at`:
        when the reader last wrote, as the primary recorded it (a write through another
        process counts too: `pricebook.keys.mark_written`)."""
        if not self.replicas:
            return None
        recent = datetime.now(UTC) - timedelta(seconds=self.read_your_writes)
        if wrote_at is not None and wrote_at > recent:
            return None
        now = self._clock()
        if reader is not None and (until := self._writers.get(reader)) is not None:
            if until > now:
                return None
            del self._writers[reader]
        usable = [
            r
            for r in self.replicas
            if r.fresh_as_of is not None and now - r.fresh_as_of <= self.max_lag
        ]
        if not usable:
            return None
        return usable[next(self._turn) % len(usable)]

    def wrote(self, writer: Hashable) -> None:
        """`writer` wrote: its reads go to the primary for the read-your-writes window."""
        if not self.replicas:
            return
        now = self._clock()
        if len(self._writers) > 10_000:  # keys that wrote once long ago: forgotten
            self._writers = {w: t for w, t in self._writers.items() if t > now}
        self._writers[writer] = now + self.read_your_writes

    def failed(self, replica: Replica, error: BaseException) -> None:
        """A read on `replica` found it unavailable: drop it until a check finds it back."""
        self._set(replica, None, "down", _describe(error))

    # --- the check -------------------------------------------------------------------------

    async def check(self) -> None:
        """Measure every replica against the primary's WAL position (see the module's doc)."""
        self.checks += 1
        started = self._clock()
        try:
            position = await self._fetch(self.primary, _PRIMARY_POSITION)
        except Exception as exc:  # the replicas then age out on their own
            log.warning("replicas: the primary's WAL position is unknown: %s", _describe(exc))
        else:
            self._positions.append((started, int(position[0])))
        while self._positions and self._positions[0][0] < started - self.max_lag - self.interval:
            self._positions.popleft()
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def _check(self, replica: Replica) -> None:
        started = self._clock()
        try:
            in_recovery, replayed, age = await self._fetch(replica.engine, _REPLICA_POSITION)
        except Exception as exc:
            self._set(replica, None, "down", _describe(exc))
            return
        if not in_recovery or replayed is None:
            self._set(replica, None, "not_a_replica", "pg_is_in_recovery() is false")
            return
        replayed = int(replayed)
        fresh = max((t for t, p in self._positions if p <= replayed), default=None)
        newest = self._positions[-1][1] if self._positions else None
        if age is not None and (newest is None or replayed < newest):
            # WAL waits un-replayed: its newest replayed commit's age bounds the lag too
            by_commit = started - max(0.0, float(age))
            fresh = by_commit if fresh is None else max(fresh, by_commit)
        usable = fresh is not None and self._clock() - fresh <= self.max_lag
        self._set(replica, fresh, "in_use" if usable else "lagging", None)

    async def _fetch(self, engine: AsyncEngine, statement: Any) -> Any:
        async with asyncio.timeout(self.check_timeout), engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return (await connection.execute(statement)).one()

    def _set(self, replica: Replica, fresh: float | None, state: str, error: str | None) -> None:
        was = replica.state
        replica.fresh_as_of, replica.state, replica.error = fresh, state, error
        replica.lag = None if fresh is None else max(0.0, self._clock() - fresh)
        if state == was:
            return
        if state == "in_use":
            again = "" if was == "unchecked" else " again"
            log.warning("replica %s: in use%s (%.2f s behind)", replica.name, again, replica.lag)
        elif was in {"in_use", "unchecked"}:
            why = error or f"{replica.lag:.2f} s behind, over {self.max_lag:g} s"
            log.warning("replica %s: dropped, reads go to the primary: %s", replica.name, why)

    # --- the monitor task ------------------------------------------------------------------

    def start(self) -> None:
        """Start the check loop (nothing to do without replicas)."""
        if self.replicas and self._task is None:
            self._task = asyncio.create_task(self._run(), name="replica-lag-check")

    async def _run(self) -> None:
        while True:
            began = self._clock()
            try:
                await self.check()
            except Exception:  # never let the loop die: the replicas would age out for good
                log.exception("replicas: the lag check failed")
            await asyncio.sleep(max(0.0, self.interval - (self._clock() - began)))

    async def close(self) -> None:
        """Stop the check loop and close the replicas' connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for replica in self.replicas:
            await replica.engine.dispose()

    def report(self) -> list[ReplicaReport]:
        """Each replica's state for /health."""
        now = self._clock()
        out: list[ReplicaReport] = []
        for r in self.replicas:
            lag = None if r.fresh_as_of is None else max(0.0, now - r.fresh_as_of)
            in_use = lag is not None and lag <= self.max_lag
            state = "in_use" if in_use else ("lagging" if r.state == "in_use" else r.state)
            out.append(
                {
                    "name": r.name,
                    "state": state,
                    "lag_seconds": None if lag is None else math.ceil(lag * 1000) / 1000,
                }
            )
        return out


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(
        ": "
    )
