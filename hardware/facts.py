"""Published GPU figures (bandwidth, FP16 TFLOPS, TDP) matched to the GPUs found here.

The table ships as `hardware/data/gpus.json`, a dated copy with a source for every row, so
the physical decode limit can be shown offline. Matching is by the driver's product name
and the table's aliases; it never guesses between variants that the name cannot tell apart
(an "H200 NVL" is not an "H200"), and returns None instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hardware.snapshots import GpuFacts

_VENDOR_PREFIX = re.compile(r"^(?:nvidia|amd|ati)\s+")
# Memory size and type, and AMD's "OAM" form factor (the only one its MI300X ships in).
_LOOSE_TOKENS = re.compile(r"\b(?:\d+\s?gb|hbm\d?e?|gddr\d+x?|oam)\b")
_GIB = 1024**3


def normalize_gpu_name(name: str) -> str:
    """Lower case, separators as spaces, no vendor prefix.

    'NVIDIA A100-SXM4-80GB' -> 'a100 sxm4 80gb'.
    """
    text = re.sub(r"[\s\-_/]+", " ", name.lower()).strip()
    while (stripped := _VENDOR_PREFIX.sub("", text)) != text:
        text = stripped
    return text


def _loose(name: str) -> str:
    """Also without memory size and type, for drivers that add or drop '80GB HBM3'; and
    without 'OAM'. Form factors that change the figures (SXM, PCIe, NVL) are kept."""
    return re.sub(r"\s+", " ", _LOOSE_TOKENS.sub("", normalize_gpu_name(name))).strip()


@dataclass(frozen=True)
class _Entry:
    facts: GpuFacts
    keys: frozenset[str]
    loose_keys: frozenset[str]


@dataclass(frozen=True)
class GpuFactsTable:
    """The shipped table; `retrieved` is the date its figures were read from their sources."""

    retrieved: str
    source_note: str
    entries: tuple[_Entry, ...]

    @classmethod
    def load(cls) -> GpuFactsTable:
        text = resources.files("hardware").joinpath("data/gpus.json").read_text("utf-8")
        return cls.from_json(json.loads(text))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GpuFactsTable:
        retrieved = data["retrieved"]
        entries = tuple(_entry(row, retrieved) for row in data["gpus"])
        return cls(retrieved=retrieved, source_note=data["source_note"], entries=entries)

    def match(self, name: str, memory_total_bytes: int | None = None) -> GpuFacts | None:
        """Exact (normalised) name or alias first, then ignoring memory size and type.

        Where the driver reports the memory total, a row whose marketed size is more than
        15 % away is another variant of the card (an RTX 3080 12GB is not the 10GB row) and
        gives None. Pass None for unified memory, whose size says nothing about the chip.
        """
        key = normalize_gpu_name(name)
        candidates = [e for e in self.entries if key in e.keys]
        if not candidates:
            loose = _loose(name)
            candidates = [e for e in self.entries if loose and loose in e.loose_keys]
        return _pick_by_memory(candidates, memory_total_bytes)


def _entry(row: dict[str, Any], retrieved: str) -> _Entry:
    names = [row["name"], *row.get("aliases", ())]
    facts = GpuFacts(
        name=row["name"],
        vendor=row["vendor"],
        memory_gib=row.get("memory_gib"),
        memory_bandwidth_gbps=row.get("memory_bandwidth_gbps"),
        fp16_dense_tflops=row.get("fp16_dense_tflops"),
        tdp_w=row.get("tdp_w"),
        sources=tuple(row.get("source", ())),
        retrieved=retrieved,
    )
    return _Entry(
        facts=facts,
        keys=frozenset(normalize_gpu_name(n) for n in names),
        loose_keys=frozenset(_loose(n) for n in names),
    )


def _pick_by_memory(candidates: list[_Entry], memory_total_bytes: int | None) -> GpuFacts | None:
    """One candidate whose marketed memory fits the reported total; ties and misfits: None."""
    if memory_total_bytes is None:
        return candidates[0].facts if len(candidates) == 1 else None
    gib = memory_total_bytes / _GIB
    # Drivers report a little less than the marketed size; more than 15 % off is another card.
    fitting = [
        c.facts
        for c in candidates
        if c.facts.memory_gib is not None and abs(c.facts.memory_gib - gib) <= 0.15 * gib
    ]
    return fitting[0] if len({f.memory_gib for f in fitting}) == 1 and len(fitting) == 1 else None
