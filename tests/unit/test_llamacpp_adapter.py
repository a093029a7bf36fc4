"""How llama.cpp options become command lines for each runtime."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from catalog import LocalModel
from engines.base import with_access_key
from engines.errors import UnsupportedOptionError
from engines.llamacpp import LlamaCppEngine, LlamaCppOptions
from engines.llamacpp.adapter import LLAMA_SERVER, PYTHON_SERVER
from hardware import physical_core_count
from profiles import EngineSettings, Locations

MODEL = LocalModel(
    id="m:Q4_1", path=Path("/models/m.gguf"), sha256="0" * 64, size_bytes=1, origin="file"
)


def flag(argv: tuple[str, ...], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.fixture
def python_engine(tmp_path: Path) -> LlamaCppEngine:
    settings = EngineSettings(prefer_llama_server=False)
    return LlamaCppEngine(settings, Locations(tmp_path, tmp_path, tmp_path))


@pytest.fixture
def server_engine(tmp_path: Path) -> LlamaCppEngine:
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    settings = EngineSettings(llama_server_path=fake)
    return LlamaCppEngine(settings, Locations(tmp_path, tmp_path, tmp_path))


def test_llama_server_command(server_engine: LlamaCppEngine) -> None:
    options = LlamaCppOptions(ctx_size=2048, parallel=3, flash_attn="on", mmap=False)
    spec = server_engine.launch_spec(MODEL, "served", options, 9999)
    assert spec.runtime == LLAMA_SERVER and spec.health_path == "/health"
    assert flag(spec.argv, "--ctx-size") == str(2048 * 3), "each slot gets the full context"
    assert flag(spec.argv, "--parallel") == "3"
    assert flag(spec.argv, "--threads") == str(physical_core_count())
    assert flag(spec.argv, "--n-gpu-layers") == "auto"
    assert flag(spec.argv, "--alias") == "served" and flag(spec.argv, "--port") == "9999"
    assert flag(spec.argv, "--host") == "127.0.0.1"
    assert "--no-mmap" in spec.argv and "--metrics" in spec.argv
    assert spec.context_limit == 2048 and spec.token_count_path is None


def test_python_server_command(python_engine: LlamaCppEngine) -> None:
    spec = python_engine.launch_spec(MODEL, "served", LlamaCppOptions(threads=3), 9999)
    assert spec.runtime == PYTHON_SERVER and spec.argv[:3] == (
        sys.executable,
        "-m",
        "llama_cpp.server",
    )
    assert flag(spec.argv, "--interrupt_requests") == "False", "never cut a running stream"
    assert flag(spec.argv, "--n_threads") == "3" and flag(spec.argv, "--n_threads_batch") == "3"
    assert flag(spec.argv, "--n_gpu_layers") == "0", "auto means 0 on a CPU-only build"
    assert flag(spec.argv, "--model_alias") == "served"
    assert spec.token_count_path == "/extras/tokenize/count"


@pytest.mark.parametrize(
    ("runtime", "variable"), [(LLAMA_SERVER, "LLAMA_API_KEY"), (PYTHON_SERVER, "API_KEY")]
)
def test_each_runtime_takes_its_key_from_the_environment(
    server_engine: LlamaCppEngine, python_engine: LlamaCppEngine, runtime: str, variable: str
) -> None:
    """The variable each server reads its API key from (llama.cpp `common/arg.cpp`,
    `--api-key`'s env; llama-cpp-python's `ServerSettings.api_key`, a pydantic setting);
    tests/integration/test_security.py checks that both engines then refuse a keyless
    request."""
    engine = server_engine if runtime == LLAMA_SERVER else python_engine
    spec = with_access_key(engine.launch_spec(MODEL, "served", LlamaCppOptions(), 1), "k" * 64)
    assert spec.runtime == runtime
    assert spec.env[variable] == "k" * 64 and "k" * 64 not in " ".join(spec.argv)
    assert spec.upstream_headers == {"Authorization": "Bearer " + "k" * 64}


def test_threads_default_to_physical_cores_not_half_the_logical(
    python_engine: LlamaCppEngine,
) -> None:
    spec = python_engine.launch_spec(MODEL, "served", LlamaCppOptions(), 1)
    assert flag(spec.argv, "--n_threads") == str(physical_core_count())


def test_a_broken_llama_server_path_falls_back(tmp_path: Path) -> None:
    broken = tmp_path / "llama-server"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    engine = LlamaCppEngine(
        EngineSettings(llama_server_path=broken), Locations(tmp_path, tmp_path, tmp_path)
    )
    assert engine.llama_server is None
    assert engine.availability().runtime == PYTHON_SERVER


def tiny_gguf(path: Path, pooling: int | None) -> LocalModel:
    """A real GGUF header without tensors: enough for what the adapter reads."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    if pooling is not None:
        writer.add_pooling_type(gguf.PoolingType(pooling))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return LocalModel(id="tiny", path=path, sha256="0" * 64, size_bytes=1, origin="file")


