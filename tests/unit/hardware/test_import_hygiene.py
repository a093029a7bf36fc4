"""`hardware` is the lowest layer: importing it loads no other project layer, no Textual,
and not the GPU libraries (they load when a backend opens)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FORBIDDEN = ("app", "engines", "profiles", "catalog", "bench", "textual", "pynvml", "amdsmi")


def test_importing_hardware_loads_nothing_above_it() -> None:
    code = (
        "import json, sys, hardware, hardware.sampler, hardware.machine; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)
