"""The vLLM engine adapter (optional extra `hostbench[vllm]`): `vllm serve` as a supervised
subprocess on CUDA or ROCm GPUs. Importing this package does not import vLLM."""

from engines.vllm.adapter import VllmEngine
from engines.vllm.options import VllmOptions

__all__ = ["VllmEngine", "VllmOptions"]
