"""The physical bound on decode speed, shown next to every measured decode figure.

Each decode step reads every weight once (shared by the streams decoded together) plus
each stream's KV cache, so one stream cannot produce more than
`memory_bandwidth / (weights + batch x kv_bytes_per_stream)` tokens per second. A measured
rate far below the bound points at a misconfiguration (too few threads, no offload).
The bandwidth comes from the GPU facts table, a setting, or on a CPU a quick probe.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from hardware import MachineSnapshot

GB = 1e9


@dataclass(frozen=True)
class Bandwidth:
    gbps: float
    """10^9 bytes per second."""
    source: str


@dataclass(frozen=True)
class DecodeLimit:
    """The bound for one stream at a given batch, with its inputs."""

    bound_tokens_per_s: float
    bandwidth_gbps: float
    bandwidth_source: str
    weights_bytes: int
    kv_bytes_per_stream: int
    batch: int

    @property
    def bytes_per_step(self) -> int:
        return self.weights_bytes + self.batch * self.kv_bytes_per_stream

    def percent_of_bound(self, measured_tokens_per_s: float) -> float:
        return 100.0 * measured_tokens_per_s / self.bound_tokens_per_s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DecodeLimit | None:
        return cls(**data) if data else None


def decode_bound(
    bandwidth: Bandwidth, weights_bytes: int, kv_bytes_per_stream: int, batch: int = 1
) -> DecodeLimit:
    """Tokens/s one stream can reach when `batch` streams decode together."""
    step_bytes = weights_bytes + max(1, batch) * kv_bytes_per_stream
    bound = bandwidth.gbps * GB / step_bytes if step_bytes > 0 else math.inf
    return DecodeLimit(
        bound, bandwidth.gbps, bandwidth.source, weights_bytes, kv_bytes_per_stream, max(1, batch)
    )


def kv_bytes_per_token(
    n_layers: int,
    n_kv_heads: int,
    head_dim: int,
    bytes_per_value: float = 2.0,
    *,
    head_dim_v: int | None = None,
    bytes_per_value_v: float | None = None,
) -> int:
    """K and V for one token of context across `n_layers` layers (f16 cache by default);
    V has K's head width and cache type unless given. The one KV-size formula: the
    llama.cpp fit (catalog.fit), the decode reads (catalog.fit_decode) and vLLM's memory
    (engines.vllm.memory) all call it."""
    width_v = head_dim if head_dim_v is None else head_dim_v
    value_v = bytes_per_value if bytes_per_value_v is None else bytes_per_value_v
    return round(n_layers * n_kv_heads * (head_dim * bytes_per_value + width_v * value_v))


def stream_kv_bytes(
    kv_per_token: int, window_kv_per_token: int, sliding_window: int | None, tokens: float
) -> int:
    """One stream's KV cache read per decode step at `tokens` of context: the
    sliding-window layers (`window_kv_per_token`) read at most `sliding_window` tokens."""
    tokens = max(tokens, 0.0)
    window = min(tokens, sliding_window or 0)
    return int(kv_per_token * tokens + window_kv_per_token * window)


def measure_ram_bandwidth(size_mib: int = 256, repeats: int = 5) -> float:
    """GB/s of a large array copy (a read and a write of each byte), best of `repeats`.

    A single-threaded numpy copy understates what all cores together can pull, so the
    bound it gives is conservative; a setting can replace it."""
    import numpy as np

    source = np.ones(size_mib * 2**20 // 8, dtype=np.float64)
    target = np.empty_like(source)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best / GB


def device_bandwidth(
    snapshot: MachineSnapshot | None, ram_setting_gbps: float | None, use_gpu: bool
) -> Bandwidth:
    """The memory the weights are read from: the first GPU's published bandwidth where the
    model runs on a GPU we have facts for; else RAM (setting, or a measured probe)."""
    gpus = snapshot.gpus if snapshot else ()
    if use_gpu and gpus and gpus[0].facts and gpus[0].facts.memory_bandwidth_gbps:
        facts = gpus[0].facts
        return Bandwidth(
            facts.memory_bandwidth_gbps or 0.0,
            f"GPU facts: {facts.name} (table {facts.retrieved})",
        )
    if ram_setting_gbps is not None:
        return Bandwidth(ram_setting_gbps, "setting cost.ram_bandwidth_gbps")
    measured = measure_ram_bandwidth()
    return Bandwidth(round(measured, 1), "measured: RAM copy probe (numpy, 256 MiB, best of 5)")


@dataclass(frozen=True)
class LimitInputs:
    """What the bound needs about the device and the model, known before a run."""

    bandwidth: Bandwidth
    weights_bytes: int
    kv_bytes_per_token: int
    max_batch: int | None = None
    """The engine's parallel slots: more streams than this queue, they do not batch."""
    window_kv_bytes_per_token: int = 0
    """KV bytes per token of the sliding-window layers, which read at most
    `sliding_window` tokens (`kv_bytes_per_token` covers the other layers)."""
    sliding_window: int | None = None

    def for_run(self, concurrency: int, context_tokens: float) -> DecodeLimit:
        """The bound at this concurrency, with each stream holding `context_tokens` of KV
        (prompt plus half the answer, on average over its decode)."""
        batch = min(concurrency, self.max_batch) if self.max_batch else concurrency
        kv = stream_kv_bytes(
            self.kv_bytes_per_token,
            self.window_kv_bytes_per_token,
            self.sliding_window,
            context_tokens,
        )
        return decode_bound(self.bandwidth, self.weights_bytes, kv, batch)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
