"""Byte progress on stderr: done/total, rate and ETA, redrawn in place on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from app.display.numbers import human_bytes


class ByteProgress:
    """A callable `(done, total)` that draws at most ten times a second."""

    def __init__(self, label: str, out: TextIO | None = None, interval_s: float = 0.1) -> None:
        self.label = label
        self.out = out or sys.stderr  # read now: sys.stderr may be replaced after import
        self.interval_s = interval_s
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._tty = self.out.isatty()
        self._last_line = ""

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last_draw < self.interval_s:
            return
        self._last_draw = now
        self._last_line = self._line(done, total, now - self._started)
        if self._tty:
            self.out.write("\r" + self._last_line + "\x1b[K")
            self.out.flush()

    def _line(self, done: int, total: int, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * done / total if total else 100.0
        eta = (total - done) / rate if rate > 0 else 0.0
        return (
            f"{self.label}: {percent:5.1f}%  {human_bytes(done)} / {human_bytes(total)}  "
            f"{human_bytes(rate)}/s  ETA {eta:4.0f} s"
        )

    def finish(self) -> None:
        if not self._last_line:
            return
        prefix, suffix = ("\r", "\x1b[K") if self._tty else ("", "")
        self.out.write(f"{prefix}{self._last_line}{suffix}\n")
        self.out.flush()


class StepProgress:
    """A callable `(done, total)` for counted steps (tensors quantized), on stderr."""

    def __init__(self, label: str, unit: str, out: TextIO | None = None) -> None:
        self.label, self.unit, self.out = label, unit, out or sys.stderr
        self._tty = self.out.isatty()
        self._started = time.monotonic()
        self._last = ""

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        eta = elapsed / done * (total - done) if done else 0.0
        self._last = f"{self.label}: {done}/{total} {self.unit}  ETA {eta:4.0f} s"
        if self._tty:
            self.out.write("\r" + self._last + "\x1b[K")
            self.out.flush()

    def finish(self) -> None:
        if self._last:
            prefix, suffix = ("\r", "\x1b[K") if self._tty else ("", "")
            self.out.write(f"{prefix}{self._last}{suffix}\n")
            self.out.flush()
