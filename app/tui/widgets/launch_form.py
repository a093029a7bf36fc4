"""The launch form: model, served name, and one field per declared engine option, each
with its default and why that default was chosen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from app.tui.forms import FieldSpec, changed, shown

Raw = dict[str, Any]


class LaunchForm(Widget):
    """Fields generated from `specs`; posts `LaunchForm.Submitted` with what the user set."""

    @dataclass
    class Submitted(Message):
        """The user asked to launch: the model text, a served name, the changed options,
        and the idle TTL as typed (checked by the screen: app/tui/forms.py's `seconds`)."""

        form: LaunchForm
        model: str
        name: str | None
        options: dict[str, Any]
        profile: str | None
        idle_ttl: str = ""

        @property
        def control(self) -> LaunchForm:
            return self.form

    @dataclass
    class TargetChanged(Message):
        """The model or the profile changed: the defaults shown should be resolved again."""

        form: LaunchForm
        model: str
        profile: str | None

        @property
        def control(self) -> LaunchForm:
            return self.form

    def __init__(
        self,
        specs: list[FieldSpec],
        model: str,
        suggestions: list[str],
        profiles: list[str],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.specs = specs
        self.model = model
        self.suggestions = suggestions
        self.profiles = profiles
        self.baseline: dict[str, Any] = {spec.name: spec.default for spec in specs}
        """The values the fields showed before the user typed (engine or resolved)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form-fields"):
            with Horizontal(classes="field-head"):
                yield Label("model", classes="field-label")
                yield Input(
                    self.model,
                    placeholder="catalog id[:QUANT], local id or .gguf path",
                    suggester=SuggestFromList(self.suggestions, case_sensitive=False),
                    id="field-model",
                    compact=True,
                )
            with Horizontal(classes="field-head"):
                yield Label("served name", classes="field-label")
                yield Input(placeholder="(default: the model)", id="field-name", compact=True)
            with Horizontal(classes="field-head"):
                yield Label("idle TTL (s)", classes="field-label")
                yield Input(
                    placeholder="(none: runs until stopped)",
                    type="number",
                    id="field-idle-ttl",
                    compact=True,
                )
            yield Static(
                "Sleep after this many seconds idle: the engine stops, the model stays listed "
                "and its next request wakes it (hostbench launch --idle-ttl).",
                id="why-idle-ttl",
                classes="field-why",
            )
            with Horizontal(classes="field-head"):
                yield Label("profile", classes="field-label")
                choices = [("auto (matches this machine)", "auto")] + [
                    (p, p) for p in self.profiles
                ]
                yield Select(
                    choices, value="auto", allow_blank=False, id="field-profile", compact=True
                )
            yield Static(
                "Values below are the engine's defaults until the profile and the memory "
                "estimate for this model are resolved.",
                id="form-note",
                classes="field-why",
            )
            for spec in self.specs:
                yield from self._field(spec)
        with Horizontal(id="form-buttons"):
            yield Button("Launch (l)", id="launch", variant="success", compact=True)

    def _field(self, spec: FieldSpec) -> ComposeResult:
        with Vertical(classes="field", id=f"row-{spec.name}"):
            with Horizontal(classes="field-head"):
                yield Label(spec.label, classes="field-label")
                yield self._input(spec)
            yield Static(spec.help, classes="field-why", id=f"why-{spec.name}", markup=False)

    @staticmethod
    def _input(spec: FieldSpec) -> Widget:
        name = f"field-{spec.name}"
        if spec.kind == "bool":
            return Checkbox("", bool(spec.default), id=name, compact=True)
        if spec.kind == "choice":
            options = [(c, c) for c in spec.choices]
            return Select(options, value=spec.default, allow_blank=False, id=name, compact=True)
        return Input(spec.shown_default(), placeholder=spec.placeholder, id=name, compact=True)

    def raw_values(self) -> Raw:
        values: Raw = {}
        for spec in self.specs:
            widget = self.query_one(f"#field-{spec.name}")
            if isinstance(widget, Input | Checkbox | Select):
                values[spec.name] = widget.value
        return values

    def show_defaults(
        self, values: Mapping[str, Any], reasons: Mapping[str, str], note: str
    ) -> None:
        """Put resolved values in the fields the user has not changed, and say why."""
        edited = changed(self.raw_values(), self.baseline)
        for spec in self.specs:
            if spec.name not in values:
                continue
            value = values[spec.name]
            widget = self.query_one(f"#field-{spec.name}")
            if spec.name not in edited:
                if isinstance(widget, Input):
                    widget.value = shown(value)
                elif isinstance(widget, Checkbox | Select):
                    widget.value = value
            self.baseline[spec.name] = value
            why = reasons.get(spec.name, "")
            self.query_one(f"#why-{spec.name}", Static).update(f"{spec.help}\n→ {why}")
        self.query_one("#form-note", Static).update(note)

    def mark_problems(self, problems: Mapping[str, str]) -> None:
        for spec in self.specs:
            row = self.query_one(f"#row-{spec.name}")
            row.set_class(spec.name in problems, "-invalid")
            why = self.query_one(f"#why-{spec.name}", Static)
            why.update(f"✗ {problems[spec.name]}" if spec.name in problems else spec.help)

    @on(Input.Changed, "#field-model")
    @on(Select.Changed, "#field-profile")
    def _target_changed(self) -> None:
        self.post_message(self.TargetChanged(self, *self.target()))

    def target(self) -> tuple[str, str | None]:
        model = self.query_one("#field-model", Input).value.strip()
        profile = self.query_one("#field-profile", Select).value
        return model, None if profile in ("auto", Select.BLANK) else str(profile)

    @on(Button.Pressed, "#launch")
    def _pressed(self) -> None:
        self.submit()

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        model, profile = self.target()
        name = self.query_one("#field-name", Input).value.strip() or None
        options = changed(self.raw_values(), self.baseline)
        idle_ttl = self.query_one("#field-idle-ttl", Input).value
        self.post_message(self.Submitted(self, model, name, options, profile, idle_ttl))
