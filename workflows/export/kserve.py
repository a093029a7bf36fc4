"""A KServe InferenceService on KServe's Hugging Face serving runtime with its vLLM backend,
in the shape KServe's documentation gives (serving.kserve.io/v1beta1; spec.predictor.model
with `modelFormat.name: huggingface`, `args` such as `--model_name=` and `--model_id=`,
`resources` with `nvidia.com/gpu`). The runtime passes vLLM's engine arguments through, so
the same options as `hostbench launch --engine vllm` follow as `--flag=value`. KServe serves
the OpenAI API under /openai/v1 by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workflows.export.k8s import env, labels

if TYPE_CHECKING:
    from workflows.export.build import Workload

DROPPED = ("--host", "--port", "--served-model-name")
"""Set by the runtime itself (`--model_name` names the model)."""


def _vllm_args(args: tuple[str, ...]) -> list[str]:
    """`serve MODEL --flag value --switch` as `--flag=value --switch`, minus what the
    runtime sets itself."""
    found: list[str] = []
    rest = list(args[1:])  # args[0] is the model, given as --model_id
    while rest:
        flag = rest.pop(0)
        has_value = bool(rest) and not rest[0].startswith("--")
        value = rest.pop(0) if has_value else None
        if flag not in DROPPED:
            found.append(flag if value is None else f"{flag}={value}")
    return found


def inference_service(workload: Workload) -> dict[str, Any]:
    spec = workload.container
    model_id = spec.args[0]
    args = [f"--model_name={workload.served_name}", f"--model_id={model_id}", "--backend=vllm"]
    model: dict[str, Any] = {
        "modelFormat": {"name": "huggingface"},
        "args": args + _vllm_args(spec.args),
        "env": env(workload, engine_key=bool(workload.options.get("engine_api_key"))),
    }
    if spec.gpus:
        model["resources"] = {
            "limits": {"nvidia.com/gpu": spec.gpus},
            "requests": {"nvidia.com/gpu": spec.gpus},
        }
    predictor: dict[str, Any] = {"model": model}
    if workload.replicas > 1:
        predictor["minReplicas"] = workload.replicas
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": workload.name, "labels": labels(workload)},
        "spec": {"predictor": predictor},
    }
