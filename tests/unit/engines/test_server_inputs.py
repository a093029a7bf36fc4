"""The server's input checks, below HTTP: API key policy, loopback, Host names, JSON depth,
strict request fields, and no file paths in errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from engines.errors import InsecureBindError
from profiles import ServerSettings, Settings
from serving.auth import is_loopback
from serving.bodies import depth_exceeds, load_json_object
from serving.engine_errors import redact_paths
from serving.errors import ApiError, from_validation_error
from serving.guard import GuardPolicy, host_name
from serving.runner import check_bind_policy
from serving.schemas import ChatCompletionRequest

LONG_KEY = "k" * 16


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("127.evil.example", False),
        ("127.0.0.1.example", False),
        ("::ffff:10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.1.2.3", False),
        ("name.that.does.not.resolve.invalid", False),
    ],
)
def test_loopback_is_parsed_not_guessed(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("key", ["", "   ", "\t\n"])
def test_an_empty_key_is_no_key(home: Path, key: str) -> None:
    assert ServerSettings(api_key=key).api_key is None


def test_the_key_is_stripped_once_for_both_checks(home: Path) -> None:
    settings = ServerSettings(api_key=f"  {LONG_KEY}\n")
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == LONG_KEY


@pytest.mark.parametrize("key", [None, "", "   ", "short-key"])
def test_public_bind_refuses_a_missing_empty_or_short_key(home: Path, key: str | None) -> None:
    settings = Settings(server={"host": "0.0.0.0", "api_key": key})
    with pytest.raises(InsecureBindError, match="API key"):
        check_bind_policy(settings)


def test_public_bind_accepts_a_long_key_and_loopback_needs_none(home: Path) -> None:
    check_bind_policy(Settings(server={"host": "0.0.0.0", "api_key": LONG_KEY}))
    check_bind_policy(Settings(server={"host": "localhost", "api_key": ""}))


def test_key_file(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(LONG_KEY + "\n")
    server = ServerSettings(api_key_file=path)
    assert server.api_key is not None and server.api_key.get_secret_value() == LONG_KEY
    with pytest.raises(ValidationError, match="not both"):
        ServerSettings(api_key_file=path, api_key=LONG_KEY)
    with pytest.raises(ValidationError, match="cannot read the API key file"):
        ServerSettings(api_key_file=tmp_path / "missing")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8080", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:8080", "::1"),
        ("example.com.:80", "example.com"),
        ("evil.example", "evil.example"),
    ],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_host_policy(home: Path) -> None:
    loopback = GuardPolicy.from_settings(ServerSettings(allowed_hosts=["Box.LAN"]))
    assert all(loopback.names_this_server(n) for n in ("localhost", "127.0.0.2", "::1", "box.lan"))
    assert not loopback.names_this_server("evil.example")
    assert not loopback.names_this_server("192.168.1.5")
    public = GuardPolicy.from_settings(ServerSettings(host="0.0.0.0"))
    assert public.names_this_server("192.168.1.5")
    assert not public.names_this_server("evil.example")


def nested(depth: int) -> bytes:
    return b'{"model": "m", "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_limits_have_safe_defaults(home: Path) -> None:
    server = ServerSettings()
    assert (server.max_body_bytes, server.max_json_depth) == (8 << 20, 64)
    assert (server.allowed_hosts, server.allowed_origins) == ([], [])


def test_depth_limit() -> None:
    assert load_json_object(nested(64), 64)["model"] == "m"
    for depth in (65, 50_000):
        with pytest.raises(ApiError) as raised:
            load_json_object(nested(depth), 64)
        assert raised.value.status == 400 and "nested deeper than 64" in raised.value.message


def test_depth_walk_counts_objects_and_lists() -> None:
    value = json.loads('{"a": [{"b": [[1]]}], "c": 2}')
    assert not depth_exceeds(value, 5) and depth_exceeds(value, 4)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "false"),
        ("stream", 1),
        ("max_tokens", "5"),
        ("max_tokens", 5.0),
        ("n", True),
        ("model", 5),
        ("temperature", "0.5"),
        ("stream_options", {"include_usage": "yes"}),
    ],
)
def test_fields_the_gateway_reads_are_strict(field: str, value: object) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
    with pytest.raises(ValidationError) as raised:
        ChatCompletionRequest.model_validate(body, strict=True)
    error = from_validation_error(raised.value)
    assert error.status == 400 and error.param is not None and error.param.startswith(field)
    assert error.code == "invalid_type"


def test_union_members_do_not_leak_into_param() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": 5}]}
    with pytest.raises(ValidationError) as raised:
        ChatCompletionRequest.model_validate(body, strict=True)
    assert from_validation_error(raised.value).param == "messages.0.content"


def test_paths_are_redacted_from_client_errors() -> None:
    text = "llama-server for 'x' exited (log: /home/me/.local/state/hostbench/logs/x.log)"
    assert redact_paths(text) == "llama-server for 'x' exited (log: <path>)"
    url = "see https://huggingface.co/org/repo/resolve/main/x.gguf; model org/repo"
    assert redact_paths(url) == url


def test_allowed_names_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTBENCH_SERVER__ALLOWED_HOSTS", "Box.LAN, other.example")
    monkeypatch.setenv("HOSTBENCH_SERVER__ALLOWED_ORIGINS", '["https://App.example/"]')
    server = Settings().server
    assert server.allowed_hosts == ["box.lan", "other.example"]
    assert server.allowed_origins == ["https://app.example"]
