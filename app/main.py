"""The `hostbench` program: a command runs headless (app/cli); none opens the workbench
(app/tui). The one module that knows both front ends: neither imports the other
(docs/architecture.md, "Import rules")."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from app.cli import main as run_command

    return run_command(argv, workbench=_workbench)


def _workbench() -> int:
    """Textual is imported only now, so `hostbench --help` and every command stay quick."""
    from app.tui import run

    return run()
