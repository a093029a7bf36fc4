"""hostbench's vLLM metric names against the names the installed vLLM's source defines.

The names are read from vLLM's Prometheus logger (`vllm/v1/metrics/loggers.py`) of the
vLLM that tests/unit/engines/test_vllm_cli.py uses (this interpreter's, or the one named by
HOSTBENCH_VLLM_PYTHON), not written down here; then prometheus_client itself renders
metrics of those names and types, and hostbench's parser must find its figures in them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from engines.vllm.metrics import CACHE_INFO, HOSTBENCH_NAMES, VLLM_NAMES_VERSION, memory_report
from tests.unit.engines.test_vllm_cli import PYTHON_ENV, vllm_python

pytestmark = pytest.mark.vllm

V0_ONLY = frozenset({"vllm:gpu_cache_usage_perc"})
"""Names hostbench still reads for older (V0) vLLM engines (see engines/vllm/metrics.py)."""
DECLARED = re.compile(r'self\._(counter|gauge|histogram)_cls\(\s*name="(vllm:[\w:]+)"')
LABELS = ("model_name", "engine")


def vllm_source() -> tuple[str, Path]:
    """(version, package directory) of the vLLM the `vllm` tests use; vLLM is not imported
    (its import takes seconds and wants a GPU platform), only found."""
    python = vllm_python()
    if python is None:
        pytest.skip(f"vLLM is not importable here and {PYTHON_ENV} is unset: `make check-vllm`")
    code = (
        "import importlib.util as u, importlib.metadata as m; "
        "print(m.version('vllm')); print(u.find_spec('vllm').submodule_search_locations[0])"
    )
    done = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    version, package = done.stdout.split()
    return version, Path(package)


@pytest.fixture(scope="module")
def declared() -> dict[str, str]:
    """vLLM metric name -> its kind (counter, gauge, histogram), from the installed source."""
    version, package = vllm_source()
    source = (package / "v1" / "metrics" / "loggers.py").read_text("utf-8")
    found = {name: kind for kind, name in DECLARED.findall(source)}
    assert len(found) > 20, f"vLLM {version}: the metric declarations changed form"
    assert f'"{CACHE_INFO}"' in source, f"vLLM {version} no longer publishes {CACHE_INFO}"
    return found


def exposed(declared: dict[str, str]) -> set[str]:
    """Sample names as Prometheus shows them: counters gain `_total`."""
    return {
        f"{name.removesuffix('_total')}_total" if kind == "counter" else name
        for name, kind in declared.items()
    }


def test_every_name_hostbench_reads_is_one_vllm_publishes(declared: dict[str, str]) -> None:
    missing = set(HOSTBENCH_NAMES) - V0_ONLY - exposed(declared)
    assert not missing, f"not published by this vLLM (was {VLLM_NAMES_VERSION}): {missing}"


def test_the_v0_name_is_really_gone(declared: dict[str, str]) -> None:
    """If vLLM published it again, the comment in engines/vllm/metrics.py would be wrong."""
    assert not V0_ONLY & exposed(declared)


def test_the_cache_size_labels_are_the_cache_configs_fields() -> None:
    """`vllm:cache_config_info` carries CacheConfig's fields as labels (`metrics_info`)."""
    version, package = vllm_source()
    source = (package / "config" / "cache.py").read_text("utf-8")
    assert "def metrics_info" in source, f"vLLM {version}: CacheConfig.metrics_info is gone"
    for field in ("num_gpu_blocks", "block_size"):
        assert re.search(rf"^    {field}: ", source, re.M), f"vLLM {version}: no {field}"


def test_metrics_of_those_names_reach_hostbench_names(declared: dict[str, str]) -> None:
    """prometheus_client renders the declared counters and gauges (two data-parallel
    engines, as vLLM labels them); hostbench's parser reads every figure it knows."""
    registry = CollectorRegistry()
    for name in (n for n in HOSTBENCH_NAMES if n in declared):
        kind = Counter if declared[name] == "counter" else Gauge
        metric = kind(name.removesuffix("_total"), "doc", LABELS, registry=registry)
        for engine, value in (("0", 0.25), ("1", 0.75)):
            child = metric.labels(model_name="m", engine=engine)
            child.inc(value) if isinstance(child, Counter) else child.set(value)
    info = Gauge(CACHE_INFO, "doc", ("block_size", "num_gpu_blocks", "engine"), registry=registry)
    for engine in ("0", "1"):
        info.labels(block_size="16", num_gpu_blocks="1000", engine=engine).set(1)
    text = generate_latest(registry).decode()
    report = memory_report(text, None)
    assert report["kv_cache_usage_ratio"] == 0.5, "averaged over the two engines"
    assert report["kv_cache_capacity_tokens"] == 2 * 16 * 1000
    assert report["kv_cache_used_tokens"] == 16000
    assert report["requests_running"] == 1.0 and report["requests_waiting"] == 1.0
