"""Quantization types: what each costs per weight and what it typically loses.

Sizes and perplexity increases are llama.cpp's own figures (the QUANT_OPTIONS table of
tools/quantize/quantize.cpp, as vendored in llama-cpp-python 0.3.36), measured there on
Llama-3-8B (8.03 B parameters). For the mixed K-quants the bits per weight below are that
file size over those parameters, so they include the token embedding and output tensors the
type keeps at higher precision. Pure block types are exact (ggml block sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.errors import CatalogError

LLAMA3_8B_PARAMS = 8.03e9
"""models.json: llama-3.1-8b-instruct params_b (same dimensions as Llama-3-8B)."""


@dataclass(frozen=True)
class QuantType:
    name: str
    ftype: str
    """Attribute of llama_cpp naming the llama_ftype, e.g. LLAMA_FTYPE_MOSTLY_Q4_K_M."""
    bits_per_weight: float
    quality: str
    """Typical quality loss, as llama.cpp states it."""


def _bpw_from_gib(gib: float) -> float:
    return round(gib * 2**30 * 8 / LLAMA3_8B_PARAMS, 2)


def _llama3(name: str, gib: float, ppl: str) -> QuantType:
    """A row of llama.cpp's table measured on Llama-3-8B: file size in GiB, ppl change."""
    ftype = f"LLAMA_FTYPE_MOSTLY_{name}"
    return QuantType(name, ftype, _bpw_from_gib(gib), f"{ppl} ppl @ Llama-3-8B")


QUANT_TYPES: tuple[QuantType, ...] = (
    QuantType("F32", "LLAMA_FTYPE_ALL_F32", 32.0, "lossless (26.00G @ 7B)"),
    QuantType("F16", "LLAMA_FTYPE_MOSTLY_F16", 16.0, "+0.0020 ppl @ Mistral-7B"),
    QuantType("BF16", "LLAMA_FTYPE_MOSTLY_BF16", 16.0, "-0.0050 ppl @ Mistral-7B"),
    _llama3("Q8_0", 7.96, "+0.0026"),
    _llama3("Q6_K", 6.14, "+0.0217"),
    _llama3("Q5_K_M", 5.33, "+0.0569"),
    _llama3("Q5_K_S", 5.21, "+0.1049"),
    _llama3("Q5_1", 5.65, "+0.1062"),
    _llama3("Q5_0", 5.21, "+0.1316"),
    _llama3("Q4_K_M", 4.58, "+0.1754"),
    _llama3("Q4_K_S", 4.37, "+0.2689"),
    _llama3("Q4_1", 4.78, "+0.4511"),
    _llama3("Q4_0", 4.34, "+0.4685"),
    QuantType("IQ4_NL", "LLAMA_FTYPE_MOSTLY_IQ4_NL", 4.5, "4.50 bpw non-linear"),
    QuantType("MXFP4", "LLAMA_FTYPE_MOSTLY_MXFP4_MOE", 4.25, "MXFP4 (MoE experts)"),
    QuantType("IQ4_XS", "LLAMA_FTYPE_MOSTLY_IQ4_XS", 4.25, "4.25 bpw non-linear"),
    _llama3("Q3_K_L", 4.03, "+0.5562"),
    _llama3("Q3_K_M", 3.74, "+0.6569"),
    QuantType("IQ3_M", "LLAMA_FTYPE_MOSTLY_IQ3_M", 3.66, "3.66 bpw mix"),
    _llama3("Q3_K_S", 3.41, "+1.6321"),
    _llama3("Q2_K", 2.96, "+3.5199"),
)
"""Ordered best quality first: by llama.cpp's perplexity figures where it gives them."""

COMMON_TARGETS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K", "F16")
"""What `hostbench quantize --help` offers first."""


def quant_type(name: str) -> QuantType:
    wanted = name.upper()
    found = next((q for q in QUANT_TYPES if q.name == wanted), None)
    if found is None:
        known = ", ".join(q.name for q in QUANT_TYPES)
        raise CatalogError(f"unknown quantization type {name!r}; known: {known}")
    return found


def nominal_bpw(name: str) -> float | None:
    """Bits per weight a quant name usually means, None for a name we have no figure for."""
    wanted = name.upper()
    return next((q.bits_per_weight for q in QUANT_TYPES if q.name == wanted), None)


def quality_rank(name: str) -> int:
    """Higher is better quality (the table's order); unknown names rank lowest (0)."""
    names = [q.name for q in QUANT_TYPES]
    wanted = name.upper()
    return len(names) - names.index(wanted) if wanted in names else 0


def ggml_value_bytes(type_name: str) -> float:
    """Bytes per value of a ggml type, its block's scales included (q8_0: 34 / 32)."""
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name.upper()]]
    return size / block


def ggml_bytes(type_name: str, n_elements: int) -> int:
    """Bytes of `n_elements` of a ggml type, with its exact block size (gguf's table)."""
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name.upper()]]
    if n_elements % block:
        raise ValueError(f"{n_elements} elements are not whole {type_name} blocks of {block}")
    return n_elements // block * size
