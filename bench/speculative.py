"""Speculative decoding's acceptance: of the tokens a draft model proposed, how many the
model kept. Read from what the engine reports, never estimated: llama-server's `timings`
(`draft_n`, `draft_n_accepted`) per answer, and llama-server's and vLLM's Prometheus
counters, which the hostbench server republishes as `hostbench_engine_spec_*`
(serving/engine_metrics.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

DRAFTED = "hostbench_engine_spec_draft_tokens"
ACCEPTED = "hostbench_engine_spec_accepted_tokens"


@dataclass(frozen=True)
class Acceptance:
    drafted: int
    accepted: int

    @property
    def rate(self) -> float | None:
        """Accepted over drafted; None when nothing was drafted."""
        return self.accepted / self.drafted if self.drafted else None

    def __sub__(self, before: Acceptance) -> Acceptance:
        return Acceptance(self.drafted - before.drafted, self.accepted - before.accepted)

    def as_dict(self) -> dict[str, Any]:
        return {"drafted": self.drafted, "accepted": self.accepted, "rate": self.rate}

    def text(self) -> str:
        rate = self.rate
        share = "nothing drafted" if rate is None else f"{rate:.0%}"
        return f"{share} ({self.accepted} of {self.drafted} drafted tokens accepted)"


def from_timings(timings: Mapping[str, Any]) -> Acceptance | None:
    """One llama-server answer's `timings`; None when it ran without a draft."""
    if "draft_n" not in timings:
        return None
    return Acceptance(int(timings["draft_n"]), int(timings.get("draft_n_accepted", 0)))


def from_metrics(text: str) -> Acceptance | None:
    """The hostbench server's `/metrics` text, summed over its engines; None when no
    engine reports speculative counters (no draft, or an engine without them)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in (DRAFTED, ACCEPTED):
            totals[family.name] = sum(
                s.value for s in family.samples if s.name == family.name + "_total"
            )
    if DRAFTED not in totals:
        return None
    return Acceptance(int(totals[DRAFTED]), int(totals.get(ACCEPTED, 0)))
