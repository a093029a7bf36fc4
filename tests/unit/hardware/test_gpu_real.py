"""The real NVML path on a machine with an NVIDIA GPU; skipped everywhere else."""

from __future__ import annotations

import json

import pytest

import hardware
from hardware.nvml import NvidiaBackend, PynvmlApi
from hardware.nvml_replay import RecordedNvml, record_nvml


def _real_gpu_count() -> int:
    backend = NvidiaBackend()
    try:
        return backend.open().device_count
    finally:
        backend.close()


@pytest.mark.gpu
def test_real_nvml_reading_and_its_replay() -> None:
    if _real_gpu_count() == 0:
        pytest.skip("no NVIDIA GPU with a working driver on this machine")
    snapshot = hardware.discover()
    nvidia = [gpu for gpu in snapshot.gpus if gpu.vendor == "NVIDIA"]
    assert nvidia
    for gpu in nvidia:
        assert gpu.name
        assert gpu.memory_total_bytes and gpu.memory_total_bytes > 0
        assert gpu.memory_used_bytes is not None
        assert gpu.memory_used_bytes <= gpu.memory_total_bytes
        assert gpu.driver_version
        assert gpu.processes is None or all(p.pid > 0 for p in gpu.processes)
    # A recording of this machine replays into the same static figures.
    recorded = json.loads(json.dumps(record_nvml(PynvmlApi.load(), source="gpu test")))
    replayed = hardware.discover(backends=[NvidiaBackend(lambda: RecordedNvml(recorded))])
    assert [g.name for g in replayed.gpus] == [g.name for g in nvidia]
    assert [g.memory_total_bytes for g in replayed.gpus] == [g.memory_total_bytes for g in nvidia]


@pytest.mark.gpu
def test_sampler_on_a_real_gpu() -> None:
    if _real_gpu_count() == 0:
        pytest.skip("no NVIDIA GPU with a working driver on this machine")
    sampler = hardware.Sampler()
    try:
        first, second = sampler.sample(), sampler.sample()
    finally:
        sampler.stop()
    assert len(second.gpus) == len(first.gpus) > 0
    energy = [g.energy_total_mj for g in second.gpus]
    assert all(e is None or e >= 0 for e in energy)
