"""User settings: defaults < config.toml < HOSTBENCH_* environment < explicit overrides.

The environment uses the prefix HOSTBENCH_ and `__` between section and field, e.g.
HOSTBENCH_SERVER__PORT=9000 or HOSTBENCH_ENGINES__LLAMA_SERVER_PATH=/opt/llama-server.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from errors import UsageError
from profiles.locations import Locations

MIN_PUBLIC_KEY_LENGTH = 16
"""Shortest API key accepted when the server listens off loopback."""


class ServerSettings(BaseModel):
    """The hostbench server: one per machine, on loopback unless told otherwise."""

    host: str = Field("127.0.0.1", description="Address to bind; non-loopback needs api_key.")
    port: int = Field(
        8080, ge=0, le=65535, description="Port of the OpenAI endpoint (0: any free port)."
    )
    api_key: SecretStr | None = Field(
        None,
        description="Key the OpenAI endpoint requires (Bearer); needed off loopback, at least "
        f"{MIN_PUBLIC_KEY_LENGTH} characters there. Surrounding spaces are ignored; an empty "
        "key counts as none.",
    )
    api_key_file: Path | None = Field(
        None, description="File holding api_key (kept out of `ps` and shell history)."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra names clients may reach the server by (Host header); loopback "
        "names and the bound address are always accepted.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Web origins (scheme://host[:port], or *) whose pages may call the API "
        "(CORS); none by default.",
    )
    max_body_bytes: int = Field(
        8 << 20, gt=0, description="Largest request body accepted; larger ones get 413."
    )
    max_json_depth: int = Field(
        64, gt=0, description="Deepest JSON nesting accepted in a request body; deeper gets 400."
    )
    graceful_shutdown_s: float = Field(
        10.0, ge=0, description="How long in-flight requests may finish after Ctrl-C/SIGTERM."
    )
    exit_with_pid: int | None = Field(
        None,
        ge=1,
        description="Stop (as on SIGTERM) when this process exits, unless sent SIGUSR1 "
        "first; the workbench sets it for the server it starts.",
    )

    allow_remote_control: bool = Field(
        False,
        description="Serve the control API (/api/*) to other machines over TCP; off: only "
        "this machine (Unix socket, loopback) may use it. Put a TLS proxy in front first.",
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _normalise_key(cls, value: Any) -> Any:
        """One normalised key for the start-up check and the request check alike."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        """`[::1]` as written in URLs is the address `::1` to bind."""
        return value.strip().removeprefix("[").removesuffix("]")

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _name_list(cls, value: Any) -> Any:
        """A list, or in the environment a JSON list or comma-separated names; compared in
        lower case, as Host and Origin headers are."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            names = [v.strip().lower().rstrip("/") if isinstance(v, str) else v for v in value]
            return [name for name in names if name != ""]
        return value

    @model_validator(mode="after")
    def _read_key_file(self) -> ServerSettings:
        if self.api_key_file is None:
            return self
        if self.api_key is not None:
            raise ValueError("give the API key once: api_key or api_key_file, not both")
        try:
            text = self.api_key_file.expanduser().read_text()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ValueError(
                f"cannot read the API key file {self.api_key_file}: {reason}"
            ) from None
        self.api_key = SecretStr(text.strip()) if text.strip() else None
        return self


class EngineSettings(BaseModel):
    """How engines are found, started and restarted."""

    llama_server_path: Path | None = Field(
        None, description="llama-server binary to use; default: PATH, then hostbench's build."
    )
    prefer_llama_server: bool = Field(
        True, description="Use llama-server when found; false forces the llama-cpp-python server."
    )
    ready_timeout_s: float = Field(
        120.0, gt=0, description="How long an engine may take to load before launch fails."
    )
    restart_backoff_s: float = Field(
        1.0, gt=0, description="First wait before restarting a crashed engine; doubles."
    )
    restart_backoff_max_s: float = Field(
        30.0, gt=0, description="Longest wait between restarts of a crashing engine."
    )
    restart_reset_after_s: float = Field(
        30.0,
        gt=0,
        description="A restarted engine up this long starts its restart backoff afresh.",
    )
    restart_reset_after_requests: int = Field(
        1,
        ge=1,
        description="So does one that has answered this many requests since it restarted.",
    )
    hang_timeout_s: float = Field(
        10.0,
        gt=0,
        description="An engine serving requests that answers no health check for this long "
        "is hung: it is killed, its clients get an error and it is restarted.",
    )
    health_interval_s: float = Field(
        1.0, gt=0, description="How often a serving engine's health is checked."
    )
    first_byte_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Longest wait for an engine's first byte of an answer (prompt "
        "processing, or a whole non-streamed answer); a long prompt on a slow CPU needs "
        "minutes.",
    )
    token_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Longest wait between two reads of a streamed answer once it has begun "
        "(another request's prompt, processed in the same batch, delays every stream).",
    )


