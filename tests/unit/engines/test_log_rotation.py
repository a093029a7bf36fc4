"""Engine logs are appended to on every start; one past the size limit is moved aside
(NAME.log.1) when the engine next starts, so a long-lived server's log does not only grow."""

from __future__ import annotations

from pathlib import Path

from engines.process import rotate_log


def test_a_log_past_the_limit_moves_aside_replacing_the_older_one(tmp_path: Path) -> None:
    log = tmp_path / "model.log"
    log.write_bytes(b"x" * 101)
    (tmp_path / "model.log.1").write_text("the run before\n")

    assert rotate_log(log, limit_bytes=100)

    assert not log.exists()
    assert (tmp_path / "model.log.1").read_bytes() == b"x" * 101


def test_a_log_within_the_limit_and_a_missing_log_stay_as_they_are(tmp_path: Path) -> None:
    log = tmp_path / "model.log"
    log.write_bytes(b"x" * 100)

    assert not rotate_log(log, limit_bytes=100)
    assert not rotate_log(tmp_path / "never-started.log", limit_bytes=100)

    assert log.read_bytes() == b"x" * 100
    assert not (tmp_path / "model.log.1").exists()
