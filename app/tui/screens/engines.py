"""4 Engines: what runs (model, engine, port, PID, state, memory, uptime), a launch form
generated from the engine's option declaration, start/stop/restart, and a live log tail
of the selected engine. A crashed engine shows as crashed, with the log lines that say why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Log, Static

from app.tui import readings
from app.tui.fitting import (
    engine_recommendation,
    plan_launch,
    profile_names,
    recommendation_note,
    registry_at,
)
from app.tui.forms import field_specs, seconds, validate
from app.tui.link import Poller, ServerView
from app.tui.messages import EngineLaunched, EngineStopped
from app.tui.present import NA, duration
from app.tui.screens.base import WorkbenchScreen
from app.tui.screens.dialogs import ConfirmScreen
from app.tui.widgets.changing_text import ChangingText
from app.tui.widgets.launch_form import LaunchForm
from control.api import EngineStatus, LaunchBody
from engines.registry import load_engine
from workflows.launching import DEFAULT_ENGINE

if TYPE_CHECKING:
    from profiles.resolver import Resolution
    from workflows.recommend import Recommendation

DEFAULT_MODEL = "smollm2-135m-instruct"
COLUMNS = ("name", "state", "pid", "port", "memory", "uptime", "restarts", "runtime", "model")
STATE_STYLE = {
    "ready": "green",
    "starting": "yellow",
    "crashed": "bold red",
    "stopping": "dim",
    "sleeping": "blue",
}
ERROR_WORDS = ("error", "failed", "fatal", "abort", "exception", "killed", "out of memory")


def state_text(engine: EngineStatus) -> Text:
    label = engine.state
    if engine.crashed and engine.last_exit_code is not None:
        label = f"crashed ({engine.last_exit_code})"
    return Text(label, style=STATE_STYLE.get(engine.state, ""))


def crash_summary(engine: EngineStatus, now: float) -> str:
    retry = ""
    if engine.retry_at is not None:
        retry = f"; restarting in {max(0, engine.retry_at - now):.0f} s"
    what = engine.last_error or "exited"
    return f"{engine.name} crashed: {what}{retry} (restarts so far: {engine.restarts})"


def explaining_lines(lines: list[str], count: int = 4) -> list[str]:
    """The log lines most likely to say why: those with an error word, else the last."""
    flagged = [line for line in lines if any(word in line.lower() for word in ERROR_WORDS)]
    return (flagged or lines)[-count:]


class EnginesScreen(WorkbenchScreen):
    MODE = "engines"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "launch", "Launch"),
        Binding("s", "stop", "Stop"),
        Binding("r", "restart", "Restart"),
        Binding("f", "focus_form", "Form"),
    ]

    @dataclass
    class LogTailRead(Message):
        """The newest lines of an engine's log (only the latest read matters)."""

        name: str
        lines: list[str]

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EnginesScreen.LogTailRead)

    @dataclass
    class PlanResolved(Message):
        """The launch plan for the form's model: values with reasons, or why there is none;
        and which engine suits it here (`hostbench fit`'s advice)."""

        model: str
        resolution: Resolution | None
        problem: str | None
        recommendation: Recommendation | None = None

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EnginesScreen.PlanResolved)

    selected: reactive[str | None] = reactive(None, init=False)
    """Served name of the engine whose log is shown."""
    launching: reactive[bool] = reactive(False)
    """A launch or restart is in flight (the form shows it and refuses a second one)."""

    def __init__(self) -> None:
        super().__init__()
        self._stop_tail = threading.Event()
        self.adapter = load_engine(DEFAULT_ENGINE)

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="engines-table", cursor_type="row", zebra_stripes=True)
        yield Static(
            "No engine runs. The form on the right is ready for the default model: "
            "press l to launch it (f to edit the form first).",
            id="engines-empty",
            classes="empty",
        )
        yield ChangingText("", id="crash", classes="crash", markup=False)
        with Horizontal(id="engines-body"):
            with Vertical(id="engines-left"):
                yield Label("log", id="log-title", classes="pane-title")
                yield Log(id="engine-log", max_lines=500, auto_scroll=True)
            with Vertical(id="engines-right"):
                yield Label("Launch a model", classes="pane-title")
                yield Static("", id="launch-state")
                yield LaunchForm(
                    field_specs(self.adapter.Options),
                    DEFAULT_MODEL,
                    self._suggestions(),
                    profile_names(self.workbench.deps.locations),
                    id="launch-form",
                )

    def _suggestions(self) -> list[str]:
        from catalog import load_catalog

        return sorted(load_catalog().entries)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#engines-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.follow_log()
        self.plan(DEFAULT_MODEL, None)

    def on_unmount(self) -> None:
        self._stop_tail.set()

    # -- the table -----------------------------------------------------------------------

    def show_view(self, view: ServerView) -> None:
        table = self.query_one("#engines-table", DataTable)
        now = self.workbench.clock()
        machine = view.machine
        keys = [e.name for e in view.engines]
        for row_key in [k for k in table.rows if k.value not in keys]:
            table.remove_row(row_key)
        for engine in view.engines:
            process = readings.process(machine, engine.name) if machine else None
            memory = readings.memory_caption(
                process, engine.memory_bytes, engine.memory_error_percent
            )
            cells = (
                engine.name,
                state_text(engine),
                str(engine.pid or NA),
                str(engine.port or NA),
                memory,
                duration(engine.uptime_s(now)),
                str(engine.restarts),
                engine.runtime or engine.engine,
                engine.model,
            )
            if engine.name in table.rows:
                for column, cell in zip(COLUMNS, cells, strict=True):
                    table.update_cell(engine.name, column, cell)
            else:
                table.add_row(*cells, key=engine.name)
        self.query_one("#engines-empty").display = not keys
        if self.selected not in keys:
            self.selected = keys[0] if keys else None
        self._show_crash(view.engine(self.selected) if self.selected else None, now)

    def _show_crash(self, engine: EngineStatus | None, now: float) -> None:
        crash = self.query_one("#crash", ChangingText)
        crashed = engine is not None and (engine.crashed or bool(engine.last_error))
        crash.set_class(crashed, "-shown")
        if engine is None or not crashed:
            return
        lines = explaining_lines(getattr(self, "_last_lines", []))
        text = crash_summary(engine, now) + "".join(f"\n  {line}" for line in lines)
        crash.show(text)

    @on(DataTable.RowHighlighted, "#engines-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected = event.row_key.value

    def watch_selected(self, name: str | None) -> None:
        self.query_one("#log-title", Label).update(f"log · {name}" if name else "log")
        self.query_one("#engine-log", Log).clear()
        self._last_lines: list[str] = []

    # -- the log tail --------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine-log")
    def follow_log(self) -> None:
        """Read the selected engine's log tail once a second while this screen shows."""
        poller = Poller(self.workbench.client, self.workbench.clock)
        live = self.workbench.deps.live
        while not self._stop_tail.wait(1.0 if live else 0.05):
            name = self.selected
            if name is None or not self.is_current:
                if not live:
                    return
                continue
            try:
                lines = poller.engine_log(name)
            except Exception:  # the table already says when the server is gone
                continue
            self.post_message(self.LogTailRead(name, lines))
            if not live:
                return

    @on(LogTailRead)
    def _log_read(self, message: LogTailRead) -> None:
        if message.name != self.selected:
            return
        log = self.query_one("#engine-log", Log)
        previous = getattr(self, "_last_lines", [])
        if message.lines[: len(previous)] == previous and previous:
            new = message.lines[len(previous) :]
        else:
            log.clear()
            new = message.lines
        log.write_lines(new)
        log.scroll_end(animate=False)
        self._last_lines = message.lines
        view = self.workbench.view
        if view is not None:
            self._show_crash(view.engine(message.name), self.workbench.clock())

    # -- actions -------------------------------------------------------------------------

    def action_launch(self) -> None:
        self.query_one(LaunchForm).submit()

    def launch_model(self, model: str) -> None:
        """Launch `model` through the form (the Catalog screen's `l`): the form shows what
        was launched and with which values, and the focus stays out of its text fields,
        so the next key is a command again, never typed into the model name."""
        self.query_one("#field-model", Input).value = model
        self.query_one("#engines-table").focus()
        self.query_one(LaunchForm).submit()

    def action_focus_form(self) -> None:
        self.query_one("#field-model").focus()

    # -- defaults, with why ---------------------------------------------------------------

    @on(LaunchForm.TargetChanged)
    def _target_changed(self, message: LaunchForm.TargetChanged) -> None:
        if message.model:
            self.plan(message.model, message.profile)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def plan(self, model: str, profile: str | None) -> None:
        """The launch plan `hostbench launch MODEL --dry-run` prints, and the engine
        `hostbench fit MODEL` recommends, for the form."""
        from catalog import CatalogError, load_catalog
        from engines.errors import EngineError
        from profiles.library import ProfileError

        app: Any = self.app
        catalog = load_catalog()
        registry = registry_at(app.deps.locations.store_path)
        snapshot = app.machine_reading()
        advice = engine_recommendation(model, catalog, registry, snapshot)
        try:
            here = app.deps.machine is None  # not a recorded reading handed in
            planned = plan_launch(
                model, profile, snapshot, app.deps.settings, app.deps.locations, here=here
            )
        except (CatalogError, EngineError, ProfileError, OSError) as error:
            self.post_message(self.PlanResolved(model, None, str(error), advice))
            return
        self.post_message(self.PlanResolved(model, planned.resolution, None, advice))

    @on(PlanResolved)
    def _plan_resolved(self, message: PlanResolved) -> None:
        form = self.query_one(LaunchForm)
        advice = ""
        if message.recommendation is not None:
            advice = "\n\n" + recommendation_note(message.recommendation, DEFAULT_ENGINE)
        if message.resolution is None:
            self.query_one("#form-note", Static).update(
                f"[dim]no estimate for {message.model}: {message.problem}[/dim]{advice}"
            )
            return
        resolution = message.resolution
        profile = resolution.profile
        note = f"profile [b]{profile.name}[/b]"
        note += f" ({' → '.join(profile.chain)})" if len(profile.chain) > 1 else ""
        note += f": {profile.description}" if profile.description else ""
        if resolution.refusal:
            note += f"\n[red]✗ {resolution.refusal}[/red]"
        for extra in resolution.notes:
            note += f"\n[dim]{extra}[/dim]"
        form.show_defaults(resolution.options, resolution.reason_texts(), note + advice)

    @on(LaunchForm.Submitted)
    def _submitted(self, message: LaunchForm.Submitted) -> None:
        problems = validate(self.adapter.Options, message.options)
        message.form.mark_problems(problems)
        if problems:
            self.notify("; ".join(f"{k}: {v}" for k, v in problems.items()), severity="error")
            return
        if not message.model:
            self.notify("Which model? Type a catalog id, local id or .gguf path", severity="error")
            return
        try:
            idle_ttl_s = seconds(message.idle_ttl)
        except ValueError as error:
            self.notify(f"idle TTL: {error}", severity="error")
            return
        body = LaunchBody(
            model=message.model,
            engine=DEFAULT_ENGINE,
            options=dict(message.options),
            name=message.name or None,
            profile=message.profile or None,
            idle_ttl_s=idle_ttl_s,
        )
        self.launch(body)

    @work(thread=True, exclusive=True, exit_on_error=False, group="launch")
    def launch(self, body: LaunchBody | str) -> None:
        """POST /api/engines (what `hostbench launch` does against a running server), or
        given an engine's name, POST /api/engines/NAME/restart: the server relaunches with
        the options it holds, so a secret option survives without ever being displayed."""
        self.app.call_from_thread(setattr, self, "launching", True)
        try:
            client = self.workbench.client
            status = client.restart(body) if isinstance(body, str) else client.launch(body)
        finally:
            self.app.call_from_thread(setattr, self, "launching", False)
        self.post_message(EngineLaunched(status))

    def watch_launching(self, launching: bool) -> None:
        state = self.query_one("#launch-state", Static)
        state.update(
            "launching… (pulled first if it is not here; then it loads and answers /health)"
            if launching
            else ""
        )
        state.set_class(launching, "-busy")
        self.query_one("#launch").disabled = launching

    def _selected_engine(self) -> EngineStatus | None:
        view = self.workbench.view
        return view.engine(self.selected) if view and self.selected else None

    def action_stop(self) -> None:
        engine = self._selected_engine()
        if engine is None:
            self.notify("No engine selected", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_engine(engine.name)

        self.app.push_screen(
            ConfirmScreen(f"Stop {engine.name}?", "Requests in flight to it will fail.", "Stop"),
            answered,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="stop")
    def stop_engine(self, name: str) -> None:
        self.workbench.client.stop(name)
        self.post_message(EngineStopped(name))

    def action_restart(self) -> None:
        engine = self._selected_engine()
        if engine is None:
            self.notify("No engine selected", severity="warning")
            return
        self.launch(engine.name)
