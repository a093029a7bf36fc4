"""vLLM's options, declared once: each field becomes a `hostbench launch --engine vllm`
flag, a TUI form field and a profile key (`[engines.vllm]`), and renders as the matching
`vllm serve` argument (same name with dashes)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from engines.base import GpuPinning

Quantization = Literal[
    "awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "compressed-tensors",
]  # fmt: skip
"""Methods vLLM's `--quantization` accepts (its QUANTIZATION_METHODS, checked against the
installed vLLM by tests/unit/engines/test_vllm_cli.py); `marlin`, `bitsandbytes` and
`gguf` are no longer among them."""


DEFAULT_SPECULATIVE_TOKENS = 3
"""llama-server's default draft length, so the two engines draft alike unless told."""


class VllmOptions(GpuPinning):
    draft_option: ClassVar[str | None] = "speculative_model"

    tensor_parallel_size: int | Literal["auto"] = Field(
        1,
        description="GPUs each layer is split across (auto: the smallest power of two that "
        "holds the model; the GPUs left over become data parallel replicas).",
    )
    pipeline_parallel_size: int = Field(
        1, ge=1, le=64, description="Pipeline stages (with Ray: usually the number of nodes)."
    )
    data_parallel_size: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Replicas of the whole model (auto: with --tensor-parallel-size auto, one "
        "per group of GPUs left over; else 1).",
    )
    gpu_memory_utilization: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Share of each GPU's memory vLLM reserves up front (weights, activations, "
        "KV cache).",
    )
    max_model_len: int | None = Field(
        None, ge=16, description="Context length (auto: the model's own)."
    )
    max_num_seqs: int | None = Field(
        None, ge=1, description="Sequences decoded at once (auto: vLLM's default)."
    )
    max_num_batched_tokens: int | None = Field(
        None, ge=1, description="Tokens processed per scheduler step (auto: vLLM's default)."
    )
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = Field(
        "auto", description="Weight and activation type (auto: the model's)."
    )
    quantization: Quantization | None = Field(
        None, description="Quantization of the checkpoint (auto: read from its config)."
    )
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"] = Field(
        "auto", description="KV cache type; fp8 halves it."
    )
    enable_prefix_caching: bool | None = Field(
        None, description="Reuse the KV cache of shared prompt prefixes (auto: vLLM's default)."
    )
    engine_api_key: SecretStr | None = Field(
        None,
        description="Key the engine requires (passed as VLLM_API_KEY, never on the command "
        "line); the gateway sends it.",
    )
    distributed_executor_backend: Literal["mp", "ray"] | None = Field(
        None, description="Workers as processes (mp) or Ray actors (auto: vLLM decides)."
    )
    ray_address: str | None = Field(
        None,
        description="An existing Ray cluster (host:port of its head) for multi-node serving; "
        "implies the ray backend.",
    )
    trust_remote_code: bool = Field(False, description="Run the model repo's own Python code.")
    enforce_eager: bool = Field(False, description="No CUDA graphs: less memory, slower decoding.")
    speculative_model: str | None = Field(
        None,
        description="A small draft model for speculative decoding (a Hugging Face repo id or "
        "checkpoint directory, sharing the model's vocabulary); sent in --speculative-config.",
    )
    num_speculative_tokens: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Tokens the draft proposes per step (auto: 3); needs --speculative-model.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> VllmOptions:
        if isinstance(self.tensor_parallel_size, int) and self.tensor_parallel_size < 1:
            raise ValueError("tensor_parallel_size must be at least 1")
        if self.ray_address and self.distributed_executor_backend == "mp":
            raise ValueError("ray_address needs distributed_executor_backend ray (or unset)")
        if self.num_speculative_tokens is not None and self.speculative_model is None:
            raise ValueError("num_speculative_tokens needs speculative_model (the draft)")
        return self

    def speculative_config(self) -> dict[str, object] | None:
        """vLLM's `--speculative-config`: the draft and its tokens per step; vLLM tells a
        draft model from EAGLE or MTP heads by the model itself."""
        if self.speculative_model is None:
            return None
        tokens = self.num_speculative_tokens or DEFAULT_SPECULATIVE_TOKENS
        return {"model": self.speculative_model, "num_speculative_tokens": tokens}

    @property
    def backend(self) -> str | None:
        return "ray" if self.ray_address else self.distributed_executor_backend
