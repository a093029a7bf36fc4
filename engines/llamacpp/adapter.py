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

from catalog import CatalogError, LocalModel, read_gguf_info
from engines.base import (
    Availability,
    ContainerSpec,
    EngineAdapter,
    EngineOptions,
    LaunchSpec,
    OffloadCheck,
)
from engines.errors import EngineUnavailableError, UnsupportedOptionError
from engines.llamacpp import build
from engines.llamacpp.devices import no_backend, server_offload_check, unasked
from engines.llamacpp.options import LlamaCppOptions
from hardware import physical_core_count
from profiles.resolver import UNQUANTIZED_CACHE

LLAMA_SERVER = "llama-server"
LLAMA_SERVER_APIS = frozenset(
    ("/v1/messages", "/v1/messages/count_tokens", "/v1/responses", "/tokenize", "/detokenize")
)
"""What llama-server answers beyond the OpenAI core (its tools/server/server.cpp routes);
`/v1/rerank` only when launched with --reranking."""
PYTHON_SERVER = "llama_cpp.server"
IMAGE_CPU = "ghcr.io/ggml-org/llama.cpp:server"
IMAGE_CUDA = "ghcr.io/ggml-org/llama.cpp:server-cuda"
"""The llama.cpp project's own server images (README "Docker" section)."""
CONTAINER_PORT = 8080
MODELS_MOUNT = "/models"
SPLIT_MODE_NUMBERS = {"none": 0, "layer": 1, "row": 2, "tensor": 3}
"""llama.h's enum llama_split_mode, which llama-cpp-python's server takes as a number."""


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

    def offload_check(self) -> OffloadCheck:
        """Asked of the program that will serve, not of the machine: a llama-server the
        user supplied (settings or PATH) may be a CPU-only build on a Mac."""
        try:
            runtime = self.runtime()
        except EngineUnavailableError:
            return OffloadCheck()  # the launch itself reports that nothing can run
        if runtime == PYTHON_SERVER:
            return _python_offload_check()
        assert self.llama_server is not None
        return server_offload_check(self.llama_server, self.locations.build_dir)

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
            native = LLAMA_SERVER_APIS | ({"/v1/rerank"} if options.reranking else set())
        else:
            _check_python_server(model, options)
            argv = self._python_server_argv(model, served_name, options, port)
            health, token_count, native = "/v1/models", "/extras/tokenize/count", frozenset()
        return LaunchSpec(
            argv=tuple(argv),
            port=port,
            health_path=health,
            runtime=runtime,
            context_limit=options.ctx_size,
            env=_engine_env(options),
            supports_embeddings=options.embeddings,
            token_count_path=token_count,
            metrics_path="/metrics" if runtime == LLAMA_SERVER else None,
            slots=options.slots if runtime == LLAMA_SERVER else 1,
            liveness_path=None if runtime == LLAMA_SERVER else "/openapi.json",
            whole_answers_streamed=runtime == LLAMA_SERVER,
            native_endpoints=frozenset(native),
            vocab_size=_vocab_size(model) if runtime == LLAMA_SERVER else None,
            key_env="LLAMA_API_KEY" if runtime == LLAMA_SERVER else "API_KEY",
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
            *(["--reranking"] if options.reranking else []),
            *_memory_flags(options),
            *draft_flags(options),
        ]

    def container(
        self, model: LocalModel, served_name: str, options: EngineOptions, gpus: int
    ) -> ContainerSpec:
        """The official llama.cpp server image (CUDA build when GPUs are asked for); the
        model comes from Hugging Face where it has a repo there, else from a volume."""
        assert isinstance(options, LlamaCppOptions)
        if options.draft_model is not None:
            raise UnsupportedOptionError(
                "export does not carry a draft model: export without --draft-model"
            )
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
        args += ["--reranking"] if options.reranking else []
        return ContainerSpec(
            image=IMAGE_CUDA if gpus else IMAGE_CPU,
            command=(),
            args=(*args, *_memory_flags(options)),
            port=CONTAINER_PORT,
            health_path="/health",
            env=_engine_env(options),
            gpus=gpus,
            model_volume=volume,
            key_env="LLAMA_API_KEY",
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
            str(_python_flash_attn(options)),
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
            *_python_split_flags(options),
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
    args += ["--ctx-size", str(options.ctx_size * options.slots)]
    args += ["--parallel", str(options.slots), "--n-gpu-layers", str(options.n_gpu_layers)]
    if threads is not None:
        args += ["--threads", str(threads[0]), "--threads-batch", str(threads[1])]
    args += ["--batch-size", str(options.batch_size), "--ubatch-size", str(options.ubatch_size)]
    args += ["--flash-attn", options.flash_attn]
    args += ["--cache-type-k", options.cache_type_k, "--cache-type-v", options.cache_type_v]
    args += ["--poll", str(options.poll), *split_flags(options)]
    return [*args, "--metrics", "--no-webui"]


def split_flags(options: LlamaCppOptions) -> list[str]:
    """llama-server's multi-GPU flags, only where they differ from its defaults (a CPU build
    warns about each one it is given)."""
    flags = [] if options.split_mode == "layer" else ["--split-mode", options.split_mode]
    flags += ["--tensor-split", options.tensor_split] if options.tensor_split else []
    return flags + (["--main-gpu", str(options.main_gpu)] if options.main_gpu else [])


def _python_flash_attn(options: LlamaCppOptions) -> bool:
    """llama-cpp-python's server takes flash attention as on or off: `auto` is off there,
    except with a quantized V cache, which needs it (llama-server's `auto` turns it on
    where the device can)."""
    if options.flash_attn == "auto":
        return options.cache_type_v not in UNQUANTIZED_CACHE
    return options.flash_attn == "on"


def _python_split_flags(options: LlamaCppOptions) -> list[str]:
    """The same for llama-cpp-python's server: an integer mode, shares as separate values."""
    flags = []
    if options.split_mode != "layer":
        flags += ["--split_mode", str(SPLIT_MODE_NUMBERS[options.split_mode])]
    shares = options.split_fractions()
    flags += ["--tensor_split", *(f"{s:g}" for s in shares)] if shares else []
    return flags + (["--main_gpu", str(options.main_gpu)] if options.main_gpu else [])


DRAFT_FLAGS = {
    "draft_max": "--spec-draft-n-max",
    "draft_min": "--spec-draft-n-min",
    "draft_p_min": "--spec-draft-p-min",
    "draft_gpu_layers": "--spec-draft-ngl",
}
"""llama-server's names for the draft's limits (its `--help`, "speculative params"; the
older --draft-max and --draft-min are refused by it now)."""


def draft_flags(options: LlamaCppOptions) -> list[str]:
    """Speculative decoding with the draft model: llama-server loads a `--spec-draft-model`
    but drafts nothing unless `--spec-type draft-simple` asks it to (checked on b1-0c1e570).
    Limits left unset keep llama-server's defaults."""
    if options.draft_model is None:
        return []
    flags = ["--spec-type", "draft-simple", "--spec-draft-model", options.draft_model]
    for name, flag in DRAFT_FLAGS.items():
        value = getattr(options, name)
        flags += (
            []
            if value is None
            else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        )
    return flags


def _engine_env(options: LlamaCppOptions) -> dict[str, str]:
    """The GPU pinning, and the OpenMP spin where one is asked: llama.cpp builds with
    OpenMP, and its workers then wait in libgomp, which reads GOMP_SPINCOUNT once at load
    (llama.cpp's own KMP_BLOCKTIME is LLVM's and libgomp ignores it); unset, libgomp's own
    default stands (docs/benchmarks.md, "The engine's OpenMP workers")."""
    spins = options.omp_spin_count
    return options.pinning_env() | ({} if spins is None else {"GOMP_SPINCOUNT": str(spins)})


def _memory_flags(options: LlamaCppOptions) -> list[str]:
    return (["--mlock"] if options.mlock else []) + ([] if options.mmap else ["--no-mmap"])


def _python_offload_check() -> OffloadCheck:
    where = f"llama-cpp-python in {sys.executable}"
    try:
        offloads = _python_gpu_offload()
    except (ImportError, OSError, AttributeError) as error:
        return OffloadCheck(note=unasked(where, str(error)))
    return OffloadCheck() if offloads else OffloadCheck(refusal=no_backend(where))


def _python_gpu_offload() -> bool:
    """Whether the installed llama-cpp-python was built with a GPU backend."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def _ggml_type(name: str) -> str:
    import llama_cpp

    return str(getattr(llama_cpp, f"GGML_TYPE_{name.upper()}"))


def _vocab_size(model: LocalModel) -> int | None:
    try:
        info = read_gguf_info(model.path)
    except (OSError, ValueError, CatalogError):
        return None
    return info.n_tokens or info.vocab_size


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


def _check_python_server(model: LocalModel, options: LlamaCppOptions) -> None:
    """llama-cpp-python's server cannot rerank, nor choose a pooling: for a model without
    one it would answer per-token vectors, which no OpenAI client expects. Refuse up front."""
    if options.draft_model is not None:
        raise UnsupportedOptionError(
            "llama-cpp-python's server cannot use a draft model; serve the model with "
            "llama-server (the default when built) for speculative decoding"
        )
    if options.reranking:
        raise UnsupportedOptionError(
            "llama-cpp-python's server cannot rerank; serve the model with llama-server "
            "(the default when built) to get /v1/rerank"
        )
    if options.embeddings and _model_pooling(model) is None:
        raise UnsupportedOptionError(
            f"{model.id} has no pooling of its own, and llama-cpp-python's server cannot "
            "pool its embeddings; serve it with llama-server (the default when built) to "
            "get /v1/embeddings"
        )
