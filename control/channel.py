"""How a control client knows it talks to the user's own hostbench server.

The control token goes only where the server has proven itself (README "Control API"):

- On POSIX the server also serves the control API on a Unix socket in a directory that
  only the user can enter (owned by them, mode 0700). Nobody else can create a socket
  there, so connecting to it is talking to one's own server.
- Elsewhere (no socket, or a server addressed over TCP) the client first sends a random
  nonce to an unauthenticated route; the server answers HMAC(token, port + nonce), which
  only a holder of the token can compute. Only then is the token sent. The port is in the
  proof so a stranger's server cannot relay the question to the real one on another port.

No server code here: the client, the server and `hostbench token rotate` share it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import stat
from pathlib import Path

from engines.errors import EngineError
from errors import UnavailableError

SOCKET_PATH_MAX = 100
"""AF_UNIX paths are limited to 104 bytes (macOS) or 108 (Linux), the NUL included."""
CHALLENGE_PATH = "/api/challenge"
PROOF_LABEL = b"hostbench-control-v1"
ENGINE_KEY_LABEL = b"hostbench-engine-key-v1"
MASKED_SECRET = "**********"
"""How pydantic shows a SecretStr; never a secret itself."""


class ControlChannelError(EngineError, UnavailableError):
    """The control channel cannot be trusted: the message says what is wrong."""


def unix_sockets_supported() -> bool:
    return os.name == "posix" and hasattr(socket, "AF_UNIX")


def socket_dir(data_dir: Path) -> Path:
    """`DATA/run`, or a short per-user, per-home directory under /tmp where that path
    would make a socket path too long for AF_UNIX."""
    preferred = data_dir / "run"
    if len(os.fsencode(preferred / "control-65535.sock")) <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:12]
    return Path("/tmp") / f"hostbench-{os.getuid()}-{digest}"


def socket_path(data_dir: Path, port: int) -> Path:
    """The control socket of the server on `port` (one per port: two servers may run)."""
    return socket_dir(data_dir) / f"control-{port}.sock"


def private_dir_problem(path: Path) -> str | None:
    """Why `path` is not a directory only this user can enter (None: it is)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return f"{path} does not exist"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.getuid():
        return f"{path} is owned by uid {info.st_uid}, not by this user ({os.getuid()})"
    if info.st_mode & 0o077:
        return f"{path} has mode {stat.S_IMODE(info.st_mode):o}; it must be 700"
    return None


def make_private_dir(path: Path) -> Path:
    """Create `path` with mode 0700 (or tighten our own); refuse one someone else owns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            os.chmod(path, 0o700)
    problem = private_dir_problem(path)
    if problem is not None:
        raise ControlChannelError(f"cannot use {path} for the control socket: {problem}")
    return path


def trusted_socket(data_dir: Path, port: int) -> Path | None:
    """The control socket for `port` if it exists in a private directory, else None."""
    if not unix_sockets_supported():
        return None
    path = socket_path(data_dir, port)
    if private_dir_problem(path.parent) is not None:
        return None
    try:
        return path if stat.S_ISSOCK(path.lstat().st_mode) else None
    except OSError:
        return None


def new_nonce() -> str:
    return secrets.token_hex(32)


def proof(token: str, port: int, nonce: str) -> str:
    """What only a holder of `token`, listening on `port`, answers to `nonce`."""
    message = b"\n".join((PROOF_LABEL, str(port).encode(), nonce.encode()))
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def engine_key(token: str) -> str:
    """The API key of the engines a server with control token `token` starts
    (`engines.base.with_access_key`): derived from the token, so the user's own tools
    (`hostbench bench`'s direct path, a bench's engine version) can reach an engine
    straight, and an engine process never holds the token itself. Engines started before
    `hostbench token rotate` keep the key of the token they started with."""
    return hmac.new(token.encode(), ENGINE_KEY_LABEL, hashlib.sha256).hexdigest()


def engine_headers(token_file: Path) -> dict[str, str]:
    """What to send an engine of the server whose control token is in `token_file`; none
    where there is no token (no server has run under this data directory)."""
    try:
        token = token_file.read_text().strip()
    except OSError:
        return {}
    return {"Authorization": f"Bearer {engine_key(token)}"} if token else {}


def proof_matches(token: str, port: int, nonce: str, answer: object) -> bool:
    expected = proof(token, port, nonce)
    return isinstance(answer, str) and hmac.compare_digest(answer.encode(), expected.encode())


def write_token(path: Path) -> str:
    """A new random token in `path`, mode 0600, replacing the old one atomically (a
    running server notices the file changed and accepts only the new token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return token
