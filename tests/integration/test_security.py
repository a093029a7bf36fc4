"""The server refuses what it must not serve: a public bind without a real key, a foreign
Host, a cross-origin page, a non-JSON body, an oversized or over-deep body, a wrongly typed
field; and no error shows a file path. Real servers on loopback, raw HTTP requests."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engines.process import free_port
from tests.servers import DEFAULT_MODEL, ServerProcess, run_cli

CHAT = "/v1/chat/completions"
KEY = "a-long-enough-test-key-0123456789"
ALLOWED_ORIGIN = "http://app.example"
LIMIT = 1 << 20
HELLO = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}]}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


# --- start-up: the API key ------------------------------------------------------------


def serve_refused(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """`hostbench serve` that must exit 2 at once; its one-line error."""
    port = str(free_port())
    try:
        done = run_cli(home, "serve", "--port", port, *args, extra_env=env, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the server started and served instead of refusing")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_key_on_a_public_bind_is_refused(session_home: Path, key: str) -> None:
    env = {"HOSTBENCH_SERVER__API_KEY": key}
    line = serve_refused(session_home, "--host", "0.0.0.0", env=env)
    assert "without an API key" in line


def test_a_short_key_on_a_public_bind_is_refused(session_home: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("short\n")
    line = serve_refused(session_home, "--host", "0.0.0.0", "--api-key-file", str(key_file))
    assert "shorter than 16 characters" in line


def test_an_unreadable_key_file_is_a_usage_error(session_home: Path, tmp_path: Path) -> None:
    line = serve_refused(session_home, "--api-key-file", str(tmp_path / "missing"))
    assert "cannot read the API key file" in line


def test_help_points_to_the_key_file(session_home: Path) -> None:
    for command in ("serve", "launch"):
        text = " ".join(run_cli(session_home, command, "--help").stdout.split())
        assert "--api-key-file PATH" in text and "HOSTBENCH_SERVER__API_KEY" in text
        assert "WARNING: other users see it in `ps`" in text


def test_a_key_file_guards_a_public_bind(session_home: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {KEY}\n")
    server = ServerProcess(
        session_home, args=("--host", "0.0.0.0", "--api-key-file", str(key_file)), command="serve"
    )
    try:
        server.wait_ready()
        url = server.base_url + "/v1/models"
        assert httpx.get(url, timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer " + KEY[:-1]}
        assert httpx.get(url, headers=wrong, timeout=10).status_code == 401
        right = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(url, headers=right, timeout=10).status_code == 200
    finally:
        server.terminate()


# --- requests: Host, Origin, Content-Type, size, depth, types ---------------------------


@pytest.fixture(scope="module")
def guarded(session_home: Path) -> Iterator[ServerProcess]:
    """A server with no model (these checks come before routing), one extra host name, one
    allowed origin and a 1 MiB body limit (the default, 8 MiB, is a unit test's)."""
    env = {
        "HOSTBENCH_SERVER__ALLOWED_HOSTS": '["hostbench.example"]',
        "HOSTBENCH_SERVER__ALLOWED_ORIGINS": f'["{ALLOWED_ORIGIN}"]',
        "HOSTBENCH_SERVER__MAX_BODY_BYTES": str(LIMIT),
    }
    server = ServerProcess(session_home, args=(), env=env, command="serve")
    try:
        server.wait_ready()
        yield server
    finally:
        server.terminate()


ROUTES = [("GET", "/health"), ("GET", "/v1/models"), ("GET", "/api/engines"), ("GET", "/metrics")]
ROUTES += [("POST", CHAT), ("POST", "/v1/completions"), ("POST", "/v1/embeddings")]


def request(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}", **kwargs.pop("headers", {})}
    if method == "POST":
        kwargs.setdefault("json", HELLO)
    return httpx.request(method, server.base_url + path, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_foreign_host_is_refused_everywhere(
    guarded: ServerProcess, method: str, path: str
) -> None:
    response = request(guarded, method, path, headers={"Host": f"evil.example:{guarded.port}"})
    assert response.status_code == 421
    assert error_of(response)["code"] == "host_not_allowed"


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "[::1]", "127.0.0.2", "hostbench.example", "LOCALHOST."]
)
def test_names_of_this_server_are_served(guarded: ServerProcess, host: str) -> None:
    response = request(guarded, "GET", "/health", headers={"Host": f"{host}:{guarded.port}"})
    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_cross_origin_page_is_refused_everywhere(
    guarded: ServerProcess, method: str, path: str
) -> None:
    headers = {"Origin": "http://evil.example"}
    response = request(guarded, method, path, headers=headers)
    assert response.status_code == 403
    assert error_of(response)["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers


def test_the_no_preflight_text_plain_post_is_refused(guarded: ServerProcess) -> None:
    """What a web page can send cross-site without asking first."""
    headers = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    response = httpx.post(
        guarded.base_url + CHAT, content=json.dumps(HELLO), headers=headers, timeout=30
    )
    assert response.status_code == 403


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_post_bodies_must_be_json(guarded: ServerProcess, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for path in (CHAT, "/api/engines"):
        response = request(guarded, "POST", path, content=json.dumps(HELLO), headers=headers)
        assert response.status_code == 415
        assert error_of(response)["code"] == "unsupported_media_type"


def test_same_origin_and_allowed_origins(guarded: ServerProcess) -> None:
    own = request(guarded, "GET", "/health", headers={"Origin": guarded.base_url})
    assert own.status_code == 200 and "access-control-allow-origin" not in own.headers
    allowed = request(guarded, "GET", "/health", headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_cors_preflight_only_for_allowed_origins(guarded: ServerProcess) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    ok = request(guarded, "OPTIONS", CHAT, headers={"Origin": ALLOWED_ORIGIN, **ask})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"]
    refused = request(guarded, "OPTIONS", CHAT, headers={"Origin": "http://evil.example", **ask})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def raw_exchange(server: ServerProcess, head: str, body: bytes = b"") -> bytes:
    """Send a request exactly as given; the whole answer (headers and JSON body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while not answer.endswith(b"}}") and (chunk := sock.recv(65536)):
            answer += chunk
        return answer


def post_head(server: ServerProcess, length_header: str) -> str:
    return (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/json\r\n{length_header}\r\n\r\n"
    )


def test_a_declared_huge_body_is_refused_unread(guarded: ServerProcess) -> None:
    """1 GiB announced and none of it sent: the 413 comes at once, then the server closes."""
    answer = raw_exchange(guarded, post_head(guarded, "Content-Length: 1073741824"))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"request_too_large"' in answer and b"connection: close" in answer.lower()


def test_a_chunked_body_is_counted_as_it_arrives(guarded: ServerProcess) -> None:
    """No length announced: refused as soon as the chunks add up to more than the limit."""
    piece = b" " * (256 << 10)
    chunks = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") * (LIMIT // len(piece) + 1)
    answer = raw_exchange(guarded, post_head(guarded, "Transfer-Encoding: chunked"), chunks)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_bodies_up_to_the_limit_pass(guarded: ServerProcess) -> None:
    near = {**HELLO, "model": "no-such-model", "padding": "x" * (LIMIT - 1000)}
    response = request(guarded, "POST", CHAT, json=near)
    assert response.status_code == 404 and error_of(response)["code"] == "model_not_found"


@pytest.mark.parametrize("depth", [65, 50_000])
def test_deep_json_is_a_400(guarded: ServerProcess, depth: int) -> None:
    body = b'{"model": "m", "x": ' + b"[" * depth + b"]" * depth + b"}"
    headers = {"Content-Type": "application/json"}
    for path in (CHAT, "/v1/completions", "/v1/embeddings"):
        response = request(guarded, "POST", path, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert "nested deeper than 64" in error_of(response)["message"]
    launch = b'{"model": "m", "options": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    control = request(guarded, "POST", "/api/engines", content=launch, headers=headers)
    assert control.status_code == 400, control.text
    assert "nested deeper than 64" in error_of(control)["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "false"),
        ("stream", "true"),
        ("stream", 0),
        ("max_tokens", "4"),
        ("n", True),
        ("model", ["x"]),
        ("stream_options", {"include_usage": "false"}),
    ],
)
def test_type_confusion_is_a_400_naming_the_field(
    guarded: ServerProcess, field: str, value: Any
) -> None:
    response = request(guarded, "POST", CHAT, json={**HELLO, field: value})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["param"] is not None and error["param"].startswith(field)
    assert field in error["message"]


def test_health_and_errors_show_no_paths(guarded: ServerProcess) -> None:
    home = str(guarded.home)
    health = request(guarded, "GET", "/health")
    assert health.status_code == 200 and home not in health.text
    missing = request(guarded, "POST", CHAT, json={**HELLO, "model": "nothing-here"})
    assert home not in missing.text


def test_openapi_describes_the_forwarded_bodies(guarded: ServerProcess) -> None:
    schema = request(guarded, "GET", "/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, model, field in [
        (CHAT, "ChatCompletionRequest", "messages"),
        ("/v1/completions", "CompletionRequest", "prompt"),
        ("/v1/embeddings", "EmbeddingRequest", "input"),
    ]:
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"] == f"#/components/schemas/{model}"
        assert field in components[model]["required"]
        assert components[model]["properties"]["stream" if path != "/v1/embeddings" else "model"]


def test_an_on_demand_load_failure_names_no_path(session_home: Path, tmp_path: Path) -> None:
    """A model file that is no GGUF: the load error reaches the client without the path
    of the file or of the engine log."""
    bogus = tmp_path / "secret-dir" / "bogus.gguf"
    bogus.parent.mkdir()
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    offer = [{"name": "broken", "model": str(bogus)}]
    env = {"HOSTBENCH_POOL__MODELS": json.dumps(offer)}
    server = ServerProcess(session_home, args=(), env=env, command="serve")
    try:
        server.wait_ready()
        response = httpx.post(
            server.base_url + CHAT, json={**HELLO, "model": "broken"}, timeout=120
        )
        assert response.status_code >= 400
        error = error_of(response)
        assert "secret-dir" not in error["message"] and str(session_home) not in error["message"]
    finally:
        server.terminate()


def test_a_unix_socket_is_checked_for_bodies_only(home: Path, tmp_path: Path) -> None:
    """No browser reaches a Unix domain socket: any Host or Origin is served there, but a
    non-JSON body is still refused."""
    import threading
    import time

    import uvicorn

    from profiles import Locations, Settings
    from serving.app import create_app
    from serving.state import ServerState

    path = tmp_path / "hostbench.sock"
    app = create_app(ServerState.build(Settings(), Locations.from_env()))
    server = uvicorn.Server(uvicorn.Config(app, uds=str(path), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=10) as client:
            foreign = {"Host": "evil.example", "Origin": "http://evil.example"}
            assert client.get("http://hostbench/health", headers=foreign).status_code == 200
            plain = {"Content-Type": "text/plain"}
            refused = client.post("http://hostbench" + CHAT, content=b"{}", headers=plain)
            assert refused.status_code == 415
    finally:
        server.should_exit = True
        thread.join(30)


# --- the engines behind the server ----------------------------------------------------


def test_an_engine_answers_only_its_server(server: ServerProcess) -> None:
    """An engine listens on a loopback port, where every local process and every web page
    the user opens can reach it; it answers only with the key its server gave it
    (engines.base.with_access_key), which is in its environment, not its command line."""
    engine = server.engine()
    base = f"http://127.0.0.1:{engine['port']}"
    page = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    short = {**HELLO, "max_tokens": 2}
    from_page = httpx.post(base + CHAT, content=json.dumps(short), headers=page, timeout=60)
    assert from_page.status_code == 401, from_page.text
    assert httpx.post(base + CHAT, json=short, timeout=60).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 64}
    assert httpx.post(base + CHAT, json=short, headers=wrong, timeout=60).status_code == 401
    keyed = httpx.post(base + CHAT, json=short, headers=server.engine_key, timeout=60)
    assert keyed.status_code == 200, keyed.text
    key = server.engine_key["Authorization"].removeprefix("Bearer ")
    assert key.encode() not in Path(f"/proc/{engine['pid']}/cmdline").read_bytes()
    through = httpx.post(server.openai_url + "/chat/completions", json=short, timeout=60)
    assert through.status_code == 200, "the gateway sends the key"


def test_the_engines_metrics_reach_the_servers_metrics(default_server: ServerProcess) -> None:
    """llama-server asks for its key on /metrics too: the server scrapes with it."""
    engine = default_server.engine()
    direct = httpx.get(f"http://127.0.0.1:{engine['port']}/metrics", timeout=30)
    assert direct.status_code == 401
    exposed = httpx.get(default_server.base_url + "/metrics", timeout=30).text
    assert "hostbench_engine_requests_running{" in exposed, exposed[-2000:]
