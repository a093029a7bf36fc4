"""The generic engine: any command that serves the OpenAI API, supervised like the others."""

from engines.openai_compat.adapter import OpenAICompatibleEngine, OpenAICompatibleOptions

__all__ = ["OpenAICompatibleEngine", "OpenAICompatibleOptions"]
