"""What a launch sent to a running server may carry, checked on both sides.

- Commands run by an engine (the generic engine's `command`) and a model repo's own code
  (`trust_remote_code`) come from launch profiles on disk, written by the user, never from
  a request body: whoever holds the control token must not be able to run programs.
- Model paths are absolute: a relative one would be resolved in the server's working
  directory, not the caller's. Clients resolve them before sending; the server refuses
  relative ones.
- The masked secret `**********` (how the server shows secret options) is never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, SecretStr

from catalog.hub_files import is_hub_ref
from control.channel import MASKED_SECRET
from engines.errors import UnsupportedOptionError

PROFILE_ONLY_OPTIONS = ("command", "trust_remote_code")


def profile_only_option(options: Mapping[str, object]) -> str | None:
    """The first option a control request may not carry (None: all allowed)."""
    return next((name for name in PROFILE_ONLY_OPTIONS if name in options), None)


def _hub_repo_shaped(text: str) -> bool:
    """`org/name`: a Hugging Face repo id the generic and vLLM engines pass through."""
    return text.count("/") == 1 and not text.startswith((".", "~")) and "\\" not in text


def is_path(text: str, cwd_has_it: bool) -> bool:
    """A file-system path rather than an id; `org/name` counts as a path only where such
    a path exists (else it is a Hub repo id); a Hub file `hf:ORG/REPO/FILE.gguf` never."""
    if is_hub_ref(text):
        return False
    if text.startswith(("~", ".", "/")) or text.endswith(".gguf"):
        return True
    if "/" in text or os.sep in text:
        return cwd_has_it or not _hub_repo_shaped(text)
    return False


def absolute_model(text: str) -> str:
    """`text` as the caller meant it: a path made absolute in the caller's working
    directory; a catalog id, local id or Hub repo id unchanged."""
    path = Path(text).expanduser()
    if path.is_absolute() or not is_path(text, path.exists()):
        return text
    return os.path.abspath(path)


def relative_model_path(text: str) -> bool:
    """True where a server would have to resolve `text` in its own working directory."""
    path = Path(text)
    return not path.is_absolute() and is_path(text, path.exists())


def refuse_masked_secrets(options: BaseModel) -> None:
    """A secret option whose value is the mask: someone sent back what was displayed."""
    for name, value in options:
        if isinstance(value, SecretStr) and value.get_secret_value() == MASKED_SECRET:
            raise UnsupportedOptionError(
                f"option {name} is the masked placeholder {MASKED_SECRET}, not a secret: "
                "give the real value, or restart the engine (hostbench restart NAME) to "
                "keep the one it runs with"
            )
