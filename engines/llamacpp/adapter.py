"""llama.cpp: `llama-server` when a working binary is found, else llama-cpp-python's server.

llama-server batches concurrent requests (`--parallel` slots, continuous batching) and is
about twice as fast per stream on CPU (shared NOTES); llama-cpp-python's server serializes
requests and, by default, cuts a running stream short when another request arrives, so it
is always started with `--interrupt_requests False`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from catalog import LocalModel, read_gguf_info
from engines.base import (
    Availability,
    ContainerSpec,
    EngineAdapter,
    EngineOptions,
    GpuPinning,
    LaunchSpec,
)
from engines.errors import EngineUnavailableError, UnsupportedOptionError
from engines.llamacpp import build
from hardware import physical_core_count

KvCacheType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]

LLAMA_SERVER = "llama-server"
PYTHON_SERVER = "llama_cpp.server"
IMAGE_CPU = "ghcr.io/ggml-org/llama.cpp:server"
IMAGE_CUDA = "ghcr.io/ggml-org/llama.cpp:server-cuda"
"""The llama.cpp project's own server images (README "Docker" section)."""
CONTAINER_PORT = 8080
MODELS_MOUNT = "/models"


class LlamaCppOptions(GpuPinning):
    ctx_size: int = Field(
        4096, ge=256, le=1 << 20, description="Context window of each request, in tokens."
    )
    n_gpu_layers: int | Literal["auto"] = Field(
        "auto",
        description="Layers offloaded to the GPU: a number, or auto (what fits; 0 on a CPU build).",
    )
    threads: int | None = Field(
        None, ge=1, le=1024, description="Generation threads (auto: one per physical core)."
    )
    threads_batch: int | None = Field(
        None, ge=1, le=1024, description="Prompt-processing threads (auto: as --threads)."
    )
    batch_size: int = Field(2048, ge=1, description="Logical batch size for prompt processing.")
    ubatch_size: int = Field(512, ge=1, description="Physical batch size (<= batch size).")
    flash_attn: Literal["auto", "on", "off"] = Field("auto", description="Flash attention.")
    parallel: int = Field(
        4,
        ge=1,
        le=256,
        description="Requests decoded at once (llama-server slots; the Python server has one).",
    )
    cache_type_k: KvCacheType = Field("f16", description="KV cache type for K.")
    cache_type_v: KvCacheType = Field("f16", description="KV cache type for V.")
    embeddings: bool = Field(False, description="Serve /v1/embeddings from this model.")
    pooling: Literal["auto", "mean", "cls", "last"] = Field(
        "auto",
        description="How token embeddings become one vector (auto: the model's own, "
        "else mean; llama-server only).",
    )
    poll: int = Field(
        50,
        ge=0,
        le=100,
        description="How hard idle worker threads spin waiting for work (llama-server; 0: "
        "they sleep, leaving the cores to the gateway and clients on small machines).",
    )
    mlock: bool = Field(False, description="Lock the weights in RAM (no swapping).")
    mmap: bool = Field(True, description="Memory-map the model file.")

    @model_validator(mode="after")
    def _ubatch_fits_batch(self) -> LlamaCppOptions:
        if self.ubatch_size > self.batch_size:
            raise ValueError("ubatch_size must not exceed batch_size")
        return self


