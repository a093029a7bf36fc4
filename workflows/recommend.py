"""Which engine to run a model with on given hardware, and why.

The rules follow what each engine is good at: llama.cpp runs GGUF files anywhere (CPU,
partial offload, Apple silicon) and serves a few users well; vLLM needs a CUDA/ROCm GPU, a
Hugging Face checkpoint and room for its up-front reservation, and then batches many
concurrent users far better (continuous batching over a paged KV cache). `choices` says
for every engine whether it can run here, which is what an A/B bench needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog import Catalog, CatalogError, LocalModels
from catalog.hub_files import is_hub_ref
from catalog.resolve import looks_like_path
from engines.errors import EngineError
from engines.vllm import VllmEngine, VllmOptions
from engines.vllm.gpus import gpu_share, usable_gpus
from hardware import MachineSnapshot

MANY_USERS = 4
"""Concurrent users from which vLLM's batching is worth its reservation and start-up."""
LLAMA_CPP, VLLM = "llama.cpp", "vllm"


@dataclass(frozen=True)
class EngineChoice:
    engine: str
    runnable: bool
    why: str


@dataclass(frozen=True)
class Recommendation:
    engine: str
    reasons: tuple[str, ...]
    choices: tuple[EngineChoice, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "reasons": list(self.reasons),
            "choices": [c.__dict__ for c in self.choices],
        }


def recommend_engine(
    model: str,
    catalog: Catalog,
    registry: LocalModels,
    snapshot: MachineSnapshot,
    *,
    users: int = 1,
    vllm_installed: bool | None = None,
) -> Recommendation:
    """`vllm_installed` None means unknown (another machine's snapshot): assumed
    installable there, and said so."""
    vllm = _vllm_choice(model, catalog, registry, snapshot, vllm_installed)
    llama = EngineChoice(LLAMA_CPP, True, "runs GGUF files on CPU, GPU or both")
    if not vllm.runnable:
        return Recommendation(LLAMA_CPP, (f"vLLM cannot run it here: {vllm.why}",), (llama, vllm))
    if users >= MANY_USERS:
        many = (
            f"{users} concurrent users on a supported GPU: vLLM batches them continuously "
            "over a paged KV cache"
        )
        return Recommendation(VLLM, (many, vllm.why), (vllm, llama))
    few = (
        f"{users} user(s): llama.cpp starts fast and holds only what the model needs; "
        f"vLLM pays off from about {MANY_USERS} concurrent users (hostbench fit --users N)"
    )
    return Recommendation(LLAMA_CPP, (few,), (llama, vllm))


def _vllm_choice(
    model: str,
    catalog: Catalog,
    registry: LocalModels,
    snapshot: MachineSnapshot,
    installed: bool | None,
) -> EngineChoice:
    gguf_named = (looks_like_path(model) or is_hub_ref(model)) and model.endswith(".gguf")
    if gguf_named or _is_local_file(model, registry):
        return EngineChoice(VLLM, False, "only a GGUF file is at hand (vLLM loads checkpoints)")
    engine = VllmEngine()
    try:
        located = engine.locate_model(model, catalog, {})
        share = gpu_share(usable_gpus(snapshot, None))
        utilization = min(0.9, math.floor(share.free_bytes / share.total_bytes * 100) / 100)
        options = VllmOptions(
            gpu_memory_utilization=max(0.01, utilization),
            max_model_len=_context(located, catalog),
        )
        fit = engine.fit(located, options, snapshot)
    except (EngineError, CatalogError) as error:
        return EngineChoice(VLLM, False, str(error))
    refusal = fit.refusal()
    if refusal is not None:
        return EngineChoice(VLLM, False, refusal)
    if installed is False:
        return EngineChoice(VLLM, False, "vLLM is not installed (pip install 'hostbench[vllm]')")
    where = "" if installed else " (if vLLM is installed there)"
    return EngineChoice(VLLM, True, fit.basis() + where)


def _context(located: object, catalog: Catalog) -> int | None:
    """A moderate context for the check (8k, or the model's own if shorter)."""
    entry = catalog.entries.get(getattr(located, "catalog_id", None) or "")
    trained = entry.max_context if entry else None
    return min(8192, trained) if trained else 8192


def _is_local_file(model: str, registry: LocalModels) -> bool:
    """A GGUF file registered by path: no catalog entry, so no checkpoint to point vLLM at."""
    local = registry.get(model)
    return local is not None and local.catalog_id is None
