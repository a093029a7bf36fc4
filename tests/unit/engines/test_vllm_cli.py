"""Every `vllm serve` command line hostbench renders, parsed by vLLM's own parser.

vLLM cannot serve on the CPU-only test machine, but it installs there, and its parser,
argument checks and parallel/cache configs run without a GPU. These tests render command
lines with hostbench's code and hand them to tests/vllm_cli_probe.py, run by an interpreter
that has vLLM: this one if vLLM is importable here, else the one named by
HOSTBENCH_VLLM_PYTHON (vLLM and its CUDA libraries are several GB: keep them in their own
venv). `make check-vllm` runs them; without vLLM they skip, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from app.cli.commands.launch import build_parser
from app.cli.options import given_options
from catalog import LocalModel, load_catalog
from engines.vllm import VllmEngine, VllmOptions
from engines.vllm.adapter import serve_args
from profiles import Locations
from profiles.library import ProfileLibrary
from profiles.planning import plan_options
from tests.unit.catalog.conftest import machine

pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "tests" / "vllm_cli_probe.py"
PYTHON_ENV = "HOSTBENCH_VLLM_PYTHON"
MODEL = "Qwen/Qwen2.5-7B-Instruct"

ENVIRONMENT = {"engine_api_key", "ray_address", "gpus"}
SPECULATIVE = {"speculative_model", "num_speculative_tokens"}
RENDERED = frozenset(VllmOptions.model_fields) - ENVIRONMENT - SPECULATIVE
"""Options that become `vllm serve` flags, under the same name as vLLM's argument dest.
ENVIRONMENT go into the engine's environment: VLLM_API_KEY, RAY_ADDRESS and
CUDA_VISIBLE_DEVICES/HIP_VISIBLE_DEVICES (test_secrets_stay_off_the_command_line);
SPECULATIVE become one JSON value, vLLM's `speculative_config`."""

BASE_CASES: dict[str, VllmOptions] = {
    "defaults": VllmOptions(tensor_parallel_size=1),
    "tensor-parallel-awq-fp8-kv-prefix-cache": VllmOptions(
        tensor_parallel_size=4, quantization="awq_marlin", kv_cache_dtype="fp8_e4m3",
        enable_prefix_caching=True, max_model_len=32768, gpu_memory_utilization=0.85,
    ),
    "pipeline-and-data-parallel": VllmOptions(
        tensor_parallel_size=2, pipeline_parallel_size=2, data_parallel_size=2,
        distributed_executor_backend="mp", max_num_seqs=128, max_num_batched_tokens=8192,
        dtype="bfloat16", enable_prefix_caching=False,
    ),
    "ray-backend": VllmOptions(
        tensor_parallel_size=4, pipeline_parallel_size=2, ray_address="10.0.0.1:6379",
        max_model_len=8192, gpu_memory_utilization=0.95,
    ),
    "remote-code-eager-gptq": VllmOptions(
        tensor_parallel_size=1, quantization="gptq", dtype="float16", kv_cache_dtype="fp8",
        trust_remote_code=True, enforce_eager=True, max_model_len=4096,
    ),
    "fp8-everything-set": VllmOptions(
        tensor_parallel_size=8, pipeline_parallel_size=1, data_parallel_size=1,
        gpu_memory_utilization=0.5, max_model_len=131072, max_num_seqs=1,
        max_num_batched_tokens=131072, dtype="auto", quantization="fp8",
        kv_cache_dtype="fp8_e5m2", enable_prefix_caching=True,
        distributed_executor_backend="ray", trust_remote_code=True, enforce_eager=True,
    ),
    "draft-model": VllmOptions(
        tensor_parallel_size=1, speculative_model="Qwen/Qwen2.5-0.5B-Instruct",
        num_speculative_tokens=5,
    ),
    "draft-model-default-tokens": VllmOptions(
        tensor_parallel_size=1, speculative_model="Qwen/Qwen2.5-0.5B-Instruct",
    ),
}  # fmt: skip


def literal_values(name: str) -> tuple[str, ...]:
    """The string choices hostbench declares for option `name` (none for plain numbers)."""
    annotation = VllmOptions.model_fields[name].annotation
    found: list[str] = []
    for member in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(member) is typing.Literal:
            found += [v for v in typing.get_args(member) if isinstance(v, str)]
    return tuple(found)


