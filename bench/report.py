"""Describing the machine a measurement ran on, for benchmark reports."""

from __future__ import annotations

import platform

from hardware import MachineSnapshot


def describe_machine(snapshot: MachineSnapshot) -> str:
    cpu, memory = snapshot.cpu, snapshot.memory
    gpus = ", ".join(g.name or "GPU" for g in snapshot.gpus) or "no GPU"
    return (
        f"{cpu.model_name or cpu.architecture}, {cpu.physical_cores} physical / "
        f"{cpu.logical_cores} logical cores, {memory.ram_total_bytes / 2**30:.0f} GiB RAM, "
        f"{gpus}; {snapshot.os}; Python {platform.python_version()}"
    )
