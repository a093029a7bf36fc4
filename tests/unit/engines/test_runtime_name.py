"""The RUNTIME column of `hostbench ps` for a generic engine: what serves, by name."""

from __future__ import annotations

from engines.openai_compat.adapter import runtime_name


def test_the_runtime_column_names_the_program_never_its_path() -> None:
    """Issue 15 saw a file path in `ps`'s RUNTIME column for a generic engine."""
    assert runtime_name(["/opt/llama/build/bin/llama-server", "-m", "/m.gguf"]) == "llama-server"
    assert runtime_name(["/usr/bin/python3", "-m", "llama_cpp.server", "--port", "1"]) == (
        "llama_cpp.server"
    )
    assert runtime_name(["/srv/venv/bin/python", "/srv/app/serve.py"]) == "python"
