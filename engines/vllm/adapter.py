"""vLLM: `vllm serve` as a supervised subprocess.

vLLM loads Hugging Face checkpoints (safetensors) itself, into the Hugging Face cache, so a
model here is a repo id (from the catalog's `safetensors_repo`, or typed as `org/name`) or
a local checkpoint directory; GGUF files are left to llama.cpp. Refusals come before
anything starts: vLLM not installed, no CUDA/ROCm GPU, a quantization the GPU cannot run,
more parallel ranks than GPUs, or a model larger than vLLM's reservation.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog import Catalog, CatalogEntry, LocalModel
from catalog.resolve import looks_like_path
from engines.base import (
    Availability,
    ContainerSpec,
    EngineAdapter,
    EngineOptions,
    LaunchSpec,
    MemoryPlan,
)
from engines.errors import EngineUnavailableError, UnsupportedOptionError
from engines.vllm.gpus import check_quantization, gpu_share, usable_gpus
from engines.vllm.memory import VllmFit, kv_bytes_per_token, weights_bytes
from engines.vllm.metrics import memory_report
from engines.vllm.options import VllmOptions
from engines.vllm.parallel import Layout, choose_layout
from profiles.resolver import Origin, Reason

if TYPE_CHECKING:
    from hardware import GpuSnapshot, MachineSnapshot
    from profiles.resolver import Resolution

RUNTIME = "vllm"
IMAGE = "vllm/vllm-openai:latest"
CONTAINER_PORT = 8000
NOT_INSTALLED = (
    "vLLM is not installed: `pip install 'hostbench[vllm]'` on a machine with an NVIDIA "
    "(CUDA) or AMD (ROCm) GPU, or serve the model with llama.cpp (--engine llama.cpp)"
)
HF_ORIGIN = "hf-repo:"
DIR_ORIGIN = "dir:"


def model_ref(model: LocalModel) -> str:
    """What `vllm serve` is given: a Hugging Face repo id or a checkpoint directory."""
    for prefix in (HF_ORIGIN, DIR_ORIGIN):
        if model.origin.startswith(prefix):
            return model.origin.removeprefix(prefix)
    return str(model.path)


class VllmEngine(EngineAdapter):
    engine_id = "vllm"
    display_name = "vLLM"
    model_formats = ("safetensors",)
    supports_gpu_offload = True
    supports_multi_gpu = True
    reports_metrics = True
    Options = VllmOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._catalog: Catalog | None = None

    def executable(self) -> list[str] | None:
        """`vllm` next to this Python (a venv) or on PATH; None when not installed."""
        beside = Path(sys.executable).parent / "vllm"
        found = str(beside) if beside.is_file() else shutil.which("vllm")
        return [found] if found else None

    def availability(self) -> Availability:
        command = self.executable()
        if command is None:
            return Availability(False, "none", NOT_INSTALLED)
        return Availability(True, RUNTIME, command[0])

    # -- models ----------------------------------------------------------------------

    def locate_model(
        self, text: str, catalog: Catalog, options: Mapping[str, object]
    ) -> LocalModel | None:
        self._catalog = catalog
        path = Path(text).expanduser()
        if path.is_dir():
            return LocalModel(path.name, path, "", 0, f"{DIR_ORIGIN}{path.resolve()}")
        if text.lower().endswith(".gguf"):
            raise UnsupportedOptionError(
                f"{text}: vLLM serves Hugging Face checkpoints; serve GGUF files with llama.cpp"
            )
        entry = catalog.entries.get(text.partition(":")[0].lower())
        if entry is not None:
            return _catalog_model(entry)
        if text.count("/") == 1 and not looks_like_path(text.replace("/", "", 1)):
            return LocalModel(text, Path(text), "", 0, f"{HF_ORIGIN}{text}")
        raise UnsupportedOptionError(
            f"{text!r} is neither a catalog model, a Hugging Face repo id (org/name) nor a "
            "checkpoint directory"
        )

    def _entry(self, model: LocalModel | None) -> CatalogEntry | None:
        if model is None or model.catalog_id is None or self._catalog is None:
            return None
        return self._catalog.entries.get(model.catalog_id)

    # -- memory ----------------------------------------------------------------------

    def memory_plan(
        self,
        model: LocalModel | None,
        options: EngineOptions,
        resolution: Resolution,
        snapshot: MachineSnapshot,
    ) -> MemoryPlan:
        """The reservation, and the parallel sizes left `auto`: the reservation depends on
        them, so they are decided here and written into the resolution with their reasons
        (what `launch --dry-run` shows and what the launch then runs with)."""
        assert isinstance(options, VllmOptions)
        gpus = usable_gpus(snapshot, options.gpu_indices())
        layout = self._layout(self._entry(model), options, gpus)
        decided = with_layout(options, layout)
        for name, why in layout.reasons.items():
            resolution.options[name] = getattr(decided, name)
            resolution.reasons[name] = Reason(Origin.ESTIMATE, why)
        fit = self.fit(model, decided, snapshot)
        return MemoryPlan(fit.reserved_bytes, fit.basis(), fit.refusal(), on_gpu=True)

    def fit(
        self, model: LocalModel | None, options: VllmOptions, snapshot: MachineSnapshot
    ) -> VllmFit:
        """The reservation and the model's need, by vLLM's rules; raises where vLLM cannot
        run here at all (no GPU, too few GPUs, a quantization the GPU lacks)."""
        gpus = usable_gpus(snapshot, options.gpu_indices())
        entry = self._entry(model)
        layout = self._layout(entry, options, gpus)
        if layout.gpus > len(gpus) and not options.ray_address:
            raise UnsupportedOptionError(
                f"tensor_parallel_size x pipeline_parallel_size x data_parallel_size = "
                f"{layout.tensor} x {layout.pipeline} x {layout.data} = {layout.gpus} GPUs, "
                f"and this engine may use {len(gpus)}: lower them, or span nodes with "
                "--ray-address"
            )
        check_quantization(options.quantization, gpus)
        return _fit(entry, options, gpus, layout.ranks, layout.gpus)

    def _layout(
        self, entry: CatalogEntry | None, options: VllmOptions, gpus: Sequence[GpuSnapshot]
    ) -> Layout:
        heads = entry.architecture.n_heads if entry and entry.architecture else None

        def fits(ranks: int) -> bool | None:
            need = _fit(entry, options, gpus, ranks, ranks)
            per_gpu = need.need_per_gpu
            return None if per_gpu is None else per_gpu <= need.reserved_per_gpu

        return choose_layout(options, len(gpus), heads, fits)

    def finalize(self, options: EngineOptions, snapshot: MachineSnapshot) -> EngineOptions:
        """Parallel sizes still `auto` (a launch not planned against a model: its size
        unknown) become the largest power of two of the GPUs this engine may use."""
        assert isinstance(options, VllmOptions)
        gpus = usable_gpus(snapshot, options.gpu_indices())
        return with_layout(options, self._layout(None, options, gpus))

    def metrics_report(self, text: str, memory_bytes: int | None) -> dict[str, object] | None:
        return memory_report(text, memory_bytes)

    def model_argument(self, model: LocalModel) -> str:
        return model_ref(model)

    # -- command lines ---------------------------------------------------------------

    def launch_spec(
        self, model: LocalModel, served_name: str, options: EngineOptions, port: int
    ) -> LaunchSpec:
        assert isinstance(options, VllmOptions)
        command = self.executable()
        if command is None:
            raise EngineUnavailableError(NOT_INSTALLED)
        args = serve_args(model_ref(model), served_name, options, "127.0.0.1", port)
        key = options.engine_api_key.get_secret_value() if options.engine_api_key else None
        entry = self._entry(model)
        return LaunchSpec(
            argv=(*command, *args),
            port=port,
            health_path="/health",
            runtime=RUNTIME,
            context_limit=options.max_model_len or (entry.max_context if entry else 0) or 0,
            env=engine_env(options),
            upstream_headers={"Authorization": f"Bearer {key}"} if key else {},
            models_path="/v1/models",
            metrics_path="/metrics",
            key_env="VLLM_API_KEY",
        )

    def container(
        self, model: LocalModel, served_name: str, options: EngineOptions, gpus: int
    ) -> ContainerSpec:
        assert isinstance(options, VllmOptions)
        args = serve_args(model_ref(model), served_name, options, "0.0.0.0", CONTAINER_PORT)
        env = {k: v for k, v in engine_env(options).items() if k != "VLLM_API_KEY"}
        return ContainerSpec(
            image=IMAGE,
            command=("vllm", "serve"),
            args=tuple(args[1:]),
            port=CONTAINER_PORT,
            health_path="/health",
            env=env,
            gpus=gpus,
            key_env="VLLM_API_KEY",
        )


def _catalog_model(entry: CatalogEntry) -> LocalModel:
    repo = entry.safetensors_repo
    if repo is None:
        raise UnsupportedOptionError(
            f"{entry.id} has no Hugging Face checkpoint in the catalog (GGUF only): serve it "
            "with llama.cpp, or give vLLM a repo id (org/name)"
        )
    return LocalModel(entry.id, Path(repo), "", 0, f"{HF_ORIGIN}{repo}", catalog_id=entry.id)


def _fit(
    entry: CatalogEntry | None,
    options: VllmOptions,
    gpus: Sequence[GpuSnapshot],
    ranks: int,
    used: int,
) -> VllmFit:
    """The fit for one replica of `ranks` GPUs, the engine holding `used` GPUs here."""
    context = options.max_model_len or (entry.max_context if entry else None)
    return VllmFit(
        share=gpu_share(gpus[: min(used, len(gpus))] or gpus),
        utilization=options.gpu_memory_utilization,
        ranks=ranks,
        weights_bytes=weights_bytes(entry, options.dtype, options.quantization),
        kv_bytes_per_token=kv_bytes_per_token(entry, options.kv_cache_dtype),
        context=context,
    )


def with_layout(options: VllmOptions, layout: Layout) -> VllmOptions:
    """`options` with the parallel sizes `layout` decided."""
    return options.model_copy(
        update={"tensor_parallel_size": layout.tensor, "data_parallel_size": layout.data}
    )


def serve_args(ref: str, served_name: str, options: VllmOptions, host: str, port: int) -> list[str]:
    """`serve MODEL --flag value ...`; options left to vLLM's defaults are not passed.
    Tensor parallel `auto` must be resolved first (`memory_plan` or `finalize`)."""
    tp = options.tensor_parallel_size
    if tp == "auto":
        raise UnsupportedOptionError("tensor_parallel_size auto is resolved against the GPUs")
    args = ["serve", ref, "--host", host, "--port", str(port), "--served-model-name", served_name]
    args += ["--tensor-parallel-size", str(tp)]
    args += ["--pipeline-parallel-size", str(options.pipeline_parallel_size)]
    args += ["--gpu-memory-utilization", f"{options.gpu_memory_utilization:g}"]
    args += ["--dtype", options.dtype, "--kv-cache-dtype", options.kv_cache_dtype]
    for flag, value in _optional_values(options):
        args += [flag, str(value)]
    if options.enable_prefix_caching is not None:
        on = options.enable_prefix_caching
        args.append("--enable-prefix-caching" if on else "--no-enable-prefix-caching")
    args += ["--trust-remote-code"] if options.trust_remote_code else []
    args += ["--enforce-eager"] if options.enforce_eager else []
    speculative = options.speculative_config()
    args += ["--speculative-config", json.dumps(speculative)] if speculative else []
    return args


def _optional_values(options: VllmOptions) -> list[tuple[str, object]]:
    values = {
        "--data-parallel-size": options.data_parallel_size
        if (options.data_parallel_size or 1) > 1
        else None,
        "--max-model-len": options.max_model_len,
        "--max-num-seqs": options.max_num_seqs,
        "--max-num-batched-tokens": options.max_num_batched_tokens,
        "--quantization": options.quantization,
        "--distributed-executor-backend": options.backend,
    }
    return [(flag, value) for flag, value in values.items() if value is not None]


def engine_env(options: VllmOptions) -> dict[str, str]:
    """GPU pinning, the Ray cluster to join, and the API key (never on the command line:
    command lines show up in `ps` and in the engine log)."""
    env = options.pinning_env()
    if options.ray_address:
        env["RAY_ADDRESS"] = options.ray_address
    if options.engine_api_key is not None:
        env["VLLM_API_KEY"] = options.engine_api_key.get_secret_value()
    return env
