"""The llama.cpp engine adapter."""

from engines.llamacpp.adapter import LlamaCppEngine, LlamaCppOptions

__all__ = ["LlamaCppEngine", "LlamaCppOptions"]
