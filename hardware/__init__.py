"""What this machine has: CPU, memory, GPUs, and live telemetry."""

from hardware.cpu import physical_core_count

__all__ = ["physical_core_count"]
