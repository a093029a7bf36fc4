"""devtools.wake_cost runs as documented (tiny sizes: what it prints, not how fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT, hostbench_env


def test_wake_cost_reads_every_row_through_the_engines_key(session_home: Path) -> None:
    """Its direct reads go to the engine with the key from the token file; an engine that
    refused them would end the script (it checks every answer's status)."""
    argv = ["--requests", "2", "--max-tokens", "8", "--wakes", "20"]
    done = subprocess.run(
        [sys.executable, "-m", "devtools.wake_cost", *argv],
        cwd=ROOT,
        env=hostbench_env(session_home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    table = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    figures = {cells[1].strip(): float(cells[2]) for cells in table[1:]}  # after the header
    assert len(figures) == 7, done.stdout
    measured = [us for what, us in figures.items() if "less the direct" not in what]
    assert all(us > 0 for us in measured), done.stdout
