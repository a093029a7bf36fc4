"""The catalog, fit, profiles and rm commands, through `app.cli.main` and once each as a
real subprocess. Fits use this machine or a snapshot holding a recorded GPU reading."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import hardware
from app.cli import main
from errors import ExitCode
from tests.gguf_files import write_tiny_gguf
from tests.servers import run_cli
from tests.unit.hardware.conftest import replay_backend, snapshot_file


@pytest.fixture
def rtx5090(tmp_path: Path) -> Path:
    """A machine snapshot whose GPU is the recorded RTX 5090 reading."""
    snapshot = hardware.discover(backends=[replay_backend("one_gpu_rtx5090")])
    return snapshot_file(tmp_path, snapshot, "rtx5090.json")


def json_out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == ExitCode.OK
    return json.loads(capsys.readouterr().out)


def test_catalog_search_and_fits(home: Path, capsys, rtx5090: Path) -> None:
    rows = json_out(capsys, ["catalog", "--search", "qwen3", "--json"])
    assert {r["id"] for r in rows} >= {"qwen3-8b", "qwen3-30b-a3b"}
    assert all("qwen3" in r["id"] for r in rows)
    gpu = json_out(capsys, ["catalog", "--fits", "--json", "--machine", str(rtx5090)])
    by_id = {r["id"]: r for r in gpu}
    assert by_id["qwen3-8b"]["best"] == "Q8_0: full GPU"
    assert by_id["llama-3.3-70b-instruct"]["best"].endswith("partial offload")
    assert "gpt-oss-120b" not in by_id


def test_fit_on_a_recorded_gpu(home: Path, capsys, rtx5090: Path) -> None:
    argv = ["fit", "qwen3-8b", "--ctx", "8192", "--no-remote", "--json", "--machine", str(rtx5090)]
    report = json_out(capsys, argv)
    assert report["verdict"] == "full GPU" and report["n_gpu_layers"] == 37
    assert report["exact"] is False and "nominal" in report["source"]
    assert report["largest_context"] == 40960 and report["best_quant"]["quant"] == "Q8_0"
    partial = json_out(capsys, [*argv[:1], "llama-3.3-70b-instruct", *argv[2:]])
    assert partial["verdict"] == "partial offload" and 0 < partial["n_gpu_layers"] < 80


def test_fit_of_a_local_file_reads_its_header(home: Path, tmp_path: Path, capsys) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    report = json_out(capsys, ["fit", str(path), "--ctx", "2048", "--kv-type", "q8_0", "--json"])
    assert report["exact"] and report["verdict"] == "CPU only"
    assert report["options"]["type_k"] == "q8_0" and report["trained_context"] == 2048


def test_fit_counts_the_micro_batch_the_launch_uses(home: Path, capsys, rtx5090: Path) -> None:
    """Compute buffers scale with the micro-batch: the cpu profile's 64 needs less than
    llama.cpp's 512, and `fit --ubatch-size` says how much."""
    argv = ["fit", "qwen3-8b", "--ctx", "8192", "--no-remote", "--json", "--machine", str(rtx5090)]
    default = json_out(capsys, argv)
    small = json_out(capsys, [*argv, "--ubatch-size", "64"])
    assert default["options"]["n_ubatch"] == 512 and small["options"]["n_ubatch"] == 64
    assert (
        small["cpu_only_estimate"]["compute_bytes"] < default["cpu_only_estimate"]["compute_bytes"]
    )
    assert small["text"]["options"].endswith(", micro-batch 64")
    assert "micro-batch" not in default["text"]["options"]


@pytest.mark.parametrize("flag", ["--ctx", "--parallel", "--ubatch-size", "--users"])
def test_fit_refuses_a_count_below_one(home: Path, capsys, flag: str) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["fit", "qwen3-8b", flag, "0"])
    assert refused.value.code == ExitCode.USAGE
    assert f"argument {flag}: '0' is not a whole number above 0" in capsys.readouterr().err


