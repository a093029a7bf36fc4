"""What an option declared in a pydantic model shows: its choices, its value type and its help.

The CLI makes flags of them, the workbench form fields (the option is declared once)."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

from pydantic.fields import FieldInfo


def literal_choices(annotation: Any) -> list[str] | None:
    """The values a `Literal[...]` allows, else None."""
    if typing.get_origin(annotation) is Literal:
        return [str(choice) for choice in typing.get_args(annotation)]
    return None


def value_types(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation allows, None left out (`int | None` is `(int,)`), each
    without its constraints (`Annotated[int, Field(ge=1)] | Literal["auto"]` is
    `(int, Literal["auto"])`)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return tuple(_bare(member) for member in members)
    return (_bare(annotation),)


def _bare(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _constraints(field: FieldInfo) -> list[Any]:
    """The field's own constraints and those of its members' `Annotated` types."""
    members = typing.get_args(field.annotation) or (field.annotation,)
    annotated = [m for m in members if typing.get_origin(m) is Annotated]
    inner = [meta for m in annotated for info in typing.get_args(m)[1:] for meta in _metadata(info)]
    return [*field.metadata, *inner]


def _metadata(info: Any) -> list[Any]:
    return list(info.metadata) if isinstance(info, FieldInfo) else [info]


def metavar(allowed: tuple[Any, ...]) -> str:
    """How a value is written in help: its choices, or its type in capitals."""
    parts: list[str] = []
    for member in allowed:
        choices = literal_choices(member)
        parts.extend(choices if choices else [getattr(member, "__name__", "VALUE").upper()])
    return "|".join(parts).replace("INT", "N")


BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def field_help(field: FieldInfo) -> str:
    """The description with the default and the bounds."""
    text = field.description or ""
    bounds = [
        f"{symbol} {getattr(meta, key)}"
        for meta in _constraints(field)
        for key, symbol in BOUNDS.items()
        if getattr(meta, key, None) is not None
    ]
    extra = f"; {', '.join(bounds)}" if bounds else ""
    default = field.get_default(call_default_factory=True)
    shown = "auto" if default is None else default
    return f"{text} (default: {shown}{extra})"
