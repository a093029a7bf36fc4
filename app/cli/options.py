"""CLI flags generated from a pydantic options model: the option is declared once."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from app.display.option_fields import field_help, literal_choices, metavar, value_types

PREFIX = "opt_"


def argument_for(field: FieldInfo) -> dict[str, Any]:
    """argparse keyword arguments for one field; values stay strings where pydantic coerces."""
    members = value_types(field.annotation)
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": field_help(field)}
    if members == (bool,):
        kwargs["action"] = argparse.BooleanOptionalAction
    elif len(members) == 1 and (choices := literal_choices(members[0])):
        kwargs["choices"] = choices
    elif members in ((int,), (float,)):
        kwargs["type"] = members[0]
        kwargs["metavar"] = "N" if members[0] is int else "X"
    else:
        kwargs["metavar"] = metavar(members)
    return kwargs


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel], title: str) -> None:
    group = parser.add_argument_group(title)
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, dest=PREFIX + name, **argument_for(field))


def given_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """Only the options the user typed; the model supplies the rest."""
    return {k.removeprefix(PREFIX): v for k, v in vars(namespace).items() if k.startswith(PREFIX)}
