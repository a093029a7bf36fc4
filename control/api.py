"""The control API's requests and replies, declared once.

The server (serving/control_routes.py) answers with these models, so they appear in its
`/openapi.json`; the client (control/client.py) reads every reply through them, so a reply of
another shape (another program on the port, a much older or newer hostbench) is a clear
`ControlReplyError` instead of a missing key somewhere in a front end. Replies ignore fields
they do not know, so a newer server's additions do not break an older client.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from errors import UsageError
from profiles.settings import OfferedModel

SERVED_NAME = r"[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*"
"""A name clients send as `model` (a launch's name or alias): something besides spaces,
and no control characters (an empty alias was once accepted, and a newline in a name would
reach the engine's log file name). Spaces, `/`, `?` and `#` inside are fine: the control
API quotes names in its paths."""
SERVED_NAME_MAX = 200

ServedName = Annotated[
    str, StringConstraints(pattern=f"^{SERVED_NAME}$", max_length=SERVED_NAME_MAX)
]


def check_served_name(value: object, flag: str) -> str:
    """`value` as a served name, by the same rule as the API's `ServedName`, or a
    UsageError naming `flag` (argparse hands a flag given as `--alias=--` over as [], hence
    `object`)."""
    try:
        return TypeAdapter(ServedName).validate_python(value, strict=True)
    except ValidationError:
        pass
    shown = "--" if value == [] else value
    raise UsageError(
        f"{flag} {shown!r}: a served name has up to {SERVED_NAME_MAX} characters, not all "
        "spaces, and no control characters"
    )


class Reply(BaseModel):
    """A reply: unknown fields are ignored (added by a newer server), missing ones refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class LaunchBody(BaseModel):
    """`POST /api/engines`: what to load, with which engine, options and profile."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="Catalog id, id:QUANT, local id or .gguf path.")
    engine: str | None = Field(None, description="Engine; default: the profile's, else llama.cpp.")
    options: dict[str, Any] = Field(default_factory=dict)
    name: ServedName | None = None
    aliases: list[ServedName] = Field(default_factory=list)
    profile: str | None = Field(None, description="Launch profile; default: matches hardware.")
    idle_ttl_s: float | None = Field(
        None,
        gt=0,
        description="Sleep (unload, stay listed) after this many seconds idle; the next "
        "request wakes it. Default: run until stopped.",
    )


class EngineStatus(Reply):
    """One engine: what it serves, its state, its use and its memory (estimated and
    measured)."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    engine: str
    runtime: str | None = None
    model: str
    model_path: str
    port: int | None = None
    pid: int | None = None
    state: str
    started_at: float | None = None
    ready_at: float | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_error: str | None = None
    retry_at: float | None = None
    in_flight: int = 0
    context_limit: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    log_path: str | None = None
    on_demand: bool = False
    memory_bytes: int | None = None
    memory_basis: str | None = None
    queued: int = 0
    last_used_at: float | None = None
    max_concurrent: int | None = None
    max_queue: int | None = None
    idle_ttl_s: float | None = None
    memory_measured_bytes: int | None = None
    memory_measured_basis: str | None = None
    memory_error_percent: float | None = None
    live: dict[str, Any] | None = Field(
        None, description="The engine's own live figures, where it publishes them (vLLM)."
    )

    @property
    def crashed(self) -> bool:
        return self.state == "crashed"

    def uptime_s(self, now: float) -> float | None:
        if self.state != "ready" or self.ready_at is None:
            return None
        return max(0.0, now - self.ready_at)


class PoolOffer(OfferedModel):
    """A model offered on demand, and whether it is loaded now."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    loaded: bool = False


class PoolEvent(Reply):
    """A load, eviction or unload, and why."""

    at: float
    event: str
    name: str
    model: str
    memory_bytes: int
    reason: str


class PoolStatus(Reply):
    """`GET /api/pool`: the memory budget and its use, what is offered, what happened."""

    budget_bytes: int | None
    budget_basis: str
    used_bytes: int
    loading: list[str] = Field(default_factory=list)
    offered: list[PoolOffer] = Field(default_factory=list)
    offer_local_models: bool = False
    history: list[PoolEvent] = Field(default_factory=list)


class EngineLog(Reply):
    """`GET /api/engines/NAME/log`: the last lines of an engine's log."""

    name: str
    lines: list[str]
