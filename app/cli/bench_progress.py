"""Progress of long bench jobs on stderr: what runs, how far, how long is left.

On a terminal the line is redrawn in place; elsewhere (a log, CI, a pipe) a line is printed
at most every `quiet_interval_s` and at the end of each step, so a job of minutes is never
silent. Ctrl-C ends any of them (exit 130; stored levels stay stored)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from bench.session import SweepProgress

WIDTH = 24


def eta_text(elapsed_s: float, done: int, total: int) -> str:
    """ "about 80 s left" from the pace so far; nothing to say before the first step."""
    if done <= 0 or done >= total:
        return ""
    left = elapsed_s / done * (total - done)
    return f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"


class _Line:
    """One progress line: redrawn on a terminal, throttled elsewhere."""

    def __init__(self, out: TextIO | None, interval_s: float, quiet_interval_s: float) -> None:
        self.out = out or sys.stderr  # read now: sys.stderr may be replaced after import
        self._tty = self.out.isatty()
        self._every = interval_s if self._tty else quiet_interval_s
        self._last_draw = -float("inf")

    def show(self, text: str, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_draw < self._every:
            return
        self._last_draw = now
        if self._tty:
            self.out.write("\r" + text + "\x1b[K" + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()


class RequestProgressBar:
    """A callable taking SweepProgress: this level's bar, and the whole sweep's count and
    time left."""

    def __init__(
        self, out: TextIO | None = None, interval_s: float = 0.1, quiet_interval_s: float = 10.0
    ) -> None:
        self._line = _Line(out, interval_s, quiet_interval_s)
        self._started = time.monotonic()
        self._level_started = self._started
        self._level = 0

    def __call__(self, progress: SweepProgress) -> None:
        now = time.monotonic()
        if progress.level != self._level:
            self._level, self._level_started = progress.level, now
        line = self._text(progress, now - self._level_started, now - self._started)
        self._line.show(line, final=progress.finished_run is not None)

    @staticmethod
    def _text(progress: SweepProgress, level_s: float, sweep_s: float) -> str:
        filled = WIDTH * progress.done // max(progress.total, 1)
        bar = "#" * filled + "-" * (WIDTH - filled)
        failed = f", {progress.failed} failed" if progress.failed else ""
        done = (progress.level - 1) * progress.total + progress.done
        total = progress.levels * progress.total
        return (
            f"concurrency {progress.concurrency} [{progress.level}/{progress.levels}] "
            f"[{bar}] {progress.done}/{progress.total} requests{failed}, {level_s:.1f} s; "
            f"all levels {done}/{total}{eta_text(sweep_s, done, total)}"
        )


class StepsProgress:
    """A callable `(step, done, total)` for a job of named steps, each of counted requests
    (`bench overhead`): which step of how many, how far, how long left in it."""

    def __init__(
        self,
        steps: int,
        out: TextIO | None = None,
        interval_s: float = 0.1,
        quiet_interval_s: float = 10.0,
    ) -> None:
        self.steps = steps
        self._line = _Line(out, interval_s, quiet_interval_s)
        self._step, self._index, self._step_started = "", 0, time.monotonic()

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self._step:
            self._step, self._index, self._step_started = step, self._index + 1, time.monotonic()
        elapsed = time.monotonic() - self._step_started
        text = (
            f"[{self._index}/{self.steps}] {step}: {done}/{total} requests, {elapsed:.0f} s"
            f"{eta_text(elapsed, done, total)}"
        )
        self._line.show(text, final=done >= total)
