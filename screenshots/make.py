"""Regenerate the workbench screenshots shown in the README: SVG of every screen at 120x40
(and 80x24 for a few), plus PNG where cairosvg can be imported (`pip install cairosvg`; it
needs the system cairo library).

    .venv/bin/python screenshots/make.py

The app runs against the recorded server the snapshot tests use (tests/tui/replay.py), so
the pictures are real readings and do not change from run to run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual._doc import take_svg_screenshot  # noqa: E402

from tests.tui.test_snapshots import SCREENS, make_home, prepare, replay_app, settle  # noqa: E402

OUT = Path(__file__).resolve().parent
SMALL = ("engines", "chat", "machine", "compare")


def shoot(name: str, size: tuple[int, int]) -> Path:
    key, gpus = SCREENS[name]
    where = make_home(Path(tempfile.mkdtemp(prefix="hostbench-shots-")) / "home")
    settings = prepare(where, name)

    async def show(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)

    app = replay_app(where, gpus, settings)
    svg = take_svg_screenshot(app, terminal_size=size, run_before=show)
    target = OUT / f"{name}-{size[0]}x{size[1]}.svg"
    target.write_text(svg, "utf-8")
    return target


def to_png(svg: Path) -> Path | None:
    try:
        import cairosvg  # type: ignore[import-not-found]
    except (ImportError, OSError):
        return None
    png = svg.with_suffix(".png")
    cairosvg.svg2png(url=str(svg), write_to=str(png), output_width=1600)
    return png


def main() -> int:
    import os
    import time

    os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="hostbench-shots-hf-")
    os.environ["TZ"] = "UTC"  # as the snapshot tests: dates do not depend on where it runs
    time.tzset()
    made = [shoot(name, (120, 40)) for name in SCREENS]
    made += [shoot(name, (80, 24)) for name in SMALL]
    pngs = [png for svg in made if (png := to_png(svg))]
    for path in made + pngs:
        print(path.relative_to(ROOT))
    if not pngs:
        print("no PNG: cairosvg is not importable here (pip install cairosvg)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
