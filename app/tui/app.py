"""The workbench: seven screens over one hostbench server (docs/architecture.md, "Three ways in").

Every action calls the same core and control-API functions the CLI uses; blocking calls run
in thread workers that report by message, and one handler turns any worker failure into a
notification (an error the core explains) or an error screen (one it does not).
"""

from __future__ import annotations

import importlib
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from app.tui.link import ControlApi, Poller, ServerView
from app.tui.messages import (
    EngineCrashed,
    EngineLaunched,
    EngineStopped,
    ServerAttached,
    ServerPolled,
    ServerUnreachable,
)
from app.tui.screens.dialogs import ErrorScreen, QuitScreen
from app.tui.screens.machine import MachineScreen
from app.tui.widgets.navbar import SCREENS

if TYPE_CHECKING:
    from app.background import DetachedServer
    from hardware import MachineSnapshot
    from profiles import Locations, Settings


SCREEN_MODULES = ("engines", "chat", "dashboard", "catalog", "models", "compare")


def warm_up() -> None:
    """Import the other screens (and the core they use) off the UI thread, once the first
    frame is up: on a busy machine the first switch to a screen would otherwise freeze the
    UI while the catalog, the engines and the store load."""
    for module in SCREEN_MODULES:
        importlib.import_module(f"app.tui.screens.{module}")


def _model_commands() -> type[Provider]:
    """The palette's model commands, imported when the palette first opens."""
    from app.tui.commands import ModelCommands

    return ModelCommands


