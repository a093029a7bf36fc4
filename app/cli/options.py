"""CLI flags generated from a pydantic options model: the option is declared once."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

PREFIX = "opt_"


def _literal_choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return [str(choice) for choice in typing.get_args(annotation)]
    return None


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _metavar(members: tuple[Any, ...]) -> str:
    parts = []
    for member in members:
        choices = _literal_choices(member)
        parts.extend(choices if choices else [getattr(member, "__name__", "VALUE").upper()])
    return "|".join(parts).replace("INT", "N")


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _help(field: FieldInfo) -> str:
    text = field.description or ""
    bounds = [
        f"{symbol} {getattr(meta, key)}"
        for meta in field.metadata
        for key, symbol in _BOUNDS.items()
        if getattr(meta, key, None) is not None
    ]
    extra = f"; {', '.join(bounds)}" if bounds else ""
    default = field.get_default(call_default_factory=True)
    shown = "auto" if default is None else default
    return f"{text} (default: {shown}{extra})"


def argument_for(field: FieldInfo) -> dict[str, Any]:
    """argparse keyword arguments for one field; values stay strings where pydantic coerces."""
    members = _members(field.annotation)
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": _help(field)}
    if members == (bool,):
        kwargs["action"] = argparse.BooleanOptionalAction
    elif len(members) == 1 and (choices := _literal_choices(members[0])):
        kwargs["choices"] = choices
    elif members in ((int,), (float,)):
        kwargs["type"] = members[0]
        kwargs["metavar"] = "N" if members[0] is int else "X"
    else:
        kwargs["metavar"] = _metavar(members)
    return kwargs


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel], title: str) -> None:
    group = parser.add_argument_group(title)
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, dest=PREFIX + name, **argument_for(field))


def given_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """Only the options the user typed; the model supplies the rest."""
    return {k.removeprefix(PREFIX): v for k, v in vars(namespace).items() if k.startswith(PREFIX)}
