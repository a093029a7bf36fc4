"""How llama.cpp spreads the offloaded layers over several GPUs, as the fit models it.

The rule for `--split-mode layer` (llama.cpp's default), from `llama_model_base::
load_tensors` in src/llama-model.cpp (llama.cpp as vendored in llama-cpp-python 0.3.36):

- each GPU gets a weight: its `--tensor-split` entry when one is given and not all are
  zero, else its free memory as the backend reports it when the model loads;
- the split points are the running sums of the weights divided by their total (float32);
- of the `act` offloaded layers (the output head counts as the last one), layer k goes to
  the first GPU whose split point is above k / act (`std::upper_bound`).

So two equal GPUs take half each and a 24 GB + 12 GB pair about two to one, whatever the
layers cost: a GPU can be handed more than it holds, which the fit then reports. A layer's
KV cache lives on its layer's GPU. The free memory llama.cpp sees is measured after its own
CUDA context exists, so the fit weighs a GPU by its free memory less the runtime's bytes.

`none` puts every offloaded layer on `--main-gpu`. `row` splits each layer's weights by
rows in the same proportions and keeps the KV cache on the main GPU; `tensor` (experimental
in llama.cpp) splits weights and KV cache alike. Those two are modelled only that far.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.fit import FitOptions

SPLIT_MODES = ("layer", "row", "tensor", "none")
MAX_DEVICES = 16
"""llama_max_devices(): `--tensor-split` takes fewer entries than this."""


@dataclass(frozen=True)
class LayerCost:
    """One offloaded layer: its weights and its KV cache, in bytes."""

    weights: int
    kv: int


@dataclass(frozen=True)
class DeviceLoad:
    """What the split puts on one GPU (before its compute buffer and runtime)."""

    bytes: int
    layers: int


def _f32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def split_problem(n_gpus: int, options: FitOptions) -> str | None:
    """Why the split options cannot apply to `n_gpus` visible GPUs, or None."""
    if options.split_mode not in SPLIT_MODES:
        return f"split_mode {options.split_mode!r} is not one of {', '.join(SPLIT_MODES)}"
    if n_gpus and options.main_gpu >= n_gpus:
        return f"main_gpu {options.main_gpu} but only {n_gpus} GPU(s) are visible"
    return None


def split_shares(free_bytes: Sequence[int], options: FitOptions) -> list[float]:
    """Each visible GPU's weight in the split (see the module docstring)."""
    if options.split_mode == "none":
        return [1.0 if i == options.main_gpu else 0.0 for i in range(len(free_bytes))]
    given = list(options.tensor_split or ())
    if any(given):
        return [given[i] if i < len(given) else 0.0 for i in range(len(free_bytes))]
    return [float(max(0, free)) for free in free_bytes]


def split_points(shares: Sequence[float]) -> list[float]:
    """Running sums of the shares over their total, in float32 as llama.cpp computes them."""
    points, total = [], 0.0
    for share in shares:
        total = _f32(total + _f32(share))
        points.append(total)
    if total == 0:
        return [(i + 1) / len(points) for i in range(len(points))]
    return [_f32(p / total) for p in points]


def layer_owners(n_layers: int, shares: Sequence[float]) -> list[int]:
    """The GPU (index among `shares`) of each offloaded layer, in order."""
    points = split_points(shares)
    last = len(points) - 1
    return [min(last, bisect.bisect_right(points, _f32(k / n_layers))) for k in range(n_layers)]


def spread(
    costs: Sequence[LayerCost], shares: Sequence[float], options: FitOptions
) -> list[DeviceLoad]:
    """Bytes and layers per GPU for the offloaded layers `costs`."""
    if options.split_mode in ("layer", "none"):
        owners = layer_owners(len(costs), shares)
        return [
            DeviceLoad(
                sum(c.weights + c.kv for c, o in zip(costs, owners, strict=True) if o == i),
                owners.count(i),
            )
            for i in range(len(shares))
        ]
    return _by_rows(costs, shares, options)


def _by_rows(
    costs: Sequence[LayerCost], shares: Sequence[float], options: FitOptions
) -> list[DeviceLoad]:
    total = sum(shares) or 1.0
    weights = sum(c.weights for c in costs)
    kv = sum(c.kv for c in costs)
    loads = []
    for i, share in enumerate(shares):
        part = share / total
        own_kv = kv * part if options.split_mode == "tensor" else kv * (i == options.main_gpu)
        used = part > 0 or (i == options.main_gpu and kv > 0)
        loads.append(DeviceLoad(round(weights * part + own_kv), len(costs) if used else 0))
    return loads


def describe_split(options: FitOptions) -> str:
    """How the split was chosen, for the fit's reasons."""
    if options.split_mode == "none":
        return f"split none: everything on GPU {options.main_gpu}"
    if options.tensor_split and any(options.tensor_split):
        basis = "tensor_split " + ",".join(f"{s:g}" for s in options.tensor_split)
    else:
        basis = "in proportion to free memory"
    if options.split_mode == "layer":
        return f"split by layer, {basis}"
    return f"split {options.split_mode} ({basis}; modelled by proportion only)"
