"""Launch profiles: named TOML files of engine options and cost figures for a kind of
hardware or a goal, shipped in profiles/data/ and added by users in their config dir.

A profile may `extends` another (its values win); `extends = "auto"` means "the profile
matching this machine", so goal profiles (latency, throughput) apply on any hardware.
Engine options are checked against the engine's own option model when a launch uses them
(profiles sit below engines); cost figures are validated here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hardware import MachineSnapshot
from profiles.tuned import TunedRecord

SHIPPED_DIR = Path(__file__).parent / "data"
AUTO = "auto"
DEFAULT_ENGINE = "llama.cpp"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HardwareMatch(_Strict):
    """Which machines a hardware profile is for; VRAM is the total over all GPUs."""

    min_gpus: int = Field(0, ge=0)
    max_gpus: int | None = Field(None, ge=0)
    min_vram_gib: float | None = Field(None, ge=0)
    max_vram_gib: float | None = Field(None, gt=0)

    def accepts(self, gpus: int, vram_gib: float) -> bool:
        return (
            gpus >= self.min_gpus
            and (self.max_gpus is None or gpus <= self.max_gpus)
            and (self.min_vram_gib is None or vram_gib >= self.min_vram_gib)
            and (self.max_vram_gib is None or vram_gib < self.max_vram_gib)
        )

    @property
    def specificity(self) -> tuple[int, float]:
        return (self.min_gpus, self.min_vram_gib or 0.0)


class CostSettings(_Strict):
    """What running here costs (used by the cost model); unset figures stay unknown."""

    electricity_usd_per_kwh: float | None = Field(None, ge=0, description="Electricity price.")
    power_w: float | None = Field(
        None, gt=0, description="Power draw to assume where it cannot be measured."
    )
    hardware_usd: float | None = Field(None, ge=0, description="Purchase price of the machine.")
    amortization_months: int | None = Field(
        None, gt=0, description="Months over which hardware_usd is written off."
    )
    rental_usd_per_hour: float | None = Field(
        None, ge=0, description="Hourly price when the machine is rented instead."
    )
    utilization: float | None = Field(
        None, gt=0, le=1, description="Share of the time the machine serves requests."
    )

    def merged(self, child: CostSettings) -> CostSettings:
        return self.model_copy(update=child.model_dump(exclude_none=True))


class Profile(_Strict):
    """`[engine]` holds options for the profile's own engine (`engine_name`, llama.cpp unless
    said otherwise); `[engines.<id>]` tables hold options for other engines, so one hardware
    profile can tune llama.cpp and vLLM alike."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    extends: str | None = None
    engine_name: str | None = Field(
        None, description="The engine this profile is for; launching with it picks that engine."
    )
    match: HardwareMatch | None = None
    engine: dict[str, Any] = Field(default_factory=dict)
    engines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    cost: CostSettings = CostSettings()
    tuned: TunedRecord | None = Field(
        None, description="What `hostbench tune` measured (a tuned profile only)."
    )

    def options_for(self, engine_id: str) -> dict[str, Any]:
        own = self.engine if (self.engine_name or DEFAULT_ENGINE) == engine_id else {}
        return {**own, **self.engines.get(engine_id, {})}


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile with its `extends` chain applied: what a launch uses."""

    name: str
    description: str
    chain: tuple[str, ...]
    engine: dict[str, Any]
    cost: CostSettings
    source: dict[str, str]
    """Which profile in the chain set each engine option."""
    engine_id: str = DEFAULT_ENGINE
    """The engine `engine` holds options for."""


def machine_gpus(snapshot: MachineSnapshot) -> tuple[int, float]:
    """(number of GPUs llama.cpp can offload to, their memory in GiB) as profiles match
    them: a dedicated GPU by its total, a unified-memory one (Apple silicon, Metal) by what
    the OS lets the GPU use; one whose share is unknown does not count."""
    usable = [g for g in snapshot.gpus if not g.unified_memory or g.gpu_budget_bytes]
    total = sum(
        (g.gpu_budget_bytes if g.unified_memory else g.memory_total_bytes) or 0 for g in usable
    )
    return len(usable), total / 2**30


def load_profile(path: Path) -> Profile:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return Profile.model_validate(data)


def describe_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "profile"
        return f"{where}: {first['msg']}"
    return str(error)
