"""The server's Unix socket: the same app as the TCP port, in a directory only the user can
enter, so a control client reaching it knows it talks to the user's own server
(control/channel.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from control.channel import (
    ControlChannelError,
    make_private_dir,
    socket_path,
    unix_sockets_supported,
)

log = logging.getLogger("hostbench.server")


def _in_use(path: Path) -> bool:
    """Another live server answers on `path` (same port on another address)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def bind_control_socket(data_dir: Path, port: int) -> socket.socket | None:
    """A listening Unix socket for the server on `port`, or None (not POSIX, or the
    directory is not private: clients then use the TCP challenge)."""
    if not unix_sockets_supported():
        return None
    path = socket_path(data_dir, port)
    try:
        make_private_dir(path.parent)
    except (ControlChannelError, OSError) as error:
        log.warning("no control socket (%s); clients prove the server over TCP instead", error)
        return None
    if _in_use(path):
        log.warning("no control socket: another server answers on %s", path)
        return None
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(512)
    except OSError as error:
        sock.close()
        log.warning("no control socket at %s: %s", path, error)
        return None
    sock.set_inheritable(False)
    return sock


@contextlib.contextmanager
def control_socket(data_dir: Path, port: int) -> Iterator[list[socket.socket]]:
    """The socket as a list (empty where there is none); removed from disk afterwards."""
    sock = bind_control_socket(data_dir, port)
    if sock is None:
        yield []
        return
    path = Path(sock.getsockname())
    bound = path.stat().st_ino
    try:
        yield [sock]
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            if path.stat().st_ino == bound:
                path.unlink()
