"""Turning (model, hardware, profile, explicit flags) into engine option values, each with
the reason it was chosen. Explicit flags always win; the profile comes next; the engine's
defaults last. `n_gpu_layers = "auto"` and an unset context are filled in from the memory
estimate (catalog.placement), and a combination that cannot fit is refused with the reason.

The option names are the llama.cpp adapter's (ctx_size, n_gpu_layers, parallel,
cache_type_k/v, flash_attn, ubatch_size); other engines get the layered values unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from catalog.fit import FitOptions
from catalog.model_shape import ModelShape
from catalog.placement import Devices, FitReport, Verdict, fit, largest_context
from hardware import MachineSnapshot
from profiles.profile import ResolvedProfile

GIB = float(1 << 30)


@dataclass(frozen=True)
class Resolution:
    profile: ResolvedProfile
    options: dict[str, Any]
    reasons: dict[str, str]
    report: FitReport | None = None
    refusal: str | None = None
    notes: tuple[str, ...] = field(default=())


def layered(
    defaults: Mapping[str, Any], profile: ResolvedProfile, explicit: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Defaults < profile < explicit flags, remembering where each value came from."""
    values = dict(defaults)
    reasons = {
        key: "engine default" if value is not None else "engine default (decided when it starts)"
        for key, value in defaults.items()
    }
    for key, value in profile.engine.items():
        values[key] = value
        reasons[key] = f"profile {profile.source.get(key, profile.name)}"
    for key, value in explicit.items():
        values[key] = value
        reasons[key] = "given on the command line"
    return values, reasons


def fit_options(values: Mapping[str, Any]) -> FitOptions:
    """What the estimate needs; flash attention `auto` counts as off (the larger figure)."""
    return FitOptions(
        n_ctx=int(values.get("ctx_size", 4096)),
        n_parallel=int(values.get("parallel", 1)),
        type_k=str(values.get("cache_type_k", "f16")),
        type_v=str(values.get("cache_type_v", "f16")),
        flash_attn=values.get("flash_attn") == "on",
        n_ubatch=int(values.get("ubatch_size", 512)),
    )


def resolve_options(
    shape: ModelShape | None,
    snapshot: MachineSnapshot,
    profile: ResolvedProfile,
    explicit: Mapping[str, Any],
    defaults: Mapping[str, Any],
) -> Resolution:
    values, reasons = layered(defaults, profile, explicit)
    if shape is None or "ctx_size" not in values:
        return Resolution(profile, values, reasons, notes=("no memory estimate for this engine",))
    devices = Devices.from_snapshot(snapshot)
    if "ctx_size" not in explicit:
        _cap_context(shape, values, reasons)
    report = _fit(shape, values, devices)
    if not report.verdict.fits and "ctx_size" not in explicit:
        report = _shrink_context(shape, values, reasons, devices) or report
    if values.get("n_gpu_layers") == "auto":
        values["n_gpu_layers"] = report.n_gpu_layers
        reasons["n_gpu_layers"] = gpu_reason(report, devices, snapshot)
    refusal = None if report.verdict.fits else refusal_for(report)
    return Resolution(profile, values, reasons, report, refusal, devices.notes)


def _fit(shape: ModelShape, values: Mapping[str, Any], devices: Devices) -> FitReport:
    layers = values.get("n_gpu_layers", "auto")
    return fit(shape, fit_options(values), devices, None if layers == "auto" else int(layers))


def _cap_context(shape: ModelShape, values: dict[str, Any], reasons: dict[str, str]) -> None:
    trained = shape.ctx_train
    if trained and int(values["ctx_size"]) > trained:
        reasons["ctx_size"] = (
            f"the model's trained context ({reasons['ctx_size']} asked {values['ctx_size']})"
        )
        values["ctx_size"] = trained


def _shrink_context(
    shape: ModelShape, values: dict[str, Any], reasons: dict[str, str], devices: Devices
) -> FitReport | None:
    wanted = int(values["ctx_size"])
    options = fit_options(values)
    largest = largest_context(
        replace(shape, ctx_train=min(wanted, shape.ctx_train or wanted)), options, devices
    )
    if largest is None:
        return None
    values["ctx_size"] = largest
    reasons["ctx_size"] = f"the largest context that fits ({wanted} does not)"
    return _fit(shape, values, devices)


def gpu_reason(report: FitReport, devices: Devices, snapshot: MachineSnapshot) -> str:
    shape, placement = report.shape, report.placement
    total = shape.n_layers + 1
    if not devices.gpus:
        return f"no usable GPU ({snapshot.gpu_absence_reason or 'none reports free memory'})"
    free = sum(d.free_bytes for d in devices.gpus) / GIB
    per_layer = shape.mean_layer_bytes / GIB
    layers = f"{placement.n_gpu_layers} of {total}"
    if report.verdict is Verdict.FULL_GPU:
        need = placement.gpu_bytes / GIB
        return f"{layers}: all layers fit ({need:.1f} of {free:.1f} GiB free)"
    if placement.n_gpu_layers:
        return f"{layers}: {free:.1f} GiB free, {per_layer:.2f} GiB per layer"
    return (
        f"0 of {total}: not one layer fits in {free:.1f} GiB free ({per_layer:.2f} GiB per layer)"
    )


def refusal_for(report: FitReport) -> str:
    short = [use for use in (*report.placement.gpus, report.placement.ram) if not use.fits]
    parts = [
        f"{use.device.name} needs {use.need_bytes / GIB:.2f} GiB, "
        f"{use.device.usable_bytes / GIB:.2f} GiB usable"
        for use in short
    ]
    return (
        f"{report.shape.name} does not fit at ctx_size={report.options.n_ctx} "
        f"x parallel={report.options.n_parallel}: {'; '.join(parts)}. Try a smaller "
        "--ctx-size or --parallel, a q8_0 KV cache, or a smaller quant (hostbench fit)"
    )
