"""Benchmarking a model our server runs: the target, the context stored with each run
(engine and version, every option, the model file and its sha256, the machine), the
model's own tokenizer and the decode bound's inputs (from a GGUF header, or for vLLM from
the checkpoint's config.json and safetensors headers), or why there are none.

Built from an engine's status (what `GET /api/engines` and `hostbench launch --json` say),
so it works the same for a server started for the benchmark and for one already running.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.cost import CostInputs
from bench.limits import Bandwidth, LimitInputs, device_bandwidth
from bench.load import Target
from bench.power import PowerFigure
from bench.runs import BenchRun
from catalog import InvalidModelFileError, LocalModels, read_gguf_info
from catalog.fit import KV_TYPES
from catalog.fit_decode import DecodeReads, decode_reads
from catalog.fit_safetensors import checkpoint_decode_reads, checkpoint_dir
from catalog.quant_types import ggml_value_bytes
from control.api import EngineStatus
from control.client import ControlClient
from hardware import MachineSnapshot, snapshot_to_dict
from profiles import CostDefaults


def cache_value_bytes(options: Mapping[str, Any], key: str) -> float:
    """Bytes per cached value of a llama.cpp cache type option (f16 when unset or unknown)."""
    name = options.get(key, "f16")
    return ggml_value_bytes(name) if name in KV_TYPES else 2.0


def find_engine(engines: list[EngineStatus], model: str) -> EngineStatus | None:
    """The status of the engine serving `model` (served name, alias or local model id)."""
    ready = [status for status in engines if status.state == "ready"]
    for status in ready:
        if model in (status.name, *status.aliases):
            return status
    wanted = model.lower()
    return next((s for s in ready if s.model.lower().split(":")[0] == wanted), None)


def running_engine(client: ControlClient, model: str) -> EngineStatus | None:
    """The running server's engine for `model`, or None (no server, or not served)."""
    if client.probe() is None:
        return None
    return find_engine(client.engines(), model)


def engine_version(
    status: EngineStatus, headers: Mapping[str, str], timeout_s: float = 5.0
) -> str | None:
    """llama-server's build (from /props, asked with the engine's key: `headers`), or the
    llama-cpp-python package version."""
    runtime = status.runtime
    if runtime == "llama-server" and status.port:
        try:
            url = f"http://127.0.0.1:{status.port}/props"
            props = httpx.get(url, headers=headers, timeout=timeout_s)
            build = props.json().get("build_info")
            return f"llama-server {build}" if build else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
    if runtime == "llama_cpp.server":
        return f"llama-cpp-python {_package_version('llama_cpp_python')}"
    return None


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def engine_context(
    status: EngineStatus,
    registry: LocalModels,
    version: str | None,
    reads: ModelReads | None = None,
) -> dict[str, Any]:
    """What ran: engine, runtime and version, every option, the model file and its hash,
    and where the decode bound's figures came from (`reads`: read here when not given)."""
    model = registry.get(status.model)
    reads = reads or model_reads(status)
    return {
        "engine": status.engine,
        "runtime": status.runtime,
        "version": version,
        "served_name": status.name,
        "model_id": status.model,
        "catalog_id": model.catalog_id if model else None,
        "quant": model.quant if model else None,
        "model_path": status.model_path,
        "model_sha256": model.sha256 if model else None,
        "model_size_bytes": model.size_bytes if model else None,
        "model_origin": model.origin if model else None,
        "context_limit": status.context_limit,
        "options": dict(status.options),
        "decode_reads": reads.as_dict(),
        "memory": {
            "estimate_bytes": status.memory_bytes,
            "estimate_basis": status.memory_basis,
            "measured_bytes": status.memory_measured_bytes,
            "measured_basis": status.memory_measured_basis,
            "error_percent": status.memory_error_percent,
        },
    }


