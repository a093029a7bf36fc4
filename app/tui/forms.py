"""Form fields generated from an engine's pydantic options (declared once): the launch
form shows what `hostbench launch --help` shows, from the same declaration. No Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from app.display.option_fields import field_help, literal_choices, value_types

Kind = Literal["bool", "choice", "number", "text"]


@dataclass(frozen=True)
class FieldSpec:
    """One option as a form field."""

    name: str
    kind: Kind
    default: Any
    help: str
    """Description, default and bounds, worded as in the CLI's --help."""
    choices: tuple[str, ...] = ()
    placeholder: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    def shown_default(self) -> str:
        return shown(self.default)


def shown(value: Any) -> str:
    """A value as a form field holds it: None is empty, booleans are lower case."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _kind(field: FieldInfo) -> tuple[Kind, tuple[str, ...], str]:
    members = value_types(field.annotation)
    if members == (bool,):
        return "bool", (), ""
    if len(members) == 1 and (choices := literal_choices(members[0])):
        return "choice", tuple(choices), ""
    words = [c for m in members for c in (literal_choices(m) or [])]
    numeric = any(m in (int, float) for m in members)
    hint = " or ".join(["N", *words] if numeric else words) or "text"
    if len(members) == 1 and numeric and field.default is None:
        hint = "N (empty: auto)"
    return ("number" if numeric else "text"), (), hint


def field_specs(model: type[BaseModel]) -> list[FieldSpec]:
    specs = []
    for name, field in model.model_fields.items():
        kind, choices, hint = _kind(field)
        default = field.get_default(call_default_factory=True)
        specs.append(FieldSpec(name, kind, default, field_help(field), choices, hint))
    return specs


def changed(raw: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Only the values the user changed from what the form showed: the server resolves the
    rest exactly as it does for `hostbench launch` without those flags."""
    out: dict[str, Any] = {}
    for name, given in raw.items():
        value = given.strip() if isinstance(given, str) else given
        if value == "" or shown(value) == shown(baseline.get(name)):
            continue
        out[name] = value
    return out


def validate(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, str]:
    """Field name -> the problem, checked by the same model the server validates with."""
    try:
        model.model_validate(dict(values))
    except ValidationError as error:
        problems: dict[str, str] = {}
        for item in error.errors():
            where = str(item["loc"][0]) if item["loc"] else "options"
            problems.setdefault(where, item["msg"])
        return problems
    return {}


def seconds(text: str) -> float | None:
    """A duration typed in seconds: None when left empty; ValueError unless it is a number
    above 0."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{text} s: give a number of seconds above 0, or leave it empty")
    return value
