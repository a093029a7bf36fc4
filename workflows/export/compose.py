"""A compose file (Compose Specification: `services` with image, entrypoint, command,
ports, environment, volumes, healthcheck, and GPUs as a device reservation under
`deploy.resources.reservations.devices` with `capabilities: [gpu]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workflows.export.k8s import HF_CACHE

LOOPBACK = "127.0.0.1"
"""Where the host publishes the engine's port: a plain `8080:8080` publishes it on every
interface of the host. The engine also requires its API key (`${VAR:?...}` stops compose
when it is not set), since local programs and web pages reach a loopback port too."""

if TYPE_CHECKING:
    from workflows.export.build import Workload


def service(workload: Workload) -> dict[str, Any]:
    spec = workload.container
    body: dict[str, Any] = {"image": spec.image}
    if spec.command:
        body["entrypoint"] = list(spec.command)
    body["command"] = list(spec.args)
    body["ports"] = [f"{LOOPBACK}:{spec.port}:{spec.port}"]
    environment = dict(spec.env)
    environment["HF_TOKEN"] = "${HF_TOKEN:-}"
    if spec.key_env is not None:
        environment[spec.key_env] = f"${{{spec.key_env}:?set the engine's API key}}"
    body["environment"] = environment
    body["volumes"] = [f"hf-cache:{HF_CACHE}"]
    if spec.model_volume:
        body["volumes"].append(f"./models:{spec.model_volume}:ro")
    body["ipc"] = "host"
    body["healthcheck"] = {
        "test": [
            "CMD-SHELL",
            f"curl -fsS http://localhost:{spec.port}{spec.health_path} || exit 1",
        ],
        "interval": "10s",
        "retries": 6,
        "start_period": "30m",
    }
    if spec.gpus:
        device = {"driver": "nvidia", "count": spec.gpus, "capabilities": ["gpu"]}
        body["deploy"] = {"resources": {"reservations": {"devices": [device]}}}
    if workload.replicas > 1:
        body.setdefault("deploy", {})["replicas"] = workload.replicas
        body["ports"] = [f"{LOOPBACK}::{spec.port}"]  # replicas cannot share one host port
    body["restart"] = "unless-stopped"
    return body


def compose_file(workload: Workload) -> dict[str, Any]:
    return {"services": {workload.name: service(workload)}, "volumes": {"hf-cache": {}}}
