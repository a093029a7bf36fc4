"""GGUF files on the Hugging Face Hub as a user names them: `hf:ORG/REPO/FILE.gguf`.

What a file name says before anything is downloaded: its quantization (matched against
gguf-py's own names of llama.cpp's file and tensor types, so no list is kept here), whether
it is one part of a split model (llama.cpp's `NAME-00001-of-00003.gguf`), and whether it is
a model at all (vision projectors, `mmproj-*.gguf`, are not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from catalog.errors import InvalidModelFileError

HF_PREFIX = "hf:"
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
"""llama.cpp's split naming (`llama_split_path`: `%s-%05d-of-%05d.gguf`)."""


class HubRefError(InvalidModelFileError):
    """An `hf:` reference that does not name a repository and a .gguf file in it."""


@dataclass(frozen=True)
class HubRef:
    """One GGUF file in a Hub repository: what `hostbench pull hf:ORG/REPO/FILE` names."""

    repo: str
    file: str

    @classmethod
    def parse(cls, text: str) -> HubRef:
        parts = text.strip().removeprefix(HF_PREFIX).split("/")
        if len(parts) < 3 or not all(parts) or not parts[-1].lower().endswith(".gguf"):
            raise HubRefError(
                f"{text!r} is not a Hub file: write hf:ORG/REPO/FILE.gguf (see `hostbench search`)"
            )
        return cls(f"{parts[0]}/{parts[1]}", "/".join(parts[2:]))

    def __str__(self) -> str:
        return f"{HF_PREFIX}{self.repo}/{self.file}"

    @property
    def local_id(self) -> str:
        """The id the pulled model gets: its file name without `.gguf`, lower case."""
        return self.file.rsplit("/", 1)[-1][: -len(".gguf")].lower()


def is_hub_ref(text: str) -> bool:
    return text.strip().startswith(HF_PREFIX)


@cache
def _quant_names() -> tuple[str, ...]:
    """llama.cpp's quant names, longest first so `Q4_K_M` wins over `Q4_K`."""
    import gguf

    names = {t.name.removeprefix("MOSTLY_").removeprefix("ALL_") for t in gguf.LlamaFileType}
    names |= {t.name for t in gguf.GGMLQuantizationType}
    names.discard("GUESSED")
    return tuple(sorted(names, key=len, reverse=True))


@cache
def _quant_pattern() -> re.Pattern[str]:
    names = "|".join(re.escape(n) for n in _quant_names())
    return re.compile(rf"(?<![A-Z0-9_])({names})(?![A-Z0-9_])")


def quant_from_name(filename: str) -> str | None:
    """`Qwen2.5-7B-Instruct-Q4_K_M.gguf` -> `Q4_K_M`; None when the name says none."""
    stem = _SPLIT.sub("", filename.rsplit("/", 1)[-1]).upper().removesuffix(".GGUF")
    found = _quant_pattern().search(stem)
    return found.group(1) if found else None


def split_part(filename: str) -> tuple[int, int] | None:
    """(part, of) for one file of a split model, else None."""
    found = _SPLIT.search(filename)
    return (int(found.group(1)), int(found.group(2))) if found else None


def is_model_file(filename: str) -> bool:
    """A GGUF model file, not a vision projector."""
    base = filename.rsplit("/", 1)[-1].lower()
    return base.endswith(".gguf") and not base.startswith("mmproj")
