"""The names a launch is served under (`--name`, `--alias`, the control API's `name` and
`aliases`): one rule for both ways in. An empty alias was once accepted, and `--alias=--`
(which argparse hands over as []) ended a real launch in an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.cli import main
from control.api import LaunchBody, check_served_name
from errors import ExitCode, UsageError


def test_a_served_name_is_not_empty_or_blank_and_has_no_control_characters() -> None:
    odd = "team/stub model?#1"  # the control API quotes names (test_control_launches.py)
    for good in ("smollm2-135m-instruct:Q4_1", "Qwen/Qwen2.5-7B", odd, " x ", "x" * 200):
        assert check_served_name(good, "--alias") == good
        assert LaunchBody(model="m", name=good, aliases=[good]).aliases == [good]
    for bad in ("", "   ", "tab\there", "new\nline", "nul\x00", "x" * 201, [], None):
        with pytest.raises(UsageError, match=r"--alias .*: a served name has up to 200 char"):
            check_served_name(bad, "--alias")
        if isinstance(bad, str):
            with pytest.raises(ValidationError):
                LaunchBody(model="m", aliases=[bad])
            with pytest.raises(ValidationError):
                LaunchBody(model="m", name=bad)


def test_the_launch_command_refuses_a_bad_name_before_anything_starts(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("--alias=--", "--alias=", "--name=  ", "--name=a\nb"):
        argv = ["launch", "smollm2-135m-instruct", flag, "--dry-run"]
        assert main(argv) == ExitCode.USAGE, flag
        assert "a served name has up to 200 characters" in capsys.readouterr().err
