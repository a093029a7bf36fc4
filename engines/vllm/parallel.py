"""How many GPUs each layer, each stage and each replica of a vLLM engine gets.

`--tensor-parallel-size auto` picks the smallest power of two of the GPUs at hand whose
share of the weights plus one full-length sequence of KV cache fits each GPU's reservation
(memory.VllmFit) and which divides the model's attention heads (vLLM refuses a tensor
parallel size that does not: "Total number of attention heads must be divisible by tensor
parallel size"). Fewer ranks per replica means less all-reduce traffic per token; the GPUs
left over then serve as data parallel replicas (`data_parallel_size` unset: GPUs // (tensor
x pipeline)), each with its own KV cache and batch. Pipeline parallel is never chosen here:
it is for spanning nodes (with --ray-address) or when asked for, so it stays as given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engines.vllm.options import VllmOptions

MAX_TENSOR_PARALLEL = 64

Fits = Callable[[int], bool | None]
"""ranks (tensor x pipeline) -> whether the model fits each GPU's reservation at that many
ranks; None when the model's size is unknown."""


@dataclass(frozen=True)
class Layout:
    tensor: int
    pipeline: int
    data: int
    reasons: dict[str, str] = field(default_factory=dict)
    """Why, for each size decided here (option name -> reason)."""

    @property
    def ranks(self) -> int:
        """GPUs one replica spans (on all nodes)."""
        return self.tensor * self.pipeline

    @property
    def gpus(self) -> int:
        """GPUs the engine uses, all replicas together."""
        return self.ranks * self.data


def choose_layout(options: VllmOptions, gpus: int, heads: int | None, fits: Fits) -> Layout:
    """The sizes `options` leave open, decided for `gpus` usable GPUs on this node and a
    model with `heads` attention heads (None: unknown)."""
    pipeline = options.pipeline_parallel_size
    reasons: dict[str, str] = {}
    tensor = options.tensor_parallel_size
    fitted: bool | None = None
    if tensor == "auto":
        # across nodes each node holds one stage's tensor ranks; on one node all stages
        room = gpus if options.ray_address else max(1, gpus // pipeline)
        at = _auto_tensor(room, heads, lambda size: fits(size * pipeline))
        tensor, fitted, reasons["tensor_parallel_size"] = at
    data = options.data_parallel_size
    if data is None:
        data, why = _auto_data(options, gpus, tensor * pipeline, fitted)
        if why:
            reasons["data_parallel_size"] = why
    return Layout(tensor, pipeline, data, reasons)


def _auto_tensor(room: int, heads: int | None, fits: Fits) -> tuple[int, bool | None, str]:
    """(size, whether the model fits at it, why); `fits` takes a tensor parallel size."""
    sizes = _powers_of_two(room, heads)
    divides = f", and divides its {heads} attention heads" if heads else ""
    for size in sizes:
        fitted = fits(size)
        if fitted is None:
            return sizes[-1], None, (
                f"auto: the model's size is unknown (not in the catalog), so the largest power "
                f"of two of the {room} GPU(s) at hand{divides}"
            )  # fmt: skip
        if fitted:
            return size, True, (
                f"auto: the smallest power of two of the {room} GPU(s) at hand whose share of "
                f"the weights and one full-length sequence of KV cache fits each GPU's "
                f"reservation{divides}"
            )  # fmt: skip
    return sizes[-1], False, (
        f"auto: no power of two up to {room} GPU(s) fits the model (see memory); the largest "
        f"at hand{divides}"
    )  # fmt: skip


def _powers_of_two(room: int, heads: int | None) -> list[int]:
    sizes = [
        size
        for size in (1 << i for i in range(MAX_TENSOR_PARALLEL.bit_length()))
        if size <= room and (heads is None or heads % size == 0)
    ]
    return sizes or [1]


def _auto_data(
    options: VllmOptions, gpus: int, ranks: int, fitted: bool | None
) -> tuple[int, str | None]:
    """Replicas when `data_parallel_size` is unset: only with tensor parallel `auto` (an
    explicit tensor parallel size says how many GPUs the user wants used)."""
    if options.tensor_parallel_size != "auto":
        return 1, None
    if options.ray_address:
        return 1, "auto: one replica, spanning the Ray cluster's nodes (--ray-address)"
    if fitted is False:
        return 1, "auto: one replica (the model does not fit one replica's GPUs)"
    replicas = max(1, gpus // ranks)
    return replicas, (
        f"auto: the {gpus} GPU(s) at hand / {ranks} per replica (tensor x pipeline) = "
        f"{replicas} replica(s), each with its own KV cache"
    )