LITERAL_OPTIONS = ("dtype", "quantization", "kv_cache_dtype", "distributed_executor_backend")


def literal_cases() -> dict[str, VllmOptions]:
    """Every declared choice of the options vLLM takes as strings, one command line each."""
    return {
        f"{name}={value}": VllmOptions.model_validate({"tensor_parallel_size": 1, name: value})
        for name in LITERAL_OPTIONS
        for value in literal_values(name)
    }


CASES = {**BASE_CASES, **literal_cases()}


def readme_multinode_argv() -> list[str]:
    """The `hostbench launch` flags of the README's multi-node example (after MODEL)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    found = re.search(r"hostbench launch (llama-\S+ --engine vllm \\\n[^\n]*--ray-address[^\n]*)",
                      readme)  # fmt: skip
    assert found, "README: the multi-node example (--ray-address) is gone"
    text = found.group(1).replace("\\\n", " ").replace("<head-ip>", "10.0.0.1")
    return shlex.split(text)


def readme_multinode_options() -> VllmOptions:
    namespace = build_parser(VllmEngine()).parse_args(readme_multinode_argv())
    return VllmOptions.model_validate(given_options(namespace))


def auto_layout_options(tmp_path: Path) -> VllmOptions:
    """What `--tensor-parallel-size auto` decides for Llama 3.3 70B on 8 x H100 (replayed)."""
    engine = VllmEngine(locations=Locations(tmp_path, tmp_path, tmp_path))
    snapshot = machine("h100_x8_repeated")
    resolution = plan_options(
        None, None, given={"tensor_parallel_size": "auto", "max_model_len": 16384},
        defaults=VllmOptions().model_dump(), library=ProfileLibrary.load(), snapshot=snapshot,
        keys=None, engine_id="vllm",
    )  # fmt: skip
    model = engine.locate_model("llama-3.3-70b-instruct", load_catalog(), {})
    assert model is not None
    engine.memory_plan(model, VllmOptions.model_validate(resolution.options), resolution, snapshot)
    return VllmOptions.model_validate(resolution.options)


def vllm_python() -> str | None:
    """The interpreter with vLLM; a name in HOSTBENCH_VLLM_PYTHON that is not one fails
    (asked for, so not skipped)."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        if not os.access(named, os.X_OK) or Path(named).is_dir():
            pytest.fail(f"{PYTHON_ENV}={named} is not an executable Python interpreter")
        return named
    return sys.executable if importlib.util.find_spec("vllm") is not None else None


