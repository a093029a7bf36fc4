"""Machine snapshots for fit tests: this machine's real CPU/RAM reading, with GPUs from
recorded real NVML readings (tests/fixtures/nvml) where a test needs one."""

from __future__ import annotations

import dataclasses

import hardware
from catalog.model_shape import ModelShape
from tests.unit.hardware.conftest import replay_backend

GIB = 1 << 30


def machine(
    gpu_fixture: str | None = None, ram_gib: float | None = None
) -> hardware.MachineSnapshot:
    backends = [replay_backend(gpu_fixture)] if gpu_fixture else []
    snapshot = hardware.discover(backends=backends)
    if ram_gib is not None:
        memory = dataclasses.replace(snapshot.memory, ram_available_bytes=int(ram_gib * GIB))
        snapshot = dataclasses.replace(snapshot, memory=memory)
    return snapshot


def smollm2() -> ModelShape:
    """SmolLM2-135M's dimensions (GGUF header of the default model, shared NOTES)."""
    return ModelShape(
        name="smollm2", n_layers=30, n_embd=576, n_heads=9, n_kv_heads=3, head_dim_k=64,
        head_dim_v=64, n_vocab=49152, n_ff=1536, layer_bytes=(2216448,) * 30,
        input_bytes=30081024, output_bytes=30081024, other_bytes=2304, file_bytes=98362432,
        ctx_train=8192, n_tokens=49152, n_merges=48900,
    )  # fmt: skip
