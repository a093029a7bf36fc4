"""What a draft model for speculative decoding adds to a launch's memory.

The basis: the draft's whole file (its weights) plus its KV cache at the main model's
context and slots (llama-server sizes the draft's context as the target's), f16 (the
default of llama-server's `--cache-type-k-draft` and `-v-draft`). Its compute buffers are
small beside those and not counted. The draft goes where the main model went: GPU memory
when the main model's layers are offloaded, else RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from catalog.fit import FitOptions, kv_bytes
from catalog.model_shape import ModelShape
from catalog.placement import FitReport

GIB = float(1 << 30)


@dataclass(frozen=True)
class DraftNeed:
    weights_bytes: int
    kv_bytes: int
    cells: int
    """Tokens of context the KV figure is for (all slots together)."""

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes

    def basis(self, label: str) -> str:
        return (
            f"draft {label}: {self.weights_bytes / GIB:.2f} GiB weights + "
            f"{self.kv_bytes / GIB:.2f} GiB f16 KV at {self.cells} tokens"
        )


def draft_need(draft: ModelShape, main: FitOptions) -> DraftNeed:
    options = FitOptions(n_ctx=main.n_ctx, n_parallel=main.n_parallel, n_ubatch=main.n_ubatch)
    return DraftNeed(draft.file_bytes, kv_bytes(draft, options), options.total_cells)


def with_draft_report(report: FitReport, need: DraftNeed) -> FitReport:
    """`report` with the draft's bytes on the device that holds the main model's first
    share, so `fits` and the verdict's figures count it."""
    placement = report.placement
    if placement.gpus:
        first = placement.gpus[0]
        gpus = (replace(first, need_bytes=first.need_bytes + need.total_bytes),)
        return replace(report, placement=replace(placement, gpus=gpus + placement.gpus[1:]))
    ram = replace(placement.ram, need_bytes=placement.ram.need_bytes + need.total_bytes)
    return replace(report, placement=replace(placement, ram=ram))


def draft_refusal(report: FitReport, need: DraftNeed, label: str) -> str | None:
    """Why the launch cannot fit with its draft (`report` counting it), or None."""
    if report.placement.fits:
        return None
    return (
        f"the model fits, but not with the draft {label} "
        f"({need.total_bytes / GIB:.2f} GiB more): drop --draft-model, pick a smaller "
        "draft, or lower --ctx-size"
    )
