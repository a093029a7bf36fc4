"""A request progress bar on stderr for `hostbench bench`: one line per concurrency level,
redrawn in place on a terminal, printed once per level otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from bench.session import SweepProgress

WIDTH = 24


class RequestProgressBar:
    """A callable taking SweepProgress; draws at most ten times a second."""

    def __init__(self, out: TextIO | None = None, interval_s: float = 0.1) -> None:
        self.out = out or sys.stderr
        self.interval_s = interval_s
        self._tty = self.out.isatty()
        self._level_started = time.monotonic()
        self._level = 0
        self._last_draw = 0.0

    def __call__(self, progress: SweepProgress) -> None:
        now = time.monotonic()
        if progress.level != self._level:
            self._level, self._level_started = progress.level, now
        finished = progress.finished_run is not None
        if not finished and now - self._last_draw < self.interval_s:
            return
        self._last_draw = now
        line = self._line(progress, now - self._level_started)
        if finished:
            self.out.write(
                ("\r" if self._tty else "") + line + ("\x1b[K" if self._tty else "") + "\n"
            )
        elif self._tty:
            self.out.write("\r" + line + "\x1b[K")
        self.out.flush()

    @staticmethod
    def _line(progress: SweepProgress, elapsed_s: float) -> str:
        filled = WIDTH * progress.done // max(progress.total, 1)
        bar = "#" * filled + "-" * (WIDTH - filled)
        failed = f", {progress.failed} failed" if progress.failed else ""
        return (
            f"concurrency {progress.concurrency} [{progress.level}/{progress.levels}] "
            f"[{bar}] {progress.done}/{progress.total} requests{failed}, {elapsed_s:.1f} s"
        )
