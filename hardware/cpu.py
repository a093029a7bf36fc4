"""CPU facts needed before the full hardware discovery exists."""

from __future__ import annotations

import os

import psutil


def physical_core_count() -> int:
    """Physical cores (llama.cpp runs best with one thread per physical core)."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1
