"""From a launch order to manifests: options resolved through the same profile and fit
estimate as `hostbench launch` (against this machine or a `--machine` snapshot of the
target node), without downloading anything, then rendered for the target."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from catalog import LocalModel, ModelRef
from catalog.resolve import looks_like_path
from engines.base import ContainerSpec, EngineAdapter, EngineOptions
from engines.errors import UnsupportedExportError
from hardware import MachineSnapshot, discover
from profiles.resolver import Resolution
from workflows.export import compose, k8s, kserve
from workflows.launching import Launcher, LaunchOrder, served_name_for


class Target(StrEnum):
    K8S = "k8s"
    KSERVE = "kserve"
    COMPOSE = "compose"


@dataclass(frozen=True)
class ExportRequest:
    order: LaunchOrder
    target: Target
    gpus: int | None = None
    """GPUs per replica; None: what the options imply (vLLM's ranks), else none."""
    replicas: int = 1
    snapshot: MachineSnapshot | None = None
    """The node to plan for; None: this machine."""


@dataclass(frozen=True)
class Workload:
    """What every renderer needs: a name, the container, how many of it."""

    name: str
    served_name: str
    engine: str
    container: ContainerSpec
    replicas: int
    options: dict[str, Any]
    model: LocalModel


def build_export(launcher: Launcher, request: ExportRequest) -> list[dict[str, Any]]:
    """The manifests (as data) for `request`."""
    workload = _workload(launcher, request)
    if request.target is Target.KSERVE:
        return [kserve.inference_service(workload)]
    if request.target is Target.COMPOSE:
        return [compose.compose_file(workload)]
    return k8s.deployment_and_service(workload)


def _workload(launcher: Launcher, request: ExportRequest) -> Workload:
    order = request.order
    adapter = launcher.adapter(order)
    if request.target is Target.KSERVE and adapter.engine_id != "vllm":
        raise UnsupportedExportError(
            "KServe's Hugging Face runtime runs vLLM: export with --engine vllm (a model with "
            "a Hugging Face checkpoint), or use --to k8s for llama.cpp"
        )
    snapshot = request.snapshot or discover(launcher.locations.models_dir)
    resolution = launcher.plan_options(order, adapter, snapshot)
    options = adapter.parse_options(resolution.options)
    _refuse_spanning_nodes(options)
    model = _model(launcher, adapter, order)
    if request.gpus is None and getattr(options, "tensor_parallel_size", None) == "auto":
        options = _layout_for_node(adapter, model, options, resolution, snapshot)
    gpus = _gpus(options, request.gpus)
    options = _for_target(options, order, gpus)
    served = order.name or served_name_for(order.model, model.id)
    container = adapter.container(model, served, options, gpus)
    return Workload(
        name=_k8s_name(served),
        served_name=served,
        engine=adapter.engine_id,
        container=container,
        replicas=request.replicas,
        options=options.model_dump(mode="json", exclude_none=True),
        model=model,
    )


def _refuse_spanning_nodes(options: EngineOptions) -> None:
    """A pod or a compose service runs on one node: it cannot hold the GPUs of a layout that
    spans an outside Ray cluster, and vLLM in it could not drive that cluster without being
    one of its nodes."""
    if getattr(options, "ray_address", None):
        raise UnsupportedExportError(
            "--ray-address spans the nodes of a Ray cluster, and a pod or compose service runs "
            "on one node: export a layout that fits one node (no --ray-address), or launch on "
            "the Ray head node (README: Several machines with vLLM and Ray)"
        )


def _layout_for_node(
    adapter: EngineAdapter,
    model: LocalModel,
    options: EngineOptions,
    resolution: Resolution,
    snapshot: MachineSnapshot,
) -> EngineOptions:
    """vLLM's parallel sizes left `auto`, decided for the target node's GPUs as a launch
    there decides them (tensor parallel, and data parallel for the GPUs left over)."""
    if not snapshot.gpus:
        raise UnsupportedExportError(
            "tensor_parallel_size auto is decided from the target node's GPUs, and none are "
            "known: give --gpus-per-replica N, or --machine node.json (`hostbench gpus "
            "--json` on that node)"
        )
    adapter.memory_plan(model, options, resolution, snapshot)
    return adapter.parse_options(resolution.options)


def _ranks(options: EngineOptions) -> tuple[int, int]:
    """vLLM's (pipeline stages, data parallel replicas): the GPUs a replica's layout takes
    beside tensor parallel."""
    stages = int(getattr(options, "pipeline_parallel_size", 1))
    return stages, int(getattr(options, "data_parallel_size", None) or 1)


def _gpus(options: EngineOptions, asked: int | None) -> int:
    """GPUs per replica: as asked, else every rank vLLM's layout starts, else none."""
    if asked is not None:
        return asked
    tp = getattr(options, "tensor_parallel_size", None)
    stages, data = _ranks(options)
    return tp * stages * data if isinstance(tp, int) else 0


def _for_target(options: EngineOptions, order: LaunchOrder, gpus: int) -> EngineOptions:
    """Settings that depend on the target node, not this machine: vLLM's tensor parallel
    is what the GPUs per replica leave after pipeline and data parallel when it is `auto`,
    or not given and GPUs are asked for; llama.cpp offloads what fits there (auto) when the
    replica has GPUs, unless the user said how many layers. Refused: a vLLM layout that
    needs more GPUs than the replica has."""
    updates: dict[str, Any] = {}
    tp = getattr(options, "tensor_parallel_size", None)
    stages, data = _ranks(options)
    if tp == "auto" or (tp is not None and gpus and "tensor_parallel_size" not in order.options):
        tp = updates["tensor_parallel_size"] = max(1, gpus // (stages * data))
    if isinstance(tp, int) and tp * stages * data > gpus:
        raise UnsupportedExportError(
            f"tensor x pipeline x data parallel = {tp} x {stages} x {data} GPUs, and a replica "
            f"has {gpus}: raise --gpus-per-replica or lower the parallel sizes"
        )
    if hasattr(options, "n_gpu_layers") and "n_gpu_layers" not in order.options:
        updates["n_gpu_layers"] = "auto" if gpus else 0
    return options.model_copy(update=updates) if updates else options


def _model(launcher: Launcher, adapter: EngineAdapter, order: LaunchOrder) -> LocalModel:
    """Where the container gets the model, without downloading it here."""
    hint = dict(order.options)
    located = adapter.locate_model(order.model, launcher.catalog, hint)
    if located is not None:
        return located
    if looks_like_path(order.model):
        path = Path(order.model)
        return LocalModel(path.stem, path, "", 0, f"file:{path}")
    local = launcher.registry.get(order.model)
    if local is not None:
        return local
    entry, gguf = launcher.catalog.resolve(ModelRef.parse(order.model))
    origin = f"hf:{gguf.repo}" if gguf.repo else f"catalog:{entry.id}"
    return LocalModel(
        f"{entry.id}:{gguf.quant}", Path(gguf.file), "", 0, origin, gguf.quant, entry.id
    )


def _k8s_name(served: str) -> str:
    """A DNS-1035 label from the served name: what a Service's and an InferenceService's name
    must be (a letter first, then letters, digits and dashes, 63 at most); a Deployment's
    and a compose service's name rules are looser."""
    name = re.sub(r"[^a-z0-9-]+", "-", served.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"model-{name}".rstrip("-")
    return name[:63].rstrip("-")


class _Dumper(yaml.SafeDumper):
    """Plain YAML: a value used twice is written twice, never as an anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
