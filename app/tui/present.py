"""How figures read on screen: one place for units, rounding and "not available".

No Textual here; the screens and the snapshot tests share these, and a figure the machine
cannot give is always shown as "-" (never a made-up zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.display.numbers import human_bytes

if TYPE_CHECKING:
    from workflows.benchmarking import LiveCost

NA = "-"

__all__ = [
    "NA",
    "cost_line",
    "duration",
    "gib",
    "human_bytes",
    "ms",
    "percent",
    "rate",
    "watts",
]


def duration(seconds: float | None) -> str:
    """`42s`, `3m 12s`, `5h 02m`, `2d 03h`."""
    if seconds is None:
        return NA
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def percent(value: float | None, digits: int = 0) -> str:
    return NA if value is None else f"{value:.{digits}f}%"


def ms(value: float | None) -> str:
    if value is None:
        return NA
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def rate(value: float | None, unit: str = "tok/s") -> str:
    if value is None:
        return NA
    return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"


def watts(value: float | None) -> str:
    return NA if value is None else f"{value:.0f} W"


def gib(count: float | None) -> str:
    return NA if count is None else f"{count / (1 << 30):.1f} GiB"


def cost_line(live: LiveCost) -> str:
    """The dashboard's cost figure, with what it rests on, or what it needs."""
    from app.display.numbers import usd  # the CLI's rounding; imported when first shown

    if live.basis == "none":
        return "cost/1M output tokens: unknown (set [cost] power_w or a price in config.toml)"
    if live.usd_per_mtok_output is None:
        return f"cost/1M output tokens: {NA} (no tokens in the last minute)"
    power = live.power
    power_text = "" if power.watts is None else f", {watts(power.watts)} {power.method}"
    return (
        f"cost: {usd(live.usd_per_mtok_output)} per 1M output tokens at "
        f"{rate(live.output_tokens_per_s)} ({live.basis}{power_text})"
    )