def run_context(snapshot: MachineSnapshot, engine: dict[str, Any] | None) -> dict[str, Any]:
    """The context stored with every run of a session."""
    return {
        "hardware": snapshot_to_dict(snapshot),
        "engine": engine,
        "software": {
            "hostbench": _package_version("hostbench"),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def local_target(base_url: str, status: EngineStatus, eos_token_id: int | None) -> Target:
    """Our server: every answer runs to max_tokens (end of sequence ignored)."""
    return Target(
        base_url=base_url,
        model=status.name,
        force_length=True,
        eos_token_id=eos_token_id,
        kind="hostbench",
    )


@dataclass(frozen=True)
class ModelReads:
    """What one decode step of the engine's model reads, or why that is unknown: stored
    with each run so that `bench show` can give the true cause of a missing bound."""

    reads: DecodeReads | None
    basis: str
    """Where the figures come from, or why there are none."""

    def as_dict(self) -> dict[str, Any]:
        return {"known": self.reads is not None, "basis": self.basis}


def model_reads(status: EngineStatus) -> ModelReads:
    """A GGUF file's header (llama.cpp), else the checkpoint directory or cached Hugging
    Face repo that vLLM serves (catalog.fit_safetensors)."""
    path = Path(status.model_path)
    if path.is_file() or path.suffix.lower() == ".gguf":
        return _gguf_reads(path, status.options)
    directory = checkpoint_dir(status.model_path)
    if directory is None:
        return ModelReads(
            None,
            f"{status.model_path} is neither a GGUF file, a checkpoint directory nor a "
            "Hugging Face repo in the local cache",
        )
    return _checkpoint_reads(directory, status.options)


def _gguf_reads(path: Path, options: Mapping[str, Any]) -> ModelReads:
    try:
        info = read_gguf_info(path)
    except (InvalidModelFileError, OSError) as exc:
        return ModelReads(None, f"GGUF header unreadable: {exc}")
    k, v = cache_value_bytes(options, "cache_type_k"), cache_value_bytes(options, "cache_type_v")
    reads = decode_reads(info, k, v)
    if reads is None:
        return ModelReads(None, f"{path.name}: the GGUF header lacks layer or head dimensions")
    return ModelReads(reads, "GGUF header")


def _checkpoint_reads(directory: Path, options: Mapping[str, Any]) -> ModelReads:
    dtype = str(options.get("dtype") or "auto")
    kv_dtype = str(options.get("kv_cache_dtype") or "auto")
    try:
        reads = checkpoint_decode_reads(directory, dtype, kv_dtype)
    except InvalidModelFileError as exc:
        return ModelReads(None, str(exc))
    return ModelReads(reads, f"config.json and safetensors headers in {directory}")


def limit_inputs(
    status: EngineStatus,
    snapshot: MachineSnapshot,
    cost: CostDefaults,
    found: ModelReads | None = None,
) -> LimitInputs | None:
    """What a decode step reads (active experts only, the stated head widths, sliding
    windows; see `model_reads`, read here when `found` is not given); the device's
    bandwidth; the engine's slots as the largest batch. None where the model's layout
    cannot be read."""
    reads = (found or model_reads(status)).reads
    if reads is None:
        return None
    bandwidth = device_bandwidth(
        snapshot, cost.ram_bandwidth_gbps, use_gpu=_on_gpu(status, snapshot)
    )
    return LimitInputs(
        _across(bandwidth, _tensor_parallel(status)),
        reads.weights_bytes,
        reads.kv_bytes_per_token,
        _max_batch(status),
        reads.window_kv_bytes_per_token,
        reads.sliding_window,
    )


def _on_gpu(status: EngineStatus, snapshot: MachineSnapshot) -> bool:
    """vLLM runs on GPUs only; llama.cpp reads from a GPU where it offloads layers."""
    if not snapshot.gpus:
        return False
    return status.engine == "vllm" or status.options.get("n_gpu_layers") not in (0, None)


def _tensor_parallel(status: EngineStatus) -> int:
    """The GPUs vLLM splits every layer over (`tensor_parallel_size`); 1 for llama.cpp,
    whose layer split reads one GPU after the other."""
    size = status.options.get("tensor_parallel_size") if status.engine == "vllm" else None
    return size if isinstance(size, int) and size > 1 else 1


def _across(bandwidth: Bandwidth, gpus: int) -> Bandwidth:
    """Tensor parallel: each GPU reads its share of every weight and of the KV cache at the
    same time, so their bandwidths add (the all-reduce between them is not counted: the
    bound stays an upper one)."""
    if gpus == 1:
        return bandwidth
    return Bandwidth(bandwidth.gbps * gpus, f"{gpus} x {bandwidth.source}, tensor parallel")


def _max_batch(status: EngineStatus) -> int | None:
    """llama-server's slots, vLLM's `max_num_seqs` (None: its default, rarely reached)."""
    if status.runtime == "llama-server":
        return status.options.get("parallel")
    if status.engine == "vllm":
        return status.options.get("max_num_seqs")
    return 1


def no_bound_reason(run: BenchRun) -> str:
    """Why a stored run has no decode bound. The bandwidth is always known (GPU facts, the
    setting or the RAM probe), so the cause is the model or the run itself; runs stored
    before the reason was recorded lacked a bound only when the layout was unreadable."""
    engine = run.context.get("engine")
    if not engine:
        return "an outside endpoint, whose model's layout is unknown"
    reads = engine.get("decode_reads") or {}
    if reads.get("known") is False:
        return f"the model's layout could not be read ({reads.get('basis')})"
    if not run.metrics.completed:
        return "no request completed"
    return "the model's layout could not be read"


def cost_inputs(cost: CostDefaults, power: PowerFigure) -> CostInputs:
    return CostInputs(
        electricity_usd_per_kwh=cost.electricity_usd_per_kwh,
        rental_usd_per_hour=cost.rental_usd_per_hour,
        hardware_usd=cost.hardware_usd,
        amortization_months=cost.amortization_months or 36,
        utilization=cost.utilization or 1.0,
        watts=power.watts,
        watts_source=power.source,
        power=power,
    )
