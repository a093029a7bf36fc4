"""`hostbench export`: manifests parse, have the structure the Kubernetes API reference and
KServe's documentation give, and carry the profile's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engines.errors import UnsupportedExportError
from profiles import Locations, Settings
from storage import Store
from tests.unit.catalog.conftest import machine
from workflows.export import ExportRequest, Target, build_export, to_yaml
from workflows.launching import Launcher, LaunchOrder

A100 = "process_a100"
"""A recorded A100 80 GB reading: the `gpu-80gb` profile matches it."""


@pytest.fixture
def launcher(home: Path) -> Launcher:
    locations = Locations.from_env().ensure()
    return Launcher(Settings(), locations, Store(locations.store_path))


def export(
    launcher: Launcher, order: LaunchOrder, target: Target, **kw: Any
) -> list[dict[str, Any]]:
    text = to_yaml(build_export(launcher, ExportRequest(order, target, **kw)))
    return list(yaml.safe_load_all(text))


def args_of(container: dict[str, Any]) -> dict[str, str]:
    args = container["args"]
    return {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}


def test_k8s_deployment_and_service_carry_the_profile(launcher: Launcher) -> None:
    order = LaunchOrder("smollm2-135m-instruct:Q8_0", profile="throughput")
    deployment, service = export(launcher, order, Target.K8S, gpus=1, replicas=2)
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = spec["template"]["spec"]["containers"]
    flags = args_of(container)
    # throughput extends this machine's profile: 16 slots, q8_0 KV cache, flash attention
    assert (flags["--parallel"], flags["--cache-type-k"], flags["--flash-attn"]) == (
        "16",
        "q8_0",
        "on",
    )
    assert int(flags["--ctx-size"]) == 16 * 4096
    assert flags["--hf-repo"] == "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
    assert flags["--n-gpu-layers"] == "auto", "the target node's GPU decides"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].endswith(":server-cuda")
    port = container["ports"][0]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts == {v["name"] for v in spec["template"]["spec"]["volumes"]}


def test_a_model_without_a_download_source_is_mounted(launcher: Launcher) -> None:
    deployment, _ = export(launcher, LaunchOrder("smollm2-135m-instruct"), Target.K8S)
    pod = deployment["spec"]["template"]["spec"]
    flags = args_of(pod["containers"][0])
    assert flags["--model"] == "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["smollm2-135m-instruct-models"]
    assert "resources" not in pod["containers"][0] and flags["--n-gpu-layers"] == "0"


def test_kserve_inference_service_for_vllm(launcher: Launcher) -> None:
    order = LaunchOrder("qwen2.5-7b-instruct", "vllm", {"engine_api_key": "s3cret"})
    (isvc,) = export(launcher, order, Target.KSERVE, gpus=2, snapshot=machine(A100))
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    args = model["args"]
    assert "--model_name=qwen2.5-7b-instruct" in args
    assert "--model_id=Qwen/Qwen2.5-7B-Instruct" in args
    assert "--max-model-len=32768" in args, "from the gpu-80gb profile that matches the node"
    assert "--tensor-parallel-size=2" in args, "the GPUs per replica"
    assert not any(a.startswith(("--port", "--host", "--served-model-name")) for a in args)
    assert model["resources"]["limits"]["nvidia.com/gpu"] == 2
    env = {e["name"]: e for e in model["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "qwen2-5-7b-instruct-api-key"
    assert "s3cret" not in yaml.safe_dump(isvc)


def test_compose_file_reserves_gpus(launcher: Launcher) -> None:
    order = LaunchOrder("qwen2.5-7b-instruct", "vllm", {"tensor_parallel_size": "auto"})
    (compose,) = export(launcher, order, Target.COMPOSE, gpus=4)
    ((name, service),) = compose["services"].items()
    assert name == "qwen2-5-7b-instruct" and service["image"].startswith("vllm/vllm-openai")
    assert service["entrypoint"] == ["vllm", "serve"]
    command = service["command"]
    assert command[0] == "Qwen/Qwen2.5-7B-Instruct"
    assert command[command.index("--tensor-parallel-size") + 1] == "4"
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 4, "capabilities": ["gpu"]}
    assert "hf-cache" in compose["volumes"] and service["ports"] == ["127.0.0.1:8000:8000"]


KEY_REQUIRED = "${%s:?set the engine's API key}"


@pytest.mark.parametrize(
    ("order", "key_env"),
    [
        (LaunchOrder("smollm2-135m-instruct"), "LLAMA_API_KEY"),
        (LaunchOrder("qwen2.5-7b-instruct", "vllm", {"tensor_parallel_size": 1}), "VLLM_API_KEY"),
    ],
)
def test_an_exported_engine_requires_its_key_and_compose_publishes_on_loopback(
    launcher: Launcher, order: LaunchOrder, key_env: str
) -> None:
    """Exports once published llama-server on every interface of the host (compose's
    `8080:8080`) or behind a cluster-wide Service, with no key: anyone who could reach it
    could use it, and llama-server answers any web page."""
    (compose,) = export(launcher, order, Target.COMPOSE)
    ((name, service),) = compose["services"].items()
    assert service["environment"][key_env] == KEY_REQUIRED % key_env
    port = service["healthcheck"]["test"][1].split("localhost:")[1].split("/")[0]
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    (replicated,) = export(launcher, order, Target.COMPOSE, replicas=2)
    assert replicated["services"][name]["ports"] == [f"127.0.0.1::{port}"], "any free host port"
    deployment, _ = export(launcher, order, Target.K8S)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs[key_env] == {"name": f"{name}-api-key", "key": "key", "optional": False}


def test_what_cannot_be_exported_is_refused(launcher: Launcher) -> None:
    with pytest.raises(UnsupportedExportError, match="vLLM"):
        export(launcher, LaunchOrder("smollm2-135m-instruct"), Target.KSERVE)
    generic = LaunchOrder("smollm2-135m-instruct", profile="llama-cpp-python")
    with pytest.raises(UnsupportedExportError, match=r"llama\.cpp and vllm"):
        export(launcher, generic, Target.K8S)


def _limits_and_flags(deployment: dict[str, Any]) -> tuple[int, dict[str, str]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container["resources"]["limits"]["nvidia.com/gpu"], args_of(container)


def test_an_auto_layout_is_decided_for_the_target_node(launcher: Launcher) -> None:
    """The multi-gpu profile leaves tensor parallel `auto`: the export decides it for the
    node as a launch there would (Llama 3.3 70B on 8 x H100: 2 GPUs per copy, 4 copies),
    and the pod gets every GPU those ranks use (it got none, and tensor parallel 1)."""
    order = LaunchOrder("llama-3.3-70b-instruct", "vllm", {"max_model_len": 16384})
    deployment, _ = export(launcher, order, Target.K8S, snapshot=machine("h100_x8_repeated"))
    gpus, flags = _limits_and_flags(deployment)
    assert (flags["--tensor-parallel-size"], flags["--data-parallel-size"]) == ("2", "4")
    assert gpus == 8


def test_data_parallel_replicas_get_their_gpus(launcher: Launcher) -> None:
    parallel = {"tensor_parallel_size": 2, "data_parallel_size": 2}
    order = LaunchOrder("qwen2.5-7b-instruct", "vllm", parallel)
    deployment, _ = export(launcher, order, Target.K8S)
    assert _limits_and_flags(deployment)[0] == 4, "tensor 2 x data 2 (it asked for 2)"
    (compose,) = export(launcher, order, Target.COMPOSE, gpus=8)
    command = compose["services"]["qwen2-5-7b-instruct"]["command"]
    assert command[command.index("--tensor-parallel-size") + 1] == "2", "as given"


def test_a_layout_needing_more_gpus_than_a_replica_has_is_refused(launcher: Launcher) -> None:
    order = LaunchOrder("qwen2.5-7b-instruct", "vllm", {"tensor_parallel_size": 4})
    with pytest.raises(UnsupportedExportError, match=r"4 x 1 x 1 GPUs, and a replica has 2"):
        export(launcher, order, Target.K8S, gpus=2)
    auto = LaunchOrder("qwen2.5-7b-instruct", "vllm", {"tensor_parallel_size": "auto"})
    with pytest.raises(UnsupportedExportError, match="--gpus-per-replica N, or --machine"):
        export(launcher, auto, Target.COMPOSE, snapshot=machine())
