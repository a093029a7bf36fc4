"""Where a model goes on this machine: fully on GPU, partly offloaded, CPU only, or
nowhere. Pure: takes a hardware snapshot, so tests can pass a recorded GPU reading.

`n_gpu_layers` follows llama.cpp: the last N repeating layers go to the GPU(s), and
N = n_layers + 1 also moves the output head. The token embedding always stays in host
memory. A GPU's need includes what the GPU runtime itself takes in the engine's process
before any model byte (the CUDA context, cuBLAS handles, loaded kernels: CUDA_RUNTIME_BYTES,
measured); on top of that each GPU keeps a margin free (1024 MiB, llama.cpp's own
`--fit-target` default, per tools/fit-params/README.md in the vendored llama.cpp), since
llama.cpp measures its free memory after its context exists. Host RAM keeps
RAM_MARGIN_BYTES for the OS and everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from catalog.fit import (
    FitOptions,
    MiB,
    activation_bytes,
    compute_bytes_cpu,
    compute_bytes_gpu,
    layer_kv_bytes,
    output_buffer_bytes,
    runtime_bytes,
)
from catalog.fit_split import LayerCost, describe_split, split_problem, split_shares, spread
from catalog.model_shape import ModelShape
from hardware import GpuSnapshot, MachineSnapshot

GPU_MARGIN_BYTES = 1024 * MiB
CUDA_RUNTIME_BYTES = 540 * MiB
"""A CUDA llama-server's own VRAM with nothing offloaded, as the driver accounts it per
process: 540 MiB on an H100 80GB HBM3 (driver 580.159.04, CUDA 13.0, sm_90 build), measured
2026-11-28 with `--n-gpu-layers 0` (docs/benchmarks.md, "GPU fit"). Other vendors' runtimes
are unmeasured and counted as 0."""
RUNTIME_BYTES_BY_VENDOR = {"NVIDIA": CUDA_RUNTIME_BYTES}
RAM_MARGIN_BYTES = 1024 * MiB


class Verdict(StrEnum):
    FULL_GPU = "full GPU"
    PARTIAL = "partial offload"
    CPU = "CPU only"
    NO_FIT = "does not fit"

    @property
    def fits(self) -> bool:
        return self is not Verdict.NO_FIT


@dataclass(frozen=True)
class Device:
    """A memory pool: a GPU's free VRAM, or the RAM available to load into."""

    name: str
    free_bytes: int
    margin_bytes: int
    is_gpu: bool
    runtime_bytes: int = 0
    """What the GPU runtime takes in an engine's process before the model (0 for RAM)."""
    unified: bool = False
    """A GPU that shares system RAM (Apple silicon): what it holds is taken from RAM too."""

    @property
    def usable_bytes(self) -> int:
        return max(0, self.free_bytes - self.margin_bytes)

    @property
    def short_name(self) -> str:
        """'gpu0' for 'gpu0 (NVIDIA GeForce RTX 3090)'."""
        return self.name.split(" (", 1)[0]


