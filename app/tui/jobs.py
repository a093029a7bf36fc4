"""Progress of a pull or a quantize job as a person reads it: done of total, rate, ETA.

The core reports `(done, total)` (bytes for a pull, tensors for a quantize); this turns a
series of those into a line. No Textual here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.tui.present import duration, human_bytes


@dataclass
class JobClock:
    """Rate over the whole job so far (steady for downloads that stall and resume)."""

    unit: str = "bytes"
    """"bytes" or a count noun such as "tensors"."""
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    first_done: int | None = None

    def __post_init__(self) -> None:
        self.started = self.started or self.clock()

    def line(self, done: int, total: int) -> str:
        if self.first_done is None:
            self.first_done = done
        elapsed = self.clock() - self.started
        moved = done - self.first_done
        rate = moved / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 and total >= done else None
        if self.unit == "bytes":
            amount = f"{human_bytes(done)} / {human_bytes(total)}"
            speed = f"{human_bytes(rate)}/s"
        else:
            amount = f"{done} / {total} {self.unit}"
            speed = f"{rate:.1f} {self.unit}/s"
        return f"{amount} · {speed} · ETA {duration(eta) if eta is not None else '-'}"