def _screen(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A screen class imported when it is first shown: the first frame waits for the
    Machine screen only, not for the catalog, the engines or the chat client."""

    def build() -> Screen[Any]:
        screen: Screen[Any] = getattr(importlib.import_module(f"app.tui.screens.{module}"), name)()
        return screen

    return build


def known_error(error: BaseException) -> bool:
    """Errors the core explains in one line: shown as a notification, not a traceback."""
    import httpx
    from pydantic import ValidationError

    from app.background import BackgroundServerError
    from errors import HostbenchError

    kinds = (HostbenchError, ValidationError, httpx.HTTPError, BackgroundServerError, OSError)
    return isinstance(error, kinds)


class Dependencies:
    """What the workbench is handed: tests pass a server, a recorded one, a clock.
    Settings, locations and the client default to the environment's, built on first use
    (in the connect worker), so the first frame does not wait for them."""

    def __init__(
        self,
        settings: Settings | None = None,
        locations: Locations | None = None,
        client: ControlApi | None = None,
        *,
        clock: Callable[[], float] = time.time,
        start_server: bool = True,
        poll_interval_s: float = 1.0,
        machine: MachineSnapshot | None = None,
        live: bool = True,
    ) -> None:
        self._settings = settings
        self._locations = locations
        self._client = client
        self._lock = threading.Lock()
        self.clock = clock
        self.start_server = start_server
        """Start a detached `hostbench serve` when none answers (the user's default)."""
        self.poll_interval_s = poll_interval_s
        self.machine = machine
        """A hardware reading to use before (or instead of) the server's telemetry."""
        self.live = live
        """Poll until the app ends; False polls once (snapshots of a recorded server)."""

    @property
    def settings(self) -> Settings:
        with self._lock:
            if self._settings is None:
                from profiles import Settings

                self._settings = Settings()
            return self._settings

    @property
    def locations(self) -> Locations:
        with self._lock:
            if self._locations is None:
                from profiles import Locations

                self._locations = Locations.from_env()
            return self._locations

    @property
    def client(self) -> ControlApi:
        if self._client is None:
            from app.tui.control import KeptAliveClient

            client = KeptAliveClient(self.settings, self.locations)
            with self._lock:
                self._client = self._client or client
        return self._client


class Workbench(App[None]):
    """hostbench's Textual front end."""

    TITLE = "hostbench"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012 (App declares it)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "machine": MachineScreen,
        "catalog": _screen("catalog", "CatalogScreen"),
        "models": _screen("models", "ModelsScreen"),
        "engines": _screen("engines", "EnginesScreen"),
        "dashboard": _screen("dashboard", "DashboardScreen"),
        "compare": _screen("compare", "CompareScreen"),
        "chat": _screen("chat", "ChatScreen"),
    }
    DEFAULT_MODE = "machine"
    COMMANDS = App.COMMANDS | {_model_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"switch_mode('{mode}')", label, show=False)
            for key, mode, label in SCREENS
        ),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    view: reactive[ServerView | None] = reactive(None, always_update=True, init=False)
    """The newest poll of the server; screens redraw from it."""
    server_label: reactive[str] = reactive("connecting...")
    """Where the server is, for the tab bar."""
    connected: reactive[bool] = reactive(False)
    """Whether the last poll reached the server."""

    def __init__(self, deps: Dependencies) -> None:
        super().__init__()
        self.deps = deps
        self.clock = deps.clock
        self.started_server: DetachedServer | None = None
        self._stop_polling = threading.Event()

    @property
    def client(self) -> ControlApi:
        """The server's control API (built on first use, off the UI thread at start)."""
        return self.deps.client

    # -- server -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.call_after_refresh(self.connect)  # the first frame first, then the server

    @work(thread=True, exclusive=True, exit_on_error=False, group="server")
    def connect(self) -> None:
        """Attach to the server at the configured address, or start one in the background."""
        if self.client.probe() is None:
            if not self.deps.start_server:
                self.post_message(
                    ServerUnreachable(f"no hostbench server at {self.client.base_url}")
                )
                return
            from app.background import DetachedServer  # pydantic models: after the first frame

            server = self.deps.settings.server
            log = self.deps.locations.logs_dir / "workbench-server.log"
            self.started_server = DetachedServer.start(server.port, log, host=server.host)
            self.started_server.wait_ready(self.client.probe)
        self.post_message(ServerAttached(self.client.base_url, self.started_server is not None))
        warm_up()

    @on(ServerAttached)
    def _attached(self, message: ServerAttached) -> None:
        self.server_label = message.url + (" (started here)" if message.started_here else "")
        self.poll_server()

    @work(thread=True, exclusive=True, exit_on_error=False, group="poll")
    def poll_server(self) -> None:
        """Poll once a second until the app ends; a failed poll is reported and retried."""
        poller = Poller(self.client, self.clock)
        while not self._stop_polling.is_set():
            try:
                wanted = self.current_mode == "dashboard" or not self.deps.live
                self.post_message(ServerPolled(poller.poll(with_records=wanted)))
            except Exception as error:  # reported, and the next poll tries again
                if not known_error(error):
                    raise
                self.post_message(ServerUnreachable(str(error)))
            if not self.deps.live:
                return
            self._stop_polling.wait(self.deps.poll_interval_s)

    @on(ServerPolled)
    def _polled(self, message: ServerPolled) -> None:
        before = self.view
        with self.batch_update():  # one frame per poll, not one per changed widget
            self.connected = True
            self.view = message.view
        for engine in message.view.engines:
            old = before.engine(engine.name) if before else None
            if engine.crashed and (old is None or not old.crashed):
                self.post_message(EngineCrashed(engine))

    @on(ServerUnreachable)
    def _unreachable(self, message: ServerUnreachable) -> None:
        if self.connected or self.server_label == "connecting...":
            self.notify(message.reason, title="Server unreachable", severity="warning")
        self.connected = False
        self.server_label = "no server"

    @on(EngineCrashed)
    def _crashed(self, message: EngineCrashed) -> None:
        engine = message.engine
        self.notify(
            f"{engine.name}: {engine.last_error or 'exited'} — see Engines (4) for its log",
            title="Engine crashed",
            severity="error",
            timeout=10,
        )

    @on(EngineLaunched)
    def _launched(self, message: EngineLaunched) -> None:
        engine = message.engine
        self.notify(f"{engine.name} is ready on port {engine.port} (pid {engine.pid})")

    @on(EngineStopped)
    def _stopped(self, message: EngineStopped) -> None:
        self.notify(f"{message.name} stopped")

    def machine_reading(self) -> MachineSnapshot:
        """The server's newest hardware reading; the one handed in; else read this machine
        (blocking: call it from a thread worker)."""
        if self.view is not None and self.view.machine is not None:
            return self.view.machine
        if self.deps.machine is not None:
            return self.deps.machine
        from hardware import discover

        return discover(self.deps.locations.models_dir)

    # -- one screen handing work to another ---------------------------------------------

    async def open_pull(self, model: str) -> None:
        """Show the Models screen pulling `model`."""
        from app.tui.screens.models import ModelsScreen

        await self.switch_mode("models")
        if isinstance(self.screen, ModelsScreen):
            self.screen.start_pull(model)

    async def open_launch(self, model: str) -> None:
        """Show the Engines screen launching `model`."""
        from app.tui.screens.engines import EnginesScreen

        await self.switch_mode("engines")
        if isinstance(self.screen, EnginesScreen):
            self.screen.launch_model(model)

    # -- errors -------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker(event)

    def report_worker(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become something the user sees (screens forward
        their workers' state changes here: the message does not bubble)."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        if known_error(error):
            self.notify(str(error), title=_title(event.worker), severity="error", timeout=10)
            return
        details = "".join(traceback.format_exception(error))
        self.push_screen(ErrorScreen(f"{_title(event.worker)} failed", str(error), details))

    def _handle_exception(self, error: Exception) -> None:
        """A bug in a handler: an error screen, and the workbench keeps running (models keep
        serving either way), instead of exiting with a traceback on the terminal. Tests
        (headless) and errors before the first screen keep Textual's behaviour."""
        showing_error = isinstance(self.screen_stack[-1:] and self.screen_stack[-1], ErrorScreen)
        if self.is_headless or not self.screen_stack or showing_error:
            super()._handle_exception(error)
            return
        details = "".join(traceback.format_exception(error))
        self.call_later(self.push_screen, ErrorScreen("Unexpected error", str(error), details))

    # -- quitting -----------------------------------------------------------------------

    async def action_quit(self) -> None:
        running = [e.name for e in (self.view.engines if self.view else ()) if e.state != "stopped"]
        if not running:
            self._leave(stop_models=False)
            return
        self.push_screen(
            QuitScreen(running, self.started_server is not None), callback=self._quit_answer
        )

    def _quit_answer(self, choice: str | None) -> None:
        if choice in ("keep", "stop"):
            self._leave(stop_models=choice == "stop")

    @work(thread=True, exclusive=True, exit_on_error=False, group="quit")
    def _leave(self, stop_models: bool) -> None:
        """Stop what the user asked, then exit; a server started here with nothing to keep
        running is stopped too."""
        self._stop_polling.set()
        if stop_models:
            for engine in self.view.engines if self.view else ():
                self.client.stop(engine.name)
        keep = not stop_models and bool(self.view and self.view.engines)
        if self.started_server is not None and not keep:
            self.started_server.stop()
        elif self.started_server is not None:
            self.started_server.detach()  # it outlives the workbench, as asked
        self.call_from_thread(self.exit)

    def on_unmount(self) -> None:
        self._stop_polling.set()

    # -- command palette ------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key, mode, label in SCREENS:
            yield SystemCommand(
                f"Show {label} ({key})",
                f"Switch to the {label} screen",
                partial(self.switch_mode, mode),
            )


def _title(worker: Worker[Any]) -> str:
    return (worker.group or worker.name or "task").replace("-", " ").capitalize()


def engine_names(view: ServerView | None) -> list[str]:
    return [e.name for e in view.engines] if view else []
