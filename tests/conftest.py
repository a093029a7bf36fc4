"""Shared fixtures: every test runs against its own HOSTBENCH_HOME."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE_GROUP = "hostbench.engines"


def _declare_checkout_engines() -> None:
    """Make the engine entry points this checkout's pyproject.toml declares visible, when
    the environment's (editable) install of hostbench predates them: entry points are read
    from installed metadata, which only a reinstall refreshes. Children inherit it through
    PYTHONPATH. A fresh `make setup` has them all, and then this does nothing."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    wanted = declared[ENGINE_GROUP]
    installed = {ep.name for ep in entry_points(group=ENGINE_GROUP)}
    if set(wanted) <= installed:
        return
    site = Path(tempfile.mkdtemp(prefix="hostbench-checkout-metadata-"))
    atexit.register(shutil.rmtree, site, True)
    info = site / "hostbench_checkout_engines-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hostbench-checkout-engines\nVersion: 0\n"
    )
    lines = [f"[{ENGINE_GROUP}]", *(f"{name} = {target}" for name, target in wanted.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.append(str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.environ.get("PYTHONPATH"), str(site)) if p
    )


def _let_children_take_ctrl_c() -> None:
    """A suite started in the background of a non-interactive shell (`make test &`)
    inherits SIGINT ignored, and so would every CLI the Ctrl-C tests start: an ignored
    signal stays ignored across exec. A handled one is reset to the default there, so
    the children get Python's KeyboardInterrupt as they do from a terminal."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_declare_checkout_engines()
_let_children_take_ctrl_c()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh hostbench home for one test (config, data and store under tmp_path)."""
    root = tmp_path / "home"
    monkeypatch.setenv("HOSTBENCH_HOME", str(root))
    for name in list(__import__("os").environ):
        if name.startswith("HOSTBENCH_") and name not in ("HOSTBENCH_HOME", "HOSTBENCH_CACHE_DIR"):
            monkeypatch.delenv(name)
    yield root
