"""vLLM's Prometheus metrics under hostbench's names, and the KV-cache figures `ps` shows.

The text format is parsed by `prometheus_client.parser`. The names are vLLM's V1 metric
names as vLLM 0.33.0 defines them in `vllm/v1/metrics/loggers.py` (0.34.0's are the same;
tests/unit/engines/test_vllm_metrics_source.py reads them from the installed vLLM's source),
plus `vllm:gpu_cache_usage_perc`, the V0 name of the KV-cache gauge (replaced by
`vllm:kv_cache_usage_perc` in vLLM PR #18354, absent from 0.33.0's source), which older
vLLM engines publish (tests/fixtures/vllm). Despite the name, the value is a ratio (1 means
100 percent). The cache's size comes from the labels of
the info gauge `vllm:cache_config_info` (`num_gpu_blocks` x `block_size` tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

VLLM_NAMES_VERSION = "0.33.0"
"""The vLLM release whose source the names below were checked against."""

HOSTBENCH_NAMES: Mapping[str, str] = {
    "vllm:kv_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage_ratio",  # V0 engines only
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:prompt_tokens_total": "prompt_tokens",
    "vllm:generation_tokens_total": "generation_tokens",
    "vllm:num_preemptions_total": "preemptions",
    "vllm:request_success_total": "requests_finished",
}
"""vLLM sample name -> hostbench name (the `hostbench_engine_` family without its prefix)."""

CACHE_INFO = "vllm:cache_config_info"
RATIOS = frozenset({"kv_cache_usage_ratio"})
"""Averaged over label sets (data-parallel engines); every other figure is summed."""

Sample = tuple[str, dict[str, str], float]


def samples(text: str) -> list[Sample]:
    """(name, labels, value) of every sample. A line the parser rejects (an engine's
    partial write, another program's page) costs only that line: the text is then parsed
    line by line, without the families' TYPE context, which the sample names do not need."""
    try:
        return _parsed(text)
    except ValueError:
        return [sample for line in text.splitlines() for sample in _line(line)]


def _parsed(text: str) -> list[Sample]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _line(line: str) -> list[Sample]:
    try:
        return _parsed(line + "\n")
    except ValueError:
        return []


def engine_metrics(text: str) -> dict[str, float]:
    """The figures hostbench knows, under its names."""
    found: dict[str, list[float]] = {}
    for name, _labels, value in samples(text):
        ours = HOSTBENCH_NAMES.get(name)
        if ours is not None:
            found.setdefault(ours, []).append(value)
    return {
        name: sum(values) / len(values) if name in RATIOS else sum(values)
        for name, values in found.items()
    }


def kv_cache_capacity_tokens(text: str) -> int | None:
    """Tokens the KV cache holds, from `vllm:cache_config_info` (None if not published).
    Data-parallel engines publish one info sample each: their capacities add up."""
    capacities = [_capacity(labels) for name, labels, _ in samples(text) if name == CACHE_INFO]
    if not capacities or None in capacities:
        return None
    return sum(c for c in capacities if c is not None)


def _capacity(labels: Mapping[str, str]) -> int | None:
    try:
        return int(labels["num_gpu_blocks"]) * int(labels["block_size"])
    except (KeyError, ValueError):
        return None


def memory_report(text: str, reserved_bytes: int | None) -> dict[str, Any]:
    """What `hostbench ps` shows for a vLLM engine: the reservation (what it holds) and how
    full its KV cache is, never NVML's used figure (always about the whole reservation)."""
    figures = engine_metrics(text)
    capacity = kv_cache_capacity_tokens(text)
    ratio = figures.get("kv_cache_usage_ratio")
    used = round(ratio * capacity) if ratio is not None and capacity is not None else None
    return {
        "reserved_bytes": reserved_bytes,
        "kv_cache_usage_ratio": ratio,
        "kv_cache_capacity_tokens": capacity,
        "kv_cache_used_tokens": used,
        "requests_running": figures.get("requests_running"),
        "requests_waiting": figures.get("requests_waiting"),
    }
