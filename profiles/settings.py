"""User settings: defaults < config.toml < HOSTBENCH_* environment < explicit overrides.

The environment uses the prefix HOSTBENCH_ and `__` between section and field, e.g.
HOSTBENCH_SERVER__PORT=9000 or HOSTBENCH_ENGINES__LLAMA_SERVER_PATH=/opt/llama-server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from profiles.locations import Locations


class ServerSettings(BaseModel):
    """The hostbench server: one per machine, on loopback unless told otherwise."""

    host: str = Field("127.0.0.1", description="Address to bind; non-loopback needs api_key.")
    port: int = Field(
        8080, ge=0, le=65535, description="Port of the OpenAI endpoint (0: any free port)."
    )
    api_key: SecretStr | None = Field(
        None, description="Key the OpenAI endpoint requires (Bearer); needed off loopback."
    )
    graceful_shutdown_s: float = Field(
        10.0, ge=0, description="How long in-flight requests may finish after Ctrl-C/SIGTERM."
    )


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
    max_concurrent: int = Field(
        0,
        ge=0,
        description="Requests one model serves at once; more wait in a queue (0: no limit).",
    )
    max_queue: int = Field(
        64, ge=0, description="Requests that may wait per model; beyond it the answer is 429."
    )
    queue_timeout_s: float = Field(
        300, gt=0, description="How long a queued request waits for its turn before a 503."
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
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, toml)
