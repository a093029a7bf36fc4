"""Acceptance read from a recorded llama-server with a draft (tests/fixtures/
engine_responses/speculative/SOURCE.md says how it was recorded)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from bench.speculative import Acceptance, from_metrics, from_timings
from serving.engine_metrics import map_families

FIXTURES = Path(__file__).parents[2] / "fixtures" / "engine_responses" / "speculative"


def test_one_answers_timings_give_its_acceptance() -> None:
    answer = json.loads((FIXTURES / "llama_server_chat_with_draft.json").read_text())
    assert from_timings(answer["timings"]) == Acceptance(37, 37)
    assert from_timings({"predicted_n": 3}) is None, "no draft, no acceptance"


def test_the_servers_metrics_carry_llama_servers_counters() -> None:
    text = (FIXTURES / "llama_server_metrics_with_draft.txt").read_text()
    families = map_families(text, "m", "llama-server")

    class Recorded(Collector):
        def collect(self) -> Iterable[Metric]:
            return families

    registry = CollectorRegistry()
    registry.register(Recorded())
    acceptance = from_metrics(generate_latest(registry).decode())
    assert acceptance == Acceptance(drafted=111, accepted=111)
    assert acceptance.rate == 1.0


def test_nothing_drafted_has_no_rate() -> None:
    assert Acceptance(0, 0).rate is None
    assert "nothing drafted" in Acceptance(0, 0).text()
    assert from_metrics("") is None
