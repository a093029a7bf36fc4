"""Prometheus text for `/metrics`: our request metrics, the rolling windows, the engines'.

Each server owns its CollectorRegistry (no process-global registry), so two apps in one
process (tests) never share counters. Request counters and histograms are updated as the
gateway submits records; window gauges are computed from LiveMetrics when scraped; engine
metrics are scraped from the engines just before rendering, and each engine's state
(sleeping included) is read from the supervisor and the pool then.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bench.live import WINDOWS_S, LiveMetrics, model_key, tpot_ms
from engines.http_client import EngineClient
from engines.supervisor import EngineState
from serving.engine_metrics import EngineEndpoint, scrape
from storage import RequestRecord, RequestStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TPOT_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2.5)
E2E_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.95", "p95"), ("0.99", "p99"))
WINDOW_RATES = (
    ("requests_per_second", "requests_per_s", "Requests finished per second over the window"),
    ("output_tokens_per_second", "output_tokens_per_s", "Completion tokens per second"),
    ("input_tokens_per_second", "input_tokens_per_s", "Prompt tokens per second"),
    ("error_rate", "error_rate", "Share of requests that failed (not cancelled)"),
)
ENGINE_STATES = (*(str(s) for s in EngineState), "sleeping")
"""Every state an engine is reported in: the supervisor's, and the pool's sleeping."""


class WindowCollector(Collector):
    """The 1 min / 15 min windows of LiveMetrics as gauges, computed at scrape time."""

    def __init__(self, live: LiveMetrics) -> None:
        self._live = live

    def collect(self) -> Iterator[Metric]:
        latency = {
            name: GaugeMetricFamily(
                f"hostbench_window_{name}_seconds",
                f"{name.upper()} over the rolling window, by quantile",
                labels=["model", "window", "quantile"],
            )
            for name in ("ttft", "tpot", "e2e")
        }
        rates = {
            attribute: GaugeMetricFamily(
                f"hostbench_window_{name}", help_, labels=["model", "window"]
            )
            for name, attribute, help_ in WINDOW_RATES
        }
        for model in self._live.models():
            for window, seconds in WINDOWS_S.items():
                stats = self._live.window(model, seconds)
                for name, family in latency.items():
                    summary = getattr(stats, f"{name}_ms")
                    for quantile, key in QUANTILES:
                        if summary[key] == summary[key]:  # not NaN
                            family.add_metric([model, window, quantile], summary[key] / 1000.0)
                for field, family in rates.items():
                    value = getattr(stats, field)
                    if value is not None:
                        family.add_metric([model, window], value)
        yield from latency.values()
        yield from rates.values()


class EngineCollector(Collector):
    """Yields the engine metrics of the latest scrape."""

    def __init__(self) -> None:
        self.latest: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        yield from self.latest


class EngineStateCollector(Collector):
    """One gauge per engine and state, 1 for the state it is in (the enum-as-labels shape
    Prometheus exporters use, so `hostbench_engine_state{state="sleeping"} == 1` selects the
    sleeping ones)."""

    def __init__(self) -> None:
        self.latest: Mapping[str, str] = {}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hostbench_engine_state",
            "Each engine's state: 1 for the one it is in (sleeping: no process; its next "
            "request wakes it)",
            labels=["model", "state"],
        )
        for name, current in sorted(self.latest.items()):
            for state in ENGINE_STATES:
                family.add_metric([name, state], 1.0 if state == current else 0.0)
        yield family


class ServerMetrics:
    """The server's registry; `observe` is a RequestRecorder listener."""

    def __init__(self, live: LiveMetrics) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._requests = Counter(
            "hostbench_requests",
            "Requests through the gateway, by how they ended",
            ["model", "status"],
            registry=self.registry,
        )
        self._tokens = Counter(
            "hostbench_tokens",
            "Tokens of completed requests (from the engine's usage)",
            ["model", "kind"],
            registry=self.registry,
        )
        self._ttft = self._histogram(
            "ttft", "Time to first token of streamed requests", TTFT_BUCKETS
        )
        self._tpot = self._histogram("tpot", "Time per output token after the first", TPOT_BUCKETS)
        self._e2e = self._histogram("e2e", "Request latency, received to last content", E2E_BUCKETS)
        self.engines = EngineCollector()
        self.engine_states = EngineStateCollector()
        self.registry.register(WindowCollector(live))
        self.registry.register(self.engines)
        self.registry.register(self.engine_states)

    def _histogram(self, name: str, help_: str, buckets: Sequence[float]) -> Histogram:
        return Histogram(
            f"hostbench_request_{name}_seconds",
            help_,
            ["model"],
            buckets=buckets,
            registry=self.registry,
        )

    def observe(self, record: RequestRecord) -> None:
        model = model_key(record)
        self._requests.labels(model, str(record.status)).inc()
        if record.status != RequestStatus.OK:
            return
        self._tokens.labels(model, "prompt").inc(record.prompt_tokens or 0)
        self._tokens.labels(model, "completion").inc(record.completion_tokens or 0)
        if record.e2e_ms is not None:
            self._e2e.labels(model).observe(record.e2e_ms / 1000.0)
        if record.stream and record.ttft_ms is not None:
            self._ttft.labels(model).observe(record.ttft_ms / 1000.0)
        if record.stream and (tpot := tpot_ms(record)) is not None:
            self._tpot.labels(model).observe(tpot / 1000.0)

    async def render(
        self,
        upstream: EngineClient,
        engines: Sequence[EngineEndpoint],
        states: Mapping[str, str],
    ) -> bytes:
        """Scrape the engines, then the whole registry as Prometheus text; `states` is
        each engine's state by served name."""
        self.engines.latest = await scrape(upstream, engines)
        self.engine_states.latest = states
        return generate_latest(self.registry)
