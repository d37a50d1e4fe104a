"""One matching index per server process, kept current with the catalogue.

`IndexCache` holds the current `Snapshot` (a complete index and the catalogue version it was
built from). Readers take ``cache.snapshot`` — one attribute read — and use that snapshot for
the whole request, so a request never waits for a rebuild and never sees half of one.

* **Start**: `start()` launches the first build in a worker thread and returns at once, so the
  server starts listening without waiting; requests that arrive before the first build ends
  wait for it (`wait_ready`, with a timeout: 503 after it). On the demo catalogue the first
  build takes about a second; on 50,000 parts / 200,000+ names, several seconds.
* **Poll**: a background task reads the catalogue generation (`reference_generation.catalog`
  and `.catalog_build`, counters the database moves at commit) every ``poll_seconds``
  (`Settings.catalog_poll_seconds`) and, when it moved, rebuilds in the worker thread and
  swaps the new snapshot in (one assignment). Imports, staff edits, synonym imports and match
  confirmations all move it, so every process sharing the database — each with its own
  cache — converges within a poll interval. Confirmations move only the first counter and
  only reload the learned mappings (`refresh_snapshot`), which takes milliseconds.
* **Failures**: a failed build (database away, a bad dictionary) is logged and the previous
  snapshot stays in service; the next poll tries again.

Builds run on one dedicated thread, one at a time. The build is Python code and holds the GIL
for much of its work, so requests served meanwhile are slowed but never blocked (the API sets a
short GIL switch interval, `Settings.gil_switch_interval`, so the event loop gets it back soon).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from pricebook.db import make_engine, session_factory
from pricebook.matching.index import MatchConfig
from pricebook.matching.loader import Snapshot, refresh_snapshot
from pricebook.settings import Settings

__all__ = ["IndexCache"]

log = logging.getLogger("pricebook.matching")


def _log_failure(task: asyncio.Future[Snapshot | None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("matching index: refresh failed: %s", task.exception())


#: Full collections at most once per this many second-generation ones (CPython's default: 10).
FULL_COLLECTION_EVERY = 100


def _freeze_heap() -> None:
    """Move everything alive (the new index: ~500,000 objects at 50,000 parts) out of the
    cyclic garbage collector's reach. Otherwise every full collection walks the whole index,
    a pause of ~200 ms in the middle of whatever requests the process is serving (the p99 of
    every endpoint). The previous index is collected first: one such pause per rebuild.

    Then full collections are made rarer. With the index frozen, what stays for a full
    collection is small (the memos' dicts, the blocks), so CPython's rule (a full collection
    once the objects promoted since the last one exceed a quarter of them) started one every
    second or so under load: its cost is the references it follows into the big heap, not
    the objects it frees (none, as a rule). Once per `FULL_COLLECTION_EVERY` second-generation
    collections still frees reference cycles; the two younger generations keep their
    thresholds. Figures: docs/benchmarks.md, 2026-12-07."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    if young:  # 0: the collector was switched off on purpose
        gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


class IndexCache:
    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = 2.0,
        config: MatchConfig | None = None,
        owns_engine: bool = False,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.config = config
        self._owns_engine = owns_engine
        self._sessions = session_factory(engine)
        self._snapshot: Snapshot | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock: asyncio.Lock | None = None
        self._attempted: asyncio.Event | None = None
        self._again = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[Snapshot | None] | None = None
        #: monotonic time of the last completed version check; the last failure, if any.
        self.last_checked: float | None = None
        self.last_error: str | None = None
        self.rebuilds = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, config: MatchConfig | None = None) -> IndexCache:
        """A cache with its own small synchronous engine (builds run in a thread)."""
        engine = make_engine(settings, pool_size=1, max_overflow=1)
        return cls(
            engine, poll_seconds=settings.catalog_poll_seconds, config=config, owns_engine=True
        )

    # --- reading --------------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot | None:
        """The current complete snapshot (None until the first build succeeded)."""
        return self._snapshot

    async def wait_ready(self, timeout: float) -> Snapshot | None:
        """The current snapshot, waiting up to ``timeout`` seconds for the first build."""
        if self._snapshot is not None or self._attempted is None:
            return self._snapshot
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), timeout)
        return self._snapshot

    # --- rebuilding -----------------------------------------------------------------------------

    def refresh_sync(self) -> Snapshot | None:
        """Check the version and rebuild if it moved, in the calling thread; swaps the new
        snapshot in and returns it (None when nothing changed)."""
        with self._sessions() as session:
            new = refresh_snapshot(session, self._snapshot, config=self.config)
        self.last_checked = time.monotonic()
        self.last_error = None
        if new is not None:
            self._snapshot = new  # the swap: one assignment, readers see old or new
            self.rebuilds += 1
            _freeze_heap()
            log.info(
                "matching index %s: %s",
                "learned mappings reloaded" if new.kind == "learned" else "built",
                new.describe(),
            )
        return new

    async def refresh(self, *, wait: bool = True) -> Snapshot | None:
        """`refresh_sync` in the worker thread. With ``wait=False`` and a rebuild already
        running, ask for another check right after it instead of waiting."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        if not wait and self._lock.locked():
            self._again = True
            return None
        async with self._lock:
            result = None
            while True:
                self._again = False
                new = await self._in_thread()
                result = new or result
                if not self._again:
                    return result

    async def refresh_now(self, timeout: float) -> bool:
        """Pick up a change this process just committed (a confirmation), waiting at most
        ``timeout`` seconds; the refresh goes on in the background after that. Never raises:
        the change is committed either way, and the poll catches up."""
        task = asyncio.ensure_future(self.refresh())
        task.add_done_callback(_log_failure)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            return False
        except Exception:  # logged by the callback
            return False
        return True

    async def _in_thread(self) -> Snapshot | None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="match-index")
        loop = asyncio.get_running_loop()
        self._inflight = loop.run_in_executor(self._executor, self.refresh_sync)
        # Shielded: cancelling the poll task (shutdown) must not abandon a running build.
        return await asyncio.shield(self._inflight)

    async def _poll(self) -> None:
        assert self._attempted is not None
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving the last good snapshot
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception(
                    "matching index: refresh failed; still serving version %s",
                    self._snapshot.version if self._snapshot else None,
                )
            self._attempted.set()
            await asyncio.sleep(self.poll_seconds)

    async def start(self) -> None:
        """Start the first build and the polling (returns at once)."""
        if self._task is not None:
            return
        self._lock = self._lock or asyncio.Lock()
        self._attempted = asyncio.Event()
        self._task = asyncio.create_task(self._poll(), name="match-index-poll")

    async def stop(self) -> None:
        """Stop polling, let a running build finish, release the thread and the engine."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight is not None and not self._inflight.done():
            # A failure was logged by the poll loop, or is irrelevant at shutdown.
            with contextlib.suppress(Exception):
                await self._inflight
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._owns_engine:
            self.engine.dispose()
