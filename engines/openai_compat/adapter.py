"""Any OpenAI-compatible server as an engine: SGLang, TGI, trtllm-serve, Triton's OpenAI
frontend, a llama-server build of one's own... (presets in profiles/data).

The command is a template: `{port}`, `{host}`, `{model_path}`, `{model_dir}`,
`{served_name}` and `{python}` are filled in per launch, token by token after splitting it
like a shell would (no shell runs it). hostbench then treats it like any engine: a free
loopback port, readiness on `health_path`, restarts with backoff, logs, routing, the pool.
It cannot see what the command holds in memory: `memory_gib` tells the pool.
"""

from __future__ import annotations

import os
import shlex
import string
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr

from catalog import Catalog, LocalModel
from engines.base import (
    GIB,
    Availability,
    EngineAdapter,
    EngineOptions,
    GpuPinning,
    LaunchSpec,
    MemoryPlan,
)
from engines.errors import EngineUnavailableError, UnsupportedOptionError

if TYPE_CHECKING:
    from hardware import MachineSnapshot
    from profiles.resolver import Resolution

PLACEHOLDERS = ("port", "host", "model_path", "model_dir", "served_name", "python")
HF_ORIGIN = "hf-repo:"


class OpenAICompatibleOptions(GpuPinning):
    command: str | None = Field(
        None,
        description="Command serving the OpenAI API, with {port} {host} {model_path} "
        "{model_dir} {served_name} {python} filled in (see the presets: hostbench profiles).",
    )
    health_path: str = Field(
        "/v1/models", pattern=r"^/", description="Path that answers 200 once it is ready."
    )
    liveness_path: str | None = Field(
        None,
        pattern=r"^/",
        description="Path the hang watchdog probes while requests run (default: "
        "health_path); it must answer while the server is busy generating.",
    )
    check_served_name: bool = Field(
        False, description="Ready only once /v1/models lists the served name."
    )
    model_format: Literal["gguf", "hf"] = Field(
        "gguf",
        description="What {model_path} is for a catalog model: its GGUF file (pulled), or "
        "its Hugging Face repo id (hf: the command downloads it).",
    )
    context_length: int | None = Field(
        None, ge=1, description="Tokens per request, for error messages (unknown if unset)."
    )
    memory_gib: float | None = Field(
        None, gt=0, description="Memory the command holds, for the pool's budget."
    )
    metrics_path: str | None = Field(
        None, pattern=r"^/", description="Prometheus metrics path, if the server has one."
    )
    engine_api_key: SecretStr | None = Field(
        None,
        description="Key the server requires; sent by the gateway, and given to the command "
        "as HOSTBENCH_ENGINE_API_KEY (never on its command line).",
    )


class OpenAICompatibleEngine(EngineAdapter):
    engine_id = "openai-compatible"
    display_name = "OpenAI-compatible command"
    model_formats = ("gguf", "safetensors")
    supports_gpu_offload = True
    supports_multi_gpu = True
    Options = OpenAICompatibleOptions

    def availability(self) -> Availability:
        return Availability(True, "command", "runs the command a profile or --command gives")

    def locate_model(
        self, text: str, catalog: Catalog, options: Mapping[str, object]
    ) -> LocalModel | None:
        """Directories and Hugging Face repo ids are passed through; a catalog model is its
        Hugging Face repo when `model_format = "hf"`, else its GGUF file, resolved (and
        pulled) by the launcher like llama.cpp's."""
        path = Path(text).expanduser()
        if path.is_dir():
            return LocalModel(path.name, path.resolve(), "", 0, f"dir:{path.resolve()}")
        entry = catalog.entries.get(text.partition(":")[0].lower())
        if entry is not None and options.get("model_format") == "hf":
            if entry.safetensors_repo is None:
                raise UnsupportedOptionError(f"{entry.id} has no Hugging Face repo in the catalog")
            repo = entry.safetensors_repo
            return LocalModel(
                entry.id, Path(repo), "", 0, f"{HF_ORIGIN}{repo}", catalog_id=entry.id
            )
        if entry is None and text.count("/") == 1 and not path.exists():
            return LocalModel(text, Path(text), "", 0, f"{HF_ORIGIN}{text}")
        return None

    def memory_plan(
        self,
        model: LocalModel | None,
        options: EngineOptions,
        resolution: Resolution,
        snapshot: MachineSnapshot,
    ) -> MemoryPlan:
        assert isinstance(options, OpenAICompatibleOptions)
        if options.memory_gib is None:
            return MemoryPlan(None, "unknown: set memory_gib so the pool can count it")
        held = int(options.memory_gib * GIB)
        return MemoryPlan(held, f"memory_gib = {options.memory_gib:g} (declared)")

    def launch_spec(
        self, model: LocalModel, served_name: str, options: EngineOptions, port: int
    ) -> LaunchSpec:
        assert isinstance(options, OpenAICompatibleOptions)
        argv = render_command(options, _values(model, served_name, port))
        env = options.pinning_env()
        headers = {}
        if options.engine_api_key is not None:
            key = options.engine_api_key.get_secret_value()
            env["HOSTBENCH_ENGINE_API_KEY"] = key
            headers["Authorization"] = f"Bearer {key}"
        return LaunchSpec(
            argv=tuple(argv),
            port=port,
            health_path=options.health_path,
            liveness_path=options.liveness_path,
            runtime=runtime_name(argv),
            context_limit=options.context_length or 0,
            env=env,
            upstream_headers=headers,
            models_path="/v1/models" if options.check_served_name else None,
            metrics_path=options.metrics_path,
        )


def runtime_name(argv: list[str]) -> str:
    """What serves: the module of `python -m module`, else the program's name (a
    `llama-server -m MODEL` names its model with -m: that is no module)."""
    program = Path(argv[0]).name
    if len(argv) > 2 and argv[1] == "-m" and program.startswith("python"):
        return argv[2]
    return program


def _values(model: LocalModel, served_name: str, port: int) -> dict[str, str]:
    ref = model.origin.removeprefix(HF_ORIGIN) if model.origin.startswith(HF_ORIGIN) else None
    path = ref or str(model.path)
    return {
        "port": str(port),
        "host": "127.0.0.1",
        "model_path": path,
        "model_dir": str(model.path if model.path.is_dir() else model.path.parent),
        "served_name": served_name,
        "python": sys.executable,
    }


def render_command(options: OpenAICompatibleOptions, values: dict[str, str]) -> list[str]:
    """The command's tokens with placeholders filled in; refuses unknown placeholders and a
    program that is not there."""
    if not options.command:
        raise UnsupportedOptionError(
            "the openai-compatible engine needs --command (or a preset: --profile sglang, "
            "tgi, trtllm-serve, triton-openai, llama-server-own)"
        )
    argv = [_fill(token, values) for token in shlex.split(options.command)]
    program = argv[0]
    found = program if os.sep in program else _which(program)
    if found is None or not Path(found).exists():
        raise EngineUnavailableError(f"the command's program {program!r} is not installed here")
    return argv


def _fill(token: str, values: dict[str, str]) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(token) if name is not None}
    unknown = names - set(values)
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise UnsupportedOptionError(
            f"unknown placeholder {{{sorted(unknown)[0]}}} in the command; known: {known}"
        )
    return token.format_map(values)


def _which(program: str) -> str | None:
    import shutil

    return shutil.which(program)
