"""Launches under way, by the names they will serve: a request for a model that is being
launched or woken waits for it (bounded by `pool.load_timeout_s`) instead of getting 404
before the engine is registered or 503 while it starts."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from typing import Any

from serving.pool.errors import LaunchFailedError, PoolBusyError, PoolError

log = logging.getLogger(__name__)

Launch = asyncio.Future[Any]
"""A launch under way (a task whose end means the names are served, or will not be)."""


class Arrivals:
    """Served names -> the launch that will serve them; a name leaves when its launch ends."""

    def __init__(self) -> None:
        self._launches: dict[str, Launch] = {}

    def add(self, names: Iterable[str], launch: Launch) -> None:
        """Expect `names` from `launch`; a name some other launch already promises stays
        with that one."""
        for name in names:
            if name not in self._launches:
                self._launches[name] = launch
                launch.add_done_callback(functools.partial(self._forget, name))

    def get(self, name: str) -> Launch | None:
        return self._launches.get(name)

    def names(self) -> list[str]:
        return sorted(self._launches)

    def _forget(self, name: str, launch: Launch) -> None:
        if self._launches.get(name) is launch:
            del self._launches[name]


async def wait_for(model: str, launch: Launch, left_s: float, timeout_s: float) -> None:
    """Wait up to `left_s` for `launch` to end; its failure becomes the request's (502). The
    waiter's own cancellation (its client left) never cancels the launch."""
    try:
        await asyncio.wait_for(asyncio.shield(launch), max(0.0, left_s))
    except TimeoutError:
        message = f"'{model}' is still starting after {timeout_s:.0f} s; retry shortly."
        raise PoolBusyError(message, 5) from None
    except asyncio.CancelledError:
        if not launch.cancelled() or being_cancelled():
            raise
        raise PoolBusyError(f"Starting '{model}' was cancelled; retry shortly.", 5) from None
    except PoolError:
        raise
    except Exception as error:
        raise LaunchFailedError(model, error) from None


def being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def log_failure(what: str, launch: Launch) -> None:
    """A done callback: say why a launch nobody awaits failed (and mark it retrieved)."""
    if not launch.cancelled() and launch.exception() is not None:
        log.warning("%s failed: %s", what, launch.exception())
