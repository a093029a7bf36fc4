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
from textual.widgets import Button, Input, Label, Select, Static, Switch

from app.tui.forms import FieldSpec, changed

Raw = dict[str, Any]


class LaunchForm(Widget):
    """Fields generated from `specs`; posts `LaunchForm.Submitted` with what the user set."""

    @dataclass
    class Submitted(Message):
        """The user asked to launch: the model text, a served name, the changed options."""

        form: LaunchForm
        model: str
        name: str | None
        options: dict[str, Any]

        @property
        def control(self) -> LaunchForm:
            return self.form

    def __init__(
        self,
        specs: list[FieldSpec],
        model: str,
        suggestions: list[str],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.specs = specs
        self.model = model
        self.suggestions = suggestions

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
            yield Static(
                "Defaults below are the engine's; the server fills in auto values "
                "for this machine when it launches.",
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
            return Switch(bool(spec.default), id=name)
        if spec.kind == "choice":
            options = [(c, c) for c in spec.choices]
            return Select(options, value=spec.default, allow_blank=False, id=name, compact=True)
        return Input(spec.shown_default(), placeholder=spec.placeholder, id=name, compact=True)

    def raw_values(self) -> Raw:
        values: Raw = {}
        for spec in self.specs:
            widget = self.query_one(f"#field-{spec.name}")
            if isinstance(widget, Input | Switch | Select):
                values[spec.name] = widget.value
        return values

    def show_defaults(self, values: Mapping[str, Any], reasons: Mapping[str, str]) -> None:
        """Put resolved defaults in the fields and say why each was chosen."""
        for spec in self.specs:
            if spec.name in reasons:
                self.query_one(f"#why-{spec.name}", Static).update(
                    f"{spec.help}\n→ {values.get(spec.name)}: {reasons[spec.name]}"
                )

    def mark_problems(self, problems: Mapping[str, str]) -> None:
        for spec in self.specs:
            row = self.query_one(f"#row-{spec.name}")
            row.set_class(spec.name in problems, "-invalid")
            why = self.query_one(f"#why-{spec.name}", Static)
            why.update(f"✗ {problems[spec.name]}" if spec.name in problems else spec.help)

    @on(Button.Pressed, "#launch")
    def _pressed(self) -> None:
        self.submit()

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        model = self.query_one("#field-model", Input).value.strip()
        name = self.query_one("#field-name", Input).value.strip() or None
        self.post_message(self.Submitted(self, model, name, changed(self.specs, self.raw_values())))
