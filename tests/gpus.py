"""The NVIDIA GPUs this machine's driver reports, for the `gpu`-marked tests."""

from __future__ import annotations

import hardware


def nvidia_gpus() -> list[hardware.GpuSnapshot]:
    return [gpu for gpu in hardware.discover().gpus if gpu.vendor == "NVIDIA"]
