"""User settings: defaults < config.toml < HOSTBENCH_* environment < explicit overrides.

The environment uses the prefix HOSTBENCH_ and `__` between section and field, e.g.
HOSTBENCH_SERVER__PORT=9000 or HOSTBENCH_ENGINES__LLAMA_SERVER_PATH=/opt/llama-server.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
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


class Settings(BaseSettings):
    """Everything a user can configure, with a docstring-like description per field."""

    model_config = SettingsConfigDict(
        env_prefix="HOSTBENCH_", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerSettings = ServerSettings()
    engines: EngineSettings = EngineSettings()
    cost: CostDefaults = CostDefaults()

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
