"""App-level facts, posted by the app's workers and handled by the app.

Messages that belong to one widget are nested in it (`LaunchForm.Submitted`); these are
about the server and its engines, which every screen may care about. Each is named for
what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from app.tui.link import ServerView

if TYPE_CHECKING:
    from control.api import EngineStatus


@dataclass
class ServerAttached(Message):
    """A hostbench server answers at `url`; `started_here` if the workbench started it."""

    url: str
    started_here: bool


@dataclass
class ServerPolled(Message):
    """A fresh poll of the server. Only the newest matters, so a slow UI skips stale ones."""

    view: ServerView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ServerPolled)


@dataclass
class ServerUnreachable(Message):
    """A poll failed: the server stopped, or never started."""

    reason: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ServerUnreachable)


@dataclass
class EngineLaunched(Message):
    """An engine answered ready after a launch or restart from the workbench."""

    engine: EngineStatus


@dataclass
class EngineStopped(Message):
    name: str


@dataclass
class EngineCrashed(Message):
    """A poll found an engine in the crashed state that was not crashed before."""

    engine: EngineStatus
