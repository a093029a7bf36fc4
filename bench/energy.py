"""Energy per 1M output tokens, what it rests on, and the share attributed to serving.

Whole run: `watts / (output tokens/s x 3600) x 1e6` Wh per 1M output tokens, from the
run's average power and its output rate over the same wall time. It includes the gaps
between requests, when the machine draws power and makes no tokens.

Serving share: where the run has an idle reading (the power read just before its first
request, over the same devices as its figure), the energy of the gaps, `idle W x seconds
with no request in flight`, is taken off: `serving = whole x (1 - idle_w x idle_s /
(watts x seconds))`. Only the gaps are attributed to idle; while any request is in flight
the whole draw counts as serving it (the idle floor is part of what serving costs). An
assumed wattage (setting, TDP) has no idle reading, so it gets no serving share.

The basis label says which kind of figure it is; an assumed wattage is marked as not
measured; where no figure is possible `why` says so, and nothing is made up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from bench.power import COUNTER_LABEL, SAMPLED_LABEL, PowerFigure
from bench.stats import union_seconds

if TYPE_CHECKING:  # the load generator pulls in aiohttp; cost figures do not need it
    from bench.loadgen import StreamSample

BASIS_LABELS = {
    "measured": COUNTER_LABEL,
    "sampled": SAMPLED_LABEL,
    "setting": "assumed, not measured",
    "tdp": "assumed, not measured",
    "unknown": "not available",
}
GIVEN = "given"
"""A figure that came only as watts and a source (cost inputs): its source names the basis."""


@dataclass(frozen=True)
class EnergyFigure:
    """Wh per 1M output tokens with its basis; None figures come with the reason."""

    wh_per_mtok_output: float | None
    """Over the whole run or window, idle gaps included; None: not available (`why`)."""
    basis: str
    """The power figure's method: measured | sampled | setting | tdp | unknown | given."""
    label: str
    """The basis in words: "energy counter", "sampled power, integrated", "assumed, not
    measured", "not available"; "" for a given figure, whose source says it."""
    measured: bool
    source: str
    """Which counters or readings, or which setting: the power figure's source."""
    why: str
    """Why there is no figure; "" where there is one."""
    serving_wh_per_mtok_output: float | None = None
    attribution: str = ""
    """How the serving share was found, or why there is none."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wh_per_mtok(watts: float, tokens_per_s: float) -> float:
    """Energy per million tokens: watt-hours."""
    return watts / (tokens_per_s * 3600.0) * 1e6 if tokens_per_s > 0 else math.inf


def idle_seconds(samples: Sequence[StreamSample], seconds: float) -> float:
    """Seconds of a run of `seconds` during which no request was in flight: the run minus
    the union of every request's send-to-last-byte span (failed ones too)."""
    spans = [(s.sent_at_s, s.sent_at_s + s.e2e_ms / 1000.0) for s in samples]
    return max(0.0, seconds - union_seconds(spans))


def with_idle_time(
    power: PowerFigure, samples: Sequence[StreamSample], duration_s: float
) -> PowerFigure:
    """A measured run's figure with its idle seconds, over the span its watts average over
    (the meter's; the load's where the figure has none). Assumed figures need none."""
    if not power.measured:
        return power
    return replace(power, idle_s=idle_seconds(samples, power.seconds or duration_s))


def serving_share(power: PowerFigure) -> tuple[float | None, str]:
    """The fraction of the energy attributed to serving, and how (or why not)."""
    if not power.measured:
        return None, "the power is assumed, so there is no idle reading"
    if power.idle_w is None or power.idle_s is None or not power.seconds or not power.watts:
        return None, "no idle power reading before the run"
    if power.idle_s <= 0:
        return 1.0, "a request was in flight the whole run, so all of it"
    idle_j, total_j = power.idle_w * power.idle_s, power.watts * power.seconds
    if idle_j >= total_j:
        return None, f"the idle reading ({power.idle_w:.0f} W) is not below the run's average"
    return 1.0 - idle_j / total_j, (
        f"idle {power.idle_w:.0f} W (read before the first request) x {power.idle_s:.1f} s "
        f"with no request in flight taken off: {100 * idle_j / total_j:.0f} % of the energy"
    )


def energy_per_output(
    power: PowerFigure, output_tokens_per_s: float, attribute_idle: bool = True
) -> EnergyFigure:
    """Wh per 1M output tokens of a run (or a window) from its power figure and output
    rate, with the serving share where the figure has idle readings. `attribute_idle=False`
    for a window whose idle time is part of what is shown (the Dashboard's minute)."""
    basis = power.method if power.method in BASIS_LABELS else GIVEN
    label = BASIS_LABELS.get(basis, "")
    if power.watts is None:
        return EnergyFigure(None, basis, label, False, power.source, power.source)
    if not output_tokens_per_s > 0 or not math.isfinite(output_tokens_per_s):
        return EnergyFigure(None, basis, label, power.measured, power.source, "no output tokens")
    whole = wh_per_mtok(power.watts, output_tokens_per_s)
    figure = EnergyFigure(whole, basis, label, power.measured, power.source, "")
    if not attribute_idle or basis == GIVEN:  # a given figure carries no idle readings
        return figure
    share, how = serving_share(power)
    serving = None if share is None else whole * share
    return replace(figure, serving_wh_per_mtok_output=serving, attribution=how)


def given_power(watts: float | None, source: str) -> PowerFigure:
    """A power figure known only by its watts and source (cost inputs): its basis is in
    the source's words, and it carries no idle reading."""
    return PowerFigure(watts, "unknown" if watts is None else GIVEN, source)
