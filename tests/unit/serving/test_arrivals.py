"""The pool's launches under way (serving/pool/arrivals.py), without engines: who waits
for what, and how a wait ends."""

from __future__ import annotations

import asyncio

import pytest

from serving.pool.arrivals import Arrivals, wait_for
from serving.pool.errors import LaunchFailedError, PoolBusyError


async def test_names_are_expected_until_the_launch_ends() -> None:
    arrivals, started = Arrivals(), asyncio.Event()
    launch = asyncio.ensure_future(started.wait())
    arrivals.add(("small", "alias"), launch)
    assert arrivals.get("small") is launch and arrivals.names() == ["alias", "small"]
    started.set()
    await launch
    await asyncio.sleep(0)  # done callbacks run on the next turn
    assert arrivals.get("small") is None and arrivals.names() == []


async def test_a_second_launch_of_a_name_leaves_it_with_the_first() -> None:
    arrivals = Arrivals()
    first = asyncio.ensure_future(asyncio.sleep(10))
    second = asyncio.ensure_future(asyncio.sleep(10))
    arrivals.add(("small",), first)
    arrivals.add(("small", "other"), second)
    assert arrivals.get("small") is first and arrivals.get("other") is second
    second.cancel()
    await asyncio.wait((second,))
    await asyncio.sleep(0)
    assert arrivals.get("small") is first and arrivals.get("other") is None
    first.cancel()


async def test_a_wait_past_its_bound_is_a_503_and_the_launch_goes_on() -> None:
    launch = asyncio.ensure_future(asyncio.sleep(10))
    with pytest.raises(PoolBusyError, match="still starting after 300 s"):
        await wait_for("small", launch, 0.01, 300)
    assert not launch.done()
    launch.cancel()


async def test_a_failed_launch_is_each_waiters_502() -> None:
    async def fail() -> None:
        raise RuntimeError("llama-server exited with code 1")

    launch = asyncio.ensure_future(fail())
    with pytest.raises(LaunchFailedError, match="Starting 'small' failed: llama-server exited"):
        await wait_for("small", launch, 5, 300)
    assert LaunchFailedError.http_status == 502


async def test_a_waiter_cancelled_by_its_client_leaves_the_launch_running() -> None:
    launch = asyncio.ensure_future(asyncio.sleep(10))
    waiter = asyncio.ensure_future(wait_for("small", launch, 5, 300))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not launch.done()
    launch.cancel()


async def test_a_launch_cancelled_under_a_waiter_is_a_503() -> None:
    launch = asyncio.ensure_future(asyncio.sleep(10))
    waiter = asyncio.ensure_future(wait_for("small", launch, 5, 300))
    await asyncio.sleep(0.01)
    launch.cancel()
    with pytest.raises(PoolBusyError, match="was cancelled"):
        await waiter
