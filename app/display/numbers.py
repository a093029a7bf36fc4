"""Figures as both front ends show them: "-" where there is none."""

from __future__ import annotations

import math


def num(value: float | None, digits: int = 1) -> str:
    """A figure, or "-" where there is none (None, NaN, infinity)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def usd(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"${value:.4f}" if value < 0.1 else f"${value:.2f}"


def tokens(value: float | None) -> str:
    """Token volumes: 1.2k, 3.4M, 5.6B."""
    if value is None or not math.isfinite(value):
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def human_bytes(count: float | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
