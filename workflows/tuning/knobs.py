"""Which llama.cpp settings the tuner tries on this machine, and the values it tries.

Candidates start from the default launch (its resolved options) and stay close to it:
threads around the physical core count, slots around the concurrency asked for, batch
sizes a factor of two or four away. A setting that cannot apply here (GPU offload on a
CPU-only machine, a second thread count where the machine has one) is skipped with the
reason, so the report says what was not tried and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines.llamacpp.options import LlamaCppOptions
from profiles.resolver import UNQUANTIZED_CACHE
from workflows.tuning.search import Setting

ORDER = (
    "parallel",
    "threads",
    "flash_attn",
    "kv_cache",
    "ubatch_size",
    "batch_size",
    "threads_batch",
    "offload",
)
"""Most effect first, so a short budget spends itself where it matters."""

LLAMA_CPP_BATCH: int = LlamaCppOptions.model_fields["batch_size"].default
LLAMA_CPP_UBATCH: int = LlamaCppOptions.model_fields["ubatch_size"].default


@dataclass(frozen=True)
class Machine:
    physical_cores: int
    logical_cores: int
    gpus: int


def plan_settings(
    start: Mapping[str, Any],
    machine: Machine,
    concurrency: int,
    only: Sequence[str] | None = None,
) -> tuple[list[Setting], list[str]]:
    """(settings to try, in ORDER; "name: why not" for those skipped)."""
    wanted = list(only) if only else list(ORDER)
    unknown = [name for name in wanted if name not in ORDER]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; choose from {', '.join(ORDER)}")
    settings, skipped = [], []
    for name in (n for n in ORDER if n in wanted):
        changes, why = _CANDIDATES[name](start, machine, concurrency)
        if changes:
            settings.append(Setting(name, tuple(changes)))
        else:
            skipped.append(f"{name}: {why}")
    return settings, skipped


Candidates = tuple[list[dict[str, Any]], str]


def _differing(key: str, current: Any, values: Sequence[Any]) -> list[dict[str, Any]]:
    return [{key: v} for v in dict.fromkeys(values) if v != current]


def _parallel(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    values = [concurrency, max(1, concurrency // 2), 2 * concurrency]
    found = _differing("parallel", start.get("parallel"), sorted(values))
    return found, f"already {start.get('parallel')}, the only values near {concurrency} streams"


def _threads(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    current = start.get("threads") or machine.physical_cores
    values = [max(1, machine.physical_cores - 1), machine.physical_cores, machine.logical_cores]
    return _differing("threads", current, values), f"{current} is the only count to try here"


def _threads_batch(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    current = start.get("threads_batch") or start.get("threads") or machine.physical_cores
    values = [machine.physical_cores, machine.logical_cores]
    found = _differing("threads_batch", current, values)
    return found, f"{machine.logical_cores} logical core(s): no other prompt thread count"


def _flash_attn(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    """With a quantized V cache only `on` launches, and `auto` (the default) is already on
    wherever that cache launches at all: nothing to measure."""
    if start.get("cache_type_v", "f16") not in UNQUANTIZED_CACHE:
        return [], "a quantized V cache needs it on, and it is"
    return _differing("flash_attn", start.get("flash_attn"), ["on", "off"]), "no other value"


def _kv_cache(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    """f16 against q8_0, from whichever the launch starts with (the `cpu` profile's is q8_0)."""
    if start.get("cache_type_v") == "q8_0":
        return [{"cache_type_k": "f16", "cache_type_v": "f16"}], ""
    if start.get("flash_attn") == "off":
        return [], "a quantized V cache needs flash attention, which is off"
    return [{"cache_type_k": "q8_0", "cache_type_v": "q8_0"}], ""


def _ubatch(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    current = int(start.get("ubatch_size", LLAMA_CPP_UBATCH))
    batch = int(start.get("batch_size", LLAMA_CPP_BATCH))
    values = [v for v in (current // 2, current * 2) if 32 <= v <= batch]
    return _differing("ubatch_size", current, values), "no other size within the batch size"


def _batch(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    """A quarter of the batch, and llama.cpp's own 2048 where a profile chose less (the
    `cpu` profile's 64 trades long prompts' speed for first tokens under load)."""
    current = int(start.get("batch_size", LLAMA_CPP_BATCH))
    ubatch = int(start.get("ubatch_size", LLAMA_CPP_UBATCH))
    values = [v for v in (current // 4, LLAMA_CPP_BATCH) if v >= ubatch]
    return _differing("batch_size", current, values), "no other size above the micro-batch"


def _offload(start: Mapping[str, Any], machine: Machine, concurrency: int) -> Candidates:
    if machine.gpus == 0:
        return [], "no GPU on this machine (CPU only)"
    if machine.gpus > 1 and start.get("split_mode", "layer") == "layer":
        return [{"split_mode": "row"}], ""
    return [], "one GPU: the fit estimate already offloads every layer that fits"


_CANDIDATES = {
    "parallel": _parallel,
    "threads": _threads,
    "threads_batch": _threads_batch,
    "flash_attn": _flash_attn,
    "kv_cache": _kv_cache,
    "ubatch_size": _ubatch,
    "batch_size": _batch,
    "offload": _offload,
}
