"""Benchmarking a model our server runs: the target, the context stored with each run
(engine and version, every option, the model file and its sha256, the machine), the
model's own tokenizer and the decode bound's inputs.

Built from an engine's status (what `GET /api/engines` and `hostbench launch --json` say),
so it works the same for a server started for the benchmark and for one already running.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from bench.cost import CostInputs
from bench.limits import LimitInputs, device_bandwidth, kv_bytes_per_token
from bench.load import Target
from bench.power import PowerFigure
from catalog import InvalidModelFileError, LocalModels, read_gguf_info
from engines.control_client import ControlClient
from hardware import MachineSnapshot, snapshot_to_dict
from profiles import CostDefaults

KV_BYTES = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}
"""Bytes per cached value by llama.cpp cache type (block size 32, with its scales)."""


def find_engine(engines: list[dict[str, Any]], model: str) -> dict[str, Any] | None:
    """The status of the engine serving `model` (served name, alias or local model id)."""
    for status in engines:
        names = [status.get("name"), *status.get("aliases", ())]
        if model in names and status.get("state") == "ready":
            return status
    wanted = model.lower()
    return next(
        (
            s
            for s in engines
            if str(s.get("model", "")).lower().split(":")[0] == wanted and s.get("state") == "ready"
        ),
        None,
    )


def running_engine(client: ControlClient, model: str) -> dict[str, Any] | None:
    """The running server's engine for `model`, or None (no server, or not served)."""
    if client.probe() is None:
        return None
    return find_engine(client.engines(), model)


def engine_version(status: Mapping[str, Any], timeout_s: float = 5.0) -> str | None:
    """llama-server's build (from /props), or the llama-cpp-python package version."""
    runtime = status.get("runtime")
    if runtime == "llama-server" and status.get("port"):
        try:
            props = httpx.get(f"http://127.0.0.1:{status['port']}/props", timeout=timeout_s)
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
    status: Mapping[str, Any], registry: LocalModels, version: str | None
) -> dict[str, Any]:
    """What ran: engine, runtime and version, every option, the model file and its hash."""
    model = registry.get(str(status.get("model", "")))
    return {
        "engine": status.get("engine"),
        "runtime": status.get("runtime"),
        "version": version,
        "served_name": status.get("name"),
        "model_id": status.get("model"),
        "catalog_id": model.catalog_id if model else None,
        "quant": model.quant if model else None,
        "model_path": status.get("model_path"),
        "model_sha256": model.sha256 if model else None,
        "model_size_bytes": model.size_bytes if model else None,
        "model_origin": model.origin if model else None,
        "context_limit": status.get("context_limit"),
        "options": dict(status.get("options") or {}),
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


def local_target(base_url: str, status: Mapping[str, Any], eos_token_id: int | None) -> Target:
    """Our server: every answer runs to max_tokens (end of sequence ignored)."""
    return Target(
        base_url=base_url,
        model=str(status["name"]),
        force_length=True,
        eos_token_id=eos_token_id,
        kind="hostbench",
    )


def limit_inputs(
    status: Mapping[str, Any], snapshot: MachineSnapshot, cost: CostDefaults
) -> LimitInputs | None:
    """Weights (the model file) and KV bytes per token from its GGUF header; the device's
    bandwidth; the engine's slots as the largest batch."""
    path = Path(str(status.get("model_path") or ""))
    try:
        info = read_gguf_info(path)
        weights = path.stat().st_size
    except (InvalidModelFileError, OSError):
        return None
    if not (info.n_layers and info.n_kv_heads and info.n_heads and info.embedding_length):
        return None
    options = status.get("options") or {}
    per_value = (
        KV_BYTES.get(options.get("cache_type_k", "f16"), 2.0)
        + KV_BYTES.get(options.get("cache_type_v", "f16"), 2.0)
    ) / 2
    head_dim = info.embedding_length // info.n_heads
    kv = kv_bytes_per_token(info.n_layers, info.n_kv_heads, head_dim, per_value)
    on_gpu = options.get("n_gpu_layers") not in (0, None) and bool(snapshot.gpus)
    bandwidth = device_bandwidth(snapshot, cost.ram_bandwidth_gbps, use_gpu=on_gpu)
    slots = options.get("parallel") if status.get("runtime") == "llama-server" else 1
    return LimitInputs(bandwidth, weights, kv, slots)


def cost_inputs(cost: CostDefaults, power: PowerFigure) -> CostInputs:
    return CostInputs(
        electricity_usd_per_kwh=cost.electricity_usd_per_kwh,
        rental_usd_per_hour=cost.rental_usd_per_hour,
        hardware_usd=cost.hardware_usd,
        amortization_months=cost.amortization_months or 36,
        utilization=cost.utilization or 1.0,
        watts=power.watts,
        watts_source=power.source,
    )