def _runs(binary: Path) -> bool:
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class LlamaCppEngine(EngineAdapter):
    engine_id = "llama.cpp"
    display_name = "llama.cpp"
    model_formats = ("gguf",)
    supports_gpu_offload = True
    Options = LlamaCppOptions

    @cached_property
    def llama_server(self) -> Path | None:
        """A llama-server binary that starts, or None."""
        for candidate in self._llama_server_candidates():
            if candidate.is_file() and os.access(candidate, os.X_OK) and _runs(candidate):
                return candidate
        return None

    def _llama_server_candidates(self) -> list[Path]:
        if self.settings.llama_server_path is not None:
            return [self.settings.llama_server_path]
        found = [Path(p) for p in [shutil.which(LLAMA_SERVER)] if p]
        plan = build.make_plan(dict(os.environ))
        found.append(self.locations.build_dir / plan.server_binary.relative_to(plan.cache_root))
        built = [
            *self.locations.build_dir.glob(f"llama-cpp/*/{LLAMA_SERVER}"),
            *self.locations.build_dir.glob(f"llama-server/*/{LLAMA_SERVER}"),
        ]
        found.extend(sorted(built, key=lambda p: -p.stat().st_mtime))
        return found

    def runtime(self) -> str:
        if self.settings.prefer_llama_server and self.llama_server is not None:
            return LLAMA_SERVER
        if importlib.util.find_spec("llama_cpp") is not None:
            return PYTHON_SERVER
        raise EngineUnavailableError(
            "llama.cpp is not available: no working llama-server binary and llama-cpp-python "
            "is not installed (run `make setup`, or `hostbench engines build`)"
        )

    def availability(self) -> Availability:
        try:
            runtime = self.runtime()
        except EngineUnavailableError as error:
            return Availability(False, "none", str(error))
        where = str(self.llama_server) if runtime == LLAMA_SERVER else sys.executable
        return Availability(True, runtime, where)

    def launch_spec(
        self, model: LocalModel, served_name: str, options: EngineOptions, port: int
    ) -> LaunchSpec:
        assert isinstance(options, LlamaCppOptions)
        runtime = self.runtime()
        if runtime == LLAMA_SERVER:
            argv = self._llama_server_argv(model, served_name, options, port)
            health, token_count = "/health", None
        else:
            _check_python_embeddings(model, options)
            argv = self._python_server_argv(model, served_name, options, port)
            health, token_count = "/v1/models", "/extras/tokenize/count"
        return LaunchSpec(
            argv=tuple(argv),
            port=port,
            health_path=health,
            runtime=runtime,
            context_limit=options.ctx_size,
            env=options.pinning_env(),
            supports_embeddings=options.embeddings,
            token_count_path=token_count,
            metrics_path="/metrics" if runtime == LLAMA_SERVER else None,
        )

    def _threads(self, options: LlamaCppOptions) -> tuple[int, int]:
        threads = options.threads or physical_core_count()
        return threads, options.threads_batch or threads

    def _llama_server_argv(
        self, model: LocalModel, served_name: str, options: LlamaCppOptions, port: int
    ) -> list[str]:
        model_args = ["--model", str(model.path)]
        args = server_args(
            model_args, served_name, options, "127.0.0.1", port, threads=self._threads(options)
        )
        return [
            str(self.llama_server),
            *args,
            *_embedding_flags(model, options),
            *_memory_flags(options),
        ]

    def container(
        self, model: LocalModel, served_name: str, options: EngineOptions, gpus: int
    ) -> ContainerSpec:
        """The official llama.cpp server image (CUDA build when GPUs are asked for); the
        model comes from Hugging Face where it has a repo there, else from a volume."""
        assert isinstance(options, LlamaCppOptions)
        if model.origin.startswith("hf:"):
            source = ["--hf-repo", model.origin.removeprefix("hf:"), "--hf-file", model.path.name]
            volume = None
        else:
            source, volume = ["--model", f"{MODELS_MOUNT}/{model.path.name}"], MODELS_MOUNT
        threads = (
            (options.threads, options.threads_batch or options.threads) if options.threads else None
        )
        args = server_args(source, served_name, options, "0.0.0.0", CONTAINER_PORT, threads=threads)
        pooling = [
            "--embeddings",
            "--pooling",
            "mean" if options.pooling == "auto" else options.pooling,
        ]
        args += pooling if options.embeddings else []
        return ContainerSpec(
            image=IMAGE_CUDA if gpus else IMAGE_CPU,
            command=(),
            args=(*args, *_memory_flags(options)),
            port=CONTAINER_PORT,
            health_path="/health",
            env=options.pinning_env(),
            gpus=gpus,
            model_volume=volume,
        )

    def _python_server_argv(
        self, model: LocalModel, served_name: str, options: LlamaCppOptions, port: int
    ) -> list[str]:
        threads, threads_batch = self._threads(options)
        gpu_layers = -1 if options.n_gpu_layers == "auto" else options.n_gpu_layers
        if options.n_gpu_layers == "auto" and not _python_gpu_offload():
            gpu_layers = 0
        return [
            sys.executable,
            "-m",
            PYTHON_SERVER,
            "--model",
            str(model.path),
            "--model_alias",
            served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(options.ctx_size),
            "--n_gpu_layers",
            str(gpu_layers),
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads_batch),
            "--n_batch",
            str(options.batch_size),
            "--n_ubatch",
            str(options.ubatch_size),
            "--flash_attn",
            str(options.flash_attn == "on"),
            "--type_k",
            _ggml_type(options.cache_type_k),
            "--type_v",
            _ggml_type(options.cache_type_v),
            "--embedding",
            str(options.embeddings),
            "--use_mlock",
            str(options.mlock),
            "--use_mmap",
            str(options.mmap),
            "--interrupt_requests",
            "False",
        ]


