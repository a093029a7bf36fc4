"""What to paste to point OpenAI- and Anthropic-compatible clients at the endpoint.

`hostbench clients` prints it (README.md, "Pointing clients and agents at it"). The API
key itself is never shown: only where it comes from, as a shell expression where there is
one (`$(cat FILE)`, `$HOSTBENCH_SERVER__API_KEY`), so a pasted block works without the
secret landing in a terminal's scrollback.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from control.api import EngineStatus
from profiles import Locations, Settings

NO_KEY = "hostbench"
"""SDKs refuse an empty key; a server without one accepts any."""
AGENT_MODEL_VARIABLES = (
    "ANTHROPIC_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
)
"""The model variables Claude Code-style agents read; all set to one served model."""


@dataclass(frozen=True)
class KeySource:
    """Where the endpoint's API key comes from, without the key."""

    required: bool | None
    """None: not known (no server answered)."""
    shell: str
    """A shell expression giving the key, or a placeholder."""
    detail: str


@dataclass(frozen=True)
class ClientSetup:
    base_url: str
    running: bool
    models: Sequence[str]
    key: KeySource
    env: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "running": self.running,
            "models": list(self.models),
            "api_key": {"required": self.key.required, "source": self.key.detail},
            "env": self.env,
        }


def key_source(
    settings: Settings,
    locations: Locations,
    required: bool | None,
    environ: Mapping[str, str],
    flag: bool = False,
) -> KeySource:
    """`flag`: the key was given with --api-key, so neither the config nor the environment
    holds it."""
    server = settings.server
    if flag:
        return KeySource(True, "<API key>", "the key given with --api-key")
    if server.api_key_file is not None:
        path = shlex.quote(str(server.api_key_file.expanduser()))
        return KeySource(True, f'"$(cat {path})"', f"the file {server.api_key_file}")
    if environ.get("HOSTBENCH_SERVER__API_KEY"):
        return KeySource(True, '"$HOSTBENCH_SERVER__API_KEY"', "$HOSTBENCH_SERVER__API_KEY")
    if server.api_key is not None:
        where = f"server.api_key in {locations.config_file}"
        return KeySource(True, "<server.api_key>", where)
    if required:
        detail = "the key the server was started with (--api-key-file or its environment)"
        return KeySource(True, "<API key>", detail)
    detail = "none required; SDKs need a non-empty value, any will do"
    return KeySource(required, NO_KEY, detail if required is False else "not known")


def client_setup(
    base_url: str, running: bool, models: Sequence[str], key: KeySource
) -> ClientSetup:
    model = models[0] if models else "<model>"
    env = {
        "OPENAI_BASE_URL": f"{base_url}/v1",
        "OPENAI_API_KEY": key.shell,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": key.shell,
        "ANTHROPIC_AUTH_TOKEN": key.shell,
        **dict.fromkeys(AGENT_MODEL_VARIABLES, model),
    }
    return ClientSetup(base_url, running, list(models), key, env)


SECTIONS = {
    "OPENAI_BASE_URL": "# OpenAI-compatible SDKs and tools (chat, completions, embeddings, "
    "responses):",
    "ANTHROPIC_BASE_URL": "# Anthropic-compatible SDKs and agents (Claude Code and the like):",
}
COMMENTED = {
    "ANTHROPIC_AUTH_TOKEN": "# agents that send the key as a bearer token take it here "
    "instead of ANTHROPIC_API_KEY (set one of the two):",
}


def shell_lines(setup: ClientSetup) -> list[str]:
    """`export` lines under their section comments; values that are shell expressions are
    kept as written, the rest quoted."""
    lines = []
    for name, value in setup.env.items():
        shown = value if value.startswith('"$') else shlex.quote(value)
        lines += [SECTIONS[name]] if name in SECTIONS else []
        if name in COMMENTED:
            lines += [COMMENTED[name], f"# export {name}={shown}"]
        else:
            lines.append(f"export {name}={shown}")
    return lines


def served_models(engines: Sequence[EngineStatus], offered: Sequence[str]) -> list[str]:
    """Names clients can send: running engines first, their aliases, then models offered
    on demand."""
    names: list[str] = []
    for engine in engines:
        names += [engine.name, *engine.aliases]
    return list(dict.fromkeys([*names, *offered]))
