"""`hostbench export`'s manifests against the real schemas (tests/unit/engines/export_schemas.py:
Kubernetes' strict OpenAPI schema at 1.30 and 1.37, KServe's InferenceService CRD, the
Compose Specification), for every variant the export renders; and the same checks refusing
a manifest with an unknown field or a wrong type, so a pass means something."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from engines.errors import UnsupportedExportError
from profiles import Locations, Settings
from storage import Store
from tests.unit.catalog.conftest import machine
from tests.unit.engines.export_schemas import (
    KUBERNETES_VERSIONS,
    compose_errors,
    kserve_errors,
    kubernetes_errors,
)
from workflows.export import ExportRequest, Target, build_export, to_yaml
from workflows.launching import Launcher, LaunchOrder

A100 = "process_a100"
"""A recorded A100 80 GB reading: the `gpu-80gb` profile matches it."""

QWEN = "qwen2.5-7b-instruct"
VARIANTS: dict[str, tuple[LaunchOrder, dict[str, Any]]] = {
    "llama.cpp-cpu": (LaunchOrder("smollm2-135m-instruct:Q8_0"), {}),
    "llama.cpp-gpu-replicas": (
        LaunchOrder("smollm2-135m-instruct:Q8_0", profile="throughput"),
        {"gpus": 1, "replicas": 2},
    ),
    "llama.cpp-pvc": (LaunchOrder("smollm2-135m-instruct"), {}),
    "vllm-tensor-parallel": (
        LaunchOrder(QWEN, "vllm", {"tensor_parallel_size": "auto"}),
        {"gpus": 4},
    ),
    "vllm-replicas": (LaunchOrder(QWEN, "vllm"), {"gpus": 1, "replicas": 3}),
    "vllm-secret": (
        LaunchOrder(QWEN, "vllm", {"engine_api_key": "s3cret"}),
        {"gpus": 2, "snapshot": A100},
    ),
    "vllm-auto-layout-8xh100": (
        LaunchOrder("llama-3.3-70b-instruct", "vllm", {"max_model_len": 16384}),
        {"snapshot": "h100_x8_repeated"},
    ),
    "vllm-pipeline-ray-one-node": (
        LaunchOrder(
            QWEN,
            "vllm",
            {
                "tensor_parallel_size": 2,
                "pipeline_parallel_size": 2,
                "distributed_executor_backend": "ray",
            },
        ),
        {},
    ),
}
CASES = [
    pytest.param(variant, target, id=f"{variant}-{target.value}")
    for variant in VARIANTS
    for target in Target
    if target is not Target.KSERVE or variant.startswith("vllm")
]


@pytest.fixture
def launcher(home: Path) -> Launcher:
    locations = Locations.from_env().ensure()
    return Launcher(Settings(), locations, Store(locations.store_path))


def export(launcher: Launcher, variant: str, target: Target) -> list[dict[str, Any]]:
    order, given = VARIANTS[variant]
    kw = dict(given)
    if kw.get("snapshot"):
        kw["snapshot"] = machine(kw["snapshot"])
    text = to_yaml(build_export(launcher, ExportRequest(order, target, **kw)))
    return list(yaml.safe_load_all(text))


def errors(document: dict[str, Any], target: Target) -> list[str]:
    if target is Target.COMPOSE:
        return compose_errors(document)
    if target is Target.KSERVE:
        return kserve_errors(document)
    return [e for v in KUBERNETES_VERSIONS for e in kubernetes_errors(document, v)]


@pytest.mark.parametrize(("variant", "target"), CASES)
def test_every_export_variant_is_valid(launcher: Launcher, variant: str, target: Target) -> None:
    documents = export(launcher, variant, target)
    assert len(documents) == (2 if target is Target.K8S else 1)
    for document in documents:
        assert errors(document, target) == []


def test_the_variants_render_what_they_are_named_for(launcher: Launcher) -> None:
    """The valid manifests above are the ones meant: a PVC, a Secret reference, replicas,
    the GPUs and parallel sizes each variant asks for."""
    pvc = yaml.safe_dump(export(launcher, "llama.cpp-pvc", Target.K8S))
    assert "persistentVolumeClaim" in pvc and "claimName: smollm2-135m-instruct-models" in pvc
    deployment, _ = export(launcher, "vllm-secret", Target.K8S)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["VLLM_API_KEY"]["name"] == "qwen2-5-7b-instruct-api-key"
    (compose,) = export(launcher, "vllm-replicas", Target.COMPOSE)
    assert compose["services"]["qwen2-5-7b-instruct"]["deploy"]["replicas"] == 3
    deployment, _ = export(launcher, "vllm-pipeline-ray-one-node", Target.K8S)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert "--distributed-executor-backend" in container["args"]


# A manifest each check must refuse: an unknown field, a wrong type.


def _k8s(launcher: Launcher) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment, service = export(launcher, "vllm-secret", Target.K8S)
    return copy.deepcopy(deployment), copy.deepcopy(service)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_check_refuses_an_unknown_field(launcher: Launcher, version: str) -> None:
    deployment, service = _k8s(launcher)
    deployment["spec"]["template"]["spec"]["containers"][0]["gpus"] = 2
    (found,) = kubernetes_errors(deployment, version)
    assert "'gpus' was unexpected" in found
    service["spec"]["targetPort"] = "http"  # belongs in spec.ports[]
    assert kubernetes_errors(service, version)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_check_refuses_a_wrong_type(launcher: Launcher, version: str) -> None:
    deployment, service = _k8s(launcher)
    deployment["spec"]["replicas"] = "3"
    (found,) = kubernetes_errors(deployment, version)
    assert found.startswith("spec.replicas:")
    service["spec"]["ports"][0]["port"] = "8000"
    assert kubernetes_errors(service, version)


def test_kubernetes_check_refuses_a_name_the_api_server_refuses(launcher: Launcher) -> None:
    _, service = _k8s(launcher)
    service["metadata"]["name"] = "7b-chat"  # a Service name must start with a letter
    assert kubernetes_errors(service, "1.37") == [
        "metadata.name: '7b-chat' is not a valid Service name"
    ]


def test_kserve_check_refuses_an_unknown_field_and_a_wrong_type(launcher: Launcher) -> None:
    (isvc,) = export(launcher, "vllm-secret", Target.KSERVE)
    unknown = copy.deepcopy(isvc)
    unknown["spec"]["predictor"]["model"]["gpus"] = 2
    assert any("'gpus' was unexpected" in e for e in kserve_errors(unknown))
    wrong = copy.deepcopy(isvc)
    wrong["spec"]["predictor"]["minReplicas"] = "3"
    assert [e for e in kserve_errors(wrong) if e.startswith("spec.predictor.minReplicas:")]
    typo = copy.deepcopy(isvc)
    typo["metadata"]["label"] = typo["metadata"].pop("labels")
    assert any("'label' was unexpected" in e for e in kserve_errors(typo))


def test_compose_check_refuses_an_unknown_field_and_a_wrong_type(launcher: Launcher) -> None:
    (compose,) = export(launcher, "vllm-replicas", Target.COMPOSE)
    unknown = copy.deepcopy(compose)
    unknown["services"]["qwen2-5-7b-instruct"]["gpus_per_replica"] = 2
    assert any("gpus_per_replica" in e for e in compose_errors(unknown))
    wrong = copy.deepcopy(compose)
    wrong["services"]["qwen2-5-7b-instruct"]["deploy"]["replicas"] = ["3"]
    assert [e for e in compose_errors(wrong) if "deploy.replicas" in e]


# Defects the checks found.


@pytest.mark.parametrize("target", list(Target))
def test_a_served_name_starting_with_a_digit_gives_valid_names(
    launcher: Launcher, target: Target
) -> None:
    """Kubernetes refuses a Service, and KServe an InferenceService, whose name does not
    start with a letter; the served name itself stays as given."""
    order = LaunchOrder(QWEN, "vllm", {}, name="7b-chat")
    documents = build_export(launcher, ExportRequest(order, target, gpus=1))
    for document in documents:
        assert errors(document, target) == []
    assert "7b-chat" in to_yaml(documents)


def test_a_layout_spanning_a_ray_cluster_is_refused(launcher: Launcher) -> None:
    """One pod or compose service cannot span the nodes of an outside Ray cluster (its GPUs
    would all be asked of one node), so such a layout is refused with what to do instead."""
    options = {"tensor_parallel_size": 8, "pipeline_parallel_size": 2, "ray_address": "h:6379"}
    order = LaunchOrder(QWEN, "vllm", options)
    for target in Target:
        with pytest.raises(UnsupportedExportError, match="--ray-address") as caught:
            build_export(launcher, ExportRequest(order, target, snapshot=machine(A100)))
        assert "\n" not in str(caught.value)
