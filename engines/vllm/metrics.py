"""vLLM's Prometheus metrics under hostbench's names, and the KV-cache figures `ps` shows.

vLLM renamed its KV-cache gauge: `vllm:gpu_cache_usage_perc` (V0, deprecated in vLLM PR
#18354) became `vllm:kv_cache_usage_perc`; both are read. Despite the name, the value is a
ratio (1 means 100 percent). The cache's size comes from the labels of the info gauge
`vllm:cache_config_info` (`num_gpu_blocks` x `block_size` tokens).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

HOSTBENCH_NAMES: Mapping[str, str] = {
    "vllm:kv_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:prompt_tokens_total": "prompt_tokens",
    "vllm:generation_tokens_total": "generation_tokens",
    "vllm:num_preemptions_total": "preemptions",
    "vllm:request_success_total": "requests_finished",
}
"""vLLM sample name -> hostbench name (the `hostbench_engine_` family without its prefix)."""

RATIOS = frozenset({"kv_cache_usage_ratio"})
"""Averaged over label sets (data-parallel engines); every other figure is summed."""

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample line; comments and junk are skipped."""
    for line in text.splitlines():
        found = _SAMPLE.match(line.strip())
        if found is None:
            continue
        name, labels, value = found.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        yield name, dict(_LABEL.findall(labels or "")), number


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
    """Tokens the KV cache holds, from `vllm:cache_config_info` (None if not published)."""
    for name, labels, _value in samples(text):
        if name == "vllm:cache_config_info":
            try:
                return int(labels["num_gpu_blocks"]) * int(labels["block_size"])
            except (KeyError, ValueError):
                return None
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
