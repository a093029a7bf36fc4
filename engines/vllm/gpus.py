"""Which GPUs vLLM can use here, and whether they run a quantization method.

Minimum NVIDIA compute capability per method, from vLLM's "Supported Hardware" table for
quantization (docs.vllm.ai/en/v0.15.1/features/quantization/: Volta SM 7.0, Turing 7.5,
Ampere 8.0, Ada 8.9, Hopper 9.0) and its FP8 page (FP8 runs weight-only through Marlin from
SM 7.5, as W8A8 from 8.9). On AMD GPUs the table lists only FP8 (and GGUF, which hostbench
leaves to llama.cpp).
"""

from __future__ import annotations

from collections.abc import Sequence

from engines.errors import EngineUnavailableError, UnsupportedOptionError
from engines.vllm.memory import GpuShare
from hardware import GpuSnapshot, MachineSnapshot

VENDORS = ("NVIDIA", "AMD")
MIN_CAPABILITY: dict[str, float] = {
    "awq": 7.5, "awq_marlin": 8.0, "gptq": 7.0, "gptq_marlin": 8.0, "fp8": 7.5,
    "compressed-tensors": 7.5,
}  # fmt: skip
ON_AMD = frozenset({"fp8", "compressed-tensors"})
MIN_NVIDIA_CAPABILITY = 7.0
"""vLLM's CUDA build targets Volta (SM 7.0) and newer."""


def usable_gpus(snapshot: MachineSnapshot, pinned: Sequence[int] | None) -> list[GpuSnapshot]:
    """NVIDIA/AMD GPUs with a memory reading (and among `pinned`, if given)."""
    gpus = [
        g
        for g in snapshot.gpus
        if g.vendor in VENDORS and not g.unified_memory and g.memory_total_bytes
    ]
    if pinned is not None:
        gpus = [g for g in gpus if g.index in pinned]
    too_old = [
        g for g in gpus if g.vendor == "NVIDIA" and (_capability(g) or 99) < MIN_NVIDIA_CAPABILITY
    ]
    if gpus and len(too_old) == len(gpus):
        old = too_old[0]
        raise EngineUnavailableError(
            f"vLLM needs an NVIDIA GPU of compute capability {MIN_NVIDIA_CAPABILITY:g} (Volta) or "
            f"newer; gpu{old.index} ({old.name}) is {_capability(old):g}: serve the model with "
            "llama.cpp (--engine llama.cpp)"
        )
    gpus = [g for g in gpus if g not in too_old]
    if not gpus:
        why = snapshot.gpu_absence_reason or "none of them is an NVIDIA or AMD GPU"
        where = f" among --gpus {','.join(map(str, pinned))}" if pinned else ""
        raise EngineUnavailableError(
            f"vLLM needs a CUDA (NVIDIA) or ROCm (AMD) GPU and finds none{where} ({why}); "
            "serve the model with llama.cpp instead (--engine llama.cpp)"
        )
    return gpus


def gpu_share(gpus: Sequence[GpuSnapshot]) -> GpuShare:
    return GpuShare(
        count=len(gpus),
        total_bytes=min(g.memory_total_bytes or 0 for g in gpus),
        free_bytes=min(g.memory_free_bytes or 0 for g in gpus),
    )


def check_quantization(method: str | None, gpus: Sequence[GpuSnapshot]) -> None:
    if method is None:
        return
    for gpu in gpus:
        if gpu.vendor == "AMD" and method not in ON_AMD:
            raise UnsupportedOptionError(
                f"vLLM's {method} kernels do not run on AMD GPUs ({gpu.name}); use an fp8 "
                "checkpoint, or llama.cpp with a GGUF quant"
            )
        need = MIN_CAPABILITY.get(method)
        have = _capability(gpu)
        if gpu.vendor == "NVIDIA" and need is not None and have is not None and have < need:
            raise UnsupportedOptionError(
                f"vLLM's {method} kernels need compute capability {need:g} or newer; "
                f"gpu{gpu.index} ({gpu.name}) has {have:g}: use another quantization "
                "(gptq runs from 7.0), an unquantized checkpoint, or llama.cpp with a GGUF quant"
            )


def _capability(gpu: GpuSnapshot) -> float | None:
    try:
        return float(gpu.compute_capability) if gpu.compute_capability else None
    except ValueError:
        return None
