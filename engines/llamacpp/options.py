"""llama.cpp's options, declared once: each field becomes a `hostbench launch` flag, a TUI
form field and a profile key (`[engines."llama.cpp"]`); the adapter renders them as
llama-server's (or llama-cpp-python's server's) arguments."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from catalog.fit_split import MAX_DEVICES as MAX_SPLIT_DEVICES
from engines.base import GpuPinning
from profiles.resolver import SLOTS_WITHOUT_ESTIMATE, UNQUANTIZED_CACHE, EstimateKeys

SlotCount = Annotated[int, Field(ge=1, le=256)]

KvCacheType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]


DRAFT_LIMITS = ("draft_max", "draft_min", "draft_p_min", "draft_gpu_layers")
"""Options that mean something only with a draft model."""


class LlamaCppOptions(GpuPinning):
    draft_option: ClassVar[str | None] = "draft_model"
    estimate_keys: ClassVar[EstimateKeys | None] = EstimateKeys(
        context="ctx_size",
        gpu_layers="n_gpu_layers",
        parallel="parallel",
        cache_type_k="cache_type_k",
        cache_type_v="cache_type_v",
        flash_attn="flash_attn",
        ubatch_size="ubatch_size",
        batch_size="batch_size",
        whole_inputs=("embeddings", "reranking"),
        split_mode="split_mode",
        tensor_split="tensor_split",
        main_gpu="main_gpu",
    )

    ctx_size: int = Field(
        4096, ge=256, le=1 << 20, description="Context window of each request, in tokens."
    )
    n_gpu_layers: int | Literal["auto"] = Field(
        "auto",
        description="Layers offloaded to the GPU: a number, or auto (what fits; 0 on a CPU build).",
    )
    threads: int | None = Field(
        None, ge=1, le=1024, description="Generation threads (auto: one per physical core)."
    )
    threads_batch: int | None = Field(
        None, ge=1, le=1024, description="Prompt-processing threads (auto: as --threads)."
    )
    batch_size: int = Field(2048, ge=1, description="Logical batch size for prompt processing.")
    ubatch_size: int = Field(512, ge=1, description="Physical batch size (<= batch size).")
    flash_attn: Literal["auto", "on", "off"] = Field("auto", description="Flash attention.")
    parallel: SlotCount | Literal["auto"] = Field(
        "auto",
        description="Requests decoded at once (llama-server slots; the Python server has one). "
        "auto: one per request expected at once, up to 8, as many as memory allows.",
    )
    cache_type_k: KvCacheType = Field("f16", description="KV cache type for K.")
    cache_type_v: KvCacheType = Field("f16", description="KV cache type for V.")
    embeddings: bool = Field(False, description="Serve /v1/embeddings from this model.")
    reranking: bool = Field(
        False,
        description="Serve /v1/rerank from this model (a reranker such as bge-reranker; "
        "llama-server only).",
    )
    pooling: Literal["auto", "mean", "cls", "last"] = Field(
        "auto",
        description="How token embeddings become one vector (auto: the model's own, "
        "else mean; llama-server only).",
    )
    poll: int = Field(
        50,
        ge=0,
        le=100,
        description="How hard idle worker threads spin waiting for work in llama.cpp's own "
        "thread pool (llama-server built without OpenMP; 0: they sleep). An OpenMP build "
        "waits in libgomp instead: see --omp-spin-count.",
    )
    omp_spin_count: int | None = Field(
        None,
        ge=0,
        le=30_000_000_000,  # libgomp's own for OMP_WAIT_POLICY=active (about 5 minutes)
        description="How long the engine's OpenMP worker threads spin before they sleep "
        "between steps, in libgomp spins (GOMP_SPINCOUNT, roughly 100,000 a millisecond; "
        "0: sleep at once). Unset: libgomp's own default. In an OpenMP build (the set-up's) "
        "this, not --poll, is what idle workers do.",
    )
    mlock: bool = Field(False, description="Lock the weights in RAM (no swapping).")
    mmap: bool = Field(True, description="Memory-map the model file.")
    split_mode: Literal["layer", "row", "tensor", "none"] = Field(
        "layer",
        description="How several GPUs share the model: layer (whole layers per GPU), row "
        "(each weight split by rows), tensor (weights and KV split; experimental in "
        "llama.cpp) or none (only --main-gpu).",
    )
    tensor_split: str | None = Field(
        None,
        pattern=r"^\d+(\.\d+)?(,\d+(\.\d+)?)*$",
        description="Share of the model per visible GPU, e.g. 3,1 (default: in proportion "
        "to each GPU's free memory, as llama.cpp does).",
    )
    draft_model: str | None = Field(
        None,
        description="A small model that drafts tokens for this one to check (speculative "
        "decoding; llama-server only): catalog id, local id or .gguf path, resolved and "
        "pulled like the model. It must share the model's vocabulary.",
    )
    draft_max: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Tokens the draft proposes per step (auto: llama-server's 3); needs "
        "--draft-model.",
    )
    draft_min: int | None = Field(
        None,
        ge=0,
        le=64,
        description="Fewest draft tokens worth checking (auto: llama-server's 0); needs "
        "--draft-model.",
    )
    draft_p_min: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Stop drafting below this draft probability (auto: llama-server's 0); "
        "needs --draft-model.",
    )
    draft_gpu_layers: int | Literal["auto", "all"] | None = Field(
        None,
        description="Draft layers offloaded to the GPU (auto: llama-server's, what fits); "
        "needs --draft-model.",
    )
    main_gpu: int = Field(
        0,
        ge=0,
        le=15,
        description="The GPU (index among the visible ones) that holds everything with "
        "split mode none, and the KV cache with row.",
    )

    @property
    def slots(self) -> int:
        """The slots to start: `auto` is filled in by the launch plan (profiles.resolver),
        and stands for its number without an estimate where no plan ran."""
        return self.parallel if isinstance(self.parallel, int) else SLOTS_WITHOUT_ESTIMATE

    @model_validator(mode="before")
    @classmethod
    def _ubatch_follows_a_smaller_batch(cls, data: Any) -> Any:
        """A batch below the default micro-batch takes the micro-batch down with it, as
        llama.cpp does; only a micro-batch given larger than the batch is refused."""
        if not isinstance(data, dict) or "ubatch_size" in data or "batch_size" not in data:
            return data
        try:
            batch = int(data["batch_size"])
        except (TypeError, ValueError):
            return data  # the field's own check names the problem
        if 1 <= batch < cls.model_fields["ubatch_size"].default:
            return {**data, "ubatch_size": batch}
        return data

    @model_validator(mode="after")
    def _ubatch_fits_batch(self) -> LlamaCppOptions:
        if self.ubatch_size > self.batch_size:
            raise ValueError("ubatch_size must not exceed batch_size")
        return self

    @model_validator(mode="after")
    def _quantized_v_cache_needs_flash(self) -> LlamaCppOptions:
        if self.flash_attn == "off" and self.cache_type_v not in UNQUANTIZED_CACHE:
            raise ValueError(
                f"cache_type_v {self.cache_type_v} needs flash_attn on or auto (llama.cpp "
                "quantizes the V cache only with flash attention)"
            )
        return self

    @model_validator(mode="after")
    def _draft_limits_need_a_draft(self) -> LlamaCppOptions:
        if self.draft_model is None:
            given = [name for name in DRAFT_LIMITS if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{given[0]} needs draft_model (the draft to limit)")
        return self

    @field_validator("tensor_split", mode="before")
    @classmethod
    def _join_shares(cls, value: object) -> object:
        """A profile may write `tensor_split = [3, 1]`."""
        if isinstance(value, list | tuple):
            return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        return value

    @field_validator("tensor_split")
    @classmethod
    def _shares_are_usable(cls, value: str | None) -> str | None:
        shares = None if value is None else [float(part) for part in value.split(",")]
        if shares is not None and not any(shares):
            raise ValueError("tensor_split needs at least one share above 0")
        if shares is not None and len(shares) >= MAX_SPLIT_DEVICES:
            raise ValueError(f"tensor_split takes fewer than {MAX_SPLIT_DEVICES} shares")
        return value

    def split_fractions(self) -> tuple[float, ...] | None:
        """`tensor_split` as numbers; None when unset."""
        return (
            None
            if self.tensor_split is None
            else tuple(float(part) for part in self.tensor_split.split(","))
        )