def command_lines(tmp_path: Path) -> dict[str, tuple[list[str], VllmOptions]]:
    """name -> (argv after `vllm`, the options it renders), for every case."""
    lines = {
        name: (serve_args(MODEL, "qwen", options, "127.0.0.1", 8100), options)
        for name, options in CASES.items()
    }
    container = VllmEngine().container(
        LocalModel("qwen", Path(MODEL), "", 0, f"hf-repo:{MODEL}"), "qwen", CASES["ray-backend"], 8
    )
    lines["container"] = (["serve", *container.args], CASES["ray-backend"])
    readme = readme_multinode_options()
    lines["readme-multinode"] = (
        serve_args("meta-llama/Llama-3.3-70B-Instruct", "llama", readme, "127.0.0.1", 8100),
        readme,
    )
    auto = auto_layout_options(tmp_path)
    lines["auto-layout-8xh100"] = (serve_args(MODEL, "qwen", auto, "127.0.0.1", 8100), auto)
    return lines


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """vLLM's answer for every command line (one interpreter start: vLLM imports slowly)."""
    python = vllm_python()
    if python is None:
        pytest.skip(
            f"vLLM is not importable here and {PYTHON_ENV} is unset: `make check-vllm` "
            "(README, vLLM) runs these against a vLLM in its own venv"
        )
    lines = command_lines(tmp_path_factory.mktemp("vllm"))
    request = json.dumps({"argvs": [argv for argv, _ in lines.values()]})
    done = subprocess.run(
        [python, str(PROBE)],
        input=request,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{python} {PROBE} failed:\n{done.stderr[-3000:]}"
    answer = json.loads(done.stdout)
    answer["cases"] = dict(zip(lines, zip(lines.values(), answer["results"], strict=True),
                               strict=True))  # fmt: skip
    return answer


def expected_args(options: VllmOptions) -> dict[str, object]:
    """What vLLM's namespace should hold for each rendered option."""
    values: dict[str, object] = {name: getattr(options, name) for name in RENDERED}
    values["data_parallel_size"] = options.data_parallel_size or 1
    values["distributed_executor_backend"] = options.backend
    values["speculative_config"] = options.speculative_config()
    return values


def test_every_option_is_rendered_or_goes_to_the_environment() -> None:
    assert set(VllmOptions.model_fields) == RENDERED | ENVIRONMENT | SPECULATIVE


@pytest.mark.parametrize("name", [*CASES, "container", "readme-multinode", "auto-layout-8xh100"])
def test_vllm_parses_the_command_line_as_meant(parsed: dict[str, Any], name: str) -> None:
    (argv, options), result = parsed["cases"][name]
    assert result["ok"], f"vLLM {parsed['version']} rejects {shlex.join(argv)}: {result['error']}"
    args, configs = result["args"], result["configs"]
    assert args["subparser"] == "serve" and args["model"] == argv[1]
    assert args["served_model_name"] == [argv[argv.index("--served-model-name") + 1]]
    assert args["port"] == int(argv[argv.index("--port") + 1])
    got = {name: args[name] for name in expected_args(options)}
    assert got == expected_args(options)
    tensor, pipeline = options.tensor_parallel_size, options.pipeline_parallel_size
    assert isinstance(tensor, int)
    assert configs["world_size"] == tensor * pipeline
    assert configs["world_size_across_dp"] == tensor * pipeline * (options.data_parallel_size or 1)
    assert configs["cache_dtype"] == options.kv_cache_dtype
    if options.backend is not None:
        assert configs["distributed_executor_backend"] == options.backend


@pytest.mark.parametrize("option", LITERAL_OPTIONS)
def test_every_declared_choice_is_one_vllm_accepts(parsed: dict[str, Any], option: str) -> None:
    """vLLM's flags for these take any string; its config types say what it accepts."""
    accepted = set(parsed["literals"][option])
    assert set(literal_values(option)) <= accepted, (
        f"vLLM {parsed['version']} does not accept {set(literal_values(option)) - accepted}"
    )


def test_the_readme_multinode_example_runs_on_the_ray_cluster(parsed: dict[str, Any]) -> None:
    (argv, options), result = parsed["cases"]["readme-multinode"]
    assert result["configs"]["distributed_executor_backend"] == "ray"
    assert (options.tensor_parallel_size, options.pipeline_parallel_size) == (8, 2)
    assert result["configs"]["world_size"] == 16
    engine = VllmEngine()
    engine.executable = lambda: ["vllm"]  # type: ignore[method-assign]
    model = LocalModel("llama", Path("m"), "", 0, "hf-repo:meta-llama/Llama-3.3-70B-Instruct")
    spec = engine.launch_spec(model, "llama", options, 8100)
    assert spec.env["RAY_ADDRESS"] == "10.0.0.1:6379", "Ray's own variable: ray.init reads it"
    assert list(spec.argv[1:]) == argv


def test_vllm_allows_no_web_page_by_default(parsed: dict[str, Any]) -> None:
    """hostbench passes no CORS flags: vLLM 0.33 allows no browser origin unless told
    (`--allowed-origins`; its own help: "Cross-origin browser access is disabled by
    default"), which with VLLM_API_KEY keeps web pages off the engine (README "Security").
    A vLLM that flips this default fails here."""
    _, result = parsed["cases"]["defaults"]
    assert result["args"]["allowed_origins"] == []


def test_the_auto_layout_reaches_vllm(parsed: dict[str, Any]) -> None:
    (_, options), result = parsed["cases"]["auto-layout-8xh100"]
    assert (options.tensor_parallel_size, options.data_parallel_size) == (2, 4)
    assert result["args"]["data_parallel_size"] == 4
    assert result["configs"]["world_size_across_dp"] == 8
