"""Speculative decoding: the draft model's options, how each engine is told of them, and
the memory estimate counting the draft."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from catalog import LocalModel
from engines.errors import UnsupportedOptionError
from engines.llamacpp import LlamaCppEngine, LlamaCppOptions
from engines.vllm import VllmOptions
from engines.vllm.adapter import serve_args
from profiles import EngineSettings, Locations, Settings
from storage import Store
from tests.gguf_files import TinyModel, write_tiny_gguf
from workflows.launching import Launcher, LaunchOrder

MODEL = LocalModel(id="m", path=Path("/models/m.gguf"), sha256="0" * 64, size_bytes=1, origin="f")


def engine(tmp_path: Path, *, llama_server: bool = True) -> LlamaCppEngine:
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    settings = EngineSettings(llama_server_path=fake, prefer_llama_server=llama_server)
    return LlamaCppEngine(settings, Locations(tmp_path, tmp_path, tmp_path))


def after(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_draft_and_its_limits_become_llama_servers_flags(tmp_path: Path) -> None:
    options = LlamaCppOptions(
        draft_model="/models/d.gguf", draft_max=8, draft_min=2, draft_p_min=0.5,
        draft_gpu_layers="all",
    )  # fmt: skip
    argv = engine(tmp_path).launch_spec(MODEL, "m", options, 9999).argv
    assert after(argv, "--spec-type") == "draft-simple", "without it llama-server drafts nothing"
    assert after(argv, "--spec-draft-model") == "/models/d.gguf"
    assert after(argv, "--spec-draft-n-max") == "8" and after(argv, "--spec-draft-n-min") == "2"
    assert after(argv, "--spec-draft-p-min") == "0.5"
    assert after(argv, "--spec-draft-ngl") == "all"


def test_without_a_draft_no_speculative_flag_is_passed(tmp_path: Path) -> None:
    argv = engine(tmp_path).launch_spec(MODEL, "m", LlamaCppOptions(), 9999).argv
    assert not [arg for arg in argv if arg.startswith("--spec")]


def test_unset_limits_keep_llama_servers_defaults(tmp_path: Path) -> None:
    options = LlamaCppOptions(draft_model="/models/d.gguf")
    argv = engine(tmp_path).launch_spec(MODEL, "m", options, 9999).argv
    assert [arg for arg in argv if arg.startswith("--spec")] == [
        "--spec-type",
        "--spec-draft-model",
    ]


@pytest.mark.parametrize(
    "limit", [{"draft_max": 4}, {"draft_min": 1}, {"draft_p_min": 0.2}, {"draft_gpu_layers": 0}]
)
def test_a_draft_limit_without_a_draft_is_refused(limit: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match=f"{next(iter(limit))} needs draft_model"):
        LlamaCppOptions.model_validate(limit)


def test_the_python_server_and_export_refuse_a_draft(tmp_path: Path) -> None:
    options = LlamaCppOptions(draft_model="/models/d.gguf")
    python = engine(tmp_path, llama_server=False)
    if python.runtime() == "llama_cpp.server":
        with pytest.raises(UnsupportedOptionError, match="draft model"):
            python.launch_spec(MODEL, "m", options, 9999)
    with pytest.raises(UnsupportedOptionError, match="draft model"):
        engine(tmp_path).container(MODEL, "m", options, 0)


def test_vllm_gets_one_speculative_config_json() -> None:
    options = VllmOptions(speculative_model="org/draft", num_speculative_tokens=5)
    args = serve_args("org/model", "m", options, "127.0.0.1", 8000)
    config = json.loads(after(tuple(args), "--speculative-config"))
    assert config == {"model": "org/draft", "num_speculative_tokens": 5}
    plain = serve_args("org/model", "m", VllmOptions(), "127.0.0.1", 8000)
    assert "--speculative-config" not in plain


def test_vllm_drafts_three_tokens_unless_told() -> None:
    config = VllmOptions(speculative_model="org/draft").speculative_config()
    assert config == {"model": "org/draft", "num_speculative_tokens": 3}


def test_vllm_refuses_draft_tokens_without_a_draft() -> None:
    with pytest.raises(ValidationError, match="num_speculative_tokens needs speculative_model"):
        VllmOptions(num_speculative_tokens=4)


@pytest.fixture
def launcher(home: Path) -> Launcher:
    locations = Locations.from_env()
    locations.store_path.parent.mkdir(parents=True, exist_ok=True)
    return Launcher(Settings(), locations, Store(locations.store_path))


def test_the_estimate_counts_the_drafts_weights_and_kv(launcher: Launcher, tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "main.gguf", TinyModel(n_ctx=2048))
    draft = write_tiny_gguf(tmp_path / "draft.gguf", TinyModel(n_ctx=2048))
    alone = launcher.plan(LaunchOrder(str(model), options={"ctx_size": 1024}), remote=False)
    order = LaunchOrder(str(model), options={"ctx_size": 1024, "draft_model": str(draft)})
    both = launcher.plan(order, remote=False)
    assert alone.memory.bytes is not None and both.memory.bytes is not None
    parallel = alone.resolution.options["parallel"]
    kv_per_token = 2 * 2 * TinyModel().n_layers * TinyModel().n_kv_heads * TinyModel().head_dim
    kv = kv_per_token * 1024 * parallel
    assert both.memory.bytes - alone.memory.bytes == draft.stat().st_size + kv
    assert "draft draft.gguf: " in both.memory.basis
    assert f"KV at {1024 * parallel} tokens" in both.memory.basis