def server_args(
    model_args: list[str],
    served_name: str,
    options: LlamaCppOptions,
    host: str,
    port: int,
    *,
    threads: tuple[int, int] | None,
) -> list[str]:
    """llama-server's arguments after the program; `threads` None leaves it to llama-server
    (a container's cores are not this machine's)."""
    args = [*model_args, "--alias", served_name, "--host", host, "--port", str(port)]
    args += ["--ctx-size", str(options.ctx_size * options.parallel)]
    args += ["--parallel", str(options.parallel), "--n-gpu-layers", str(options.n_gpu_layers)]
    if threads is not None:
        args += ["--threads", str(threads[0]), "--threads-batch", str(threads[1])]
    args += ["--batch-size", str(options.batch_size), "--ubatch-size", str(options.ubatch_size)]
    args += ["--flash-attn", options.flash_attn]
    args += ["--cache-type-k", options.cache_type_k, "--cache-type-v", options.cache_type_v]
    args += ["--poll", str(options.poll)]
    return [*args, "--metrics", "--no-webui"]


def _memory_flags(options: LlamaCppOptions) -> list[str]:
    return (["--mlock"] if options.mlock else []) + ([] if options.mmap else ["--no-mmap"])


def _python_gpu_offload() -> bool:
    """Whether the installed llama-cpp-python was built with a GPU backend."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def _ggml_type(name: str) -> str:
    import llama_cpp

    return str(getattr(llama_cpp, f"GGML_TYPE_{name.upper()}"))


def _model_pooling(model: LocalModel) -> int | None:
    return read_gguf_info(model.path).pooling_type


def _embedding_flags(model: LocalModel, options: LlamaCppOptions) -> list[str]:
    """llama-server pools token embeddings as the model says; a chat model says nothing,
    and llama-server then refuses OpenAI embeddings, so mean pooling is asked for."""
    if not options.embeddings:
        return []
    if options.pooling != "auto":
        return ["--embeddings", "--pooling", options.pooling]
    if _model_pooling(model) is None:
        return ["--embeddings", "--pooling", "mean"]
    return ["--embeddings"]


def _check_python_embeddings(model: LocalModel, options: LlamaCppOptions) -> None:
    """llama-cpp-python's server cannot choose a pooling: for a model without one it would
    answer per-token vectors, which no OpenAI client expects. Refuse up front."""
    if options.embeddings and _model_pooling(model) is None:
        raise UnsupportedOptionError(
            f"{model.id} has no pooling of its own, and llama-cpp-python's server cannot "
            "pool its embeddings; serve it with llama-server (the default when built) to "
            "get /v1/embeddings"
        )
