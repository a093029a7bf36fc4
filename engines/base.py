"""The engine adapter contract: identity, declared options, and how to start the process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from catalog import Catalog, LocalModel
from engines.errors import UnsupportedExportError
from profiles import EngineSettings, Locations
from profiles.resolver import EstimateKeys

if TYPE_CHECKING:
    from catalog.placement import Placement
    from hardware import MachineSnapshot
    from profiles.resolver import Resolution

GIB = float(1 << 30)


class EngineOptions(BaseModel):
    """Base of every engine's options. Each field's description, bounds and default
    become the CLI flag, the TUI form field and the profile key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    draft_option: ClassVar[str | None] = None
    """The option naming a draft model for speculative decoding, where the engine has one:
    the launcher resolves (and pulls) its value like the model and puts what
    `EngineAdapter.model_argument` gives in its place; the memory estimate counts it and
    `bench --ab --draft-model` toggles it."""

    estimate_keys: ClassVar[EstimateKeys | None] = None
    """Which of these options the memory estimate reads, by name; None: no estimate (the
    engine applies its own memory rules in `memory_plan`, or has none)."""


class GpuPinning(EngineOptions):
    """Which GPUs an engine may see; declared once for every engine that runs on GPUs."""

    gpus: str | None = Field(
        None,
        pattern=r"^\d+(,\d+)*$",
        description="GPU indices this engine may use, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES; "
        "default: all).",
    )

    @field_validator("gpus", mode="before")
    @classmethod
    def _join(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return value

    def gpu_indices(self) -> tuple[int, ...] | None:
        return None if self.gpus is None else tuple(int(i) for i in self.gpus.split(","))

    def pinning_env(self) -> dict[str, str]:
        """The indices are hostbench's (NVML's and amdsmi's: PCI bus order). CUDA numbers
        GPUs fastest first unless CUDA_DEVICE_ORDER says otherwise, which would put a
        `--tensor-split` share on the wrong card; it is always set. ROCm selects physical
        GPUs with ROCR_VISIBLE_DEVICES, and HIP_VISIBLE_DEVICES then counts among those, so
        it is set to all of them (an inherited value would select again)."""
        order = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        if self.gpus is None:
            return order
        among = ",".join(str(i) for i in range(len(self.gpus.split(","))))
        return {
            **order,
            "CUDA_VISIBLE_DEVICES": self.gpus,
            "ROCR_VISIBLE_DEVICES": self.gpus,
            "HIP_VISIBLE_DEVICES": among,
        }


@dataclass(frozen=True)
class MemoryPlan:
    """What a launch will hold in memory, as the pool's budget counts it."""

    bytes: int | None
    basis: str
    """How the figure was worked out, shown by `hostbench ps`."""
    refusal: str | None = None
    """Why the launch cannot fit, with the fix; None when it can."""
    on_gpu: bool = False
    """The figure is GPU memory (compared with the process's VRAM), else RAM (its RSS)."""


@dataclass(frozen=True)
class OffloadCheck:
    """Whether the program that will serve can put layers on a GPU, as that program says:
    a Mac is Apple silicon whichever llama.cpp build runs on it, and a CPU-only build
    offloads nothing (README "What each accelerator gets")."""

    refusal: str | None = None
    """Why it cannot, e.g. 'this build has no GPU backend: /usr/local/bin/llama-server'
    (shown after the engine's name); None when it can, or when it could not be asked."""
    note: str | None = None
    """Said to the user when it could not be asked; the GPUs found are then used as before."""


@dataclass(frozen=True)
class ContainerSpec:
    """How the engine runs in a container image, for `hostbench export`."""

    image: str
    command: tuple[str, ...]
    """Replaces the image's entrypoint; empty keeps it."""
    args: tuple[str, ...]
    port: int
    health_path: str
    env: Mapping[str, str] = field(default_factory=dict)
    gpus: int = 0
    model_volume: str | None = None
    """Where a model file must be mounted (a GGUF with no download source), or None."""
    key_env: str | None = None
    """The variable the server reads its API key from: an export requires it set."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything the supervisor needs to run one engine process."""

    argv: tuple[str, ...]
    port: int
    health_path: str
    runtime: str
    """Which program serves, e.g. `llama-server` or `llama_cpp.server`."""
    context_limit: int
    """Tokens one request may use (prompt + completion)."""
    env: Mapping[str, str] = field(default_factory=dict)
    supports_embeddings: bool = False
    token_count_path: str | None = None
    """For runtimes that end an over-long stream silently instead of refusing it
    (llama-cpp-python): an endpoint counting tokens, so the gateway can check first."""
    upstream_headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request the gateway makes to the engine (its own API key)."""
    models_path: str | None = None
    """Checked after `health_path`: ready only once it lists the served name (a server can
    be healthy before its model is registered)."""
    metrics_path: str | None = None
    """Prometheus metrics of the engine, where it publishes them."""
    liveness_path: str | None = None
    """What the hang watchdog probes while requests are in flight (default: `health_path`):
    any answer at all proves the engine alive, so it must be answered while the engine is
    busy and must not disturb running requests (llama-cpp-python's /v1/models waits for
    the model lock, and asking for it interrupts a running stream)."""
    slots: int | None = None
    """Requests the engine decodes at once, where it says (llama-server's `--parallel`);
    the pool admits that many by default and queues the rest."""
    vocab_size: int | None = None
    """Token ids the model knows, where known: `/detokenize` refuses the others up front
    (llama-server fails with a 500 on an id out of range)."""
    whole_answers_streamed: bool = False
    """Non-streamed generations are asked of the engine as streams and put together by
    the gateway (serving/assemble.py): for engines that notice a client gone only
    at their next write to it, so a client that leaves frees the slot at once."""
    native_endpoints: frozenset[str] = frozenset()
    """Paths beyond chat, completions and embeddings that the engine answers itself
    (`/v1/messages`, `/v1/responses`, `/tokenize`, ...); the gateway refuses the others
    with an error naming the engine (serving/endpoints.py)."""
    key_env: str | None = None
    """The environment variable through which the runtime takes an API key, where it has
    one: the supervisor gives the engine a key there (`with_access_key`)."""


def with_access_key(spec: LaunchSpec, key: str) -> LaunchSpec:
    """`spec` with `key` as its engine's API key, sent by the gateway with every request.

    An engine listens on a loopback port without a key of its own, and llama-server
    answers any Origin: every local process, and every web page the user opens, could use
    it past the gateway's key, guard, limits and record (docs/architecture.md,
    "Engines only answer hostbench"). The key goes through the environment, which only
    the user can read, not argv, which every local user can. A key the user gave the
    engine (`upstream_headers` already set) is kept."""
    if spec.key_env is None or spec.upstream_headers:
        return spec
    env = {**spec.env, spec.key_env: key}
    return replace(spec, env=env, upstream_headers={"Authorization": f"Bearer {key}"})


@dataclass(frozen=True)
class Availability:
    """Whether the engine can run here, and what it would run."""

    available: bool
    runtime: str
    detail: str


class EngineAdapter(ABC):
    """One way of running models. Subclasses are found through the `hostbench.engines`
    entry-point group; the built-in ones register the same way a plug-in would."""

    engine_id: ClassVar[str]
    display_name: ClassVar[str]
    model_formats: ClassVar[tuple[str, ...]]
    supports_gpu_offload: ClassVar[bool] = False
    supports_multi_gpu: ClassVar[bool] = False
    reports_metrics: ClassVar[bool] = False
    """Whether `metrics_report` reads anything from the engine's metrics."""
    Options: ClassVar[type[EngineOptions]]

    def __init__(
        self, settings: EngineSettings | None = None, locations: Locations | None = None
    ) -> None:
        self.settings = settings or EngineSettings()
        self.locations = locations or Locations.from_env()

    @abstractmethod
    def availability(self) -> Availability:
        """Say whether this engine can run on this machine, without starting anything."""

    @abstractmethod
    def launch_spec(
        self, model: LocalModel, served_name: str, options: EngineOptions, port: int
    ) -> LaunchSpec:
        """Build the command line that serves `model` as `served_name` on `port`."""

    def parse_options(self, values: Mapping[str, object]) -> EngineOptions:
        return self.Options.model_validate(dict(values))

    def locate_model(
        self, text: str, catalog: Catalog, options: Mapping[str, object]
    ) -> LocalModel | None:
        """The model for `text` when this engine finds models its own way (vLLM loads Hugging
        Face repos itself); None lets the launcher resolve (and pull) a model file.
        `options` are the profile's and the user's, before any fit estimate."""
        return None

    def model_argument(self, model: LocalModel) -> str:
        """How the engine is told of a model that an option names (a draft): its file."""
        return str(model.path)

    def memory_plan(
        self,
        model: LocalModel | None,
        options: EngineOptions,
        resolution: Resolution,
        snapshot: MachineSnapshot,
    ) -> MemoryPlan:
        """The memory this launch holds: the fit estimate's GPU figure when layers are
        offloaded, else its RAM figure."""
        report = resolution.report
        if report is None:
            return MemoryPlan(None, "no estimate for this engine", resolution.refusal)
        placement = report.placement
        if placement.gpus:
            need = placement.gpu_bytes
            layers = f"{placement.n_gpu_layers} of {report.shape.n_layers + 1} layers"
            where = f"{_gpu_memory_name(placement)}, {layers}"
        else:
            need, where = placement.ram.need_bytes, "RAM"
        basis = f"fit estimate: {need / GIB:.2f} GiB of {where}"
        return MemoryPlan(need, basis, resolution.refusal, on_gpu=bool(placement.gpus))

    def offload_check(self) -> OffloadCheck:
        """Whether the runtime this adapter will start can use the machine's GPUs. By
        default nothing is asked: the GPUs found are planned for, and the engine refuses
        at launch what it cannot run."""
        return OffloadCheck()

    def finalize(self, options: EngineOptions, snapshot: MachineSnapshot) -> EngineOptions:
        """Options with every `auto` that depends on the machine decided, for launching."""
        return options

    def metrics_report(self, text: str, memory_bytes: int | None) -> dict[str, object] | None:
        """Live figures from the engine's own metrics for `hostbench ps`, if it has any."""
        return None

    def container(
        self, model: LocalModel, served_name: str, options: EngineOptions, gpus: int
    ) -> ContainerSpec:
        """How to run this engine in a container (`hostbench export`)."""
        raise UnsupportedExportError(
            f"{self.display_name} cannot be exported; export supports llama.cpp and vllm"
        )


def _gpu_memory_name(placement: Placement) -> str:
    """What the GPU figure is taken from: a Mac's GPU has no VRAM of its own, but the share
    of unified memory that macOS lets Metal use (catalog/placement.py, `_unified_device`)."""
    if all(use.device.unified for use in placement.gpus):
        return "unified memory (GPU budget)"
    return "VRAM"
