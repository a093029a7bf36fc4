"""The one launch plan: each value with its true reason, option names from the engine's own
declaration, and the profile library read once per plan and per launch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.fit import FitOptions
from control.requests import absolute_model
from engines.llamacpp.adapter import LlamaCppOptions
from profiles import Locations, Settings
from profiles.library import ProfileLibrary
from profiles.planning import load_library
from profiles.resolver import EstimateKeys, Origin, resolve_options
from storage import Store
from tests.gguf_files import TinyModel, write_tiny_gguf
from tests.unit.catalog.conftest import machine, smollm2
from workflows.launching import Launcher, LaunchOrder

RTX_5090 = "one_gpu_rtx5090"


class CountingLibrary:
    """Reads the profile library as the launcher would, counting the reads."""

    def __init__(self, locations: Locations) -> None:
        self.locations = locations
        self.loads = 0

    def __call__(self) -> ProfileLibrary:
        self.loads += 1
        return load_library(self.locations)


@pytest.fixture
def locations(home: Path) -> Iterator[Locations]:
    found = Locations.from_env()
    profiles = found.config_dir / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "mine.toml").write_text(
        'name = "mine"\nextends = "auto"\n[engine]\nthreads = 2\nctx_size = 8192\n'
    )
    yield found


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A real GGUF header trained for 2048 tokens: a larger context is capped to it."""
    return write_tiny_gguf(tmp_path / "tiny.gguf", TinyModel(n_ctx=2048))


def launcher(locations: Locations, counting: CountingLibrary | None = None) -> Launcher:
    locations.store_path.parent.mkdir(parents=True, exist_ok=True)
    return Launcher(Settings(), locations, Store(locations.store_path), profiles=counting)


def test_each_value_says_where_it_came_from(locations: Locations, model_file: Path) -> None:
    order = LaunchOrder(
        str(model_file), "llama.cpp", {"parallel": 2}, profile="mine",
        given_where="on the command line",
    )  # fmt: skip
    plan = launcher(locations).plan(order, snapshot=machine(RTX_5090), remote=False)
    reasons, options = plan.resolution.reasons, plan.resolution.options
    assert (options["parallel"], reasons["parallel"].origin) == (2, Origin.GIVEN)
    assert reasons["parallel"].text == "given on the command line"
    assert (options["threads"], reasons["threads"].origin) == (2, Origin.PROFILE)
    assert reasons["threads"].text == "profile mine"
    assert reasons["n_gpu_layers"].origin is Origin.ESTIMATE
    assert reasons["n_gpu_layers"].text.startswith("5 of 5: all layers fit")
    assert options["n_gpu_layers"] == 5
    assert (options["ctx_size"], reasons["ctx_size"].origin) == (2048, Origin.MODEL)
    assert reasons["ctx_size"].text == "the model's trained context (profile mine asked 8192)"
    assert (options["batch_size"], reasons["batch_size"].origin) == (2048, Origin.DEFAULT)
    assert reasons["batch_size"].text == "engine default"


def test_options_given_elsewhere_do_not_claim_the_command_line(
    locations: Locations, model_file: Path
) -> None:
    request = LaunchOrder(str(model_file), "llama.cpp", {"parallel": 2})
    plan = launcher(locations).plan(request, snapshot=machine(), remote=False)
    assert plan.resolution.reasons["parallel"].text == "given in the launch request"


def test_a_context_the_memory_cannot_hold_is_shrunk_by_the_estimate() -> None:
    snapshot = machine(ram_gib=1.15)
    profile = ProfileLibrary.load().resolve("cpu", snapshot)
    defaults = {**LlamaCppOptions().model_dump(), "parallel": 1}
    got = resolve_options(
        smollm2(), snapshot, profile, {}, defaults, keys=LlamaCppOptions.estimate_keys
    )
    assert got.reasons["ctx_size"].origin is Origin.ESTIMATE
    assert got.reasons["ctx_size"].text.startswith("the largest context that fits (")


def test_the_estimate_reads_the_engines_own_option_names() -> None:
    """Nothing in the resolver is named after llama.cpp: an engine calling its context
    `max_len` and its offload `layers` gets them read and filled in."""
    keys = EstimateKeys(context="max_len", gpu_layers="layers", parallel="seqs")
    snapshot = machine(RTX_5090)
    profile = ProfileLibrary.load().resolve("cpu", snapshot, "other")
    defaults = {"max_len": 1024, "layers": "auto", "seqs": 1}
    got = resolve_options(smollm2(), snapshot, profile, {}, defaults, keys=keys)
    assert got.report is not None and got.report.options == FitOptions(n_ctx=1024)
    assert got.options["layers"] == 31 and got.reasons["layers"].origin is Origin.ESTIMATE
    assert "ctx_size" not in got.options and "n_gpu_layers" not in got.options
    refused = resolve_options(
        smollm2(), machine(ram_gib=0.01), profile, {"max_len": 8192}, defaults, keys=keys
    )
    assert refused.refusal is not None
    assert (
        "at max_len=8192 x seqs=1" in refused.refusal and "--max-len or --seqs" in refused.refusal
    )


def test_an_engine_naming_no_estimate_keys_gets_its_values_as_layered(
    locations: Locations,
) -> None:
    got = resolve_options(
        smollm2(), machine(), ProfileLibrary.load().resolve("cpu", machine()), {}, {"x": 1},
        keys=None,
    )  # fmt: skip
    assert got.report is None and got.notes == ("no memory estimate for this engine",)
    assert got.reasons["x"].origin is Origin.DEFAULT


def test_a_plan_reads_the_profile_library_once(locations: Locations, model_file: Path) -> None:
    counting = CountingLibrary(locations)
    launcher(locations, counting).plan(LaunchOrder(str(model_file)), remote=False)
    assert counting.loads == 1


def test_preparing_a_launch_reads_the_profile_library_once(
    locations: Locations, model_file: Path
) -> None:
    counting = CountingLibrary(locations)
    prepared = launcher(locations, counting).prepare(LaunchOrder(str(model_file), profile="mine"))
    assert counting.loads == 1
    assert prepared.options.model_dump()["threads"] == 2


def test_names_known_before_resolving_leave_out_a_paths_model_id() -> None:
    assert LaunchOrder("SmolLM2-135M-Instruct", aliases=("a",)).known_names() == (
        "smollm2-135m-instruct",
        "a",
    )
    assert LaunchOrder("/models/x.gguf").known_names() == ()
    assert LaunchOrder("/models/x.gguf", name="x").known_names() == ("x",)
    assert LaunchOrder("hf:org/repo/x-q8_0.gguf").known_names() == ()


def test_a_hub_file_is_sent_as_typed_and_a_path_made_absolute() -> None:
    hub = "hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q8_0.gguf"
    assert absolute_model(hub) == hub, "not a path under the working directory"
    assert absolute_model("org/name") == "org/name", "a Hub repo id for vLLM"
    assert absolute_model("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert absolute_model("./x.gguf") == str(Path.cwd() / "x.gguf")


def test_launch_idle_ttl_reaches_the_control_apis_body() -> None:
    from app.cli.commands.launch import _order, build_parser
    from engines.registry import load_engine

    args = build_parser(load_engine("llama.cpp")).parse_args(["m", "--idle-ttl", "90"])
    assert _order(args).body().idle_ttl_s == 90
    with pytest.raises(SystemExit):
        build_parser(load_engine("llama.cpp")).parse_args(["m", "--idle-ttl", "0"])
