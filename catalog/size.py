"""What a catalog model's weights weigh before anything is downloaded: the file's listed
size, else its parameter count at the quant's nominal bits per weight. A model whose
weights alone exceed a memory budget can be refused before a multi-GB pull."""

from __future__ import annotations

from catalog.loader import Catalog, ModelRef
from catalog.local import LocalModels
from catalog.quant_types import nominal_bpw
from catalog.resolve import looks_like_path


def weights_bytes_before_pull(text: str, catalog: Catalog, registry: LocalModels) -> int | None:
    """The weights' size of a catalog model that is not here yet; None when the model is
    already local (its own file says), not a catalog model, or of unknown size."""
    if looks_like_path(text):
        return None
    local = registry.get(text)
    if local is not None and local.present:
        return None
    ref = ModelRef.parse(text)
    entry = catalog.entries.get(ref.model_id.lower())
    if entry is None:
        return None
    quant = ref.quant or entry.default_quant
    gguf = entry.gguf_file(quant)
    if gguf is not None and gguf.size_bytes:
        return gguf.size_bytes
    bits = nominal_bpw(quant)
    if entry.params_total_b is None or bits is None:
        return None
    return int(entry.params_total_b * 1e9 * bits / 8)
