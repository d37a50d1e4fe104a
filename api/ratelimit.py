"""Per-key request limits, counted in each server process (no shared store).

`RateLimiter` is a GCRA (a token bucket without a timer): a key may send a burst of `count`
requests, then `count` per `period`; past that the request is refused with the seconds until
the next one would pass. `api.auth` counts each authenticated request under its key id and each
refused one (unknown or revoked key) under the client's address, so guessing keys is limited too.

Each worker counts on its own: with N workers a key gets up to N × the limit in all (the kernel
spreads connections over the workers, `api.serve`). Set PRICEBOOK_RATE_LIMIT per process with
that in mind; "0" turns it off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

_PRUNE_ABOVE = 10_000


class RateLimiter:
    def __init__(
        self, count: int, period: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.count, self.period = count, period
        self._interval = period / count
        self._clock = clock
        #: the theoretical arrival time of each identity's next request
        self._tat: dict[Hashable, float] = {}

    def hit(self, who: Hashable) -> float | None:
        """Counts a request of `who`: None when it may pass, else the seconds to wait."""
        now = self._clock()
        tat = max(self._tat.get(who, now), now)
        allowed_from = tat + self._interval - self.period
        if allowed_from > now:
            return allowed_from - now
        if len(self._tat) >= _PRUNE_ABOVE:
            self._tat = {k: t for k, t in self._tat.items() if t > now}
        self._tat[who] = tat + self._interval
        return None


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
