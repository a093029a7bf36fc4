"""The Textual workbench: `hostbench` with no command opens it.

Imported only when the workbench runs (the CLI defers it), so `hostbench --help` and the
headless commands never load Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.tui.app import Workbench


def make_app(*args: Any, **kwargs: Any) -> Workbench:
    """See `app.tui.factory.make_app`."""
    from app.tui.factory import make_app as build

    return build(*args, **kwargs)


def run() -> int:
    """Open the workbench on the configured server (started in the background if needed).
    Settings are read off the UI thread, after the first frame."""
    from app.tui.factory import make_app as build

    build().run()
    return 0