class CostDefaults(BaseModel):
    """What running this machine costs: `[cost]` in config.toml. A launch profile's `[cost]`
    (same keys) overrides these for the runs it covers.

    A rental price, when set, is the whole hourly cost (power included); otherwise a
    purchase price is spread over the amortization period and electricity is added."""

    electricity_usd_per_kwh: float | None = Field(
        0.15, ge=0, description="Price of electricity, USD per kWh (a default: set yours)."
    )
    power_w: float | None = Field(
        None, gt=0, description="Power draw to assume where it cannot be measured, W."
    )
    hardware_usd: float | None = Field(
        None, ge=0, description="Purchase price of the machine, USD, to amortize."
    )
    amortization_months: int | None = Field(
        36, gt=0, description="Months over which hardware_usd is written off."
    )
    rental_usd_per_hour: float | None = Field(
        None, ge=0, description="Hourly price when the machine is rented instead, USD."
    )
    utilization: float | None = Field(
        1.0, gt=0, le=1, description="Share of the time the machine serves requests."
    )
    ram_bandwidth_gbps: float | None = Field(
        None, gt=0, description="RAM bandwidth, GB/s, for the CPU decode bound (default: a probe)."
    )


class OfferedModel(BaseModel):
    """A model the server may start on its first request (`[[pool.models]]`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Model name clients send.")
    model: str = Field(
        min_length=1, description="Catalog id, id:QUANT, local id, .gguf path or (vLLM) HF repo."
    )
    engine: str | None = Field(
        None, description="Engine adapter; default: the profile's, else llama.cpp."
    )
    aliases: list[str] = Field(default_factory=list, description="Other names that reach it.")
    profile: str | None = Field(None, description="Launch profile; default: matches hardware.")
    options: dict[str, Any] = Field(default_factory=dict, description="Engine options.")
    idle_ttl_s: float | None = Field(
        None, ge=0, description="Unload after this long idle (default: pool.idle_ttl_s)."
    )
    max_concurrent: int | None = Field(
        None, ge=0, description="Requests served at once (default: pool.max_concurrent)."
    )


class PoolSettings(BaseModel):
    """Many models behind one endpoint: which ones start on demand, and within what memory.

    Engines launched explicitly (`hostbench launch`, the control API) count against the
    budget but are never evicted or unloaded for idleness; engines started on demand are."""

    models: list[OfferedModel] = Field(
        default_factory=list, description="Models started on their first request."
    )
    offer_local_models: bool = Field(
        False, description="Also start any local model (`hostbench models`) by its id on demand."
    )
    memory_budget_gib: float | None = Field(
        None,
        gt=0,
        description="Memory all engines may hold together (default: the free VRAM, or RAM "
        "without a GPU, when the first model loads on demand).",
    )
    idle_ttl_s: float = Field(
        0, ge=0, description="Unload an on-demand engine idle this long (0: never)."
    )
    load_timeout_s: float = Field(
        300, gt=0, description="How long a request waits for its model to load."
    )
    launch_grace_s: float = Field(
        5,
        ge=0,
        description="How long a request for a model that is not served, but names a catalog "
        "or local model, waits for a launch of it to reach the server (a script's "
        "`hostbench launch MODEL &` is a moment behind its first request); other names are "
        "refused at once (0: always at once).",
    )
    max_concurrent: int | None = Field(
        None,
        ge=0,
        description="Requests one model serves at once; more wait in a queue (default: the "
        "engine's parallel slots, e.g. llama.cpp's `parallel`; 0: no limit).",
    )
    max_queue: int | None = Field(
        None,
        ge=0,
        description="Requests that may wait per model; beyond it the answer is 429 with "
        "Retry-After (default: queue_per_slot per request served at once).",
    )
    queue_per_slot: int = Field(
        16, ge=0, description="The default max_queue, per request served at once."
    )
    queue_timeout_s: float = Field(
        120, gt=0, description="How long a queued request waits for its turn before a 503."
    )


class Settings(BaseSettings):
    """Everything a user can configure, with a docstring-like description per field."""

    model_config = SettingsConfigDict(
        env_prefix="HOSTBENCH_", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerSettings = ServerSettings()
    engines: EngineSettings = EngineSettings()
    cost: CostDefaults = CostDefaults()
    pool: PoolSettings = PoolSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Locations.from_env().config_file
        try:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
            raise SettingsFileError(f"{toml_file}: not a readable TOML file ({error})") from None
        return (init_settings, env_settings, toml)


class SettingsFileError(UsageError, ValueError):
    """config.toml cannot be read or parsed; the message names the file and the place."""