@dataclass(frozen=True)
class Devices:
    ram: Device
    gpus: tuple[Device, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_snapshot(
        cls, snapshot: MachineSnapshot, visible: Sequence[int] | None = None
    ) -> Devices:
        """GPUs with a free-memory reading, in the order llama.cpp numbers them: index order
        (engines start with CUDA_DEVICE_ORDER=PCI_BUS_ID), or the pinned `visible` order
        (CUDA_VISIBLE_DEVICES=1,0 makes GPU 1 the first). A unified-memory GPU counts with
        what macOS lets it use (its `gpu_budget_bytes`), capped by the RAM available."""
        ram_free = snapshot.memory.ram_available_bytes
        ram = Device("RAM", ram_free, RAM_MARGIN_BYTES, is_gpu=False)
        gpus: list[tuple[int, Device]] = []
        notes = []
        for gpu in snapshot.gpus:
            if visible is not None and gpu.index not in visible:
                notes.append(f"gpu{gpu.index} ({gpu.name}) is not among the pinned GPUs")
            elif gpu.unified_memory:
                device, note = _unified_device(gpu, ram_free)
                gpus += [(gpu.index, device)] if device else []
                notes += [note]
            elif gpu.memory_free_bytes is None:
                notes.append(f"gpu{gpu.index} ({gpu.name}) reports no free memory: not used")
            else:
                name = f"gpu{gpu.index} ({gpu.name})"
                runtime = RUNTIME_BYTES_BY_VENDOR.get(gpu.vendor, 0)
                device = Device(name, gpu.memory_free_bytes, GPU_MARGIN_BYTES, True, runtime)
                gpus.append((gpu.index, device))
        if visible is not None:
            gpus.sort(key=lambda pair: list(visible).index(pair[0]))
        return cls(ram, tuple(device for _, device in gpus), tuple(notes))


def _unified_device(gpu: GpuSnapshot, ram_free: int) -> tuple[Device | None, str]:
    """A unified-memory GPU as a device: the GPU budget, never more than the free RAM."""
    if gpu.gpu_budget_bytes is None:
        return None, f"{gpu.name} shares system RAM and its GPU budget is unknown: counted as RAM"
    free = min(gpu.gpu_budget_bytes, ram_free)
    note = (
        f"{gpu.name} shares system RAM; the GPU may use {gpu.gpu_budget_bytes / 2**30:.1f} GiB "
        f"({gpu.gpu_budget_basis or 'budget'})"
    )
    return Device(f"gpu{gpu.index} ({gpu.name})", free, GPU_MARGIN_BYTES, True, unified=True), note


@dataclass(frozen=True)
class DeviceUse:
    device: Device
    need_bytes: int
    layers: int = 0

    @property
    def fits(self) -> bool:
        return self.need_bytes <= self.device.usable_bytes


@dataclass(frozen=True)
class Placement:
    """Memory per device for one `n_gpu_layers` value."""

    n_gpu_layers: int
    ram: DeviceUse
    gpus: tuple[DeviceUse, ...] = ()

    @property
    def fits(self) -> bool:
        return self.ram.fits and all(use.fits for use in self.gpus)

    @property
    def gpu_bytes(self) -> int:
        return sum(use.need_bytes for use in self.gpus)


@dataclass(frozen=True)
class FitReport:
    verdict: Verdict
    placement: Placement
    shape: ModelShape
    options: FitOptions
    reasons: tuple[str, ...] = field(default=())

    @property
    def n_gpu_layers(self) -> int:
        return self.placement.n_gpu_layers


def _offloaded(shape: ModelShape, n_gpu_layers: int) -> range:
    """Layer indices on the GPU side: the last `n_gpu_layers` repeating layers."""
    count = min(n_gpu_layers, shape.n_layers)
    return range(shape.n_layers - count, shape.n_layers)


def _host_use(shape: ModelShape, options: FitOptions, n_gpu_layers: int, ram: Device) -> DeviceUse:
    """Host memory: what is not offloaded, plus the runtime; attention runs on the host
    only while some layer stays there."""
    gone = _offloaded(shape, n_gpu_layers)
    kv = layer_kv_bytes(shape, options)
    weights = shape.file_bytes - sum(shape.layer_bytes[i] for i in gone)
    if n_gpu_layers > shape.n_layers and shape.output_bytes != shape.input_bytes:
        weights -= shape.output_bytes
    on_host = shape.n_layers - len(gone)
    compute = compute_bytes_cpu(shape, options) if on_host else activation_bytes(shape, options)
    need = (
        weights
        + sum(kv[i] for i in range(shape.n_layers) if i not in gone)
        + compute
        + output_buffer_bytes(shape, options)
        + runtime_bytes(shape)
    )
    return DeviceUse(ram, need, on_host)


def _gpu_layer_costs(shape: ModelShape, options: FitOptions, n_gpu_layers: int) -> list[LayerCost]:
    kv = layer_kv_bytes(shape, options)
    costs = [LayerCost(shape.layer_bytes[i], kv[i]) for i in _offloaded(shape, n_gpu_layers)]
    if n_gpu_layers > shape.n_layers:
        costs.append(LayerCost(shape.output_bytes, 0))
    return costs


def _split_across(
    gpus: tuple[Device, ...], costs: list[LayerCost], compute: int, options: FitOptions
) -> tuple[DeviceUse, ...]:
    """llama.cpp's split (catalog.fit_split); each GPU used carries the compute reservation
    and its runtime's own memory."""
    shares = split_shares([max(0, g.free_bytes - g.runtime_bytes) for g in gpus], options)
    loads = spread(costs, shares, options)
    return tuple(
        DeviceUse(gpu, compute + gpu.runtime_bytes + load.bytes, load.layers)
        for gpu, load in zip(gpus, loads, strict=True)
        if load.layers
    )


def place(shape: ModelShape, options: FitOptions, devices: Devices, n_gpu_layers: int) -> Placement:
    n_gpu_layers = 0 if not devices.gpus else max(0, min(n_gpu_layers, shape.n_layers + 1))
    ram = _host_use(shape, options, n_gpu_layers, devices.ram)
    if n_gpu_layers == 0:
        return Placement(0, ram)
    costs = _gpu_layer_costs(shape, options, n_gpu_layers)
    gpus = _split_across(devices.gpus, costs, compute_bytes_gpu(shape, options), options)
    shared = sum(use.need_bytes for use in gpus if use.device.unified)
    return Placement(n_gpu_layers, replace(ram, need_bytes=ram.need_bytes + shared), gpus)


def best_placement(shape: ModelShape, options: FitOptions, devices: Devices) -> Placement:
    """The most layers on the GPU(s) that still fit; CPU-only when none do."""
    for layers in range(shape.n_layers + 1 if devices.gpus else 0, 0, -1):
        candidate = place(shape, options, devices, layers)
        if all(use.fits for use in candidate.gpus):
            return candidate
    return place(shape, options, devices, 0)


def verdict_of(shape: ModelShape, placement: Placement) -> Verdict:
    if not placement.fits:
        return Verdict.NO_FIT
    if placement.n_gpu_layers > shape.n_layers:
        return Verdict.FULL_GPU
    return Verdict.PARTIAL if placement.n_gpu_layers else Verdict.CPU


def fit(
    shape: ModelShape,
    options: FitOptions,
    devices: Devices,
    n_gpu_layers: int | None = None,
) -> FitReport:
    """The verdict for `options`; `n_gpu_layers=None` picks the most that fit."""
    problem = split_problem(len(devices.gpus), options)
    if problem is not None:
        return FitReport(
            Verdict.NO_FIT, place(shape, options, devices, 0), shape, options, (problem,)
        )
    placement = (
        best_placement(shape, options, devices)
        if n_gpu_layers is None
        else place(shape, options, devices, n_gpu_layers)
    )
    verdict = verdict_of(shape, placement)
    reasons = explain(shape, placement, verdict, options)
    return FitReport(verdict, placement, shape, options, tuple(reasons))


def split_text(placement: Placement) -> str:
    """'gpu0 20 layers 11.2 GiB, gpu1 13 layers 7.3 GiB'."""
    return ", ".join(
        f"{use.device.short_name} {use.layers} layers {use.need_bytes / 2**30:.1f} GiB"
        for use in placement.gpus
    )


def explain(
    shape: ModelShape, placement: Placement, verdict: Verdict, options: FitOptions | None = None
) -> list[str]:
    gib = 1 << 30
    lines = [
        f"{use.device.name}: needs {use.need_bytes / gib:.2f} GiB of "
        f"{use.device.free_bytes / gib:.2f} GiB free "
        f"({use.device.margin_bytes >> 20} MiB kept free)"
        for use in (*placement.gpus, placement.ram)
    ]
    if placement.gpus:
        lines.insert(
            0,
            f"n_gpu_layers={placement.n_gpu_layers} of {shape.n_layers + 1} "
            f"({shape.mean_layer_bytes / gib:.3f} GiB per layer)",
        )
    if len(placement.gpus) > 1 or (options and options.split_mode != "layer" and placement.gpus):
        how = describe_split(options or FitOptions())
        lines.insert(1, f"{how}: {split_text(placement)}")
    if verdict is Verdict.NO_FIT:
        short = [use for use in (*placement.gpus, placement.ram) if not use.fits]
        if short:
            lines.append("does not fit: " + ", ".join(use.device.name for use in short))
    return lines


def largest_context(
    shape: ModelShape, options: FitOptions, devices: Devices, want: Verdict | None = None
) -> int | None:
    """The longest context (multiple of 256, up to the trained length) whose verdict is at
    least `want` (default: fits at all); None when not even 256 tokens fit."""
    ceiling = shape.ctx_train or 131072
    rank = list(Verdict)

    def ok(n_ctx: int) -> bool:
        got = fit(shape, replace(options, n_ctx=n_ctx), devices).verdict
        return got.fits and (want is None or rank.index(got) <= rank.index(want))

    low, high = 0, ceiling // 256
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if ok(middle * 256) else (low, middle - 1)
    return low * 256 or None
