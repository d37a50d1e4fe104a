"""api.caching.SingleFlight: one load per key at a time, shared by everyone who asks meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from api.caching import SingleFlight


async def test_concurrent_callers_share_one_load_then_the_next_call_loads_again():
    flight, calls = SingleFlight(), []

    async def load() -> int:
        calls.append(1)
        n = len(calls)
        await asyncio.sleep(0.01)
        return n

    results = await asyncio.gather(*(flight.run("k", load) for _ in range(20)))
    assert results == [1] * 20 and len(calls) == 1
    assert await flight.run("k", load) == 2  # finished loads are not remembered
    assert await asyncio.gather(flight.run("a", load), flight.run("b", load)) == [3, 4]


async def test_an_error_reaches_every_waiter_and_the_next_call_retries():
    flight, calls = SingleFlight(), []

    async def failing() -> int:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise ConnectionError("database unreachable")

    outcomes = await asyncio.gather(*(flight.run("k", failing) for _ in range(5)), return_exceptions=True)  # fmt: skip
    assert len(calls) == 1 and all(isinstance(o, ConnectionError) for o in outcomes)

    async def working() -> int:
        return 7

    assert await flight.run("k", working) == 7


async def test_one_waiter_cancelled_does_not_cancel_the_others():
    flight = SingleFlight()
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "done"

    first = asyncio.create_task(flight.run("k", load))
    second = asyncio.create_task(flight.run("k", load))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
