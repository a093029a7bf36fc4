"""Turning (model, hardware, profile, given options) into engine option values, each with
the reason it was chosen. Given options always win; the profile comes next; the engine's
defaults last. The engine's options that the memory estimate reads are named by the engine
(`EstimateKeys`, declared beside its options); an `auto` layer count and an unset context
are filled in from the estimate (catalog.placement), and a combination that cannot fit is
refused with the reason. An engine that names none gets the layered values unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from catalog.fit import FitOptions
from catalog.model_shape import ModelShape
from catalog.placement import Devices, FitReport, Verdict, fit, largest_context, split_text
from hardware import MachineSnapshot
from profiles.profile import ResolvedProfile

GIB = float(1 << 30)
AUTO = "auto"

SLOTS_FOR_LOAD = 8
"""`parallel = "auto"`: a slot for each of up to this many requests at once, fewer where
memory is short. On the 2-core test machine 8 slots answered 8 streams with a first token
in a fraction of the time 4 slots took, and one stream as fast (docs/benchmarks.md, "Slots
chosen for the load"); a request past the slots waits for one to free up."""

SLOTS_WITHOUT_ESTIMATE = 4
"""`parallel = "auto"` for a model whose memory cannot be estimated (no GGUF header)."""

UNQUANTIZED_CACHE = frozenset({"f32", "f16", "bf16"})
"""KV cache types llama.cpp keeps without flash attention; any other V type needs it."""


class Origin(StrEnum):
    """Where an option's value came from."""

    GIVEN = "given"
    """By whoever asked for the launch: the command line, a launch request, config.toml."""
    PROFILE = "profile"
    MODEL = "model"
    """The model's own limit (its trained context)."""
    ESTIMATE = "estimate"
    """Worked out from the memory estimate (or, for vLLM, its memory rules)."""
    DEFAULT = "default"
    """The engine's default."""


@dataclass(frozen=True)
class Reason:
    """Why an option has its value: its origin, and the words the user reads."""

    origin: Origin
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class EstimateKeys:
    """The engine's names for the options the memory estimate reads (and, for `gpu_layers`
    and `context`, fills in). Each engine declares them beside its options; the defaults
    of the estimate apply to a key the engine lacks."""

    context: str
    gpu_layers: str | None = None
    parallel: str | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    flash_attn: str | None = None
    ubatch_size: str | None = None
    batch_size: str | None = None
    whole_inputs: tuple[str, ...] = ()
    """Switches under which the engine reads each input whole in one micro-batch
    (embeddings, reranking), so a profile's small batch must not apply."""
    split_mode: str | None = None
    tensor_split: str | None = None
    main_gpu: str | None = None
    gpus: str | None = "gpus"

    def flag(self, key: str) -> str:
        return f"--{key.replace('_', '-')}"


@dataclass(frozen=True)
class Resolution:
    profile: ResolvedProfile
    options: dict[str, Any]
    reasons: dict[str, Reason]
    report: FitReport | None = None
    refusal: str | None = None
    notes: tuple[str, ...] = field(default=())

    def reason_texts(self) -> dict[str, str]:
        return {key: reason.text for key, reason in self.reasons.items()}


def layered(
    defaults: Mapping[str, Any],
    profile: ResolvedProfile,
    given: Mapping[str, Any],
    given_where: str = "on the command line",
) -> tuple[dict[str, Any], dict[str, Reason]]:
    """Defaults < profile < given options, remembering where each value came from;
    `given_where` says where the given ones were given ("on the command line", "in the
    launch request")."""
    values = dict(defaults)
    reasons = {
        key: Reason(
            Origin.DEFAULT,
            "engine default" if value is not None else "engine default (decided when it starts)",
        )
        for key, value in defaults.items()
    }
    for key, value in profile.engine.items():
        values[key] = value
        reasons[key] = Reason(Origin.PROFILE, f"profile {profile.source.get(key, profile.name)}")
    for key, value in given.items():
        values[key] = value
        reasons[key] = Reason(Origin.GIVEN, f"given {given_where}")
    return values, reasons


def fit_options(values: Mapping[str, Any], keys: EstimateKeys) -> FitOptions:
    """What the estimate needs, read under the engine's names; flash attention `auto`
    counts as off (the larger figure)."""

    def get(key: str | None, default: Any) -> Any:
        return default if key is None else values.get(key, default)

    return FitOptions(
        n_ctx=int(get(keys.context, 4096)),
        n_parallel=int(get(keys.parallel, 1)),
        type_k=str(get(keys.cache_type_k, "f16")),
        type_v=str(get(keys.cache_type_v, "f16")),
        flash_attn=get(keys.flash_attn, "auto") == "on",
        n_ubatch=int(get(keys.ubatch_size, 512)),
        split_mode=str(get(keys.split_mode, "layer")),
        tensor_split=_numbers(get(keys.tensor_split, None)),
        main_gpu=int(get(keys.main_gpu, 0)),
    )


def _numbers(text: Any) -> tuple[float, ...] | None:
    """'3,1' (as the option is given) -> (3.0, 1.0); anything else None here, as the
    engine's own option check refuses it with the reason."""
    parts = text if isinstance(text, list | tuple) else str(text).split(",")
    try:
        return tuple(float(part) for part in parts) if text else None
    except (TypeError, ValueError):
        return None


def pinned_gpus(values: Mapping[str, Any], key: str | None = "gpus") -> tuple[int, ...] | None:
    """The GPU indices a launch pins with `gpus` ('1,0' or a list), in the order given (the
    order the engine's runtime then numbers them); None: all."""
    given = None if key is None else values.get(key)
    if given in (None, ""):
        return None
    parts = given if isinstance(given, list | tuple) else str(given).split(",")
    return tuple(dict.fromkeys(int(part) for part in parts))


def resolve_options(
    shape: ModelShape | None,
    snapshot: MachineSnapshot,
    profile: ResolvedProfile,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    keys: EstimateKeys | None,
    given_where: str = "on the command line",
) -> Resolution:
    """The values, each with its reason. `keys` are the engine's names for what the
    memory estimate reads; None (an engine that names none): no estimate here."""
    values, reasons = layered(defaults, profile, given, given_where)
    if keys is None:
        return Resolution(profile, values, reasons, notes=("no memory estimate for this engine",))
    _v_cache_follows_flash(values, reasons, keys)
    _batch_holds_whole_inputs(values, reasons, keys, defaults)
    _ubatch_follows_batch(values, reasons, keys)
    if shape is None:
        _slots_without_estimate(values, reasons, keys)
        return Resolution(profile, values, reasons, notes=("no memory estimate for this model",))
    estimate = _Estimate(shape, keys, values, reasons)
    devices = Devices.from_snapshot(snapshot, pinned_gpus(values, keys.gpus))
    if keys.context not in given:
        estimate.cap_context()
    estimate.choose_slots(devices)
    report = estimate.fit(devices)
    if not report.verdict.fits and keys.context not in given:
        report = estimate.shrink_context(devices) or report
    layers = keys.gpu_layers
    if layers is not None and values.get(layers) == "auto":
        values[layers] = report.n_gpu_layers
        reasons[layers] = Reason(Origin.ESTIMATE, gpu_reason(report, devices, snapshot))
    refusal = None if report.verdict.fits else refusal_for(report, keys)
    return Resolution(profile, values, reasons, report, refusal, devices.notes)


@dataclass
class _Estimate:
    """The values being resolved, with their reasons, as the estimate changes them."""

    shape: ModelShape
    keys: EstimateKeys
    values: dict[str, Any]
    reasons: dict[str, Reason]

    def fit(self, devices: Devices) -> FitReport:
        key = self.keys.gpu_layers
        layers = "auto" if key is None else self.values.get(key, "auto")
        options = fit_options(self.values, self.keys)
        return fit(self.shape, options, devices, None if layers == "auto" else int(layers))

    def choose_slots(self, devices: Devices) -> None:
        """`auto` slots: the most, up to SLOTS_FOR_LOAD, that fit at the context asked for
        and keep as many layers on the GPU as one slot would (a slot never costs the model
        GPU layers); one where even one does not fit (the context shrinks then)."""
        key = self.keys.parallel
        if key is None or self.values.get(key) != AUTO:
            return
        one = self._fit_with(key, 1, devices)
        more = range(SLOTS_FOR_LOAD, 1, -1)
        count = next((n for n in more if self._as_good(self._fit_with(key, n, devices), one)), 1)
        self.values[key] = count
        self.reasons[key] = Reason(Origin.ESTIMATE, _slots_reason(count, one, devices))

    def _fit_with(self, key: str, value: int, devices: Devices) -> FitReport:
        self.values[key] = value
        return self.fit(devices)

    @staticmethod
    def _as_good(report: FitReport, one: FitReport) -> bool:
        return report.verdict.fits and report.n_gpu_layers >= one.n_gpu_layers

    def cap_context(self) -> None:
        key, trained = self.keys.context, self.shape.ctx_train
        if trained and int(self.values[key]) > trained:
            asked = f"{self.reasons[key]} asked {self.values[key]}"
            self.reasons[key] = Reason(Origin.MODEL, f"the model's trained context ({asked})")
            self.values[key] = trained

    def shrink_context(self, devices: Devices) -> FitReport | None:
        key = self.keys.context
        wanted = int(self.values[key])
        options = fit_options(self.values, self.keys)
        shape = replace(self.shape, ctx_train=min(wanted, self.shape.ctx_train or wanted))
        largest = largest_context(shape, options, devices)
        if largest is None:
            return None
        self.values[key] = largest
        why = f"the largest context that fits ({wanted} does not)"
        self.reasons[key] = Reason(Origin.ESTIMATE, why)
        return self.fit(devices)


def _v_cache_follows_flash(
    values: dict[str, Any], reasons: dict[str, Reason], keys: EstimateKeys
) -> None:
    """A quantized V cache needs flash attention. With flash attention off, a quantized V
    cache that a profile chose goes back to f16 and says why; one given with flash attention
    off is the engine's option check's to refuse."""
    flash, v_cache = keys.flash_attn, keys.cache_type_v
    if flash is None or v_cache is None or values.get(flash) != "off":
        return
    chosen_by = reasons.get(v_cache)
    if values.get(v_cache) in UNQUANTIZED_CACHE or chosen_by is None:
        return
    if chosen_by.origin is not Origin.GIVEN:
        why = f"{chosen_by} asked {values[v_cache]}, which needs flash attention ({flash} off)"
        values[v_cache] = "f16"
        reasons[v_cache] = Reason(Origin.DEFAULT, why)


def _batch_holds_whole_inputs(
    values: dict[str, Any],
    reasons: dict[str, Reason],
    keys: EstimateKeys,
    defaults: Mapping[str, Any],
) -> None:
    """Embeddings and reranking read each input in one micro-batch: a batch or micro-batch
    a profile made smaller than the engine's default goes back to the default, saying why."""
    switched = [key for key in keys.whole_inputs if values.get(key)]
    if not switched:
        return
    for key in filter(None, (keys.batch_size, keys.ubatch_size)):
        chosen_by = reasons.get(key)
        if chosen_by is None or chosen_by.origin is not Origin.PROFILE or key not in defaults:
            continue
        if values[key] < defaults[key]:
            why = f"{chosen_by} asked {values[key]}; with {switched[0]} each input is read whole"
            values[key] = defaults[key]
            reasons[key] = Reason(Origin.DEFAULT, why)


def _ubatch_follows_batch(
    values: dict[str, Any], reasons: dict[str, Reason], keys: EstimateKeys
) -> None:
    """A micro-batch is at most the batch: a batch asked below the default micro-batch takes
    it down (llama.cpp does the same in `src/llama-context.cpp`, `n_ubatch = min(n_batch,
    n_ubatch)`); a micro-batch someone chose larger than the batch is the engine's option
    check's to refuse."""
    batch, ubatch = keys.batch_size, keys.ubatch_size
    if batch is None or ubatch is None:
        return
    chosen_by = reasons.get(ubatch)
    if chosen_by is None or chosen_by.origin is not Origin.DEFAULT:
        return
    if isinstance(values.get(batch), int) and values[batch] < values[ubatch]:
        why = f"at most the batch size, {values[batch]} ({reasons[batch]})"
        values[ubatch] = values[batch]
        reasons[ubatch] = Reason(Origin.DEFAULT, why)


def _slots_reason(count: int, one: FitReport, devices: Devices) -> str:
    if count == SLOTS_FOR_LOAD:
        return f"auto: a slot for each of up to {SLOTS_FOR_LOAD} requests at once"
    if not one.verdict.fits:
        return "auto: not even one slot fits at this context"
    if devices.gpus and one.n_gpu_layers:
        return f"auto: the most that keep {one.n_gpu_layers} layers on the GPU"
    return f"auto: the most that fit ({SLOTS_FOR_LOAD} do not)"


def _slots_without_estimate(
    values: dict[str, Any], reasons: dict[str, Reason], keys: EstimateKeys
) -> None:
    if keys.parallel is not None and values.get(keys.parallel) == AUTO:
        values[keys.parallel] = SLOTS_WITHOUT_ESTIMATE
        why = f"auto: {SLOTS_WITHOUT_ESTIMATE}, as the model's memory cannot be estimated"
        reasons[keys.parallel] = Reason(Origin.DEFAULT, why)


def gpu_reason(report: FitReport, devices: Devices, snapshot: MachineSnapshot) -> str:
    shape, placement = report.shape, report.placement
    total = shape.n_layers + 1
    if not devices.gpus:
        return f"no usable GPU ({snapshot.gpu_absence_reason or 'none reports free memory'})"
    free = sum(d.free_bytes for d in devices.gpus) / GIB
    per_layer = shape.mean_layer_bytes / GIB
    layers = f"{placement.n_gpu_layers} of {total}"
    split = f" [{split_text(placement)}]" if len(devices.gpus) > 1 else ""
    if report.verdict is Verdict.FULL_GPU:
        need = placement.gpu_bytes / GIB
        return f"{layers}: all layers fit ({need:.1f} of {free:.1f} GiB free){split}"
    if placement.n_gpu_layers:
        return f"{layers}: {free:.1f} GiB free, {per_layer:.2f} GiB per layer{split}"
    return (
        f"0 of {total}: not one layer fits in {free:.1f} GiB free ({per_layer:.2f} GiB per layer)"
    )


def refusal_for(report: FitReport, keys: EstimateKeys) -> str:
    short = [use for use in (*report.placement.gpus, report.placement.ram) if not use.fits]
    if not short:  # not memory: the GPU split cannot apply (e.g. --main-gpu past the GPUs)
        return f"{report.shape.name} cannot be placed: {'; '.join(report.reasons)}"
    parts = [
        f"{use.device.name} needs {use.need_bytes / GIB:.2f} GiB, "
        f"{use.device.usable_bytes / GIB:.2f} GiB usable"
        for use in short
    ]
    at = f"{keys.context}={report.options.n_ctx}"
    smaller = keys.flag(keys.context)
    if keys.parallel is not None:
        at += f" x {keys.parallel}={report.options.n_parallel}"
        smaller += f" or {keys.flag(keys.parallel)}"
    full_cache = report.options.type_k in UNQUANTIZED_CACHE
    kv_cache = ", a q8_0 KV cache" if keys.cache_type_k is not None and full_cache else ""
    return (
        f"{report.shape.name} does not fit at {at}: {'; '.join(parts)}. Try a smaller "
        f"{smaller}{kv_cache}, or a smaller quant (hostbench fit)"
    )
