"""Reading a machine snapshot from a file (`--machine FILE`): one clear error for a missing,
unreadable or malformed file instead of whatever `open` or `json` raise."""

from __future__ import annotations

import json
from pathlib import Path

from errors import NotFoundError, UsageError
from hardware.snapshots import MachineSnapshot, snapshot_from_dict

HOW_TO_MAKE = "make one with `hostbench gpus --json > FILE` on that machine"


class SnapshotFileError(UsageError, ValueError):
    """The file is not a readable machine snapshot; the message says why and how to make one."""


class SnapshotFileNotFoundError(SnapshotFileError):
    """No file at that path."""

    exit_code = NotFoundError.exit_code


def read_snapshot_file(path: Path) -> MachineSnapshot:
    """The snapshot `hostbench gpus --json` wrote to `path`."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise SnapshotFileError(f"{path} is not a machine snapshot ({HOW_TO_MAKE})")
    if "devices" in data and "timestamp_s" not in data:
        raise SnapshotFileError(
            f"{path} is a recorded NVML reading, not a machine snapshot; {HOW_TO_MAKE} "
            "(docs/machines/ holds snapshots made from the recorded readings)"
        )
    try:
        return snapshot_from_dict(data)
    except KeyError as error:
        raise SnapshotFileError(
            f"{path} is not a machine snapshot (no {error} field); {HOW_TO_MAKE}"
        ) from None
    except (TypeError, ValueError, AttributeError) as error:
        raise SnapshotFileError(
            f"{path} is not a machine snapshot ({type(error).__name__}: {error}); {HOW_TO_MAKE}"
        ) from None


def _read_json(path: Path) -> object:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise SnapshotFileNotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SnapshotFileError(f"{path} is a directory, not a machine snapshot file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise SnapshotFileError(f"cannot read {path}: {reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SnapshotFileError(
            f"{path} is not JSON (line {error.lineno}, column {error.colno}); {HOW_TO_MAKE}"
        ) from None
