"""The control channel: the token goes only to a server that proves itself, it rotates, it
is not served to other machines, and what a control request may ask for (README
"Control API"). Real servers on loopback, no engine unless the behaviour needs one."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from control.api import LaunchBody
from control.channel import proof, socket_path, write_token
from control.client import ControlClient, ControlError, ServerNotRunningError
from engines.process import free_port
from profiles import Locations, Settings
from tests.servers import DEFAULT_MODEL, ServerProcess, run_cli

PUBLIC_KEY = "k" * 32
"""An API key long enough for a non-loopback bind."""


class Recorder(BaseHTTPRequestHandler):
    """A stranger's server: claims to be hostbench and keeps everything it is sent."""

    seen: list[str]

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        self.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body}")
        payload = json.dumps({"service": "hostbench", "status": "ok", "proof": "0" * 64})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stranger() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


class OtherVersion(BaseHTTPRequestHandler):
    """A server that holds the token (an older or newer hostbench) but answers the control
    API in another shape: its engines lack fields, its pool has none of ours."""

    token: str

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        port = self.server.server_address[1]
        replies: dict[str, object] = {
            "/health": {"service": "hostbench", "status": "ok"},
            "/api/challenge": {"proof": proof(self.token, port, query.removeprefix("nonce="))},
            "/api/engines": [{"id": "x", "status": "up"}],
            "/api/pool": {"budget": 1},
        }
        payload = json.dumps(replies.get(path, {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_reply_of_another_shape_is_a_clear_error(tmp_path: Path) -> None:
    """`hostbench ps` against a server that proves the token but speaks another version of
    the control API: a message naming the server and the field, exit code 4, no traceback
    (it was `KeyError: 'used_bytes'`)."""
    home = tmp_path / "home"
    token = write_token(home / "config" / "control-token")
    handler = type("Handler", (OtherVersion,), {"token": token})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        done = run_cli(home, "ps", "--port", str(port), timeout=120)
        pool = run_cli(home, "ps", "--json", "--pool", "--port", str(port), timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    for run in (done, pool):
        assert run.returncode == 4, run.stderr
        assert "Traceback" not in run.stderr
        last = run.stderr.strip().splitlines()[-1]
        assert f"the server at http://127.0.0.1:{port} answered GET /api/" in last, last
        assert "does not understand" in last and "another version" in last
    assert "(0.name: field required)" in done.stderr, done.stderr
    assert "GET /api/pool" in pool.stderr and "(budget_bytes: field required)" in pool.stderr


def serving(home: Path, env: dict[str, str] | None = None, *args: str) -> ServerProcess:
    server = ServerProcess(home, args=args, env=env, command="serve")
    try:
        server.wait_ready(60)
    except BaseException:
        server.terminate()
        raise
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = serving(tmp_path / "home")
    try:
        yield process
    finally:
        process.terminate()


def client_for(home: Path, port: int, host: str = "127.0.0.1") -> ControlClient:
    settings = Settings(server={"port": port, "host": host})
    return ControlClient(settings, Locations.from_env({"HOSTBENCH_HOME": str(home)}))


def test_a_stranger_on_the_port_never_receives_the_token(
    tmp_path: Path, stranger: tuple[int, list[str]]
) -> None:
    port, seen = stranger
    home = tmp_path / "home"
    token = write_token(home / "config" / "control-token")
    commands = (("ps",), ("stop", "x"), ("restart", "x"), ("launch", DEFAULT_MODEL))
    runs = [run_cli(home, *argv, "--port", str(port), timeout=120) for argv in commands]
    try:
        client_for(home, port).launch(LaunchBody(model=DEFAULT_MODEL))
    except Exception as error:  # what the workbench would show
        refusal: Exception | None = error
    else:
        refusal = None
    assert seen, "the stranger was asked (for its proof)"
    assert not [request for request in seen if token in request], "the token leaked"
    assert "did not prove" in str(refusal)
    for done in runs:
        assert done.returncode == 4, done.stdout  # "unavailable", like no server
        last = done.stderr.strip().splitlines()[-1]
        assert "did not prove it knows the control token" in last, done.stderr
        assert "Traceback" not in done.stderr


def test_the_token_goes_over_the_private_socket(server: ServerProcess) -> None:
    path = socket_path(server.home / "data", server.port)
    directory = path.parent.lstat()
    assert stat.S_IMODE(directory.st_mode) == 0o700 and directory.st_uid == os.getuid()
    assert len(os.fsencode(path)) <= 100 and stat.S_ISSOCK(path.lstat().st_mode)
    client = client_for(server.home, server.port)
    assert client.socket() == path and client.engines() == []
    local = httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), trust_env=False)
    with local:
        assert local.get("http://localhost/api/engines").status_code == 401, "token needed"
        headers = {"Authorization": f"Bearer {server.token}"}
        assert local.get("http://localhost/api/engines", headers=headers).status_code == 200


def test_a_socket_in_a_shared_directory_is_not_used(tmp_path: Path) -> None:
    """Someone else's socket where ours would be: the client does not send it the token."""
    home, port = tmp_path / "home", free_port()
    write_token(home / "config" / "control-token")
    path = socket_path(home / "data", port)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    listener.settimeout(0.5)
    try:
        client = client_for(home, port)
        assert client.socket() is None
        with pytest.raises(ServerNotRunningError):
            client.engines()
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_a_rotated_token_replaces_the_old_one(server: ServerProcess) -> None:
    old = server.token
    assert server.control("GET", "/api/engines").status_code == 200
    done = run_cli(server.home, "token", "rotate")
    assert done.returncode == 0, done.stderr
    token_file = server.token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert server.token != old
    refused = httpx.get(
        server.base_url + "/api/engines", headers={"Authorization": f"Bearer {old}"}
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert server.control("GET", "/api/engines").status_code == 200
    listed = run_cli(server.home, "ps", "--port", str(server.port), "--json")
    assert listed.returncode == 0, listed.stderr


def outside_address() -> str | None:
    """An address of this machine that is not loopback (a peer connecting to it is not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("allowed", [False, True])
def test_the_control_api_is_refused_to_other_machines(tmp_path: Path, allowed: bool) -> None:
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    env = {"HOSTBENCH_SERVER__API_KEY": PUBLIC_KEY}
    if allowed:
        env["HOSTBENCH_SERVER__ALLOW_REMOTE_CONTROL"] = "true"
    server = serving(tmp_path / "home", env, "--host", "0.0.0.0")
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        remote = f"http://{address}:{server.port}"
        answer = httpx.get(remote + "/api/engines", headers=headers, trust_env=False)
        challenge = httpx.get(remote + "/api/challenge", params={"nonce": "ab" * 32})
        if allowed:
            assert answer.status_code == 200 and challenge.status_code == 200
            return
        assert answer.status_code == 403, answer.text
        error = answer.json()["error"]
        assert error["code"] == "remote_control_refused"
        assert "HOSTBENCH_SERVER__ALLOW_REMOTE_CONTROL" in error["message"]
        assert challenge.status_code == 403
        assert server.control("GET", "/api/engines").status_code == 200, "loopback still works"
        assert client_for(server.home, server.port, "0.0.0.0").engines() == [], "the socket too"
        with pytest.raises(ControlError, match="not served to other machines"):
            client_for(server.home, server.port, address).engines()
    finally:
        server.terminate()


def test_a_remote_client_behind_a_local_proxy_is_still_refused(server: ServerProcess) -> None:
    """A reverse proxy on this machine connects from loopback and names the real client in
    X-Forwarded-For (uvicorn trusts it from 127.0.0.1): the control API sees the remote
    client, not the proxy, and refuses it."""
    headers = {"Authorization": f"Bearer {server.token}", "X-Forwarded-For": "203.0.113.7"}
    proxied = httpx.get(server.base_url + "/api/engines", headers=headers, trust_env=False)
    assert proxied.status_code == 403, proxied.text
    assert proxied.json()["error"]["code"] == "remote_control_refused"
    assert server.control("GET", "/api/engines").status_code == 200, "the proxy itself may"


def test_a_launch_body_cannot_carry_a_command(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for option, value in (("command", f"touch {marker}"), ("trust_remote_code", True)):
        refused = server.control(
            "POST",
            "/api/engines",
            json={
                "model": DEFAULT_MODEL,
                "engine": "openai-compatible" if option == "command" else "vllm",
                "options": {option: value},
            },
        )
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["param"] == f"options.{option}" and "profile" in error["message"]
    assert not marker.exists(), "the command never ran"


def test_the_cli_keeps_a_command_to_itself(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = run_cli(
        server.home, "launch", DEFAULT_MODEL, "--engine", "openai-compatible",
        "--command", f"touch {marker}", "--port", str(server.port),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "--command is not handed to the running server" in lines[-1]
    assert "--profile" in lines[-1] and "Traceback" not in done.stderr
    assert not marker.exists()


def test_the_server_refuses_relative_model_paths(server: ServerProcess) -> None:
    for model in ("./model.gguf", "models/model.gguf", "~/model.gguf", "../x/y"):
        refused = server.control("POST", "/api/engines", json={"model": model})
        assert refused.status_code == 400, (model, refused.text)
        assert refused.json()["error"]["param"] == "model"
        assert "relative path" in refused.json()["error"]["message"]
    hub_id = server.control("POST", "/api/engines", json={"model": "org/name"})
    assert hub_id.json()["error"]["param"] != "model", "a Hub repo id is not a path"


def test_a_masked_secret_is_refused(server: ServerProcess) -> None:
    refused = server.control(
        "POST",
        "/api/engines",
        json={
            "model": DEFAULT_MODEL,
            "engine": "openai-compatible",
            "profile": "llama-cpp-python",
            "options": {"engine_api_key": "**********"},
        },
    )
    assert refused.status_code == 400, refused.text
    assert "masked placeholder" in refused.json()["error"]["message"]


@pytest.mark.parametrize("name", ["a b?c#d/e", "org/model", "x#y", "q?lines=1"])
def test_engine_names_are_encoded(server: ServerProcess, name: str) -> None:
    client = client_for(server.home, server.port)
    for call in (client.stop, client.restart, client.engine_log):
        with pytest.raises(ControlError) as refused:
            call(name)
        assert refused.value.status == 404
        assert f"no engine named {name!r}" in str(refused.value)