def test_embeddings_pool_chat_models_by_mean(server_engine: LlamaCppEngine, tmp_path: Path) -> None:
    chat_model = tiny_gguf(tmp_path / "chat.gguf", pooling=None)
    embedder = tiny_gguf(tmp_path / "embed.gguf", pooling=2)
    options = LlamaCppOptions(embeddings=True)
    chat_argv = server_engine.launch_spec(chat_model, "c", options, 1).argv
    assert flag(chat_argv, "--pooling") == "mean"
    own_argv = server_engine.launch_spec(embedder, "e", options, 1).argv
    assert "--embeddings" in own_argv and "--pooling" not in own_argv
    chosen = LlamaCppOptions(embeddings=True, pooling="last")
    assert flag(server_engine.launch_spec(embedder, "e", chosen, 1).argv, "--pooling") == "last"


def test_python_server_refuses_unpoolable_embeddings(
    python_engine: LlamaCppEngine, tmp_path: Path
) -> None:
    chat_model = tiny_gguf(tmp_path / "chat.gguf", pooling=None)
    with pytest.raises(UnsupportedOptionError, match="cannot pool"):
        python_engine.launch_spec(chat_model, "c", LlamaCppOptions(embeddings=True), 1)
    embedder = tiny_gguf(tmp_path / "embed.gguf", pooling=1)
    spec = python_engine.launch_spec(embedder, "e", LlamaCppOptions(embeddings=True), 1)
    assert spec.supports_embeddings


def test_multi_gpu_flags_only_where_asked(
    server_engine: LlamaCppEngine, python_engine: LlamaCppEngine
) -> None:
    """llama.cpp's defaults (layer split by free memory, GPU 0) render nothing; a CPU build
    warns about each split flag it is given."""
    plain = server_engine.launch_spec(MODEL, "s", LlamaCppOptions(), 9999).argv
    assert not {"--split-mode", "--tensor-split", "--main-gpu"} & set(plain)
    options = LlamaCppOptions(split_mode="row", tensor_split="3,1", main_gpu=1)
    argv = server_engine.launch_spec(MODEL, "s", options, 9999).argv
    assert flag(argv, "--split-mode") == "row"
    assert flag(argv, "--tensor-split") == "3,1"
    assert flag(argv, "--main-gpu") == "1"
    python = python_engine.launch_spec(MODEL, "s", options, 9999).argv
    assert flag(python, "--split_mode") == "2"  # LLAMA_SPLIT_MODE_ROW
    at = python.index("--tensor_split")
    assert python[at + 1 : at + 3] == ("3", "1")
    assert flag(python, "--main_gpu") == "1"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tensor_split": "0,0"}, "at least one share above 0"),
        ({"tensor_split": "3;1"}, "String should match pattern"),
        ({"tensor_split": ",".join(["1"] * 16)}, "fewer than 16 shares"),
        ({"split_mode": "rows"}, "Input should be"),
        ({"main_gpu": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_split_options_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LlamaCppOptions.model_validate(values)


def test_python_server_parses_the_split_flags(python_engine: LlamaCppEngine) -> None:
    """llama-cpp-python's own parser reads what hostbench renders for it."""
    import argparse

    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings

    options = LlamaCppOptions(split_mode="none", tensor_split="2.5,1", main_gpu=1)
    argv = python_engine.launch_spec(MODEL, "s", options, 9999).argv
    at = argv.index("--split_mode")
    parser = argparse.ArgumentParser()
    add_args_from_model(parser, ModelSettings)
    parsed = parse_model_from_args(ModelSettings, parser.parse_args(["--model", "m", *argv[at:]]))
    assert (parsed.split_mode, parsed.tensor_split, parsed.main_gpu) == (0, [2.5, 1.0], 1)


def test_gpu_pinning_sets_each_runtimes_selection(server_engine: LlamaCppEngine) -> None:
    """hostbench numbers GPUs in PCI bus order (NVML, amdsmi); CUDA must be told to as well.
    On ROCm, ROCR_VISIBLE_DEVICES picks the physical GPUs and HIP_VISIBLE_DEVICES counts
    among those, so an inherited HIP_VISIBLE_DEVICES cannot select a second time."""
    assert server_engine.launch_spec(MODEL, "s", LlamaCppOptions(), 1).env == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID"
    }
    env = server_engine.launch_spec(MODEL, "s", LlamaCppOptions(gpus="1,3"), 1).env
    assert env == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "1,3",
        "ROCR_VISIBLE_DEVICES": "1,3",
        "HIP_VISIBLE_DEVICES": "0,1",
    }


def test_the_openmp_spin_count_reaches_the_engine_and_its_container(
    server_engine: LlamaCppEngine, python_engine: LlamaCppEngine
) -> None:
    """libgomp reads GOMP_SPINCOUNT from the environment once, at load; unset, the engine
    keeps libgomp's own default (nothing is added)."""
    spinning = LlamaCppOptions(omp_spin_count=300000)
    for engine in (server_engine, python_engine):
        assert engine.launch_spec(MODEL, "s", spinning, 1).env["GOMP_SPINCOUNT"] == "300000"
        assert "GOMP_SPINCOUNT" not in engine.launch_spec(MODEL, "s", LlamaCppOptions(), 1).env
    assert server_engine.container(MODEL, "s", spinning, 0).env["GOMP_SPINCOUNT"] == "300000"
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        LlamaCppOptions(omp_spin_count=-1)
    with pytest.raises(ValueError, match="less than or equal to 30000000000"):
        LlamaCppOptions(omp_spin_count=10**24)  # libgomp would ignore it, silently
