"""A Kubernetes Deployment and a Service, in the shape of the Kubernetes API reference
(apps/v1 Deployment: selector, template, containers with ports, probes and resources;
v1 Service: selector and ports) and vLLM's own Kubernetes guide (a /dev/shm memory volume,
the Hugging Face cache as a volume, GPUs as `nvidia.com/gpu` limits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.export.build import Workload

MANAGED_BY = "hostbench"
HF_CACHE = "/root/.cache/huggingface"


def labels(workload: Workload) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload.name, "app.kubernetes.io/managed-by": MANAGED_BY}


def container(workload: Workload) -> dict[str, Any]:
    spec = workload.container
    body: dict[str, Any] = {"name": "engine", "image": spec.image}
    if spec.command:
        body["command"] = list(spec.command)
    body["args"] = list(spec.args)
    body["ports"] = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
    body["env"] = env(workload)
    probe = {"httpGet": {"path": spec.health_path, "port": "http"}, "periodSeconds": 10}
    body["startupProbe"] = {**probe, "failureThreshold": 180}
    body["readinessProbe"] = {**probe, "failureThreshold": 3}
    body["livenessProbe"] = {**probe, "failureThreshold": 6}
    if spec.gpus:
        body["resources"] = {"limits": {"nvidia.com/gpu": spec.gpus}}
    body["volumeMounts"] = [{"name": v["name"], "mountPath": path} for v, path in volumes(workload)]
    return body


def env(workload: Workload, *, engine_key: bool = True) -> list[dict[str, Any]]:
    """Plain settings as values; secrets only as references to Secrets, never inline. With
    `engine_key`, the engine's API key from the Secret `<name>-api-key`, which must exist:
    a Service reaches every pod of the cluster, and an engine without a key answers them
    all (llama-server also answers any web page, CORS allowing every origin)."""
    found: list[dict[str, Any]] = [
        {"name": key, "value": value} for key, value in workload.container.env.items()
    ]
    found.append(_secret_ref("HF_TOKEN", "hf-token", "token"))
    key_env = workload.container.key_env
    if engine_key and key_env is not None:
        found.append(_secret_ref(key_env, f"{workload.name}-api-key", "key", optional=False))
    return found


def _secret_ref(name: str, secret: str, key: str, optional: bool = True) -> dict[str, Any]:
    ref = {"name": secret, "key": key, "optional": optional}
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def volumes(workload: Workload) -> list[tuple[dict[str, Any], str]]:
    """(volume, mount path): shared memory for the engine's workers, the Hugging Face
    cache, and the model files where the model has no download source."""
    found = [
        ({"name": "dshm", "emptyDir": {"medium": "Memory"}}, "/dev/shm"),
        ({"name": "hf-cache", "emptyDir": {}}, HF_CACHE),
    ]
    if workload.container.model_volume:
        claim = {"claimName": f"{workload.name}-models"}
        found.append(
            ({"name": "models", "persistentVolumeClaim": claim}, workload.container.model_volume)
        )
    return found


def deployment_and_service(workload: Workload) -> list[dict[str, Any]]:
    meta = {"name": workload.name, "labels": labels(workload)}
    selector = {"app.kubernetes.io/name": workload.name}
    pod = {"containers": [container(workload)], "volumes": [v for v, _ in volumes(workload)]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": workload.replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels(workload)}, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": workload.container.port, "targetPort": "http"}],
        },
    }
    return [deployment, service]
