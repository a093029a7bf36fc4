"""vLLM's memory, the way vLLM itself spends it.

vLLM reserves `gpu_memory_utilization x total memory` on every GPU it uses when it starts,
whatever the model: weights, activations and CUDA graphs come out of that reservation and
the rest becomes KV cache (its start-up log: "Available KV cache memory"). So what a vLLM
engine holds is the reservation, not the model's size, and a model fits when its share of
weights plus the KV cache of one full-length sequence fits in each GPU's reservation (vLLM
refuses to start otherwise: "max seq len ... larger than the maximum number of tokens that
can be stored in KV cache"). vLLM V1 also refuses when a GPU has less free memory than the
reservation ("Free memory on device ... is less than desired GPU memory utilization").

Weights split evenly over tensor x pipeline parallel ranks; the non-KV working set per GPU
(CUDA context, activations of one scheduler step, CUDA graphs) is taken as a fixed
allowance: an approximation, which vLLM replaces with a measurement in its profiling run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench import limits
from catalog import CatalogEntry

GIB = float(1 << 30)
RUNTIME_ALLOWANCE_BYTES = 2 << 30
"""Per GPU, outside weights and KV cache (approximate; see the module docstring)."""

BITS_PER_WEIGHT: dict[str, float] = {
    "auto": 16.0, "half": 16.0, "float16": 16.0, "bfloat16": 16.0, "float": 32.0,
    "float32": 32.0, "fp8": 8.0, "awq": 4.25, "awq_marlin": 4.25, "gptq": 4.25,
    "gptq_marlin": 4.25, "compressed-tensors": 8.0,
}  # fmt: skip
"""Weights of 4-bit methods include their group-128 scales and zeros (~0.25 bit)."""

KV_BYTES = {"auto": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}


@dataclass(frozen=True)
class GpuShare:
    """The GPUs one vLLM engine uses here, as vLLM sees them."""

    count: int
    total_bytes: int
    """Memory of the smallest of them: vLLM sizes every rank alike."""
    free_bytes: int
    """Free memory of the fullest of them."""


@dataclass(frozen=True)
class VllmFit:
    share: GpuShare
    utilization: float
    ranks: int
    """tensor x pipeline parallel ranks (GPUs one replica spans, on all nodes)."""
    weights_bytes: int | None
    kv_bytes_per_token: int | None
    context: int | None

    @property
    def reserved_per_gpu(self) -> int:
        return int(self.utilization * self.share.total_bytes)

    @property
    def reserved_bytes(self) -> int:
        """What this engine holds on this machine's GPUs."""
        return self.reserved_per_gpu * self.share.count

    @property
    def need_per_gpu(self) -> int | None:
        if self.weights_bytes is None or self.kv_bytes_per_token is None or not self.context:
            return None
        kv = self.kv_bytes_per_token * self.context
        return math.ceil((self.weights_bytes + kv) / self.ranks) + RUNTIME_ALLOWANCE_BYTES

    @property
    def kv_cache_tokens(self) -> int | None:
        """Tokens of KV cache the reservation leaves over all ranks, at this estimate."""
        if self.weights_bytes is None or not self.kv_bytes_per_token:
            return None
        left = self.ranks * (self.reserved_per_gpu - RUNTIME_ALLOWANCE_BYTES) - self.weights_bytes
        return max(0, left // self.kv_bytes_per_token)

    def refusal(self) -> str | None:
        if self.share.free_bytes < self.reserved_per_gpu:
            most = self.share.free_bytes / self.share.total_bytes
            return (
                f"vLLM would reserve {self.reserved_per_gpu / GIB:.1f} GiB per GPU "
                f"(gpu_memory_utilization {self.utilization:g} x "
                f"{self.share.total_bytes / GIB:.1f} GiB) but only "
                f"{self.share.free_bytes / GIB:.1f} GiB is free: lower "
                f"--gpu-memory-utilization to {math.floor(most * 100) / 100:g} or less, or "
                "stop what holds the GPU (hostbench gpus)"
            )
        need = self.need_per_gpu
        if need is None or need <= self.reserved_per_gpu:
            return None
        return (
            f"the model needs about {need / GIB:.1f} GiB per GPU (weights and one "
            f"{self.context}-token sequence of KV cache over {self.ranks} rank(s)), more than "
            f"the {self.reserved_per_gpu / GIB:.1f} GiB vLLM reserves per GPU: raise "
            "--gpu-memory-utilization, lower --max-model-len, use more GPUs "
            "(--tensor-parallel-size), a quantized checkpoint (awq, gptq, fp8) or "
            "--kv-cache-dtype fp8, or the llama.cpp engine with a GGUF quant"
        )

    def basis(self) -> str:
        text = (
            f"vLLM reserves gpu_memory_utilization {self.utilization:g} x "
            f"{self.share.total_bytes / GIB:.1f} GiB on {self.share.count} GPU(s) = "
            f"{self.reserved_bytes / GIB:.1f} GiB up front"
        )
        if self.weights_bytes is None:
            return text + "; model size unknown (not in the catalog)"
        tokens = self.kv_cache_tokens
        return text + (
            f"; weights ~{self.weights_bytes / GIB:.1f} GiB, KV cache ~{tokens:,} tokens"
        )


def weights_bytes(entry: CatalogEntry | None, dtype: str, quantization: str | None) -> int | None:
    """Parameters x bits per weight of the checkpoint vLLM loads."""
    if entry is None or entry.params_total_b is None:
        return None
    bits = BITS_PER_WEIGHT.get(quantization or dtype, 16.0)
    return math.ceil(entry.params_total_b * 1e9 * bits / 8)


def kv_bytes_per_token(entry: CatalogEntry | None, kv_cache_dtype: str) -> int | None:
    """K and V of every layer for one token, at the cache dtype's width."""
    arch = entry.architecture if entry else None
    if arch is None:
        return None
    dtype_bytes = KV_BYTES[kv_cache_dtype]
    return limits.kv_bytes_per_token(arch.n_layers, arch.n_kv_heads, arch.head_dim, dtype_bytes)