def test_unknown_model_and_profile_exit_not_found(home: Path, capsys) -> None:
    assert main(["fit", "qwen9-1b"]) == ExitCode.NOT_FOUND
    assert main(["profiles", "show", "turbo"]) == ExitCode.NOT_FOUND
    assert "no profile 'turbo'" in capsys.readouterr().err


def test_profiles_list_and_show(home: Path, capsys, rtx5090: Path) -> None:
    rows = json_out(capsys, ["profiles", "--json", "--machine", str(rtx5090)])
    assert [r["name"] for r in rows if r["here"]] == ["gpu-24gb"]
    shown = json_out(capsys, ["profiles", "show", "latency", "--json", "--machine", str(rtx5090)])
    assert shown["chain"] == ["gpu-24gb", "latency"] and shown["engine_check"] == "ok"
    user = home / "config" / "profiles"
    user.mkdir(parents=True)
    (user / "bad.toml").write_text('name = "bad"\n[engine]\nctx_size = 1\n')
    checked = json_out(capsys, ["profiles", "show", "bad", "--json"])
    assert "ctx_size" in checked["engine_check"]


def test_rm_never_deletes_a_file_you_registered(home: Path, tmp_path: Path, capsys) -> None:
    path = write_tiny_gguf(tmp_path / "mine.gguf")
    from catalog import LocalModels, register_file
    from storage import Store

    registry = LocalModels(Store(home / "data" / "hostbench.sqlite"))
    model = register_file(path, registry)
    done = json_out(capsys, ["rm", model.id, "--json"])
    assert done == {"id": model.id, "deleted": [], "kept_because": "hostbench did not create it"}
    assert path.exists() and registry.get(model.id) is None
    assert main(["rm", model.id]) == ExitCode.NOT_FOUND


def test_commands_run_as_programs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    listed = run_cli(home, "catalog", "--search", "smollm2")
    assert listed.returncode == 0 and "smollm2-135m-instruct" in listed.stdout
    fitted = run_cli(home, "fit", "qwen3-8b", "--no-remote")
    assert fitted.returncode == 0 and "largest context that fits" in fitted.stdout
    assert "estimated from catalog facts" in fitted.stderr
    shown = run_cli(home, "profiles", "show", "throughput")
    assert shown.returncode == 0 and "cache_type_k" in shown.stdout
    missing = run_cli(home, "rm", "nothing-here")
    assert missing.returncode == ExitCode.NOT_FOUND and missing.stderr.startswith("error: ")


def test_launch_dry_run_explains_and_refuses(home: Path, tmp_path: Path, capsys) -> None:
    path = str(write_tiny_gguf(tmp_path / "tiny.gguf"))
    plan = json_out(capsys, ["launch", path, "--dry-run", "--json", "--profile", "latency"])
    assert plan["profile"] == ["cpu", "latency"] and plan["refusal"] is None
    assert plan["options"]["parallel"] == 1 and plan["reasons"]["parallel"] == "profile latency"
    assert plan["options"]["ctx_size"] == 2048
    assert plan["reasons"]["ctx_size"].startswith("the model's trained context")
    assert plan["options"]["n_gpu_layers"] == 0 and plan["reasons"]["n_gpu_layers"] == "profile cpu"
    huge = ["--ctx-size", str(1 << 20), "--parallel", "256"]
    assert main(["launch", path, "--dry-run", *huge]) == ExitCode.DOES_NOT_FIT
    assert "would not launch" in capsys.readouterr().err
    from engines.process import free_port

    refused = main(["launch", path, *huge, "--port", str(free_port())])
    assert refused == ExitCode.DOES_NOT_FIT
    assert "does not fit at ctx_size=1048576" in capsys.readouterr().err


def test_launch_dry_run_as_a_program(tmp_path: Path) -> None:
    path = str(write_tiny_gguf(tmp_path / "tiny.gguf"))
    done = run_cli(tmp_path / "home", "launch", path, "--dry-run", "--ctx-size", "1024")
    assert done.returncode == 0, done.stderr
    assert "profile: cpu (matches this machine)" in done.stdout
    assert re.search(r"^ctx_size +1024 +given on the command line$", done.stdout, re.M)
