"""The Textual workbench: `hostbench` with no command opens it.

Imported only when the workbench runs (the CLI defers it), so `hostbench --help` and the
headless commands never load Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.tui.app import Workbench


def make_app(*args, **kwargs) -> Workbench:  # type: ignore[no-untyped-def]
    """See `app.tui.factory.make_app`."""
    from app.tui.factory import make_app as build

    return build(*args, **kwargs)


def run(host: str | None = None, port: int | None = None) -> int:
    """Open the workbench on the configured server (started in the background if needed)."""
    from profiles import Settings

    given = {k: v for k, v in (("host", host), ("port", port)) if v}
    settings = Settings(server=given) if given else Settings()
    make_app(settings).run()
    return 0
