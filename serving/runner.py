"""Running the server in the foreground: bind, serve, load the requested models, and on
Ctrl-C/SIGTERM stop accepting, let in-flight requests finish, then stop every engine."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from engines.errors import EngineError, InsecureBindError, PortInUseError
from engines.supervisor import LaunchRequest, ManagedEngine
from profiles import Locations, Settings
from profiles.settings import MIN_PUBLIC_KEY_LENGTH
from serving import tether
from serving.app import create_app
from serving.auth import is_loopback
from serving.control_socket import control_socket
from serving.shutdown import remove_pid_file, write_pid_file
from serving.state import ServerState

T = TypeVar("T")


@dataclass(frozen=True)
class ServerInfo:
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"


class ReadyHook:
    """What the front end wants to hear: the server is up, a model is ready or failed."""

    def listening(self, info: ServerInfo) -> None: ...
    def engine_ready(self, info: ServerInfo, engine: ManagedEngine) -> None: ...
    def engine_failed(self, request: LaunchRequest, error: EngineError) -> None: ...


def check_bind_policy(settings: Settings) -> None:
    """Off loopback the OpenAI API needs a key long enough not to be guessed. The key was
    normalised once in the settings (spaces stripped, empty is none), so this check and
    the request check see the same value."""
    host, key = settings.server.host, settings.server.api_key
    if is_loopback(host):
        return
    shown = host or "every interface"
    if key is None:
        raise InsecureBindError(
            f"refusing to serve on {shown} without an API key (none set, or it is empty): "
            "use --api-key-file PATH or HOSTBENCH_SERVER__API_KEY, or bind to 127.0.0.1"
        )
    if len(key.get_secret_value()) < MIN_PUBLIC_KEY_LENGTH:
        raise InsecureBindError(
            f"refusing to serve on {shown} with an API key shorter than "
            f"{MIN_PUBLIC_KEY_LENGTH} characters: use a longer one "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says it is TCP; without it, each SSE event waits ~40 ms for the
    # client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use") from None
        raise PortInUseError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, but a signal only asks for a graceful exit; it is not re-raised
    afterwards, so the CLI can report and return an exit code."""

    received_signal: int | None = None
    detached = False
    """SIGUSR1 received: keep serving when the `server.exit_with_pid` process exits."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.before_shutdown: list[Callable[[], object]] = []

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        if hasattr(signal, "SIGUSR1"):
            previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, self._on_detach)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for callback in self.before_shutdown:
            callback()
        await super().shutdown(sockets)

    def _on_detach(self, _sig: int, _frame: object) -> None:
        self.detached = True

    def _on_signal(self, sig: int, _frame: object) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.received_signal = sig
        self.should_exit = True


async def _preload(
    server: _Server,
    state: ServerState,
    info: ServerInfo,
    requests: Sequence[LaunchRequest],
    hook: ReadyHook,
) -> bool:
    """Launch the requested models once the server listens; stop it if one fails."""
    while not server.started and not server.should_exit:
        await asyncio.sleep(0.02)
    hook.listening(info)
    for request in requests:
        try:
            engine = await state.pool.launch(request)
        except EngineError as error:
            hook.engine_failed(request, error)
            server.should_exit = True
            return False
        hook.engine_ready(info, engine)
    return True


async def serve(
    settings: Settings,
    locations: Locations,
    requests: Sequence[LaunchRequest] = (),
    *,
    hook: ReadyHook | None = None,
    sock: socket.socket | None = None,
) -> ServeOutcome:
    """Serve until a signal (or a failed launch); say how it ended.

    `sock` is a socket already bound with `bind_socket`, for callers that want to know
    the port is free before doing slow work (pulling a model)."""
    check_bind_policy(settings)
    sock = sock or bind_socket(settings.server.host, settings.server.port)
    info = ServerInfo(settings.server.host, int(sock.getsockname()[1]))
    state = ServerState.build(settings, locations)
    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        lifespan="on",
        access_log=False,
        http="httptools",
        timeout_graceful_shutdown=math.ceil(settings.server.graceful_shutdown_s),
    )
    server = _Server(config)
    logging.getLogger("uvicorn.error").addFilter(_CancelledAtShutdown())
    preload = asyncio.create_task(_preload(server, state, info, requests, hook or ReadyHook()))
    state.pool.expect(tuple(n for r in requests for n in r.names), preload)
    server.before_shutdown.append(preload.cancel)
    pid_path = write_pid_file(locations, info.port)
    server.before_shutdown.append(state.pool.cancel_loads)  # a pull never holds it up
    tether = _tether(server, settings.server.exit_with_pid)
    try:
        with control_socket(locations.data_dir, info.port) as local:
            await server.serve(sockets=[sock, *local])
    finally:
        remove_pid_file(pid_path)
        if tether is not None:
            tether.cancel()
        preload.cancel()
        (loaded,) = await asyncio.gather(preload, return_exceptions=True)
        sock.close()
    return ServeOutcome(launch_failed=loaded is False, signal=server.received_signal)


def _tether(server: _Server, pid: int | None) -> asyncio.Task[None] | None:
    """Stop gracefully once process `pid` exits, unless detached (serving/tether.py)."""
    if pid is None:
        return None

    def stop() -> None:
        server.should_exit = True

    return asyncio.create_task(tether.exit_with(pid, lambda: server.detached, stop))


@dataclass(frozen=True)
class ServeOutcome:
    launch_failed: bool
    signal: int | None


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the server's loop on uvloop where it exists (less CPU per relayed token)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class _CancelledAtShutdown(logging.Filter):
    """Requests still running when the graceful-shutdown time is up are cancelled on
    purpose; uvicorn logs each as an application error with a traceback. Drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)
