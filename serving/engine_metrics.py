"""The engines' own Prometheus metrics under one naming scheme: `hostbench_engine_*`.

llama-server (`--metrics`) and vLLM each publish counters and gauges under their own names
(`llamacpp:tokens_predicted_total`, `vllm:generation_tokens_total`); a dashboard should not
care which engine runs. Each scrape maps the families we know to a common name and adds
the labels `model` (served name) and `runtime`; families without a mapping are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from engines.http_client import ENGINE_HTTP_FAILURES, EngineClient

PREFIX = "hostbench_engine_"

ENGINE_METRIC_NAMES: Mapping[str, str] = {
    # llama-server
    "llamacpp:prompt_tokens": "prompt_tokens",
    "llamacpp:prompt_tokens_cached": "prompt_tokens_cached",
    "llamacpp:prompt_seconds": "prompt_seconds",
    "llamacpp:tokens_predicted": "generation_tokens",
    "llamacpp:tokens_predicted_seconds": "generation_seconds",
    "llamacpp:n_decode": "decode_calls",
    "llamacpp:requests_processing": "requests_running",
    "llamacpp:requests_deferred": "requests_waiting",
    "llamacpp:prompt_tokens_seconds": "prompt_tokens_per_second",
    "llamacpp:predicted_tokens_seconds": "generation_tokens_per_second",
    "llamacpp:kv_cache_usage_ratio": "kv_cache_usage_ratio",
    "llamacpp:kv_cache_tokens": "kv_cache_tokens",
    "llamacpp:spec_decode_num_draft_tokens": "spec_draft_tokens",
    "llamacpp:spec_decode_num_accepted_tokens": "spec_accepted_tokens",
    # vLLM
    "vllm:prompt_tokens": "prompt_tokens",
    "vllm:generation_tokens": "generation_tokens",
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:kv_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:prefix_cache_hits": "prefix_cache_hit_tokens",
    "vllm:time_to_first_token_seconds": "ttft_seconds",
    "vllm:time_per_output_token_seconds": "tpot_seconds",
    "vllm:request_time_per_output_token_seconds": "tpot_seconds",
    "vllm:inter_token_latency_seconds": "itl_seconds",
    "vllm:e2e_request_latency_seconds": "e2e_seconds",
    "vllm:request_success": "requests_finished",
    "vllm:spec_decode_num_draft_tokens": "spec_draft_tokens",
    "vllm:spec_decode_num_accepted_tokens": "spec_accepted_tokens",
}
"""Engine family name (as the Prometheus parser names it: counters without `_total`) ->
our name without the prefix."""

METRICS_PATHS: Mapping[str, str] = {"llama-server": "/metrics", "vllm": "/metrics"}
"""Runtimes that publish Prometheus metrics, and where; llama-cpp-python's server has none."""


@dataclass(frozen=True)
class EngineEndpoint:
    model: str
    runtime: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """The engine's API key (llama-server asks for it on /metrics too)."""


def map_families(text: str, model: str, runtime: str) -> list[Metric]:
    """The known families of one engine's exposition text, renamed and labelled."""
    mapped = []
    for family in text_string_to_metric_families(text):
        ours = ENGINE_METRIC_NAMES.get(family.name)
        if ours is None:
            continue
        metric = Metric(PREFIX + ours, family.documentation, family.type)
        for sample in family.samples:
            suffix = sample.name[len(family.name) :]
            labels = {k: v for k, v in sample.labels.items() if k not in ("model", "runtime")}
            labels.update(model=model, runtime=runtime)
            metric.add_sample(metric.name + suffix, labels, sample.value)
        mapped.append(metric)
    return mapped


def merge(metrics: Iterable[Metric]) -> Iterator[Metric]:
    """One family per name (two engines, or two vLLM names for the same thing)."""
    merged: dict[str, Metric] = {}
    for metric in metrics:
        kept = merged.setdefault(
            metric.name, Metric(metric.name, metric.documentation, metric.type)
        )
        kept.samples.extend(metric.samples)
    yield from merged.values()


async def scrape(
    upstream: EngineClient, engines: Sequence[EngineEndpoint], timeout_s: float = 2.0
) -> list[Metric]:
    """Every engine's metrics at once; an engine that does not answer in time is skipped."""
    results = await asyncio.gather(*(_scrape_one(upstream, e, timeout_s) for e in engines))
    return list(merge(m for found in results for m in found))


async def _scrape_one(
    upstream: EngineClient, engine: EngineEndpoint, timeout_s: float
) -> list[Metric]:
    with contextlib.suppress(*ENGINE_HTTP_FAILURES, ValueError):
        status, body = await upstream.get(engine.url, engine.headers, deadline_s=timeout_s)
        if status == 200:
            return map_families(body.decode("utf-8", "replace"), engine.model, engine.runtime)
    return []
