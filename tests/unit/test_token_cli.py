"""`hostbench token engine-key`: the key the server's engines answer to, from the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from control.channel import engine_key, write_token
from errors import ExitCode
from profiles import Locations


def test_engine_key_without_a_token_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "engine-key"]) == ExitCode.NOT_FOUND
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "no control token" in err and "no server has run" in err


def test_engine_key_follows_the_token(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The key printed is the one a server with this token gives its engines; after a
    rotation, the new token's (engines started before keep theirs: README "Security")."""
    token_file = Locations.from_env().token_file
    first = write_token(token_file)
    assert main(["token", "engine-key"]) == ExitCode.OK
    assert capsys.readouterr().out == engine_key(first) + "\n"
    assert main(["token", "rotate"]) == ExitCode.OK
    rotated = token_file.read_text().strip()
    capsys.readouterr()
    assert main(["token", "engine-key"]) == ExitCode.OK
    assert capsys.readouterr().out == engine_key(rotated) + "\n"
    assert engine_key(rotated) != engine_key(first)
